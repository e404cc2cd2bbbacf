"""The patient's month on a 375 px phone, on the demo data, through the pages only (issue 12,
points 6 and 9): the physician applies and the reviewer approves (the paper's case, played by
``benchmarks/paper_case.py``'s own steps); the patient logs in by phone and code, reads the
approval with its dates and next step, follows a message to what it is about; the physician
prescribes; the patient sees the prescription, chooses the pharmacy and consents under the
region's own article. No API call and no database write in the test."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from dualchannel.tests.browser.conftest import sqlite_pass_only
from dualchannel.tests.browser.phone import fits_the_phone, phone_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]

PAPER_CASE = Path(__file__).resolve().parents[4] / "benchmarks" / "paper_case.py"
SUCCESS_BACKGROUND = "rgb(232, 245, 233)"  # .badge-ok in core/app.css


def paper_case():
    """The benchmark's page steps for the physician and the reviewer (kept working by
    ``make bench-paper``), loaded from its file: it is a script, not a package module."""
    spec = importlib.util.spec_from_file_location("paper_case", PAPER_CASE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def prescribe(staff, case, base_url: str, application_url: str) -> None:
    """The physician opens the approved application and writes the prescription."""
    staff.context.clear_cookies()
    case.password_login(case.RoleRecorder("physician", staff, base_url), "doctor", "/doctor/")
    staff.goto(application_url)
    staff.click("#prescribe-link")
    staff.wait_for_selector("#prescribe-form")
    staff.fill("input[name=quantity]", "30")
    staff.fill("input[name=days]", "30")
    if not staff.locator("input[name=pack_size]").input_value():
        staff.fill("input[name=pack_size]", "30")
    staff.click("#prescribe")
    staff.wait_for_selector("text=已开具处方")


def test_the_patients_month_on_a_phone(page, mobile_page, live_server, demo_world):
    base = live_server.url
    case = paper_case()
    staff, phone = page, mobile_page

    # the physician applies and the reviewer approves, on their own pages
    number = case.play_physician(case.RoleRecorder("physician", staff, base))
    application_url = staff.url
    staff.context.clear_cookies()
    case.play_reviewer(case.RoleRecorder("reviewer", staff, base), number)

    # the patient logs in by phone and one-time code
    phone_login(phone, base, case.PATIENT_PHONE)
    assert phone.locator("header.portal-header .brand").inner_text() == "双通道患者服务"

    # the approval: 已通过 in the success colour, its dates, and a next step promising nothing
    card = phone.locator("#applications article", has_text=number)
    status = card.locator("header .badge")
    assert status.inner_text() == "已通过"
    background = status.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background == SUCCESS_BACKGROUND
    text = card.inner_text()
    assert "有效期至" in text and "生效日期" in text
    assert "由责任医师开具处方" in text and "可持处方" not in text
    assert fits_the_phone(phone)

    # 我的消息, in the portal's layout, links to the application it is about
    phone.click("#my-messages")
    phone.wait_for_url(re.compile(r"/portal/messages/$"))
    assert "公众查询" not in phone.locator("header.portal-header").inner_text()
    approval = phone.locator("article.notification", has_text=number).filter(has_text="审核通过")
    approval.first.locator("a:has-text('查看申请')").click()
    phone.wait_for_url(re.compile(r"/portal/applications/\d+/$"))
    assert phone.locator("#application-status").inner_text() == "已通过"
    if phone.locator("#requested-materials").count():  # nothing is asked for in this case
        pytest.fail("the approved case asks for materials")
    assert fits_the_phone(phone)

    # the physician prescribes; the patient's next step now leads to the prescription
    prescribe(staff, case, base, application_url)
    phone.goto(f"{base}/portal/")
    card = phone.locator("#applications article", has_text=number)
    assert "处方已开具" in card.inner_text()
    card.locator("a:has-text('查看处方')").click()
    phone.wait_for_url(re.compile(r"/portal/prescriptions/\d+/$"))
    prescription_url = phone.url
    assert "已开具" in phone.locator("#prescription-status").inner_text()

    # the pharmacy chosen and the consent given under Hubei's own article, never another region's
    consent = phone.locator("label.consent")
    assert "鄂医保发〔2023〕35号" in consent.inner_text()
    body = phone.locator("body").inner_text()
    assert "楚雄" not in body and "楚医保" not in body and "皖医保" not in body
    phone.locator(f"label.pharmacy-option:has-text('{case.PHARMACY}') input").check()
    consent.locator("input[name=consent]").check()
    phone.click("#route")
    phone.wait_for_selector(f"text=处方已流转至{case.PHARMACY}")
    assert "已流转" in phone.locator("#prescription-status").inner_text()
    assert fits_the_phone(phone)

    # the prescription's message links back to it
    phone.click("#nav-messages")
    phone.wait_for_url(re.compile(r"/portal/messages/$"))
    routed = phone.locator("article.notification").filter(has_text=case.PHARMACY).first
    routed.locator("a:has-text('查看处方')").click()
    phone.wait_for_url(re.compile(r"/portal/prescriptions/\d+/$"))
    assert phone.url == prescription_url
