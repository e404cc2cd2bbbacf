"""Monthly settlement batches, their reconciliation with the platform, and the budget lines
(DESIGN §5.5; HB art. 32–37, AH §2(6), CX art. 18).

An institution gathers a month's settlements into the batch of their budget line
(``batch_prepare``), reconciles it with the national platform (``reconcile.batch_reconcile``:
3201 totals, 3202 details where the totals differ), applies for the fund part (``batch_apply``)
and the agency approves or rejects (``batch_review``). ``budget_report`` reads the month's fund
spending per budget line for an officer's region.

Status: draft → applied → approved | rejected, rejected → applied again (``BATCH_MACHINE``, beside
the model); ``core.statemachine.transition`` moves it: edge check, history row and audit event in
the caller's transaction.

Decisions:

- **Who.** A pharmacy's batches are its pharmacists', a hospital's its reviewers' (the insurance
  office); admins may act for both. Anyone else is told "not found". The review is an agency
  officer's whose region covers the institution.
- **Which settlements.** The institution's own settlements (pharmacy or hospital kind: manual
  claims are paid to the person, never to an institution) with ``settled_on`` (an Asia/Shanghai
  date) in the month, status settled, of the batch's budget line and in no other batch. A
  reversed one is left out, and one that was in the batch when it was reversed is taken out on
  the next preparation. ``budget_line=None`` takes the line the month's settlements carry; a
  month that has both (the profile changed within it) must name one
  (``settlement.budget_line_required``); a month with none takes the institution's current line.
- **Frozen.** Preparing or reconciling an applied or approved batch is refused
  (``settlement.batch_frozen``). A draft or rejected batch is recomputed in full, and a
  recomputation clears its reconciliation: what was reconciled is no longer what is applied for.
- **Reconciliation scope.** The platform reconciles an institution's settlements per insurance
  type, clearing type (41 pharmacy / 11 hospital) and agency (``setl_optins``: the insured's
  enrolment region) over the month. So 3201 goes once per (insutype, setl_optins) present among
  the month's settlements and the results are combined. The totals sent are those of the
  institution's live settlements of that scope over the month — the batch's own totals whenever
  the month has one budget line, as it has unless the profile changed within it; then the other
  line's settlements are in the scope too, and a mismatch is kept on the batch of the line of the
  settlement it concerns. A mismatch the platform reports about a settlement we do not know is
  kept on every batch of the month (its line cannot be told). Reversed settlements that reached
  the platform are listed in 3202 with ``refd_setl_flag`` 1, so a reversal the platform has not
  made yet is named. A live settlement without ``setl_id`` (its upload failed or is pending) is a
  mismatch we list ourselves (``not_uploaded``) and is not sent in 3202.
- **No platform call inside a transaction.** ``batch_reconcile`` reads the batch, calls the
  platform outside any transaction (the client's call log commits on its own, and a slow
  platform holds no row lock), then locks the batch and stores the result only if the batch and
  its month's settlements are still what was reconciled (else ``settlement.batch_changed``).
- **Apply.** Only a reconciled batch is applied. A mismatched one only with
  ``acknowledge_mismatches=True`` and a note, which is kept as the transition's reason and
  counted in the audit event. The batch must still be what the month's settlements make it (a
  settlement made or reversed since the preparation: ``settlement.batch_stale``). Whether the
  month has ended is not checked: the agency sees the month and decides.
- **Recovery orders** [HB art. 21–22, CX art. 13; ``recovery``]. Preparing a batch attaches
  every pending recovery order of its institution not yet in a batch; the batch shows each as a
  deduction line and its fund part net of them. Applying is refused as stale while a pending
  order waits outside the batch. Approving the batch moves its orders to deducted in the same
  transaction; a rejected batch keeps them attached (pending) until it is applied again.
- **Money.** Sums are exact ``Decimal`` additions in Python (SQLite would sum decimals as
  floats); ``fund_pay_sumamt`` is all funds together (basic fund + critical illness + medical
  assistance + commercial), as ``integration.nhsa.settlement`` defines it; the personal account
  is not used (``acct_pay`` 0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.core.months import month_end, month_start
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.integration.nhsa import settlement as wire
from dualchannel.registry.models import Institution, InstitutionKind, Region
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.selectors import officer_region

from .. import error_codes as codes
from ..models import (
    BATCH_MACHINE,
    BatchStatus,
    BudgetLine,
    Settlement,
    SettlementBatch,
    SettlementBatchTransition,
    SettlementKind,
    SettlementStatus,
)
from .common import budget_line_for
from .recovery import (
    recoveries_attach,
    recoveries_deduct,
    recoveries_for_batch,
    recoveries_stale,
    recovery_deduction,
)

B = BatchStatus
ZERO = Decimal("0.00")
NOTE_MAX = 500  # SettlementBatch.review_note

FROZEN = frozenset({B.APPLIED, B.APPROVED})

# The settlements an institution's batch holds, the staff who prepare it, the platform channel.
SETTLEMENT_KIND = {
    InstitutionKind.PHARMACY: SettlementKind.PHARMACY,
    InstitutionKind.HOSPITAL: SettlementKind.HOSPITAL,
}
STAFF_ROLE = {InstitutionKind.PHARMACY: Role.PHARMACIST, InstitutionKind.HOSPITAL: Role.REVIEWER}
CHANNEL = {
    InstitutionKind.PHARMACY: wire.Channel.PHARMACY,
    InstitutionKind.HOSPITAL: wire.Channel.HOSPITAL,
}
LINE_LABELS = dict(BudgetLine.choices)


# --- totals ------------------------------------------------------------------------------------


AMOUNT_FIELDS = ("total", "fund", "critical_illness", "assistance", "commercial", "personal")


@dataclass(frozen=True)
class Totals:
    """A count and the payer amounts of some settlements, exact to the fen."""

    count: int = 0
    total: Decimal = ZERO
    fund: Decimal = ZERO
    critical_illness: Decimal = ZERO
    assistance: Decimal = ZERO
    commercial: Decimal = ZERO
    personal: Decimal = ZERO

    @classmethod
    def of(cls, rows: Iterable[Any]) -> Totals:
        """Rows are settlements or anything with the amount attributes."""
        sums = dict.fromkeys(AMOUNT_FIELDS, ZERO)
        count = 0
        for row in rows:
            count += 1
            for name in AMOUNT_FIELDS:
                sums[name] += getattr(row, name)
        return cls(count=count, **sums)

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            count=self.count + other.count,
            **{n: getattr(self, n) + getattr(other, n) for n in AMOUNT_FIELDS},
        )

    @property
    def funds(self) -> Decimal:
        """All funds together: the platform's ``fund_pay_sumamt``."""
        return self.fund + self.critical_illness + self.assistance + self.commercial


def _batch_totals(batch: SettlementBatch) -> Totals:
    return Totals(count=batch.settlement_count, **{n: getattr(batch, n) for n in AMOUNT_FIELDS})


# --- months, lines, scope ----------------------------------------------------------------------


def month_bounds(month: date) -> tuple[date, date]:
    """The first and the last day of the month of ``month``."""
    return month_start(month), month_end(month)


def _in_month(first: date) -> Q:
    _, last = month_bounds(first)
    return Q(settled_on__gte=first, settled_on__lte=last)


def month_settlements(institution: Institution, first: date):
    """Every settlement of the institution's own kind settled in the month, reversed ones too."""
    return Settlement.objects.filter(
        _in_month(first), institution=institution, kind=SETTLEMENT_KIND[institution.kind]
    )


def _candidates(batch: SettlementBatch) -> Q:
    """What the batch should hold now: live, of its line and month, in no other batch."""
    return (
        _in_month(batch.month)
        & Q(
            institution_id=batch.institution_id,
            kind=SETTLEMENT_KIND[batch.institution.kind],
            budget_line=batch.budget_line,
            status=SettlementStatus.SETTLED,
        )
        & (Q(batch__isnull=True) | Q(batch=batch))
    )


def _belongs(settlement: Settlement, batch: SettlementBatch) -> bool:
    """The same test as ``_candidates``, on a locked row."""
    first, last = month_bounds(batch.month)
    return (
        settlement.institution_id == batch.institution_id
        and settlement.kind == SETTLEMENT_KIND[batch.institution.kind]
        and settlement.budget_line == batch.budget_line
        and settlement.status == SettlementStatus.SETTLED
        and first <= settlement.settled_on <= last
        and settlement.batch_id in (None, batch.pk)
    )


def _lock_contents(batch: SettlementBatch) -> list[Settlement]:
    """The batch's settlements and its candidates, locked in primary-key order."""
    return list(
        Settlement.objects.select_for_update()
        .filter(Q(batch=batch) | _candidates(batch))
        .order_by("pk")
    )


def _default_line(institution: Institution) -> str:
    """The line the institution's settlements are made on now (as the counter decides it)."""
    # no profile: the national default, the global budget
    return budget_line_for(profile_of(institution), institution)


def _budget_line(institution: Institution, first: date, requested: str | None) -> str:
    if requested is not None:
        if requested not in BudgetLine.values:
            raise DomainError(
                codes.INVALID_BUDGET_LINE,
                "预算口径无效",
                fields={"budget_line": [f"应为 {'、'.join(BudgetLine.values)} 之一"]},
            )
        return requested
    lines = set(
        month_settlements(institution, first)
        .filter(status=SettlementStatus.SETTLED)
        .values_list("budget_line", flat=True)
        .distinct()
    )
    if len(lines) > 1:
        raise DomainError(
            codes.BUDGET_LINE_REQUIRED,
            "本月结算分属两个预算口径，请指定预算口径分别申报",
            fields={"budget_line": ["必填"]},
        )
    return lines.pop() if lines else _default_line(institution)


def _month(month: date) -> date:
    if not isinstance(month, date):
        raise DomainError(codes.INVALID_MONTH, "结算月份无效", fields={"month": ["应为日期"]})
    first, _ = month_bounds(month)
    if first > timezone.localdate():
        raise DomainError(
            codes.INVALID_MONTH, "不能申报尚未开始的月份", fields={"month": ["不能晚于本月"]}
        )
    return first


# --- who ---------------------------------------------------------------------------------------


def _not_found() -> NotFound:
    return NotFound(codes.BATCH_NOT_FOUND, "月度申报不存在或无权访问")


def _staff_role(actor: User, institution: Institution | None) -> str:
    """The role in which ``actor`` acts for the institution's batches, else NotFound."""
    if institution is None or institution.kind not in STAFF_ROLE:
        raise _not_found()
    if actor.is_superuser:
        return Role.ADMIN
    role = STAFF_ROLE[institution.kind]
    if actor.institution_id != institution.pk or not actor.has_role(role):
        raise _not_found()
    return role


def _officer_covers(actor: User, institution: Institution) -> bool:
    if actor.is_superuser:
        return True
    region = officer_region(actor)
    return region is not None and institution.region_id.startswith(region.code_prefix)


def find_batch(batch_id: int, *, lock: bool) -> SettlementBatch | None:
    qs = SettlementBatch.objects.select_related("institution", "institution__region")
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.filter(pk=batch_id).first()


def staff_batch(actor: User, batch_id: int, *, lock: bool) -> tuple[SettlementBatch, str]:
    """The batch if ``actor`` works for its institution (checked before the row is locked)."""
    found = find_batch(batch_id, lock=False)
    role = _staff_role(actor, found.institution if found else None)
    return (find_batch(batch_id, lock=True) if lock else found), role


def _note(note: str | None) -> str:
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise DomainError(
            codes.NOTE_TOO_LONG, f"意见不能超过{NOTE_MAX}字", fields={"note": [f"≤{NOTE_MAX}字"]}
        )
    return text


# --- prepare -----------------------------------------------------------------------------------


def batch_prepare(
    *, actor: User, institution_id: int, month: date, budget_line: str | None = None
) -> SettlementBatch:
    """Gather the institution's settlements of ``month`` on one budget line into its batch.

    Creates the batch (draft) or recomputes a draft or rejected one; links the settlements
    (``Settlement.batch``) and sets the totals. Locks: the batch row, then the settlements in
    primary-key order.
    """
    require_role(actor, Role.PHARMACIST, Role.REVIEWER)
    first = _month(month)
    with transaction.atomic():
        institution = Institution.objects.select_related("region").filter(pk=institution_id).first()
        role = _staff_role(actor, institution)
        line = _budget_line(institution, first, budget_line)
        created_row, created = SettlementBatch.objects.get_or_create(
            institution=institution, month=first, budget_line=line
        )
        batch = find_batch(created_row.pk, lock=True)
        if batch.status in FROZEN:
            raise Conflict(
                codes.BATCH_FROZEN,
                f"该月申报已{batch.get_status_display()}，不能重新汇总",
            )
        before = None if created else snapshot(batch)
        rows = _lock_contents(batch)
        taken = [s for s in rows if _belongs(s, batch)]
        taken_ids = {s.pk for s in taken}
        linked = [s.pk for s in taken if s.batch_id != batch.pk]
        unlinked = [s.pk for s in rows if s.batch_id == batch.pk and s.pk not in taken_ids]
        if linked:
            Settlement.objects.filter(pk__in=linked).update(batch=batch)
        if unlinked:
            Settlement.objects.filter(pk__in=unlinked).update(batch=None)
        totals = Totals.of(taken)
        # pending recovery orders of the institution are deducted here [HB art. 21–22, CX 13]
        orders = recoveries_for_batch(batch)
        recoveries_attach(batch, orders)
        batch.settlement_count = totals.count
        for name in AMOUNT_FIELDS:
            setattr(batch, name, getattr(totals, name))
        batch.reconciled_at = None
        batch.reconciliation_matched = None
        batch.mismatches = []
        batch.save()
        if created:
            SettlementBatchTransition.objects.create(
                batch=batch, from_status="", to_status=batch.status, actor=actor
            )
        audit.record(
            actor=actor,
            action="settlement.batch_prepared",
            subject=batch,
            before=before,
            after=batch,
            role=role,
            summary={
                "month": f"{first:%Y-%m}",
                "budget_line": line,
                "status": batch.status,
                "count": totals.count,
                "total": str(totals.total),
                "fund": str(totals.fund),
                "linked": len(linked),
                "unlinked": len(unlinked),
                "recoveries": len(orders),
                "deduction": str(recovery_deduction(orders)),
            },
        )
    return batch


# --- apply and review --------------------------------------------------------------------------


def _require_current(batch: SettlementBatch, rows: list[Settlement]) -> None:
    """The batch still holds exactly what the month's live settlements make it."""
    # rows are the batch's settlements and its candidates: a linked one that no longer belongs
    # (reversed) or a candidate not linked (settled since) makes the batch stale
    changed = any(not _belongs(s, batch) or s.batch_id != batch.pk for s in rows)
    if changed or Totals.of(rows) != _batch_totals(batch):
        raise Conflict(codes.BATCH_STALE, "汇总后本月结算发生变化（新增或冲销），请重新汇总并对账")


def batch_apply(
    *,
    actor: User,
    batch_id: int,
    acknowledge_mismatches: bool = False,
    note: str = "",
) -> SettlementBatch:
    """The institution applies for the month's fund part [HB art. 33].

    Refused unless the batch is reconciled and matched; a mismatched batch is applied only with
    ``acknowledge_mismatches=True`` and a ``note`` explaining them (kept as the transition's
    reason). A draft or a rejected batch may be applied.
    """
    require_role(actor, Role.PHARMACIST, Role.REVIEWER)
    with transaction.atomic():
        batch, role = staff_batch(actor, batch_id, lock=True)
        note = _note(note)
        BATCH_MACHINE.check(batch.status, B.APPLIED)
        if batch.settlement_count == 0:
            raise Conflict(codes.BATCH_EMPTY, "该月申报没有结算记录")
        _require_current(batch, _lock_contents(batch))
        if recoveries_stale(batch, recoveries_for_batch(batch)):
            raise Conflict(codes.BATCH_STALE, "汇总后新增了基金追回单，请重新汇总后申报")
        if batch.reconciled_at is None:
            raise Conflict(codes.BATCH_NOT_RECONCILED, "请先与医保平台对账再申报")
        if not batch.reconciliation_matched:
            if not acknowledge_mismatches:
                raise Conflict(
                    codes.BATCH_MISMATCHED,
                    f"对账存在{len(batch.mismatches)}条差异，请处理后重新对账，或确认差异并说明后申报",
                )
            if not note:
                raise DomainError(
                    codes.NOTE_REQUIRED, "确认对账差异申报时请填写说明", fields={"note": ["必填"]}
                )
        transition(
            batch,
            B.APPLIED,
            actor=actor,
            role=role,
            reason=note,
            changes={"applied_at": timezone.now(), "applied_by": actor},
            matched=bool(batch.reconciliation_matched),
            acknowledged_mismatches=0 if batch.reconciliation_matched else len(batch.mismatches),
        )
    return batch


def batch_review(*, actor: User, batch_id: int, approve: bool, note: str = "") -> SettlementBatch:
    """An agency officer whose region covers the institution approves the applied batch or
    rejects it with a reason; the institution may correct and apply again."""
    require_role(actor, Role.AGENCY_OFFICER)
    with transaction.atomic():
        found = find_batch(batch_id, lock=False)
        if found is None or not _officer_covers(actor, found.institution):
            raise _not_found()
        batch = find_batch(batch_id, lock=True)
        note = _note(note)
        target = B.APPROVED if approve else B.REJECTED
        BATCH_MACHINE.check(batch.status, target)
        if not approve and not note:
            raise DomainError(
                codes.REASON_REQUIRED, "退回申报时请填写原因", fields={"note": ["必填"]}
            )
        role = Role.ADMIN if actor.is_superuser else Role.AGENCY_OFFICER
        # core.locks: the recovery orders after the batch, before the transition's audit event
        orders = recoveries_for_batch(batch) if approve else []
        transition(
            batch,
            target,
            actor=actor,
            role=role,
            reason=note,
            changes={"reviewed_at": timezone.now(), "reviewed_by": actor, "review_note": note},
        )
        if approve:  # approved net of its recovery orders: they are deducted now
            recoveries_deduct(actor=actor, batch=batch, role=role, orders=orders)
    return batch


# --- budget lines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstitutionSpend:
    institution_id: int
    name: str
    kind: str
    totals: Totals


@dataclass(frozen=True)
class LineSpend:
    budget_line: str
    label: str
    institutions: tuple[InstitutionSpend, ...]
    totals: Totals


@dataclass(frozen=True)
class BudgetReport:
    """A month's spending of the live settlements of a region's institutions, per budget line
    (pharmacy-separate first, then the hospitals' global budget) and institution."""

    region_code: str
    month: date
    lines: tuple[LineSpend, ...]
    totals: Totals


def budget_report(*, actor: User, region_code: str, month: date) -> BudgetReport:
    """Fund spending per budget line for a region within the officer's own [AH §2(6), CX 18]."""
    require_role(actor, Role.AGENCY_OFFICER)
    region = Region.objects.filter(code=region_code).first()
    own = None if actor.is_superuser else officer_region(actor)
    if region is None or not (
        actor.is_superuser or (own and region.code.startswith(own.code_prefix))
    ):
        raise NotFound(codes.REGION_NOT_FOUND, "区划不存在或不在本经办机构管辖范围内")
    first, _ = month_bounds(month)
    rows = (
        Settlement.objects.filter(
            _in_month(first),
            status=SettlementStatus.SETTLED,
            institution__region__code__startswith=region.code_prefix,
        )
        .order_by("institution__region_id", "institution__name", "institution_id")
        .values_list(
            "budget_line",
            "institution_id",
            "institution__name",
            "institution__kind",
            *AMOUNT_FIELDS,
        )
    )
    per: dict[str, dict[int, list]] = defaultdict(dict)
    for line, inst_id, name, kind, *amounts in rows.iterator():
        entry = per[line].setdefault(inst_id, [name, kind, []])
        entry[2].append(Totals(1, *amounts))
    lines = []
    for line in (BudgetLine.PHARMACY_SEPARATE, BudgetLine.HOSPITAL_GLOBAL):
        institutions = tuple(
            InstitutionSpend(inst_id, name, kind, sum(parts, Totals()))
            for inst_id, (name, kind, parts) in per[line].items()
        )
        lines.append(
            LineSpend(
                budget_line=line,
                label=LINE_LABELS[line],
                institutions=institutions,
                totals=sum((i.totals for i in institutions), Totals()),
            )
        )
    return BudgetReport(
        region_code=region.code,
        month=first,
        lines=tuple(lines),
        totals=sum((li.totals for li in lines), Totals()),
    )
