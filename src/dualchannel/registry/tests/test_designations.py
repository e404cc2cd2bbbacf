from datetime import date

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.registry.models import (
    INSTITUTION_MACHINE,
    PHYSICIAN_MACHINE,
    Designation,
    DesignationStatus,
    DesignationTransition,
    ExitReason,
    InstitutionKind,
)
from dualchannel.registry.services import designation_apply, designation_transition
from dualchannel.registry.tests.factories import (
    DesignationFactory,
    InstitutionFactory,
    PhysicianFactory,
    designate,
    qualified_pharmacy,
)

S = DesignationStatus
TODAY = date(2026, 3, 2)


def _walk_to_active(officer, institution):
    d = designation_apply(actor=officer, institution=institution, today=TODAY)
    for to, extra in [
        (S.EVALUATED, {}),
        (S.PUBLICISED, {}),
        (S.AGREEMENT_SIGNED, {"agreement_no": "WH-SC-2026-001"}),
        (S.ACTIVE, {}),
    ]:
        d = designation_transition(
            actor=officer, designation=d, to_status=to, reason="", today=TODAY, **extra
        )
    return d


def test_pharmacy_lifecycle_happy_path_writes_history_and_audit(profiles, agency_user):
    # given
    pharmacy = qualified_pharmacy(region_code="420102")

    # when
    d = _walk_to_active(agency_user, pharmacy)
    d = designation_transition(
        actor=agency_user, designation=d, to_status=S.SUSPENDED, reason="整改", today=TODAY
    )
    d = designation_transition(
        actor=agency_user, designation=d, to_status=S.ACTIVE, reason="整改完成", today=TODAY
    )

    # then
    assert d.status == S.ACTIVE and d.effective_from == TODAY
    assert d.agreement_no == "WH-SC-2026-001"
    steps = list(d.history.values_list("from_status", "to_status"))
    assert steps == [
        ("", S.APPLIED),
        (S.APPLIED, S.EVALUATED),
        (S.EVALUATED, S.PUBLICISED),
        (S.PUBLICISED, S.AGREEMENT_SIGNED),
        (S.AGREEMENT_SIGNED, S.ACTIVE),
        (S.ACTIVE, S.SUSPENDED),
        (S.SUSPENDED, S.ACTIVE),
    ]
    events = AuditEvent.objects.filter(subject_id=str(d.pk), subject_type="registry.Designation")
    assert [e.summary["to"] for e in events.order_by("seq")] == [s for _, s in steps]


def test_hb_art21_exit_sets_two_year_ban(profiles, agency_user):
    # given
    d = _walk_to_active(agency_user, qualified_pharmacy(region_code="420102"))

    # when
    d = designation_transition(
        actor=agency_user,
        designation=d,
        to_status=S.EXITED,
        reason="超支付标准售药",
        exit_reason=ExitReason.OVERPRICED,
        today=TODAY,
    )

    # then
    assert d.exited_on == TODAY and d.ban_until == date(2028, 3, 2)
    assert d.exit_reason == ExitReason.OVERPRICED
    event = AuditEvent.objects.filter(action="registry.designation_transition").last()
    assert event.summary == {
        "from": "active",
        "to": "exited",
        "exit_reason": "overpriced",
        "ban_until": "2028-03-02",
    }


def test_hb_art21_reapply_before_ban_end_refused_after_allowed(profiles, agency_user):
    # given: exited on 2026-03-02, banned until 2028-03-02
    pharmacy = qualified_pharmacy(region_code="420102")
    d = _walk_to_active(agency_user, pharmacy)
    designation_transition(
        actor=agency_user,
        designation=d,
        to_status=S.EXITED,
        reason="违规",
        exit_reason=ExitReason.FUND_LOSS,
        today=TODAY,
    )

    # when / then: the day before the ban ends
    with pytest.raises(DomainError) as exc:
        designation_apply(actor=agency_user, institution=pharmacy, today=date(2028, 3, 1))
    assert exc.value.code == "registry.designation_banned"
    assert "2028年03月02日" in exc.value.message
    assert Designation.objects.filter(institution=pharmacy).count() == 1

    # on the day it ends
    again = designation_apply(actor=agency_user, institution=pharmacy, today=date(2028, 3, 2))
    assert again.status == S.APPLIED


def test_exit_without_ban_in_a_profile_without_one(profiles, agency_user, admin_user):
    # given: Chuxiong sets no ban (CX has none)
    pharmacy = qualified_pharmacy(region_code="532301")
    d = _walk_to_active(admin_user, pharmacy)

    # when
    d = designation_transition(
        actor=admin_user,
        designation=d,
        to_status=S.EXITED,
        reason="主动退出",
        exit_reason=ExitReason.VOLUNTARY,
        today=TODAY,
    )

    # then
    assert d.ban_until is None
    assert designation_apply(actor=admin_user, institution=pharmacy, today=TODAY)


def test_exit_requires_exit_reason_and_changes_nothing(profiles, agency_user):
    d = _walk_to_active(agency_user, qualified_pharmacy(region_code="420102"))
    with pytest.raises(DomainError) as exc:
        designation_transition(
            actor=agency_user, designation=d, to_status=S.EXITED, reason="违规", today=TODAY
        )
    assert exc.value.code == "registry.exit_reason_required"
    d.refresh_from_db()
    assert d.status == S.ACTIVE and d.exited_on is None
    assert d.history.count() == 5


def test_agreement_requires_number(profiles, agency_user):
    d = designation_apply(
        actor=agency_user, institution=qualified_pharmacy(region_code="420102"), today=TODAY
    )
    d = designation_transition(actor=agency_user, designation=d, to_status=S.EVALUATED)
    d = designation_transition(actor=agency_user, designation=d, to_status=S.PUBLICISED)
    with pytest.raises(DomainError) as exc:
        designation_transition(actor=agency_user, designation=d, to_status=S.AGREEMENT_SIGNED)
    assert exc.value.code == "registry.agreement_no_required"


def test_apply_refused_while_a_round_is_open(profiles, agency_user, pharmacy):
    designation_apply(actor=agency_user, institution=pharmacy)
    with pytest.raises(DomainError) as exc:
        designation_apply(actor=agency_user, institution=pharmacy)
    assert exc.value.code == "registry.designation_open"
    assert Designation.objects.filter(institution=pharmacy).count() == 1


def test_pharmacist_applies_for_own_pharmacy_but_not_others(
    profiles, pharmacist_user, pharmacy, other_pharmacy
):
    d = designation_apply(actor=pharmacist_user, institution=pharmacy)
    assert d.history.get().actor == pharmacist_user
    with pytest.raises(DomainError) as exc:
        designation_apply(actor=pharmacist_user, institution=other_pharmacy)
    assert exc.value.status == 404


def test_agency_cannot_be_designated(profiles, agency_user, agency):
    with pytest.raises(DomainError) as exc:
        designation_apply(actor=agency_user, institution=agency)
    assert exc.value.code == "registry.not_designatable"


def _illegal(machine):
    """Every (from, to) pair the machine does not allow, exited and rejected included."""
    return [(src, dst) for src in S.values for dst in S.values if not machine.can(src, dst)]


@pytest.mark.parametrize("src, dst", _illegal(INSTITUTION_MACHINE))
def test_illegal_institution_transition_is_refused_and_nothing_changes(
    profiles, agency_user, src, dst
):
    # given
    d = DesignationFactory(institution=qualified_pharmacy(region_code="420102"), status=src)
    events = AuditEvent.objects.count()

    # when
    with pytest.raises(DomainError) as exc:
        designation_transition(
            actor=agency_user,
            designation=d,
            to_status=dst,
            reason="测试",
            exit_reason=ExitReason.OTHER if dst == S.EXITED else None,
            agreement_no="X-1",
        )

    # then
    assert exc.value.code == "registry.illegal_transition"
    d.refresh_from_db()
    assert d.status == src
    assert not DesignationTransition.objects.filter(designation=d).exists()
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("src, dst", _illegal(PHYSICIAN_MACHINE))
def test_illegal_physician_transition_is_refused_and_nothing_changes(
    profiles, agency_user, hospital, src, dst
):
    d = Designation.objects.create(physician=PhysicianFactory(hospital=hospital), status=src)
    with pytest.raises(DomainError) as exc:
        designation_transition(
            actor=agency_user,
            designation=d,
            to_status=dst,
            reason="测试",
            exit_reason=ExitReason.OTHER if dst == S.EXITED else None,
        )
    assert exc.value.code == "registry.illegal_transition"
    d.refresh_from_db()
    assert d.status == src
    assert not d.history.exists()


def test_hb_art18_hospital_evaluation_needs_level2_and_pathology_or_gene(profiles, agency_user):
    # given: a level-1 hospital without pathology or gene testing
    hospital = InstitutionFactory(region_code="420102", hospital_level=1)
    d = designation_apply(actor=agency_user, institution=hospital)

    # when
    with pytest.raises(DomainError) as exc:
        designation_transition(actor=agency_user, designation=d, to_status=S.EVALUATED)

    # then: refused with the list of what is missing, nothing changed
    assert exc.value.code == "registry.conditions_not_met"
    conditions = exc.value.fields["conditions"]
    assert len(conditions) == 2
    assert "二级" in conditions[0] and "病理或基因" in conditions[1]
    d.refresh_from_db()
    assert d.status == S.APPLIED and d.history.count() == 1

    # and once fixed, evaluation passes
    hospital.hospital_level = 2
    hospital.has_gene_testing = True
    hospital.save()
    assert designation_transition(actor=agency_user, designation=d, to_status=S.EVALUATED)


def test_hb_art19_pharmacy_needs_biologics_licence_and_cold_chain(profiles, agency_user):
    pharmacy = qualified_pharmacy(
        region_code="420102", has_biologics_licence=False, has_cold_chain=False
    )
    d = designation_apply(actor=agency_user, institution=pharmacy)
    with pytest.raises(DomainError) as exc:
        designation_transition(actor=agency_user, designation=d, to_status=S.EVALUATED)
    assert exc.value.code == "registry.conditions_not_met"
    text = " ".join(exc.value.fields["conditions"])
    assert "生物制品" in text and "冷链" in text


def test_cx_art14_pharmacy_needs_traceability(profiles, admin_user):
    pharmacy = qualified_pharmacy(region_code="532301", traceability_enabled=False)
    d = designation_apply(actor=admin_user, institution=pharmacy)
    with pytest.raises(DomainError) as exc:
        designation_transition(actor=admin_user, designation=d, to_status=S.EVALUATED)
    assert exc.value.fields["conditions"] == ["须实现药品追溯码扫码及进销存实时上传"]


def test_hb_art19_3_recent_suspension_blocks_evaluation(profiles, agency_user):
    # given: a pharmacy suspended this year whose round was then closed
    pharmacy = qualified_pharmacy(region_code="420102")
    d = _walk_to_active(agency_user, pharmacy)
    designation_transition(
        actor=agency_user, designation=d, to_status=S.SUSPENDED, reason="整改", today=TODAY
    )
    Designation.objects.filter(pk=d.pk).update(status=S.REJECTED)  # closed round (setup)
    again = designation_apply(actor=agency_user, institution=pharmacy, today=TODAY)

    with pytest.raises(DomainError) as exc:
        designation_transition(
            actor=agency_user, designation=again, to_status=S.EVALUATED, today=TODAY
        )
    assert "暂停" in exc.value.fields["conditions"][0]


def test_outsider_officer_cannot_transition(profiles, outsider_agency, pharmacy):
    d = designate(pharmacy, S.APPLIED)
    with pytest.raises(DomainError) as exc:
        designation_transition(actor=outsider_agency, designation=d, to_status=S.REJECTED)
    assert exc.value.status == 404
    d.refresh_from_db()
    assert d.status == S.APPLIED


def test_pharmacist_cannot_transition(profiles, pharmacist_user, pharmacy):
    d = designate(pharmacy, S.APPLIED)
    with pytest.raises(DomainError) as exc:
        designation_transition(actor=pharmacist_user, designation=d, to_status=S.REJECTED)
    assert exc.value.status == 403


def test_reject_needs_a_reason(profiles, agency_user, pharmacy):
    d = designate(pharmacy, S.APPLIED)
    with pytest.raises(DomainError) as exc:
        designation_transition(actor=agency_user, designation=d, to_status=S.REJECTED)
    assert exc.value.fields.keys() == {"reason"}
    assert pharmacy.kind == InstitutionKind.PHARMACY
