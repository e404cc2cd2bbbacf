"""The personal part of an online delivery order paid on the phone [CX art. 22 网上支付、移动支付]:
pre-settled (2101) from the held box, paid with the fee in one payment, settled with the fund
(2102) when the pharmacy ships, refunded exactly once when the settlement is reversed; the
counter never collects it a second time; bad input writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import AuditEvent, Job
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.inventory.models import HoldStatus, StockHold, StockItem
from dualchannel.notifications.models import Channel, Notification
from dualchannel.payments.models import PaymentOrder, PaymentRefund, PaymentStatus
from dualchannel.payments.services import payment_expire, payment_notify_receive
from dualchannel.payments.tests.helpers import run_jobs, sim_order
from dualchannel.prescriptions import services as rx
from dualchannel.prescriptions.models import Dispensing, OnlineOrder, OrderStatus
from dualchannel.registry.tests.factories import InsuredPersonFactory
from dualchannel.settlement import services
from dualchannel.settlement.models import BenefitRule, Settlement, SettlementStatus
from dualchannel.settlement.receipt import render_receipt
from dualchannel.settlement.services.online_paid import ONLINE_REFUND_JOB
from dualchannel.simulators import wxpay
from dualchannel.simulators.wxpay_notify import trade_notify

from .conftest import FEE, dispense
from .helpers import text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def ordered(orderable, patient_user):
    """张伟's lung-cancer drug, one box, ordered for delivery to 武昌区 (fee 8.00)."""
    prescription, address = orderable
    return rx.order_place_delivery(
        actor=patient_user, prescription_id=prescription.pk, address_id=address.pk
    ).order


def paid(patient_user, order):
    payment = rx.order_payment_open(actor=patient_user, order_id=order.pk)
    wxpay.pay(payment.prepay_id)  # the cashier; the simulator's notify arrives
    order.refresh_from_db()
    payment.refresh_from_db()
    return payment


def ship(pharmacist_user, order):
    return rx.order_ship(
        actor=pharmacist_user, order_id=order.pk, carrier="顺丰速运", tracking_no="SF1"
    )


def test_the_held_box_is_presettled_and_the_patient_pays_the_personal_part_with_the_fee(
    ordered, patient_user
):
    split = {k: Decimal(v) for k, v in ordered.presettlement.items()}
    assert ordered.status == OrderStatus.PENDING_PAYMENT
    # the box at 1,000.00 under a standard of 1,100.00: the fund pays part, the person the rest
    assert split["total"] == Decimal("1000.00")
    assert split["fund"] > 0 and split["personal"] > 0
    payers = ("fund", "critical_illness", "assistance", "commercial", "personal")
    assert sum(split[k] for k in payers) == split["total"]
    assert ordered.personal_due == split["personal"]
    assert AuditEvent.objects.filter(action="prescriptions.order_presettled").count() == 1

    payment = paid(patient_user, ordered)
    assert payment.amount == payment.paid_amount == split["personal"] + FEE
    assert ordered.status == OrderStatus.PREPARING and ordered.payment == payment
    assert not Settlement.objects.exists()  # nothing settled with the fund before shipping


def test_the_fund_settles_when_the_order_ships_and_the_counter_does_not_collect_again(
    ordered, patient_user, pharmacist_user
):
    payment = paid(patient_user, ordered)
    dispense(pharmacist_user, ordered.prescription, StockItem.objects.order_by("pk")[0])
    # the counter's 2101 of the dispensed box is the pre-settlement the patient paid from
    preview = services.settlement_preview(
        actor=pharmacist_user, prescription_id=ordered.prescription_id
    )
    assert str(preview.breakdown.personal) == ordered.presettlement["personal"]
    assert str(preview.breakdown.fund) == ordered.presettlement["fund"]

    with pytest.raises(Conflict) as refused:  # the personal part is not taken a second time
        services.settlement_settle(
            actor=pharmacist_user, prescription_id=ordered.prescription_id, idempotency_key="c-1"
        )
    assert refused.value.code == "settlement.paid_online"
    assert not Settlement.objects.exists()

    ship(pharmacist_user, ordered)

    settlement = Settlement.objects.get()
    assert settlement.status == SettlementStatus.SETTLED
    assert settlement.online_payment == payment
    assert settlement.personal == ordered.personal_due
    assert str(settlement.fund) == ordered.presettlement["fund"]
    assert Job.objects.filter(kind="settlement.upload").count() == 1  # 2102 to the platform
    event = AuditEvent.objects.get(action="settlement.personal_paid_online")
    assert event.summary["out_trade_no"] == payment.out_trade_no
    ordered.refresh_from_db()
    assert ordered.status == OrderStatus.SHIPPED
    # the receipt says the personal part was paid on the phone, and where
    text = text_of(render_receipt(settlement))
    assert "微信支付在线支付" in text and payment.out_trade_no in text


def test_a_reversal_refunds_the_personal_part_exactly_once(ordered, patient_user, pharmacist_user):
    payment = paid(patient_user, ordered)
    dispense(pharmacist_user, ordered.prescription, StockItem.objects.order_by("pk")[0])
    ship(pharmacist_user, ordered)
    settlement = Settlement.objects.get()

    for _ in range(2):  # the same reversal replayed
        services.settlement_reverse(
            actor=pharmacist_user,
            settlement_id=settlement.pk,
            reason="拒收退回",
            idempotency_key="r-1",
        )
    assert Job.objects.filter(kind=ONLINE_REFUND_JOB).count() == 1
    for _ in range(3):  # the worker runs, the provider settles, the worker runs again
        run_jobs()
        for refund in sim_order(payment).refunds.filter(status="PROCESSING"):
            wxpay.refund_settle(refund)
    refund = PaymentRefund.objects.get(order=payment)
    assert refund.amount == settlement.personal and refund.status == "success"
    payment.refresh_from_db()
    # the personal part is back; the fee paid for a delivery made stays
    assert payment.refunded_amount == settlement.personal
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    # the patient is told, once
    told = Notification.objects.filter(title="网上订单：已退款", channel=Channel.IN_APP)
    assert told.count() == 1 and f"已原路退回{settlement.personal}元" in told.get().body


def test_a_repriced_batch_is_refused_at_dispensing_and_the_order_may_be_cancelled_refunded(
    ordered, patient_user, pharmacist_user, client
):
    payment = paid(patient_user, ordered)
    # the pharmacy lowered the held batch's price after the patient paid: the 2102 would differ
    held = StockItem.objects.filter(holds__status=HoldStatus.ACTIVE)
    held.update(retail_price=Decimal("990.00"), purchase_price=Decimal("990.00"))
    events = AuditEvent.objects.count()

    with pytest.raises(Conflict) as refused:
        dispense(pharmacist_user, ordered.prescription, held.get())

    # refused before anything is dispensed, saying what to do
    assert refused.value.code == "orders.amount_changed"
    assert "预留的批次" in refused.value.message and "全额退回" in refused.value.message
    assert not Dispensing.objects.exists() and not Settlement.objects.exists()
    assert AuditEvent.objects.count() == events
    ordered.refresh_from_db()
    assert ordered.status == OrderStatus.PREPARING and ordered.dispensing is None

    # the pharmacy's orders page says what to do and cancels it: all that was paid goes back
    client.force_login(pharmacist_user)
    page = client.get(reverse("prescriptions-pharmacy-orders")).content.decode()
    assert f'id="cancel-{ordered.pk}"' in page and "全额原路退回" in page
    client.post(reverse("prescriptions-pharmacy-order-cancel", args=[ordered.pk]))
    ordered.refresh_from_db()
    assert ordered.status == OrderStatus.CANCELLED
    for _ in range(3):
        run_jobs()
        for refund in sim_order(payment).refunds.filter(status="PROCESSING"):
            wxpay.refund_settle(refund)
    payment.refresh_from_db()
    assert payment.refunded_amount == payment.paid_amount == ordered.personal_due + FEE


def test_shipping_is_refused_when_the_settled_amount_differs_from_what_was_paid(
    ordered, patient_user, pharmacist_user
):
    payment = paid(patient_user, ordered)
    dispense(pharmacist_user, ordered.prescription, StockItem.objects.get(holds__isnull=False))
    # what was paid and what the order asks moved by one fen since it was dispensed
    PaymentOrder.objects.filter(pk=payment.pk).update(paid_amount=payment.paid_amount + 1)
    OnlineOrder.objects.filter(pk=ordered.pk).update(personal_due=ordered.personal_due + 1)
    events = AuditEvent.objects.count()

    with pytest.raises(Conflict) as refused:
        ship(pharmacist_user, ordered)

    assert refused.value.code == "settlement.online_amount_mismatch"
    assert not Settlement.objects.exists() and AuditEvent.objects.count() == events
    ordered.refresh_from_db()
    assert ordered.status == OrderStatus.PREPARING and not ordered.tracking_no


def test_a_notify_one_fen_off_a_forged_or_replayed_one_leaves_the_order_unpaid(
    ordered, patient_user, settings
):
    settings.WXPAY_SIMULATOR_AUTO_NOTIFY = False
    payment = rx.order_payment_open(actor=patient_user, order_id=ordered.pk)
    wxpay.pay(payment.prepay_id)
    sim = sim_order(payment)
    events = AuditEvent.objects.count()
    for bad in ({"total_delta": 1}, {"total_delta": -1}, {"forge": "signature"}):
        status, _ = payment_notify_receive("wechatpay", *trade_notify(sim, **bad))
        assert status == 400
    ordered.refresh_from_db()
    assert ordered.status == OrderStatus.PENDING_PAYMENT
    assert AuditEvent.objects.count() == events

    good = trade_notify(sim)
    for _ in range(2):  # the right one, then the same again: recorded once
        assert payment_notify_receive("wechatpay", *good)[0] == 204
    ordered.refresh_from_db()
    assert ordered.status == OrderStatus.PREPARING
    assert ordered.history.filter(to_status=OrderStatus.PREPARING).count() == 1


def test_another_persons_order_is_not_found(ordered):
    other = UserFactory(
        username="other_patient", insured_person=InsuredPersonFactory(), roles=[Role.PATIENT]
    )
    with pytest.raises(NotFound):
        rx.order_payment_open(actor=other, order_id=ordered.pk)
    assert OnlineOrder.objects.get().payment is None


def test_an_unpaid_order_expires_releases_its_box_and_closes_its_payment(ordered, patient_user):
    payment = rx.order_payment_open(actor=patient_user, order_id=ordered.pk)

    payment_expire(payment, now=payment.expires_at)

    ordered.refresh_from_db()
    payment.refresh_from_db()
    assert ordered.status == OrderStatus.EXPIRED and payment.status == PaymentStatus.CLOSED
    assert StockHold.objects.get().status == HoldStatus.RELEASED
    assert not Settlement.objects.exists()


def test_the_counter_page_says_the_personal_part_was_paid_online_and_offers_no_settling(
    client, ordered, patient_user, pharmacist_user
):
    paid(patient_user, ordered)
    dispense(pharmacist_user, ordered.prescription, StockItem.objects.order_by("pk")[0])
    client.force_login(pharmacist_user)
    result = reverse("prescriptions-counter-result", args=[ordered.prescription_id])

    page = client.get(result).content.decode()
    assert 'id="paid-online"' in page and 'id="settle"' not in page
    assert f"个人自付 {ordered.personal_due} 元已由参保人线上支付" in page

    ship(pharmacist_user, ordered)
    page = client.get(result).content.decode()
    assert "已由参保人线上支付，无需再收取" in page and "请向患者收取个人支付" not in page


def test_an_order_the_fund_cannot_settle_is_refused_with_nothing_written(
    orderable, patient_user, caplog
):
    # no benefit rule for the person's region: the held box cannot be pre-settled
    BenefitRule.objects.all().delete()
    prescription, address = orderable
    events = AuditEvent.objects.count()

    with (
        caplog.at_level("INFO", logger="dualchannel.prescriptions.services.online_payment"),
        pytest.raises(DomainError) as refused,
    ):
        rx.order_place_delivery(
            actor=patient_user, prescription_id=prescription.pk, address_id=address.pk
        )

    assert refused.value.code == "settlement.no_benefit_rule"
    assert not OnlineOrder.objects.exists() and not StockHold.objects.exists()
    assert AuditEvent.objects.count() == events
    assert "settlement.no_benefit_rule" in caplog.text
    assert prescription.patient.name not in caplog.text
    assert prescription.patient.id_number not in caplog.text
