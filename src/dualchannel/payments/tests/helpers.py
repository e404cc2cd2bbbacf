"""What the payment tests share: an order for a test purpose, the provider's side, the jobs."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from dualchannel.core.jobs import claim, run_job
from dualchannel.core.models import AuditEvent
from dualchannel.payments.models import (
    PaymentOrder,
    PaymentOrderTransition,
    PaymentRefund,
    PaymentRefundTransition,
)
from dualchannel.payments.services import payment_create
from dualchannel.simulators.models import SimPayOrder, SimPayRefund

PURPOSE = "tests.order"


def new_order(user, *, amount: str = "12.34", minutes: int = 15, key: str = "t-1", ref: int = 7):
    return payment_create(
        payer_user=user,
        amount=amount,
        subject="双通道药品个人自付部分",
        purpose=PURPOSE,
        reference_type="tests.thing",
        reference_id=ref,
        expires_at=timezone.now() + timedelta(minutes=minutes),
        idempotency_key=key,
    )


def sim_order(order: PaymentOrder) -> SimPayOrder:
    return SimPayOrder.objects.get(out_trade_no=order.out_trade_no)


def sim_refunds(order: PaymentOrder) -> list[SimPayRefund]:
    return list(SimPayRefund.objects.filter(order__out_trade_no=order.out_trade_no))


def run_jobs() -> int:
    """Run the queued jobs (refund submissions) as a worker would; returns how many ran."""
    ran = 0
    while jobs := claim("tests", 20, now=timezone.now()):
        for job in jobs:
            run_job(job, "tests")
            ran += 1
    return ran


def written() -> tuple[int, ...]:
    """Counts of every row a payment writes: unchanged means nothing was written."""
    return (
        PaymentOrderTransition.objects.count(),
        PaymentRefund.objects.count(),
        PaymentRefundTransition.objects.count(),
        AuditEvent.objects.filter(action__startswith="payments.").count(),
    )
