"""Anhui's external-purchase filing form signed with each prescription [AH §2(4), annex]."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.errors import DomainError
from dualchannel.documents.models import DocumentKind, SignedDocument
from dualchannel.documents.selectors import VerdictStatus, document_verify
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import BenefitType, Prescription
from dualchannel.registry.tests.factories import designate, qualified_pharmacy, region

from .helpers import USAGE
from .today import in_force_today

TODAY = date(2026, 3, 10)
pytestmark = pytest.mark.django_db


@pytest.fixture
def hefei(physician):
    """The physician's hospital moved to Hefei: the Anhui profile (filing form per purchase)."""
    hospital = physician.hospital
    hospital.region = region("340102")
    hospital.save(update_fields=["region"])
    chosen = qualified_pharmacy(region_code="340102", name="合肥演示大药房")
    designate(chosen)
    other = qualified_pharmacy(region_code="340121", name="合肥另一家药房")
    designate(other)
    return chosen, other


def chronic(actor, person, **kw) -> Prescription:
    drug = DrugFactory(is_separately_paid=False)
    return services.prescription_issue(
        actor=actor,
        patient_id_number=person.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[
            {"drug_id": drug.pk, "quantity": "28", "unit": "片", "pack_size": "28", **USAGE}
            | {"days": 28, "specification": "5mg*28片"}
        ],
        today=TODAY,
        **kw,
    )


def test_in_anhui_the_prescription_carries_a_signed_filing_form_naming_the_pharmacy(
    hefei, zhang, physician_user, patient_user
):
    chosen, other = hefei

    prescription = chronic(physician_user, zhang, pharmacy_id=chosen.pk)

    # the form is signed by the physician, names the pharmacy and verifies
    form = prescription.filing_form
    assert form.kind == DocumentKind.AH_FILING_FORM
    assert form.data["pharmacy_name"] == "合肥演示大药房"
    assert form.data["usage_type"] == "chronic" and "高血压" in form.data["chronic_disease"]
    assert form.data["purchase_quantity"] == f"{form.data['drugs'][0]['generic_name']} 28片"
    assert form.data["physician_name"] == prescription.physician.name
    assert document_verify(form.verification_token).status == VerdictStatus.AUTHENTIC
    # and the prescription can go only to the pharmacy the form names
    patient_user.insured_person = zhang
    patient_user.save(update_fields=["insured_person"])
    options = services.pharmacy_options(actor=patient_user, prescription_id=prescription.pk)
    assert [o.pharmacy for o in options] == [chosen]
    with pytest.raises(DomainError) as refused:
        services.prescription_route(
            actor=patient_user,
            prescription_id=prescription.pk,
            pharmacy_id=other.pk,
            consent=True,
            today=TODAY,
        )
    assert refused.value.code == "prescriptions.bound_pharmacy"


def test_cancelling_revokes_the_filing_form_too(hefei, zhang, physician_user):
    prescription = chronic(physician_user, zhang, pharmacy_id=hefei[0].pk)

    services.prescription_cancel(
        actor=physician_user, prescription_id=prescription.pk, reason="患者改用其他方案"
    )

    prescription.refresh_from_db()
    assert prescription.document.revoked_at is not None
    assert prescription.filing_form.revoked_at is not None


@pytest.mark.parametrize(
    ("choice", "code"),
    [
        (None, "prescriptions.filing_pharmacy_required"),
        ("wuhan", "prescriptions.pharmacy_not_allowed"),  # not of the pooling area
    ],
)
def test_in_anhui_a_missing_or_foreign_pharmacy_is_refused_and_nothing_written(
    hefei, zhang, physician_user, bound_pharmacy, choice, code
):
    pharmacy_id = bound_pharmacy.pk if choice == "wuhan" else None

    with pytest.raises(DomainError) as refused:
        chronic(physician_user, zhang, pharmacy_id=pharmacy_id)

    assert refused.value.code == code and "pharmacy_id" in refused.value.fields
    assert not Prescription.objects.exists()
    assert not SignedDocument.objects.exists()


def test_outside_anhui_the_physician_names_no_pharmacy(physician, zhang, physician_user):
    # Wuhan (Hubei): the patient chooses when the prescription is routed; no filing form
    with pytest.raises(DomainError) as refused:
        chronic(physician_user, zhang, pharmacy_id=qualified_pharmacy(region_code="420102").pk)
    assert refused.value.code == "prescriptions.pharmacy_not_allowed"
    assert not Prescription.objects.exists()

    prescription = chronic(physician_user, zhang)
    assert prescription.filing_form is None and prescription.filing_pharmacy is None


def test_the_prescribe_page_in_anhui_asks_for_the_pharmacy_and_signs_the_form(
    client, hefei, eligibility, physician_user
):
    # given a Hefei hospital's eligibility (Anhui: no three-fixed binding, a form per purchase)

    active = in_force_today(eligibility)
    active.pharmacy = None
    active.save(update_fields=["pharmacy"])
    chosen, _ = hefei
    client.force_login(physician_user)
    url = reverse("prescriptions-doctor-prescribe", args=[active.pk])
    page = client.get(url)
    assert "外购备案表" in page.content.decode()
    assert chosen in page.context["filing_pharmacies"]
    prefilled = page.context["form"]

    # without a pharmacy: refused, nothing written
    refused = client.post(
        url, {**prefilled, "quantity": "50", "pack_size": "50", "pharmacy_id": ""}
    )
    assert refused.status_code == 400 and not Prescription.objects.exists()
    assert refused.context["error"].code == "prescriptions.filing_pharmacy_required"

    # with the patient's pharmacy: issued with its signed filing form
    issued = client.post(
        url, {**prefilled, "quantity": "50", "pack_size": "50", "pharmacy_id": str(chosen.pk)}
    )
    assert issued.status_code == 302, issued.context["error"].message
    prescription = Prescription.objects.get()
    assert prescription.filing_pharmacy == chosen
    assert prescription.filing_form.data["pharmacy_name"] == chosen.name
    assert "总药量" in prescription.filing_form.data["current_plan"]


def test_in_anhui_the_form_may_name_a_pharmacy_in_another_city_of_the_province(
    hefei, zhang, physician_user
):
    """AH §2(5): bought at a dual-channel pharmacy in another region of the province, the
    purchase is claimed at home with the filing form and the receipts."""
    wuhu = qualified_pharmacy(region_code="340202", name="芜湖演示药房")
    designate(wuhu)

    prescription = chronic(physician_user, zhang, pharmacy_id=wuhu.pk)

    assert prescription.filing_pharmacy == wuhu
    assert prescription.filing_form.data["pharmacy_name"] == "芜湖演示药房"
