"""Issue 14, point 6: for any sequence of pay / notify (repeated, out of order) / query /
expire / reverse, the money is taken at most once and refunded exactly once when it is
reversed after being paid (or paid after the order expired)."""

from __future__ import annotations

import contextlib
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualchannel.core.errors import DomainError
from dualchannel.payments.amounts import to_fen
from dualchannel.payments.models import PaymentOrder, PaymentStatus, RefundStatus
from dualchannel.payments.services import (
    payment_expire,
    payment_notify_receive,
    payment_query,
    payment_refund,
    refund_sync,
)
from dualchannel.simulators import wxpay
from dualchannel.simulators.models import SimPayOrder, SimPayRefund
from dualchannel.simulators.wxpay_notify import refund_notify, trade_notify

from .helpers import new_order, run_jobs, sim_order

pytestmark = pytest.mark.django_db

STEPS = [
    "pay",  # the payer pays at the cashier (refused by the provider once closed or expired)
    "pay_late",  # the provider takes the money although the order was closed (a lost close)
    "notify",  # the provider's callback about the trade, as it stands now
    "replay",  # a callback sent before, again (repeated, or out of order)
    "query",  # our active query (back from the cashier, or the periodic job)
    "expire",  # the periodic expiry, past expires_at
    "reverse",  # the referencing app reverses: refund what is left
    "jobs",  # the worker submits refunds
    "settle",  # the provider finishes its refunds
    "refund_notify",  # the provider's refund callbacks
    "refund_query",  # our refund query
]
_keys = itertools.count()


class Run:
    def __init__(self, order: PaymentOrder) -> None:
        self.order = order
        self.sent: list = []  # every callback built, for replays
        self.reversed = False

    def sim(self) -> SimPayOrder:
        return sim_order(self.order)

    def sim_refunds(self):
        return SimPayRefund.objects.filter(order__out_trade_no=self.order.out_trade_no)

    def send(self, notify) -> None:
        self.sent.append(notify)
        payment_notify_receive("wechatpay", *notify)

    def fresh(self) -> PaymentOrder:
        return PaymentOrder.objects.get(pk=self.order.pk)

    def step(self, name: str, pick: int) -> None:
        order = self.fresh()
        sim = self.sim()
        if name == "pay":
            wxpay.pay(order.prepay_id)
        elif name == "pay_late" and sim.trade_state == "CLOSED":
            wxpay.pay_closed(order.out_trade_no)
        elif name == "notify" and sim.transaction_id:
            self.send(trade_notify(sim))
        elif name == "replay" and self.sent:
            payment_notify_receive("wechatpay", *self.sent[pick % len(self.sent)])
        elif name == "query":
            with contextlib.suppress(DomainError):
                payment_query(order)
        elif name == "expire":
            payment_expire(order, now=order.expires_at + timedelta(seconds=1))
        elif name == "reverse" and order.paid_amount is not None:
            self.reverse(order)
        elif name == "jobs":
            run_jobs()
        elif name == "settle":
            for refund in self.sim_refunds().filter(status="PROCESSING"):
                wxpay.refund_settle(refund)
        elif name == "refund_notify":
            for refund in self.sim_refunds().exclude(status="PROCESSING"):
                self.send(refund_notify(refund))
        elif name == "refund_query":
            for refund in order.refunds.exclude(status=RefundStatus.SUCCESS):
                refund_sync(refund)

    def reverse(self, order: PaymentOrder) -> None:
        left = order.paid_amount - order.refunded_amount
        if left <= 0:
            return
        try:
            payment_refund(order, left, "结算冲正", f"rev-{next(_keys)}")
            self.reversed = True
        except DomainError:
            pass  # not refundable now (unpaid here yet, or a refund in flight)

    def drain(self) -> None:
        """Everything settles: queued refunds submitted, the provider finishes, we query."""
        for _ in range(3):
            run_jobs()
            for refund in self.sim_refunds().filter(status="PROCESSING"):
                wxpay.refund_settle(refund)
            for refund in self.fresh().refunds.exclude(status=RefundStatus.SUCCESS):
                refund_sync(refund)
            with contextlib.suppress(DomainError):
                payment_query(self.fresh())


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 9)), max_size=14))
def test_money_is_taken_at_most_once_and_refunded_exactly_once(
    patient_user, calls, manual_notify, steps
):
    n = next(_keys)
    run = Run(new_order(patient_user, key=f"prop-{n}", ref=n))
    for name, pick in steps:
        run.step(name, pick)
    run.drain()

    order = run.fresh()
    sim = run.sim()
    taken = [h for h in order.history.all() if h.to_status == "paid" and h.from_status == "created"]
    late = [h for h in order.history.all() if h.from_status == "closed"]
    sim_refunded = sum(r.refund_fen for r in run.sim_refunds() if r.status == "SUCCESS")
    ours_refunded = sum(
        (r.amount for r in order.refunds.all() if r.status == RefundStatus.SUCCESS), Decimal(0)
    )
    hooks = [
        e
        for e in calls.events
        if e[1] in (order.out_trade_no, *order.refunds.values_list("out_refund_no", flat=True))
    ]

    # taken at most once: one recorded payment, the provider's, to the fen
    assert len(taken) + len(late) <= 1
    assert [e for e in hooks if e[0] in ("paid", "late_paid")].__len__() <= 1
    if sim.transaction_id:
        assert order.transaction_id == sim.transaction_id
        assert to_fen(order.paid_amount) == sim.total_fen
    else:
        assert order.transaction_id is None and order.status in ("created", "closed")
    # refunded exactly once when reversed after being paid, or paid after it closed
    assert sim_refunded == to_fen(ours_refunded) == to_fen(order.refunded_amount)
    assert sim_refunded <= sim.total_fen
    if order.late_paid or run.reversed:
        assert order.status == PaymentStatus.REFUNDED
        assert sim_refunded == sim.total_fen
        assert (
            sum(1 for e in hooks if e[0] == "refunded")
            == order.refunds.filter(status=RefundStatus.SUCCESS).count()
        )
    elif sim.transaction_id:
        assert order.status == PaymentStatus.PAID and sim_refunded == 0
