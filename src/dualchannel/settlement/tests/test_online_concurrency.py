"""An online order's payment notify racing its expiry, on PostgreSQL with real threads: the
money is recorded once, and the order either goes to the pharmacy with its boxes held or ends
with its boxes released and the money on its way back; never both, never neither."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from dualchannel.core.models import AuditEvent
from dualchannel.inventory.models import HoldStatus, StockHold, StockItem
from dualchannel.payments.models import PaymentOrder, PaymentStatus
from dualchannel.payments.services import payment_expire, payment_notify_receive
from dualchannel.prescriptions import services as rx
from dualchannel.prescriptions.models import OnlineOrder, OrderStatus
from dualchannel.settlement import services
from dualchannel.settlement.models import Settlement
from dualchannel.simulators import wxpay
from dualchannel.simulators.models import SimPayOrder
from dualchannel.simulators.wxpay_notify import trade_notify
from dualchannel.tests.races import race

from .conftest import dispense

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


def test_two_counter_settles_of_a_paid_pickup_order_settle_it_once(
    orderable, patient_user, pharmacist_user
):
    """The counter's settle of a pick-up order paid online (the person, then the order, then
    the dispensing, as shipping locks them) pressed twice at once: one settlement, recorded as
    paid online once."""
    prescription, _address = orderable
    prescription.refresh_from_db()
    placed = rx.order_place_pickup(
        actor=patient_user,
        prescription_id=prescription.pk,
        window_start=rx.pickup_windows(prescription.pharmacy_id)[0][0],
        pay_online=True,
    )
    payment = rx.order_payment_open(actor=patient_user, order_id=placed.order.pk)
    wxpay.pay(payment.prepay_id)
    rx.order_redeem_code(actor=pharmacist_user, code=placed.pickup_code)
    dispense(pharmacist_user, prescription, StockItem.objects.get(holds__status=HoldStatus.ACTIVE))

    def settle(key):
        return lambda: (
            services.settlement_settle_at_counter(
                actor=pharmacist_user, prescription_id=prescription.pk, idempotency_key=key
            ).settlement_no
        )

    results = race(settle("a"), settle("b"))

    settlement = Settlement.objects.get()
    assert results == [repr(settlement.settlement_no)] * 2  # the second answered with the first
    assert settlement.online_payment_id == payment.pk
    assert AuditEvent.objects.filter(action="settlement.personal_paid_online").count() == 1
