"""Violations found after the fact and the recovery of what the fund paid for them (DESIGN §6;
HB art. 21–22, 31(6), 47; CX art. 13).

An agency officer records a **finding** (``violation_record``: over-treatment 过度诊疗, fake
treatment 虚假诊疗, person–certificate mismatch 人证不符) against settlements of the region, with
the reason and a note of the evidence. Every line of those settlements becomes non-payable
(``payable.VIOLATION``): the settlement engine is run again on the settlement's own lines and
parameters with ``LineFacts.violation=True`` (``violation_rerun``), and what the funds paid
above what the re-run says they owe is recovered from the settling institution by a **recovery
order** (追回/拒付, ``recovery_raise_for_settlements``), one per institution.

Decisions:

- **Whole settlements.** A finding names settlements, not single lines; so every line of the
  re-run is self-pay, its in-policy amount is nil and the re-run owes nothing whatever the
  person's accumulators were (they are not kept per settlement: the re-run starts from none).
  A line the settlement already made self-pay keeps its own reason.
- **The settlement stays as settled.** It was transmitted to the platform and paid to the
  person as it is; the recovery is between the fund and the institution. The order keeps, per
  settlement, the re-run and the amounts recovered (fund, critical illness, assistance,
  commercial), and whether the settlement had been paid out (its batch approved: 追回) or not
  yet (拒付). The person's accumulators are not changed.
- **Refused, nothing written:** no settlement named (``recovery_no_settlements``), a
  settlement that does not exist or is not of the officer's region (``…_not_in_region``, one
  answer for both, so existence is not revealed), a reversed one (the fund paid nothing), a
  manual claim's (paid to the person, not to an institution), one already on a pending or
  deducted order (``recovery_duplicate``), no reason (``recovery_reason_required``). An
  institution whose listed settlements cost the funds nothing gets no order.
- **Deduction.** A pending order is deducted from the institution's next monthly batch: the
  batch's preparation attaches every pending order of its institution not yet in a batch
  (``recoveries_for_batch``, ``recoveries_attach``), the batch shows each as a deduction line
  and its net fund part, and applying a batch while an order waits unattached is refused as
  stale. When the agency **approves** the batch (``batches.batch_review``), its orders move to
  deducted (``recoveries_deduct``): approval is the batch's last state in this system, the
  moment the agency fixes what it pays, so the deduction is made there and then.
- **Cancel.** An officer of the region cancels a pending order with a reason
  (``recovery_cancel``); not while the batch holding it is applied (the institution applied
  net of it; the agency rejects the batch first), and never once deducted.
- **Locks.** Raising locks the settlements in primary-key order (``core.locks``: settlement
  level), so two raises for one settlement queue and the second finds the first's order.
  Preparing, applying and approving a batch lock the batch, then its orders; cancelling locks
  the order only and then reads its batch, so two officers acting on one order queue on it.

Statuses: pending → deducted | cancelled (``RECOVERY_MACHINE`` beside the model).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.locks import lock_ids
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.registry.models import Region
from dualchannel.registry.selectors import officer_region

from .. import error_codes as codes
from ..engine import OVER_STANDARD, Accumulated, Breakdown, LineInput, Parameters, Person, calculate
from ..models import (
    RECOVERY_MACHINE,
    BatchStatus,
    FindingKind,
    RecoveryBasis,
    RecoveryItem,
    RecoveryOrder,
    RecoveryOrderTransition,
    RecoveryStatus,
    Settlement,
    SettlementBatch,
    SettlementKind,
    SettlementStatus,
    ViolationFinding,
)
from ..payable import LineFacts, nonpayable_reason

ZERO = Decimal("0.00")
REASON_MAX = 500
EVIDENCE_MAX = 2000
FUNDS = ("fund", "critical_illness", "assistance", "commercial")
PARAMETER_FIELDS = tuple(Parameters.__dataclass_fields__)
LIVE = (RecoveryStatus.PENDING, RecoveryStatus.DEDUCTED)

# What is known of a line once the finding is made, per basis: otherwise payable, but for the
# finding (HB art. 31(6)) or the revoked eligibility (HB art. 9, 12: benefits end).
BASIS_FACTS = {
    RecoveryBasis.VIOLATION: LineFacts(
        separately_paid=False,
        has_eligibility=True,
        eligibility_active=True,
        institution_designated=True,
        has_valid_prescription=True,
        violation=True,
    ),
    RecoveryBasis.ELIGIBILITY_REVOKED: LineFacts(
        separately_paid=True,
        has_eligibility=True,
        eligibility_active=False,
        institution_designated=True,
        has_valid_prescription=True,
    ),
}


# --- input -------------------------------------------------------------------------------------


def _text(value: str | None, field: str, limit: int, *, required: bool) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise DomainError(
            codes.RECOVERY_REASON_REQUIRED, "请填写认定或追回理由", fields={field: ["必填"]}
        )
    if len(text) > limit:
        raise DomainError(
            codes.RECOVERY_TEXT_TOO_LONG, f"不能超过{limit}字", fields={field: [f"≤{limit}字"]}
        )
    return text


def _ids(settlement_ids: Iterable[int] | None) -> list[int]:
    try:
        ids = sorted({int(i) for i in settlement_ids or ()})
    except (TypeError, ValueError):
        ids = []
    if not ids:
        raise DomainError(
            codes.RECOVERY_NO_SETTLEMENTS,
            "请至少列明一笔结算",
            fields={"settlement_ids": ["至少一笔"]},
        )
    return ids


def _role(actor: User) -> str:
    return Role.ADMIN if actor.is_superuser else Role.AGENCY_OFFICER


def _covers(actor: User, region_code: str) -> bool:
    if actor.is_superuser:
        return True
    region = officer_region(actor)
    return region is not None and region_code.startswith(region.code_prefix)


# --- the re-run --------------------------------------------------------------------------------


def violation_rerun(settlement: Settlement, basis: str = RecoveryBasis.VIOLATION) -> Breakdown:
    """The engine's breakdown of the settlement's own lines and parameters as settled, every
    line judged with the basis' facts (``LineFacts.violation=True`` for a finding): a line the
    settlement already made self-pay keeps its reason."""
    facts = BASIS_FACTS[basis]
    raw = settlement.parameters
    params = Parameters(
        **{name: None if raw.get(name) is None else Decimal(raw[name]) for name in PARAMETER_FIELDS}
    )
    lines = []
    for line in settlement.lines.order_by("position"):
        kept = line.self_pay_reason if line.self_pay_reason != OVER_STANDARD else ""
        reason = kept or nonpayable_reason(facts)
        lines.append(
            LineInput(
                str(line.position), line.amount, line.standard_amount, line.drug_class, reason
            )
        )
    person = settlement.person
    return calculate(
        lines,
        params,
        Accumulated(),
        Person(
            entitled_to_assistance=person.medical_assistance,
            commercial_insured=person.commercial_insured,
        ),
    )


def _rerun_json(breakdown: Breakdown) -> dict:
    return {
        "lines": [
            {"position": int(r.key), "reason": r.self_pay_reason, "full_self_pay": str(r.amount)}
            for r in breakdown.lines
        ],
        **{name: str(getattr(breakdown, name)) for name in (*FUNDS, "personal", "total")},
    }


# --- raise -------------------------------------------------------------------------------------


def _not_in_region() -> NotFound:
    return NotFound(
        codes.RECOVERY_SETTLEMENT_NOT_IN_REGION, "结算记录不存在或不在本经办机构管辖区域"
    )


def _locked_settlements(actor: User, ids: list[int]) -> list[Settlement]:
    """The settlements, locked in primary-key order, each checked: of the region, settled at an
    institution, on no live order."""
    rows = lock_ids(Settlement, ids)
    if len(rows) != len(ids):
        raise _not_in_region()
    settlements = [rows[i] for i in ids]
    for s in settlements:
        if not _covers(actor, s.institution.region_id):
            raise _not_in_region()
    for s in settlements:
        if s.status == SettlementStatus.REVERSED:
            raise Conflict(
                codes.RECOVERY_SETTLEMENT_REVERSED,
                f"结算 {s.settlement_no} 已冲销，基金未支付，无需追回",
            )
        if s.kind == SettlementKind.MANUAL:
            raise DomainError(
                codes.RECOVERY_SETTLEMENT_MANUAL,
                f"结算 {s.settlement_no} 为手工（零星）报销，基金支付给参保人而非定点机构",
            )
    taken = (
        RecoveryItem.objects.filter(settlement_id__in=ids, order__status__in=LIVE)
        .select_related("settlement", "order")
        .first()
    )
    if taken is not None:
        raise Conflict(
            codes.RECOVERY_DUPLICATE,
            f"结算 {taken.settlement.settlement_no} 已列入追回单 {taken.order.order_no}",
        )
    return settlements


def _item(settlement: Settlement, basis: str) -> RecoveryItem:
    rerun = violation_rerun(settlement, basis)
    parts = {name: max(getattr(settlement, name) - getattr(rerun, name), ZERO) for name in FUNDS}
    batch = settlement.batch
    return RecoveryItem(
        settlement=settlement,
        paid_out=batch is not None and batch.status == BatchStatus.APPROVED,
        amount=sum(parts.values(), ZERO),
        rerun=_rerun_json(rerun),
        **parts,
    )


def _order_region(actor: User, settlements: list[Settlement]) -> Region:
    return officer_region(actor) or settlements[0].institution.region


def recovery_raise_for_settlements(
    *,
    actor: User,
    settlement_ids: Iterable[int],
    basis: str,
    reason: str,
    evidence: str = "",
    finding: ViolationFinding | None = None,
) -> list[RecoveryOrder]:
    """Raise a recovery order per institution for what the funds paid for these settlements
    [HB art. 21–22, 31(6); CX art. 13], with amounts from the engine's re-run under ``basis``
    (``RecoveryBasis``). One transaction (joins the caller's: an eligibility revoked for fraud
    [HB art. 12, 49–50] raises its recovery in its own transaction); settlements locked after
    whatever the caller locked (settlement level of ``core.locks``). Returns the orders raised,
    none where the settlements cost the funds nothing."""
    require_role(actor, Role.AGENCY_OFFICER)
    if basis not in RecoveryBasis.values:
        raise DomainError(codes.RECOVERY_INVALID_BASIS, "追回依据无效", fields={"basis": ["无效"]})
    reason = _text(reason, "reason", REASON_MAX, required=True)
    evidence = _text(evidence, "evidence", EVIDENCE_MAX, required=False)
    ids = _ids(settlement_ids)
    with transaction.atomic():
        settlements = _locked_settlements(actor, ids)
        region = _order_region(actor, settlements)
        per_institution: dict[int, list[RecoveryItem]] = defaultdict(list)
        for s in settlements:
            per_institution[s.institution_id].append(_item(s, basis))
        orders = []
        for institution_id, items in sorted(per_institution.items()):
            total = sum((i.amount for i in items), ZERO)
            if total <= ZERO:
                continue
            orders.append(
                _write_order(actor, institution_id, region, basis, reason, evidence, finding, items)
            )
    return orders


def _write_order(actor, institution_id, region, basis, reason, evidence, finding, items):
    now = timezone.now()
    order = RecoveryOrder.objects.create(
        order_no=f"tmp-{uuid.uuid4().hex}",
        institution_id=institution_id,
        region=region,
        basis=basis,
        finding=finding,
        reason=reason,
        evidence=evidence,
        raised_by=actor,
        raised_at=now,
        amount=sum((i.amount for i in items), ZERO),
        **{name: sum((getattr(i, name) for i in items), ZERO) for name in FUNDS},
    )
    order.order_no = f"ZH{timezone.localdate(now):%Y%m%d}{order.pk:08d}"
    order.save(update_fields=["order_no"])
    for item in items:
        item.order = order
    RecoveryItem.objects.bulk_create(items)
    RecoveryOrderTransition.objects.create(
        order=order, from_status="", to_status=order.status, actor=actor, reason=reason
    )
    audit.record(
        actor=actor,
        action="settlement.recovery_raised",
        subject=order,
        after=order,
        role=_role(actor),
        summary={
            "order_no": order.order_no,
            "basis": basis,
            "finding_no": finding.finding_no if finding else "",
            "settlements": len(items),
            "amount": str(order.amount),
            "fund": str(order.fund),
            "paid_out": sum(1 for i in items if i.paid_out),
        },
    )
    return order


def violation_record(
    *,
    actor: User,
    kind: str,
    reason: str,
    evidence: str = "",
    settlement_ids: Iterable[int],
) -> tuple[ViolationFinding, list[RecoveryOrder]]:
    """An officer's finding of over-treatment, fake treatment or a person–certificate mismatch
    against settlements of the region [HB art. 31(6), 47]: recorded with its reason and
    evidence, the settlements' lines re-run as non-payable, and a recovery order raised per
    institution for what the funds paid [HB art. 21–22, CX art. 13]."""
    require_role(actor, Role.AGENCY_OFFICER)
    if kind not in FindingKind.values:
        raise DomainError(
            codes.RECOVERY_INVALID_KIND,
            "违规情形无效",
            fields={"kind": [f"应为 {'、'.join(FindingKind.values)} 之一"]},
        )
    reason = _text(reason, "reason", REASON_MAX, required=True)
    evidence = _text(evidence, "evidence", EVIDENCE_MAX, required=False)
    ids = _ids(settlement_ids)
    with transaction.atomic():
        settlements = _locked_settlements(actor, ids)  # checked before anything is written
        finding = ViolationFinding.objects.create(
            finding_no=f"tmp-{uuid.uuid4().hex}",
            region=_order_region(actor, settlements),
            kind=kind,
            reason=reason,
            evidence=evidence,
            recorded_by=actor,
        )
        finding.finding_no = f"WG{timezone.localdate():%Y%m%d}{finding.pk:08d}"
        finding.save(update_fields=["finding_no"])
        finding.settlements.set(settlements)
        audit.record(
            actor=actor,
            action="settlement.violation_recorded",
            subject=finding,
            after=finding,
            role=_role(actor),
            summary={"finding_no": finding.finding_no, "kind": kind, "settlements": len(ids)},
        )
        label = FindingKind(kind).label
        orders = recovery_raise_for_settlements(
            actor=actor,
            settlement_ids=ids,
            basis=RecoveryBasis.VIOLATION,
            reason=f"{label}：{reason}"[:REASON_MAX],
            evidence=evidence,
            finding=finding,
        )
    return finding, orders


# --- cancel ------------------------------------------------------------------------------------


def _order_not_found() -> NotFound:
    return NotFound(codes.RECOVERY_NOT_FOUND, "追回单不存在或无权访问")


def recovery_cancel(*, actor: User, order_id: int, reason: str) -> RecoveryOrder:
    """An officer of the institution's region withdraws a pending order, with the reason; not
    while the batch it is deducted in is applied."""
    require_role(actor, Role.AGENCY_OFFICER)
    reason = _text(reason, "reason", REASON_MAX, required=True)
    with transaction.atomic():
        found = RecoveryOrder.objects.select_related("institution").filter(pk=order_id).first()
        if found is None or not _covers(actor, found.institution.region_id):
            raise _order_not_found()
        order = (
            RecoveryOrder.objects.select_for_update(of=("self",), no_key=True)
            .select_related("institution")
            .get(pk=order_id)
        )
        RECOVERY_MACHINE.check(order.status, RecoveryStatus.CANCELLED)
        if order.batch_id is not None:
            batch_status = (
                SettlementBatch.objects.filter(pk=order.batch_id)
                .values_list("status", flat=True)
                .get()
            )
            if batch_status == BatchStatus.APPLIED:
                raise Conflict(
                    codes.RECOVERY_IN_APPLIED_BATCH,
                    "该追回单已列入机构已申报的月度结算，请先退回该申报再撤销",
                )
        transition(
            order,
            RecoveryStatus.CANCELLED,
            actor=actor,
            role=_role(actor),
            reason=reason,
            changes={
                "cancelled_at": timezone.now(),
                "cancelled_by": actor,
                "cancel_reason": reason,
                "batch": None,
            },
        )
    return order


# --- the monthly batch's side (called by ``batches`` inside its transaction) ------------------


def recoveries_for_batch(batch: SettlementBatch) -> list[RecoveryOrder]:
    """The pending orders the batch deducts now: its own and its institution's unattached ones,
    locked in primary-key order (after the batch)."""
    return list(
        RecoveryOrder.objects.select_for_update(of=("self",), no_key=True)
        .filter(
            Q(batch__isnull=True) | Q(batch=batch),
            institution_id=batch.institution_id,
            status=RecoveryStatus.PENDING,
        )
        .order_by("pk")
    )


def recoveries_attach(batch: SettlementBatch, orders: list[RecoveryOrder]) -> None:
    """Attach the locked pending orders to the batch (not a status change)."""
    loose = [o.pk for o in orders if o.batch_id != batch.pk]
    if loose:
        RecoveryOrder.objects.filter(pk__in=loose).update(batch=batch)
        for order in orders:
            order.batch = batch


def recoveries_stale(batch: SettlementBatch, orders: list[RecoveryOrder]) -> bool:
    """A pending order of the institution waits outside the batch (raised since preparation)."""
    return any(o.batch_id != batch.pk for o in orders)


def recovery_deduction(orders: Iterable[RecoveryOrder]) -> Decimal:
    return sum((o.amount for o in orders), ZERO)


def recoveries_deduct(
    *, actor: User, batch: SettlementBatch, role: str, orders: list[RecoveryOrder]
) -> list[RecoveryOrder]:
    """The approved batch's pending orders (``recoveries_for_batch``, locked by the caller
    after the batch) move to deducted."""
    orders = [o for o in orders if o.batch_id == batch.pk]
    now = timezone.now()
    for order in orders:
        transition(
            order,
            RecoveryStatus.DEDUCTED,
            actor=actor,
            role=role,
            reason=f"{batch.month:%Y-%m} 月度结算扣回",
            changes={"deducted_at": now},
            batch_id=batch.pk,
        )
    return orders


def finding_from_alert(
    *, actor: User, kind: str, reason: str, settlement_ids: Iterable[int]
) -> str:
    """An officer confirms a monitoring alert as a violation (``monitoring.services
    .alert_review``): the finding against the alert's settlements, with its recovery orders, in
    the officer's transaction; returns the finding's number."""
    finding, _orders = violation_record(
        actor=actor,
        kind=kind,
        reason=reason,
        evidence="监控预警核查属实",
        settlement_ids=settlement_ids,
    )
    return finding.finding_no
