"""The personal part of a 网订店送 order paid on the phone [CX art. 22 网上支付、移动支付].

When the patient places a delivery order the boxes are held (``orders.order_place_delivery``),
and so its price is known: settlement (a floor above, handed down in its ``AppConfig.ready()``
with ``personal_pricing_register``) pre-settles the held batches as the platform's 2101 would.
The patient is shown the split (fund, critical illness, assistance, personal part) and pays the
personal part and the delivery fee in one payment order (``order_payments``); unpaid in time,
the order expires and its boxes go back. The fund's part is settled (2102) when the pharmacy
ships the dispensed order (``order_ship`` calls ``ship_settle`` first), never before the goods
leave for the patient; a reversal of that settlement refunds the personal part (settlement's
``online_paid``). A 网订店取 order is paid at the counter when it is picked up, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from dualchannel.core import audit
from dualchannel.core.errors import DomainError
from dualchannel.core.models import User
from dualchannel.core.statemachine import transition
from dualchannel.inventory.holds import stock_hold_extend

from ..models import DeliveryMode, OnlineOrder, OrderStatus
from ..workflow import sale_reference

logger = logging.getLogger(__name__)
# the amounts of a pre-settlement shown to the patient, in this order
SPLIT = ("total", "fund", "critical_illness", "assistance", "commercial", "personal")


@dataclass(frozen=True)
class PersonalPricing:
    # (actor, order with its boxes held) -> the 2101 split of ``SPLIT`` (Decimal yuan), or a
    # DomainError that refuses the order (no benefits, out of area without filing...)
    quote: Callable[[User, OnlineOrder], Mapping[str, Decimal]]
    # (actor, order_id): settles the dispensed order (2102) inside the shipping transaction,
    # before the order row is locked (core.locks: the person comes first)
    settle: Callable[[User, int], Any]


_pricing: list[PersonalPricing] = []


def personal_pricing_register(
    *, quote: Callable[..., Mapping[str, Decimal]], settle: Callable[..., Any]
) -> None:
    """Settlement hands down its pre-settlement and settlement (a second call replaces)."""
    _pricing[:] = [PersonalPricing(quote=quote, settle=settle)]


def pays_personal_online(mode: str) -> bool:
    """A delivery order pays its personal part on the phone (the patient is not at the counter)."""
    return bool(_pricing) and mode != DeliveryMode.ONLINE_PICKUP


def amount_due(order: OnlineOrder) -> Decimal:
    """What the order's one payment asks: the personal part (if paid online) and the fee."""
    return order.fee + (order.personal_due or Decimal(0))


def order_quote(actor: User, order: OnlineOrder, *, prepare_until: datetime) -> None:
    """In the placing transaction, after the boxes are held: the pre-settlement is kept on the
    order; with nothing to pay (the fund pays all, no fee) it goes straight to the pharmacy."""
    try:
        split = _pricing[0].quote(actor, order)
    except DomainError as exc:  # the order is refused with it: logged by its code only
        logger.info("online order refused at pre-settlement: %s", exc.code)
        raise
    order.personal_due = split["personal"]
    order.presettlement = {name: str(split[name]) for name in SPLIT}
    order.save(update_fields=["personal_due", "presettlement", "updated_at"])
    audit.record(
        actor=actor,
        action="prescriptions.order_presettled",
        subject=order,
        patient=order.prescription.patient,
        summary={"order_no": order.order_no, **order.presettlement, "fee": str(order.fee)},
    )
    if amount_due(order) == 0 and order.status == OrderStatus.PENDING_PAYMENT:
        stock_hold_extend(reference=sale_reference(order.prescription), expires_at=prepare_until)
        transition(
            order,
            OrderStatus.PREPARING,
            actor=actor,
            reason="无需线上支付",
            changes={"hold_until": prepare_until},
        )


def ship_settle(actor: User, order_id: int) -> None:
    """Before the pharmacy ships an order whose personal part was paid online: its settlement
    (2102) in the shipping transaction; a refusal there (an amount that changed) stops the
    shipping with nothing written."""
    if not _pricing:
        return
    due = OnlineOrder.objects.filter(pk=order_id).values_list("personal_due", flat=True).first()
    if due is not None:
        _pricing[0].settle(actor, order_id)
