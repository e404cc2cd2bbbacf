"""The patient's prescription pages in the portal: choose a pharmacy seeing its stock, consent to
circulation [CX art. 21], then follow the prescription to the counter."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.prescriptions.models import Prescription, PrescriptionStatus
from dualchannel.prescriptions.services import counter
from dualchannel.registry.tests.factories import InsuredPersonFactory

from .today import bind, in_force_today, issue

S = PrescriptionStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(eligibility, physician_user):
    return issue(physician_user, in_force_today(eligibility))


@pytest.fixture
def patient(patient_user, issued):
    """The portal user bound to the prescription's patient (张伟)."""
    return bind(patient_user, issued.patient)


@pytest.fixture
def stranger(db):
    return UserFactory(
        username="stranger", insured_person=InsuredPersonFactory(), roles=[Role.PATIENT]
    )


def test_the_portal_home_links_to_my_prescriptions(client, patient):
    client.force_login(patient)

    response = client.get(reverse("portal-home"))

    assert f'href="{reverse("portal-prescriptions")}"' in response.content.decode()


def test_the_list_shows_own_prescriptions_with_their_status(client, patient, issued, stranger):
    client.force_login(patient)
    mine = client.get(reverse("portal-prescriptions")).content.decode()
    client.force_login(stranger)
    theirs = client.get(reverse("portal-prescriptions")).content.decode()

    assert issued.prescription_no in mine and "已开具" in mine and "选择药店" in mine
    assert issued.prescription_no not in theirs


def test_the_bound_pharmacy_is_offered_with_its_stock_and_the_consent_text(
    client, patient, issued, bound_pharmacy, stock
):
    client.force_login(patient)

    response = client.get(reverse("portal-prescription", args=[issued.pk]))

    assert response.status_code == 200
    (option,) = response.context["options"]  # three-fixed: the bound pharmacy only
    assert (option.pharmacy, option.stock) == (bound_pharmacy, "all")
    html = response.content.decode()
    assert bound_pharmacy.name in html and "有货" in html
    assert "本人同意将本处方流转" in html and 'name="consent" value="1"' in html
    # the article is the Wuhan patient's own region's, never Chuxiong's
    assert "鄂医保发〔2023〕35号 第四十二条" in html and "楚雄" not in html
    assert f'value="{bound_pharmacy.pk}" checked' in html


def test_without_consent_nothing_is_routed(client, patient, issued, bound_pharmacy, stock):
    client.force_login(patient)

    response = client.post(
        reverse("portal-prescription-route", args=[issued.pk]),
        {"pharmacy_id": str(bound_pharmacy.pk)},
    )

    assert response.status_code == 400
    assert 'data-code="prescriptions.consent_required"' in response.content.decode()
    issued.refresh_from_db()
    assert (issued.status, issued.pharmacy_id, issued.consented_at) == (S.ISSUED, None, None)
    assert not AuditEvent.objects.filter(action="prescriptions.prescription_routed").exists()


def test_with_consent_the_prescription_goes_to_the_chosen_pharmacy(
    client, patient, issued, bound_pharmacy, stock
):
    client.force_login(patient)

    response = client.post(
        reverse("portal-prescription-route", args=[issued.pk]),
        {"pharmacy_id": str(bound_pharmacy.pk), "consent": "1"},
    )

    detail = reverse("portal-prescription", args=[issued.pk])
    assert (response.status_code, response["Location"]) == (302, detail)
    issued.refresh_from_db()
    assert (issued.status, issued.pharmacy, issued.consented_by) == (
        S.ROUTED,
        bound_pharmacy,
        patient,
    )
    assert issued.stock_status_at_choice == "all"
    html = client.get(detail).content.decode()
    assert 'id="routed-pharmacy">江岸演示大药房' in html
    assert f"{issued.valid_until.year}年{issued.valid_until.month}月" in html
    assert 'name="consent"' not in html  # chosen once


def test_after_dispensing_the_patient_sees_the_result(
    client, patient, issued, bound_pharmacy, stock, pharmacist, pharmacist_user
):
    client.force_login(patient)
    client.post(
        reverse("portal-prescription-route", args=[issued.pk]),
        {"pharmacy_id": str(bound_pharmacy.pk), "consent": "1"},
    )
    code = stock[0].trace_codes.filter(status="in_stock").order_by("code").first().code
    counter.counter_dispense(
        actor=pharmacist_user,
        prescription_id=issued.pk,
        identity=counter.Identity("02", issued.patient.id_number),
        lines=[
            {
                "item_id": issued.items.get().pk,
                "stock_item_id": stock[0].pk,
                "packages": 1,
                "trace_codes": [code],
            }
        ],
        idempotency_key="portal-1",
    )

    html = client.get(reverse("portal-prescription", args=[issued.pk])).content.decode()

    assert 'id="prescription-status">已取药' in html
    assert 'id="delivery-status">已取药' in html
    assert "到店自取" in html


def test_another_patient_gets_not_found(client, issued, stranger, bound_pharmacy):
    client.force_login(stranger)

    page = client.get(reverse("portal-prescription", args=[issued.pk]))
    route = client.post(
        reverse("portal-prescription-route", args=[issued.pk]),
        {"pharmacy_id": str(bound_pharmacy.pk), "consent": "1"},
    )

    assert page.status_code == route.status_code == 404
    assert Prescription.objects.get().status == S.ISSUED


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "portal-prescriptions"),
        ("get", "portal-prescription"),
        ("post", "portal-prescription-route"),
    ],
)
def test_staff_are_refused_and_anonymous_visitors_go_to_the_portal_login(
    client, issued, physician_user, method, name
):
    url = reverse(name, args=[] if name == "portal-prescriptions" else [issued.pk])

    anonymous = getattr(client, method)(url)
    client.force_login(physician_user)
    staff = getattr(client, method)(url)

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("portal-login"))
    assert staff.status_code == 403
    assert Prescription.objects.get().status == S.ISSUED
