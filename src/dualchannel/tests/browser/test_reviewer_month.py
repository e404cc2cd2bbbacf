"""The hospital reviewer's month on the demo, through the pages only (issue 12, point 9): the
queue by working days left, every piece of evidence opened in place (HIS reports in Chinese,
the signed form), materials requested on one case and another approved; the history in words.
No API call, no database write in the test."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from dualchannel.tests.browser.conftest import sqlite_pass_only
from dualchannel.tests.browser.layout import assert_labels_clear

# A signed PDF shown in the viewer: chromium renders it in a plug-in, slow on a busy machine.
PDF_VIEWER_MS = 30_000

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]


def open_case(page, drug: str) -> None:
    page.locator("#review-queue tr", has_text=drug).locator("a").click()
    page.wait_for_url(re.compile(r"/review/applications/\d+/$"))


def open_signed_form(page) -> None:
    """The signed application form in the viewer. Under a full CI machine a click on the link
    once went unanswered for 30 s (no swap at all); one more click of the same GET link, then
    the test fails if the viewer still does not show it."""
    frame = page.locator("#viewer iframe.evidence-frame")
    for attempt in range(2):
        page.click("#documents a:has-text('申请表')")
        try:
            frame.wait_for(timeout=PDF_VIEWER_MS // 2)
            return
        except PlaywrightTimeoutError:
            if attempt:
                raise


def test_the_reviewers_month_from_the_pages(page, demo_login, live_server):
    demo_login(page, "reviewer")

    # the home page is the queue, with counts, by working days left
    assert page.url.endswith("/review/")
    assert page.locator("#count-queue").inner_text() == "待审核 2"
    assert "待补充材料 / 调取中 1" in page.locator("#count-waiting").inner_text()
    assert page.locator("#review-queue tbody tr").count() == 2

    # 刘芳's case: the criteria's data in Chinese, no key or English value
    open_case(page, "曲妥珠单抗")
    outcomes = page.locator("#outcomes").inner_text()
    assert "HER2 阳性" in outcomes
    assert "positive" not in outcomes and "age" not in outcomes

    # every material opens in place; a HIS report reads as the HIS printed it
    opened = page.locator("a.open-material")
    assert opened.count() >= 4
    for n in range(opened.count()):
        opened.nth(n).click()
        page.locator("#viewer article.viewer").wait_for()
    opened.first.click()
    page.locator("#viewer pre.report").wait_for()
    assert "报告编号" in page.locator("#viewer pre.report").inner_text()
    # the signed application form, in a viewer
    open_signed_form(page)

    # a report is missing for this case: materials are requested, in one notice
    if page.locator("#request-materials[open]").count() == 0:
        page.click("#request-materials summary")
    page.check("#request-materials input[value=outpatient_record]")
    page.click("#request-submit")
    page.wait_for_selector("#status:has-text('待补充材料')")
    assert "已一次性告知患者" in page.locator("#messages").inner_text()

    # 杨军's case: the criteria are met, one upload of his waits for 核验
    page.goto(f"{live_server.url}/review/")
    assert page.locator("#count-queue").inner_text() == "待审核 1"
    open_case(page, "艾加莫德")
    assert_labels_clear(page)
    # his uploaded discharge summary waits for 核验: opened in the viewer, then 核验通过
    assert "outline" in (page.locator("#approve").get_attribute("class") or "")
    upload = page.locator("tr[data-material]", has_text="患者上传")
    assert "未核验" in upload.inner_text()
    upload.locator("a.open-material").click()
    page.locator("#viewer iframe.evidence-frame").wait_for(timeout=PDF_VIEWER_MS)
    page.locator("#viewer button:has-text('核验通过')").click()
    page.wait_for_url(re.compile(r"/review/applications/\d+/$"))
    assert "已核验" in upload.inner_text() and "外院出院小结" in upload.inner_text()
    assert page.locator("tr[data-material] .badge-warn").count() == 0
    # now 通过 is the primary action, one click and its confirmation
    approve = page.locator("#approve")
    assert "outline" not in (approve.get_attribute("class") or "")
    page.once("dialog", lambda dialog: dialog.accept())
    approve.click()
    page.wait_for_selector("#status:has-text('已通过')")

    # the history says who did what, in words
    history = page.locator("#history").inner_text()
    assert "责任医师 李明" in history and "签名并提交申请" in history
    assert "医院医保办审核员 陈审核" in history and "审核通过" in history
    assert "eligibility." not in history
