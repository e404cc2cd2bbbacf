"""Issue 14, point 3, for 网订店取: the patient may pay the personal part on the phone when
reserving [CX art. 22 网上支付、移动支付]. The order waits 待支付 (boxes held for the payment's
time, not beyond the window), then 待取药 until the window ends; at the counter the code is
verified, the pharmacist dispenses (handed over), and the counter's settle goes through the
online path: nothing collected, the settled personal part checked to the fen against the payment;
cancel or expiry after paying refunds in full, a reversal refunds the personal part once.
到店支付 is unchanged; bad input writes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import AuditEvent, Job
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.inventory.models import HoldStatus, StockHold, StockItem
from dualchannel.notifications.models import Notification
from dualchannel.payments.models import PaymentOrder, PaymentRefund, PaymentStatus
from dualchannel.payments.services import payment_expire
from dualchannel.payments.tests.helpers import run_jobs, sim_order
from dualchannel.prescriptions import services as rx
from dualchannel.prescriptions.models import Dispensing, OnlineOrder, OrderStatus
from dualchannel.prescriptions.services import online_payment
from dualchannel.registry.tests.factories import InsuredPersonFactory
from dualchannel.settlement import services
from dualchannel.settlement.models import Settlement, SettlementStatus
from dualchannel.settlement.services.online_paid import ONLINE_REFUND_JOB
from dualchannel.simulators import wxpay

from .conftest import dispense

pytestmark = pytest.mark.django_db


def _window(prescription):
    prescription.refresh_from_db()  # routed to the pharmacy since the fixture read it
    return rx.pickup_windows(prescription.pharmacy_id)[0][0]


@pytest.fixture
def reserved(orderable, patient_user):
    """张伟's one box (1,000.00 under a standard of 1,100.00) reserved for pick-up, 在线支付."""
    prescription, _address = orderable
    return rx.order_place_pickup(
        actor=patient_user,
        prescription_id=prescription.pk,
        window_start=_window(prescription),
        pay_online=True,
    )


def paid(patient_user, order):
    payment = rx.order_payment_open(actor=patient_user, order_id=order.pk)
    wxpay.pay(payment.prepay_id)  # the cashier; the simulator's notify arrives
    order.refresh_from_db()
    payment.refresh_from_db()
    return payment


def hand_over(pharmacist_user, placed):
    """The pharmacist enters the code and dispenses the held box (handed over at once)."""
    rx.order_redeem_code(actor=pharmacist_user, code=placed.pickup_code)
    held = StockItem.objects.get(holds__status=HoldStatus.ACTIVE)
    return dispense(pharmacist_user, placed.order.prescription, held)


def settle(pharmacist_user, order, key="s-1"):
    return services.settlement_settle_at_counter(
        actor=pharmacist_user, prescription_id=order.prescription_id, idempotency_key=key
    )


def drain_refunds(payment):
    for _ in range(3):  # the worker runs, the provider settles, the worker runs again
        run_jobs()
        for refund in sim_order(payment).refunds.filter(status="PROCESSING"):
            wxpay.refund_settle(refund)
    payment.refresh_from_db()


def test_pay_then_ready_then_code_dispense_and_settle_without_collecting(
    reserved, patient_user, pharmacist_user, client
):
    order = reserved.order
    split = {k: Decimal(v) for k, v in order.presettlement.items()}
    # the held box pre-settled: the fund pays part, the patient pays the rest now
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert split["total"] == Decimal("1000.00") and split["fund"] > 0
    assert order.personal_due == split["personal"] > 0 and order.fee == 0
    assert order.hold_until <= order.window_end
    assert order.hold_until <= timezone.now() + timedelta(minutes=30)
    with pytest.raises(DomainError) as early:  # not paid: the code does not open it yet
        rx.order_redeem_code(actor=pharmacist_user, code=reserved.pickup_code)
    assert early.value.code == "orders.not_paid"
    # the pharmacy sees the boxes held for a patient still at the cashier, and until when
    client.force_login(pharmacist_user)
    page = client.get(reverse("prescriptions-pharmacy-orders")).content.decode()
    waiting = page.split('id="awaiting-payment"')[1].split("</section>")[0]
    assert order.order_no in waiting and "待患者线上支付（1）" in waiting
    assert timezone.localtime(order.hold_until).strftime("%H:%M") in waiting
    client.logout()
    # the code was told with the payment's deadline (it is not kept anywhere)
    told = Notification.objects.filter(title="网上订单：待支付").first()
    assert told is not None and reserved.pickup_code in told.body

    payment = paid(patient_user, order)

    assert payment.paid_amount == order.personal_due and payment.subject.startswith(
        "双通道药品个人自付（"
    )
    assert order.status == OrderStatus.READY and order.payment == payment
    assert order.hold_until == order.window_end
    assert StockHold.objects.get().expires_at == order.window_end
    assert Job.objects.filter(
        kind="prescriptions.order_expire", idempotency_key=f"order-expire:{order.pk}:ready"
    ).exists()
    assert not Settlement.objects.exists()

    hand_over(pharmacist_user, reserved)
    order.refresh_from_db()
    assert order.status == OrderStatus.PICKED_UP and order.dispensing is not None

    # the counter page: paid online, a settle button that collects nothing
    client.force_login(pharmacist_user)
    result = reverse("prescriptions-counter-result", args=[order.prescription_id])
    page = client.get(result).content.decode()
    assert 'id="settle-online"' in page and 'id="settle"' not in page
    assert f"个人自付 <strong>{order.personal_due}</strong> 元已由参保人线上支付" in page
    # the counter's own collecting settle is refused (the personal part is not taken again)
    with pytest.raises(Conflict) as refused:
        services.settlement_settle(
            actor=pharmacist_user, prescription_id=order.prescription_id, idempotency_key="c-1"
        )
    assert refused.value.code == "settlement.paid_online"
    assert not Settlement.objects.exists()

    response = client.post(
        reverse("settlement-counter-settle", args=[order.prescription_id]),
        {"idempotency_key": "page-1"},
    )
    assert response.status_code == 302
    settlement = Settlement.objects.get()
    assert settlement.status == SettlementStatus.SETTLED
    assert settlement.online_payment == payment
    assert settlement.personal == order.personal_due
    assert str(settlement.fund) == order.presettlement["fund"]
    assert Job.objects.filter(kind="settlement.upload").count() == 1
    assert AuditEvent.objects.filter(action="settlement.personal_paid_online").count() == 1
    page = client.get(result).content.decode()
    assert "已由参保人线上支付，无需再收取" in page and "请向患者收取个人支付" not in page

    # the button pressed again: the same settlement, nothing recorded twice
    assert settle(pharmacist_user, order, key="page-2") == settlement
    assert Settlement.objects.count() == 1
    assert AuditEvent.objects.filter(action="settlement.personal_paid_online").count() == 1


def test_a_dispensing_whose_personal_part_differs_from_what_was_paid_is_refused(
    reserved, patient_user, pharmacist_user
):
    paid(patient_user, reserved.order)
    # the pharmacy lowered the held batch's price after the patient paid
    held = StockItem.objects.filter(holds__status=HoldStatus.ACTIVE)
    held.update(retail_price=Decimal("990.00"), purchase_price=Decimal("990.00"))
    rx.order_redeem_code(actor=pharmacist_user, code=reserved.pickup_code)
    events = AuditEvent.objects.count()

    with pytest.raises(Conflict) as refused:
        dispense(pharmacist_user, reserved.order.prescription, held.get())

    assert refused.value.code == "orders.amount_changed"
    assert "取消该订单" in refused.value.message
    assert not Dispensing.objects.exists() and not Settlement.objects.exists()
    assert AuditEvent.objects.count() == events
    order = OnlineOrder.objects.get()
    assert order.status == OrderStatus.READY
    assert StockHold.objects.get().status == HoldStatus.ACTIVE


def test_a_settlement_differing_from_what_was_paid_is_refused_with_nothing_written(
    reserved, patient_user, pharmacist_user
):
    payment = paid(patient_user, reserved.order)
    hand_over(pharmacist_user, reserved)
    # what was paid and what the order asks differ from the settlement by one fen
    PaymentOrder.objects.filter(pk=payment.pk).update(paid_amount=payment.paid_amount + 1)
    OnlineOrder.objects.filter(pk=reserved.order.pk).update(
        personal_due=reserved.order.personal_due + 1
    )
    events = AuditEvent.objects.count()
    jobs = Job.objects.count()

    with pytest.raises(Conflict) as refused:
        settle(pharmacist_user, reserved.order)

    assert refused.value.code == "settlement.online_amount_mismatch"
    assert not Settlement.objects.exists()
    assert AuditEvent.objects.count() == events and Job.objects.count() == jobs


def test_unpaid_in_time_the_order_expires_and_releases_its_hold(reserved, patient_user):
    payment = rx.order_payment_open(actor=patient_user, order_id=reserved.order.pk)
    assert payment.expires_at == reserved.order.hold_until

    payment_expire(payment, now=payment.expires_at)

    order = OnlineOrder.objects.get()
    payment.refresh_from_db()
    assert order.status == OrderStatus.EXPIRED and payment.status == PaymentStatus.CLOSED
    assert StockHold.objects.get().status == HoldStatus.RELEASED
    assert not Settlement.objects.exists()


def test_never_opened_the_order_expires_by_its_own_job(reserved):
    assert rx.orders_expire(now=reserved.order.hold_until + timedelta(seconds=1)) == 1
    assert OnlineOrder.objects.get().status == OrderStatus.EXPIRED
    assert StockHold.objects.get().status == HoldStatus.RELEASED


def test_cancel_after_paying_refunds_in_full(reserved, patient_user):
    payment = paid(patient_user, reserved.order)

    rx.order_cancel(actor=patient_user, order_id=reserved.order.pk)

    drain_refunds(payment)
    assert payment.refunded_amount == payment.paid_amount
    assert payment.status == PaymentStatus.REFUNDED
    assert OnlineOrder.objects.get().status == OrderStatus.CANCELLED
    assert StockHold.objects.get().status == HoldStatus.RELEASED


def test_paid_but_not_picked_up_by_the_windows_end_expires_and_refunds_in_full(
    reserved, patient_user
):
    payment = paid(patient_user, reserved.order)
    # the payment's own expiry time passing does nothing to a paid order waiting for its window
    payment_expire(payment, now=payment.expires_at + timedelta(seconds=1))
    assert OnlineOrder.objects.get().status == OrderStatus.READY

    rx.orders_expire(now=reserved.order.window_end + timedelta(seconds=1))

    drain_refunds(payment)
    assert OnlineOrder.objects.get().status == OrderStatus.EXPIRED
    assert payment.refunded_amount == payment.paid_amount


def test_a_reversal_refunds_the_personal_part_exactly_once(reserved, patient_user, pharmacist_user):
    payment = paid(patient_user, reserved.order)
    hand_over(pharmacist_user, reserved)
    settlement = settle(pharmacist_user, reserved.order)

    for _ in range(2):  # the same reversal replayed
        services.settlement_reverse(
            actor=pharmacist_user,
            settlement_id=settlement.pk,
            reason="患者退药",
            idempotency_key="r",
        )
    assert Job.objects.filter(kind=ONLINE_REFUND_JOB).count() == 1
    drain_refunds(payment)
    refund = PaymentRefund.objects.get(order=payment)
    assert refund.amount == settlement.personal == payment.paid_amount
    assert payment.refunded_amount == settlement.personal
    assert payment.status == PaymentStatus.REFUNDED


def test_pay_at_store_is_unchanged(orderable, patient_user, pharmacist_user, client):
    prescription, _address = orderable
    placed = rx.order_place_pickup(
        actor=patient_user, prescription_id=prescription.pk, window_start=_window(prescription)
    )
    order = placed.order
    assert order.status == OrderStatus.READY and order.personal_due is None
    assert order.hold_until == order.window_end and not order.presettlement
    with pytest.raises(DomainError) as refused:  # nothing to pay on the phone
        rx.order_payment_open(actor=patient_user, order_id=order.pk)
    assert refused.value.code == "orders.transition"
    assert not PaymentOrder.objects.exists()

    hand_over(pharmacist_user, placed)
    client.force_login(pharmacist_user)
    page = client.get(reverse("prescriptions-counter-result", args=[prescription.pk]))
    assert 'id="settle"' in page.content.decode()
    with pytest.raises(Conflict) as not_online:  # an online settle of a counter-paid sale
        services.settlement_settle(
            actor=pharmacist_user,
            prescription_id=prescription.pk,
            idempotency_key="x",
            paid_online=True,
        )
    assert not_online.value.code == "settlement.not_paid_online"

    settlement = settle(pharmacist_user, order)

    assert settlement.online_payment is None and settlement.personal > 0  # collected here
    assert not AuditEvent.objects.filter(action="settlement.personal_paid_online").exists()


def test_another_persons_order_is_not_found(reserved):
    other = UserFactory(
        username="other_patient", insured_person=InsuredPersonFactory(), roles=[Role.PATIENT]
    )
    for act in (rx.order_payment_open, rx.order_cancel):
        with pytest.raises(NotFound):
            act(actor=other, order_id=reserved.order.pk)
    order = OnlineOrder.objects.get()
    assert order.payment is None and order.status == OrderStatus.PENDING_PAYMENT


def test_nothing_due_goes_to_ready_at_once(orderable, patient_user, monkeypatch):
    real = online_payment._pricing[0]
    free = {name: Decimal("0.00") for name in online_payment.SPLIT}
    monkeypatch.setattr(
        online_payment,
        "_pricing",
        [online_payment.PersonalPricing(quote=lambda actor, order: free, settle=real.settle)],
    )
    prescription, _address = orderable

    order = rx.order_place_pickup(
        actor=patient_user,
        prescription_id=prescription.pk,
        window_start=_window(prescription),
        pay_online=True,
    ).order

    assert order.status == OrderStatus.READY and order.personal_due == 0
    assert order.hold_until == order.window_end
    assert list(order.history.values_list("to_status", flat=True).order_by("pk")) == [
        OrderStatus.PENDING_PAYMENT,
        OrderStatus.READY,
    ]


def test_the_order_form_offers_both_ways_and_the_order_page_shows_what_is_due(
    orderable, patient_user, client
):
    prescription, _address = orderable
    client.force_login(patient_user)
    form_url = reverse("portal-order-new", args=[prescription.pk])

    form = client.get(form_url).content.decode()
    assert 'id="pickup-pay-online"' in form and 'id="pickup-pay-store"' in form
    assert "现在用手机支付个人自付部分" in form and "个人自付部分在药店支付" in form

    response = client.post(
        form_url,
        {
            "mode": "online_pickup",
            "window": _window(prescription).isoformat(),
            "pickup_pay": "online",
        },
        follow=True,
    )

    order = OnlineOrder.objects.get()
    assert order.status == OrderStatus.PENDING_PAYMENT and order.personal_due > 0
    page = response.content.decode()
    assert "请核对医保预结算后在线支付" in page
    assert 'id="order-due"' in page and f"{order.personal_due} 元" in page
    assert f"支付 {order.personal_due} 元" in page and 'id="pay"' in page
    assert "您到店取药时结算" in page


def test_the_order_form_pay_at_store_keeps_todays_order(orderable, patient_user, client):
    prescription, _address = orderable
    client.force_login(patient_user)

    response = client.post(
        reverse("portal-order-new", args=[prescription.pk]),
        {
            "mode": "online_pickup",
            "window": _window(prescription).isoformat(),
            "pickup_pay": "store",
        },
        follow=True,
    )

    order = OnlineOrder.objects.get()
    assert order.status == OrderStatus.READY and order.personal_due is None
    page = response.content.decode()
    assert 'id="order-pay-at-store"' in page and 'id="pay"' not in page
    assert not PaymentOrder.objects.exists()


def test_the_settle_api_settles_a_paid_pickup_order_without_collecting(
    reserved, patient_user, pharmacist_user, api_client
):
    payment = paid(patient_user, reserved.order)
    hand_over(pharmacist_user, reserved)
    url = f"/api/v1/settlement/prescriptions/{reserved.order.prescription_id}/settle"
    client = api_client.as_user(pharmacist_user)

    malformed = client.post(url, HTTP_IDEMPOTENCY_KEY="a b")
    assert malformed.status_code == 400 and not Settlement.objects.exists()

    first = client.post(url, HTTP_IDEMPOTENCY_KEY="api-1")
    again = client.post(url, HTTP_IDEMPOTENCY_KEY="api-1")

    assert (first.status_code, again.status_code) == (201, 200)
    settlement = Settlement.objects.get()
    assert first.json()["settlement_no"] == again.json()["settlement_no"]
    assert settlement.online_payment == payment
    assert AuditEvent.objects.filter(action="settlement.personal_paid_online").count() == 1
