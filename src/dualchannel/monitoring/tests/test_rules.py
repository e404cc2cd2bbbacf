"""Monitoring rules as data: the seeded national defaults with their articles, a region's
override resolved through its ancestors, threshold validation (refused with a code and a
Chinese message, nothing written), the audit event, and the officer's scope."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.monitoring import error_codes as codes
from dualchannel.monitoring.models import MonitoringRule
from dualchannel.monitoring.rules import RULE_PARAMS, clean_params, read_rules, rules_for
from dualchannel.monitoring.services import rule_update
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.tests.factories import InstitutionFactory, region

pytestmark = pytest.mark.django_db


def test_at_least_twelve_rules_are_seeded_each_with_its_article_and_thresholds():
    national = {r.key: r for r in MonitoringRule.objects.filter(region=None)}

    assert len(national) >= 12
    assert set(national) == set(RULE_PARAMS)
    for rule in national.values():
        assert rule.article and ("第" in rule.article or "（八）" in rule.article), rule.key
        assert set(rule.params) == set(RULE_PARAMS[rule.key]), rule.key
    assert "第十条" in national["review_overdue"].article  # HB art. 10: 7 working days
    assert national["review_overdue"].params == {"working_days": 7}


def test_the_shipped_file_passes_the_officers_validation():
    entries = read_rules()

    assert {e["key"] for e in entries} == set(RULE_PARAMS)
    assert next(e for e in entries if e["key"] == "physician_outlier")["params"] == {
        "z_threshold": "3.5",
        "min_peers": 5,
    }


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"working_days": -1}, "working_days", "审核时限（工作日）须为不小于0的整数"),
        ({"working_days": "七"}, "working_days", "审核时限（工作日）须为不小于0的整数"),
        ({"working_days": "7.5"}, "working_days", "审核时限（工作日）须为不小于0的整数"),
        ({"working_days": None}, "working_days", "审核时限（工作日）须为不小于0的数"),
        ({"working_days": True}, "working_days", "审核时限（工作日）须为不小于0的数"),
        ({"working_days": "²"}, "working_days", "审核时限（工作日）须为不小于0的整数"),
        ({"working_days": 2_000_000}, "working_days", "审核时限（工作日）不能超过1000000"),
        ({"bogus": 3}, "bogus", "未知的阈值参数：bogus"),
    ],
)
def test_a_bad_threshold_is_refused_with_a_code_and_nothing_is_written(
    agency_user, params, field, message
):
    before = (list(MonitoringRule.objects.values()), AuditEvent.objects.count())

    with pytest.raises(DomainError) as refused:
        rule_update(actor=agency_user, key="review_overdue", region_code="420100", params=params)

    assert refused.value.code == codes.INVALID_THRESHOLD
    assert refused.value.fields == {field: [message]}
    assert (list(MonitoringRule.objects.values()), AuditEvent.objects.count()) == before


@pytest.mark.parametrize("value", ["-0.5", "abc", "NaN", "Infinity", "1e999999", "３", "1\x00"])
def test_a_bad_decimal_threshold_is_refused(value):
    with pytest.raises(DomainError) as refused:
        clean_params("physician_outlier", {"z_threshold": value})

    assert refused.value.code == codes.INVALID_THRESHOLD
    assert "稳健Z值阈值" in refused.value.message


def test_an_officer_writes_the_regions_override_audited_and_resolved_below(agency_user):
    row = rule_update(
        actor=agency_user,
        key="physician_outlier",
        region_code="420100",
        params={"z_threshold": "4.0"},
        severity="warning",
    )

    assert (row.region_id, row.params) == ("420100", {"z_threshold": "4.0", "min_peers": 5})
    event = AuditEvent.objects.get(action="monitoring.rule_updated")
    assert event.summary == {"rule": "physician_outlier", "region": "420100", "created": True}
    county = rules_for(region("420102"))["physician_outlier"]
    assert (county.params["z_threshold"], county.severity) == (Decimal("4.0"), "warning")
    other_city = rules_for(region("420502"))["physician_outlier"]
    assert other_city.params["z_threshold"] == Decimal("3.5")  # national default


def test_a_province_override_applies_to_its_cities_until_a_city_sets_its_own(agency_user):
    province = InstitutionFactory(
        kind=InstitutionKind.AGENCY, region_code="420000", hospital_level=None
    )
    provincial = UserFactory(
        username="hb_officer", institution=province, roles=[Role.AGENCY_OFFICER]
    )
    rule_update(
        actor=provincial, key="review_overdue", region_code="420000", params={"working_days": 5}
    )
    rule_update(
        actor=agency_user, key="review_overdue", region_code="420100", params={"working_days": 6}
    )

    assert rules_for(region("420502"))["review_overdue"].params == {"working_days": 5}
    assert rules_for(region("420102"))["review_overdue"].params == {"working_days": 6}
    assert rules_for(None)["review_overdue"].params == {"working_days": 7}
    # a provincial officer may also set a city's; a city officer never the province's
    rule_update(
        actor=provincial, key="review_overdue", region_code="420500", params={"working_days": 4}
    )
    assert rules_for(region("420502"))["review_overdue"].params == {"working_days": 4}
    with pytest.raises(NotFound):
        rule_update(actor=agency_user, key="review_overdue", region_code="420000", params={})


def test_an_officer_of_another_region_cannot_edit_ours(outsider_agency):
    before = MonitoringRule.objects.count()

    with pytest.raises(NotFound) as refused:
        rule_update(
            actor=outsider_agency,
            key="review_overdue",
            region_code="420100",
            params={"working_days": 1},
        )

    assert refused.value.code == codes.RULE_NOT_FOUND
    assert MonitoringRule.objects.count() == before


def test_only_an_administrator_edits_the_national_row(agency_user, admin_user):
    with pytest.raises(NotFound):
        rule_update(actor=agency_user, key="review_overdue", region_code="national", params={})

    rule_update(
        actor=admin_user, key="review_overdue", region_code="national", params={"working_days": 8}
    )

    assert MonitoringRule.objects.get(key="review_overdue", region=None).params == {
        "working_days": 8
    }


def test_switching_a_rule_off_in_a_region(agency_user):
    rule_update(
        actor=agency_user, key="agent_many_patients", region_code="420100", params={}, enabled=False
    )

    assert rules_for(region("420102"))["agent_many_patients"].enabled is False
    assert rules_for(region("420502"))["agent_many_patients"].enabled is True


# --- the API ---------------------------------------------------------------------------------


def test_the_api_lists_the_regions_rules_and_refuses_a_negative_threshold(api_client, agency_user):
    api_client.as_user(agency_user)
    before = (MonitoringRule.objects.count(), AuditEvent.objects.count())

    listed = api_client.get("/api/v1/monitoring/rules").json()
    refused = api_client.put_json(
        "/api/v1/monitoring/rules/420100/stock_unbalanced", {"params": {"tolerance_boxes": -2}}
    )

    assert len(listed) >= 12 and all(r["article"] for r in listed)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "monitoring.invalid_threshold"
    assert refused.json()["error"]["fields"] == {
        "tolerance_boxes": ["允许差额（盒）须为不小于0的整数"]
    }
    assert (MonitoringRule.objects.count(), AuditEvent.objects.count()) == before

    saved = api_client.put_json(
        "/api/v1/monitoring/rules/420100/physician_outlier", {"params": {"z_threshold": "4.5"}}
    ).json()
    assert (saved["params"], saved["own"], saved["source_region"]) == (
        {"z_threshold": "4.5", "min_peers": 5},
        True,
        "420100",
    )


def test_without_the_seeded_rows_the_shipped_defaults_apply(agency_user):
    MonitoringRule.objects.all().delete()  # e.g. a database flushed by a transactional test

    rules = rules_for(region("420102"))
    row = rule_update(actor=agency_user, key="review_overdue", region_code="420100", params={})

    assert set(rules) == set(RULE_PARAMS)
    assert rules["review_overdue"].params == {"working_days": 7}
    assert (row.region_id, row.params) == ("420100", {"working_days": 7})
