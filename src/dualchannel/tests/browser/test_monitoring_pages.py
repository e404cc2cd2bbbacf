"""The smart-monitoring pages played by Wuhan's officer in a real browser (issue 13, point 3):
the alerts filtered by rule, one opened with its evidence in words and confirmed into a violation
finding whose recovery order shows on the recoveries page, another dismissed (refused without a
reason, then with one), the history of both; on the rules page a threshold edited and a negative
or non-numeric one refused in Chinese, nothing saved.

Every page is read for words only: beyond ``in_words`` (no code, field path or ID number), the
visible text of the page holds no Latin letters at all but the statistician's "Z" (稳健Z值)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.monitoring.engine import rules_run
from dualchannel.monitoring.models import Alert, MonitoringRule
from dualchannel.monitoring.rules import national_rules_seed
from dualchannel.monitoring.tests.factories import settle
from dualchannel.registry.models import BenefitStatus
from dualchannel.registry.tests.factories import InsuredPersonFactory, region
from dualchannel.settlement.models import RecoveryOrder
from dualchannel.tests.browser.layout import assert_labels_clear
from dualchannel.tests.browser.words import in_words

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SUSPENDED = "benefit_status_purchase"
SUSPENDED_RULE = "待遇暂停或终止参保（含死亡）人员购药结算"
LATIN = re.compile(r"[A-Za-z]+")
ALLOWED_LATIN = {"Z"}  # 稳健Z值: the statistic's own name in Chinese usage
# Document numbers as they are issued: settlements JS…, findings WG…, prescriptions CF…
DOCUMENT_NO = re.compile(r"(?<![A-Za-z])(?:JS|WG|CF)\d{8,}")


def chinese_only(page) -> str:
    """The page's main text, with nothing internal (``in_words``) and no Latin word but the
    document numbers."""
    text = in_words(page)
    main = DOCUMENT_NO.sub("", page.locator("main").inner_text())
    assert set(LATIN.findall(main)) <= ALLOWED_LATIN, LATIN.findall(main)
    return text


@pytest.fixture
def alerts(pharmacy, pharmacist_user):
    """March 2026 in 江岸区: two persons buying while their benefits were suspended, and a drug
    settled by the fund after its agreement period; the month's run raises three alerts."""
    national_rules_seed()
    found = []
    for _ in range(2):
        person = InsuredPersonFactory(benefit_status=BenefitStatus.SUSPENDED)
        found.append(settle(pharmacy, person, pharmacist_user, DrugFactory(), date(2026, 3, 5)))
    expired = DrugFactory(is_negotiated=True, agreement_end=date(2026, 1, 31))
    found.append(
        settle(pharmacy, InsuredPersonFactory(), pharmacist_user, expired, date(2026, 3, 6))
    )
    for done in found:  # numbered as the counter numbers them
        done.settlement_no = f"JS{done.settled_on:%Y%m%d}{done.pk:08d}"
        done.save(update_fields=["settlement_no"])
    found.pop()
    rules_run(region("420100"), date(2026, 3, 1), date(2026, 3, 31))
    raised = {a.evidence["settlement_ids"][0]: a for a in Alert.objects.filter(rule=SUSPENDED)}
    first, second = (raised[s.pk] for s in found)
    assert Alert.objects.count() == 3
    return first, second, found[0]


def _filter_and_confirm(page, base: str, first, settlement) -> None:
    page.goto(f"{base}/agency/alerts/")
    assert page.locator("#alerts tbody tr").count() == 3
    chinese_only(page)
    assert_labels_clear(page)
    page.select_option("select[name=rule]", label=SUSPENDED_RULE)
    page.click("button:has-text('筛选')")
    page.wait_for_url(re.compile(r"rule=benefit_status_purchase"))
    assert page.locator("#alerts tbody tr").count() == 2
    chinese_only(page)
    assert "协议期外药品仍由基金结算" not in page.locator("#alerts").inner_text()

    page.locator(f"#alert-{first.pk} a").first.click()
    page.wait_for_url(re.compile(rf"/agency/alerts/{first.pk}/$"))
    evidence = chinese_only(page)
    assert SUSPENDED_RULE in evidence and "依据：鄂医保发〔2023〕35号第二十三条" in evidence
    assert "待遇状态\t暂停待遇" in evidence and "江岸演示大药房" in evidence
    assert "检查期间\t2026-03-01 至 2026-03-31" in evidence
    assert page.locator("a", has_text=settlement.settlement_no).count() == 1

    page.fill("textarea[name=note]", "停保期间持卡购药，现场核实属实")
    page.select_option("select[name=finding_kind]", label="虚假诊疗")
    page.click("button[value=confirm]")
    page.get_by_text("已记录违规认定").first.wait_for()
    confirmed = chinese_only(page)
    order = RecoveryOrder.objects.get()
    finding_no = order.finding.finding_no
    assert f"已记录违规认定 {finding_no} 并生成追回单" in confirmed
    assert "已确认" in confirmed and "停保期间持卡购药" in confirmed
    assert order.amount == settlement.fund and order.amount > Decimal(0)

    page.click(f"a:has-text('{finding_no}')")  # the finding → its recovery order
    page.wait_for_url(re.compile(r"/agency/settlement/recoveries/"))
    recoveries = in_words(page)
    assert finding_no in recoveries and "江岸演示大药房" in recoveries
    assert f"{order.amount:,.2f}" in recoveries or f"{order.amount}" in recoveries


def _dismiss_and_history(page, base: str, first, second) -> None:
    page.goto(f"{base}/agency/alerts/")
    row = page.locator(f"#alert-{second.pk}")
    row.locator("button[value=dismiss]").click()  # no reason: refused, nothing changed
    page.locator(".flash-error", has_text="排除预警须填写核查说明").first.wait_for()
    assert "排除预警须填写核查说明" in chinese_only(page)
    assert row.get_attribute("data-state") == "open"
    row.locator("input[name=note]").fill("同日已恢复待遇，系信息平台延迟更新")
    row.locator("button[value=dismiss]").click()
    page.locator("#alerts .flash-success").wait_for()
    assert "已排除预警" in page.locator("#alerts .flash-success").inner_text()
    assert page.locator(f"#alert-{second.pk}").count() == 0  # no longer waiting

    page.goto(f"{base}/agency/alerts/?state=all")
    listed = chinese_only(page)
    assert "已确认" in listed and "已排除" in listed and "信息平台延迟更新" in listed

    page.locator(f"#alert-{second.pk} a").first.click()
    page.wait_for_url(re.compile(rf"/agency/alerts/{second.pk}/$"))
    history = page.locator("table:below(h2:has-text('处理记录'))").last.inner_text()
    assert "待核查" in history and "规则触发" in history
    assert "已排除" in history and "信息平台延迟更新" in history
    assert page.locator("button[value=confirm]").count() == 0  # decided: no more buttons
    chinese_only(page)

    page.goto(f"{base}/agency/alerts/{first.pk}/")
    history = page.locator("table:below(h2:has-text('处理记录'))").last.inner_text()
    assert "已确认" in history and "停保期间持卡购药" in history


def _rules(page, base: str) -> None:
    page.goto(f"{base}/agency/monitoring/rules/")
    text = chinese_only(page)
    assert "智能监控规则（武汉市）" in text and text.count("依据：") == 13
    rule = page.locator("#rule-benefit_status_purchase")
    for bad, refusal in (("-1", "结算笔数不少于须为不小于0的整数"), ("两笔", "须为不小于0的整数")):
        rule.locator("input[name=min_settlements]").fill(bad)
        rule.locator("button:has-text('保存')").click()
        page.locator(".flash-error", has_text=refusal).first.wait_for()
        assert refusal in chinese_only(page)
        assert not MonitoringRule.objects.filter(region_id="420100").exists()  # nothing saved
        page.goto(f"{base}/agency/monitoring/rules/")
        rule = page.locator("#rule-benefit_status_purchase")
    outlier = page.locator("#rule-physician_outlier")
    outlier.locator("input[name=z_threshold]").fill("-2.5")
    outlier.locator("button:has-text('保存')").click()
    page.locator(".flash-error", has_text="稳健Z值阈值须为不小于0的数").first.wait_for()
    assert "稳健Z值阈值须为不小于0的数" in chinese_only(page)

    page.goto(f"{base}/agency/monitoring/rules/")
    rule = page.locator("#rule-benefit_status_purchase")
    rule.locator("input[name=min_settlements]").fill("2")
    rule.locator("button:has-text('保存')").click()
    page.locator("#rule-benefit_status_purchase .flash-success").wait_for()
    assert "本区划设置" in page.locator("#rule-benefit_status_purchase").inner_text()
    page.goto(f"{base}/agency/monitoring/rules/")
    saved = page.locator("#rule-benefit_status_purchase input[name=min_settlements]")
    assert saved.input_value() == "2"
    assert MonitoringRule.objects.get(region_id="420100").params["min_settlements"] == 2
    chinese_only(page)
    assert_labels_clear(page)


def test_the_officer_reviews_alerts_and_edits_the_rules(
    page, live_server, login, agency_user, alerts
):
    first, second, settlement = alerts
    login(page, agency_user)
    base = live_server.url
    _filter_and_confirm(page, base, first, settlement)
    _dismiss_and_history(page, base, first, second)
    _rules(page, base)
