"""The agency's statistics (issue 13 §1) for a region and its subtree over a month range, read
from the rollups (the coarse ``CountyDrugRollup``, the parties' ``PartyRollup``, ``PatientRollup``
for a county's drugs, and the persons' months ``AreaPersonYear`` / ``AreaDrugPersonYear`` /
``PartyPersonYear``; see ``rollups``), never from a kept answer: amounts by drug, institution,
physician, county and insurance type, patients served, month-over-month trends and the
hospitals' evaluation figures [CX art. 13].

Access as the reports (``selectors.actor_scope``): a county's officer sees their county, a city's
their city, a province's the province; nobody another province. A future month, a range that
runs backwards or is longer than ``MAX_MONTHS``, or a region outside the scope is refused.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from dualchannel.catalog.models import Drug
from dualchannel.core.errors import DomainError
from dualchannel.core.models import User
from dualchannel.core.months import month_end, month_start, previous_month
from dualchannel.registry.models import (
    Institution,
    InsuranceType,
    Physician,
    Region,
)
from dualchannel.registry.regions import is_within, region_subtree

from . import error_codes as codes
from .models import (
    ALL_TYPES,
    AREA_DRUG_PERSON_KEY,
    AREA_PERSON_KEY,
    DRUG_AREAS,
    MONTH_COLUMNS,
    NO_KEY,
    PARTY_AREAS,
    PARTY_PERSON_KEY,
    PERSON_AREAS,
    AreaDrugPersonYear,
    AreaPersonYear,
    CountyDrugRollup,
    CountyPersonRollup,
    PartyKind,
    PartyPersonYear,
    PartyRollup,
    PatientRollup,
)
from .selectors import actor_scope, parse_month, region_not_found

MAX_MONTHS = 36
DEFAULT_MONTHS = 6
AMOUNT_FIELDS = ("total", "fund", "critical_illness", "assistance", "commercial", "personal")
AMOUNT_LABELS = ("医疗费总额", "统筹基金", "大病保险", "医疗救助", "惠民保", "个人现金")
DIMENSIONS = {
    "drug": ("drug_key", "药品"),
    "institution": ("party", "定点机构"),
    "physician": ("party", "医师"),
    "county": ("county_id", "县（市、区）"),
    "insurance": ("insurance_type", "险种"),
}
# the dimensions the coarse rollups hold (the others need institution or physician)
COARSE_DIMENSIONS = ("drug", "county", "insurance")
# the dimensions the parties' rollups hold, by their kind
PARTY_DIMENSIONS = {"institution": PartyKind.INSTITUTION, "physician": PartyKind.PHYSICIAN}
FEN = Decimal("0.01")


@dataclass(frozen=True)
class StatsScope:
    """What a statistic covers: a region's county-level units and the months from one first
    day to another (both included)."""

    region: Region
    counties: tuple[str, ...]
    start: date
    end: date

    @property
    def months(self) -> list[date]:
        months, current = [], self.end
        while current >= self.start:
            months.append(current)
            current = previous_month(current)
        return months[::-1]

    @property
    def last_day(self) -> date:
        return month_end(self.end)

    @property
    def label(self) -> str:
        first, last = self.start.strftime("%Y-%m"), self.end.strftime("%Y-%m")
        return first if first == last else f"{first} 至 {last}"

    def previous(self) -> StatsScope:
        """The same number of months just before (for the comparison)."""
        start = self.start
        for _ in self.months:
            start = previous_month(start)
        return StatsScope(self.region, self.counties, start, previous_month(self.start))


def stats_scope(
    actor: User | None,
    *,
    region: str | None = None,
    start: str | None = None,
    end: str | None = None,
    today: date | None = None,
) -> StatsScope:
    """The scope asked for, checked: the officer's own region unless another inside it is named;
    from ``start`` to ``end`` (``YYYY-MM``; one given: that month; none: the last six months)."""
    scope = actor_scope(actor)
    today = today or timezone.localdate()
    code = (region or "").strip() or (scope.code if scope is not None else "")
    found = Region.objects.filter(code=code).first()
    if found is None or (scope is not None and not is_within(found.code, scope)):
        raise region_not_found()
    if not start and not end:  # the last six months, this one included: a trend at a glance
        last = month_start(today)
        first = last
        for _ in range(DEFAULT_MONTHS - 1):
            first = previous_month(first)
    else:
        first = parse_month(start or end, today=today)
        last = parse_month(end, today=today) if end else first
    if last < first:
        raise DomainError(
            codes.INVALID_RANGE, "起始月份不能晚于截止月份", fields={"end": ["早于起始月份"]}
        )
    result = StatsScope(found, _counties(found), first, last)
    if len(result.months) > MAX_MONTHS:
        raise DomainError(
            codes.INVALID_RANGE,
            f"统计区间最长{MAX_MONTHS}个月",
            fields={"end": [f"最长{MAX_MONTHS}个月"]},
        )
    return result


def _counties(region: Region) -> tuple[str, ...]:
    codes_ = region_subtree(region).filter(is_county_level=True).order_by("code")
    return tuple(codes_.values_list("code", flat=True))


def county_drug_rows(scope: StatsScope) -> QuerySet[CountyDrugRollup]:
    """The coarse sums (month × county × drug × insurance type): what every question that does
    not ask for an institution or a physician reads."""
    return CountyDrugRollup.objects.filter(
        county_id__in=scope.counties, month__gte=scope.start, month__lte=scope.end
    )


def county_person_rows(scope: StatsScope) -> QuerySet[CountyPersonRollup]:
    """The persons served per month × county × insurance type."""
    return CountyPersonRollup.objects.filter(
        county_id__in=scope.counties,
        month__gte=scope.start,
        month__lte=scope.end,
        settlements__gt=0,
    )


# memory for the hash of (group, person) pairs: with PostgreSQL's default 4 MB a province-year
# spills to disk and takes minutes (README: bench-analytics); SET LOCAL, this transaction only
DISTINCT_WORK_MEM = "64MB"


def _fetch_distinct(sql: str, params) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET LOCAL work_mem = '{DISTINCT_WORK_MEM}'")
        cursor.execute(sql, params)
        return cursor.fetchall()


def distinct_persons(rows: QuerySet, column: str | None = None) -> dict:
    """Distinct persons per value of ``column`` (None: over all rows, under the key None):
    ``SELECT column, count(*) FROM (SELECT DISTINCT column, person …) GROUP BY column`` (a hash
    of the pairs, where ``COUNT(DISTINCT)`` per group would sort every row)."""
    columns = ("person_id",) if column is None else (column, "person_id")
    try:
        sql, params = rows.values(*columns).distinct().order_by().query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing (no county in scope): no person
        return {None: 0} if column is None else {}
    if column is None:
        return dict(_fetch_distinct(f"SELECT NULL, count(*) FROM ({sql}) AS persons", params))
    return dict(
        _fetch_distinct(f"SELECT {column}, count(*) FROM ({sql}) AS pairs GROUP BY 1", params)
    )


# --- distinct persons from the persons' months (one row per person and year in an area) -------


def scope_area(scope: StatsScope, lengths: tuple[int, ...] = PERSON_AREAS) -> str | None:
    """The area whose rows answer for the scope (its region's code prefix), or None if the
    persons' months keep no such area (a county's patients by drug) or the scope has no
    county-level unit (then nothing is in it)."""
    if not scope.counties:
        return None
    prefix = scope.region.code_prefix
    return prefix if len(prefix) in lengths else None


def _year_masks(scope: StatsScope) -> list[tuple[int, int]]:
    """(year, bitmask of the scope's months in it), years ascending."""
    masks: dict[int, int] = defaultdict(int)
    for month in scope.months:
        masks[month.year] |= 1 << (month.month - 1)
    return sorted(masks.items())


PERSON_KEYS = {
    AreaPersonYear: AREA_PERSON_KEY,
    AreaDrugPersonYear: AREA_DRUG_PERSON_KEY,
    PartyPersonYear: PARTY_PERSON_KEY,
}


def served_persons(
    scope: StatsScope,
    model: type[AreaPersonYear] | type[AreaDrugPersonYear] | type[PartyPersonYear],
    where: dict[str, object],
    column: str | None = None,
) -> dict:
    """Persons served in the scope's months per value of ``column`` (None: all rows, under
    None), over the rows of ``model`` matching ``where`` (column → value, a list: IN, or
    ("<>", value)). One row per person and year: within a year a ``count(*)`` of the rows whose
    ``months`` meet the scope's mask; over the turn of a year (the last 12 months) the same over
    the later year's rows, whose ``months`` keep the year before in bits 12–23; a range over
    three years or more counts a person in the first year of the range they were served: each
    year's rows without a row served in an earlier year of the range (``NOT EXISTS`` one lookup
    per earlier year: the year follows the area in the primary key, so both sides are ranges of
    it in the same order), the years summed."""
    table = connection.ops.quote_name(model._meta.db_table)
    conditions, params = [], []
    for name, value in where.items():
        if isinstance(value, list | tuple) and value and value[0] == "<>":
            conditions.append(f"a.{name} <> %s")
            params.append(value[1])
        elif isinstance(value, list | tuple):
            if not value:
                return {None: 0} if column is None else {}
            conditions.append(f"a.{name} IN ({', '.join(['%s'] * len(value))})")
            params.extend(value)
        else:
            conditions.append(f"a.{name} = %s")
            params.append(value)
    key_columns = PERSON_KEYS[model]
    same = " AND ".join(f"b.{name} = a.{name}" for name in key_columns if name != "year")
    group = "NULL" if column is None else f"a.{column}"
    parts = []
    masks = _year_masks(scope)
    if len(masks) == 2:  # the later year's rows answer for both years in one pass
        (_, before), (year, mask) = masks
        masks = [(year, mask | before << len(MONTH_COLUMNS))]
    for index, (year, mask) in enumerate(masks):
        # this year's rows served in the range, less the persons an earlier year counted
        served = [f"a.year = {year}", f"(a.months & {mask}) <> 0"]
        served += [
            f"NOT EXISTS (SELECT 1 FROM {table} b WHERE {same} AND b.year = {earlier} "
            f"AND (b.months & {earlier_mask}) <> 0)"
            for earlier, earlier_mask in masks[:index]
        ]
        sql = f"SELECT {group} AS g, count(*) AS n FROM {table} a "
        sql += f"WHERE {' AND '.join([*conditions, *served])}"
        parts.append(sql if column is None else f"{sql} GROUP BY a.{column}")
    sql = parts[0]
    if len(parts) > 1:
        sql = f"SELECT g, sum(n) FROM ({' UNION ALL '.join(parts)}) AS years GROUP BY g"
    return {g: int(n) for g, n in _fetch_distinct(sql, params * len(parts))}


def served_by_month(scope: StatsScope, area: str) -> dict[date, int]:
    """Persons served in the area in each month of the scope (one row per person and year:
    a count of the rows with the month's settlements)."""
    masks = _year_masks(scope)
    sums = ", ".join(f"sum(CASE WHEN {m} > 0 THEN 1 ELSE 0 END)" for m in MONTH_COLUMNS)
    sql = (
        f"SELECT year, {sums} FROM {connection.ops.quote_name(AreaPersonYear._meta.db_table)} "
        "WHERE area = %s AND insurance_type = %s AND year >= %s AND year <= %s GROUP BY year"
    )
    out: dict[date, int] = {}
    for year, *counts in _fetch_distinct(sql, [area, ALL_TYPES, masks[0][0], masks[-1][0]]):
        for index, count in enumerate(counts):
            out[date(year, index + 1, 1)] = count or 0
    return {month: out.get(month, 0) for month in scope.months}


def party_rows(scope: StatsScope, kind: PartyKind) -> QuerySet[PartyRollup]:
    """The sums per party of one kind (month × county × party; per drug for a credited
    hospital)."""
    return PartyRollup.objects.filter(
        kind=kind, county_id__in=scope.counties, month__gte=scope.start, month__lte=scope.end
    )


def patient_rows(scope: StatsScope) -> QuerySet[PatientRollup]:
    return PatientRollup.objects.filter(
        county_id__in=scope.counties,
        month__gte=scope.start,
        month__lte=scope.end,
        settlements__gt=0,
    )


SUMS = {
    "settlements": Sum("settlements"),
    "lines": Sum("lines"),
    "quantity": Sum("quantity"),
    **{name: Sum(f"{name}_fen") for name in AMOUNT_FIELDS},
}


def _as_date(value) -> date:
    """A month as the database returned it in raw SQL (SQLite: text) → a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def yuan(fen: int | None) -> Decimal:
    """Whole fen → yuan, two places."""
    return (Decimal(fen or 0) / 100).quantize(FEN)


def _figures(row: dict) -> dict:
    out = {name: row.get(name) or 0 for name in ("settlements", "lines", "quantity")}
    out |= {name: yuan(row.get(name)) for name in AMOUNT_FIELDS}
    return out


def key_figures(scope: StatsScope) -> dict:
    """Settlements, lines, quantity, patients served and the six amounts over the scope."""
    figures = _figures(county_drug_rows(scope).aggregate(**SUMS))
    area = scope_area(scope)
    if area is None:
        figures["patients"] = distinct_persons(county_person_rows(scope)).get(None, 0)
    else:
        where = {"area": area, "insurance_type": ALL_TYPES}
        figures["patients"] = served_persons(scope, AreaPersonYear, where).get(None, 0)
    return figures


def trend(scope: StatsScope) -> list[dict]:
    """One row per month of the scope (months without settlements as zeros), with the change
    of the total against the month before (None for the first month or a zero month before)."""
    by_month = {r["month"]: r for r in county_drug_rows(scope).values("month").annotate(**SUMS)}
    area = scope_area(scope)
    if area is None:
        patients = {
            _as_date(month): n
            for month, n in distinct_persons(county_person_rows(scope), "month").items()
        }
    else:
        patients = served_by_month(scope, area)
    rows, before = [], None
    for month in scope.months:
        row = _figures(by_month.get(month, {}))
        row |= {"month": month.strftime("%Y-%m"), "patients": patients.get(month, 0)}
        row["change"] = (
            ((row["total"] - before) / before * 100).quantize(Decimal("0.1")) if before else None
        )
        before = row["total"]
        rows.append(row)
    return rows


def breakdown(scope: StatsScope, by: str) -> list[dict]:
    """Figures per drug, institution, physician, county or insurance type, largest total first
    (patients: distinct persons per row)."""
    if by not in DIMENSIONS:
        raise DomainError(codes.INVALID_DIMENSION, "统计维度不存在", fields={"by": ["不存在"]})
    column = DIMENSIONS[by][0]
    # by drug, county or insurance type: the coarse rollups; by institution, physician: the
    # parties'
    if by in COARSE_DIMENSIONS:
        grouped = county_drug_rows(scope).values(column).annotate(**SUMS)
    else:
        grouped = party_rows(scope, PARTY_DIMENSIONS[by]).values(column).annotate(**SUMS)
    patients = _patients_by(scope, by, column)
    labels = dimension_labels(by, [r[column] for r in grouped])
    rows = []
    for r in grouped:
        if not (r["settlements"] or r["lines"]):
            continue  # all reversed after they were rolled up: the rollup rows net to nothing
        row = _figures(r) | {"key": r[column], "label": labels.get(r[column], "")}
        row["patients"] = patients.get(r[column], 0)
        rows.append(row)
    rows.sort(key=lambda row: (-row["total"], str(row["key"])))
    return rows


def party_persons(scope: StatsScope, kind: PartyKind) -> dict[int, int]:
    """Distinct persons per party of one kind in the scope: an institution's rows are under its
    county, a physician's or a credited hospital's under every area its settlements count in."""
    if not scope.counties:
        return {}
    lengths = PARTY_AREAS[kind]
    area: object = scope_area(scope, lengths)
    if area is None:  # the scope is wider than the kind's areas: the counties' rows
        area = list(scope.counties)
    return served_persons(scope, PartyPersonYear, {"kind": kind, "area": area}, "party")


def _patients_by(scope: StatsScope, by: str, column: str) -> dict:
    """Distinct persons per county, insurance type, drug, institution or physician from the
    persons' months (a county's drugs: distinct persons over ``PatientRollup``)."""
    if by in PARTY_DIMENSIONS:
        return party_persons(scope, PARTY_DIMENSIONS[by])
    area = scope_area(scope)
    if by == "county" and area is not None:
        where = {"area": list(scope.counties), "insurance_type": ALL_TYPES}
        return served_persons(scope, AreaPersonYear, where, "area")
    if by == "insurance" and area is not None:
        where = {"area": area, "insurance_type": ("<>", ALL_TYPES)}
        return served_persons(scope, AreaPersonYear, where, "insurance_type")
    area = scope_area(scope, DRUG_AREAS)
    if by == "drug" and area is not None:
        return served_persons(scope, AreaDrugPersonYear, {"area": area}, "drug_key")
    persons = county_person_rows(scope) if by in ("county", "insurance") else patient_rows(scope)
    return distinct_persons(persons, column)


def dimension_labels(by: str, keys: list) -> dict:
    """Chinese names of the keys of one dimension."""
    if by == "drug":
        found = Drug.objects.filter(pk__in=keys).values_list("pk", "generic_name")
        return {NO_KEY: "其他（非目录药品项目）", **dict(found)}
    if by == "institution":
        return dict(Institution.objects.filter(pk__in=keys).values_list("pk", "name"))
    if by == "physician":
        found = Physician.objects.filter(pk__in=keys).values_list("pk", "name", "hospital__name")
        return {NO_KEY: "（无处方医师）", **{pk: f"{n}（{h}）" for pk, n, h in found}}
    if by == "county":
        return dict(Region.objects.filter(code__in=keys).values_list("code", "name"))
    return {key: InsuranceType(key).label if key in InsuranceType.values else key for key in keys}


def hospital_evaluation(scope: StatsScope) -> list[dict]:
    """Each designated hospital's figures for its evaluation [CX art. 13]: settlements, amount,
    drug varieties and patients of the prescriptions its physicians issued (settled at the
    hospital or at a pharmacy) and of its own settlements without a prescribing physician
    (``rollups.credited_hospital``), as settled by the institutions of the scope."""
    figures: dict[int, dict] = defaultdict(lambda: {"settlements": 0, "total": 0, "drugs": 0})
    for hospital, drug, settlements, total in (
        party_rows(scope, PartyKind.HOSPITAL)
        .values_list("party", "drug_key")
        .annotate(s=Sum("settlements"), t=Sum("total_fen"))
    ):
        entry = figures[hospital]
        entry["settlements"] += settlements
        entry["total"] += total
        if drug != NO_KEY and total:  # a variety with an amount in the scope
            entry["drugs"] += 1
    persons = party_persons(scope, PartyKind.HOSPITAL)
    names = dict(Institution.objects.filter(pk__in=list(figures)).values_list("pk", "name"))
    rows = [
        {
            "key": pk,
            "label": names.get(pk, ""),
            "settlements": f["settlements"],
            "total": yuan(f["total"]),
            "varieties": f["drugs"],
            "patients": persons.get(pk, 0),
        }
        for pk, f in figures.items()
        if f["settlements"] or f["total"]  # all reversed after the refresh: nothing to show
    ]
    rows.sort(key=lambda row: (-row["total"], row["key"]))
    return rows
