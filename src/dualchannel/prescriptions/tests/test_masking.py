"""Masking by need (issue 9): prescription lists never show a full ID number; the pharmacist's
real-name check and the case's roles ask for it explicitly, and each view is audited once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.core.masking import mask_id_number
from dualchannel.core.models import AuditEvent
from dualchannel.core.reveal import ID_NUMBER_VIEWED

from .today import in_force_today, issue, route

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
BASE = "/api/v1/prescriptions"


@pytest.fixture
def issued(eligibility, physician_user):
    return issue(physician_user, in_force_today(eligibility))


@pytest.fixture
def routed(issued, patient_user, bound_pharmacy, stock):
    return route(patient_user, issued, bound_pharmacy)


def views_of(prescription):
    return AuditEvent.objects.filter(action=ID_NUMBER_VIEWED, subject_id=str(prescription.pk))


def test_prescription_lists_show_the_masked_id_number_only(
    client, api_client, routed, physician_user, pharmacist_user, pharmacist, patient_user
):
    full = routed.patient.id_number
    for user, page in (
        (physician_user, "prescriptions-doctor-list"),
        (pharmacist_user, "prescriptions-pharmacy-inbox"),
    ):
        client.force_login(user)
        html = client.get(reverse(page)).content.decode()
        assert routed.prescription_no in html and full not in html, page
    # the API list returned the full number to the physician and the patient before
    for user in (physician_user, patient_user):
        rows = api_client.as_user(user).get(f"{BASE}/")
        assert [r["patient_id_number"] for r in rows.json()] == [mask_id_number(full)]
        assert full not in rows.content.decode()
    assert not views_of(routed).exists()


def test_pharmacist_reveals_the_id_number_for_the_real_name_check_and_it_is_audited(
    client, routed, pharmacist_user, pharmacist
):
    full = routed.patient.id_number
    client.force_login(pharmacist_user)
    page = client.get(reverse("prescriptions-counter-rx", args=[routed.pk])).content.decode()
    url = reverse("prescriptions-counter-id-number", args=[routed.pk])
    assert mask_id_number(full) in page and full not in page and url in page

    response = client.post(url, **HTMX)

    assert response.status_code == 200 and full in response.content.decode()
    (event,) = views_of(routed)
    assert event.actor_id == pharmacist_user.pk and event.actor_role == "pharmacist"
    assert event.patient_id == routed.patient_id
    assert event.summary == {"fields": ["id_number"], "via": "page"}


def test_the_counter_reveal_is_refused_to_anonymous_other_pharmacies_and_other_roles(
    client, routed, outsider_pharmacist, physician_user
):
    url = reverse("prescriptions-counter-id-number", args=[routed.pk])
    anonymous = client.post(url)
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
    for user, status in ((outsider_pharmacist, 404), (physician_user, 403)):
        client.force_login(user)
        response = client.post(url)
        assert response.status_code == status, user
        assert routed.patient.id_number not in response.content.decode()
    assert not views_of(routed).exists()


def test_api_reveal_for_the_prescribing_physician_not_for_the_agency(
    api_client, issued, physician_user, agency_user, outsider_physician
):
    url = f"{BASE}/{issued.pk}/id-number"

    response = api_client.as_user(physician_user).post(url)

    assert response.json() == {"id_number": issued.patient.id_number}
    assert views_of(issued).count() == 1
    assert api_client.as_user(agency_user).post(url).status_code in (403, 404)
    assert api_client.as_user(outsider_physician).post(url).status_code == 404
    assert views_of(issued).count() == 1
