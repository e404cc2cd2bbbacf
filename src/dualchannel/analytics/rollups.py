"""Incrementally maintained rollups of settlements (issue 13 §1, §6): what the statistics read.

``refresh`` takes the settlements (and reversals) the rollups have not taken in yet, in one
transaction: it locks the one ``RollupState`` row (refreshers run in turn), claims up to ``limit``
settlements ``FOR NO KEY UPDATE SKIP LOCKED`` (a reversal in progress is taken next time), adds
their lines to ``SettlementRollup`` and their persons to ``PatientRollup`` with one upsert per
chunk (``INSERT … ON CONFLICT DO UPDATE SET x = x + excluded.x``), subtracts the reversals from
their settlement's own month, and marks them (``settlements_mark_rolled_up``). The counter's
settle path is untouched: the markers are NULL at insert.

A settlement's payers (fund, critical illness, assistance, commercial, personal) are kept on the
settlement, not its lines: they are split over the settlement's drugs in proportion to the
drugs' amounts, to the fen, largest remainder first (ties to the earlier line), so that every
sum over drugs equals the settlements' own figures exactly.

``rollup_differences`` compares the rollups with detail (what the statistics would be if computed
from the settlements and their lines) and lists every difference: empty means equal to the fen.
``rebuild`` forgets the rollups and the markers and rolls everything up again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from dualchannel.core.months import month_end
from dualchannel.settlement.models import Settlement, SettlementLine, SettlementStatus
from dualchannel.settlement.services import (
    settlements_clear_rolled_up,
    settlements_mark_rolled_up,
)

from .models import NO_KEY, PatientRollup, RollupState, SettlementRollup

PAYERS = ("fund", "critical_illness", "assistance", "commercial", "personal")
AMOUNTS = ("total", *PAYERS)
COUNTS = ("settlements", "lines", "quantity")
MEASURES = (*COUNTS, *(f"{name}_fen" for name in AMOUNTS))
ROLLUP_KEY = (
    "month",
    "county_id",
    "institution_id",
    "drug_key",
    "physician_key",
    "insurance_type",
    "budget_line",
)
PATIENT_KEY = (
    "month",
    "county_id",
    "institution_id",
    "drug_key",
    "physician_key",
    "insurance_type",
    "person_id",
)
UPSERT_CHUNK = 500
DEFAULT_LIMIT = 5000


@dataclass(frozen=True)
class RefreshResult:
    settlements: int  # settlements taken in (a new one reversed before the refresh included)
    reversals: int  # reversals subtracted
    refreshed_at: datetime


def to_fen(amount: Decimal | float | int | None) -> int:
    """An amount in yuan → whole fen (ROUND_HALF_UP; SQLite's sums may carry float error)."""
    if amount is None:
        return 0
    value = Decimal(str(amount)) * 100
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def allocate(amount: int, weights: list[int]) -> list[int]:
    """Split ``amount`` fen over ``weights`` in proportion, largest remainder first (ties to the
    earlier weight); the shares always sum to ``amount``. No weight: all to the first."""
    whole = sum(weights)
    if not weights:
        return []
    if whole == 0:
        return [amount] + [0] * (len(weights) - 1)
    shares = [amount * w // whole for w in weights]
    remainders = [amount * w % whole for w in weights]
    left = amount - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[index] += 1
    return shares


@dataclass
class Contributions:
    """What a set of settlements adds to (or, negated, takes from) the two rollups."""

    rollup: dict[tuple, list[int]]
    patients: dict[tuple, int]

    @classmethod
    def empty(cls) -> Contributions:
        return cls(defaultdict(lambda: [0] * len(MEASURES)), defaultdict(int))


FACT_FIELDS = (
    "pk",
    "settled_on",
    "institution_id",
    "institution__region_id",
    "prescription__physician_id",
    "insurance_type",
    "budget_line",
    "person_id",
    *AMOUNTS,
)


def _lines_of(ids: list[int]) -> dict[int, list[tuple[int, int, int]]]:
    """settlement id → its lines as (drug key, quantity, amount in fen), in position order."""
    lines: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    rows = (
        SettlementLine.objects.filter(settlement_id__in=ids)
        .order_by("settlement_id", "position")
        .values_list("settlement_id", "drug_id", "quantity", "amount")
    )
    for settlement_id, drug_id, quantity, amount in rows:
        lines[settlement_id].append((drug_id or NO_KEY, quantity, to_fen(amount)))
    return lines


def _drug_groups(lines: list[tuple[int, int, int]]) -> dict[int, list[int]]:
    """drug key → [lines, quantity, amount fen], in the order the drugs first appear."""
    groups: dict[int, list[int]] = {}
    for drug_key, quantity, amount in lines:
        group = groups.setdefault(drug_key, [0, 0, 0])
        group[0] += 1
        group[1] += quantity
        group[2] += amount
    return groups or {NO_KEY: [0, 0, 0]}


def collect(ids: Iterable[int], *, sign: int, into: Contributions) -> None:
    """Add (sign 1) or subtract (sign −1) these settlements' contributions."""
    ids = sorted(set(ids))
    for start in range(0, len(ids), UPSERT_CHUNK * 4):
        chunk = ids[start : start + UPSERT_CHUNK * 4]
        lines = _lines_of(chunk)
        for fact in Settlement.objects.filter(pk__in=chunk).values_list(*FACT_FIELDS):
            _collect_one(fact, lines.get(fact[0], []), sign, into)


def _collect_one(fact: tuple, lines: list, sign: int, into: Contributions) -> None:
    settled_on, institution, county, physician, insurance, budget, person = fact[1:8]
    amounts = [to_fen(value) for value in fact[8:]]
    groups = _drug_groups(lines)
    weights = [group[2] for group in groups.values()]
    shares = [allocate(amount, weights) for amount in amounts]
    month = settled_on.replace(day=1)
    for index, (drug_key, (count, quantity, _)) in enumerate(groups.items()):
        key = (month, county, institution, drug_key, physician or NO_KEY, insurance, budget)
        row = into.rollup[key]
        row[0] += sign * (1 if index == 0 else 0)
        row[1] += sign * count
        row[2] += sign * quantity
        for offset, share in enumerate(shares):
            row[3 + offset] += sign * share[index]
        into.patients[(*key[:6], person)] += sign


def _quoted(names: Iterable[str]) -> list[str]:
    return [connection.ops.quote_name(name) for name in names]


def _upsert(table: str, key: tuple[str, ...], measures: tuple[str, ...], rows: list[tuple]):
    """One ``INSERT … ON CONFLICT DO UPDATE`` per chunk, adding the measures (PostgreSQL and
    SQLite ≥ 3.24 alike), in key order so two writers would lock rows in the same order."""
    columns = _quoted((*key, *measures))
    target = connection.ops.quote_name(table)
    sets = ", ".join(f"{c} = {target}.{c} + excluded.{c}" for c in _quoted(measures))
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    rows = sorted(rows)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPSERT_CHUNK):
            chunk = rows[start : start + UPSERT_CHUNK]
            cursor.execute(
                f"INSERT INTO {target} ({', '.join(columns)}) VALUES "
                f"{', '.join([row_sql] * len(chunk))} "
                f"ON CONFLICT ({', '.join(_quoted(key))}) DO UPDATE SET {sets}",
                [value for row in chunk for value in row],
            )


def write(contributions: Contributions) -> None:
    """Apply the contributions to both rollups (rows that net to nothing are skipped)."""
    rollup_rows = [(*k, *v) for k, v in contributions.rollup.items() if any(v)]
    patient_rows = [(*k, v) for k, v in contributions.patients.items() if v]
    _upsert(SettlementRollup._meta.db_table, ROLLUP_KEY, MEASURES, rollup_rows)
    _upsert(PatientRollup._meta.db_table, PATIENT_KEY, ("settlements",), patient_rows)


def _claim(qs, limit: int) -> list[int]:
    """Lock up to ``limit`` settlements of ``qs``, skipping those another transaction holds."""
    locked = qs.order_by("pk").select_for_update(skip_locked=True, no_key=True, of=("self",))
    return list(locked.values_list("pk", flat=True)[:limit])


def lock_state() -> RollupState:
    """Lock the one state row (created on first use, should a flushed database lack it)."""
    RollupState.objects.get_or_create(pk=RollupState.SINGLETON)
    return RollupState.objects.select_for_update().get(pk=RollupState.SINGLETON)


def refresh(*, limit: int = DEFAULT_LIMIT, now: datetime | None = None) -> RefreshResult:
    """Take up to ``limit`` new settlements and ``limit`` reversals into the rollups."""
    now = now or timezone.now()
    with transaction.atomic():
        state = lock_state()
        new = _claim(Settlement.objects.filter(rolled_up_at__isnull=True), limit)
        reversed_now = set(
            Settlement.objects.filter(pk__in=new, status=SettlementStatus.REVERSED).values_list(
                "pk", flat=True
            )
        )
        reversals = _claim(
            Settlement.objects.filter(
                status=SettlementStatus.REVERSED,
                reversal_rolled_up_at__isnull=True,
                rolled_up_at__isnull=False,
            ),
            limit,
        )
        contributions = Contributions.empty()
        collect([pk for pk in new if pk not in reversed_now], sign=1, into=contributions)
        collect(reversals, sign=-1, into=contributions)
        write(contributions)
        settlements_mark_rolled_up(
            settled_ids=new, reversal_ids=[*reversals, *reversed_now], at=now
        )
        state.refreshed_at = now
        state.settlements_rolled += len(new)
        state.reversals_rolled += len(reversals) + len(reversed_now)
        state.save()
    return RefreshResult(len(new), len(reversals), now)


def refresh_all(*, limit: int = DEFAULT_LIMIT, rounds: int = 1000) -> RefreshResult:
    """Refresh until nothing is left (at most ``rounds`` transactions); the totals."""
    settlements = reversals = 0
    result = refresh(limit=limit)
    for _ in range(rounds):
        settlements += result.settlements
        reversals += result.reversals
        if result.settlements < limit and result.reversals < limit:
            break
        result = refresh(limit=limit)
    return RefreshResult(settlements, reversals, result.refreshed_at)


def rebuild(*, limit: int = DEFAULT_LIMIT) -> RefreshResult:
    """Recompute the rollups from detail: forget them and the markers, then refresh all."""
    with transaction.atomic():
        state = lock_state()
        SettlementRollup.objects.all().delete()
        PatientRollup.objects.all().delete()
        settlements_clear_rolled_up()
        state.settlements_rolled = state.reversals_rolled = 0
        state.save()
    return refresh_all(limit=limit)


def last_refreshed() -> datetime | None:
    """When the rollups were last brought up to date (数据截至)."""
    return (
        RollupState.objects.filter(pk=RollupState.SINGLETON)
        .values_list("refreshed_at", flat=True)
        .first()
    )


# --- rollup equals detail, to the fen -----------------------------------------------------------


def _rolled_detail() -> Q:
    """The settlements the rollups hold: taken in, and their reversal (if any) not yet."""
    return Q(rolled_up_at__isnull=False, reversal_rolled_up_at__isnull=True)


def _compare(label: str, detail: dict, rollup: dict, out: list[str]) -> None:
    for key in sorted(set(detail) | set(rollup), key=str):
        want = detail.get(key)
        got = rollup.get(key)
        if want is None and got is not None and not any(got):
            continue  # a rollup row netted to zero by its reversals
        if want != got:
            out.append(f"{label} {key}: detail {want} ≠ rollup {got}")


def _settlement_grain(months: tuple[date, date] | None) -> tuple[dict, dict]:
    keys = ("month", "institution__region_id", "institution_id", "insurance_type", "budget_line")
    detail_qs = Settlement.objects.filter(_rolled_detail()).annotate(month=TruncMonth("settled_on"))
    rollup_qs = SettlementRollup.objects.all()
    if months is not None:
        detail_qs = detail_qs.filter(settled_on__gte=months[0], settled_on__lte=months[1])
        rollup_qs = rollup_qs.filter(month__gte=months[0], month__lte=months[1])
    detail = {
        tuple(row[k] for k in keys): (row["n"], *(to_fen(row[a]) for a in AMOUNTS))
        for row in detail_qs.values(*keys).annotate(n=Count("pk"), **{a: Sum(a) for a in AMOUNTS})
    }
    rkeys = ("month", "county_id", "institution_id", "insurance_type", "budget_line")
    sums = ("settlements", *(f"{a}_fen" for a in AMOUNTS))
    rollup = {
        tuple(row[k] for k in rkeys): tuple(row[f"s_{s}"] for s in sums)
        for row in rollup_qs.values(*rkeys).annotate(**{f"s_{s}": Sum(s) for s in sums})
    }
    return detail, rollup


def _drug_grain(months: tuple[date, date] | None) -> tuple[dict, dict]:
    lines = SettlementLine.objects.filter(
        Q(settlement__rolled_up_at__isnull=False, settlement__reversal_rolled_up_at__isnull=True)
    ).annotate(month=TruncMonth("settlement__settled_on"), drug_key=Coalesce("drug_id", NO_KEY))
    rollup_qs = SettlementRollup.objects.all()
    if months is not None:
        lines = lines.filter(
            settlement__settled_on__gte=months[0], settlement__settled_on__lte=months[1]
        )
        rollup_qs = rollup_qs.filter(month__gte=months[0], month__lte=months[1])
    detail = {
        (row["month"], row["settlement__institution__region_id"], row["drug_key"]): (
            row["n"],
            row["q"],
            to_fen(row["a"]),
        )
        for row in lines.values("month", "settlement__institution__region_id", "drug_key").annotate(
            n=Count("pk"), q=Sum("quantity"), a=Sum("amount")
        )
    }
    rollup = {
        (row["month"], row["county_id"], row["drug_key"]): (row["n"], row["q"], row["a"])
        for row in rollup_qs.values("month", "county_id", "drug_key").annotate(
            n=Sum("lines"), q=Sum("quantity"), a=Sum("total_fen")
        )
    }
    return detail, rollup


def _patient_grain(months: tuple[date, date] | None) -> tuple[dict, dict]:
    detail_qs = Settlement.objects.filter(_rolled_detail()).annotate(month=TruncMonth("settled_on"))
    rollup_qs = PatientRollup.objects.filter(settlements__gt=0)
    if months is not None:
        detail_qs = detail_qs.filter(settled_on__gte=months[0], settled_on__lte=months[1])
        rollup_qs = rollup_qs.filter(month__gte=months[0], month__lte=months[1])
    detail = {
        (row["month"], row["institution__region_id"]): (row["n"],)
        for row in detail_qs.values("month", "institution__region_id").annotate(
            n=Count("person_id", distinct=True)
        )
    }
    rollup = {
        (row["month"], row["county_id"]): (row["n"],)
        for row in rollup_qs.values("month", "county_id").annotate(
            n=Count("person_id", distinct=True)
        )
    }
    return detail, rollup


def rollup_differences(*, months: tuple[date, date] | None = None) -> list[str]:
    """Every difference between the rollups and detail (optionally for the months from one
    first day to another): by month, county, institution, insurance type and budget line
    (settlements and the six amounts, in fen), by month, county and drug (lines, quantity,
    amount) and by month and county (distinct persons served). Empty: equal to the fen."""
    if months is not None:
        months = (months[0], month_end(months[1]))  # the last month's every day counts
    out: list[str] = []
    _compare("settlements", *_settlement_grain(months), out)
    _compare("drug", *_drug_grain(months), out)
    _compare("patients", *_patient_grain(months), out)
    return out
