"""The patient starts a filing on a 375×812 phone [HB art. 7(1)(3)] (issue 14, points 1 and 6):
the drug, the treating hospital and a report they have; the hospital's responsible physician
sees it in the 患者申请 queue, opens the upload in place, takes it and completes it into an
application, which follows the usual path: submitted, the reviewer's queue, 审核中 on the phone.
No API call and no database write in the test."""

from __future__ import annotations

import re

import pytest

from dualchannel.core.tests.files import PDF
from dualchannel.tests.browser.conftest import sqlite_pass_only, watch_csp
from dualchannel.tests.browser.phone import fits_the_phone, phone_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]

DRUG = "洛拉替尼片"
HOSPITAL = "武汉演示协和医院"
PHARMACY = "江岸演示大药房"
PATIENT_PHONE = "13900000001"  # 张伟 in the demo


@pytest.fixture
def phone(browser):
    """An iPhone X-sized screen (375×812)."""
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.csp_violations = watch_csp(tab)
    yield tab
    context.close()
    assert tab.csp_violations == []


def test_a_patient_starts_a_filing_and_the_physician_completes_it(
    page, phone, live_server, demo_login, tmp_path
):
    base = live_server.url
    report = tmp_path / "外院病理报告.pdf"
    report.write_bytes(PDF)

    # the patient: drug, hospital, a report from another hospital, submitted from the phone
    phone_login(phone, base, PATIENT_PHONE)
    phone.click("#new-filing")
    drug = phone.locator("#drug_id option", has_text=DRUG).first.get_attribute("value")
    phone.select_option("#drug_id", drug)
    phone.select_option("#hospital_id", label=HOSPITAL)
    phone.select_option("select[name=kind_0]", "pathology")
    phone.set_input_files("#file_0", str(report))
    phone.fill("#note", "外院确诊肺腺癌，ALK阳性")
    assert fits_the_phone(phone)
    phone.click("#submit-filing")
    phone.wait_for_url(re.compile(r"/portal/filings/\d+/$"))
    assert "待医师受理" in phone.locator("#status").inner_text()
    assert "外院病理报告.pdf" in phone.locator("#uploads").inner_text()
    assert fits_the_phone(phone)

    # the physician: the queue, the upload in place, take, complete into an application
    demo_login(page, "doctor")
    assert "患者申请 1" in page.locator("#count-patient-requests").inner_text()
    row = page.locator("#patient-requests-table tbody tr").first
    assert DRUG in row.inner_text() and "张*" in row.inner_text()
    row.locator("a").click()
    frame = page.locator("#uploads iframe.evidence-frame")
    frame.wait_for()
    opened = page.request.get(base + frame.get_attribute("src"))
    assert opened.status == 200 and opened.headers["content-type"] == "application/pdf"
    page.click("#take-request")
    page.wait_for_selector("#status:has-text('医师办理中')")
    page.select_option("#complete-form select[name=pharmacy_id]", label=PHARMACY)
    page.click("#complete-request")
    page.wait_for_url(re.compile(r"/doctor/applications/\d+/$"))
    assert "草稿" in page.locator("#status").inner_text()
    application_no = re.search(r"SQ\d+", page.locator("#messages").inner_text()).group(0)
    # then the usual path: the criterion, the plan, submit
    page.click("tr[data-code=advanced] button:has-text('是')")
    page.wait_for_selector("tr[data-code=advanced][data-outcome=met]")
    page.fill("input[name=dose_value]", "100")
    page.fill("input[name=total_quantity]", "90")
    page.click("#plan-form button[type=submit]")
    page.wait_for_selector("text=治疗用药方案已保存")
    page.click("#submit-application")
    page.wait_for_selector("#status:has-text('审核中')")

    # the reviewer's queue has it
    page.context.clear_cookies()
    demo_login(page, "reviewer")
    assert application_no in page.content()

    # the patient follows it on the phone: the request made an application, now 审核中
    phone.goto(f"{base}/portal/")
    article = phone.locator("#applications article", has_text=application_no)
    assert "审核中" in article.inner_text()
    phone.goto(f"{base}/portal/messages/")
    assert "备案申请已转为用药资格申请" in phone.content()
