"""The patient portal on a phone: SMS-code login (demo mode shows the code), binding, home."""

from __future__ import annotations

import re

import pytest

from dualchannel.core.models import User
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


def test_patient_binds_and_unbinds_wechat_through_the_simulator(mobile_page, live_server, settings):
    """The demo's configuration end to end: the browser goes to the simulated authorize page and
    back, the server exchanges the code over HTTP with the simulated sns/oauth2/access_token."""
    settings.DEMO_MODE = True
    settings.SMS_PROVIDER = "log"
    settings.PUBLIC_BASE_URL = live_server.url
    settings.WECHAT_APP_ID = "wxbrowser00000001"
    settings.WECHAT_APP_SECRET = "browser-secret"
    settings.WECHAT_OAUTH_AUTHORIZE_URL = (
        f"{live_server.url}/simulators/wechat/connect/oauth2/authorize"
    )
    settings.WECHAT_OAUTH_API_BASE = f"{live_server.url}/simulators/wechat"
    person = InsuredPersonFactory(name="张三", phone="13900000001")
    page = mobile_page
    page.goto(f"{live_server.url}/portal/login/")
    page.fill("input[name=phone]", "13900000001")
    page.click("#send-code")
    demo = page.locator(".demo-code strong")
    demo.wait_for()
    page.fill("input[name=code]", demo.inner_text())
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/bind/$"))
    page.fill("input[name=id_number]", person.id_number)
    page.fill("input[name=name]", "张三")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/$"))

    page.click("#nav-account")
    page.wait_for_url(re.compile(r"/portal/account/$"))
    assert _fits_the_screen(page)
    page.click("#wechat-bind")
    # Back from WeChat (the #wechat_redirect fragment stays through the redirects).
    page.wait_for_url(re.compile(r"/portal/account/(#wechat_redirect)?$"))
    assert "已绑定微信" in page.locator("#wechat").inner_text()
    assert _fits_the_screen(page)
    user = User.objects.get(insured_person=person)
    assert user.wechat_openid.startswith("oSim")

    page.click("#wechat-unbind")
    page.locator("#wechat-bind").wait_for()
    user.refresh_from_db()
    assert user.wechat_openid == ""
