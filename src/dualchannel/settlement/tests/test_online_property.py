"""Issue 14, point 6, through an online order (网订店送, or 网订店取 paid online): for any sequence
of pay / notify (repeated, out of order) / query / expire / cancel / ship (the fund settles; for
a pick-up order: the code, the hand-over and the counter's settle) / reverse, the money is taken
at most once; an order that ends unshipped after being paid gives it all back, and a
reversed settlement gives the personal part back, each exactly once; a settlement stands only on
a payment that was taken."""

from __future__ import annotations

import contextlib
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from dualchannel.core.errors import DomainError
from dualchannel.core.locks import several_transactions
from dualchannel.inventory.models import StockItem
from dualchannel.payments.amounts import to_fen
from dualchannel.payments.models import PaymentOrder, RefundStatus
from dualchannel.payments.services import (
    payment_expire,
    payment_notify_receive,
    payment_query,
    refund_sync,
)
from dualchannel.payments.tests.helpers import run_jobs
from dualchannel.prescriptions import services as rx
from dualchannel.prescriptions.models import DeliveryMode, OnlineOrder, OrderStatus
from dualchannel.prescriptions.workflow import sale_reference
from dualchannel.settlement import services
from dualchannel.settlement.models import Settlement, SettlementStatus
from dualchannel.simulators import wxpay
from dualchannel.simulators.models import SimPayOrder, SimPayRefund
from dualchannel.simulators.wxpay_notify import refund_notify, trade_notify

from .conftest import dispense

pytestmark = pytest.mark.django_db

STEPS = [
    "pay",  # the patient pays at the cashier (refused by the provider once closed)
    "pay_late",  # the provider takes the money although we closed the order (a lost close)
    "notify",  # the provider's callback as the trade stands now
    "replay",  # a callback sent before, again (repeated, or out of order)
    "query",  # back from the cashier, or the periodic job
    "expire",  # the payment's expiry, then the order's own, past their time
    "cancel",  # the patient cancels
    # the pharmacist dispenses the held box and ships it (a pick-up order: enters the code,
    # dispenses, hands it over and settles at the counter): the fund settles
    "ship",
    "reverse",  # the pharmacist reverses the settlement (the parcel came back)
    "jobs",  # the worker: refund submissions, the reversal's refund job
    "settle",  # the provider finishes its refunds
    "refund_notify",  # the provider's refund callbacks
]
_keys = itertools.count()


class Run:
    def __init__(self, order: OnlineOrder, patient, pharmacist, code: str = "") -> None:
        self.order, self.patient, self.pharmacist = order, patient, pharmacist
        self.code = code  # a pick-up order's code
        self.payment = rx.order_payment_open(actor=patient, order_id=order.pk)
        self.sent: list = []
        self.reversed = False

    def fresh(self) -> tuple[OnlineOrder, PaymentOrder]:
        return OnlineOrder.objects.get(pk=self.order.pk), PaymentOrder.objects.get(
            pk=self.payment.pk
        )

    def sim(self) -> SimPayOrder:
        return SimPayOrder.objects.get(out_trade_no=self.payment.out_trade_no)

    def sim_refunds(self):
        return SimPayRefund.objects.filter(order__out_trade_no=self.payment.out_trade_no)

    def send(self, notify) -> None:
        self.sent.append(notify)
        payment_notify_receive("wechatpay", *notify)

    def step(self, name: str, pick: int) -> None:
        order, payment = self.fresh()
        sim = self.sim()
        with contextlib.suppress(DomainError):
            if name == "pay":
                wxpay.pay(payment.prepay_id)
            elif name == "pay_late" and sim.trade_state == "CLOSED":
                wxpay.pay_closed(payment.out_trade_no)
            elif name == "notify" and sim.transaction_id:
                self.send(trade_notify(sim))
            elif name == "replay" and self.sent:
                payment_notify_receive("wechatpay", *self.sent[pick % len(self.sent)])
            elif name == "query":
                payment_query(payment)
            elif name == "expire":
                payment_expire(payment, now=payment.expires_at + timedelta(seconds=1))
                rx.orders_expire(now=order.hold_until + timedelta(seconds=1))
            elif name == "cancel":
                rx.order_cancel(actor=self.patient, order_id=order.pk)
            elif name == "ship" and order.status in (
                OrderStatus.PREPARING,
                OrderStatus.READY,
                OrderStatus.PICKED_UP,
            ):
                self.ship(order)
            elif name == "reverse":
                self.reverse()
            elif name == "jobs":
                run_jobs()
            elif name == "settle":
                for refund in self.sim_refunds().filter(status="PROCESSING"):
                    wxpay.refund_settle(refund)
            elif name == "refund_notify":
                for refund in self.sim_refunds().exclude(status="PROCESSING"):
                    self.send(refund_notify(refund))

    def ship(self, order: OnlineOrder) -> None:
        if order.mode == DeliveryMode.ONLINE_PICKUP and order.pickup_code_used_at is None:
            rx.order_redeem_code(actor=self.pharmacist, code=self.code)
        if order.dispensing_id is None:
            held = StockItem.objects.filter(
                holds__reference=sale_reference(order.prescription), holds__status="active"
            ).first()
            dispense(self.pharmacist, order.prescription, held, key=f"p-{next(_keys)}")
        if order.mode == DeliveryMode.ONLINE_PICKUP:  # handed over: the counter settles
            services.settlement_settle_at_counter(
                actor=self.pharmacist,
                prescription_id=order.prescription_id,
                idempotency_key=f"s-{next(_keys)}",
            )
            return
        rx.order_ship(actor=self.pharmacist, order_id=order.pk, carrier="顺丰", tracking_no="SF1")

    def reverse(self) -> None:
        settlement = Settlement.objects.filter(status=SettlementStatus.SETTLED).first()
        if settlement is not None:
            services.settlement_reverse(
                actor=self.pharmacist,
                settlement_id=settlement.pk,
                reason="拒收退回",
                idempotency_key=f"r-{next(_keys)}",
            )
            self.reversed = True

    def drain(self) -> None:
        """Everything settles: jobs run, the provider finishes, we query."""
        for _ in range(3):
            run_jobs()
            for refund in self.sim_refunds().filter(status="PROCESSING"):
                wxpay.refund_settle(refund)
            _, payment = self.fresh()
            for refund in payment.refunds.exclude(status=RefundStatus.SUCCESS):
                refund_sync(refund)
            with contextlib.suppress(DomainError):
                payment_query(self.fresh()[1])


def check(run: Run) -> None:
    order, payment = run.fresh()
    sim = run.sim()
    history = list(payment.history.all())
    taken = [h for h in history if h.from_status == "created" and h.to_status == "paid"]
    late = [h for h in history if h.from_status == "closed"]
    # taken at most once, the provider's amount to the fen
    assert len(taken) + len(late) <= 1
    if sim.transaction_id:
        assert payment.transaction_id == sim.transaction_id
        assert to_fen(payment.paid_amount) == sim.total_fen == to_fen(rx.amount_due(order))
    refunded_here = sum(
        (r.amount for r in payment.refunds.all() if r.status == RefundStatus.SUCCESS), Decimal(0)
    )
    refunded_there = sum(r.refund_fen for r in run.sim_refunds() if r.status == "SUCCESS")
    assert refunded_there == to_fen(refunded_here) == to_fen(payment.refunded_amount)
    assert refunded_there <= sim.total_fen
    settlements = list(Settlement.objects.filter(dispensing__online_order=order))
    # the fund settles only a paid order that shipped, once
    assert len(settlements) <= 1
    for settlement in settlements:
        assert settlement.online_payment_id == payment.pk and payment.paid_amount is not None
        assert order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.PICKED_UP)
    reversed_ = [s for s in settlements if s.status == SettlementStatus.REVERSED]
    if reversed_:  # the personal part back, exactly once (the fee paid for a delivery stays)
        assert payment.refunds.filter(status=RefundStatus.SUCCESS).count() == 1
        assert payment.refunded_amount == reversed_[0].personal
    elif settlements:
        assert payment.refunded_amount == 0
    elif payment.paid_amount is not None:  # paid, never shipped: ended, all of it back
        if order.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED) or payment.late_paid:
            assert payment.refunded_amount == payment.paid_amount
        else:
            pickup = order.mode == DeliveryMode.ONLINE_PICKUP
            waiting = OrderStatus.READY if pickup else OrderStatus.PREPARING
            assert order.status in (waiting, OrderStatus.PICKED_UP)
            assert payment.refunded_amount == 0


@examples(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pickup=st.booleans(),
    shipped_first=st.booleans(),
    steps=st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 9)), max_size=12),
)
def test_an_online_orders_money_is_taken_once_and_refunded_exactly_once(
    orderable, patient_user, pharmacist_user, settings, pickup, shipped_first, steps
):
    settings.WXPAY_SIMULATOR_AUTO_NOTIFY = False
    prescription, address = orderable
    prescription.refresh_from_db()
    with several_transactions():  # each example undone, so the next one orders the same box
        if pickup:  # 网订店取, 在线支付
            placed = rx.order_place_pickup(
                actor=patient_user,
                prescription_id=prescription.pk,
                window_start=rx.pickup_windows(prescription.pharmacy_id)[0][0],
                pay_online=True,
            )
        else:
            placed = rx.order_place_delivery(
                actor=patient_user, prescription_id=prescription.pk, address_id=address.pk
            )
        run = Run(placed.order, patient_user, pharmacist_user, placed.pickup_code)
        # half the runs start paid and shipped (settled), so that reversals come up often
        start = [("pay", 0), ("notify", 0), ("ship", 0)] if shipped_first else []
        for name, pick in start + steps:
            run.step(name, pick)
        run.drain()
        check(run)
        order, payment = run.fresh()
        event(f"{order.mode} {order.status}, payment {payment.status}, reversed {run.reversed}")
        transaction.set_rollback(True)
