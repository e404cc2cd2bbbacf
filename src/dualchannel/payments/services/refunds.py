"""Refunds: opened in the caller's transaction, submitted to the provider by a job, settled by
the provider's refund notify or our refund query; each refund returns its money exactly once."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.idempotency import checked_key
from dualchannel.core.jobs import enqueue
from dualchannel.core.money import parse_money
from dualchannel.core.statemachine import transition

from .. import error_codes as codes
from ..amounts import to_fen
from ..hooks import hooks_for
from ..models import REFUND_MACHINE, PaymentOrder, PaymentRefund, PaymentStatus, RefundStatus
from ..providers import ProviderError, RefundState, provider_for
from .common import lock_order, lock_refund, logger, new_number, refused

REFUND_SUBMIT = "payments.refund_submit"
REFUNDABLE = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)


def refund_open(
    order: PaymentOrder,
    *,
    amount: Decimal,
    reason: str,
    idempotency_key: str,
    automatic: bool,
    actor,
) -> PaymentRefund:
    """Write the refund (order already locked and moved to REFUNDING) and queue its submission."""
    refund = PaymentRefund.objects.create(
        order=order,
        out_refund_no=new_number("RF"),
        amount=amount,
        reason=reason,
        idempotency_key=idempotency_key,
        automatic=automatic,
    )
    audit.record(
        actor=actor,
        action="payments.refund_created",
        subject=refund,
        after=refund,
        summary={
            "out_refund_no": refund.out_refund_no,
            "out_trade_no": order.out_trade_no,
            "amount": str(amount),
            "automatic": automatic,
        },
    )
    enqueue(
        REFUND_SUBMIT, {"refund_id": refund.pk}, key=f"{REFUND_SUBMIT}:{refund.pk}", new_key=True
    )
    return refund


def payment_refund(
    order: PaymentOrder,
    amount: Decimal,
    reason: str,
    idempotency_key: str,
    *,
    actor=None,
) -> PaymentRefund:
    """Return ``amount`` of a paid order (a reversal); no network here, so a caller may call it
    inside its own transaction. The same key returns the same refund."""
    key = checked_key(idempotency_key, code=codes.INVALID_FIELD)
    amount = parse_money(amount, field="amount", code=codes.INVALID_AMOUNT, positive=True)
    reason = (reason or "").strip()
    if not reason or len(reason) > 80:
        raise DomainError(codes.INVALID_FIELD, "退款原因应为1–80个字", fields={"reason": ["必填"]})
    with transaction.atomic():
        locked = lock_order(order.pk)
        existing = PaymentRefund.objects.filter(idempotency_key=key).first()
        if existing is not None:
            if existing.order_id != locked.pk or existing.amount != amount:
                raise Conflict(codes.IDEMPOTENCY_MISMATCH, "同一幂等键已用于另一笔退款")
            return existing
        if locked.status not in REFUNDABLE:
            if locked.status == PaymentStatus.REFUNDING:
                raise Conflict(codes.ORDER_TRANSITION, "上一笔退款尚在处理中，请稍后再试")
            raise Conflict(codes.NOT_PAID, "订单未支付或已全额退款，不能退款")
        if amount > locked.paid_amount - locked.refunded_amount:
            raise DomainError(codes.REFUND_EXCEEDS_PAID, "退款金额超过可退金额")
        transition(locked, PaymentStatus.REFUNDING, actor=actor, reason=reason)
        return refund_open(
            locked, amount=amount, reason=reason, idempotency_key=key, automatic=False, actor=actor
        )


def refund_submit(refund_id: int) -> PaymentRefund:
    """Send a written refund to the provider (idempotent there on ``out_refund_no``)."""
    refund = PaymentRefund.objects.select_related("order").get(pk=refund_id)
    if refund.status != RefundStatus.SUBMITTING:
        return refund
    order = refund.order
    try:
        state = provider_for(order.provider).refund(
            out_trade_no=order.out_trade_no,
            out_refund_no=refund.out_refund_no,
            reason=refund.reason,
            refund_fen=to_fen(refund.amount),
            total_fen=to_fen(order.paid_amount),
        )
    except ProviderError as exc:
        if exc.code == "NETWORK" or exc.status >= 500:
            raise  # the job retries with back-off
        logger.warning("payments: refund %s refused (%s)", refund.out_refund_no, exc.code)
        state = RefundState(
            out_refund_no=refund.out_refund_no,
            status="CLOSED",
            refund_fen=to_fen(refund.amount),
            total_fen=to_fen(order.paid_amount),
        )
    return refund_record(refund.pk, state, source="submit")


def refund_sync(refund: PaymentRefund) -> PaymentRefund:
    """Ask the provider how a refund stands (no notify came) and record it."""
    if refund.status == RefundStatus.SUBMITTING:
        return refund_submit(refund.pk)
    state = provider_for(refund.order.provider).refund_query(refund.out_refund_no)
    return refund_record(refund.pk, state, source="query")


def refund_check(order: PaymentOrder, refund: PaymentRefund, state: RefundState) -> None:
    if state.out_refund_no != refund.out_refund_no:
        raise refused("商户退款单号不符")
    if state.out_trade_no and state.out_trade_no != order.out_trade_no:
        raise refused("商户订单号不符")
    if state.refund_fen != to_fen(refund.amount) or state.total_fen != to_fen(order.paid_amount):
        raise refused("退款金额与退款单不符")


def refund_record(refund_id: int, state: RefundState, *, source: str) -> PaymentRefund:
    """Move the refund forward as the provider says; a word that is not forward changes nothing
    (a repeated SUCCESS, PROCESSING after SUCCESS)."""
    with transaction.atomic():
        order, refund = lock_refund(refund_id)
        refund_check(order, refund, state)
        target = {
            "PROCESSING": RefundStatus.PROCESSING,
            "SUCCESS": RefundStatus.SUCCESS,
            "ABNORMAL": RefundStatus.ABNORMAL,
            "CLOSED": RefundStatus.CLOSED,
        }.get(state.status)
        if (
            target is None
            or target == refund.status
            or not REFUND_MACHINE.can(refund.status, target)
        ):
            return refund
        changes = {"refund_id": state.refund_id} if state.refund_id else {}
        if target == RefundStatus.SUCCESS:
            changes["succeeded_at"] = state.success_time or timezone.now()
        transition(refund, target, actor=None, changes=changes, source=source)
        if target == RefundStatus.SUCCESS:
            refunded = order.refunded_amount + refund.amount
            settled = (
                PaymentStatus.REFUNDED
                if refunded == order.paid_amount
                else PaymentStatus.PARTIALLY_REFUNDED
            )
            transition(order, settled, actor=None, changes={"refunded_amount": refunded})
            hooks_for(order.purpose).on_refunded(order, refund)
        elif target == RefundStatus.CLOSED:
            back = PaymentStatus.PARTIALLY_REFUNDED if order.refunded_amount else PaymentStatus.PAID
            transition(order, back, actor=None, reason="退款关闭")
        return refund
