"""An eligibility revoked for fraud and the recovery of what the fund paid under it [HB art. 12;
art. 21–22 for the recovery; CX art. 13].

One business action, one transaction: the eligibility's own change (``eligibility_revoke``:
locks the eligibility, moves it to revoked with the reason and evidence, ends its filing, tells
the patient) and a recovery order per institution for the settlements paid under it
(``recovery_raise_for_settlements`` with ``RecoveryBasis.ELIGIBILITY_REVOKED``: locks the
settlements after the eligibility, ``core.locks`` order).

Which settlements were paid under it: those of prescriptions under the eligibility settled on
or after the date the fraud began (the officer's, default the eligibility's start), not
reversed, not a manual claim (paid to the person, not to an institution: left to the
agency's own procedure), on no live recovery order, at an institution of the officer's region
(another region's agency recovers its own). The counts left out are in the audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction

from dualchannel.core import audit
from dualchannel.core.locks import lock_ids
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.eligibility import services as eligibility_services
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.services import EvidenceFile, lock_eligibility_for_officer
from dualchannel.registry.selectors import officer_region

from ..models import (
    RecoveryBasis,
    RecoveryOrder,
    RecoveryStatus,
    Settlement,
    SettlementKind,
    SettlementStatus,
)
from .recovery import recovery_raise_for_settlements

LIVE_ORDER = (RecoveryStatus.PENDING, RecoveryStatus.DEDUCTED)


@dataclass(frozen=True)
class RevocationResult:
    eligibility: Eligibility
    orders: list[RecoveryOrder]
    settlements: int  # listed for recovery
    left_out: dict[str, int]  # why others under the eligibility were not listed


def paid_under(actor: User, eligibility: Eligibility, since: date) -> tuple[list[int], dict]:
    """The settlements paid under the eligibility since ``since`` that the officer recovers,
    and the counts of those left out, by reason."""
    under = Settlement.objects.filter(
        prescription__eligibility=eligibility,
        settled_on__gte=since,
        status=SettlementStatus.SETTLED,
    )
    on_order = set(
        under.filter(recovery_items__order__status__in=LIVE_ORDER).values_list("pk", flat=True)
    )
    manual = set(under.filter(kind=SettlementKind.MANUAL).values_list("pk", flat=True))
    region = None if actor.is_superuser else officer_region(actor)
    ids, elsewhere = [], 0
    for pk, region_code in under.values_list("pk", "institution__region_id").order_by("pk"):
        if pk in on_order or pk in manual:
            continue
        if region is not None and not region_code.startswith(region.code_prefix):
            elsewhere += 1
            continue
        ids.append(pk)
    return ids, {"on_live_order": len(on_order), "manual": len(manual), "other_region": elsewhere}


def eligibility_revoke_for_fraud(
    *,
    actor: User,
    eligibility_id: int,
    kind: str,
    reason: str,
    evidence: str = "",
    fraud_from: date | str | None = None,
    file: EvidenceFile | None = None,
    today: date | None = None,
) -> RevocationResult:
    """Revoke the eligibility for fraud and recover what the fund paid under it since the fraud
    began [HB art. 12, 21–22]; refused with nothing written on a missing reason, an unknown
    kind, a bad date or file, or an eligibility outside the officer's region."""
    require_role(actor, Role.AGENCY_OFFICER)
    checked = eligibility_services.revocation_checked(
        kind=kind, reason=reason, evidence=evidence, fraud_from=fraud_from, file=file, today=today
    )
    with transaction.atomic():
        # locks before any write (the audit head is the last lock): eligibility, settlements
        locked = lock_eligibility_for_officer(actor, eligibility_id)
        since = checked.fraud_from or locked.effective_from
        candidates, _ = paid_under(actor, locked, since)
        lock_ids(Settlement, candidates)
        # again under the locks: a finding that raised its order meanwhile keeps its settlement
        ids, left_out = paid_under(actor, locked, since)
        ids = [i for i in ids if i in set(candidates)]
        eligibility = eligibility_services.eligibility_revoke(
            actor=actor, eligibility_id=eligibility_id, revocation=checked, today=today
        )
        orders = []
        if ids:
            orders = recovery_raise_for_settlements(
                actor=actor,
                settlement_ids=ids,
                basis=RecoveryBasis.ELIGIBILITY_REVOKED,
                reason=f"用药资格取消（{eligibility.get_revocation_kind_display()}）：{checked.reason}"[
                    :500
                ],
                evidence=checked.evidence,
            )
        audit.record(
            actor=actor,
            action="settlement.eligibility_revoked_recovery",
            subject=eligibility,
            patient=eligibility.patient,
            role=Role.ADMIN if actor.is_superuser else Role.AGENCY_OFFICER,
            summary={
                "eligibility": eligibility.pk,
                "kind": checked.kind,
                "fraud_from": eligibility.fraud_from.isoformat(),
                "settlements": len(ids),
                "orders": [o.order_no for o in orders],
                "left_out": left_out,
            },
        )
    return RevocationResult(eligibility, orders, len(ids), left_out)
