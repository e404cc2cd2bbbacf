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
