"""Online orders on a 375 × 812 phone, on the demo data [CX art. 22]: 张伟 reserves his
prescription for pick-up (网订店取), lets the window pass and sees the boxes released; then he
orders for delivery (网订店送) to an address he saves, sees the pre-settlement of the held box
(what the fund pays, his own part) and pays his part with the fee at the cashier (the payment
simulator), the pharmacy dispenses and ships it on its 网上订单 page (the fund settles then),
and he confirms the parcel arrived, following each step in his messages.

The physician's prescription and the counter's dispensing are set up through their services
(their pages have their own browser tests); the expiry job runs with its clock argument."""

from __future__ import annotations

import re

import pytest

from dualchannel.core.models import User
from dualchannel.inventory.models import TraceCode
from dualchannel.inventory.selectors import fefo_suggestion, stock_available
from dualchannel.prescriptions import services as rx
from dualchannel.prescriptions.models import OnlineOrder
from dualchannel.prescriptions.services import counter
from dualchannel.settlement.models import Settlement
from dualchannel.tests.browser.conftest import sqlite_pass_only
from dualchannel.tests.browser.orders import open_order_form, routed_prescription
from dualchannel.tests.browser.phone import fits_the_phone, phone_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]


def test_a_pickup_reservation_expires_and_releases_the_boxes(mobile_page, live_server, demo_world):
    base, phone = live_server.url, mobile_page
    prescription, pharmacy, drug = routed_prescription()
    on_hand = stock_available(pharmacy, drug)
    phone_login(phone, base, User.objects.get(username="patient").insured_person.phone)

    open_order_form(phone, base, prescription)
    assert fits_the_phone(phone)
    phone.check("input[name=mode][value=online_pickup]")
    window = phone.locator("#window option").first.inner_text()
    phone.click("#place-order")
    phone.wait_for_url(re.compile(r"/portal/orders/\d+/$"))
    assert phone.locator("#order-status").inner_text() == "待取药"
    assert window.split("–")[0] in phone.locator("#order-window").inner_text()
    assert re.search(r"取药码 \d{8}", phone.locator("body").inner_text())
    assert stock_available(pharmacy, drug) == on_hand - 1  # held for the window
    assert fits_the_phone(phone)

    # the window passes: the expiry job (run with its clock) ends the order, the box is free
    order = OnlineOrder.objects.get(prescription=prescription)
    assert rx.orders_expire(now=order.hold_until) == 1
    phone.reload()
    assert phone.locator("#order-status").inner_text() == "已过期"
    assert stock_available(pharmacy, drug) == on_hand

    # the message says so and leads back to the order
    phone.goto(f"{base}/portal/messages/")
    expired = phone.locator("article.notification").filter(has_text="已过期").first
    assert order.order_no in expired.inner_text()
    expired.locator("a:has-text('查看订单')").click()
    phone.wait_for_url(re.compile(rf"/portal/orders/{order.pk}/$"))


def dispense(prescription, pharmacy, drug) -> None:
    """The counter dispenses the order: the patient's card, the batch FEFO suggests, its code."""
    batch = fefo_suggestion(pharmacy, drug, 1).picks[0].stock_item
    code = TraceCode.objects.filter(stock_item=batch, status="in_stock").order_by("code").first()
    counter.counter_dispense(
        actor=User.objects.get(username="pharmacist"),
        prescription_id=prescription.pk,
        identity=counter.Identity("02", prescription.patient.id_number),
        lines=[
            {
                "item_id": prescription.items.get().pk,
                "stock_item_id": batch.pk,
                "packages": 1,
                "trace_codes": [code.code],
            }
        ],
        idempotency_key=f"order-{prescription.pk}",
    )


def test_a_delivery_order_is_paid_shipped_and_received(
    page, mobile_page, live_server, demo_world, demo_login, settings
):
    base, phone, staff = live_server.url, mobile_page, page
    settings.PUBLIC_BASE_URL = base  # the cashier sends the phone back here
    prescription, pharmacy, drug = routed_prescription()
    phone_login(phone, base, User.objects.get(username="patient").insured_person.phone)

    # a new address in 武昌区 (inside the pharmacy's Wuhan area), then 网订店送 to it
    open_order_form(phone, base, prescription)
    phone.select_option("#address-region", label="武昌区")
    phone.fill("#address-detail", "中山路100号")
    phone.fill("#address-name", "张伟")
    phone.fill("#address-phone", "13800000001")
    phone.click("#save-address")
    phone.wait_for_selector("text=收货地址已保存")
    assert "武昌区中山路100号" in phone.locator("#delivery").inner_text()
    assert "13800000001" not in phone.locator("body").inner_text()  # masked on screen
    phone.check("input[name=mode][value=home_delivery]")
    phone.click("#place-order")

    # the held box is pre-settled: he sees what the fund pays and his own part, then pays it
    # with the fee in one payment at the cashier (the payment simulator)
    phone.wait_for_url(re.compile(r"/portal/orders/\d+/$"))
    order = OnlineOrder.objects.get(prescription=prescription)
    split = phone.locator("#order-split").inner_text()
    assert "统筹基金支付" in split and "个人自付" in split
    assert f"{order.presettlement['personal']} 元" in split
    due = order.personal_due + order.fee
    assert f"{due} 元" in phone.locator("#order-due").inner_text()
    assert phone.locator("#order-status").inner_text() == "待支付"
    assert fits_the_phone(phone)
    phone.click("#pay")
    phone.wait_for_selector("#cashier")
    assert phone.locator("#cashier-amount").inner_text() == f"¥{due}"
    phone.click("#cashier-pay")
    phone.wait_for_url(re.compile(r"/portal/orders/\d+/$"))
    assert phone.locator("#order-status").inner_text() == "备药中"
    assert "8.00 元" in phone.locator("#order-facts").inner_text()
    assert fits_the_phone(phone)

    # the pharmacy dispenses at the counter, then ships from its 网上订单 page
    dispense(prescription, pharmacy, drug)
    demo_login(staff, "pharmacist")
    staff.goto(f"{base}/pharmacy/orders/")
    row = staff.locator(f"#to-ship #order-{order.pk}")
    row.locator("input[name=carrier]").fill("顺丰速运")
    row.locator("input[name=tracking_no]").fill("SF1234567890")
    row.locator("button[type=submit]").click()
    staff.wait_for_selector(f"#shipped #order-{order.pk}")
    # shipped: the fund settled (2102), the personal part recorded as paid online
    settlement = Settlement.objects.get(dispensing__online_order=order)
    assert settlement.online_payment == OnlineOrder.objects.get(pk=order.pk).payment
    assert settlement.personal == order.personal_due

    # the patient follows it and confirms receipt
    phone.reload()
    assert phone.locator("#order-status").inner_text() == "配送中"
    assert "SF1234567890" in phone.locator("#order-tracking").inner_text()
    phone.click("#confirm-received")
    phone.wait_for_selector("text=已确认收货")
    assert phone.locator("#order-status").inner_text() == "已送达"
    assert "张伟（本人确认）" in phone.locator("#order-received").inner_text()
    steps = phone.locator("#order-steps").inner_text()
    assert "备药中" in steps and "配送中" in steps and "已送达" in steps
    assert fits_the_phone(phone)

    # each step reached his messages
    phone.goto(f"{base}/portal/messages/")
    messages = phone.locator("main").inner_text()
    assert "网上订单：待支付" in messages and "网上订单：备药中" in messages
    assert "配送中" in messages and "已送达" in messages
