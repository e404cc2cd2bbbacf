"""Stock held for online orders (网订店取 / 网订店送) [CX art. 22]: boxes kept out of sale until
the order is dispensed, cancelled or its time runs out.

The caller (the online order's service) runs each function inside its own business transaction.
Placing a hold locks the drug's batches at the pharmacy, so that two orders never hold the same
last box; ending holds locks them before any batch (``core.locks`` order: stock hold, payment,
stock item), so the counter locks an order's holds before its sale locks the batches. The counter's
sale of the same prescription may take the boxes held for it (``sales.sale_refusals``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import DomainError
from dualchannel.core.locks import lock_rows
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role

from . import error_codes as codes
from .models import HoldStatus, StockHold, StockItem
from .selectors import held_quantities


def _locked_batches(pharmacy_id: int, drug_ids: list[int], on) -> list[StockItem]:
    """The drugs' sellable batches at the pharmacy, locked in pk order, FEFO-sorted."""
    rows = lock_rows(
        StockItem.objects.filter(
            pharmacy_id=pharmacy_id, drug_id__in=drug_ids, quantity__gt=0, expiry_date__gte=on
        ).select_related("drug")
    )
    return sorted(rows, key=lambda item: (item.expiry_date, item.batch_no, item.pk))


def stock_hold_place(
    *,
    actor: User,
    pharmacy_id: int,
    wanted: Mapping[int, int],
    reference: str,
    expires_at: datetime,
    person=None,
) -> list[StockHold]:
    """Hold ``wanted`` boxes per drug (earliest expiry first) until ``expires_at``."""
    now = timezone.now()
    if not reference or expires_at <= now or not wanted or min(wanted.values()) <= 0:
        raise DomainError(codes.HOLD_INVALID, "库存保留参数无效")
    batches = _locked_batches(pharmacy_id, sorted(wanted), timezone.localdate())
    held = held_quantities([item.pk for item in batches], now=now)
    holds: list[StockHold] = []
    for drug_id, packages in sorted(wanted.items()):
        remaining = packages
        for item in (b for b in batches if b.drug_id == drug_id):
            take = min(item.quantity - held.get(item.pk, 0), remaining)
            if take > 0:
                holds.append(StockHold(stock_item=item, quantity=take, reference=reference))
                remaining -= take
        if remaining > 0:
            name = next((b.drug.generic_name for b in batches if b.drug_id == drug_id), "所需药品")
            raise DomainError(
                codes.HOLD_INSUFFICIENT,
                f"{name}可售库存不足{packages}盒（含已为他人网上订单保留的），请更换药店或稍后再试",
            )
    for hold in holds:
        hold.expires_at, hold.created_at = expires_at, now
    StockHold.objects.bulk_create(holds)
    audit.record(
        actor=actor,
        action="inventory.stock_held",
        subject=holds[0].stock_item,
        patient=person,
        role=actor_role(actor),
        summary={
            "reference": reference,
            "holds": [[h.stock_item_id, h.quantity] for h in holds],
            "expires_at": expires_at.isoformat(),
        },
    )
    return holds


def stock_holds_lock(reference: str) -> list[StockHold]:
    """The active holds of ``reference``, locked by their keys (pk order): a caller that must
    lock them before the batches (the counter, before its sale) takes them again later."""
    pks = list(
        StockHold.objects.filter(reference=reference, status=HoldStatus.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    if not pks:
        return []
    rows = lock_rows(StockHold.objects.filter(pk__in=pks).select_related("stock_item"))
    return [row for row in rows if row.status == HoldStatus.ACTIVE]


def _close(actor: User | None, reference: str, to: str, reason: str, person=None) -> int:
    rows = stock_holds_lock(reference)
    if not rows:
        return 0
    now = timezone.now()
    StockHold.objects.filter(pk__in=[h.pk for h in rows]).update(status=to, closed_at=now)
    audit.record(
        actor=actor,
        action=f"inventory.stock_hold_{to}",
        subject=rows[0].stock_item,
        patient=person,
        role=actor_role(actor) if actor is not None else "",
        summary={"reference": reference, "holds": [h.pk for h in rows], "reason": reason},
    )
    return len(rows)


def stock_hold_release(*, actor: User | None, reference: str, reason: str, person=None) -> int:
    """Give the boxes held for ``reference`` back to sale (cancelled, expired); how many holds."""
    return _close(actor, reference, HoldStatus.RELEASED, reason, person)


def stock_hold_consume(*, actor: User, reference: str, person=None) -> int:
    """The counter sold the held boxes to their holder: the holds end as sold."""
    return _close(actor, reference, HoldStatus.CONSUMED, "售出", person)


def stock_hold_extend(*, reference: str, expires_at: datetime, placed_here: bool = False) -> int:
    """Keep ``reference``'s active holds until ``expires_at`` (an order paid: it is prepared).
    ``placed_here``: the holds were placed by this very transaction (an order with nothing to
    pay online moves on as it is placed): no other transaction sees them, so they are not
    locked again (core.locks: the batches, locked to place them, come after the holds)."""
    if placed_here:
        active = StockHold.objects.filter(reference=reference, status=HoldStatus.ACTIVE)
        return active.update(expires_at=expires_at)
    rows = stock_holds_lock(reference)
    StockHold.objects.filter(pk__in=[h.pk for h in rows]).update(expires_at=expires_at)
    return len(rows)
