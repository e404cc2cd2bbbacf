"""Online orders [CX art. 22]: 网订店取 with a held stock, a pick-up code used once and a window
that expires; 网订店送 to an address inside the pharmacy's area, for its fee, shipped and
received; refusals write nothing."""

from __future__ import annotations

import threading
from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from dualchannel.core.errors import DomainError, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent, Job
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.inventory.holds import stock_hold_place
from dualchannel.inventory.models import HoldStatus, StockHold
from dualchannel.inventory.sales import SaleLine, sale_verify
from dualchannel.inventory.selectors import fefo_suggestion, stock_available
from dualchannel.notifications.models import Notification
from dualchannel.payments.models import PaymentRefund
from dualchannel.payments.services import payment_expire
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import (
    Delivery,
    DeliveryMode,
    DeliveryStatus,
    OnlineOrder,
    OnlineOrderTransition,
    OrderStatus,
    PatientAddress,
    PharmacyDeliverySettings,
)
from dualchannel.prescriptions.services.delivery import delivery_advance
from dualchannel.prescriptions.tasks import expire_order
from dualchannel.registry.tests.factories import InsuredPersonFactory, region
from dualchannel.simulators import wxpay

from .helpers import TODAY, dispense, stock_codes

pytestmark = pytest.mark.django_db
OS = OrderStatus


def first_window(pharmacy):
    return services.pickup_windows(pharmacy.pk)[0][0]


def written():
    """What a refused order must leave untouched."""
    return (
        OnlineOrder.objects.count(),
        OnlineOrderTransition.objects.count(),
        StockHold.objects.count(),
        AuditEvent.objects.filter(action__startswith="prescriptions.order").count(),
        AuditEvent.objects.filter(action__startswith="inventory.stock_hold").count(),
        Notification.objects.filter(template_code="prescriptions.order").count(),
    )


@pytest.fixture
def delivering(pharmacist_user, bound_pharmacy, settlement_rules):
    """The pharmacy delivers to 江岸区 and 武昌区 for 8 yuan."""
    region("420102"), region("420106"), region("420115")
    return services.delivery_settings_save(
        actor=pharmacist_user,
        opens_at=time(0, 0),
        closes_at=time(23, 59),
        delivers=True,
        fee=Decimal("8"),
        area_codes=["420102", "420106"],
    )


@pytest.fixture
def home(patient_user, routed):
    return services.address_add(
        actor=patient_user,
        region_code="420106",
        detail="中山路100号",
        recipient_name="张伟",
        recipient_phone="13800000001",
    )


@pytest.fixture
def reserved(patient_user, routed, delivering, bound_pharmacy):
    return services.order_place_pickup(
        actor=patient_user,
        prescription_id=routed.pk,
        window_start=first_window(bound_pharmacy),
        today=TODAY,
    )


def test_a_pickup_order_holds_the_boxes_and_tells_the_patient_the_code(
    reserved, bound_pharmacy, lung_drug, stock
):
    order, code = reserved.order, reserved.pickup_code
    assert order.status == OS.READY and order.mode == DeliveryMode.ONLINE_PICKUP
    assert len(code) == 8 and code not in order.pickup_code_digest
    assert order.hold_until == order.window_end
    hold = StockHold.objects.get()
    # FEFO: the earlier batch, one box, until the window ends
    assert (hold.stock_item, hold.quantity, hold.status) == (stock[0], 1, HoldStatus.ACTIVE)
    assert stock_available(bound_pharmacy, lung_drug) == 5  # 6 on hand, 1 held
    assert fefo_suggestion(bound_pharmacy, lung_drug, 6).shortfall == 1
    message = Notification.objects.filter(template_code="prescriptions.order").first()
    assert code in message.body and "待取药" in message.title
    assert AuditEvent.objects.filter(action="prescriptions.order_placed").count() == 1


def test_the_expiry_job_ends_the_reservation_and_gives_the_boxes_back(
    reserved, bound_pharmacy, lung_drug
):
    order = reserved.order
    assert services.orders_expire(now=order.hold_until - timedelta(seconds=1)) == 0
    assert services.orders_expire(now=order.hold_until) == 1
    order.refresh_from_db()
    assert order.status == OS.EXPIRED
    assert StockHold.objects.get().status == HoldStatus.RELEASED
    assert stock_available(bound_pharmacy, lung_drug) == 6
    assert list(order.history.values_list("to_status", flat=True)) == [OS.READY, OS.EXPIRED]
    assert Notification.objects.filter(title__contains="已过期").exists()
    assert services.orders_expire(now=order.hold_until) == 0  # once


def test_the_orders_own_job_runs_when_its_hold_runs_out(reserved, bound_pharmacy, lung_drug):
    order = reserved.order
    job = Job.objects.get(kind="prescriptions.order_expire")
    assert job.run_after == order.hold_until and job.payload == {"order_id": order.pk}
    expire_order(job)  # not due yet: nothing
    assert OnlineOrder.objects.get().status == OS.READY
    OnlineOrder.objects.update(hold_until=timezone.now() - timedelta(seconds=1))
    expire_order(job)
    assert OnlineOrder.objects.get().status == OS.EXPIRED
    assert stock_available(bound_pharmacy, lung_drug) == 6


def test_a_hold_past_its_time_no_longer_counts_before_the_job_runs(
    reserved, bound_pharmacy, lung_drug
):
    StockHold.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert stock_available(bound_pharmacy, lung_drug) == 6


def test_the_patient_cancels_and_the_boxes_are_released(
    reserved, patient_user, bound_pharmacy, lung_drug
):
    services.order_cancel(actor=patient_user, order_id=reserved.order.pk)
    assert OnlineOrder.objects.get().status == OS.CANCELLED
    assert stock_available(bound_pharmacy, lung_drug) == 6


def test_the_code_finds_the_order_once_then_the_counter_dispenses_the_held_box(
    reserved, pharmacist, pharmacist_user, routed, stock
):
    order = services.order_redeem_code(actor=pharmacist_user, code=reserved.pickup_code)
    assert order.pk == reserved.order.pk and order.pickup_code_used_at is not None
    before = written()
    with pytest.raises(DomainError) as refused:
        services.order_redeem_code(actor=pharmacist_user, code=reserved.pickup_code)
    assert refused.value.code == "orders.pickup_code_used"
    assert written() == before

    dispensing = dispense(pharmacist_user, routed, stock[0])
    order.refresh_from_db()
    assert order.status == OS.PICKED_UP and order.dispensing == dispensing
    assert order.received_by == "张伟（本人）" and order.received_at is not None
    assert Delivery.objects.get(dispensing=dispensing).status == DeliveryStatus.PICKED_UP
    assert StockHold.objects.get().status == HoldStatus.CONSUMED


def test_a_pickup_order_is_not_dispensed_before_its_code(
    reserved, pharmacist, pharmacist_user, routed, stock
):
    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0])
    assert refused.value.code == "orders.pickup_code_required"
    assert OnlineOrder.objects.get().dispensing is None


def test_a_wrong_or_foreign_code_is_refused(reserved, outsider_pharmacist, pharmacist_user):
    for actor, code in ((pharmacist_user, "00000000"), (outsider_pharmacist, reserved.pickup_code)):
        with pytest.raises(DomainError) as refused:
            services.order_redeem_code(actor=actor, code=code)
        assert refused.value.code == "orders.pickup_code_invalid"


def test_held_boxes_are_not_sold_to_another_prescription(
    reserved, pharmacist, pharmacist_user, bound_pharmacy, stock, lung_drug
):
    """The counter cannot sell the held box of batch B2401 to a walk-in sale."""
    codes = stock_codes(stock[0])
    with pytest.raises(DomainError) as refused:
        sale_verify(
            pharmacy=bound_pharmacy,
            lines=[SaleLine(stock_item_id=stock[0].pk, quantity=3, trace_codes=tuple(codes))],
        )
    assert refused.value.code == "inventory.insufficient_stock"
    assert "网上订单保留" in refused.value.message


def test_a_delivery_order_is_shipped_and_the_patient_confirms_receipt(
    patient_user, routed, delivering, home, pharmacist, pharmacist_user, stock
):
    placed = services.order_place_delivery(
        actor=patient_user, prescription_id=routed.pk, address_id=home.pk, today=TODAY
    )
    order = placed.order
    assert (order.status, order.mode, order.fee) == (
        OS.PENDING_PAYMENT,
        DeliveryMode.HOME_DELIVERY,
        Decimal("8.00"),
    )
    assert order.address == "武昌区中山路100号"
    with pytest.raises(DomainError) as refused:  # not before the fee is paid
        dispense(pharmacist_user, routed, stock[0])
    assert refused.value.code == "orders.not_paid"

    # one payment: the personal part of the held box (pre-settled) and the fee
    payment = services.order_payment_open(actor=patient_user, order_id=order.pk)
    assert order.personal_due == Decimal(order.presettlement["personal"]) > 0
    assert payment.amount == order.personal_due + Decimal("8.00")
    assert payment.expires_at == order.hold_until
    wxpay.pay(payment.prepay_id)  # the patient pays at the cashier; the notify arrives
    order.refresh_from_db()
    assert order.status == OS.PREPARING and order.payment == payment
    assert StockHold.objects.get().expires_at == order.hold_until > payment.expires_at
    dispensing = dispense(pharmacist_user, routed, stock[0])
    assert dispensing.delivery.mode == DeliveryMode.HOME_DELIVERY
    assert dispensing.delivery.fee == Decimal("8.00")
    assert dispensing.delivery.address == "武昌区中山路100号"

    with pytest.raises(DomainError):
        services.order_ship(actor=pharmacist_user, order_id=order.pk, carrier="", tracking_no="")
    services.order_ship(
        actor=pharmacist_user, order_id=order.pk, carrier="顺丰速运", tracking_no="SF1234567890"
    )
    order.refresh_from_db()
    assert order.status == OS.SHIPPED and order.tracking_no == "SF1234567890"
    services.order_confirm_received(actor=patient_user, order_id=order.pk)
    order.refresh_from_db()
    assert order.status == OS.DELIVERED and order.received_by == "张伟（本人确认）"
    assert order.dispensing.delivery.status == DeliveryStatus.DELIVERED
    assert order.dispensing.delivery.received_by == "张伟（本人确认）"
    assert list(order.history.values_list("to_status", flat=True)) == [
        OS.PENDING_PAYMENT,
        OS.PREPARING,
        OS.SHIPPED,
        OS.DELIVERED,
    ]


@pytest.fixture
def awaiting_payment(patient_user, routed, delivering, home):
    order = services.order_place_delivery(
        actor=patient_user, prescription_id=routed.pk, address_id=home.pk, today=TODAY
    ).order
    return order, services.order_payment_open(actor=patient_user, order_id=order.pk)


def test_an_unpaid_order_expires_with_its_payment_and_releases_the_boxes(
    awaiting_payment, bound_pharmacy, lung_drug
):
    order, payment = awaiting_payment
    assert stock_available(bound_pharmacy, lung_drug) == 5
    payment_expire(payment, now=payment.expires_at)
    order.refresh_from_db()
    assert order.status == OS.EXPIRED
    assert StockHold.objects.get().status == HoldStatus.RELEASED
    assert stock_available(bound_pharmacy, lung_drug) == 6


def test_cancelling_a_paid_order_refunds_the_fee(awaiting_payment, patient_user):
    order, payment = awaiting_payment
    wxpay.pay(payment.prepay_id)
    services.order_cancel(actor=patient_user, order_id=order.pk)
    order.refresh_from_db()
    assert order.status == OS.CANCELLED
    refund = PaymentRefund.objects.get(order=payment)  # all of it: nothing was settled
    assert refund.amount == payment.amount == order.personal_due + Decimal("8.00")
    assert StockHold.objects.get().status == HoldStatus.RELEASED


def test_an_address_outside_the_area_is_refused_and_nothing_is_written(
    patient_user, routed, delivering, caplog
):
    outside = services.address_add(
        actor=patient_user,
        region_code="420115",
        detail="江夏大道1号",
        recipient_name="张伟",
        recipient_phone="13800000001",
    )
    before = written()
    with (
        caplog.at_level("INFO", logger="dualchannel.prescriptions.services.orders"),
        pytest.raises(DomainError) as refused,
    ):
        services.order_place_delivery(
            actor=patient_user, prescription_id=routed.pk, address_id=outside.pk, today=TODAY
        )
    assert refused.value.code == "orders.outside_area"
    assert written() == before
    # logged by its code only: no name, address or phone
    assert "orders.outside_area" in caplog.text
    assert "张伟" not in caplog.text and "江夏" not in caplog.text and "1380" not in caplog.text


def test_cold_chain_drugs_only_where_the_pharmacy_keeps_the_chain(
    patient_user, routed, delivering, home, lung_drug, bound_pharmacy
):
    lung_drug.needs_cold_chain = True
    lung_drug.save(update_fields=["needs_cold_chain"])
    before = written()
    with pytest.raises(DomainError) as refused:
        services.order_place_delivery(
            actor=patient_user, prescription_id=routed.pk, address_id=home.pk, today=TODAY
        )
    assert refused.value.code == "orders.cold_chain_unavailable"
    with pytest.raises(DomainError) as refused:
        services.order_place_pickup(
            actor=patient_user,
            prescription_id=routed.pk,
            window_start=first_window(bound_pharmacy),
            today=TODAY,
        )
    assert refused.value.code == "orders.mode_invalid"
    assert written() == before

    bound_pharmacy.has_cold_chain = True
    bound_pharmacy.save(update_fields=["has_cold_chain"])
    order = services.order_place_delivery(
        actor=patient_user, prescription_id=routed.pk, address_id=home.pk, today=TODAY
    ).order
    # HB art. 29: by cold chain to the treating hospital, free
    assert (order.mode, order.fee) == (DeliveryMode.COLD_CHAIN_TO_HOSPITAL, Decimal(0))


def test_another_persons_prescription_is_not_found_and_nothing_is_written(
    routed, delivering, bound_pharmacy
):
    other = UserFactory(
        username="other_patient", insured_person=InsuredPersonFactory(), roles=[Role.PATIENT]
    )
    before = written()
    with pytest.raises(NotFound):
        services.order_place_pickup(
            actor=other,
            prescription_id=routed.pk,
            window_start=first_window(bound_pharmacy),
            today=TODAY,
        )
    assert written() == before


def test_a_second_order_and_a_window_outside_the_hours_are_refused(
    reserved, patient_user, routed, bound_pharmacy
):
    with pytest.raises(DomainError) as refused:
        services.order_place_pickup(
            actor=patient_user,
            prescription_id=routed.pk,
            window_start=first_window(bound_pharmacy),
            today=TODAY,
        )
    assert refused.value.code == "orders.not_orderable"
    services.order_cancel(actor=patient_user, order_id=reserved.order.pk)
    with pytest.raises(DomainError) as refused:
        services.order_place_pickup(
            actor=patient_user,
            prescription_id=routed.pk,
            window_start=first_window(bound_pharmacy) + timedelta(minutes=7),
            today=TODAY,
        )
    assert refused.value.code == "orders.window_invalid"


def test_no_box_left_to_hold_is_refused(
    patient_user, routed, delivering, bound_pharmacy, stock, pharmacist_user
):
    StockHold.objects.bulk_create(
        StockHold(
            stock_item=item,
            quantity=3,
            reference="prescription:other",
            expires_at=timezone.now() + timedelta(hours=1),
        )
        for item in stock
    )
    before = written()
    with pytest.raises(DomainError) as refused:
        services.order_place_pickup(
            actor=patient_user,
            prescription_id=routed.pk,
            window_start=first_window(bound_pharmacy),
            today=TODAY,
        )
    assert refused.value.code == "inventory.hold_insufficient"
    assert written() == before


def test_addresses_are_checked(patient_user, routed):
    with pytest.raises(DomainError) as refused:
        services.address_add(
            actor=patient_user,
            region_code="999999",
            detail="",
            recipient_name="张伟",
            recipient_phone="123",
        )
    assert set(refused.value.fields) == {"region", "detail", "recipient_phone"}
    assert not PatientAddress.objects.exists()


def test_only_the_pharmacy_edits_its_settings(outsider_physician):
    with pytest.raises(PermissionDenied):
        services.delivery_settings_save(
            actor=outsider_physician,
            opens_at=None,
            closes_at=None,
            delivers=False,
            fee=Decimal(0),
            area_codes=[],
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_orders_never_hold_the_same_last_box(pharmacist, pharmacist_user, stock, lung_drug):
    """Five of the six boxes are held already; two orders race for the last one."""
    StockHold.objects.create(
        stock_item=stock[0],
        quantity=3,
        reference="prescription:a",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    StockHold.objects.create(
        stock_item=stock[1],
        quantity=2,
        reference="prescription:b",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def order(n: int) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                stock_hold_place(
                    actor=pharmacist_user,
                    pharmacy_id=pharmacist.pharmacy_id,
                    wanted={lung_drug.pk: 1},
                    reference=f"prescription:race-{n}",
                    expires_at=timezone.now() + timedelta(hours=1),
                )
            outcomes.append("held")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=order, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["held", "inventory.hold_insufficient"]
    assert StockHold.objects.filter(reference__startswith="prescription:race").count() == 1
    assert stock_available(pharmacist.pharmacy, lung_drug) == 0


def test_the_queue_lists_the_reservation_and_its_code_opens_the_counter(
    reserved, pharmacist, pharmacist_user, routed, client
):
    client.force_login(pharmacist_user)
    queue = client.get(reverse("prescriptions-pharmacy-orders")).content.decode()
    assert reserved.order.order_no in queue and "张伟" not in queue  # the name masked

    answer = client.post(
        reverse("prescriptions-pharmacy-order-code"), {"code": reserved.pickup_code}
    )
    assert answer["Location"] == reverse("prescriptions-counter-rx", args=[routed.pk])
    counter_page = client.get(answer["Location"]).content.decode()
    assert f"网上订单 {reserved.order.order_no}：网订店取" in counter_page

    again = client.post(
        reverse("prescriptions-pharmacy-order-code"), {"code": reserved.pickup_code}, follow=True
    )
    assert "该取药码已使用" in again.content.decode()


def test_a_free_delivery_asks_the_personal_part_only_and_the_pharmacy_records_the_hand_over(
    patient_user, routed, delivering, home, pharmacist, pharmacist_user, stock
):
    PharmacyDeliverySettings.objects.update(fee=0)
    order = services.order_place_delivery(
        actor=patient_user, prescription_id=routed.pk, address_id=home.pk, today=TODAY
    ).order
    assert order.status == OS.PENDING_PAYMENT and order.payment is None
    payment = services.order_payment_open(actor=patient_user, order_id=order.pk)
    assert payment.amount == order.personal_due
    wxpay.pay(payment.prepay_id)
    dispensing = dispense(pharmacist_user, routed, stock[0])
    services.order_ship(
        actor=pharmacist_user, order_id=order.pk, carrier="同城配送", tracking_no="T1"
    )
    delivery_advance(
        actor=pharmacist_user,
        dispensing_id=dispensing.pk,
        to_status=DeliveryStatus.DELIVERED,
        received_by="张伟家属",
    )
    order.refresh_from_db()
    assert (order.status, order.received_by) == (OS.DELIVERED, "张伟家属")
    assert order.received_at is not None
