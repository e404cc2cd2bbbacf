"""Worked examples of issue 11 points 3, 6 and 8, one line per seed profile where the rule
differs (Wuhan/Hubei, Hefei/Anhui, Jinan/Shandong, Chuxiong):

- who may prescribe [HB art. 6, 13–15, 42; AH annex 3(1); CX art. 20]: the profile's
  ``prescriber_rule`` decides whether an ordinary 医保医师 (or a responsible physician suspended
  by a failed annual assessment, as a 医保医师) prescribes an ordinary dual-channel drug; a
  three-fixed eligibility is prescribed by its bound physician unless the profile allows a team;
  a failed assessment suspends the responsible-physician standing in every profile;
- the agency's powers [HB art. 12, 21–22, 50]: a revocation for fraud ends benefits at once and
  recovers what the fund paid under it; a transfer applies the new region's rules from the
  transfer date — the same rule in every profile (one example each);
- a person from the platform [national 1101] whose insurance is paused (暂停) is refused at
  application and at prescribing [HB art. 2, CX art. 5] — the same in every profile.

Each profile's rule is applied to the same Wuhan world by giving its region the seed's values
(a region's rules are data); the end-to-end paths are in prescriptions/tests/test_prescribers.py,
test_revocation.py, test_transfer.py and integration/tests/test_person.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.errors import DomainError
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.eligibility import services as eligibility_services
from dualchannel.eligibility.models import Application, EligibilityStatus, RevocationKind
from dualchannel.eligibility.selectors import eligibility_benefits_active
from dualchannel.eligibility.services import eligibility_transfer_with_person
from dualchannel.integration.services import insured_person_fetch
from dualchannel.prescriptions import services as rx
from dualchannel.prescriptions.models import BenefitType, Prescription
from dualchannel.prescriptions.tests.helpers import USAGE, special
from dualchannel.registry.models import (
    BenefitStatus,
    DesignationStatus,
    PolicyProfile,
    Region,
    RegionLevel,
)
from dualchannel.registry.profiles import read_profiles
from dualchannel.registry.selectors import enrolment_region_on
from dualchannel.registry.services import physician_assess
from dualchannel.registry.tests.factories import DesignationFactory, PhysicianFactory, region
from dualchannel.settlement import services
from dualchannel.settlement.models import RecoveryStatus
from dualchannel.simulators.persons import PLATFORM_ONLY

pytestmark = pytest.mark.django_db
SEEDS = dict(read_profiles())
PROFILES = ("420000", "340000", "370000", "532300")  # Hubei, Anhui, Shandong, Chuxiong
PRESCRIBER_FIELDS = ("prescriber_rule", "three_fixed_team_allowed")
# what the seeds say: only under Hubei does an ordinary 医保医师 prescribe ordinary drugs
ORDINARY_BY_ANY_INSURANCE_PHYSICIAN = {
    "420000": True,
    "340000": False,
    "370000": False,
    "532300": False,
}


def rules_of(code: str) -> None:
    """The Wuhan world under profile ``code``'s prescriber rules (the seed's values)."""
    PolicyProfile.objects.filter(region_id="420000").update(
        **{name: SEEDS[code][name] for name in PRESCRIBER_FIELDS}
    )


def insurance_physician(hospital, username="yibao"):
    """A 医保医师 of the hospital without a responsible-physician designation."""
    user = UserFactory(username=username, institution=hospital, roles=[Role.PHYSICIAN])
    PhysicianFactory(user=user, hospital=hospital, name="王医保")
    return user


def colleague(hospital):
    """Another responsible physician of the same hospital, in good standing."""
    user = UserFactory(username="colleague", institution=hospital, roles=[Role.PHYSICIAN])
    physician = PhysicianFactory(user=user, hospital=hospital, name="陈同事")
    DesignationFactory(institution=None, physician=physician, status=DesignationStatus.ACTIVE)
    return user


def ordinary(actor, patient):
    """A chronic-disease prescription of a dual-channel drug that is not separately paid."""
    drug = DrugFactory(is_separately_paid=False)
    return rx.prescription_issue(
        actor=actor,
        patient_id_number=patient.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[{"drug_id": drug.pk, "quantity": "28", "unit": "片", **USAGE, "days": 28}],
    )


def refused_code(call) -> str:
    with pytest.raises(DomainError) as refused:
        call()
    return refused.value.code


# --- point 3: who may prescribe, per profile ---------------------------------------------------


@pytest.mark.parametrize("code", PROFILES)
def test_every_profile_an_ordinary_insurance_physician_and_an_ordinary_drug(physician, zhang, code):
    """HB art. 13–15, 42: under Hubei any 医保医师 prescribes an ordinary dual-channel drug;
    AH annex 3(1), CX art. 20 (and Shandong's responsible-only rule): only the responsible
    physician does, the 医保医师 is refused and nothing is written."""
    rules_of(code)
    user = insurance_physician(physician.hospital)

    if ORDINARY_BY_ANY_INSURANCE_PHYSICIAN[code]:
        assert ordinary(user, zhang).physician.name == "王医保"
    else:
        assert refused_code(lambda: ordinary(user, zhang)) == "prescriptions.not_designated"
        assert not Prescription.objects.exists()
    assert ordinary(physician.user, zhang).physician == physician  # the responsible one always


@pytest.mark.parametrize("code", PROFILES)
def test_every_profile_a_three_fixed_eligibility_by_another_physician(eligibility, code):
    """HB art. 6: three-fixed binds the physician too; no seed allows a team
    (``three_fixed_team_allowed`` false in all four), so a colleague of the bound hospital is
    refused everywhere and nothing is written; the bound physician prescribes."""
    rules_of(code)
    assert SEEDS[code]["three_fixed_team_allowed"] is False
    assert eligibility.application.binding_mode == "three_fixed"
    user = colleague(eligibility.hospital)

    assert refused_code(lambda: special(user, eligibility)) == "prescriptions.bound_physician"
    assert not Prescription.objects.exists()
    assert special(eligibility.physician.user, eligibility).eligibility == eligibility


@pytest.mark.parametrize("code", PROFILES)
def test_every_profile_a_failed_assessment_suspends_the_responsible_physician(
    eligibility, reviewer_user, zhang, code
):
    """CX art. 20: a failed annual assessment suspends the responsible-physician standing in
    every profile (no special-drug prescription); where any 医保医师 may prescribe ordinary
    drugs (Hubei, HB art. 14) the suspended physician still does, elsewhere not."""
    rules_of(code)
    physician = eligibility.physician
    physician_assess(actor=reviewer_user, physician=physician, year=2025, result="failed")

    suspended = "prescriptions.physician_suspended"
    assert refused_code(lambda: special(physician.user, eligibility)) == suspended
    if ORDINARY_BY_ANY_INSURANCE_PHYSICIAN[code]:
        assert ordinary(physician.user, zhang).physician == physician
    else:
        assert refused_code(lambda: ordinary(physician.user, zhang)) == suspended
        assert not Prescription.objects.exists()


# --- point 6: the agency's powers over eligibility (the same rule in every profile) -------------


def test_a_revocation_for_fraud_ends_benefits_at_once_and_recovers_what_was_paid(
    dispensed, pharmacist_user, agency_user
):
    """HB art. 12, 21–22: 1 box settled under the eligibility (fund part F); revoked for resale,
    benefits end that day and one recovery order of exactly F is raised against the pharmacy."""
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    eligibility = settled.prescription.eligibility
    assert eligibility_benefits_active(eligibility, on=timezone.localdate())

    result = services.eligibility_revoke_for_fraud(
        actor=agency_user,
        eligibility_id=eligibility.pk,
        kind=RevocationKind.RESALE,
        reason="将所购药品转卖他人",
        evidence="稽核笔录",
    )

    eligibility.refresh_from_db()
    assert eligibility.status == EligibilityStatus.REVOKED
    assert not eligibility_benefits_active(eligibility, on=timezone.localdate())
    (order,) = result.orders
    assert (order.status, order.fund, order.institution_id) == (
        RecoveryStatus.PENDING,
        settled.fund,
        settled.institution_id,
    )


def test_a_transfer_applies_the_new_regions_rules_from_the_transfer_date(eligibility, agency_user):
    """HB art. 50: 武汉 → 宜昌 within Hubei (the province's profile covers both): the day before
    the transfer the person's benefits are Wuhan's, from the transfer date Yichang's; the
    eligibility moves with the person, still in force."""
    Region.objects.create(
        code="420500", name="宜昌市", level=RegionLevel.CITY, parent=region("420000")
    )
    person = eligibility.patient
    today = timezone.localdate()

    eligibility_transfer_with_person(
        actor=agency_user, person_id=person.pk, to_region="420500", reason="工作调动"
    )

    person.refresh_from_db()
    assert enrolment_region_on(person, today - timedelta(days=1)).code == "420102"
    assert enrolment_region_on(person, today).code == "420500"
    eligibility.refresh_from_db()
    assert eligibility.status == EligibilityStatus.ACTIVE


# --- point 8: a person from the platform, benefits paused (the same rule in every profile) ------


def test_a_person_from_the_platform_with_paused_insurance_is_refused_at_application_and_prescribing(
    physician, physician_user, hospital, lung_drug, bound_pharmacy
):
    """national 1101, HB art. 2, CX art. 5: 钱进 is known only to the platform, insured but
    paused (暂停参保); fetched, the registry records 暂停 and both the application and a
    prescription for him are refused, nothing written."""
    hospital.platform_code = "H42010200001"  # known to the platform simulator
    hospital.save(update_fields=["platform_code"])
    region("420106")
    qian = PLATFORM_ONLY[1]
    person = insured_person_fetch(
        actor=physician_user, id_number=qian.id_number, name="钱进"
    ).person
    assert person.benefit_status == BenefitStatus.SUSPENDED

    def apply():
        eligibility_services.application_create(
            actor=physician_user,
            patient_id_number=person.id_number,
            drug_id=lung_drug.pk,
            diagnosis_code="C34.100x004",
            diagnosis_name="右肺上叶恶性肿瘤",
            pharmacy_id=bound_pharmacy.pk,
        )

    assert refused_code(apply) == "eligibility.benefits_not_in_force"
    assert not Application.objects.exists()
    assert refused_code(lambda: ordinary(physician_user, person)) == (
        "prescriptions.benefits_not_in_force"
    )
    assert not Prescription.objects.exists()
