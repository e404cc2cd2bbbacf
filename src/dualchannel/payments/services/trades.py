"""What the provider says of a transaction, recorded once: by its notify or by our query.

Money is taken at most once: the order row is locked, the provider's ``transaction_id`` is
recorded with the move to PAID (unique in the table), and a second word about the same
transaction (a repeated notify, a query after the notify) finds it recorded and writes nothing.
A payment confirmed after the order was closed (the payer paid as it expired, or the close did
not reach the provider) is not lost: it is recorded the same way and refunded automatically,
in the same transaction, so it is returned exactly once.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from dualchannel.core.statemachine import transition

from ..amounts import from_fen, to_fen
from ..hooks import hooks_for
from ..models import PaymentOrder, PaymentStatus
from ..providers import TradeState
from .common import lock_order, logger, refused
from .refunds import refund_open

PAID_STATES = ("SUCCESS", "REFUND")  # REFUND: paid, then (some of it) refunded
LATE_REFUND_REASON = "订单已超时关闭，自动退款"


def trade_check(order: PaymentOrder, trade: TradeState) -> None:
    """The provider's facts must be ours to the fen; anything else is refused, nothing written."""
    if trade.out_trade_no != order.out_trade_no:
        raise refused("商户订单号不符")
    if trade.total_fen != to_fen(order.amount):
        raise refused("支付金额与订单金额不符")
    if trade.state in PAID_STATES and not trade.transaction_id:
        raise refused("缺少支付渠道交易号")
    if (
        order.transaction_id
        and trade.transaction_id
        and order.transaction_id != trade.transaction_id
    ):
        raise refused("同一订单出现第二笔交易")


def trade_record(order_id: int, trade: TradeState, *, source: str) -> PaymentOrder:
    """Record a paid trade once (``source``: notify | query); unpaid states change nothing."""
    with transaction.atomic():
        order = lock_order(order_id)
        trade_check(order, trade)
        if trade.state not in PAID_STATES or order.transaction_id:
            return order  # not paid, or already recorded: idempotent on transaction_id
        changes = {
            "transaction_id": trade.transaction_id,
            "paid_amount": from_fen(trade.total_fen),
            "paid_at": trade.success_time or timezone.now(),
        }
        hooks = hooks_for(order.purpose)
        if order.status == PaymentStatus.CREATED:
            transition(order, PaymentStatus.PAID, actor=None, changes=changes, source=source)
            hooks.on_paid(order)
        elif order.status == PaymentStatus.CLOSED:
            transition(
                order,
                PaymentStatus.REFUNDING,
                actor=None,
                reason=LATE_REFUND_REASON,
                changes={**changes, "late_paid": True},
                source=source,
                late=True,
            )
            refund_open(
                order,
                amount=order.paid_amount,
                reason=LATE_REFUND_REASON,
                idempotency_key=f"late:{order.out_trade_no}",
                automatic=True,
                actor=None,
            )
            hooks.on_late_paid(order)
            logger.warning("payments: %s paid after it closed, refunding", order.out_trade_no)
        else:
            raise refused("订单状态不允许记录支付")
        return order
