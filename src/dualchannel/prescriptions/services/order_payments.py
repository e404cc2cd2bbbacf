"""What an online order pays on the phone (payments app) [CX art. 22]: a 网订店送 order's
personal part and fee, a 网订店取 order's personal part when the patient chose 在线支付. The
order waits for the payment (待支付) with its boxes held for the payment's time; paid, the
pharmacy prepares it (delivery) or it waits for its pick-up window (待取药); not paid in time, it
expires and gives the boxes back; cancelled after paying, all that was paid is refunded. The
payment's hooks run in the payment's own transaction (``register_hooks``)."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.inventory.holds import stock_holds_lock
from dualchannel.notifications.services import notify
from dualchannel.payments import hooks
from dualchannel.payments.models import PaymentOrder, PaymentRefund
from dualchannel.payments.services import payment_create, payment_refund

from .. import error_codes as codes
from ..models import OnlineOrder, OrderStatus
from ..workflow import drug_names, sale_reference
from .online_payment import amount_due
from .orders import end_order, locked_order, order_notify, order_paid_advance

PURPOSE = "online_order"


def order_payment_open(*, actor: User, order_id: int) -> PaymentOrder:
    """The payment of the order's fee and personal part at the provider (asked outside any
    transaction); the same order asks again with the same key, so a retry opens the same
    payment (and an amount differing from it, to the fen, is refused)."""
    order = OnlineOrder.objects.filter(
        pk=order_id, prescription__patient_id=actor.insured_person_id
    ).first()
    if order is None:
        raise NotFound(codes.ORDER_NOT_FOUND, "订单不存在")
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise DomainError(codes.ORDER_TRANSITION, "订单无需支付")
    what = (
        "配送费" if order.personal_due is None else "个人自付及配送费" if order.fee else "个人自付"
    )
    payment = payment_create(
        payer_user=actor,
        amount=amount_due(order),
        subject=f"双通道药品{what}（订单{order.order_no}）",
        purpose=PURPOSE,
        reference_type="prescriptions.onlineorder",
        reference_id=order.pk,
        expires_at=order.hold_until,
        idempotency_key=f"online-order:{order.pk}",
    )
    with transaction.atomic():
        locked = locked_order(order.pk)
        if locked.payment_id is None:
            locked.payment = payment
            locked.save(update_fields=["payment", "updated_at"])
    return payment


def _order_of(payment: PaymentOrder) -> OnlineOrder:
    return locked_order(payment.reference_id)


def _on_paid(payment: PaymentOrder) -> None:
    """Paid: the pharmacy prepares it (delivery) or it waits for its window (pick-up), the boxes
    held on (``order_paid_advance``). Paid for an order cancelled meanwhile: refunded at once."""
    order = _order_of(payment)
    if order.status != OrderStatus.PENDING_PAYMENT:
        payment_refund(payment, payment.amount, "订单已取消", f"online-order-void:{order.pk}")
        return
    order_paid_advance(payment, order, reason="已在线支付")
    order_notify(None, order)


def _on_expired(payment: PaymentOrder) -> None:
    """Not paid in time: the order expires and its boxes go back to sale."""
    order = _order_of(payment)
    if order.status == OrderStatus.PENDING_PAYMENT:
        end_order(None, order, OrderStatus.EXPIRED, "未在规定时间内支付")


def _on_refunded(payment: PaymentOrder, refund: PaymentRefund) -> None:
    """A refund reached the patient (an order ended before dispensing, or its settlement
    reversed): they are told how much came back and why."""
    order = _order_of(payment)
    notify(
        template="prescriptions.order",
        context={
            "drug_name": drug_names(order.prescription),
            "order_no": order.order_no,
            "prescription_no": order.prescription.prescription_no,
            "status": "已退款",
            "progress": f"已原路退回{refund.amount}元（{refund.reason}）",
        },
        person=order.prescription.patient,
        actor=None,
    )


def _lock(order_id: int) -> None:
    """Before the payment row (core.locks): the order, then its holds (by their keys, so that
    the hooks below take them again)."""
    order = locked_order(order_id)
    stock_holds_lock(sale_reference(order.prescription))


def register_hooks() -> None:
    hooks.register(
        PURPOSE,
        lock=_lock,
        on_paid=_on_paid,
        on_expired=_on_expired,
        on_refunded=_on_refunded,
        # back from the cashier: the order's page on the phone
        return_url=lambda payment: reverse("portal-order", args=[payment.reference_id]),
    )
