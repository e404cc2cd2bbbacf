"""The agency's supervision pages (issue 13, points 2–5) played on the demo through the pages:

- 月报 [SD §10]: 历下区's officer enters the month's progress (over 600 characters refused in
  Chinese, nothing saved); 济南市's officer reads the table, downloads it (.xlsx) and submits it;
  the province sees who submitted and generates the quarterly bulletin.
- Wuhan's officer: 监测预警 (filter, open the evidence, confirm one, dismiss one with a reason),
  the rules (a threshold edited, a negative one refused), 进销存 of a pharmacy, the demo's spot
  check with its checklist and result; 投诉举报 from the public form (tracking number, lookup)
  to the officer's reply with the deadline shown; the hospital's insurance office page.

Every page is checked for words only (no code, field path, document short form, full ID or
mobile number)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.cache import caches
from django.utils import timezone
from openpyxl import load_workbook

from dualchannel.complaints.throttle import CACHE as COMPLAINT_CACHE
from dualchannel.core.months import previous_month
from dualchannel.tests.browser.conftest import sqlite_pass_only
from dualchannel.tests.browser.layout import assert_labels_clear
from dualchannel.tests.browser.words import in_words, masked_in_words

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]


def _last_month() -> tuple[str, str]:
    month = previous_month(timezone.localdate())
    return month.strftime("%Y-%m"), f"{month.year}年{month.month}月"


def _county_progress(page, base: str, month: str) -> None:
    page.goto(f"{base}/agency/reports/sd-monthly/?month={month}")
    text = in_words(page)
    assert "历下区" in text and "平阴县" not in text  # the county sees its own row only
    assert "每月10日前" in text and "第十部分" in text  # the Shandong profile's own basis
    box = page.locator("#county-370102 textarea")
    assert "即时联网结算" in box.input_value()  # the demo's text for last month
    # over 600 characters: the browser's limit removed, the server refuses in Chinese
    box.evaluate("el => el.removeAttribute('maxlength')")
    box.fill("进" * 601)
    page.click("#county-370102 button:has-text('保存')")
    page.wait_for_load_state("networkidle")
    refused = in_words(page)
    assert "字数应控制在600字以内（现为601字）" in refused
    assert "即时联网结算" in page.locator("#county-370102 textarea").input_value()
    page.locator("#county-370102 textarea").fill("历下区本月新增1家双通道药店接入电子处方流转。")
    page.click("#county-370102 button:has-text('保存')")
    page.wait_for_load_state("networkidle")
    assert "新增1家" in page.locator("#county-370102 textarea").input_value()
    assert_labels_clear(page)


def _city_submits(page, base: str, month: str) -> None:
    page.goto(f"{base}/agency/reports/sd-monthly/?month={month}")
    text = in_words(page)
    lixia = page.locator("#county-370102").inner_text().split("\t")
    assert lixia[1:6] == ["历下区", lixia[2], "2", "2", "1"]  # e-prescriptions: one by month end
    total = page.locator("#total").inner_text().split("\t")
    assert total[1] == "合计" and total[3:6] == ["3", "3", "2"]
    assert "新增1家" in page.locator("#county-370102 textarea").input_value()
    assert "合计行" in text
    with page.expect_download() as info:
        page.click("a:has-text('下载统计表（Excel）')")
    book = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
    cells = [str(c) for row in book.active.iter_rows(values_only=True) for c in row if c]
    assert "全市谈判药品“双通道”管理工作情况统计表" in cells and "合计" in cells
    page.fill("input[name=contact_phone]", "0531-85550000")
    page.click("button:has-text('报送省医保局')")
    page.wait_for_load_state("networkidle")
    done = in_words(page)
    assert "已报送" in done and "填报人：王经办" in done
    assert page.locator("#county-370102 textarea").count() == 0  # frozen


def _province_reads(page, base: str, month: str, label: str) -> None:
    page.goto(f"{base}/agency/reports/")
    page.wait_for_load_state("networkidle")
    page.goto(f"{base}/agency/reports/sd-province/?month={month}")
    text = in_words(page)
    assert f"{label}：已报送 1 / " in text
    assert "已报送" in page.locator("#city-370100").inner_text()
    assert "已报送" not in page.locator("#city-370200").inner_text()
    with page.expect_download() as info:
        page.click("button:has-text('生成按季通报（Excel）')")
    assert info.value.suggested_filename.endswith(".xlsx")
    assert "按季通报" in info.value.suggested_filename
    assert_labels_clear(page)


def test_the_shandong_monthly_table_from_county_to_province(page, demo_login, live_server):
    base = live_server.url
    month, label = _last_month()
    demo_login(page, "officer_lixia")
    _county_progress(page, base, month)

    page.context.clear_cookies()
    demo_login(page, "officer_jinan")
    _city_submits(page, base, month)

    page.context.clear_cookies()
    demo_login(page, "officer_sd")
    _province_reads(page, base, month, label)


def _alerts(page, base: str) -> None:
    page.goto(f"{base}/agency/alerts/")
    rows = page.locator("#alerts tbody tr")
    assert rows.count() == 2
    in_words(page)
    assert_labels_clear(page)
    page.select_option("select[name=rule]", label="追溯码重复：入库或发药时出现已登记的追溯码")
    page.click("button:has-text('筛选')")
    page.wait_for_load_state("networkidle")
    assert page.locator("#alerts tbody tr").count() == 1
    page.locator("#alerts tbody tr a").first.click()
    page.wait_for_load_state("networkidle")
    evidence = in_words(page)
    assert "武昌演示医药连锁" in evidence and "依据：" in evidence
    page.fill("textarea[name=note]", "现场核实：同一盒药扫码两次")
    page.click("button[value=confirm]")
    # the answer, not a quiet network, says the post is done
    page.locator(".flash", has_text="已确认预警属实").first.wait_for()
    assert "已确认" in in_words(page)

    page.goto(f"{base}/agency/alerts/")
    open_row = page.locator("#alerts tbody tr[data-state=open]")
    assert open_row.count() == 1
    open_row.locator("button[value=dismiss]").click()  # no reason: refused
    page.locator("#messages", has_text="排除预警须填写核查说明").wait_for()
    assert "排除预警须填写核查说明" in in_words(page) and open_row.count() == 1
    open_row.locator("input[name=note]").fill("已核实：审核超期系节假日顺延，不属违规")
    open_row.locator("button[value=dismiss]").click()
    # leaving before the answer came cancelled the post (a CI flake)
    page.locator(".flash", has_text="已排除预警").first.wait_for()
    page.goto(f"{base}/agency/alerts/?state=all")
    text = in_words(page)
    assert "已排除" in text and "节假日顺延" in text


def _rules(page, base: str) -> None:
    page.goto(f"{base}/agency/monitoring/rules/")
    in_words(page)
    rule = page.locator("#rule-agent_many_patients")
    rule.locator("input[name=min_patients]").fill("-1")
    rule.locator("button:has-text('保存')").click()
    page.wait_for_load_state("networkidle")
    assert "当月代购参保人数不少于须为不小于0的整数" in in_words(page)
    rule = page.locator("#rule-agent_many_patients")
    rule.locator("input[name=min_patients]").fill("4")
    rule.locator("button:has-text('保存')").click()
    page.locator("#rule-agent_many_patients .flash-success").wait_for()
    assert "本区划设置" in page.locator("#rule-agent_many_patients").inner_text()
    page.goto(f"{base}/agency/monitoring/rules/")
    assert page.locator("#rule-agent_many_patients input[name=min_patients]").input_value() == "4"
    in_words(page)


def _inspection(page, base: str) -> None:
    page.goto(f"{base}/agency/inspection/")
    in_words(page)
    assert_labels_clear(page)
    page.locator("tr", has_text="武昌演示医药连锁").locator("a:has-text('查阅进销存')").click()
    page.wait_for_load_state("networkidle")
    assert "武昌演示医药连锁" in in_words(page)
    for link in page.locator("nav a").all()[:3]:
        link.click()
        page.wait_for_load_state("networkidle")
        in_words(page)
    page.goto(f"{base}/agency/inspection/")
    page.locator("tr", has_text="武汉演示协和医院").locator("a:has-text('查看')").first.click()
    page.wait_for_load_state("networkidle")
    in_words(page)
    case = page.locator("form:has(select[name=result])").first
    for box in case.locator("input[type=checkbox]").all():
        box.check()
    case.locator("select[name=result]").select_option(index=1)
    case.locator("button:has-text('保存')").click()
    page.wait_for_load_state("networkidle")
    assert "合规 1 件" in in_words(page) or "不合规 1 件" in in_words(page)
    page.fill("textarea[name=conclusion]", "抽查案例材料齐全，认定符合规定。")
    page.click("button:has-text('完成抽查')")
    page.wait_for_load_state("networkidle")
    report = in_words(page)
    assert "抽查报告" in report and "抽查案例材料齐全" in report


def _complaint(page, base: str) -> str:
    page.goto(f"{base}/complaints/new/")
    page.select_option("select[name=province]", label="湖北省")
    page.wait_for_timeout(300)
    page.select_option("select[name=city]", label="武汉市")
    page.select_option("select[name=category]", index=1)
    page.fill("textarea[name=text]", "江岸演示大药房说药品缺货，让我去别处购买。")
    page.click("button:has-text('提交')")  # no contact: refused in Chinese
    page.wait_for_load_state("networkidle")
    assert "联系电话或电子邮箱" in page.locator(".flash-error").inner_text()
    in_words(page)
    # what the visitor chose is kept
    assert page.locator("select[name=city] option:checked").inner_text() == "武汉市"
    page.fill("input[name=contact_phone]", "13912345678")
    page.click("button:has-text('提交')")
    page.wait_for_load_state("networkidle")
    receipt = masked_in_words(page)
    assert "139****5678" in receipt and "答复期限" in receipt
    tracking = page.locator("#tracking-no").inner_text().strip()
    page.goto(f"{base}/complaints/track/")
    page.fill("input[name=no]", tracking)
    page.fill("input[name=contact]", "13912345678")
    page.click("button:has-text('查询')")
    page.wait_for_load_state("networkidle")
    assert "已登记" in masked_in_words(page) or "待受理" in masked_in_words(page)
    return tracking


def _complaint_handled(page, base: str, tracking: str) -> None:
    page.goto(f"{base}/agency/complaints/")
    queue = masked_in_words(page)
    assert tracking in queue and "139****5678" in queue and "依据：" in queue
    page.locator("a", has_text=tracking).click()
    page.wait_for_load_state("networkidle")
    detail = masked_in_words(page)
    assert "答复期限" in detail and "年" in detail
    page.click("button:has-text('受理并由我承办')")
    page.wait_for_load_state("networkidle")
    page.fill("textarea[name=reply]", "已责令该药店补足库存，并于三日内回访。")
    page.click("button:has-text('答复')")
    page.wait_for_load_state("networkidle")
    assert "已责令该药店补足库存" in masked_in_words(page)


def test_monitoring_inspection_and_complaints_of_the_wuhan_officer(page, demo_login, live_server):
    base = live_server.url
    caches[COMPLAINT_CACHE].clear()  # the shared counter outlives transactional tests' flushes
    tracking = _complaint(page, base)  # the public, signed out

    demo_login(page, "officer")
    _alerts(page, base)
    _rules(page, base)
    _inspection(page, base)
    _complaint_handled(page, base, tracking)

    page.context.clear_cookies()
    demo_login(page, "reviewer")
    page.goto(f"{base}/hospital/insurance-office/")
    office = masked_in_words(page)
    assert "医保办业务概览" in office and "按月业务量" in office
