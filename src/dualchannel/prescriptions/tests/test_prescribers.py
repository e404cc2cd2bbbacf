"""Who may prescribe [HB art. 6, 13–15, 42; AH annex 3(1); CX art. 20] and the benefit status at
prescribing [HB art. 2, CX art. 5]."""

from __future__ import annotations

from datetime import date

import pytest

from dualchannel.catalog.models import RegionalList, RegionalListEntry, RegionalListKind
from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import BenefitType, Prescription
from dualchannel.registry.models import (
    BenefitStatus,
    DesignationStatus,
    InsuredPerson,
    PolicyProfile,
    PrescriberRule,
)
from dualchannel.registry.services import physician_assess
from dualchannel.registry.tests.factories import DesignationFactory, PhysicianFactory

from .helpers import TODAY, USAGE, special

pytestmark = pytest.mark.django_db


def _insurance_physician(hospital, username="yibao", name="王医保"):
    """A 医保医师 of the hospital with no responsible-physician designation."""
    user = UserFactory(username=username, institution=hospital, roles=[Role.PHYSICIAN])
    physician = PhysicianFactory(user=user, hospital=hospital, name=name)
    return user, physician


def _ordinary(actor, patient, *, separately_paid=False, drug=None):
    drug = drug or DrugFactory(is_separately_paid=separately_paid)
    return services.prescription_issue(
        actor=actor,
        patient_id_number=patient.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[{"drug_id": drug.pk, "quantity": "28", "unit": "片", **USAGE, "days": 28}],
        today=TODAY,
    )


def _hubei() -> PolicyProfile:
    return PolicyProfile.objects.get(region_id="420000")


def test_hb_art14_42_any_insurance_physician_prescribes_ordinary_dual_channel_drugs(
    physician, zhang
):
    """HB art. 13–15, 42: a drug not separately paid needs only a 医保医师's prescription."""
    user, insurance_physician = _insurance_physician(physician.hospital)
    assert _hubei().prescriber_rule == PrescriberRule.INSURANCE_PHYSICIAN

    prescription = _ordinary(user, zhang)

    assert prescription.physician == insurance_physician
    assert AuditEvent.objects.filter(action="prescriptions.prescription_issued").count() == 1


def test_hb_art42_separately_paid_drug_needs_the_responsible_physician(eligibility, zhang):
    """HB art. 6, 42: a separately-paid (filed) drug is prescribed by the responsible physician;
    an ordinary 医保医师 is refused, nothing written."""
    user, _ = _insurance_physician(eligibility.hospital)

    with pytest.raises(DomainError) as refused:
        special(user, eligibility)

    assert refused.value.code == "prescriptions.not_designated"
    assert "责任医师" in refused.value.message
    assert not Prescription.objects.exists()


def test_hb_art42_separately_paid_drug_on_an_ordinary_form_is_refused_too(physician, zhang):
    """HB art. 42: a separately-paid drug never escapes the responsible physician by choosing
    another benefit type."""
    user, _ = _insurance_physician(physician.hospital)

    with pytest.raises(DomainError) as refused:
        _ordinary(user, zhang, separately_paid=True)

    assert refused.value.code == "prescriptions.not_designated"
    assert not Prescription.objects.exists()


def _on_wuhan_separately_paid_list(drug, *, valid_from=TODAY):
    """A separately-paid list of Wuhan (420100) naming ``drug`` from ``valid_from``."""
    listing = RegionalList.objects.create(
        region_id="420100",
        kind=RegionalListKind.SEPARATELY_PAID,
        title="武汉市单独支付药品",
        valid_from=valid_from,
        source_sha256="0" * 64,
        row_count=1,
    )
    RegionalListEntry.objects.create(regional_list=listing, drug=drug, valid_from=valid_from, row=2)


def test_hb_ch2_a_drug_on_the_regions_separately_paid_list_needs_the_responsible_physician(
    physician, zhang
):
    """HB ch. 2, art. 42: a drug the region lists as separately paid (单独支付) is separately paid
    at prescribing too, although the national catalogue does not flag it: an ordinary 医保医师 is
    refused, and even the responsible physician cannot prescribe it without an eligibility."""
    drug = DrugFactory(is_separately_paid=False)
    _on_wuhan_separately_paid_list(drug)
    user, _ = _insurance_physician(physician.hospital)

    with pytest.raises(DomainError) as refused:
        _ordinary(user, zhang, drug=drug)
    assert refused.value.code == "prescriptions.not_designated"
    assert "单独支付" in refused.value.message

    with pytest.raises(DomainError) as refused:
        _ordinary(physician.user, zhang, drug=drug)
    assert refused.value.code == "prescriptions.separately_paid_needs_eligibility"
    assert not Prescription.objects.exists()


def test_hb_ch2_the_separately_paid_list_counts_from_its_date_and_in_its_region(physician, zhang):
    """HB ch. 2: the list in force on the prescribing date and for the hospital's region decides;
    before the list takes effect the drug is an ordinary dual-channel drug."""
    drug = DrugFactory(is_separately_paid=False)
    _on_wuhan_separately_paid_list(drug, valid_from=date(2026, 4, 1))
    user, _ = _insurance_physician(physician.hospital)

    prescription = _ordinary(user, zhang, drug=drug)  # on TODAY, 2026-03-10

    assert prescription.items.get().drug == drug


def test_ah_annex3_cx_art20_where_the_profile_says_so_every_prescriber_is_responsible(
    physician, zhang
):
    """AH annex 3(1), CX art. 20: under a responsible-only profile the same 医保医师 is refused
    for an ordinary dual-channel drug (a region's rule is data)."""
    PolicyProfile.objects.filter(region_id="420000").update(
        prescriber_rule=PrescriberRule.RESPONSIBLE_ONLY
    )
    user, _ = _insurance_physician(physician.hospital)

    with pytest.raises(DomainError) as refused:
        _ordinary(user, zhang)

    assert refused.value.code == "prescriptions.not_designated"
    assert "须由责任医师开具" in refused.value.message
    assert not Prescription.objects.exists()
    # the responsible physician still prescribes it
    assert _ordinary(physician.user, zhang).physician == physician


def _colleague(hospital):
    """Another responsible physician of the same hospital, designated and in good standing."""
    user = UserFactory(username="colleague", institution=hospital, roles=[Role.PHYSICIAN])
    colleague = PhysicianFactory(user=user, hospital=hospital, name="陈同事")
    DesignationFactory(institution=None, physician=colleague, status=DesignationStatus.ACTIVE)
    return user


def test_hb_art6_three_fixed_binds_the_physician(eligibility):
    """HB art. 6: under three-fixed the bound responsible physician prescribes; a colleague of
    the same hospital is refused (the Hubei profile allows no team), nothing written."""
    assert eligibility.application.binding_mode == "three_fixed"
    assert _hubei().three_fixed_team_allowed is False
    user = _colleague(eligibility.hospital)

    with pytest.raises(DomainError) as refused:
        special(user, eligibility)

    assert refused.value.code == "prescriptions.bound_physician"
    assert "三定管理" in refused.value.message
    assert not Prescription.objects.exists()


def test_hb_art6_a_profile_that_allows_a_team_lets_the_colleague_prescribe(eligibility):
    """HB art. 6 with a pooling region's team rule: ``three_fixed_team_allowed`` lets another
    responsible physician of the bound hospital prescribe."""
    PolicyProfile.objects.filter(region_id="420000").update(three_fixed_team_allowed=True)
    user = _colleague(eligibility.hospital)

    prescription = special(user, eligibility)

    assert prescription.physician.name == "陈同事"
    assert prescription.eligibility == eligibility


def test_cx_art20_failed_annual_assessment_suspends_the_responsible_physician(
    eligibility, physician_user, reviewer_user, zhang
):
    """CX art. 20: a failed annual assessment suspends the responsible-physician standing: no
    special-drug prescription; as a 医保医师 they still prescribe ordinary drugs under HB; a
    passed assessment of a later year restores it."""
    physician = eligibility.physician
    physician_assess(actor=reviewer_user, physician=physician, year=2025, result="failed")

    with pytest.raises(DomainError) as refused:
        special(physician_user, eligibility)

    assert refused.value.code == "prescriptions.physician_suspended"
    assert "2025年度考核不合格" in refused.value.message
    assert not Prescription.objects.exists()
    assert _ordinary(physician_user, zhang).physician == physician  # HB art. 14

    physician_assess(actor=reviewer_user, physician=physician, year=2026, result="passed")
    assert special(physician_user, eligibility).eligibility == eligibility


@pytest.mark.parametrize("status", [BenefitStatus.SUSPENDED, BenefitStatus.TERMINATED])
def test_hb_art2_cx_art5_benefits_not_in_force_refused_at_prescribing(
    eligibility, physician_user, status
):
    """HB art. 2, CX art. 5: only a person 正常享受医保待遇 is prescribed for; the status is
    checked at prescribing, not only at settlement."""
    InsuredPerson.objects.filter(pk=eligibility.patient_id).update(benefit_status=status)

    with pytest.raises(DomainError) as refused:
        special(physician_user, eligibility)

    assert refused.value.code == "prescriptions.benefits_not_in_force"
    assert "待遇状态" in refused.value.message
    assert not Prescription.objects.exists()
