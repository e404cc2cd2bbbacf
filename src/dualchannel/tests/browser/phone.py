"""What the phone tests share: the page fits a 375 px screen, and the portal's SMS-code login."""

from __future__ import annotations

import re


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 375


def phone_login(page, base_url: str, phone: str) -> None:
    page.goto(f"{base_url}/portal/login/")
    page.fill("input[name=phone]", phone)
    page.click("#send-code")
    code = page.locator(".demo-code strong")  # demo mode shows what the SMS would carry
    code.wait_for()
    button = page.locator("#send-code")
    assert button.is_disabled() and "重新发送（" in button.inner_text()  # the resend countdown
    page.fill("input[name=code]", code.inner_text().strip())
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/$"))
