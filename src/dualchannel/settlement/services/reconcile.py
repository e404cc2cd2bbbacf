"""Reconciling a monthly batch with the national platform: 3201 totals per scope, 3202 details
where they differ (DESIGN §5.5; HB art. 33). The scope, the "no platform call inside a
transaction" rule and what a mismatch is are set out in ``batches``'s notes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.integration.nhsa import PlatformClient, PlatformError
from dualchannel.integration.nhsa import settlement as wire

from .. import error_codes as codes
from ..models import (
    Settlement,
    SettlementBatch,
    SettlementStatus,
)
from ..platform import platform_connected
from .batches import (
    AMOUNT_FIELDS,
    CHANNEL,
    FROZEN,
    ZERO,
    Totals,
    find_batch,
    month_bounds,
    month_settlements,
    staff_batch,
)

# --- reconcile ---------------------------------------------------------------------------------


def _detail(settlement: Settlement) -> dict[str, Any]:
    """Our side of one settlement, as 3202 compares it (amounts as strings)."""
    totals = Totals.of([settlement])
    return {
        "settlement_no": settlement.settlement_no,
        "settled_on": settlement.settled_on.isoformat(),
        "medfee_sumamt": str(settlement.total),
        "fund_pay_sumamt": str(totals.funds),
        "psn_cash_pay": str(settlement.personal),
        "refd_setl_flag": "1" if settlement.status == SettlementStatus.REVERSED else "0",
    }


def _platform_detail(detail: wire.ReconciliationDetail | None) -> dict[str, Any] | None:
    if detail is None:
        return None
    return {
        "setl_id": detail.setl_id,
        "fixmedins_setl_id": detail.fixmedins_setl_id,
        "medfee_sumamt": str(detail.medfee_sumamt),
        "fund_pay_sumamt": str(detail.fund_pay_sumamt),
        "psn_cash_pay": str(detail.psn_cash_pay),
        "refd_setl_flag": "1" if detail.refd_setl_flag else "0",
    }


def _platform_totals(totals: wire.ReconciliationTotals) -> dict[str, Any]:
    return {
        "medfee_sumamt": str(totals.medfee_sumamt),
        "fund_pay_sumamt": str(totals.fund_pay_sumamt),
        "acct_pay": str(totals.acct_pay),
        "fixmedins_setl_cnt": totals.fixmedins_setl_cnt,
    }


@dataclass
class Group:
    """One reconciliation scope of the month: an insurance type and an agency."""

    insutype: str
    setl_optins: str
    settlements: list[Settlement] = field(default_factory=list)

    @property
    def live(self) -> list[Settlement]:
        return [s for s in self.settlements if s.status == SettlementStatus.SETTLED]

    def totals(self) -> wire.ReconciliationTotals:
        live = Totals.of(self.live)
        return wire.ReconciliationTotals(
            medfee_sumamt=live.total,
            fund_pay_sumamt=live.funds,
            acct_pay=ZERO,
            fixmedins_setl_cnt=live.count,
        )

    def details(self) -> list[wire.ReconciliationDetail]:
        """Every settlement that reached the platform; reversed ones flagged."""
        return [
            wire.ReconciliationDetail(
                setl_id=s.setl_id,
                fixmedins_setl_id=s.settlement_no,
                medfee_sumamt=s.total,
                fund_pay_sumamt=Totals.of([s]).funds,
                psn_cash_pay=s.personal,
                refd_setl_flag=s.status == SettlementStatus.REVERSED,
            )
            for s in self.settlements
            if s.setl_id
        ]


@dataclass
class Plan:
    """What a reconciliation sends, and a fingerprint of it to see whether it still holds."""

    groups: list[Group]
    by_no: dict[str, Settlement]
    fingerprint: str


def _plan(batch: SettlementBatch) -> Plan:
    rows = list(
        month_settlements(batch.institution, batch.month).select_related("person").order_by("pk")
    )
    groups: dict[tuple[str, str], Group] = {}
    for s in rows:
        key = (s.insurance_type, s.person.enrolment_region_id)
        groups.setdefault(key, Group(*key)).settlements.append(s)
    state = {
        "batch": [
            batch.status,
            batch.settlement_count,
            *[str(getattr(batch, n)) for n in AMOUNT_FIELDS],
        ],
        "settlements": [
            [s.pk, s.status, s.setl_id, s.batch_id, s.budget_line, str(s.total), key]
            for key, g in sorted(groups.items())
            for s in g.settlements
        ],
    }
    fingerprint = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
    return Plan(
        groups=[groups[k] for k in sorted(groups)],
        by_no={s.settlement_no: s for s in rows},
        fingerprint=fingerprint,
    )


def _entry(
    *,
    group: Group,
    reason: str,
    message: str,
    setl_id: str = "",
    fixmedins_setl_id: str = "",
    fields: Iterable[str] = (),
    ours: dict[str, Any] | None = None,
    platform: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "setl_id": setl_id,
        "fixmedins_setl_id": fixmedins_setl_id,
        "insutype": group.insutype,
        "setl_optins": group.setl_optins,
        "reason": reason,
        "message": message,
        "fields": list(fields),
        "ours": ours,
        "platform": platform,
    }


def _our_settlement(batch: SettlementBatch, plan: Plan, group: Group, m) -> Settlement | None:
    """The settlement of ours a 3202 mismatch concerns: by platform ID, by our number in the
    month, or (settled before midnight, uploaded after) by our number in another month."""
    by_setl = {s.setl_id: s for s in group.settlements if s.setl_id}
    by_no = plan.by_no  # the whole month's, whatever their scope
    ours = by_setl.get(m.setl_id) or by_no.get(m.fixmedins_setl_id)
    if ours is None and m.platform is not None:
        ours = by_no.get(m.platform.fixmedins_setl_id)
    if ours is None:
        ours = Settlement.objects.filter(
            institution_id=batch.institution_id,
            settlement_no=m.fixmedins_setl_id
            or (m.platform.fixmedins_setl_id if m.platform else ""),
        ).first()
    return ours


def _mismatch_found(batch: SettlementBatch, plan: Plan, group: Group, m) -> tuple[str, dict]:
    """One 3202 mismatch as (budget line of our settlement or "", entry)."""
    ours = _our_settlement(batch, plan, group, m)
    return (
        ours.budget_line if ours is not None else "",
        _entry(
            group=group,
            reason=str(m.reason),
            message=m.message,
            setl_id=m.setl_id,
            fixmedins_setl_id=m.fixmedins_setl_id,
            fields=m.fields,
            ours=_detail(ours) if ours is not None else None,
            platform=_platform_detail(m.platform),
        ),
    )


def _totals_entry(group: Group, totals, answer) -> dict:
    """The entry when the totals differ but no single settlement was named."""
    return _entry(
        group=group,
        reason="totals_differ",
        message=answer.message or "对账总额不符",
        ours={
            "medfee_sumamt": str(totals.medfee_sumamt),
            "fund_pay_sumamt": str(totals.fund_pay_sumamt),
            "acct_pay": str(totals.acct_pay),
            "fixmedins_setl_cnt": totals.fixmedins_setl_cnt,
        },
        platform=_platform_totals(answer.platform),
    )


def _ask(
    client: PlatformClient, batch: SettlementBatch, plan: Plan, group: Group
) -> list[tuple[str, dict]]:
    """3201 for the group, 3202 where it differs: mismatches as (budget line or "", entry).

    The line is the one of our settlement a mismatch concerns; "" when we know no such
    settlement (kept on every batch of the month).
    """
    first, last = month_bounds(batch.month)
    scope = wire.ReconciliationScope(
        insutype=group.insutype,
        clr_type=wire.CLR_TYPE[CHANNEL[batch.institution.kind]],
        setl_optins=group.setl_optins,
        begin=first,
        end=last,
    )
    totals = group.totals()
    found: list[tuple[str, dict]] = [
        (
            s.budget_line,
            _entry(
                group=group,
                reason="not_uploaded",
                message="该结算尚未上传医保平台（无平台结算ID）",
                fixmedins_setl_id=s.settlement_no,
                ours=_detail(s),
            ),
        )
        for s in group.live
        if not s.setl_id
    ]
    if wire.reconcile_totals(client, scope, totals).matched:
        return found
    answer = wire.reconcile_details(client, scope, totals, group.details())
    if answer.matched:
        return found
    found += [_mismatch_found(batch, plan, group, m) for m in answer.mismatches]
    if not found and any(s.budget_line == batch.budget_line for s in group.live):
        found.append((batch.budget_line, _totals_entry(group, totals, answer)))
    return found


def batch_reconcile(*, actor: User, batch_id: int) -> SettlementBatch:
    """Reconcile the batch with the platform (3201, then 3202 where the totals differ) and store
    whether it matched, when, and the mismatches (setl_id, fixmedins_setl_id, reason, ours,
    platform). The platform is called outside any transaction (see the module's notes)."""
    require_role(actor, Role.PHARMACIST, Role.REVIEWER)
    batch, role = staff_batch(actor, batch_id, lock=False)
    _require_reconcilable(batch)
    plan = _plan(batch)
    client = PlatformClient(batch.institution, actor)
    try:
        found = [item for group in plan.groups for item in _ask(client, batch, plan, group)]
    except PlatformError as exc:
        raise DomainError(
            codes.PLATFORM_UNAVAILABLE, f"医保平台对账失败：{exc.err_msg}", status=502
        ) from exc
    mismatches = [entry for line, entry in found if line in ("", batch.budget_line)]
    with transaction.atomic():
        locked = find_batch(batch.pk, lock=True)
        _require_reconcilable(locked)
        if _plan(locked).fingerprint != plan.fingerprint:
            raise Conflict(codes.BATCH_CHANGED, "对账期间本月结算或申报发生变化，请重新对账")
        before = snapshot(locked)
        locked.reconciled_at = timezone.now()
        locked.reconciliation_matched = not mismatches
        locked.mismatches = mismatches
        locked.save(update_fields=["reconciled_at", "reconciliation_matched", "mismatches"])
        audit.record(
            actor=actor,
            action="settlement.batch_reconciled",
            subject=locked,
            before=before,
            after=locked,
            role=role,
            summary={
                "month": f"{locked.month:%Y-%m}",
                "budget_line": locked.budget_line,
                "matched": locked.reconciliation_matched,
                "mismatches": len(mismatches),
                "scopes": [f"{g.insutype}/{g.setl_optins}" for g in plan.groups],
            },
        )
    return locked


def _require_reconcilable(batch: SettlementBatch) -> None:
    if batch.status in FROZEN:
        raise Conflict(codes.BATCH_FROZEN, f"该月申报已{batch.get_status_display()}，不能重新对账")
    if not platform_connected(batch.institution):
        raise DomainError(
            codes.NOT_CONNECTED, "本机构未接入医保平台（无12位定点机构编码），不能对账"
        )
    if batch.settlement_count == 0:
        raise Conflict(codes.BATCH_EMPTY, "该月申报没有结算记录")
