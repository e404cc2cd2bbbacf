"""The patient portal on a phone: SMS-code login (demo mode shows the code), binding, home."""

from __future__ import annotations

import re

import pytest

from dualchannel.registry.tests.factories import InsuredPersonFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_patient_logs_in_by_code_binds_and_sees_the_home_page(mobile_page, live_server, settings):
    settings.DEMO_MODE = True
    settings.SMS_PROVIDER = "log"
    person = InsuredPersonFactory(name="张三", phone="13900000001")
    page = mobile_page

    page.goto(f"{live_server.url}/portal/login/")
    assert _fits_the_screen(page)
    page.fill("input[name=phone]", "13900000001")
    page.click("#send-code")
    demo = page.locator(".demo-code strong")
    demo.wait_for()
    assert "139****0001" in page.locator("#code-status").inner_text()
    page.fill("input[name=code]", demo.inner_text())
    page.click("main button[type=submit]")

    page.wait_for_url(re.compile(r"/portal/bind/$"))
    assert _fits_the_screen(page)
    page.fill("input[name=id_number]", person.id_number)
    page.fill("input[name=name]", "李四")
    page.click("main button[type=submit]")
    assert "身份证号与姓名不匹配" in page.locator("[role=alert]").inner_text()
    page.fill("input[name=name]", "张三")
    page.click("main button[type=submit]")

    page.wait_for_url(re.compile(r"/portal/$"))
    assert "您好，张*" in page.locator("h2").inner_text()
    assert "暂无申请" in page.locator("#applications").inner_text()
    assert _fits_the_screen(page)


def test_a_wrong_phone_is_told_next_to_the_button(mobile_page, live_server):
    page = mobile_page
    page.goto(f"{live_server.url}/portal/login/")
    page.fill("input[name=phone]", "12345")
    page.click("#send-code")

    alert = page.locator("#code-status [role=alert]")
    alert.wait_for()
    assert "请输入正确的11位手机号码" in alert.inner_text()
