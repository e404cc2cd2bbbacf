"""An online order's payment notify racing its expiry, on PostgreSQL with real threads: the
money is recorded once, and the order either goes to the pharmacy with its boxes held or ends
with its boxes released and the money on its way back; never both, never neither."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from dualchannel.inventory.models import HoldStatus, StockHold
from dualchannel.payments.models import PaymentOrder, PaymentStatus
from dualchannel.payments.services import payment_expire, payment_notify_receive
from dualchannel.prescriptions import services as rx
from dualchannel.prescriptions.models import OnlineOrder, OrderStatus
from dualchannel.simulators import wxpay
from dualchannel.simulators.models import SimPayOrder
from dualchannel.simulators.wxpay_notify import trade_notify
from dualchannel.tests.races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def paid_at_provider(orderable, patient_user, settings):
    """The order placed, its payment opened and paid at the cashier; the notify not sent yet."""
    settings.WXPAY_SIMULATOR_AUTO_NOTIFY = False
    prescription, address = orderable
    order = rx.order_place_delivery(
        actor=patient_user, prescription_id=prescription.pk, address_id=address.pk
    ).order
    payment = rx.order_payment_open(actor=patient_user, order_id=order.pk)
    wxpay.pay(payment.prepay_id)
    notify = trade_notify(SimPayOrder.objects.get(out_trade_no=payment.out_trade_no))
    return order, payment, notify


def outcome(order: OnlineOrder, payment: PaymentOrder) -> tuple[str, str]:
    order.refresh_from_db()
    payment.refresh_from_db()
    taken = payment.history.filter(from_status="created", to_status="paid").count()
    assert taken == 1  # recorded once, by whichever came first
    assert payment.paid_amount == rx.amount_due(order) > Decimal(0)
    hold = StockHold.objects.get()
    if order.status == OrderStatus.PREPARING:
        assert payment.status == PaymentStatus.PAID and not payment.refunds.exists()
        assert hold.status == HoldStatus.ACTIVE and hold.expires_at == order.hold_until
    else:
        assert order.status == OrderStatus.EXPIRED and hold.status == HoldStatus.RELEASED
        assert payment.status == PaymentStatus.REFUNDING
        assert payment.refunds.get().amount == payment.paid_amount
    return order.status, payment.status


def test_the_notify_racing_the_payments_expiry_records_the_payment_once(paid_at_provider):
    order, payment, notify = paid_at_provider

    race(
        lambda: payment_notify_receive("wechatpay", *notify)[0],
        lambda: payment_expire(payment, now=payment.expires_at + timedelta(seconds=1)).status,
    )

    # the expiry asks the provider first: a paid order is recorded, not closed
    assert outcome(order, payment) == (OrderStatus.PREPARING, PaymentStatus.PAID)


def test_the_notify_racing_the_orders_own_expiry_keeps_one_of_them(paid_at_provider):
    order, payment, notify = paid_at_provider

    race(
        lambda: payment_notify_receive("wechatpay", *notify)[0],
        lambda: rx.orders_expire(now=order.hold_until + timedelta(seconds=1)),
    )

    # either paid first (the boxes held on for the pharmacy) or expired first (the payment,
    # arriving after, goes back whole): checked in ``outcome``
    outcome(order, payment)
