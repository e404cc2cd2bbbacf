"""A settlement whose personal part was paid on the phone (an online delivery order, or a
pick-up order paid 在线支付, ``online.py``): the counter may not collect it a second time, and
a reversal refunds it.

Kept apart from ``online.py`` so that the counter's settle and reversal (``counter.py``) can use
it without importing what imports them.
"""

from __future__ import annotations

from decimal import Decimal

from dualchannel.core.errors import Conflict
from dualchannel.core.jobs import enqueue
from dualchannel.payments.services import payment_refund
from dualchannel.prescriptions.models import DeliveryMode, Dispensing, OnlineOrder

from .. import error_codes as codes
from ..models import Settlement

ONLINE_REFUND_JOB = "settlement.online_refund"
# the ways to the patient whose order may pay the personal part on the phone (online_payment):
# a delivery order always, a pick-up order when the patient chose to (its ``personal_due``)
ONLINE_PAID_MODES = (
    DeliveryMode.HOME_DELIVERY,
    DeliveryMode.COLD_CHAIN_TO_HOSPITAL,
    DeliveryMode.ONLINE_PICKUP,
)


def online_key(order_id: int) -> str:
    """The idempotency key of an online order's settlement (one per order)."""
    return f"online-order:{order_id}"


def require_payable_here(dispensing: Dispensing, *, paid_online: bool) -> None:
    """The counter settles a dispensing whose personal part it collects itself; an online order
    whose personal part was paid on the phone is settled when it ships, a pick-up one by the
    counter's settle through the online path (``online.py``), unless that settlement was reversed
    (then the counter collects it, as for any sale)."""
    if not paid_online and dispensing.delivery_mode not in ONLINE_PAID_MODES:
        return  # handed over at the counter: no online payment to look for (no statement)
    order = OnlineOrder.objects.filter(dispensing=dispensing).values("pk", "personal_due").first()
    online = order is not None and order["personal_due"] is not None
    if paid_online and not online:
        raise Conflict(codes.NOT_PAID_ONLINE, "该笔发药不是线上支付个人自付部分的订单")
    if online and not paid_online:
        settled_before = Settlement.objects.filter(
            dispensing=dispensing, idempotency_key=online_key(order["pk"])
        ).exists()
        if not settled_before:
            raise Conflict(
                codes.PAID_ONLINE,
                "该订单的个人自付部分已由参保人线上支付，请按线上已付办理医保结算，请勿在柜台收费"
                if dispensing.delivery_mode == DeliveryMode.ONLINE_PICKUP
                else "该订单的个人自付部分已由参保人线上支付，发货时自动完成医保结算，"
                "请勿在柜台收费结算",
            )


def queue_online_refund(settlement: Settlement) -> None:
    """In the reversal's transaction: the personal part paid online goes back to the payer,
    by a job (the payment's own transaction locks the order before the payment, core.locks)."""
    if settlement.online_payment_id is not None and settlement.personal > 0:
        enqueue(
            ONLINE_REFUND_JOB,
            {"settlement_id": settlement.pk},
            key=f"{ONLINE_REFUND_JOB}:{settlement.pk}",
            institution_id=settlement.institution_id,
        )


def online_refund(settlement_id: int) -> None:
    """Refund a reversed settlement's personal part paid online, exactly once (the refund's
    idempotency key is the settlement's); a refund still in flight at the provider makes the
    job try again later."""
    settlement = Settlement.objects.select_related("online_payment").get(pk=settlement_id)
    if settlement.online_payment is None or settlement.personal <= Decimal(0):
        return
    payment_refund(
        settlement.online_payment,
        settlement.personal,
        f"冲销结算{settlement.settlement_no}，退还个人自付"[:80],
        f"online-reverse:{settlement.pk}",
    )
