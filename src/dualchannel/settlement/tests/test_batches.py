"""Monthly batches: gathered per budget line, reconciled 3201/3202 with the platform simulator,
applied by the institution and reviewed by its agency [HB art. 32–37, AH §2(6), CX art. 18]."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.jobs import run_once
from dualchannel.core.models import AuditEvent, Job
from dualchannel.integration.models import PlatformCall
from dualchannel.registry.profiles import profile_for
from dualchannel.settlement import services
from dualchannel.settlement.models import (
    BatchStatus,
    BudgetLine,
    Settlement,
    SettlementBatch,
    SettlementBatchTransition,
    SettlementKind,
    SettlementStatus,
    UploadStatus,
)
from dualchannel.settlement.services import batches
from dualchannel.simulators.models import SimSettlement
from dualchannel.simulators.platform import simulator_fail_next

pytestmark = pytest.mark.django_db
D = Decimal
PLATFORM_CODE = "P42010200001"


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def separate_line(bound_pharmacy, benefit_rules):  # benefit_rules loads the profiles
    """Pharmacy fund spending on its own line (as AH §2(6), CX art. 18; Hubei leaves it off)."""
    profile = profile_for(bound_pharmacy.region)
    profile.pharmacy_spend_outside_hospital_budget = True
    profile.save(update_fields=["pharmacy_spend_outside_hospital_budget"])
    return profile


@pytest.fixture
def connected(bound_pharmacy):
    bound_pharmacy.platform_code = PLATFORM_CODE
    bound_pharmacy.save(update_fields=["platform_code"])
    return bound_pharmacy


def settle(actor, dispensing, key) -> Settlement:
    return services.settlement_settle(
        actor=actor, prescription_id=dispensing.prescription_id, idempotency_key=key
    )


def upload(now=None) -> None:
    """Run the worker until no job is due (other apps' jobs come first in the queue)."""
    for _ in range(50):
        if not run_once("w1", now=now):
            return
    raise AssertionError("the worker never ran dry")


def state():
    """Everything a batch service may write: batches, links, history, audit events."""
    return (
        sorted(
            SettlementBatch.objects.values_list(
                "pk",
                "status",
                "settlement_count",
                "total",
                "fund",
                "reconciled_at",
                "reconciliation_matched",
                "applied_by",
                "reviewed_by",
                "review_note",
            )
        ),
        sorted(SettlementBatch.objects.values_list("pk", "mismatches")),
        sorted(Settlement.objects.values_list("pk", "batch_id")),
        SettlementBatchTransition.objects.count(),
        AuditEvent.objects.filter(action__startswith="settlement.batch").count(),
    )


def history(batch) -> list[tuple[str, str]]:
    return list(batch.history.order_by("at", "id").values_list("from_status", "to_status"))


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def calls(infno: str) -> list[PlatformCall]:
    return list(PlatformCall.objects.filter(infno=infno).order_by("pk"))


def sent(call: PlatformCall) -> dict:
    """The ``data`` a call sent (the plain input when the transport encrypts it)."""
    return (call.request.get("_plain_input") or call.request["input"])["data"]


@pytest.fixture
def two_settled(separate_line, connected, dispensed, chronic_dispensed, pharmacist_user):
    """张伟's special drug (2,000.00) and chronic-disease drug (1,000.00), settled and uploaded."""
    special = settle(pharmacist_user, dispensed, "s-1")
    chronic = settle(pharmacist_user, chronic_dispensed, "s-2")
    upload()
    for s in (special, chronic):
        s.refresh_from_db()
        assert s.upload_status == UploadStatus.ACCEPTED and s.setl_id
    return special, chronic


def prepare(actor, settlement, **kwargs) -> SettlementBatch:
    return batches.batch_prepare(
        actor=actor, institution_id=settlement.institution_id, month=settlement.settled_on, **kwargs
    )


def applied(pharmacist_user, settlement) -> SettlementBatch:
    batch = prepare(pharmacist_user, settlement)
    services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)
    return batches.batch_apply(actor=pharmacist_user, batch_id=batch.pk)


# --- prepare -----------------------------------------------------------------------------------


def test_prepare_gathers_the_months_settlements_on_their_line_with_exact_totals(
    two_settled, pharmacist_user
):
    special, chronic = two_settled

    batch = prepare(pharmacist_user, special)

    assert batch.status == BatchStatus.DRAFT
    assert batch.month == special.settled_on.replace(day=1)
    assert batch.budget_line == BudgetLine.PHARMACY_SEPARATE
    assert (batch.settlement_count, batch.total, batch.fund, batch.personal) == (
        2,
        D("3000.00"),
        D("1820.00"),  # 1,500.00 + 320.00
        D("1180.00"),  # 500.00 + 680.00
    )
    for name in ("critical_illness", "assistance", "commercial"):
        assert getattr(batch, name) == getattr(special, name) + getattr(chronic, name)
    assert batch.total == batch.fund + batch.critical_illness + batch.assistance + (
        batch.commercial + batch.personal
    )
    assert set(Settlement.objects.values_list("batch_id", flat=True)) == {batch.pk}
    assert history(batch) == [("", "draft")]
    (event,) = events("settlement.batch_prepared")
    assert event.summary["count"] == 2 and event.summary["fund"] == "1820.00"
    assert event.summary["budget_line"] == BudgetLine.PHARMACY_SEPARATE


def test_a_reversed_settlement_is_left_out_and_a_new_preparation_takes_it_out(
    two_settled, pharmacist_user
):
    special, chronic = two_settled
    first = prepare(pharmacist_user, special)
    services.settlement_reverse(
        actor=pharmacist_user, settlement_id=chronic.pk, reason="患者退药", idempotency_key="r-1"
    )

    again = prepare(pharmacist_user, special)

    assert again.pk == first.pk
    assert (again.settlement_count, again.total, again.fund) == (1, D("2000.00"), D("1500.00"))
    chronic.refresh_from_db()
    assert chronic.status == SettlementStatus.REVERSED and chronic.batch_id is None
    assert Settlement.objects.get(pk=special.pk).batch_id == again.pk
    assert history(again) == [("", "draft")]  # a recomputation is no move
    prepared = events("settlement.batch_prepared")
    assert [e.summary["count"] for e in prepared] == [2, 1]
    assert prepared[1].summary["unlinked"] == 1


def test_a_settlement_already_in_another_batch_is_not_taken_twice(two_settled, pharmacist_user):
    special, chronic = two_settled
    other = SettlementBatch.objects.create(
        institution_id=special.institution_id,
        month=special.settled_on.replace(day=1) - timedelta(days=31),
        budget_line=BudgetLine.PHARMACY_SEPARATE,
    )
    Settlement.objects.filter(pk=chronic.pk).update(batch=other)

    batch = prepare(pharmacist_user, special)

    assert batch.settlement_count == 1 and batch.total == D("2000.00")
    assert Settlement.objects.get(pk=chronic.pk).batch_id == other.pk


def test_an_applied_batch_is_frozen_and_a_future_month_is_refused(two_settled, pharmacist_user):
    special, _ = two_settled
    batch = applied(pharmacist_user, special)
    before = state()

    with pytest.raises(Conflict) as frozen:
        prepare(pharmacist_user, special)
    with pytest.raises(Conflict) as frozen_reconcile:
        services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)
    with pytest.raises(DomainError) as future:
        batches.batch_prepare(
            actor=pharmacist_user,
            institution_id=special.institution_id,
            month=special.settled_on.replace(day=1) + timedelta(days=40),
        )

    assert frozen.value.code == frozen_reconcile.value.code == "settlement.batch_frozen"
    assert future.value.code == "settlement.invalid_month"
    assert state() == before


def test_a_month_on_two_budget_lines_is_prepared_and_reconciled_per_line(
    connected, dispensed, chronic_dispensed, pharmacist_user
):
    # given the Hubei default (pharmacy spending in the global budget), then the profile changes
    special = settle(pharmacist_user, dispensed, "s-1")
    profile = profile_for(connected.region)
    profile.pharmacy_spend_outside_hospital_budget = True
    profile.save(update_fields=["pharmacy_spend_outside_hospital_budget"])
    chronic = settle(pharmacist_user, chronic_dispensed, "s-2")
    upload()
    assert (special.budget_line, chronic.budget_line) == (
        BudgetLine.HOSPITAL_GLOBAL,
        BudgetLine.PHARMACY_SEPARATE,
    )
    before = state()

    with pytest.raises(DomainError) as refused:
        prepare(pharmacist_user, special)
    assert refused.value.code == "settlement.budget_line_required"
    assert state() == before

    global_ = prepare(pharmacist_user, special, budget_line=BudgetLine.HOSPITAL_GLOBAL)
    separate = prepare(pharmacist_user, special, budget_line=BudgetLine.PHARMACY_SEPARATE)
    global_ = services.batch_reconcile(actor=pharmacist_user, batch_id=global_.pk)
    separate = services.batch_reconcile(actor=pharmacist_user, batch_id=separate.pk)

    assert (global_.settlement_count, global_.fund) == (1, special.fund)
    assert (separate.settlement_count, separate.fund) == (1, chronic.fund)
    # the platform reconciles the pharmacy's month as one scope: both lines together match
    assert global_.reconciliation_matched and separate.reconciliation_matched
    assert len(calls("3201")) == 2 and not calls("3202")


# --- reconcile ---------------------------------------------------------------------------------


def test_a_batch_whose_settlements_the_platform_holds_reconciles_matched(
    two_settled, pharmacist_user
):
    special, _ = two_settled
    batch = prepare(pharmacist_user, special)

    reconciled = services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)

    assert reconciled.reconciliation_matched is True and reconciled.mismatches == []
    assert reconciled.reconciled_at is not None
    (call,) = calls("3201")
    data = sent(call)
    assert (data["insutype"], data["clr_type"], data["fixmedins_setl_cnt"]) == ("310", "41", "2")
    # all funds together (basic fund + critical illness + assistance + commercial)
    assert data["medfee_sumamt"] == "3000.00" and data["fund_pay_sumamt"] == "1820.00"
    assert not calls("3202")
    (event,) = events("settlement.batch_reconciled")
    assert event.summary["matched"] is True and event.summary["mismatches"] == 0
    assert history(reconciled) == [("", "draft")]


def test_a_tampered_platform_amount_is_listed_as_a_mismatch(two_settled, pharmacist_user):
    special, chronic = two_settled
    SimSettlement.objects.filter(setl_id=chronic.setl_id).update(
        medfee_sumamt=D("999.00"), psn_cash_pay=D("679.00")
    )
    batch = prepare(pharmacist_user, special)

    reconciled = services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)

    assert reconciled.reconciliation_matched is False
    (mismatch,) = reconciled.mismatches
    assert (mismatch["setl_id"], mismatch["fixmedins_setl_id"], mismatch["reason"]) == (
        chronic.setl_id,
        chronic.settlement_no,
        "amount_differs",
    )
    assert mismatch["ours"]["medfee_sumamt"] == "1000.00"
    assert mismatch["platform"]["medfee_sumamt"] == "999.00"
    assert mismatch["insutype"] == "310"
    assert len(calls("3201")) == 1 and len(calls("3202")) == 1
    (event,) = events("settlement.batch_reconciled")
    assert event.summary["matched"] is False and event.summary["mismatches"] == 1


def test_a_settlement_only_the_platform_holds_is_listed_as_missing_here(
    two_settled, pharmacist_user
):
    special, _ = two_settled
    extra = SimSettlement.objects.get(setl_id=special.setl_id)
    extra.pk = None
    extra.setl_id, extra.fixmedins_setl_id = "X" * 20, "JSUNKNOWN"
    extra.save()
    batch = prepare(pharmacist_user, special)

    reconciled = services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)

    (mismatch,) = reconciled.mismatches
    assert (mismatch["setl_id"], mismatch["fixmedins_setl_id"], mismatch["reason"]) == (
        "X" * 20,
        "JSUNKNOWN",
        "institution_missing",
    )
    assert mismatch["ours"] is None and mismatch["platform"]["medfee_sumamt"] == "2000.00"


def test_a_settlement_whose_upload_failed_is_a_mismatch_we_list(
    separate_line, connected, dispensed, chronic_dispensed, pharmacist_user
):
    special = settle(pharmacist_user, dispensed, "s-1")
    chronic = settle(pharmacist_user, chronic_dispensed, "s-2")
    simulator_fail_next(1, mode="timeout", infno="2102")
    upload()
    failed = Settlement.objects.get(upload_status=UploadStatus.FAILED)
    assert not failed.setl_id and failed.pk in {special.pk, chronic.pk}
    batch = prepare(pharmacist_user, special)

    reconciled = services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)

    assert reconciled.reconciliation_matched is False
    (mismatch,) = reconciled.mismatches
    assert (mismatch["setl_id"], mismatch["fixmedins_setl_id"], mismatch["reason"]) == (
        "",
        failed.settlement_no,
        "not_uploaded",
    )
    assert mismatch["ours"]["medfee_sumamt"] == str(failed.total)
    assert mismatch["platform"] is None
    # the never-uploaded settlement is not sent in 3202: only the other one is listed
    (detail_call,) = calls("3202")
    assert [d["fixmedins_setl_id"] for d in sent(detail_call)["details"]] == [
        s.settlement_no for s in (special, chronic) if s.pk != failed.pk
    ]


def test_a_platform_reversal_not_made_yet_is_named(two_settled, pharmacist_user):
    special, chronic = two_settled
    services.settlement_reverse(
        actor=pharmacist_user, settlement_id=chronic.pk, reason="患者退药", idempotency_key="r-1"
    )  # the 2103 upload is queued but the worker has not run
    batch = prepare(pharmacist_user, special)

    reconciled = services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)

    assert batch.settlement_count == 1
    (mismatch,) = reconciled.mismatches
    assert (mismatch["setl_id"], mismatch["reason"]) == (chronic.setl_id, "refd_setl_flag_differs")
    assert mismatch["ours"]["refd_setl_flag"] == "1"
    assert mismatch["platform"]["refd_setl_flag"] == "0"

    upload()  # the reversal reaches the platform
    again = services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)
    assert again.reconciliation_matched is True and again.mismatches == []


def test_employee_and_resident_settlements_are_reconciled_per_insurance_type(
    separate_line, connected, dispensed, chronic_dispensed, pharmacist_user
):
    special = settle(pharmacist_user, dispensed, "s-1")
    upload()
    person = special.person
    person.insurance_type = "390"  # 张伟 moves to the residents' scheme
    person.save(update_fields=["insurance_type"])
    chronic = settle(pharmacist_user, chronic_dispensed, "s-2")
    upload()
    assert (special.insurance_type, chronic.insurance_type) == ("310", "390")
    batch = prepare(pharmacist_user, special)

    reconciled = services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)

    assert reconciled.reconciliation_matched is True
    data = [sent(c) for c in calls("3201")]
    assert sorted((d["insutype"], d["medfee_sumamt"], d["fixmedins_setl_cnt"]) for d in data) == [
        ("310", str(special.total), "1"),
        ("390", str(chronic.total), "1"),
    ]
    (event,) = events("settlement.batch_reconciled")
    assert len(event.summary["scopes"]) == 2


def test_an_institution_without_a_platform_code_cannot_reconcile(
    separate_line, dispensed, pharmacist_user
):
    special = settle(pharmacist_user, dispensed, "s-1")
    upload()
    batch = prepare(pharmacist_user, special)
    before = state()

    with pytest.raises(DomainError) as refused:
        services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)

    assert refused.value.code == "settlement.not_connected"
    assert state() == before and not calls("3201")


# --- apply -------------------------------------------------------------------------------------


def test_apply_is_refused_until_the_batch_is_reconciled_and_matched(
    separate_line, connected, dispensed, chronic_dispensed, pharmacist_user
):
    special = settle(pharmacist_user, dispensed, "s-1")
    settle(pharmacist_user, chronic_dispensed, "s-2")
    simulator_fail_next(1, mode="timeout", infno="2102")
    upload()
    batch = prepare(pharmacist_user, special)

    before = state()
    with pytest.raises(Conflict) as not_reconciled:
        batches.batch_apply(actor=pharmacist_user, batch_id=batch.pk)
    assert not_reconciled.value.code == "settlement.batch_not_reconciled"
    assert state() == before

    services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)
    before = state()
    with pytest.raises(Conflict) as mismatched:
        batches.batch_apply(actor=pharmacist_user, batch_id=batch.pk)
    with pytest.raises(DomainError) as no_note:
        batches.batch_apply(
            actor=pharmacist_user, batch_id=batch.pk, acknowledge_mismatches=True, note=" "
        )
    assert mismatched.value.code == "settlement.batch_mismatched"
    assert no_note.value.code == "settlement.note_required"
    assert state() == before

    # when the retry uploads it, the batch reconciles matched and is applied
    retry = Job.objects.get(kind="settlement.upload", status="retry")
    upload(now=retry.run_after + timedelta(seconds=1))
    services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)
    result = batches.batch_apply(actor=pharmacist_user, batch_id=batch.pk)

    assert result.status == BatchStatus.APPLIED
    assert result.applied_by == pharmacist_user and result.applied_at is not None
    assert history(result) == [("", "draft"), ("draft", "applied")]
    (event,) = events("settlement.batch_applied")
    assert event.summary["matched"] is True and event.summary["to"] == "applied"


def test_mismatches_acknowledged_with_a_note_may_be_applied(two_settled, pharmacist_user):
    special, chronic = two_settled
    SimSettlement.objects.filter(setl_id=chronic.setl_id).update(medfee_sumamt=D("999.00"))
    batch = prepare(pharmacist_user, special)
    services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)

    result = batches.batch_apply(
        actor=pharmacist_user,
        batch_id=batch.pk,
        acknowledge_mismatches=True,
        note="平台金额录入有误，已致电经办机构核实",
    )

    assert result.status == BatchStatus.APPLIED
    transition = result.history.get(to_status="applied")
    assert transition.reason == "平台金额录入有误，已致电经办机构核实"
    (event,) = events("settlement.batch_applied")
    assert event.summary["acknowledged_mismatches"] == 1 and event.summary["matched"] is False


def test_a_settlement_made_after_the_preparation_makes_the_batch_stale(
    separate_line, connected, dispensed, chronic_dispensed, pharmacist_user
):
    special = settle(pharmacist_user, dispensed, "s-1")
    upload()
    batch = prepare(pharmacist_user, special)
    services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)
    settle(pharmacist_user, chronic_dispensed, "s-2")
    upload()
    before = state()

    with pytest.raises(Conflict) as refused:
        batches.batch_apply(actor=pharmacist_user, batch_id=batch.pk)

    assert refused.value.code == "settlement.batch_stale"
    assert state() == before


# --- review ------------------------------------------------------------------------------------


def test_the_agency_officer_approves_an_applied_batch(two_settled, pharmacist_user, agency_user):
    special, _ = two_settled
    batch = applied(pharmacist_user, special)

    result = batches.batch_review(actor=agency_user, batch_id=batch.pk, approve=True, note="")

    assert result.status == BatchStatus.APPROVED
    assert result.reviewed_by == agency_user and result.reviewed_at is not None
    assert history(result) == [("", "draft"), ("draft", "applied"), ("applied", "approved")]
    (event,) = events("settlement.batch_approved")
    assert event.actor == agency_user and event.summary["from"] == "applied"
    assert event.actor_role == "agency_officer"


def test_a_rejection_needs_a_reason_and_the_institution_applies_again(
    two_settled, pharmacist_user, agency_user
):
    special, _ = two_settled
    batch = applied(pharmacist_user, special)
    before = state()

    with pytest.raises(DomainError) as no_reason:
        batches.batch_review(actor=agency_user, batch_id=batch.pk, approve=False, note="  ")
    assert no_reason.value.code == "settlement.reason_required"
    assert state() == before

    rejected = batches.batch_review(
        actor=agency_user, batch_id=batch.pk, approve=False, note="请补充冲销说明"
    )
    assert rejected.status == BatchStatus.REJECTED and rejected.review_note == "请补充冲销说明"
    assert rejected.history.get(to_status="rejected").reason == "请补充冲销说明"

    # a rejected batch is recomputed (it stays rejected), reconciled and applied again
    again = prepare(pharmacist_user, special)
    assert again.status == BatchStatus.REJECTED and again.reconciled_at is None
    services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)
    result = batches.batch_apply(actor=pharmacist_user, batch_id=batch.pk)

    assert result.status == BatchStatus.APPLIED
    assert history(result) == [
        ("", "draft"),
        ("draft", "applied"),
        ("applied", "rejected"),
        ("rejected", "applied"),
    ]
    assert len(events("settlement.batch_applied")) == 2
    assert len(events("settlement.batch_rejected")) == 1


def test_a_draft_is_not_reviewed_and_an_approved_batch_not_applied(
    two_settled, pharmacist_user, agency_user
):
    special, _ = two_settled
    batch = prepare(pharmacist_user, special)
    before = state()

    with pytest.raises(Conflict) as draft:
        batches.batch_review(actor=agency_user, batch_id=batch.pk, approve=True)
    assert draft.value.code == "settlement.batch_transition"
    assert state() == before

    services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)
    batches.batch_apply(actor=pharmacist_user, batch_id=batch.pk)
    batches.batch_review(actor=agency_user, batch_id=batch.pk, approve=True)
    before = state()
    with pytest.raises(Conflict) as approved:
        batches.batch_apply(actor=pharmacist_user, batch_id=batch.pk)
    assert approved.value.code == "settlement.batch_transition"
    assert state() == before


# --- scope -------------------------------------------------------------------------------------


def test_an_officer_of_another_region_gets_not_found(
    two_settled, pharmacist_user, outsider_agency, pharmacist
):
    special, _ = two_settled
    batch = applied(pharmacist_user, special)
    before = state()

    with pytest.raises(NotFound):
        batches.batch_review(actor=outsider_agency, batch_id=batch.pk, approve=True)
    with pytest.raises(NotFound):
        batches.batch_review(actor=outsider_agency, batch_id=batch.pk + 999, approve=True)
    with pytest.raises(NotFound):
        batches.budget_report(actor=outsider_agency, region_code="420100", month=special.settled_on)
    with pytest.raises(PermissionDenied):  # the institution cannot approve its own batch
        batches.batch_review(actor=pharmacist_user, batch_id=batch.pk, approve=True)

    assert state() == before


def test_a_pharmacist_of_another_pharmacy_gets_not_found(
    two_settled, pharmacist_user, outsider_pharmacist, reviewer_user
):
    special, _ = two_settled
    batch = prepare(pharmacist_user, special)
    before = state()

    for actor in (outsider_pharmacist, reviewer_user):  # a hospital's reviewer neither
        with pytest.raises(NotFound):
            prepare(actor, special)
        with pytest.raises(NotFound):
            services.batch_reconcile(actor=actor, batch_id=batch.pk)
        with pytest.raises(NotFound):
            batches.batch_apply(actor=actor, batch_id=batch.pk)

    assert state() == before and not calls("3201")


# --- budget lines ------------------------------------------------------------------------------


def _copy(settlement: Settlement, **changes) -> Settlement:
    """A settlement row like ``settlement`` at another institution (setup only)."""
    settlement = Settlement.objects.get(pk=settlement.pk)
    settlement.pk = None
    settlement._state.adding = True
    settlement.dispensing = None
    settlement.batch = None
    settlement.idempotency_key = f"copy-{changes['institution'].pk}-{changes.get('status', '')}"
    settlement.settlement_no = f"JSCOPY{changes['institution'].pk}{changes.get('status', '')}"
    for name, value in changes.items():
        setattr(settlement, name, value)
    settlement.save()
    return settlement


def test_the_budget_report_splits_pharmacy_spending_from_the_hospitals_global_budget(
    two_settled, hospital, other_pharmacy, agency_user
):
    special, chronic = two_settled
    at_hospital = _copy(
        special,
        institution=hospital,
        kind=SettlementKind.HOSPITAL,
        budget_line=BudgetLine.HOSPITAL_GLOBAL,
    )
    _copy(  # reversed: not spending
        chronic,
        institution=hospital,
        kind=SettlementKind.HOSPITAL,
        budget_line=BudgetLine.HOSPITAL_GLOBAL,
        status=SettlementStatus.REVERSED,
    )
    _copy(special, institution=other_pharmacy)  # Hefei: outside the officer's region
    _copy(  # another month
        special,
        institution=hospital,
        budget_line=BudgetLine.HOSPITAL_GLOBAL,
        settled_on=date(2020, 1, 15),
        status="settled",
        idempotency_key="old",
        settlement_no="JSOLD",
    )

    report = batches.budget_report(
        actor=agency_user, region_code="420100", month=special.settled_on
    )

    separate, global_ = report.lines
    assert (separate.budget_line, global_.budget_line) == (
        BudgetLine.PHARMACY_SEPARATE,
        BudgetLine.HOSPITAL_GLOBAL,
    )
    (pharmacy_row,) = separate.institutions
    assert pharmacy_row.institution_id == special.institution_id
    assert (pharmacy_row.totals.count, pharmacy_row.totals.fund) == (2, D("1820.00"))
    (hospital_row,) = global_.institutions
    assert hospital_row.institution_id == hospital.pk
    assert (hospital_row.totals.count, hospital_row.totals.fund) == (1, at_hospital.fund)
    assert report.totals.fund == D("1820.00") + D("1500.00")
    assert report.totals.total == D("3000.00") + D("2000.00")

    district = batches.budget_report(
        actor=agency_user, region_code="420102", month=special.settled_on
    )
    assert district.totals == report.totals  # every institution is in 江岸区


def test_a_hospital_reviewer_prepares_the_hospitals_batch_on_the_global_budget(
    two_settled, hospital, reviewer_user
):
    special, _ = two_settled
    at_hospital = _copy(
        special,
        institution=hospital,
        kind=SettlementKind.HOSPITAL,
        budget_line=BudgetLine.HOSPITAL_GLOBAL,
    )

    batch = prepare(reviewer_user, at_hospital)

    assert batch.institution_id == hospital.pk
    assert batch.budget_line == BudgetLine.HOSPITAL_GLOBAL
    assert (batch.settlement_count, batch.fund) == (1, at_hospital.fund)
    assert Settlement.objects.get(pk=special.pk).batch_id is None  # the pharmacy's stays apart
    (event,) = events("settlement.batch_prepared")
    assert event.actor_role == "reviewer"


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_preparations_at_once_make_one_batch_holding_each_settlement_once(
    separate_line, dispensed, chronic_dispensed, pharmacist_user
):
    special = settle(pharmacist_user, dispensed, "s-1")
    settle(pharmacist_user, chronic_dispensed, "s-2")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        try:
            barrier.wait()
            prepare(pharmacist_user, special)
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes == ["ok", "ok"]
    (batch,) = SettlementBatch.objects.all()
    assert (batch.settlement_count, batch.total) == (2, D("3000.00"))
    assert set(Settlement.objects.values_list("batch_id", flat=True)) == {batch.pk}
    assert history(batch) == [("", "draft")]
    assert len(events("settlement.batch_prepared")) == 2
