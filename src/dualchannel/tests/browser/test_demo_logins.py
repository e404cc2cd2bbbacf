"""Every staff login that ``make demo`` prints opens its role's first page on the demo data."""

from __future__ import annotations

import pytest

from dualchannel.tests.browser.conftest import sqlite_pass_only

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]


def test_each_demo_staff_login_lands_on_a_page_with_a_heading(page, demo_login):
    for username in ("doctor", "reviewer", "pharmacist", "officer"):
        demo_login(page, username)
        assert "/accounts/login/" not in page.url, username
        assert page.locator("h1").count() >= 1, (username, page.url)
        page.context.clear_cookies()


def test_each_printed_demo_patient_login_opens_the_portal_on_their_own_case(
    page, demo_login, demo_world, live_server
):
    patients = [name for name, login in demo_world.items() if login.role == "参保患者"]
    assert set(patients) == {"patient", "patient_yang"}
    for username in patients:
        demo_login(page, username)
        assert "/accounts/login/" not in page.url, username
        page.goto(f"{live_server.url}/portal/")
        assert "/accounts/login/" not in page.url, username
        surname = demo_world[username].who[0]  # 张伟, 杨军: greeted by the masked name
        assert f"您好，{surname}*" in page.content(), (username, page.url)
        page.context.clear_cookies()
