"""The parties' rollups (issue 13 §6): sums per institution, physician and credited hospital
(``PartyRollup``) and their persons' months (``PartyPersonYear``) — kept by the refresh through
reversals, equal to detail, filled by the migration as the refresh fills them, and the
statistics by institution, by physician and the hospitals' evaluation from them equal to what
the fine rollups gave (distinct persons over ``PatientRollup``, the hospital credited per row)."""

from __future__ import annotations

from datetime import date
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import Sum

from dualchannel.analytics import rollups, stats
from dualchannel.analytics.models import (
    MEASURES,
    NO_KEY,
    PARTY_KEY,
    PARTY_PERSON_KEY,
    TWO_YEARS,
    PartyKind,
    PartyPersonYear,
    PartyRollup,
)
from dualchannel.registry.models import Institution, InstitutionKind, Physician
from dualchannel.registry.tests.factories import InsuredPersonFactory, PhysicianFactory

from .factories import at, pharmacy
from .rollup_world import reverse, settle_at_random, settlement

MARCH = 1 << 2
INST, P, H = PartyKind.INSTITUTION, PartyKind.PHYSICIAN, PartyKind.HOSPITAL


def party_sums(kind, party, **filters) -> dict:
    rows = PartyRollup.objects.filter(kind=kind, party=party, **filters)
    return rows.aggregate(s=Sum("settlements"), t=Sum("total_fen"), f=Sum("fund_fen"))


def test_each_settlement_counts_for_its_institution_physician_and_credited_hospital(stats_world):
    w = stats_world
    rollups.refresh()
    # S1 (P1, 王 of H1, 700.00) and S3 (P5, 王, 300.00) in March; S2 (P1, none) March, S4 (P5,
    # none) April: 王's prescriptions count for H1; S2 and S4 credit no hospital (pharmacies)
    assert party_sums(H, w["h1"].pk) == {"s": 2, "t": 100000, "f": 70000}
    assert party_sums(P, w["wang"].pk) == {"s": 2, "t": 100000, "f": 70000}
    assert party_sums(P, NO_KEY) == {"s": 2, "t": 40000, "f": 20000}
    assert party_sums(INST, w["p1"].pk) == {"s": 2, "t": 100000, "f": 64000}
    assert not PartyRollup.objects.filter(kind=H).exclude(party=w["h1"].pk).exists()
    # an institution's and a physician's rows sum over their drugs; the hospital's keep them
    assert set(PartyRollup.objects.exclude(kind=H).values_list("drug_key", flat=True)) == {NO_KEY}
    # S1's two drugs: its fund split 420.00 / 70.00 as in the fine rollup
    jia, bing = w["drugs"]["甲"].pk, w["drugs"]["丙"].pk
    assert party_sums(H, w["h1"].pk, drug_key=bing)["f"] == 7000
    assert party_sums(H, w["h1"].pk, drug_key=jia)["f"] == 42000 + 21000
    # 王's person A: under the province, 济南 and both counties (历下 S1, 平阴 S3); P1's only
    # under its county
    a = w["a"]
    for area in ("37", "3701", "370102", "370124"):
        row = PartyPersonYear.objects.get(
            kind=P, area=area, year=2026, party=w["wang"].pk, person=a
        )
        assert row.months == MARCH
    assert {r.area for r in PartyPersonYear.objects.filter(kind=INST, party=w["p1"].pk)} == {
        "370102"
    }
    assert (
        PartyPersonYear.objects.get(kind=H, area="37", year=2026, party=w["h1"].pk, person=a).m03
        == 2
    )
    # the next year keeps March as its year before
    nxt = PartyPersonYear.objects.get(kind=H, area="37", year=2027, party=w["h1"].pk, person=a)
    assert (nxt.p03, nxt.months) == (2, MARCH << 12)
    assert rollups.rollup_differences() == []

    reverse(w["s3"])
    rollups.refresh()
    assert party_sums(H, w["h1"].pk) == {"s": 1, "t": 70000, "f": 49000}
    gone = PartyPersonYear.objects.get(
        kind=P, area="370124", year=2026, party=w["wang"].pk, person=a
    )
    assert (gone.m03, gone.months) == (0, 0)
    assert rollups.rollup_differences() == []


def test_a_hospital_settling_without_a_physician_is_credited_itself(stats_world):
    w = stats_world
    settlement(
        w["h1"],
        w["b"],
        w["lixia_officer"],
        on=date(2026, 3, 9),
        lines=[(w["drugs"]["丙"], 1, "80.00")],
        payers={},
    )
    rollups.refresh()
    scope = stats.StatsScope(
        w["jinan"], stats._counties(w["jinan"]), date(2026, 3, 1), date(2026, 3, 1)
    )
    (row,) = stats.hospital_evaluation(scope)
    # S1 and S3 by 王 (A), the hospital's own sale to B
    assert (row["key"], row["settlements"], row["total"], row["patients"]) == (
        w["h1"].pk,
        3,
        1080,
        2,
    )
    assert row["varieties"] == 2
    assert rollups.rollup_differences() == []


def test_the_check_finds_a_party_row_off_by_one(stats_world):
    rollups.refresh()
    row = PartyRollup.objects.filter(kind=P, party=stats_world["wang"].pk).first()
    PartyRollup.objects.filter(pk=row.pk).update(fund_fen=row.fund_fen + 1)
    assert {d.split(" ")[0] for d in rollups.rollup_differences()} == {"party-settlements"}
    rollups.rebuild()
    row = PartyPersonYear.objects.filter(kind=INST, year=2026).first()
    PartyPersonYear.objects.filter(pk=row.pk).update(m03=row.m03 + 1, m04=row.m04 + 1)
    assert "party-persons" in {d.split(" ")[0] for d in rollups.rollup_differences()}


def _random_world(w, seed: int = 5) -> None:
    """Persons settling at pharmacies and hospitals of two cities, on prescriptions of
    physicians of two hospitals (or none), over two years and several drugs; some reversed
    before their refresh, some after."""
    shinan = pharmacy(w["shinan"], [(at(2025, 1, 5, 9), "active")])
    qd_hospital = pharmacy(
        w["shinan"], [(at(2025, 1, 5, 9), "active")], kind=InstitutionKind.HOSPITAL
    )
    li = PhysicianFactory(hospital=qd_hospital, name="李医生")
    places = [w["p1"], w["p5"], w["h1"], shinan, qd_hospital]
    persons = [w["a"], w["b"], *(InsuredPersonFactory(region_code="370102") for _ in range(4))]
    physicians = [w["wang"], li, None, None]
    settle_at_random(w, places, persons, count=70, seed=seed, physicians=physicians)


def _before(scope: stats.StatsScope) -> dict:
    """Persons and sums per institution, physician and credited hospital as the statistics
    computed them from the fine rollups (``SettlementRollup``, ``PatientRollup``)."""
    rows = stats.patient_rows(scope)
    fine = rollups.SettlementRollup.objects.filter(
        county_id__in=scope.counties, month__gte=scope.start, month__lte=scope.end
    )
    hospital_of_physician = dict(Physician.objects.values_list("pk", "hospital_id"))
    hospitals = set(
        Institution.objects.filter(kind=InstitutionKind.HOSPITAL).values_list("pk", flat=True)
    )

    def credited(physician: int, institution: int) -> int | None:
        if physician != NO_KEY:
            return hospital_of_physician[physician]
        return institution if institution in hospitals else None

    pairs = {
        (credited(ph, inst), person)
        for ph, inst, person in rows.values_list("physician_key", "institution_id", "person_id")
    }
    hospital_persons: dict = {}
    for hospital, _ in pairs:
        if hospital is not None:
            hospital_persons[hospital] = hospital_persons.get(hospital, 0) + 1
    totals: dict = {}
    for ph, inst, total in fine.values_list("physician_key", "institution_id").annotate(
        t=Sum("total_fen")
    ):
        hospital = credited(ph, inst)
        if hospital is not None:
            totals[hospital] = totals.get(hospital, 0) + total

    def sums(column: str) -> dict:
        return {
            key: total
            for key, total in fine.values_list(column).annotate(t=Sum("total_fen"))
            if total
        }

    return {
        "institution": stats.distinct_persons(rows, "institution_id"),
        "physician": stats.distinct_persons(rows, "physician_key"),
        "hospital": hospital_persons,
        "institution-total": sums("institution_id"),
        "physician-total": sums("physician_key"),
        "hospital-total": {k: v for k, v in totals.items() if v},
    }


def _after(scope: stats.StatsScope) -> dict:
    def patients(rows) -> dict:
        return {row["key"]: row["patients"] for row in rows if row["patients"]}

    def totals(rows) -> dict:
        return {row["key"]: int(row["total"] * 100) for row in rows if row["total"]}

    institutions = stats.breakdown(scope, "institution")
    physicians = stats.breakdown(scope, "physician")
    hospitals = stats.hospital_evaluation(scope)
    return {
        "institution": patients(institutions),
        "physician": patients(physicians),
        "hospital": patients(hospitals),
        "institution-total": totals(institutions),
        "physician-total": totals(physicians),
        "hospital-total": totals(hospitals),
    }


RANGES = [
    (date(2025, 12, 1), date(2025, 12, 1)),
    (date(2026, 1, 1), date(2026, 4, 1)),
    (date(2025, 11, 1), date(2026, 1, 1)),  # over the turn of the year
    (date(2025, 12, 1), date(2026, 4, 1)),
]


@pytest.mark.parametrize("region", ["province", "jinan", "qingdao", "pingyin"])
def test_by_party_equals_the_fine_rollups_over_any_range(stats_world, region):
    w = stats_world
    _random_world(w)
    assert rollups.rollup_differences() == []
    assert PartyPersonYear.objects.filter(kind=H, year=2025).exists()
    for start, end in RANGES:
        scope = stats.StatsScope(w[region], stats._counties(w[region]), start, end)
        assert _after(scope) == _before(scope), (region, start, end)


def test_the_migration_fills_the_parties_as_the_refresh_does(stats_world):
    _random_world(stats_world)

    def held():
        return [
            sorted(
                (row for row in model.objects.values_list(*key, *measures) if any(row[len(key) :])),
                key=str,
            )
            for model, key, measures in (
                (PartyRollup, PARTY_KEY, MEASURES),
                (PartyPersonYear, PARTY_PERSON_KEY, ("months", *TWO_YEARS)),
            )
        ]

    want = held()
    assert want[0] and want[1]
    PartyRollup.objects.all().delete()
    PartyPersonYear.objects.all().delete()
    editor = SimpleNamespace(connection=connection)  # what the fill reads of its editor
    import_module("dualchannel.analytics.migrations.0006_party_rollups").fill(apps, editor)
    assert held() == want
    assert rollups.rollup_differences() == []
