"""The alert's own page (evidence in words with links, history, confirm into a finding), the
list's filters, and the rules page where an officer edits the region's thresholds."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.models import AuditEvent
from dualchannel.monitoring.engine import rules_run
from dualchannel.monitoring.models import Alert, MonitoringRule
from dualchannel.monitoring.tests.factories import settle
from dualchannel.registry.models import BenefitStatus
from dualchannel.registry.tests.factories import InsuredPersonFactory, region
from dualchannel.settlement.models import RecoveryOrder, Settlement

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(pharmacy, pharmacist_user):
    person = InsuredPersonFactory(benefit_status=BenefitStatus.SUSPENDED)
    drug = DrugFactory(generic_name="监控测试药", agreement_end=date(2026, 2, 28))
    settle(pharmacy, person, pharmacist_user, drug, date(2026, 3, 5))
    rules_run(region("420100"), date(2026, 3, 1), date(2026, 3, 31))
    return Alert.objects.get(rule="outside_agreement_period")


def test_the_alert_page_names_what_it_found_in_words_with_links(client, agency_user, alert):
    client.force_login(agency_user)
    no = Settlement.objects.get(pk=alert.evidence["settlement_ids"][0]).settlement_no

    page = client.get(reverse("agency-alert", args=[alert.pk])).content.decode()

    assert "协议期外药品仍由基金结算" in page
    assert "依据：山东省医疗保障局通知第一条" in page
    assert "监控测试药" in page and reverse("agency-drug", args=[alert.evidence["drug_id"]]) in page
    assert "协议截止日期" in page and "2026-02-28" in page
    assert reverse("agency-institution-detail", args=[alert.institution_id]) in page
    assert f"{reverse('agency-recoveries')}?q={no}" in page
    assert "处理记录" in page and "规则触发" in page
    assert "drug_id" not in page.split("技术信息")[0]  # no field names in the words


def test_confirming_on_the_page_records_the_finding_and_the_recovery(client, agency_user, alert):
    client.force_login(agency_user)

    response = client.post(
        reverse("agency-alert-review", args=[alert.pk]),
        {
            "decision": "confirm",
            "note": "协议期满仍按基金结算",
            "finding_kind": "over_treatment",
            "from": "detail",
        },
    )

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.state == "confirmed" and alert.finding_no.startswith("WG")
    assert RecoveryOrder.objects.filter(finding__finding_no=alert.finding_no).count() == 1
    page = client.get(reverse("agency-alert", args=[alert.pk])).content.decode()
    assert alert.finding_no in page and "协议期满仍按基金结算" in page


def test_the_list_filters_by_rule_severity_institution_and_month(client, agency_user, alert):
    client.force_login(agency_user)
    url = reverse("agency-alerts")
    month = f"{alert.created_at:%Y-%m}"

    def listed(**query):
        return f'id="alert-{alert.pk}"' in client.get(url, query).content.decode()

    assert listed(rule="outside_agreement_period", severity="high", month=month)
    assert listed(institution=str(alert.institution_id))
    assert not listed(rule="physician_outlier")
    assert not listed(severity="info")
    assert not listed(month="2001-01")


def test_the_rules_page_shows_each_rule_with_its_article_and_the_regions_values(
    client, agency_user
):
    client.force_login(agency_user)

    page = client.get(reverse("agency-monitoring-rules")).content.decode()

    assert "智能监控规则（武汉市）" in page
    for rule in MonitoringRule.objects.filter(region=None):
        assert rule.name in page and rule.article in page
    assert reverse("agency-monitoring-rule-update", args=["420100", "review_overdue"]) in page
    assert "全国默认" in page


def test_saving_a_threshold_on_the_page_writes_the_regions_override(client, agency_user):
    client.force_login(agency_user)

    client.post(
        reverse("agency-monitoring-rule-update", args=["420100", "review_overdue"]),
        {"working_days": "5", "severity": "high", "enabled": "1"},
    )

    row = MonitoringRule.objects.get(key="review_overdue", region_id="420100")
    assert (row.params, row.severity, row.enabled) == ({"working_days": 5}, "high", True)
    page = client.get(reverse("agency-monitoring-rules")).content.decode()
    assert "本区划设置" in page


@pytest.mark.parametrize("value", ["-1", "七天"])
def test_a_bad_threshold_on_the_page_is_refused_in_chinese_and_nothing_is_written(
    client, agency_user, value
):
    client.force_login(agency_user)
    before = (MonitoringRule.objects.count(), AuditEvent.objects.count())

    response = client.post(
        reverse("agency-monitoring-rule-update", args=["420100", "review_overdue"]),
        {"working_days": value, "severity": "high", "enabled": "1"},
        HTTP_REFERER=reverse("agency-monitoring-rules"),
        follow=True,
    )

    assert "审核时限（工作日）须为不小于0的整数" in response.content.decode()
    assert (MonitoringRule.objects.count(), AuditEvent.objects.count()) == before


def test_another_regions_officer_cannot_open_or_edit_ours(client, outsider_agency, alert):
    client.force_login(outsider_agency)

    assert client.get(reverse("agency-alert", args=[alert.pk])).status_code == 404
    response = client.post(
        reverse("agency-monitoring-rule-update", args=["420100", "review_overdue"]),
        {"working_days": "1"},
    )
    assert response.status_code == 404
    assert not MonitoringRule.objects.filter(region_id="420100").exists()
    page = client.get(reverse("agency-monitoring-rules")).content.decode()
    assert "智能监控规则（合肥市）" in page
