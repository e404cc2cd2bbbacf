"""The personal part of an online order paid on the phone [CX art. 22 网上支付、移动支付]: always
for 网订店送, for 网订店取 when the patient chooses 在线支付 (else it is paid at the counter).

When the patient places the order the boxes are held (``orders.order_place_*``), and so its
price is known: settlement (a floor above, handed down in its ``AppConfig.ready()``
with ``personal_pricing_register``) pre-settles the held batches as the platform's 2101 would.
The patient is shown the split (fund, critical illness, assistance, personal part) and pays the
personal part and the delivery fee in one payment order (``order_payments``); unpaid in time,
the order expires and its boxes go back. The fund's part is settled (2102) when the pharmacy
ships the dispensed order (``order_ship`` calls ``ship_settle`` first), never before the goods
leave for the patient; a paid pick-up order is settled by the counter's settle after the
hand-over, through the same online path (settlement's ``settlement_settle_at_counter``). Either
order's dispensing is refused when the counter's 2101 of the dispensed boxes differs from what
was paid (``dispense_check``), while the order may still be cancelled. A reversal of that
settlement refunds the personal part (settlement's ``online_paid``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.models import User

from .. import error_codes as codes
from ..models import DeliveryMode, OnlineOrder

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
    # (actor, prescription_id): the personal part the counter's 2101 of the dispensed boxes
    # asks now (nothing locked or written), or a DomainError; None: not checked
    personal_now: Callable[[User, int], Decimal] | None = None


_pricing: list[PersonalPricing] = []


def personal_pricing_register(
    *,
    quote: Callable[..., Mapping[str, Decimal]],
    settle: Callable[..., Any],
    personal_now: Callable[..., Decimal] | None = None,
) -> None:
    """Settlement hands down its pre-settlement and settlement (a second call replaces)."""
    _pricing[:] = [PersonalPricing(quote=quote, settle=settle, personal_now=personal_now)]


def online_payment_available() -> bool:
    return bool(_pricing)


def pays_personal_online(mode: str) -> bool:
    """A delivery order pays its personal part on the phone (the patient is not at the counter);
    a pick-up order only when the patient chooses to (``order_place_pickup(pay_online=True)``)."""
    return bool(_pricing) and mode != DeliveryMode.ONLINE_PICKUP


def amount_due(order: OnlineOrder) -> Decimal:
    """What the order's one payment asks: the personal part (if paid online) and the fee."""
    return order.fee + (order.personal_due or Decimal(0))


def order_quote(actor: User, order: OnlineOrder) -> None:
    """In the placing transaction, after the boxes are held: the pre-settlement is kept on the
    order (with nothing to pay the caller moves it on at once, ``orders.order_paid_advance``)."""
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


def ship_settle(actor: User, order_id: int) -> None:
    """Before the pharmacy ships an order whose personal part was paid online: its settlement
    (2102) in the shipping transaction; a refusal there (an amount that changed) stops the
    shipping with nothing written."""
    if not _pricing:
        return
    due = OnlineOrder.objects.filter(pk=order_id).values_list("personal_due", flat=True).first()
    if due is not None:
        _pricing[0].settle(actor, order_id)


def dispense_check(actor: User, order: OnlineOrder) -> None:
    """In the counter's dispensing transaction, after the sale: an order whose personal part was
    paid on the phone is dispensed (a pick-up order handed over) only when the counter's 2101 of
    the dispensed boxes asks exactly what was paid; otherwise the dispensing is refused with
    nothing written (the pharmacist dispenses the held batch, or the order is cancelled, refunded
    in full, and the drug sold at the counter as usual). Checked here rather than only when a
    delivery ships: a dispensed order can no longer be cancelled."""
    if order.personal_due is None or not _pricing or _pricing[0].personal_now is None:
        return
    now = _pricing[0].personal_now(actor, order.prescription_id)
    if now != order.personal_due:
        logger.info("online order dispensing refused: %s", codes.ORDER_AMOUNT_CHANGED)
        raise Conflict(
            codes.ORDER_AMOUNT_CHANGED,
            f"按本次发药结算个人自付{now}元，与参保人线上已付{order.personal_due}元不符，"
            "不能发药。请按订单预留的批次发药；或取消该订单（线上已付款项全额退回）后按到店购药办理",
        )
