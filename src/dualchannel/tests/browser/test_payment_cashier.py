"""The payer on a 375×812 phone: the simulated WeChat Pay cashier, then back to our result page
(the order queried at once; the callback came in the meantime)."""

from __future__ import annotations

import pytest
from django.test import Client

from dualchannel.payments import hooks
from dualchannel.payments.models import PaymentOrder, PaymentStatus
from dualchannel.payments.tests.helpers import PURPOSE, new_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone(browser, live_server, settings, patient_user):
    """A phone signed in as the patient, against a server whose public address is the live one."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.PAYMENT_NOTIFY_BASE_URL = live_server.url
    client = Client()
    client.force_login(patient_user)
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


@pytest.fixture
def calls():
    """The referencing app (an online order) told of each payment."""
    seen: list[tuple[str, str]] = []
    hooks.register(PURPOSE, on_paid=lambda order: seen.append(("paid", order.out_trade_no)))
    yield seen
    hooks.unregister(PURPOSE)


def fits(tab) -> bool:
    return tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_patient_pays_at_the_cashier_and_sees_it_paid(phone, patient_user, calls):
    order = new_order(patient_user)

    phone.goto(order.pay_url)
    assert "¥12.34" in phone.locator("#cashier-amount").inner_text()
    assert fits(phone)
    phone.click("#cashier-pay")

    phone.wait_for_url(f"**/payments/return/{order.out_trade_no}/")
    assert phone.locator("#payment-status").inner_text() == "已支付"
    assert fits(phone)
    assert PaymentOrder.objects.get(pk=order.pk).status == PaymentStatus.PAID
    assert calls == [("paid", order.out_trade_no)]


def test_the_patient_cancels_and_may_pay_later(phone, patient_user, calls):
    order = new_order(patient_user)

    phone.goto(order.pay_url)
    phone.click("#cashier-cancel")

    phone.wait_for_url(f"**/payments/return/{order.out_trade_no}/")
    assert phone.locator("#payment-status").inner_text() == "待支付"
    phone.click("text=继续支付")
    phone.wait_for_url("**/simulators/wxpay/cashier/**")
    phone.locator("#cashier-pay").wait_for(state="visible")
    assert calls == []
