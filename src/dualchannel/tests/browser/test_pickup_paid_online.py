"""A 网订店取 order paid on the phone [CX art. 22 网上支付、移动支付], on a 375 × 812 phone and the
demo data: 张伟 reserves his prescription for pick-up choosing 在线支付, sees the pre-settlement
and pays his part at the cashier (the payment simulator); the order waits 待取药. At the pharmacy
the pharmacist sees 已线上支付 on the 网上订单 page, enters his pick-up code, verifies and
dispenses at the counter (handed over), and settles with the fund: the counter says the personal
part was paid online and asks for no money."""

from __future__ import annotations

import re

import pytest

from dualchannel.core.models import User
from dualchannel.inventory.models import TraceCode
from dualchannel.prescriptions.models import OnlineOrder, OrderStatus
from dualchannel.settlement.models import Settlement
from dualchannel.tests.browser.conftest import sqlite_pass_only
from dualchannel.tests.browser.orders import open_order_form, routed_prescription
from dualchannel.tests.browser.phone import fits_the_phone, phone_login
from dualchannel.tests.browser.words import in_words

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]


@pytest.fixture
def phone(browser):
    """An iPhone X-sized screen (375×812)."""
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def test_a_pickup_order_paid_online_is_handed_over_and_settled_without_collecting(
    page, phone, live_server, demo_world, demo_login, settings
):
    base, staff = live_server.url, page
    settings.PUBLIC_BASE_URL = base  # the cashier sends the phone back here
    prescription, _pharmacy, _drug = routed_prescription()
    phone_login(phone, base, User.objects.get(username="patient").insured_person.phone)

    # 网订店取 with 在线支付: each option says in one line what it means
    open_order_form(phone, base, prescription)
    choice = in_words(phone)
    assert "在线支付" in choice and "到店支付" in choice
    assert fits_the_phone(phone)
    phone.check("input[name=mode][value=online_pickup]")
    phone.check("#pickup-pay-online")
    phone.click("#place-order")

    # the held box pre-settled: what the fund pays, his own part, and the code (once)
    phone.wait_for_url(re.compile(r"/portal/orders/\d+/$"))
    code = re.search(r"取药码 (\d{8})", in_words(phone)).group(1)
    order = OnlineOrder.objects.get(prescription=prescription)
    assert phone.locator("#order-status").inner_text() == "待支付"
    assert "统筹基金支付" in phone.locator("#order-split").inner_text()
    assert f"{order.personal_due} 元" in phone.locator("#order-due").inner_text()
    assert "取药时" in phone.locator("#order-split").inner_text()
    assert fits_the_phone(phone)
    phone.click("#pay")
    phone.wait_for_selector("#cashier")
    assert phone.locator("#cashier-amount").inner_text() == f"¥{order.personal_due}"
    phone.click("#cashier-pay")
    phone.wait_for_url(re.compile(r"/portal/orders/\d+/$"))
    assert phone.locator("#order-status").inner_text() == "待取药"
    assert "已线上支付" in phone.locator("#order-due").inner_text()
    assert fits_the_phone(phone)

    # the pharmacy's 网上订单 page: paid online; the code opens the order at the counter
    demo_login(staff, "pharmacist")
    staff.goto(f"{base}/pharmacy/orders/")
    assert "已线上支付" in staff.locator(f"#ready #order-{order.pk}").inner_text()
    staff.fill("#pickup-code", code)
    staff.click("#redeem")
    staff.wait_for_url(re.compile(rf"/pharmacy/counter/{prescription.pk}/$"))
    staff.wait_for_load_state("load")  # htmx and the counter script run deferred
    assert "已线上支付" in in_words(staff)

    # the held batch, the patient's ID card, one code scanned; verified, dispensed
    batch = staff.locator("#line-0-stock_item").input_value()
    trace = (
        TraceCode.objects.filter(stock_item_id=int(batch), status="in_stock")
        .order_by("code")
        .values_list("code", flat=True)
        .first()
    )
    staff.select_option("#certificate_type", "02")
    staff.fill("#certificate_no", prescription.patient.id_number)
    staff.locator("#line-0-codes").press_sequentially(trace)
    staff.press("#line-0-codes", "Enter")
    staff.click("#verify")
    staff.wait_for_selector("#checks-passed")
    staff.click("#dispense")
    staff.wait_for_url(re.compile(rf"/pharmacy/counter/{prescription.pk}/result/$"))
    assert OnlineOrder.objects.get(pk=order.pk).status == OrderStatus.PICKED_UP

    # the counter: paid online, one button that settles with the fund and collects nothing
    paid_online = staff.locator("#paid-online").inner_text()
    assert f"个人自付 {order.personal_due} 元已由参保人线上支付" in paid_online
    assert staff.locator("#settle").count() == 0
    staff.click("#settle-online")
    staff.wait_for_selector("#settlement-no")
    words = in_words(staff)
    assert "已由参保人线上支付，无需再收取" in words and "请向患者收取" not in words
    settlement = Settlement.objects.get(dispensing__online_order=order)
    assert settlement.online_payment == OnlineOrder.objects.get(pk=order.pk).payment
    assert settlement.personal == order.personal_due

    # the patient's order says it was picked up
    phone.reload()
    assert phone.locator("#order-status").inner_text() == "已取药"
