"""Masking by need (issue 9): lists never show a full ID number; the case's roles ask for it
explicitly, and each view is one audit event."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.core.masking import mask_id_number
from dualchannel.core.models import AuditEvent
from dualchannel.core.reveal import ID_NUMBER_VIEWED
from dualchannel.eligibility import services

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
BASE = "/api/v1/eligibility"


@pytest.fixture
def case(make_draft, zhang, physician_user):
    application = make_draft(zhang)
    services.application_submit(actor=physician_user, application_id=application.pk)
    application.refresh_from_db()
    return application


def views_of(application):
    return AuditEvent.objects.filter(action=ID_NUMBER_VIEWED, subject_id=str(application.pk))


def test_doctor_and_reviewer_lists_show_the_masked_id_number_only(
    client, api_client, case, zhang, physician_user, reviewer_user
):
    masked = mask_id_number(zhang.id_number)
    # pages: 我的申请 and the reviewer's queue
    client.force_login(physician_user)
    assert zhang.id_number not in client.get(reverse("eligibility-doctor")).content.decode()
    client.force_login(reviewer_user)
    queue = client.get(reverse("eligibility-review")).content.decode()
    assert case.application_no in queue and zhang.id_number not in queue

    # API: the physician's list and the reviewer's queue (both returned the full number before)
    mine = api_client.as_user(physician_user).get(f"{BASE}/applications")
    assert [a["patient_id_number"] for a in mine.json()] == [masked]
    assert zhang.id_number not in mine.content.decode()
    queued = api_client.as_user(reviewer_user).get(f"{BASE}/applications/review-queue")
    assert [i["application"]["patient_id_number"] for i in queued.json()] == [masked]
    assert zhang.id_number not in queued.content.decode()
    detail = api_client.as_user(reviewer_user).get(f"{BASE}/applications/{case.pk}")
    assert detail.json()["patient_id_number"] == masked
    # and nobody was recorded as having seen the number
    assert not views_of(case).exists()


def test_reviewer_reveals_the_full_id_number_on_request_and_the_view_is_audited(
    client, case, zhang, reviewer_user
):
    # given the case page, which shows the masked number and the reveal button
    client.force_login(reviewer_user)
    page = client.get(reverse("eligibility-review-case", args=[case.pk])).content.decode()
    url = reverse("eligibility-application-id-number", args=[case.pk])
    assert mask_id_number(zhang.id_number) in page and zhang.id_number not in page
    assert url in page and "显示完整证件号" in page

    # when the reviewer asks for the full number
    response = client.post(url, **HTMX)

    # then it is shown, and exactly one audit event names the reviewer, the case and the patient
    assert response.status_code == 200
    assert zhang.id_number in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    (event,) = views_of(case)
    assert event.actor_id == reviewer_user.pk and event.actor_role == "reviewer"
    assert event.patient_id == zhang.pk and event.subject_type == "eligibility.Application"
    assert event.summary == {"fields": ["id_number"], "via": "page"}
    assert zhang.id_number not in str(event.summary)


def test_physician_reveals_on_the_application_page(client, case, zhang, physician_user):
    client.force_login(physician_user)
    page = client.get(reverse("eligibility-doctor-application", args=[case.pk])).content.decode()
    url = reverse("eligibility-application-id-number", args=[case.pk])
    assert url in page and zhang.id_number not in page

    assert zhang.id_number in client.post(url, **HTMX).content.decode()
    assert views_of(case).count() == 1


def test_anonymous_outsiders_other_roles_and_get_cannot_reveal(
    client, case, zhang, outsider_reviewer, outsider_physician, pharmacist_user, reviewer_user
):
    url = reverse("eligibility-application-id-number", args=[case.pk])

    anonymous = client.post(url, **HTMX)
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
    for user, status in (
        (outsider_reviewer, 404),
        (outsider_physician, 404),
        (pharmacist_user, 403),
    ):
        client.force_login(user)
        response = client.post(url)
        assert response.status_code == status, user
        assert zhang.id_number not in response.content.decode(), user
    client.force_login(reviewer_user)
    assert client.get(url).status_code == 405  # a view is an explicit POST, never a link
    assert not views_of(case).exists()


def test_api_reveal_returns_the_full_number_once_per_call_and_only_to_the_case_roles(
    api_client, case, zhang, physician_user, agency_user, outsider_physician
):
    url = f"{BASE}/applications/{case.pk}/id-number"

    response = api_client.as_user(physician_user).post(url)

    assert response.status_code == 200
    assert response.json() == {"id_number": zhang.id_number}
    (event,) = views_of(case)
    assert event.summary == {"fields": ["id_number"], "via": "api"}

    # an officer of the region sees the case but not the number; an outsider not even the case
    refused = api_client.as_user(agency_user).post(url)
    assert refused.status_code in (403, 404)
    assert zhang.id_number not in refused.content.decode()
    assert api_client.as_user(outsider_physician).post(url).status_code == 404
    assert api_client.post(url, HTTP_AUTHORIZATION="").status_code == 401
    assert views_of(case).count() == 1
