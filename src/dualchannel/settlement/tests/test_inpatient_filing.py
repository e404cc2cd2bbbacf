"""Anhui's inpatient 外购备案表 [AH annex, AH §2(5)]: issued for a registered stay it is the
inpatient version, and its 医院医保办审核意见 is a real review by the stay hospital's reviewer;
before approval the form is not valid and the counter refuses the sale."""

from __future__ import annotations

from datetime import date

import pytest

from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.prescriptions import services as rx_services
from dualchannel.prescriptions.models import BenefitType, Prescription
from dualchannel.prescriptions.tests.conftest import receive_stock
from dualchannel.prescriptions.tests.helpers import USAGE
from dualchannel.prescriptions.tests.today import route
from dualchannel.registry import services as registry_services
from dualchannel.registry.models import (
    FilingReview,
    FilingReviewStatus,
    Institution,
    InsuredPerson,
)
from dualchannel.registry.tests.factories import InstitutionFactory, region
from dualchannel.settlement import services

from .conftest import dispense

pytestmark = pytest.mark.django_db


@pytest.fixture
def hefei_stay(physician, bound_pharmacy, zhang, reviewer_user):
    """Hospital, pharmacy and 张伟 in Hefei (Anhui: filing form per purchase), a stay registered."""
    area = region("340102")
    Institution.objects.filter(pk__in=[physician.hospital_id, bound_pharmacy.pk]).update(
        region=area
    )
    InsuredPerson.objects.filter(pk=zhang.pk).update(enrolment_region=area)
    return registry_services.stay_register(
        actor=reviewer_user,
        id_number=zhang.id_number,
        admission_no="ZY2026-0200",
        admitted_on=date(2026, 1, 5),
        diagnosis_code="I10.x00x002",
        diagnosis_name="高血压",
    )


def issue_inpatient(physician_user, zhang, chronic_drug, pharmacy, number="ZY2026-0200"):
    return rx_services.prescription_issue(
        actor=physician_user,
        patient_id_number=zhang.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[
            {"drug_id": chronic_drug.pk, "quantity": "28", "unit": "片", "pack_size": "28"}
            | USAGE
            | {"days": 28}
        ],
        pharmacy_id=pharmacy.pk,
        inpatient_admission_no=number,
    )


def test_ah_the_inpatient_form_is_valid_only_after_the_hospital_review(
    hefei_stay,
    zhang,
    chronic_drug,
    physician_user,
    patient_user,
    bound_pharmacy,
    pharmacist,
    pharmacist_user,
    reviewer_user,
    benefit_rules,
):
    """AH annex: the inpatient version carries 住院诊断, 入院时间 and 住院号, and is valid only
    once the hospital insurance office approved it; the counter refuses the sale before."""
    batches = receive_stock(pharmacist_user, chronic_drug, prefix="8555555", key="chronic")
    prescription = issue_inpatient(physician_user, zhang, chronic_drug, bound_pharmacy)

    form = prescription.filing_form.data
    assert form["usage_type"] == "inpatient"
    assert form["inpatient_no"] == "ZY2026-0200" and form["admission_date"] == "2026-01-05"
    assert "高血压" in form["inpatient_diagnosis"]
    review = FilingReview.objects.get(document_id=prescription.filing_form_id)
    assert review.status == FilingReviewStatus.SUBMITTED and review.stay_id == hefei_stay.pk

    route(patient_user, prescription, bound_pharmacy)
    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, prescription, batches[0], packages=1, key="d-1")
    assert refused.value.code == "counter.filing_not_reviewed"

    registry_services.filing_review_decide(
        actor=reviewer_user, review_id=review.pk, approve=True, opinion="同意外购"
    )
    review.refresh_from_db()
    assert review.status == FilingReviewStatus.APPROVED
    assert review.reviewed_by == reviewer_user and review.opinion == "同意外购"
    assert review.history.get().to_status == FilingReviewStatus.APPROVED

    dispensed = dispense(pharmacist_user, prescription, batches[0], packages=1, key="d-2")
    settled = services.settlement_settle(
        actor=pharmacist_user,
        prescription_id=dispensed.prescription_id,
        idempotency_key="s-1",
        inpatient_admission_no="ZY2026-0200",
    )
    assert settled.stay_id == hefei_stay.pk and settled.category == "inpatient"


def test_ah_a_refused_form_stays_invalid_and_is_not_reviewed_twice(
    hefei_stay, zhang, chronic_drug, physician_user, bound_pharmacy, reviewer_user
):
    """AH annex: a refusal needs the opinion; a decided review is not decided again."""
    prescription = issue_inpatient(physician_user, zhang, chronic_drug, bound_pharmacy)
    review = FilingReview.objects.get(document_id=prescription.filing_form_id)

    with pytest.raises(DomainError) as refused:
        registry_services.filing_review_decide(
            actor=reviewer_user, review_id=review.pk, approve=False, opinion=""
        )
    assert refused.value.code == "registry.opinion_required"
    review.refresh_from_db()
    assert review.status == FilingReviewStatus.SUBMITTED

    registry_services.filing_review_decide(
        actor=reviewer_user, review_id=review.pk, approve=False, opinion="诊断文书不全"
    )
    with pytest.raises(Conflict) as again:
        registry_services.filing_review_decide(
            actor=reviewer_user, review_id=review.pk, approve=True, opinion=""
        )
    assert again.value.code == "registry.filing_review_decided"
    review.refresh_from_db()
    assert review.status == FilingReviewStatus.REFUSED and review.opinion == "诊断文书不全"


def test_ah_only_the_stay_hospitals_reviewer_decides(
    hefei_stay, zhang, chronic_drug, physician_user, bound_pharmacy
):
    """AH annex: the review is the stay hospital's insurance office's (医院医保办盖章)."""
    prescription = issue_inpatient(physician_user, zhang, chronic_drug, bound_pharmacy)
    review = FilingReview.objects.get(document_id=prescription.filing_form_id)
    other = UserFactory(
        username="other-reviewer",
        institution=InstitutionFactory(kind="hospital", region_code="340102"),
        roles=[Role.REVIEWER],
    )
    with pytest.raises(NotFound):
        registry_services.filing_review_decide(
            actor=other, review_id=review.pk, approve=True, opinion=""
        )


def test_ah_an_unregistered_stay_is_refused_and_nothing_written(
    hefei_stay, zhang, chronic_drug, physician_user, bound_pharmacy
):
    """AH annex: the inpatient form names a stay the hospital registered for this patient."""
    with pytest.raises(DomainError) as refused:
        issue_inpatient(physician_user, zhang, chronic_drug, bound_pharmacy, number="ZY-NONE")
    assert refused.value.code == "prescriptions.stay_not_registered"
    assert not Prescription.objects.exists() and not FilingReview.objects.exists()


def test_registering_a_stay_twice_or_without_a_number_is_refused(hefei_stay, reviewer_user, zhang):
    """AH §2(5): one stay per admission number at a hospital; bad input refused."""
    kwargs = {
        "actor": reviewer_user,
        "id_number": zhang.id_number,
        "admitted_on": date(2026, 1, 5),
        "diagnosis_code": "I10.x00x002",
        "diagnosis_name": "高血压",
    }
    with pytest.raises(Conflict) as duplicate:
        registry_services.stay_register(admission_no="ZY2026-0200", **kwargs)
    assert duplicate.value.code == "registry.duplicate_admission"
    with pytest.raises(DomainError) as blank:
        registry_services.stay_register(admission_no="  ", **kwargs)
    assert blank.value.code == "registry.invalid_admission"
