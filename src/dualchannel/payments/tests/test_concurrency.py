"""Callbacks and expiry racing each other on PostgreSQL with real threads: one payment, one
refund."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dualchannel.payments.models import PaymentOrder, PaymentStatus
from dualchannel.payments.services import payment_expire, payment_notify_receive
from dualchannel.simulators import wxpay
from dualchannel.simulators.wxpay_notify import trade_notify
from dualchannel.tests.races import race

from .helpers import new_order, sim_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def deliver(notify):
    return lambda: payment_notify_receive("wechatpay", *notify)[0]


def test_two_notifies_of_one_transaction_at_once_record_one_payment(
    patient_user, calls, manual_notify
):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)
    notify = trade_notify(sim_order(order))

    outcomes = race(deliver(notify), deliver(notify), deliver(trade_notify(sim_order(order))))

    assert outcomes == ["204", "204", "204"]
    order.refresh_from_db()
    assert order.status == PaymentStatus.PAID
    assert order.history.filter(to_status="paid").count() == 1
    assert calls.events == [("paid", order.out_trade_no)]


@pytest.mark.parametrize("attempt", range(3))
def test_a_payment_racing_the_expiry_is_either_taken_or_closed(patient_user, calls, attempt):
    order = new_order(patient_user, key=f"race-{attempt}")
    late = order.expires_at + timedelta(seconds=1)

    race(
        lambda: wxpay.pay(order.prepay_id, allow_expired=True),  # sends its notify at once
        lambda: payment_expire(order, now=late),
    )

    order.refresh_from_db()
    sim = sim_order(order)
    if sim.trade_state == "SUCCESS":
        assert order.status == PaymentStatus.PAID and order.transaction_id == sim.transaction_id
        assert [e[0] for e in calls.events] == ["paid"]
    else:
        assert sim.trade_state == "CLOSED"
        assert order.status == PaymentStatus.CLOSED and order.transaction_id is None
        assert [e[0] for e in calls.events] == ["expired"]


def test_two_late_notifies_at_once_open_one_refund(patient_user, calls, manual_notify):
    order = new_order(patient_user)
    payment_expire(order, now=order.expires_at + timedelta(seconds=1))
    sim = wxpay.pay_closed(order.out_trade_no)

    outcomes = race(deliver(trade_notify(sim)), deliver(trade_notify(sim)))

    assert outcomes == ["204", "204"]
    order = PaymentOrder.objects.get(pk=order.pk)
    assert order.status == PaymentStatus.REFUNDING and order.late_paid
    assert order.refunds.count() == 1
    assert [e[0] for e in calls.events] == ["expired", "late_paid"]
