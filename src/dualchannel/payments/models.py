"""Payment orders of the personal part at a payment provider, their refunds and histories.

Amounts are Decimal yuan here; the provider speaks integer fen (``amounts.to_fen``), converted
at the boundary and compared exactly.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dualchannel.core.models import StatusHistory
from dualchannel.core.statemachine import StateMachine

from . import error_codes as codes


class PaymentStatus(models.TextChoices):
    CREATED = "created", "待支付"  # ordered at the provider, not paid yet
    PAID = "paid", "已支付"  # the provider confirmed the payment (notify or query)
    CLOSED = "closed", "已关闭"  # not paid before it expired: closed at the provider
    REFUNDING = "refunding", "退款中"  # a refund is submitted and not settled yet
    PARTIALLY_REFUNDED = "partially_refunded", "部分退款"  # part of the payment returned
    REFUNDED = "refunded", "已退款"  # all of the payment returned


class RefundStatus(models.TextChoices):
    SUBMITTING = "submitting", "待提交"  # recorded here, not yet accepted by the provider
    PROCESSING = "processing", "退款处理中"  # the provider accepted it
    SUCCESS = "success", "退款成功"  # the money is back with the payer
    ABNORMAL = "abnormal", "退款异常"  # the provider could not return it (closed card): staff act
    CLOSED = "closed", "退款关闭"  # the provider refused or closed it: nothing returned


class PaymentOrder(models.Model):
    """Our order at the provider (``out_trade_no``) for one amount a referencing app asks for."""

    out_trade_no = models.CharField("商户订单号", max_length=32, unique=True)
    provider = models.CharField("支付渠道", max_length=20)
    payer_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payment_orders"
    )
    amount = models.DecimalField("应付金额（元）", max_digits=12, decimal_places=2)
    subject = models.CharField("商品描述", max_length=127)
    purpose = models.CharField("用途", max_length=40)
    reference_type = models.CharField("业务单类型", max_length=40)
    reference_id = models.PositiveBigIntegerField("业务单号")
    idempotency_key = models.CharField("幂等键", max_length=80, unique=True)
    status = models.CharField(
        "状态", max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.CREATED
    )
    expires_at = models.DateTimeField("支付截止")
    prepay_id = models.CharField("预支付标识", max_length=64, blank=True)
    pay_url = models.CharField("支付页地址", max_length=1000, blank=True)
    transaction_id = models.CharField("支付渠道交易号", max_length=64, null=True, unique=True)
    paid_amount = models.DecimalField(
        "实付金额（元）", max_digits=12, decimal_places=2, null=True, blank=True
    )
    paid_at = models.DateTimeField("支付时间", null=True, blank=True)
    refunded_amount = models.DecimalField(
        "已退金额（元）", max_digits=12, decimal_places=2, default=0
    )
    # Paid at the provider after we had closed it (the payer paid as it expired): the money is
    # recorded once and returned by an automatic refund (services.notify, DESIGN in README).
    late_paid = models.BooleanField("过期后支付", default=False)
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    closed_at = models.DateTimeField("关闭时间", null=True, blank=True)

    class Meta:
        verbose_name = "支付订单"
        verbose_name_plural = "支付订单"
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["reference_type", "reference_id"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0), name="payment_refunded_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.out_trade_no


class PaymentOrderTransition(StatusHistory):
    order = models.ForeignKey(PaymentOrder, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "支付订单状态变更"
        verbose_name_plural = "支付订单状态变更"


class PaymentRefund(models.Model):
    """One refund of (part of) a paid order, idempotent on its key and ``out_refund_no``."""

    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="refunds")
    out_refund_no = models.CharField("商户退款单号", max_length=64, unique=True)
    refund_id = models.CharField("渠道退款单号", max_length=64, blank=True)
    amount = models.DecimalField("退款金额（元）", max_digits=12, decimal_places=2)
    reason = models.CharField("退款原因", max_length=80)
    idempotency_key = models.CharField("幂等键", max_length=80, unique=True)
    automatic = models.BooleanField("自动退款", default=False)
    status = models.CharField(
        "状态", max_length=20, choices=RefundStatus.choices, default=RefundStatus.SUBMITTING
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    succeeded_at = models.DateTimeField("退款到账时间", null=True, blank=True)

    class Meta:
        verbose_name = "退款"
        verbose_name_plural = "退款"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.out_refund_no


class PaymentRefundTransition(StatusHistory):
    refund = models.ForeignKey(PaymentRefund, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "退款状态变更"
        verbose_name_plural = "退款状态变更"


def _order_summary(order: PaymentOrder, from_: str, to: str) -> dict:
    # Non-personal facts only: our number, the amount; never the payer.
    return {
        "out_trade_no": order.out_trade_no,
        "amount": str(order.amount),
        "from": from_,
        "to": to,
    }


def _payer(order: PaymentOrder):
    return order.payer_user.insured_person if order.payer_user.insured_person_id else None


_P = PaymentStatus
PAYMENT_MACHINE = StateMachine(
    PaymentStatus,
    {
        _P.CREATED: {_P.PAID, _P.CLOSED},
        # A payment confirmed after we closed the order: recorded and refunded automatically.
        _P.CLOSED: {_P.REFUNDING},
        _P.PAID: {_P.REFUNDING},
        _P.PARTIALLY_REFUNDED: {_P.REFUNDING},
        # Settled: all returned, part returned, or refused with nothing more returned.
        _P.REFUNDING: {_P.REFUNDED, _P.PARTIALLY_REFUNDED, _P.PAID},
    },
    error_code=codes.ORDER_TRANSITION,
    model=PaymentOrder,
    history=PaymentOrderTransition,
    history_fk="order",
    audit_action="payments.order_{to}",
    patient=_payer,
    summary=_order_summary,
)

_R = RefundStatus
REFUND_MACHINE = StateMachine(
    RefundStatus,
    {
        _R.SUBMITTING: {_R.PROCESSING, _R.SUCCESS, _R.ABNORMAL, _R.CLOSED},
        _R.PROCESSING: {_R.SUCCESS, _R.ABNORMAL, _R.CLOSED},
        _R.ABNORMAL: {_R.SUCCESS, _R.CLOSED},
    },
    error_code=codes.REFUND_TRANSITION,
    model=PaymentRefund,
    history=PaymentRefundTransition,
    history_fk="refund",
    audit_action="payments.refund_{to}",
    patient=lambda refund: _payer(refund.order),
    summary=lambda r, from_, to: {
        "out_refund_no": r.out_refund_no,
        "out_trade_no": r.order.out_trade_no,
        "amount": str(r.amount),
        "from": from_,
        "to": to,
    },
)
