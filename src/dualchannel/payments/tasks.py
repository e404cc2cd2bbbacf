"""Background work of payments: submit refunds; query pending orders and refunds; expire."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from dualchannel.core.errors import DomainError
from dualchannel.core.jobs import job_handler, periodic

from .models import PaymentOrder, PaymentRefund, PaymentStatus, RefundStatus
from .providers import ProviderError
from .services import REFUND_SUBMIT, payment_expire, payment_query, refund_submit, refund_sync

logger = logging.getLogger("dualchannel.payments")
# A pending order or refund is asked about once it is this old (its notify may be lost).
QUERY_AFTER = timedelta(minutes=1)
BATCH = 200


@job_handler(REFUND_SUBMIT, atomic=False, label="向支付渠道提交退款")
def refund_submit_job(job) -> None:
    refund_submit(job.payload["refund_id"])


# The network is asked per order, outside a transaction (atomic=False overrides periodic's
# default: one slow or failing order must not hold or roll back the others).
@job_handler("payments.expire_due", atomic=False, label="关闭超时未付的支付订单")
@periodic("payments.expire_due", every=timedelta(minutes=1))
def expire_due(job) -> None:
    now = timezone.now()
    due = PaymentOrder.objects.filter(status=PaymentStatus.CREATED, expires_at__lte=now)
    for order in due.order_by("expires_at")[:BATCH]:
        try:
            payment_expire(order, now=now)
        except DomainError as exc:
            logger.warning("payments: expiry of %s postponed (%s)", order.out_trade_no, exc.code)


@job_handler("payments.query_pending", atomic=False, label="查询未收到通知的支付与退款")
@periodic("payments.query_pending", every=timedelta(minutes=2))
def query_pending(job) -> None:
    before = timezone.now() - QUERY_AFTER
    orders = PaymentOrder.objects.filter(
        status=PaymentStatus.CREATED, created_at__lte=before, expires_at__gt=timezone.now()
    ).exclude(pay_url="")
    for order in orders.order_by("created_at")[:BATCH]:
        try:
            payment_query(order)
        except DomainError as exc:
            logger.warning("payments: query of %s postponed (%s)", order.out_trade_no, exc.code)
    refunds = PaymentRefund.objects.select_related("order").filter(
        status__in=(RefundStatus.SUBMITTING, RefundStatus.PROCESSING), created_at__lte=before
    )
    for refund in refunds.order_by("created_at")[:BATCH]:
        try:
            refund_sync(refund)
        except (DomainError, ProviderError) as exc:
            code = getattr(exc, "code", "")
            logger.warning("payments: refund %s postponed (%s)", refund.out_refund_no, code)
