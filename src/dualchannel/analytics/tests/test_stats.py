"""The statistics (issue 13 §1) against the hand-computed world of ``rollup_world``: each figure
to the fen, read from the rollups; scope and bad input refused with a code."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dualchannel.analytics import rollups, stats, stats_activity
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.registry.tests.factories import load_seed_profiles

from .rollup_world import reverse

D = Decimal
TODAY = date(2026, 4, 20)


@pytest.fixture
def rolled(stats_world):
    load_seed_profiles()
    reverse(stats_world["s3"])
    rollups.refresh_all()
    return stats_world


def scope_of(world, who="jinan_officer", region=None, start="2026-03", end=None):
    return stats.stats_scope(world[who], region=region, start=start, end=end, today=TODAY)


def test_key_figures_of_the_city_in_march(rolled):
    figures = stats.key_figures(scope_of(rolled))
    assert figures["settlements"] == 2  # S1, S2; S3 reversed
    assert figures["patients"] == 2
    assert [figures[a] for a in stats.AMOUNT_FIELDS] == [
        D("1000.00"),
        D("640.00"),
        D("35.00"),
        D("30.00"),
        D("5.00"),
        D("290.00"),
    ]


def test_by_drug_splits_the_payers_to_the_fen(rolled):
    rows = {r["label"]: r for r in stats.breakdown(scope_of(rolled), "drug")}
    assert list(rows) == ["甲药", "丙药"]  # largest total first
    jia, bing = rows["甲药"], rows["丙药"]
    assert (jia["lines"], jia["quantity"], jia["patients"]) == (2, 3, 2)
    assert [jia[a] for a in stats.AMOUNT_FIELDS] == [
        D("900.00"),
        D("570.00"),
        D("30.00"),
        D("30.00"),
        D("4.29"),
        D("265.71"),
    ]
    assert [bing[a] for a in stats.AMOUNT_FIELDS] == [
        D("100.00"),
        D("70.00"),
        D("5.00"),
        D("0.00"),
        D("0.71"),
        D("24.29"),
    ]


def test_by_institution_physician_county_and_insurance(rolled):
    scope = scope_of(rolled)
    inst = {r["key"]: r for r in stats.breakdown(scope, "institution")}
    assert inst[rolled["p1"].pk]["total"] == D("1000.00")
    assert rolled["p5"].pk not in inst  # S3 reversed before it was rolled up: never added
    doctors = {r["label"]: r for r in stats.breakdown(scope, "physician")}
    assert doctors[f"王医生（{rolled['h1'].name}）"]["total"] == D("700.00")
    assert doctors["（无处方医师）"]["total"] == D("300.00")
    counties = {r["label"]: r["total"] for r in stats.breakdown(scope, "county")}
    assert counties == {"历下区": D("1000.00")}
    kinds = {r["label"]: (r["total"], r["assistance"]) for r in stats.breakdown(scope, "insurance")}
    assert kinds == {
        "职工基本医疗保险": (D("700.00"), D("0.00")),
        "城乡居民基本医疗保险": (D("300.00"), D("30.00")),
    }


def test_trend_month_over_month(rolled):
    rows = stats.trend(scope_of(rolled, start="2026-02", end="2026-04"))
    assert [r["month"] for r in rows] == ["2026-02", "2026-03", "2026-04"]
    assert [r["total"] for r in rows] == [D("0.00"), D("1000.00"), D("100.00")]
    assert [r["patients"] for r in rows] == [0, 2, 1]
    assert [r["change"] for r in rows] == [None, None, D("-90.0")]


def test_hospital_evaluation_counts_its_physicians_prescriptions(rolled):
    (row,) = stats.hospital_evaluation(scope_of(rolled))
    assert row["label"] == rolled["h1"].name
    assert (row["settlements"], row["total"], row["varieties"], row["patients"]) == (
        1,
        D("700.00"),
        2,
        1,
    )


def test_a_county_officer_sees_only_the_county(rolled):
    scope = scope_of(rolled, who="lixia_officer")
    assert scope.counties == ("370102",)
    assert stats.key_figures(scope)["total"] == D("1000.00")
    with pytest.raises(NotFound) as refused:
        scope_of(rolled, who="lixia_officer", region="370124")
    assert refused.value.code == "analytics.region_not_found"


def test_a_province_officer_sees_the_province_and_no_other(rolled):
    scope = scope_of(rolled, who="province_officer")
    assert {"370102", "370124", "370202"} <= set(scope.counties)
    assert stats.key_figures(scope)["total"] == D("1000.00")
    with pytest.raises(NotFound):
        scope_of(rolled, who="province_officer", region="420100")
    with pytest.raises(NotFound):
        scope_of(rolled, who="qingdao_officer", region="370100")


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        ("2026-05", None, "analytics.future_month"),
        ("2026-03", "2026-05", "analytics.future_month"),
        ("2026-13", None, "analytics.invalid_month"),
        ("2026-04", "2026-03", "analytics.invalid_range"),
        ("2023-01", "2026-03", "analytics.invalid_range"),
    ],
)
def test_bad_months_are_refused_with_a_code(rolled, start, end, code):
    with pytest.raises(DomainError) as refused:
        scope_of(rolled, start=start, end=end)
    assert refused.value.code == code
    assert refused.value.message


def test_unknown_dimension_is_refused(rolled):
    with pytest.raises(DomainError) as refused:
        stats.breakdown(scope_of(rolled), "weather")
    assert refused.value.code == "analytics.invalid_dimension"


def test_coverage_lists_the_shortfalls_with_the_profile_citation(rolled):
    rows = {r["name"]: r for r in stats_activity.coverage(scope_of(rolled), TODAY)}
    # 历下区 as of 2026-03-31: P1 (both), P3 (即时结算 only; the SD world's), the new P1 and H1
    lixia = rows["历下区"]
    assert (lixia["pharmacies"], lixia["realtime"], lixia["e_rx"], lixia["hospitals"]) == (
        3,
        3,
        2,
        1,
    )
    assert lixia["shortfalls"] == []
    assert rows["历城区"]["pharmacies"] == 0
    assert rows["历城区"]["shortfalls"] == [
        "双通道药店 0 家，少于 1 家（山东省医疗保障局通知（2022年） 第五部分："
        "每个县（市、区）至少开通1家“双通道”药店）"
    ]
    # 平阴县: SD world's P5 (e-prescription only) and P7 (both), and the new P5 (real-time only)
    pingyin = rows["平阴县"]
    assert (pingyin["pharmacies"], pingyin["realtime"], pingyin["e_rx"]) == (3, 2, 2)
    assert pingyin["shortfalls"] == [
        "1 家双通道药店未实现即时联网结算（山东省医疗保障局通知（2022年） 第五部分："
        "“双通道”药店全部实现即时联网结算）"
    ]


def test_drugs_in_list_counts_distinct_drugs_in_their_agreement_period(rolled):
    assert stats_activity.drugs_in_list(scope_of(rolled), TODAY) == 3  # 甲 丙 庚 (SD world)
