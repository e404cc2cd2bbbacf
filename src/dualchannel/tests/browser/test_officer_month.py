"""The agency officer's month played in a real browser on the demo data, through the pages only
(issue 12, points 5 and 9): the work queue, a batch drilled into and approved, a manual claim
entered by one officer and decided by another, an alert confirmed, a physician accepted, a drug
found on the catalogue's second page, a finding recorded with its recovery order."""

from __future__ import annotations

import pytest
from django.utils import timezone

from dualchannel.core.tests.files import PDF
from dualchannel.registry.models import InsuredPerson
from dualchannel.tests.browser.conftest import sqlite_pass_only

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]


def _queue(page, key: str) -> str:
    return page.locator(f"#queue-{key}").get_attribute("data-count")


def _review_the_batch(page) -> None:
    """From the queue to the batch's settlements, filtered, then approved in place."""
    page.click("#queue-batches >> text=去处理")
    page.click("#batches >> a:has-text('武昌演示医药连锁')")
    assert "月度结算申报" in page.locator("h1").inner_text()
    assert page.locator("tr[data-settlement]").count() == 1
    page.fill("input[name=q]", "杨军")
    page.click("button:has-text('筛选')")
    page.wait_for_load_state("networkidle")
    assert "共 1 笔" in page.locator("#settlement-count").inner_text()
    assert "杨军" in page.locator("tr[data-settlement]").inner_text()
    page.click("#batch-summary button:has-text('通过')")
    page.locator("#batch-summary >> text=已审核通过").wait_for()


def _choose(page, name: str, text: str) -> None:
    """Pick the option of a select whose label holds ``text``."""
    option = page.locator(f"select[name={name}] option", has_text=text).first
    page.select_option(f"select[name={name}]", option.get_attribute("value"))


def _enter_a_claim(page, person: InsuredPerson) -> str:
    page.goto(page.url.split("/agency/")[0] + "/agency/settlement/claims/")
    page.fill("input[name=id_number]", person.id_number)
    _choose(page, "institution", "江岸演示大药房")
    page.select_option("select[name=reason]", "system_failure")
    page.select_option("select[name=category]", "chronic_disease")
    page.fill("input[name=purchased_on]", timezone.localdate().isoformat())
    _choose(page, "drug", "二甲双胍")
    # 30 boxes of 30 tablets at the standard (1.17 元/片): above the year's deductible
    page.fill("input[name=quantity]", "30")
    page.fill("input[name=unit_price]", "35.10")
    page.fill("input[name=pack_size]", "30")
    page.set_input_files(
        "input[name=receipts]",
        files=[{"name": "发票.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    page.click("button:has-text('录入报销')")
    page.wait_for_load_state("networkidle")
    assert "须由另一位经办人员审核" in page.content()
    assert page.locator("button:has-text('同意报销')").count() == 0  # not by who entered it
    return page.url


def test_the_officer_runs_the_month_from_the_pages(page, demo_login):
    demo_login(page, "officer")

    # the home page is the work queue, with what waits
    assert page.url.endswith("/agency/")
    # alerts: the demo's resold traceability code, and the monitoring rules' run at load (the
    # demo's first case was decided months after it was complete: 超期审核)
    assert (_queue(page, "batches"), _queue(page, "alerts"), _queue(page, "physicians")) == (
        "1",
        "2",
        "1",
    )

    _review_the_batch(page)
    page.goto(page.url.split("/agency/")[0] + "/agency/")
    assert _queue(page, "batches") == "0"

    # a manual claim entered by one officer ...
    claim_url = _enter_a_claim(page, InsuredPerson.objects.get(name="刘芳"))
    page.context.clear_cookies()

    # ... and decided by another
    demo_login(page, "officer2")
    assert _queue(page, "claims") == "1"
    page.goto(claim_url)
    page.click("button:has-text('同意报销')")
    page.wait_for_load_state("networkidle")
    decided = page.locator("#messages").inner_text()
    assert "已同意报销" in decided and "基金支付 0.00" not in decided
    assert page.locator("#claim-status").inner_text() == "已核准"

    # an alert confirmed
    page.goto(claim_url.split("/agency/")[0] + "/agency/")
    page.click("#queue-alerts >> text=去处理")
    resold = page.locator("#alerts tr[data-state=open]", has_text="追溯码")
    resold.locator("input[name=note]").fill("现场核查：同一追溯码重复扫码")
    resold.locator("button:has-text('确认属实')").click()
    page.locator("#alerts >> text=已确认预警属实").wait_for()

    # a responsible physician accepted
    page.goto(claim_url.split("/agency/")[0] + "/agency/")
    page.click("#queue-physicians >> text=去处理")
    row = page.locator("tr:has-text('何静')")
    row.locator("button:has-text('纳入')").click()
    page.wait_for_load_state("networkidle")
    assert "何静：已纳入双通道责任医师" in page.locator("#messages").inner_text()
    assert page.locator("tr:has-text('何静')").get_attribute("data-status") == "active"

    # a drug found on the catalogue's second page
    page.click("nav >> text=药品目录")
    assert "显示前" not in page.locator("#result-count").inner_text()
    page.click("#pages >> text=下一页")
    page.locator("#result-count >> text=第 2 /").wait_for()
    first = page.locator("#results tbody tr").first.locator("a")
    name = first.inner_text()
    first.click()
    page.wait_for_load_state("networkidle")
    assert name in page.locator("h1").inner_text()

    # a finding recorded against a settlement picked from the list, with its recovery order
    page.goto(claim_url.split("/agency/")[0] + "/agency/settlement/recoveries/")
    page.fill("#settlement-filter input[name=q]", "杨军")
    page.click("#settlement-filter button")
    page.wait_for_load_state("networkidle")
    page.locator("#settlement-pick input[name=settlement_ids]").first.check()
    page.select_option("select[name=kind]", index=0)
    page.fill("input[name=reason]", "超量配药")
    page.click("button:has-text('记录认定并生成追回单')")
    page.locator("#recoveries >> text=已记录违规认定").wait_for()
    orders = page.locator("#recoveries tbody").inner_text()
    assert "武昌演示医药连锁" in orders and "待扣回" in orders
