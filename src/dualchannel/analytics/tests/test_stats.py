"""The statistics (issue 13 §1) against the hand-computed world of ``rollup_world``: each figure
to the fen, read from the rollups; scope and bad input refused with a code."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from dualchannel.analytics import rollups, stats, stats_activity
from dualchannel.catalog.tests.factories import CriteriaSetFactory
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.eligibility.models import Application, ApplicationStatus
from dualchannel.prescriptions.models import Dispensing, Prescription
from dualchannel.registry.tests.factories import PharmacistFactory, load_seed_profiles

from .factories import at
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


def test_a_row_whose_settlements_were_all_reversed_after_the_refresh_is_not_listed(stats_world):
    # S3, 平阴's only settlement and P5's, rolled up and then reversed: its rows net to zero
    rollups.refresh_all()
    reverse(stats_world["s3"])
    rollups.refresh_all()
    scope = scope_of(stats_world)
    assert stats_world["p5"].pk not in {r["key"] for r in stats.breakdown(scope, "institution")}
    counties = {r["label"]: r["total"] for r in stats.breakdown(scope, "county")}
    assert counties == {"历下区": D("1000.00")}
    for by in stats.DIMENSIONS:
        assert all(r["settlements"] or r["lines"] for r in stats.breakdown(scope, by)), by


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


def application(world, no, *, submitted, complete=None, due=None, decided=None, status):
    """An application of 王医生's hospital (历下区) with its review clock as given."""
    drug = world["drugs"]["甲"]
    return Application.objects.create(
        application_no=no,
        patient=world["a"],
        drug=drug,
        diagnosis_code="C34.900",
        diagnosis_name="肺恶性肿瘤",
        hospital=world["h1"],
        physician=world["wang"],
        criteria_set=CriteriaSetFactory(drug=drug),
        status=status,
        created_by=world["lixia_officer"],
        submitted_at=at(*submitted, 9) if submitted else None,
        complete_on=date(*complete) if complete else None,
        review_due=date(*due) if due else None,
        decided_at=at(*decided, 15) if decided else None,
    )


def test_eligibility_work_counts_working_days_and_overruns(rolled):
    st = ApplicationStatus
    # complete Mon 2 March, due 11 March (7 working days), approved Fri 6 March: 4 days
    application(
        rolled,
        "A1",
        submitted=(2026, 3, 2),
        complete=(2026, 3, 2),
        due=(2026, 3, 11),
        decided=(2026, 3, 6),
        status=st.APPROVED,
    )
    # complete 3 March, due 12 March, rejected Mon 16 March: 9 working days, one overrun
    application(
        rolled,
        "A2",
        submitted=(2026, 3, 3),
        complete=(2026, 3, 3),
        due=(2026, 3, 12),
        decided=(2026, 3, 16),
        status=st.REJECTED,
    )
    # complete 10 March, due 19 March, still under review on 20 April: an open overrun
    application(
        rolled,
        "A3",
        submitted=(2026, 3, 10),
        complete=(2026, 3, 10),
        due=(2026, 3, 19),
        status=st.UNDER_REVIEW,
    )
    application(rolled, "A4", submitted=(2026, 2, 27), status=st.SUBMITTED)  # February
    application(rolled, "A5", submitted=None, status=st.DRAFT)  # never submitted
    application(rolled, "A6", submitted=(2026, 3, 12), status=st.WITHDRAWN)

    work = stats_activity.eligibility_work(scope_of(rolled), TODAY)

    assert (work["submitted"], work["approved"], work["rejected"]) == (4, 1, 1)
    assert (work["withdrawn"], work["open"]) == (1, 1)
    assert (work["decided_with_clock"], work["average_days"], work["longest_days"]) == (2, 6.5, 9)
    overruns = {o["application_no"]: o for o in work["overruns"]}
    assert sorted(overruns) == ["A2", "A3"]
    assert (overruns["A2"]["days"], overruns["A2"]["decided"], overruns["A2"]["limit"]) == (
        9,
        True,
        7,
    )
    assert overruns["A3"]["decided"] is False
    # 平阴县's officer sees none of 历下区's applications
    assert (
        stats_activity.eligibility_work(
            scope_of(rolled, who="province_officer", region="370124"), TODAY
        )["submitted"]
        == 0
    )


def test_prescriptions_issued_circulated_and_dispensed_per_month(rolled):
    rx1, rx3 = rolled["s1"].prescription, rolled["s3"].prescription
    Prescription.objects.filter(pk=rx1.pk).update(
        issued_at=at(2026, 3, 2, 9), routed_at=at(2026, 3, 2, 10), pharmacy=rolled["p1"]
    )
    Prescription.objects.filter(pk=rx3.pk).update(issued_at=at(2026, 2, 28, 23))
    Dispensing.objects.create(
        prescription=rx1,
        pharmacy=rolled["p1"],
        pharmacist=PharmacistFactory(pharmacy=rolled["p1"]),
        actor=rolled["lixia_officer"],
        idempotency_key="k-1",
        request_digest="0" * 64,
        certificate_type="02",
        certificate_masked="3701**********0011",
        dispensed_at=at(2026, 4, 1, 0, 30),  # Shanghai time: April
    )
    # the timestamps moved under the rollup (a prescription's never move): recompute it
    rollups.rebuild()

    rows = stats_activity.prescription_figures(scope_of(rolled, start="2026-02", end="2026-04"))

    assert [(r["month"], r["issued"], r["circulated"], r["dispensed"]) for r in rows] == [
        ("2026-02", 1, 0, 0),
        ("2026-03", 1, 1, 0),
        ("2026-04", 0, 0, 1),
    ]

    # issued before the months (January, Shanghai time) and routed in them: circulated only
    Prescription.objects.filter(pk=rx3.pk).update(
        issued_at=at(2026, 1, 31, 23, 30), routed_at=at(2026, 2, 1, 0, 10), pharmacy=rolled["p1"]
    )
    rollups.rebuild()
    assert rollups.rollup_differences() == []
    rows = stats_activity.prescription_figures(scope_of(rolled, start="2026-02", end="2026-04"))
    assert [(r["month"], r["issued"], r["circulated"]) for r in rows] == [
        ("2026-02", 0, 1),
        ("2026-03", 1, 1),
        ("2026-04", 0, 0),
    ]


def test_without_months_the_last_six_months_this_one_included(rolled):
    scope = stats.stats_scope(rolled["jinan_officer"], today=TODAY)
    assert (scope.start, scope.end) == (date(2025, 11, 1), date(2026, 4, 1))
    assert scope.label == "2025-11 至 2026-04"
    only_end = scope_of(rolled, start=None, end="2026-03")
    assert (only_end.start, only_end.end) == (date(2026, 3, 1), date(2026, 3, 1))


def test_a_region_without_counties_counts_no_patients_instead_of_failing(rolled):
    # given the city's scope narrowed to no county-level unit at all (a region the registry has
    # not divided, or a filter that matches none): the SQL's IN () cannot be written
    scope = dataclasses.replace(scope_of(rolled), counties=())

    # then the figures are zero, not an error
    figures = stats.key_figures(scope)
    assert figures["settlements"] == 0 and figures["patients"] == 0
    assert stats.distinct_persons(stats.county_person_rows(scope), "month") == {}
