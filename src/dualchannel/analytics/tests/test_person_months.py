"""The persons' months (issue 13 §6): one row per person and year in an area (province, city,
county; by insurance type and over all) and per drug (province, city), with the live
settlements of each month and the derived bitmask — kept by the refresh, through reversals,
equal to detail, and the statistics' distinct persons from them equal to what the month rollups
give (``distinct_persons`` over ``CountyPersonRollup`` / ``PatientRollup``, as before)."""

from __future__ import annotations

from datetime import date
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from dualchannel.analytics import rollups, stats
from dualchannel.analytics.models import (
    ALL_TYPES,
    MONTH_COLUMNS,
    TWO_YEARS,
    AreaDrugPersonYear,
    AreaPersonYear,
)
from dualchannel.registry.tests.factories import InsuredPersonFactory

from .factories import at, pharmacy
from .rollup_world import reverse, settle_at_random, settlement

MARCH = 1 << 2
APRIL = 1 << 3


def months_of(model, **key) -> tuple:
    row = model.objects.get(**key)
    return row.months, [getattr(row, m) for m in MONTH_COLUMNS if getattr(row, m)]


def test_one_row_per_person_and_year_in_each_area_with_its_months(stats_world):
    w = stats_world
    a, b, jia, bing = w["a"], w["b"], w["drugs"]["甲"].pk, w["drugs"]["丙"].pk
    rollups.refresh()
    person = AreaPersonYear
    # A: S1 历下 and S3 平阴 in March; B: S2 历下 in March (390), S4 平阴 in April (390)
    assert months_of(person, area="37", insurance_type=ALL_TYPES, person=a, year=2026) == (
        MARCH,
        [2],
    )
    assert months_of(person, area="3701", insurance_type="390", person=b, year=2026) == (
        MARCH | APRIL,
        [1, 1],
    )
    assert months_of(person, area="370124", insurance_type=ALL_TYPES, person=a, year=2026) == (
        MARCH,
        [1],
    )
    assert months_of(person, area="370102", insurance_type="310", person=a, year=2026) == (
        MARCH,
        [1],
    )
    # no row under an insurance type the person did not settle under
    assert not person.objects.filter(person=a, insurance_type="390").exists()
    # by drug, province and city only: 甲 A (S1, S3), B (S2); 丙 A (S1), B (S4)
    drug = AreaDrugPersonYear
    assert months_of(drug, area="3701", drug_key=jia, person=a, year=2026) == (MARCH, [2])
    assert months_of(drug, area="37", drug_key=bing, person=b, year=2026) == (APRIL, [1])
    assert not drug.objects.filter(area__in=["370102", "370124"]).exists()
    # the next year's rows keep the same months as their year before (bits 12–23)
    kept = person.objects.get(area="37", insurance_type=ALL_TYPES, person=a, year=2027)
    assert (kept.months, kept.p03, months_of(person, pk=kept.pk)[1]) == (MARCH << 12, 2, [])
    kept = drug.objects.get(area="37", drug_key=bing, person=b, year=2027)
    assert (kept.months, kept.p04) == (APRIL << 12, 1)
    assert rollups.rollup_differences() == []


def test_a_reversed_settlement_takes_its_month_away_only_when_it_was_the_last(stats_world):
    w = stats_world
    a, jia = w["a"], w["drugs"]["甲"].pk
    rollups.refresh()
    reverse(w["s3"])  # A's only settlement in 平阴; A still settled in 历下 (S1) that month
    rollups.refresh()
    assert (
        months_of(AreaPersonYear, area="370124", insurance_type=ALL_TYPES, person=a, year=2026)[0]
        == 0
    )
    assert months_of(AreaPersonYear, area="37", insurance_type=ALL_TYPES, person=a, year=2026) == (
        MARCH,
        [1],
    )
    assert months_of(AreaDrugPersonYear, area="3701", drug_key=jia, person=a, year=2026) == (
        MARCH,
        [1],
    )
    reverse(w["s1"])  # now A settled nothing in March
    rollups.refresh()
    assert (
        AreaPersonYear.objects.filter(person=a, months__gt=0).count()
        == AreaDrugPersonYear.objects.filter(person=a, months__gt=0).count()
        == 0
    )
    assert rollups.rollup_differences() == []
    province = stats.StatsScope(
        w["province"], stats._counties(w["province"]), date(2026, 3, 1), date(2026, 4, 1)
    )
    assert stats.key_figures(province)["patients"] == 1  # B only


def test_the_check_finds_the_persons_months_off(stats_world):
    rollups.refresh()
    b = stats_world["b"]
    rows = AreaPersonYear.objects.filter(area="3701", insurance_type=ALL_TYPES, person=b)
    rows.filter(year=2026).update(m04=0)  # the month's bit goes with it
    assert {d.split(" ")[0] for d in rollups.rollup_differences()} == {"area-persons"}
    rows.filter(year=2026).update(m04=1)
    rows.filter(year=2027).update(p04=0)  # the next year's copy of it
    assert {d.split(" ")[0] for d in rollups.rollup_differences()} == {"area-persons-next-year"}
    rows.filter(year=2027).update(p04=1)
    AreaDrugPersonYear.objects.filter(area="37", person=stats_world["a"], year=2026).update(m03=5)
    assert {d.split(" ")[0] for d in rollups.rollup_differences()} == {"area-drug-persons"}


def test_the_migration_fills_the_persons_months_as_the_refresh_does(stats_world):
    rollups.refresh()
    reverse(stats_world["s3"])
    rollups.refresh()

    def held():
        return [
            sorted(
                model.objects.exclude(months=0).values_list(*key, "months", *TWO_YEARS),
                key=str,
            )
            for model, key in (
                (AreaPersonYear, rollups.AREA_PERSON_KEY),
                (AreaDrugPersonYear, rollups.AREA_DRUG_PERSON_KEY),
            )
        ]

    want = held()
    AreaPersonYear.objects.all().delete()
    AreaDrugPersonYear.objects.all().delete()
    import_module("dualchannel.analytics.migrations.0004_person_months").fill(apps, None)
    editor = SimpleNamespace(connection=connection)  # what 0005's fill reads of its editor
    import_module("dualchannel.analytics.migrations.0005_person_months_two_years").fill(
        apps, editor
    )
    assert held() == want
    assert rollups.rollup_differences() == []


def _random_world(w, seed: int = 11) -> None:
    """Persons settling in several counties (two cities), months over two years and several
    drugs; some reversed before their refresh, some after."""
    shinan = pharmacy(w["shinan"], [(at(2025, 1, 5, 9), "active")])
    licheng = pharmacy(w["licheng"], [(at(2025, 1, 5, 9), "active")])
    places = [w["p1"], w["p5"], shinan, licheng]
    persons = [w["a"], w["b"], *(InsuredPersonFactory(region_code="370102") for _ in range(4))]
    settle_at_random(w, places, persons, count=60, seed=seed)


RANGES = [
    (date(2025, 12, 1), date(2025, 12, 1)),
    (date(2026, 1, 1), date(2026, 4, 1)),
    (date(2025, 11, 1), date(2026, 1, 1)),  # over the turn of the year
    (date(2025, 12, 1), date(2026, 4, 1)),
]


def _before(scope: stats.StatsScope) -> dict:
    """The distinct persons as the statistics counted them from the month rollups."""
    months = stats.distinct_persons(stats.county_person_rows(scope), "month")
    return {
        "key": stats.distinct_persons(stats.county_person_rows(scope)).get(None, 0),
        "trend": [months.get(m, 0) for m in scope.months],
        "county": stats.distinct_persons(stats.county_person_rows(scope), "county_id"),
        "insurance": stats.distinct_persons(stats.county_person_rows(scope), "insurance_type"),
        "drug": stats.distinct_persons(stats.patient_rows(scope), "drug_key"),
    }


def _after(scope: stats.StatsScope) -> dict:
    def patients(by: str) -> dict:
        return {row["key"]: row["patients"] for row in stats.breakdown(scope, by)}

    return {
        "key": stats.key_figures(scope)["patients"],
        "trend": [row["patients"] for row in stats.trend(scope)],
        "county": {k: v for k, v in patients("county").items() if v},
        "insurance": {k: v for k, v in patients("insurance").items() if v},
        "drug": {k: v for k, v in patients("drug").items() if v},
    }


@pytest.mark.parametrize("region", ["province", "jinan", "qingdao", "pingyin"])
def test_distinct_persons_equal_the_month_rollups_over_any_range(stats_world, region):
    w = stats_world
    _random_world(w)
    assert rollups.rollup_differences() == []
    assert AreaPersonYear.objects.filter(year=2025).exists()
    for start, end in RANGES:
        scope = stats.StatsScope(w[region], stats._counties(w[region]), start, end)
        assert _after(scope) == _before(scope), (region, start, end)


def test_a_person_in_two_counties_two_years_and_two_drugs_counts_once(stats_world):
    w = stats_world
    jia, bing = w["drugs"]["甲"], w["drugs"]["丙"]
    c = InsuredPersonFactory(region_code="370102")
    shinan = pharmacy(w["shinan"], [(at(2025, 1, 5, 9), "active")])
    for place, on, drug in (
        (w["p1"], date(2025, 12, 10), jia),
        (shinan, date(2025, 12, 11), bing),
        (w["p5"], date(2026, 1, 12), jia),
    ):
        settlement(place, c, w["lixia_officer"], on=on, lines=[(drug, 1, "5.00")], payers={})
    rollups.refresh()
    province = w["province"]
    scope = stats.StatsScope(
        province, stats._counties(province), date(2025, 12, 1), date(2026, 1, 1)
    )
    # C; the world's A and B settled in March and April 2026 only
    assert stats.key_figures(scope)["patients"] == 1
    assert [row["patients"] for row in stats.trend(scope)] == [1, 1]
    by_county = {row["key"]: row["patients"] for row in stats.breakdown(scope, "county")}
    assert by_county == {"370102": 1, "370202": 1, "370124": 1}
    by_drug = {row["key"]: row["patients"] for row in stats.breakdown(scope, "drug")}
    assert by_drug == {jia.pk: 1, bing.pk: 1}
    jinan = stats.StatsScope(
        w["jinan"], stats._counties(w["jinan"]), date(2025, 12, 1), date(2026, 1, 1)
    )
    assert {row["key"]: row["patients"] for row in stats.breakdown(jinan, "drug")} == {jia.pk: 1}
