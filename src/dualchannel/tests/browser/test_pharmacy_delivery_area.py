"""The pharmacy's delivery area on its 网订设置 page, on the demo data [CX art. 22]: 赵药师 adds a
district by name (province → city → county, as the public query chooses regions), saves, then
takes it out again; the page shows names only, never region codes."""

from __future__ import annotations

import re

import pytest

from dualchannel.prescriptions.models import PharmacyDeliverySettings
from dualchannel.tests.browser.conftest import sqlite_pass_only

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]


def area_codes() -> list[str]:
    terms = PharmacyDeliverySettings.objects.get(pharmacy__name="江岸演示大药房")
    return sorted(terms.area.values_list("code", flat=True))


def test_the_pharmacist_picks_the_delivery_area_by_name(page, live_server, demo_login):
    before = area_codes()
    demo_login(page, "pharmacist")
    page.goto(f"{live_server.url}/pharmacy/orders/settings/")
    # the pharmacy's own province is open; its cities, then a city's counties, by name
    assert page.locator("#province option:checked").inner_text() == "湖北省"
    page.select_option("#city", label="黄石市")
    page.wait_for_selector("#county option:text-is('黄石港区')", state="attached")
    page.select_option("#county", label="黄石港区")
    page.click("#area-add")
    page.wait_for_selector("text=已加入")
    assert "湖北省 黄石市 黄石港区" in page.locator("#delivery-area").inner_text()
    assert area_codes() == before  # not saved yet

    page.click("#settings-save")
    page.wait_for_selector("text=网订设置已保存")
    shown = page.locator("#delivery-area").inner_text()
    assert "湖北省 黄石市 黄石港区" in shown and not re.search(r"\d{6}", shown)
    assert area_codes() == sorted([*before, "420202"])

    # unticked and saved, it is out of the area again
    page.locator("#delivery-area label", has_text="黄石港区").locator("input").uncheck()
    page.click("#settings-save")
    page.wait_for_selector("text=网订设置已保存")
    assert "黄石港区" not in page.locator("#delivery-area").inner_text()
    assert area_codes() == before
