"""The settlement rollups (issue 13 §1, §6): refresh, reversal, idempotency, rebuild, and the
check that rollup equals detail to the fen — against the hand-computed world of
``rollup_world``."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from importlib import import_module
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db.models import Sum, Value

from dualchannel.analytics import rollups
from dualchannel.analytics.models import (
    NO_KEY,
    CountyDrugRollup,
    CountyPersonRollup,
    PatientRollup,
    RollupState,
    SettlementRollup,
)
from dualchannel.core import jobs
from dualchannel.settlement.models import Settlement, SettlementLine

from .rollup_world import reverse, settlement

MARCH, APRIL = date(2026, 3, 1), date(2026, 4, 1)
FEN = ("total_fen", "fund_fen", "critical_illness_fen", "assistance_fen", "commercial_fen")


def sums(**filters) -> dict:
    fields = ("settlements", "lines", "quantity", *FEN, "personal_fen")
    return SettlementRollup.objects.filter(**filters).aggregate(**{f: Sum(f) for f in fields})


def patients(**filters) -> int:
    rows = PatientRollup.objects.filter(settlements__gt=0, **filters)
    return rows.values("person_id").distinct().count()


def test_allocate_splits_by_largest_remainder_ties_to_the_first():
    assert rollups.allocate(500, [60000, 10000]) == [429, 71]
    assert rollups.allocate(17000, [60000, 10000]) == [14571, 2429]
    assert rollups.allocate(-500, [60000, 10000]) == [-429, -71]
    assert rollups.allocate(1, [1, 1]) == [1, 0]
    assert rollups.allocate(7, [0, 0]) == [7, 0]


def test_refresh_rolls_up_each_figure_to_the_fen(stats_world):
    w = stats_world
    result = rollups.refresh()
    assert (result.settlements, result.reversals) == (4, 0)
    march = sums(month=MARCH)
    assert march["settlements"] == 3 and march["lines"] == 4 and march["quantity"] == 5
    assert [march[f] for f in (*FEN, "personal_fen")] == [130000, 85000, 3500, 3000, 500, 38000]
    jia = sums(month=MARCH, drug_key=w["drugs"]["甲"].pk)
    assert [jia[f] for f in (*FEN, "personal_fen")] == [120000, 78000, 3000, 3000, 429, 35571]
    bing = sums(month=MARCH, drug_key=w["drugs"]["丙"].pk)
    assert [bing[f] for f in (*FEN, "personal_fen")] == [10000, 7000, 500, 0, 71, 2429]
    assert bing["settlements"] == 0  # S1 counts under its first line's drug (甲)
    assert sums(month=MARCH, physician_key=w["wang"].pk)["total_fen"] == 100000
    assert sums(month=MARCH, physician_key=NO_KEY)["total_fen"] == 30000
    assert sums(month=MARCH, insurance_type="390")["assistance_fen"] == 3000
    assert sums(month=APRIL)["total_fen"] == 10000
    assert patients(month=MARCH) == 2
    assert patients(month=MARCH, county_id="370124") == 1
    assert rollups.rollup_differences() == []
    assert Settlement.objects.filter(rolled_up_at__isnull=True).count() == 0
    assert RollupState.objects.get().refreshed_at == result.refreshed_at


def county_sums(**filters) -> dict:
    fields = ("settlements", "lines", "quantity", *FEN, "personal_fen")
    return CountyDrugRollup.objects.filter(**filters).aggregate(**{f: Sum(f) for f in fields})


def county_patients(**filters) -> int:
    rows = CountyPersonRollup.objects.filter(settlements__gt=0, **filters)
    return rows.values("person_id").distinct().count()


def test_the_coarse_rollups_hold_the_same_figures_per_county_drug_and_insurance(stats_world):
    w = stats_world
    rollups.refresh()
    march = county_sums(month=MARCH)
    assert march["settlements"] == 3 and march["lines"] == 4 and march["quantity"] == 5
    assert [march[f] for f in (*FEN, "personal_fen")] == [130000, 85000, 3500, 3000, 500, 38000]
    jia = county_sums(month=MARCH, drug_key=w["drugs"]["甲"].pk)
    assert [jia[f] for f in (*FEN, "personal_fen")] == [120000, 78000, 3000, 3000, 429, 35571]
    assert county_sums(month=MARCH, insurance_type="390")["assistance_fen"] == 3000
    assert county_sums(month=MARCH, county_id="370124")["total_fen"] == 30000
    assert CountyDrugRollup.objects.filter(month=MARCH).count() == 4  # 历下 甲/丙 310, 甲 390; 平阴
    # one row per person, month, county and insurance type, with their live settlements
    people = CountyPersonRollup.objects.filter(month=MARCH).order_by("county_id", "person_id")
    assert [(r.county_id, r.person_id, r.settlements) for r in people] == [
        ("370102", w["a"].pk, 1),
        ("370102", w["b"].pk, 1),
        ("370124", w["a"].pk, 1),
    ]
    assert county_patients(month=MARCH) == 2 and county_patients(month=APRIL) == 1

    reverse(w["s3"])
    rollups.refresh()
    assert county_sums(month=MARCH, county_id="370124")["total_fen"] == 0
    assert county_patients(month=MARCH, county_id="370124") == 0
    assert county_patients(month=MARCH) == 2
    assert rollups.rollup_differences() == []


def test_the_check_finds_the_coarse_rollups_off(stats_world):
    rollups.refresh()
    row = CountyDrugRollup.objects.filter(month=APRIL).first()
    CountyDrugRollup.objects.filter(pk=row.pk).update(fund_fen=row.fund_fen + 1)
    assert [d.split(" ")[0] for d in rollups.rollup_differences()] == ["county-settlements"]
    CountyDrugRollup.objects.filter(pk=row.pk).update(fund_fen=row.fund_fen)
    CountyPersonRollup.objects.filter(month=APRIL).update(settlements=0)
    assert [d.split(" ")[0] for d in rollups.rollup_differences()] == ["county-patients"]


def test_the_migration_fills_the_coarse_rollups_as_the_refresh_does(stats_world):
    rollups.refresh()
    reverse(stats_world["s3"])
    rollups.refresh()
    reverse(stats_world["s4"])  # not taken in yet: the fine rollups still hold it

    def held() -> list[list[tuple]]:  # rows netted to nothing by their reversals left out
        return [
            list(rows.order_by(*key).values_list(*key, "settlements", "lines", "total_fen"))
            for rows, key in (
                (
                    CountyDrugRollup.objects.exclude(settlements=0, lines=0, total_fen=0),
                    rollups.COUNTY_DRUG_KEY,
                ),
                (
                    CountyPersonRollup.objects.exclude(settlements=0).annotate(
                        lines=Value(0), total_fen=Value(0)
                    ),
                    rollups.COUNTY_PERSON_KEY,
                ),
            )
        ]

    want = held()
    want_sums = county_sums()
    CountyDrugRollup.objects.all().delete()
    CountyPersonRollup.objects.all().delete()
    import_module("dualchannel.analytics.migrations.0003_county_rollups").fill(apps, None)
    assert held() == want and county_sums() == want_sums
    rollups.refresh()
    assert rollups.rollup_differences() == []


def test_a_reversal_subtracts_from_its_own_month(stats_world):
    w = stats_world
    rollups.refresh()
    reverse(w["s3"])
    result = rollups.refresh()
    assert (result.settlements, result.reversals) == (0, 1)
    assert sums(month=MARCH, county_id="370124")["total_fen"] == 0
    assert sums(month=MARCH, county_id="370124")["settlements"] == 0
    assert patients(month=MARCH, county_id="370124") == 0
    assert patients(month=MARCH) == 2  # A is still served in 历下 (S1)
    assert sums(month=MARCH)["total_fen"] == 100000
    assert rollups.rollup_differences() == []


def test_a_settlement_reversed_before_any_refresh_adds_nothing(stats_world):
    reverse(stats_world["s3"])
    result = rollups.refresh()
    assert result.settlements == 4
    assert sums(month=MARCH, county_id="370124")["total_fen"] in (None, 0)
    assert rollups.refresh().settlements == 0  # its reversal was taken in at once
    assert rollups.rollup_differences() == []


def test_refresh_twice_changes_nothing(stats_world):
    rollups.refresh()
    before = list(SettlementRollup.objects.order_by("month", "institution_id", "drug_key").values())
    again = rollups.refresh()
    assert (again.settlements, again.reversals) == (0, 0)
    after = list(SettlementRollup.objects.order_by("month", "institution_id", "drug_key").values())
    assert before == after


def test_refresh_in_batches_equals_one_refresh(stats_world):
    total = rollups.refresh_all(limit=1)
    assert total.settlements == 4
    assert rollups.rollup_differences() == []
    assert sums(month=MARCH)["total_fen"] == 130000


def test_the_check_finds_a_rollup_off_by_one_fen(stats_world):
    rollups.refresh()
    row = SettlementRollup.objects.filter(month=APRIL).first()
    SettlementRollup.objects.filter(pk=row.pk).update(fund_fen=row.fund_fen + 1)
    differences = rollups.rollup_differences()
    assert len(differences) == 1 and differences[0].startswith("settlements (datetime.date(2026, 4")
    assert rollups.rollup_differences(months=(MARCH, MARCH)) == []


def test_the_check_finds_a_line_the_rollup_missed(stats_world):
    rollups.refresh()
    line = SettlementLine.objects.get(settlement=stats_world["s4"])
    SettlementLine.objects.filter(pk=line.pk).update(quantity=2)
    found = [d.split(" ")[0] for d in rollups.rollup_differences()]
    # the line's drug under its institution and its physician (none; S4 credits no hospital)
    assert found == ["drug", "county-drug", "party-drug", "party-drug"]


def test_rebuild_recomputes_from_detail(stats_world):
    rollups.refresh()
    SettlementRollup.objects.update(total_fen=0)
    assert rollups.rollup_differences() != []
    rollups.rebuild()
    assert rollups.rollup_differences() == []
    assert sums(month=MARCH)["total_fen"] == 130000


@pytest.mark.parametrize("limit", [2, 3])
def test_refresh_takes_at_most_limit(stats_world, limit):
    assert rollups.refresh(limit=limit).settlements == limit
    assert Settlement.objects.filter(rolled_up_at__isnull=True).count() == 4 - limit


def test_rollup_rebuild_command_rebuilds_and_checks(stats_world):
    out, err = StringIO(), StringIO()
    call_command("rollup_rebuild", stdout=out, stderr=err)
    assert "汇总结算 4 笔" in out.getvalue() and "一致" in out.getvalue()
    SettlementRollup.objects.update(personal_fen=0)
    with pytest.raises(CommandError, match="汇总与明细不一致"):
        call_command("rollup_rebuild", "--check", stdout=out, stderr=err)


@pytest.mark.interval_tasks
def test_the_worker_refreshes_the_rollups_every_five_minutes(stats_world):
    assert jobs.periodic_tasks()["analytics.rollup_refresh"].every == timedelta(minutes=5)
    jobs.enqueue("analytics.rollup_refresh", {})
    assert jobs.run_once("w1", limit=50) >= 1
    assert sums(month=MARCH)["total_fen"] == 130000


def _held() -> list[list[tuple]]:
    """Every rollup's rows (the persons' months included), those netted to nothing left out,
    in key order."""
    out = []
    for model in rollups.PERSISTED:
        names = [f.attname for f in model._meta.concrete_fields]
        counted = (*rollups.MEASURES, "settlements", *rollups.TWO_YEARS)
        measures = [n for n in names if n in counted]
        rows = model.objects.order_by(*names).values_list(*names)
        out.append([r for r in rows if any(r[names.index(m)] for m in measures)])
    return out


@pytest.mark.postgres
def test_on_postgresql_the_database_splits_to_the_fen_as_python_does(stats_world, monkeypatch):
    """Random settlements of several drugs (equal amounts for ties, payers of a few fen),
    some reversed after they were rolled up, some before: the statement PostgreSQL runs
    (``rollups_pg``) leaves the rollups exactly as ``collect`` and ``write`` do."""
    w = stats_world
    rng = random.Random(7)
    drugs = list(w["drugs"].values())
    made = []
    for n in range(40):
        lines = [
            (rng.choice(drugs), rng.randint(1, 3), rng.choice(("100.00", "33.33", "0.01", "7.77")))
            for _ in range(rng.randint(1, 5))
        ]
        total = sum(Decimal(price) * qty for _, qty, price in lines)
        fund = (total * Decimal(rng.choice(("0.7", "0.333", "0.5")))).quantize(Decimal("0.01"))
        rest = total - fund
        payers = {
            "fund": str(fund),
            "critical_illness": str((rest * Decimal("0.1")).quantize(Decimal("0.01"))),
            "commercial": str(min(rest / 3, Decimal("0.05")).quantize(Decimal("0.01"))),
        }
        made.append(
            settlement(
                rng.choice((w["p1"], w["p5"], w["h1"])),
                rng.choice((w["a"], w["b"])),
                w["lixia_officer"],
                on=date(2026, 3 + n % 3, 1 + n % 27),
                lines=lines,
                payers=payers,
                physician=w["wang"] if n % 4 else None,
                insurance=rng.choice(("310", "390")),
            )
        )
    for row in made[:5]:
        reverse(row)  # before any refresh
    assert rollups.in_database()
    rollups.refresh(limit=17)
    for row in made[10:16]:
        reverse(row)  # after
    rollups.refresh_all(limit=7)
    in_database = _held()
    assert rollups.rollup_differences() == []

    monkeypatch.setattr(rollups, "COMPUTE_IN_PYTHON", True)
    rollups.rebuild(limit=13)
    assert _held() == in_database
