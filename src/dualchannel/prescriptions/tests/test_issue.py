"""Issuing, cancelling, expiring and routing prescriptions [HB art. 13–15, 38; CX art. 21]."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from dualchannel.catalog.models import SpecialControl
from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import AuditEvent
from dualchannel.documents.models import DocumentKind
from dualchannel.notifications.models import Channel, Notification
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import (
    BenefitType,
    Prescription,
    PrescriptionStatus,
    RxCentreSubmission,
    StockStatus,
)
from dualchannel.registry.models import Region
from dualchannel.registry.tests.factories import designate, qualified_pharmacy

from .helpers import TODAY, USAGE, special, statuses

S = PrescriptionStatus
pytestmark = pytest.mark.django_db


# --- issuing ---------------------------------------------------------------------------------


def test_special_drug_prescription_is_signed_marked_dual_channel_and_told_to_the_patient(
    eligibility, physician_user
):
    prescription = special(physician_user, eligibility)

    assert prescription.status == S.ISSUED
    assert prescription.rx_extra_attr_code == "01"
    assert prescription.prescription_no.startswith("CF20260310")
    assert prescription.valid_until == TODAY + timedelta(days=2)  # national 3 days
    assert prescription.diagnosis_code == "C34.100x004"
    (item,) = prescription.items.all()
    assert (item.quantity, item.packages) == (Decimal("50"), 1)
    assert prescription.document.kind == DocumentKind.PRESCRIPTION
    assert prescription.document.data["items"][0]["quantity"] == "50"
    assert statuses(prescription) == [S.ISSUED]
    assert AuditEvent.objects.filter(action="prescriptions.prescription_issued").count() == 1
    notice = Notification.objects.get(template_code="prescriptions.issued", channel=Channel.IN_APP)
    assert prescription.prescription_no in notice.body


def test_two_prescriptions_together_cannot_exceed_the_plan(eligibility, physician_user):
    # plan: 180 粒; 150 already on an open prescription
    special(physician_user, eligibility, quantity="150")

    with pytest.raises(DomainError) as refused:
        special(physician_user, eligibility, quantity="50")

    assert refused.value.code == "prescriptions.over_plan"
    assert "剩余30" in refused.value.message
    assert Prescription.objects.count() == 1


def test_special_drug_needs_an_active_eligibility(eligibility, physician_user):
    eligibility.status = "suspended"
    eligibility.save(update_fields=["status"])

    with pytest.raises(DomainError) as refused:
        special(physician_user, eligibility)

    assert refused.value.code == "prescriptions.eligibility_inactive"
    assert not Prescription.objects.exists()


def test_past_the_reevaluation_deadline_the_physician_is_asked_to_reevaluate_first(
    eligibility, physician_user
):
    with pytest.raises(DomainError) as refused:
        special(physician_user, eligibility, today=eligibility.next_reevaluation_due + timedelta(1))

    assert refused.value.code == "prescriptions.reevaluation_due"
    assert not Prescription.objects.exists()


def test_unit_must_be_the_plans(eligibility, physician_user):
    with pytest.raises(DomainError) as refused:
        services.prescription_issue(
            actor=physician_user,
            patient_id_number=eligibility.patient.id_number,
            benefit_type=BenefitType.SPECIAL_DRUG,
            eligibility_id=eligibility.pk,
            items=[
                {
                    "drug_id": eligibility.drug_id,
                    "quantity": "1",
                    "unit": "盒",
                    **USAGE,
                    "days": 25,
                }
            ],
            today=TODAY,
        )
    assert refused.value.code == "prescriptions.unit_mismatch"


def test_another_drug_on_a_special_drug_prescription_is_a_new_application(
    eligibility, physician_user
):
    other = DrugFactory(is_dual_channel=True)
    with pytest.raises(DomainError) as refused:
        services.prescription_issue(
            actor=physician_user,
            patient_id_number=eligibility.patient.id_number,
            benefit_type=BenefitType.SPECIAL_DRUG,
            eligibility_id=eligibility.pk,
            items=[{"drug_id": other.pk, "quantity": "10", "unit": "粒", **USAGE, "days": 10}],
            today=TODAY,
        )
    assert refused.value.code == "prescriptions.drug_not_in_eligibility"


def test_ordinary_dual_channel_prescription_for_chronic_disease(physician, zhang, physician_user):
    drug = DrugFactory(generic_name="测试慢病片", is_separately_paid=False)

    prescription = services.prescription_issue(
        actor=physician_user,
        patient_id_number=zhang.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[
            {
                "drug_id": drug.pk,
                "quantity": "28",
                "unit": "片",
                "pack_size": "28",
                **USAGE,
                "days": 28,
            }
        ],
        today=TODAY,
    )

    assert prescription.eligibility is None
    assert prescription.diagnosis_name == "高血压"
    assert prescription.items.get().packages == 1


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"is_separately_paid": True}, "prescriptions.separately_paid_needs_eligibility"),
        ({"is_dual_channel": False}, "prescriptions.not_dual_channel"),
        ({"special_control": SpecialControl.NARCOTIC}, "prescriptions.special_control"),
    ],
)
def test_drugs_outside_ordinary_circulation_are_refused(
    physician, zhang, physician_user, change, code
):
    drug = DrugFactory(**change)
    with pytest.raises(DomainError) as refused:
        services.prescription_issue(
            actor=physician_user,
            patient_id_number=zhang.id_number,
            benefit_type=BenefitType.GENERAL_OUTPATIENT,
            diagnosis_code="I10.x00x002",
            items=[{"drug_id": drug.pk, "quantity": "7", "unit": "片", **USAGE, "days": 7}],
            today=TODAY,
        )
    assert refused.value.code == code
    assert not Prescription.objects.exists()


def test_long_prescription_only_where_the_profile_provides_it(physician, zhang, physician_user):
    # Wuhan (Hubei profile) sets no long prescriptions
    drug = DrugFactory()
    item = {"drug_id": drug.pk, "quantity": "56", "unit": "片", **USAGE, "days": 56}
    with pytest.raises(DomainError) as refused:
        services.prescription_issue(
            actor=physician_user,
            patient_id_number=zhang.id_number,
            benefit_type=BenefitType.CHRONIC_DISEASE,
            diagnosis_code="I10.x00x002",
            items=[item],
            long_prescription=True,
            today=TODAY,
        )
    assert refused.value.code == "prescriptions.long_not_allowed"

    # and an ordinary prescription is at most 30 days
    with pytest.raises(DomainError) as refused:
        services.prescription_issue(
            actor=physician_user,
            patient_id_number=zhang.id_number,
            benefit_type=BenefitType.CHRONIC_DISEASE,
            diagnosis_code="I10.x00x002",
            items=[item],
            today=TODAY,
        )
    assert refused.value.code == "prescriptions.too_many_days"


def test_long_prescription_in_chuxiong_up_to_twelve_weeks(physician, zhang, physician_user):

    hospital = physician.hospital
    hospital.region = Region.objects.get(code="532301")
    hospital.save(update_fields=["region"])
    drug = DrugFactory()

    prescription = services.prescription_issue(
        actor=physician_user,
        patient_id_number=zhang.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[{"drug_id": drug.pk, "quantity": "84", "unit": "片", **USAGE, "days": 84}],
        long_prescription=True,
        today=TODAY,
    )

    assert prescription.long_prescription is True


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        (
            [{"drug_id": "x", "quantity": "1", "unit": "片", **USAGE, "days": 1}],
            "items.0.drug_id",
        ),
        (
            [{"drug_id": 1, "quantity": "-1", "unit": "片", **USAGE, "days": 1}],
            "items.0.quantity",
        ),
        (
            [{"drug_id": 1, "quantity": "1.001", "unit": "片", **USAGE, "days": 1}],
            "items.0.quantity",
        ),
        ([{"drug_id": 1, "quantity": "1", "unit": "", **USAGE, "days": 1}], "items.0.unit"),
        ([{"drug_id": 1, "quantity": "1", "unit": "片", **USAGE, "days": 0}], "items.0.days"),
    ],
)
def test_malformed_items_are_refused_naming_the_field(
    physician, zhang, physician_user, items, field
):
    with pytest.raises(DomainError) as refused:
        services.prescription_issue(
            actor=physician_user,
            patient_id_number=zhang.id_number,
            benefit_type=BenefitType.GENERAL_OUTPATIENT,
            diagnosis_code="I10.x00x002",
            items=items,
            today=TODAY,
        )
    assert field in refused.value.fields
    assert not Prescription.objects.exists()


def test_unknown_patient_is_refused(physician, physician_user):
    drug = DrugFactory()
    with pytest.raises(NotFound):
        services.prescription_issue(
            actor=physician_user,
            patient_id_number="420102196203140011",
            benefit_type=BenefitType.GENERAL_OUTPATIENT,
            diagnosis_code="I10.x00x002",
            items=[{"drug_id": drug.pk, "quantity": "7", "unit": "片", **USAGE, "days": 7}],
            today=TODAY,
        )
    assert not Prescription.objects.exists()


# --- cancel and expiry -------------------------------------------------------------------------


def test_physician_cancels_an_undispensed_prescription_and_its_document_is_revoked(
    eligibility, physician_user
):
    prescription = special(physician_user, eligibility)

    services.prescription_cancel(
        actor=physician_user, prescription_id=prescription.pk, reason="患者病情变化"
    )

    prescription.refresh_from_db()
    assert prescription.status == S.CANCELLED
    assert prescription.document.revoked_at is not None
    assert statuses(prescription) == [S.ISSUED, S.CANCELLED]
    # the plan's reservation is released
    assert services.reserved_quantity(eligibility) == 0


def test_another_hospitals_physician_cannot_cancel(eligibility, physician_user, outsider_physician):
    prescription = special(physician_user, eligibility)
    with pytest.raises(NotFound):
        services.prescription_cancel(
            actor=outsider_physician, prescription_id=prescription.pk, reason="x"
        )
    prescription.refresh_from_db()
    assert prescription.status == S.ISSUED


def test_expiry_job_expires_only_what_is_past_its_validity(eligibility, physician_user):
    prescription = special(physician_user, eligibility)

    assert services.prescriptions_expire(today=prescription.valid_until) == 0
    assert services.prescriptions_expire(today=prescription.valid_until + timedelta(1)) == 1

    prescription.refresh_from_db()
    assert prescription.status == S.EXPIRED
    assert Notification.objects.filter(
        template_code="prescriptions.expired", channel=Channel.IN_APP
    ).exists()
    with pytest.raises(DomainError):
        services.prescription_cancel(
            actor=physician_user, prescription_id=prescription.pk, reason="x"
        )


# --- circulation [CX art. 21] ------------------------------------------------------------------


def test_three_fixed_patient_sees_only_the_bound_pharmacy_with_its_stock(
    eligibility, physician_user, patient_user, bound_pharmacy, stock
):
    other = qualified_pharmacy(region_code="420102")
    designate(other)
    prescription = special(physician_user, eligibility)
    patient_user.insured_person = eligibility.patient
    patient_user.save(update_fields=["insured_person"])

    options = services.pharmacy_options(actor=patient_user, prescription_id=prescription.pk)

    assert [(o.pharmacy, o.stock) for o in options] == [(bound_pharmacy, StockStatus.ALL)]
    with pytest.raises(DomainError) as refused:
        services.prescription_route(
            actor=patient_user,
            prescription_id=prescription.pk,
            pharmacy_id=other.pk,
            consent=True,
            today=TODAY,
        )
    assert refused.value.code == "prescriptions.bound_pharmacy"


def test_routing_needs_consent_then_lands_in_the_pharmacy_inbox(
    eligibility, physician_user, patient_user, bound_pharmacy, stock
):
    prescription = special(physician_user, eligibility)
    patient_user.insured_person = eligibility.patient
    patient_user.save(update_fields=["insured_person"])

    with pytest.raises(DomainError) as refused:
        services.prescription_route(
            actor=patient_user,
            prescription_id=prescription.pk,
            pharmacy_id=bound_pharmacy.pk,
            consent=False,
            today=TODAY,
        )
    assert refused.value.code == "prescriptions.consent_required"

    routed = services.prescription_route(
        actor=patient_user,
        prescription_id=prescription.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=TODAY,
    )

    assert routed.status == S.ROUTED
    assert routed.pharmacy == bound_pharmacy
    assert routed.consented_by == patient_user
    assert routed.stock_status_at_choice == StockStatus.ALL
    assert RxCentreSubmission.objects.filter(prescription=routed).exists()
    assert Notification.objects.filter(
        template_code="prescriptions.routed", channel=Channel.IN_APP
    ).exists()


def test_someone_elses_prescription_cannot_be_routed(
    eligibility, physician_user, outsider_physician, bound_pharmacy
):
    prescription = special(physician_user, eligibility)
    with pytest.raises(NotFound):
        services.prescription_route(
            actor=outsider_physician,
            prescription_id=prescription.pk,
            pharmacy_id=bound_pharmacy.pk,
            consent=True,
        )
