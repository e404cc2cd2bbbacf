"""The pages in a real browser: login, the agency console and the public query on a phone."""

from __future__ import annotations

import re

import pytest

from dualchannel.catalog.tests.factories import (
    DrugFactory,
    PaymentStandardFactory,
    RestrictionFactory,
    lung_cancer_set,
)
from dualchannel.registry.models import Designation, DesignationStatus, EquippedDrug
from dualchannel.registry.tests.factories import (
    designate,
    load_seed_profiles,
    qualified_pharmacy,
    region,
)
from dualchannel.tests.browser.conftest import give_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_wrong_password_is_told_in_chinese_and_right_one_logs_in(
    page, live_server, agency_user, password
):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", agency_user.username)
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "用户名或密码错误。"

    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    # an officer then gives the authenticator's code (two-factor sign-in)
    page.wait_for_url(re.compile(r"/accounts/otp/"))
    give_second_factor(page, agency_user)
    page.wait_for_url(re.compile(r"/agency/$"))  # the officer's work queue
    assert "今日待办" in page.locator("h1").inner_text()


def test_officer_finds_a_drug_by_pinyin_initials_and_reads_its_detail(
    page, live_server, login, agency_user
):
    drug = DrugFactory(generic_name="洛拉替尼片", category_code="XL01ED")
    PaymentStandardFactory(drug=drug, confidential=True)
    RestrictionFactory(drug=drug)
    lung_cancer_set(drug=drug, status="published")
    DrugFactory(generic_name="阿司匹林肠溶片", category_code="XB01AC", is_anti_cancer=False)
    login(page, agency_user)

    page.goto(f"{live_server.url}/agency/catalog/")
    assert page.locator("text=阿司匹林肠溶片").count() == 1  # the whole list, before typing
    page.fill("input[name=q]", "lltn")  # htmx searches as the officer types
    page.wait_for_selector("text=阿司匹林肠溶片", state="detached")
    assert page.locator("text=洛拉替尼片").count() == 1

    page.click("text=洛拉替尼片")
    page.wait_for_selector("h1:has-text('洛拉替尼片')")
    body = page.locator("main").inner_text()
    assert "限间变性淋巴瘤激酶(ALK)阳性" in body  # restriction verbatim
    assert "保密" in body  # confidential standard labelled, not shown
    assert 'diagnoses.exists(d, d.startsWith("C34"))' in body  # criteria as data


def test_officer_moves_a_designation_along_with_one_click(
    page, live_server, login, agency_user, hospital
):
    load_seed_profiles()  # evaluation checks the Hubei conditions [HB art. 18]
    hospital.has_pathology = True
    hospital.save()
    designation = Designation.objects.create(institution=hospital)
    login(page, agency_user)

    page.goto(f"{live_server.url}/agency/institutions/{hospital.pk}/")
    page.click("#designation-panel button[value=evaluated]")
    page.wait_for_selector("#designation-panel button[value=publicised]")
    assert page.locator("#messages [role=alert]").count() == 0

    designation.refresh_from_db()
    assert designation.status == DesignationStatus.EVALUATED
    assert designation.history.get().to_status == "evaluated"


def test_public_query_on_a_phone_lists_designated_pharmacies_of_a_county(mobile_page, live_server):
    region("420102")
    pharmacy = qualified_pharmacy(name="江岸演示大药房", region_code="420102")
    designate(pharmacy)
    unlisted = qualified_pharmacy(name="未纳入药房", region_code="420102")
    designate(unlisted, status=DesignationStatus.APPLIED)
    EquippedDrug.objects.create(institution=pharmacy, drug=DrugFactory(generic_name="洛拉替尼片"))
    page = mobile_page

    page.goto(f"{live_server.url}/query/")
    page.select_option("#province", "420000")
    page.wait_for_selector("#city option[value='420100']", state="attached")
    page.select_option("#city", "420100")
    page.wait_for_selector("#county option[value='420102']", state="attached")
    page.select_option("#county", "420102")
    page.fill("input[name=drug]", "lltn")
    page.click("button[type=submit]")
    page.wait_for_selector("#results :text('江岸演示大药房')")

    assert page.locator("#results :text('未纳入药房')").count() == 0
    # Fits a 375px phone without sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
