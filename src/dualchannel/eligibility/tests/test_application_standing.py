"""The application is the responsible physician's, in good standing [HB art. 7(3), 11; CX art.
20], for a person whose benefits are in force [HB art. 2, CX art. 5]."""

from __future__ import annotations

from datetime import date

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.eligibility import services
from dualchannel.eligibility.models import Application, Eligibility
from dualchannel.registry.models import BenefitStatus, InsuredPerson
from dualchannel.registry.services import physician_assess
from dualchannel.registry.tests.factories import PhysicianFactory

pytestmark = pytest.mark.django_db


def _create(actor, person, drug, pharmacy):
    return services.application_create(
        actor=actor,
        patient_id_number=person.id_number,
        drug_id=drug.pk,
        diagnosis_code="C34.100x004",
        diagnosis_name="右肺上叶恶性肿瘤",
        pharmacy_id=pharmacy.pk,
    )


def test_cx_art20_failed_assessment_suspends_the_right_to_apply(
    physician, physician_user, reviewer_user, zhang, lung_drug, bound_pharmacy
):
    """CX art. 20: while the latest annual assessment is failed, the physician cannot apply;
    a passed assessment of a later year restores the standing."""
    physician_assess(actor=reviewer_user, physician=physician, year=2025, result="failed")

    with pytest.raises(DomainError) as refused:
        _create(physician_user, zhang, lung_drug, bound_pharmacy)

    assert refused.value.code == "eligibility.physician_suspended"
    assert "2025年度考核不合格" in refused.value.message
    assert not Application.objects.exists()

    physician_assess(actor=reviewer_user, physician=physician, year=2026, result="passed")
    assert _create(physician_user, zhang, lung_drug, bound_pharmacy).physician == physician


def test_hb_art7_an_insurance_physician_who_is_not_responsible_cannot_apply(
    physician, hospital, zhang, lung_drug, bound_pharmacy
):
    """HB art. 7(3), 11: the eligibility is proposed by the responsible physician; a 医保医师
    without designation is refused."""
    user = UserFactory(username="yibao", institution=hospital, roles=[Role.PHYSICIAN])
    PhysicianFactory(user=user, hospital=hospital, name="王医保")

    with pytest.raises(DomainError) as refused:
        _create(user, zhang, lung_drug, bound_pharmacy)

    assert refused.value.code == "eligibility.physician_not_designated"
    assert not Application.objects.exists()


def test_hb_art2_cx_art5_benefits_not_in_force_refused_at_application(
    physician, physician_user, zhang, lung_drug, bound_pharmacy
):
    """HB art. 2, CX art. 5: a person whose benefits are suspended cannot be applied for."""
    InsuredPerson.objects.filter(pk=zhang.pk).update(benefit_status=BenefitStatus.SUSPENDED)

    with pytest.raises(DomainError) as refused:
        _create(physician_user, zhang, lung_drug, bound_pharmacy)

    assert refused.value.code == "eligibility.benefits_not_in_force"
    assert "暂停待遇" in refused.value.message
    assert not Application.objects.exists()


def test_hb_art2_cx_art5_benefits_suspended_before_approval_refused_at_approval(
    make_draft, zhang, physician_user, reviewer_user
):
    """HB art. 2, CX art. 5: benefits suspended while the case is under review: the reviewer's
    approval is refused and no eligibility is granted."""
    application = make_draft(zhang)
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    InsuredPerson.objects.filter(pk=zhang.pk).update(benefit_status=BenefitStatus.TERMINATED)

    with pytest.raises(DomainError) as refused:
        services.application_approve(
            actor=reviewer_user, application_id=application.pk, today=date(2026, 3, 4)
        )

    assert refused.value.code == "eligibility.benefits_not_in_force"
    assert "终止参保" in refused.value.message
    assert not Eligibility.objects.exists()
    application.refresh_from_db()
    assert application.status != "approved"
