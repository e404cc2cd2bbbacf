"""The rollups' write path on PostgreSQL: one statement takes a refresh's settlements into the
rollups (the four by month and the persons' months by year), computed by the server from detail.

The same arithmetic as ``rollups.collect`` (which SQLite runs, and which a test runs on
PostgreSQL beside this to compare): a settlement's lines grouped by drug in the order the drugs
first appear; its payers' amounts split over the drugs in proportion to the drugs' amounts, to
the fen, largest remainder first, ties to the earlier drug (no amount at all: all to the first);
the settlement counted once, under its first drug; a reversal subtracts the same figures from
its own month. The ids come as one array literal (``rollups.pg_array``): no statement with
thousands of parameters, nothing read into Python and written back.
"""

from __future__ import annotations

from django.db import connection

from dualchannel.prescriptions.models import Prescription
from dualchannel.registry.models import Institution, InstitutionKind, Physician
from dualchannel.settlement.models import Settlement, SettlementLine, SettlementStatus

from .models import (
    ALL_TYPES,
    AMOUNTS,
    AREA_DRUG_PERSON_KEY,
    AREA_PERSON_KEY,
    COUNTY_DRUG_KEY,
    COUNTY_PERSON_KEY,
    DRUG_AREAS,
    MEASURES,
    NO_KEY,
    PARTY_AREAS,
    PARTY_DRUG_KINDS,
    PARTY_KEY,
    PARTY_PERSON_KEY,
    PATIENT_KEY,
    PERSON_AREAS,
    ROLLUP_KEY,
    TWO_YEARS,
    AreaDrugPersonYear,
    AreaPersonYear,
    CountyDrugRollup,
    CountyPersonRollup,
    PartyKind,
    PartyPersonYear,
    PartyRollup,
    PatientRollup,
    SettlementRollup,
)


def _split(name: str) -> tuple[str, str]:
    """The share of one payer's amount in a drug group: (floor part, its remainder) columns, in
    Python's floor division (``/`` truncates towards zero; the same for amounts ≥ 0, which
    settlements have, and exact for any). ``%%`` is SQL's modulo (the driver's ``%``)."""
    product = f"{name} * weight"
    floor = (
        f"({product} / whole - CASE WHEN {product} %% whole <> 0 AND ({product} < 0) <> "
        "(whole < 0) THEN 1 ELSE 0 END)"
    )
    return (
        f"CASE WHEN whole = 0 THEN CASE WHEN idx = 1 THEN {name} ELSE 0 END "
        f"ELSE {floor} END AS {name}_base",
        f"CASE WHEN whole = 0 THEN 0 ELSE {product} - {floor} * whole END AS {name}_rem",
    )


def _delta_sql() -> str:
    """One row per settlement × drug group with its sign and its figures (shares in fen)."""
    settlement = Settlement._meta.db_table
    line = SettlementLine._meta.db_table
    institution = Institution._meta.db_table
    prescription = Prescription._meta.db_table
    physician = Physician._meta.db_table
    fen = ", ".join(f"(s.{a} * 100)::bigint AS {a}" for a in AMOUNTS)
    bases = ", ".join(part for a in AMOUNTS for part in _split(a))
    amounts = ", ".join(AMOUNTS)
    lefts = ", ".join(f"{a} - (sum({a}_base) OVER w)::bigint AS {a}_left" for a in AMOUNTS)
    ranks = ", ".join(
        f"row_number() OVER (PARTITION BY id ORDER BY {a}_rem DESC, idx) AS {a}_rank"
        for a in AMOUNTS
    )
    shares = ", ".join(
        f"{a}_base + CASE WHEN {a}_rank <= {a}_left THEN 1 ELSE 0 END AS {a}" for a in AMOUNTS
    )
    keys = (
        "sign, month, county_id, institution_id, drug_key, physician_key, insurance_type, "
        "budget_line, person_id, hospital_key, "
        "CASE WHEN idx = 1 THEN sign ELSE 0 END AS settlements, "
        "sign * lines AS lines, sign * quantity AS quantity"
    )
    single = ", ".join(f"sign * {a} AS {a}_fen" for a in AMOUNTS)
    split = ", ".join(f"sign * sh.{a} AS {a}_fen" for a in AMOUNTS)
    return f"""
    claimed AS (
        SELECT * FROM unnest(%s::bigint[], %s::int[]) AS c(id, sign)
    ),
    facts AS (
        SELECT s.id, c.sign, date_trunc('month', s.settled_on)::date AS month, s.institution_id,
               i.region_id AS county_id, coalesce(p.physician_id, {NO_KEY}) AS physician_key,
               s.insurance_type, s.budget_line, s.person_id,
               -- credited for the hospitals' evaluation (rollups.credited_hospital)
               CASE WHEN p.physician_id IS NOT NULL THEN ph.hospital_id
                    WHEN i.kind = '{InstitutionKind.HOSPITAL.value}' THEN s.institution_id
               END AS hospital_key, {fen}
        FROM claimed c
        JOIN {settlement} s ON s.id = c.id
        JOIN {institution} i ON i.id = s.institution_id
        LEFT JOIN {prescription} p ON p.id = s.prescription_id
        LEFT JOIN {physician} ph ON ph.id = p.physician_id
    ),
    groups AS (
        SELECT l.settlement_id AS id, coalesce(l.drug_id, {NO_KEY}) AS drug_key,
               count(*) AS lines, sum(l.quantity) AS quantity,
               (sum(l.amount) * 100)::bigint AS weight, min(l.position) AS first
        FROM {line} l JOIN claimed c ON c.id = l.settlement_id
        GROUP BY 1, 2
    ),
    parts AS (
        SELECT f.*, coalesce(g.drug_key, {NO_KEY}) AS drug_key,
               coalesce(g.lines, 0) AS lines, coalesce(g.quantity, 0) AS quantity,
               coalesce(g.weight, 0) AS weight,
               row_number() OVER (PARTITION BY f.id ORDER BY g.first) AS idx,
               (sum(coalesce(g.weight, 0)) OVER (PARTITION BY f.id))::bigint AS whole,
               count(*) OVER (PARTITION BY f.id) AS drugs
        FROM facts f LEFT JOIN groups g ON g.id = f.id
    ),
    -- a settlement of several drugs: its amounts split (narrow rows through the windows)
    based AS (
        SELECT id, idx, {amounts}, {bases}
        FROM parts WHERE drugs > 1
    ),
    ranked AS (
        SELECT id, idx, {", ".join(f"{a}_base" for a in AMOUNTS)}, {lefts}, {ranks}
        FROM based WINDOW w AS (PARTITION BY id)
    ),
    shares AS (SELECT id, idx, {shares} FROM ranked),
    delta AS (
        SELECT {keys}, {single} FROM parts WHERE drugs = 1
        UNION ALL
        SELECT {keys.replace("sign", "p.sign").replace("idx", "p.idx")}, {split}
        FROM parts p JOIN shares sh ON sh.id = p.id AND sh.idx = p.idx
    )"""


def _upsert(
    name: str,
    model,
    key: tuple[str, ...],
    measures: dict[str, str],
    source: str = "delta",
    select: str | None = None,
) -> str:
    """``name AS (INSERT … SELECT key, sums FROM delta GROUP BY key … ON CONFLICT … + …)``:
    rows that net to nothing are left out, rows inserted in key order (two writers would lock
    them in the same order). ``select``: the key columns' expressions over ``source``."""
    table = model._meta.db_table
    keys = ", ".join(key)
    sums = ", ".join(f"sum({expr})" for expr in measures.values())
    having = " OR ".join(f"sum({expr}) <> 0" for expr in measures.values())
    sets = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in measures)
    positions = ", ".join(str(n) for n in range(1, len(key) + 1))
    return (
        f"{name} AS (INSERT INTO {table} ({keys}, {', '.join(measures)}) "
        f"SELECT {select or keys}, {sums} FROM {source} GROUP BY {positions} HAVING {having} "
        f"ORDER BY {positions} ON CONFLICT ({keys}) DO UPDATE SET {sets})"
    )


# a row of delta once per party it counts for: its institution, its physician, the hospital
# credited (none: no row)
PARTIES = (
    f"CROSS JOIN LATERAL (SELECT * FROM (VALUES ('{PartyKind.INSTITUTION.value}', "
    f"d.institution_id), ('{PartyKind.PHYSICIAN.value}', d.physician_key), "
    f"('{PartyKind.HOSPITAL.value}', d.hospital_key)) AS v(kind, party) "
    "WHERE v.party IS NOT NULL) AS pt"
)


def _party_areas() -> str:
    """``CROSS JOIN LATERAL (VALUES (kind, n), …) AS pa(kind, n)``, joined to the party's kind:
    the area prefixes each kind counts in (``PARTY_AREAS``)."""
    values = ", ".join(
        f"('{kind.value}', {n})" for kind, lengths in PARTY_AREAS.items() for n in lengths
    )
    return (
        f"JOIN (VALUES {values}) AS pa(kind, n) ON pa.kind = pt.kind "
        "CROSS JOIN LATERAL (SELECT left(d.county_id, pa.n) AS area) AS a"
    )


def _areas(lengths: tuple[int, ...]) -> str:
    """``CROSS JOIN LATERAL (VALUES (left(county_id, 2)), …) AS a(area)``: a row of delta once
    in each area its county counts in."""
    values = ", ".join(f"(left(d.county_id, {n}))" for n in lengths)
    return f"CROSS JOIN LATERAL (VALUES {values}) AS a(area)"


def _months_upsert(name: str, model, key: tuple[str, ...], select: str, value: str, source: str):
    """``name AS (INSERT … ON CONFLICT … + …)`` of a persons' months table: ``select`` gives
    the key columns in ``key``'s order (its year as ``y.year``), ``value`` a delta row's count,
    summed into its month's column of its year's row (m01 …) and of the next year's (p01 …)."""
    table = model._meta.db_table
    keys = ", ".join(key)
    sums = [
        f"sum(CASE WHEN y.next = {next_year} AND extract(month FROM d.month) = {n} "
        f"THEN {value} ELSE 0 END)"
        for next_year in (0, 1)
        for n in range(1, 13)
    ]
    having = " OR ".join(f"{part} <> 0" for part in sums)
    sets = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in TWO_YEARS)
    positions = ", ".join(str(n) for n in range(1, len(key) + 1))
    years = (
        "CROSS JOIN LATERAL (VALUES (0), (1)) AS n(next) CROSS JOIN LATERAL "
        "(SELECT n.next, (extract(year FROM d.month) + n.next)::smallint AS year) AS y"
    )
    return (
        f"{name} AS (INSERT INTO {table} ({keys}, {', '.join(TWO_YEARS)}) "
        f"SELECT {select}, {', '.join(sums)} FROM {source} {years} GROUP BY {positions} "
        f"HAVING {having} ORDER BY {positions} ON CONFLICT ({keys}) DO UPDATE SET {sets})"
    )


def statement() -> str:
    sums = {m: m for m in MEASURES}
    parts = [
        _upsert(
            "fine",
            SettlementRollup,
            ROLLUP_KEY,
            sums,
        ),
        _upsert(
            "patients",
            PatientRollup,
            PATIENT_KEY,
            {"settlements": "sign"},
        ),
        _upsert(
            "county_drugs",
            CountyDrugRollup,
            COUNTY_DRUG_KEY,
            sums,
        ),
        _upsert(
            "county_persons",
            CountyPersonRollup,
            COUNTY_PERSON_KEY,
            {"settlements": "settlements"},  # once per settlement: its first drug's row
        ),
        _months_upsert(
            "area_persons",
            AreaPersonYear,
            AREA_PERSON_KEY,
            "a.area, y.year, t.insurance_type, d.person_id",
            "d.settlements",
            f"delta d {_areas(PERSON_AREAS)} CROSS JOIN LATERAL (VALUES ('{ALL_TYPES}'), "
            "(d.insurance_type)) AS t(insurance_type)",
        ),
        _months_upsert(
            "drug_persons",
            AreaDrugPersonYear,
            AREA_DRUG_PERSON_KEY,
            "a.area, y.year, d.drug_key, d.person_id",
            "d.sign",  # every drug of the settlement, as PatientRollup
            f"delta d {_areas(DRUG_AREAS)}",
        ),
        _upsert(
            "parties",
            PartyRollup,
            PARTY_KEY,
            {m: f"d.{m}" for m in MEASURES},
            source=f"delta d {PARTIES}",
            select="d.month, pt.kind, d.county_id, pt.party, CASE WHEN pt.kind IN ("
            + ", ".join(f"'{kind.value}'" for kind in PARTY_DRUG_KINDS)
            + f") THEN d.drug_key ELSE {NO_KEY} END",
        ),
        _months_upsert(
            "party_persons",
            PartyPersonYear,
            PARTY_PERSON_KEY,
            "pt.kind, a.area, y.year, pt.party, d.person_id",
            "d.settlements",  # once per settlement, as the areas' persons
            f"delta d {PARTIES} {_party_areas()}",
        ),
    ]
    # every data-modifying CTE runs to its end, read or not
    return f"WITH {_delta_sql()}, {', '.join(parts)} SELECT 1"


def reversed_among(ids: list[int], array) -> set[int]:
    """Those of ``ids`` reversed already (a new settlement reversed before its refresh)."""
    if not ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {Settlement._meta.db_table} WHERE id = ANY(%s::bigint[]) "
            "AND status = %s",
            [array(ids), SettlementStatus.REVERSED.value],
        )
        return {row[0] for row in cursor.fetchall()}


def apply(added: list[int], subtracted: list[int], array) -> None:
    """Add the settlements ``added`` and subtract the reversals ``subtracted`` (their figures as
    when they were added), in one statement; ``array`` makes the array literals."""
    ids = [*added, *subtracted]
    if not ids:
        return
    signs = [1] * len(added) + [-1] * len(subtracted)
    with connection.cursor() as cursor:
        cursor.execute(STATEMENT, [array(ids), array(signs)])


STATEMENT = statement()
