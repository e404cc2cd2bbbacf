"""Incrementally maintained rollups of settlements (issue 13 §1, §6): what the statistics read.

``refresh`` takes the settlements (and reversals) the rollups have not taken in yet, in one
transaction: it locks the one ``RollupState`` row (refreshers run in turn), claims up to ``limit``
settlements ``FOR NO KEY UPDATE SKIP LOCKED`` (a reversal in progress is taken next time), adds
their lines to the rollups, subtracts the reversals from their settlement's own month, and
marks them (``settlements_mark_rolled_up``). The counter's settle path is untouched: the markers
are NULL at insert. The rollups: ``SettlementRollup`` and ``PatientRollup`` by institution, drug,
physician (what only they answer: by institution, by physician, the hospitals' evaluation), and
the coarse ``CountyDrugRollup`` (month × county × drug × insurance type) and
``CountyPersonRollup`` (month × county × insurance type × person) that the city- and
province-wide figures read; and the persons' months, ``AreaPersonYear`` (province, city and
county × insurance type or all × person × year) and ``AreaDrugPersonYear`` (province and city ×
drug × person × year), whose per-month counts and bitmask give the distinct persons served over
any range of months from one row per person (a reversal subtracts from its month's count; the
month's bit goes when the count reaches 0). The same refresh keeps ``CirculationRollup``
(prescriptions issued and routed, dispensings, by month × county) from the markers on the
prescriptions and the dispensings (``refresh_circulation``): issuing, routing and dispensing
write nothing more.

A settlement's payers (fund, critical illness, assistance, commercial, personal) are kept on the
settlement, not its lines: they are split over the settlement's drugs in proportion to the
drugs' amounts, to the fen, largest remainder first (ties to the earlier line), so that every
sum over drugs equals the settlements' own figures exactly.

Where that is computed: on PostgreSQL by the server, one statement per refresh reading detail
and upserting every rollup (``rollups_pg``; the ids as one array literal); elsewhere (SQLite,
the product's default) here, ``collect`` then ``write`` (``INSERT … ON CONFLICT DO UPDATE SET x
= x + excluded.x`` in chunks). A test on PostgreSQL checks both give the same rows.

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
from django.db.models import Case, Count, F, Q, Sum, Value, When
from django.db.models.functions import Coalesce, Substr, TruncMonth
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from dualchannel.core.months import month_end
from dualchannel.prescriptions.models import Dispensing, Prescription
from dualchannel.prescriptions.services import (
    circulation_clear_rolled_up,
    dispensings_mark_rolled_up,
    prescriptions_mark_rolled_up,
)
from dualchannel.registry.models import InstitutionKind
from dualchannel.settlement.models import Settlement, SettlementLine, SettlementStatus
from dualchannel.settlement.services import (
    settlements_clear_rolled_up,
    settlements_mark_rolled_up,
)

from . import rollups_pg
from .models import (
    ALL_TYPES,
    AMOUNTS,
    AREA_DRUG_PERSON_KEY,
    AREA_PERSON_KEY,
    CIRCULATION_KEY,
    CIRCULATION_MEASURES,
    COUNTY_DRUG_KEY,
    COUNTY_PERSON_KEY,
    DRUG_AREAS,
    MEASURES,
    MONTH_COLUMNS,
    NO_KEY,
    PARTY_AREAS,
    PARTY_DRUG_KINDS,
    PARTY_KEY,
    PARTY_PERSON_KEY,
    PATIENT_KEY,
    PERSON_AREAS,
    PREVIOUS_YEAR_COLUMNS,
    ROLLUP_KEY,
    TWO_YEARS,
    AreaDrugPersonYear,
    AreaPersonYear,
    CirculationRollup,
    CountyDrugRollup,
    CountyPersonRollup,
    PartyKind,
    PartyPersonYear,
    PartyRollup,
    PatientRollup,
    RollupState,
    SettlementRollup,
)

UPSERT_CHUNK = 500
# every table a refresh writes (``rebuild`` empties them)
PERSISTED = (
    SettlementRollup,
    PatientRollup,
    CountyDrugRollup,
    CountyPersonRollup,
    AreaPersonYear,
    AreaDrugPersonYear,
    PartyRollup,
    PartyPersonYear,
    CirculationRollup,
)
DEFAULT_LIMIT = 5000


@dataclass(frozen=True)
class RefreshResult:
    settlements: int  # settlements taken in (a new one reversed before the refresh included)
    reversals: int  # reversals subtracted
    refreshed_at: datetime
    # the circulation rollup's: prescriptions taken in as issued, as routed; dispensings
    issued: int = 0
    routed: int = 0
    dispensings: int = 0

    def taken(self) -> tuple[int, int, int, int, int]:
        """Each claim's count, in the fields' order."""
        return (self.settlements, self.reversals, self.issued, self.routed, self.dispensings)

    def full(self, limit: int) -> bool:
        """Whether a claim took its whole ``limit`` (more may be waiting)."""
        return max(self.taken()) >= limit


def to_fen(amount: Decimal | float | int | None) -> int:
    """An amount in yuan → whole fen (ROUND_HALF_UP; SQLite's sums may carry float error)."""
    if amount is None:
        return 0
    value = Decimal(str(amount)) * 100
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def allocate(amount: int, weights: list[int]) -> list[int]:
    """Split ``amount`` fen over ``weights`` in proportion, largest remainder first (ties to the
    earlier weight); the shares always sum to ``amount``. No weight: all to the first."""
    if not weights:
        return []
    whole = sum(weights)
    if whole == 0:
        return [amount] + [0] * (len(weights) - 1)
    if amount == 0:
        return [0] * len(weights)
    shares, remainders = [], []
    for weight in weights:
        share, remainder = divmod(amount * weight, whole)
        shares.append(share)
        remainders.append(remainder)
    left = amount - sum(shares)
    if left:
        # descending remainders; a stable sort keeps equal ones in weight order, even reversed
        for index in sorted(range(len(weights)), key=remainders.__getitem__, reverse=True)[:left]:
            shares[index] += 1
    return shares


@dataclass
class Contributions:
    """What a set of settlements adds to (or, negated, takes from) the rollups: the fine ones
    (``SettlementRollup``, ``PatientRollup``) and the coarse ones (``CountyDrugRollup``,
    ``CountyPersonRollup``) and the persons' months (``AreaPersonYear``,
    ``AreaDrugPersonYear``: settlements per month of the year) and the parties' sums and persons'
    months (``PartyRollup``, ``PartyPersonYear``), from the same settlements in the same pass."""

    rollup: dict[tuple, list[int]]
    patients: dict[tuple, int]
    county_drugs: dict[tuple, list[int]]
    county_persons: dict[tuple, int]
    area_persons: dict[tuple, list[int]]
    drug_persons: dict[tuple, list[int]]
    parties: dict[tuple, list[int]]
    party_persons: dict[tuple, list[int]]

    @classmethod
    def empty(cls) -> Contributions:
        def measures() -> list[int]:
            return [0] * len(MEASURES)

        def months() -> list[int]:
            return [0] * len(TWO_YEARS)

        return cls(
            defaultdict(measures),
            defaultdict(int),
            defaultdict(measures),
            defaultdict(int),
            defaultdict(months),
            defaultdict(months),
            defaultdict(measures),
            defaultdict(months),
        )


# A settlement as the rollups read it: (id, status, settled_on, institution, county, physician
# or None, insurance type, budget line, person, the physician's hospital or None, the
# institution's kind, and the six amounts in fen)
Fact = tuple
# A line: (drug key, quantity, amount in fen)
Line = tuple[int, int, int]

FACT_FIELDS = (
    "pk",
    "status",
    "settled_on",
    "institution_id",
    "institution__region_id",
    "prescription__physician_id",
    "insurance_type",
    "budget_line",
    "person_id",
    "prescription__physician__hospital_id",
    "institution__kind",
    *AMOUNTS,
)
FACT_KEYS = len(FACT_FIELDS) - len(AMOUNTS)
FETCH_CHUNK = 2000  # settlements per read in Python (IN lists of parameters)
COMPUTE_IN_PYTHON = False  # see ``in_database``


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _read(ids: list[int]) -> tuple[list[Fact], dict[int, list[Line]]]:
    """The settlements ``ids`` and their lines (in position order), amounts in whole fen."""
    facts: list[Fact] = []
    lines: dict[int, list[Line]] = defaultdict(list)
    for start in range(0, len(ids), FETCH_CHUNK):
        chunk = ids[start : start + FETCH_CHUNK]
        for row in Settlement.objects.filter(pk__in=chunk).values_list(*FACT_FIELDS):
            facts.append((*row[:FACT_KEYS], *(to_fen(value) for value in row[FACT_KEYS:])))
        rows = (
            SettlementLine.objects.filter(settlement_id__in=chunk)
            .order_by("settlement_id", "position")
            .values_list("settlement_id", "drug_id", "quantity", "amount")
        )
        for settlement_id, drug_id, quantity, amount in rows:
            lines[settlement_id].append((drug_id or NO_KEY, quantity, to_fen(amount)))
    return facts, lines


def pg_array(values: Iterable) -> str:
    """A PostgreSQL array literal (``{1,2}``, ``{"a","b"}``) of integers, dates or text, passed
    as one text parameter and cast by the statement (``%s::bigint[]``): built here in one
    join, where the driver's client-side adaptation of a list checks every element."""
    values = list(values)
    if values and isinstance(values[0], str):
        return (
            "{"
            + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
            + "}"
        )
    return "{" + ",".join(map(str, values)) + "}"


def _drug_groups(lines: list[Line]) -> dict[int, list[int]]:
    """drug key → [lines, quantity, amount fen], in the order the drugs first appear."""
    groups: dict[int, list[int]] = {}
    for drug_key, quantity, amount in lines:
        group = groups.get(drug_key)
        if group is None:
            groups[drug_key] = [1, quantity, amount]
        else:
            group[0] += 1
            group[1] += quantity
            group[2] += amount
    return groups or {NO_KEY: [0, 0, 0]}


def collect(
    ids: Iterable[int], *, sign: int, into: Contributions, skip_reversed: bool = False
) -> list[int]:
    """Add (sign 1) or subtract (sign −1) these settlements' contributions; with
    ``skip_reversed``, leave out those reversed already (returned: nothing to add)."""
    ids = sorted(set(ids))
    if not ids:
        return []
    facts, lines = _read(ids)
    skipped = []
    for fact in facts:
        if skip_reversed and fact[1] == SettlementStatus.REVERSED:
            skipped.append(fact[0])
            continue
        _collect_one(fact, lines.get(fact[0], ()), sign, into)
    return skipped


def credited_hospital(
    physician: int | None, physician_hospital: int | None, institution: int, kind: str
) -> int | None:
    """The hospital a settlement counts for in the hospitals' evaluation [CX art. 13]: the
    prescribing physician's, else the settling institution if it is a hospital, else none
    (``rollups_pg`` states the same in SQL)."""
    if physician:
        return physician_hospital
    return institution if kind == InstitutionKind.HOSPITAL else None


def _parties(fact: Fact) -> list[tuple[str, int]]:
    """(kind, party) of a settlement: its institution, its physician (NO_KEY: none) and, if
    any, the hospital credited with it."""
    institution, physician, hospital, kind = fact[3], fact[5], fact[9], fact[10]
    parties = [(PartyKind.INSTITUTION, institution), (PartyKind.PHYSICIAN, physician or NO_KEY)]
    credited = credited_hospital(physician, hospital, institution, kind)
    if credited is not None:
        parties.append((PartyKind.HOSPITAL, credited))
    return parties


def _collect_one(fact: Fact, lines, sign: int, into: Contributions) -> None:
    settled_on, institution, county, physician, insurance, budget, person = fact[2:9]
    amounts = fact[FACT_KEYS:]
    groups = _drug_groups(lines)
    month = settled_on.replace(day=1)
    physician = physician or NO_KEY
    parties = _parties(fact)
    if len(groups) == 1:  # most settlements: one drug takes every amount
        ((drug_key, (count, quantity, _)),) = groups.items()
        added = [sign, sign * count, sign * quantity, *(sign * a for a in amounts)]
        _add(
            into.rollup[(month, county, institution, drug_key, physician, insurance, budget)], added
        )
        _add(into.county_drugs[(month, county, drug_key, insurance)], added)
        into.patients[(month, county, institution, drug_key, physician, insurance, person)] += sign
        _add_parties(into, parties, (month, county), drug_key, added)
    else:
        weights = [group[2] for group in groups.values()]
        shares = [allocate(amount, weights) for amount in amounts]
        for index, (drug_key, (count, quantity, _)) in enumerate(groups.items()):
            added = [
                sign if index == 0 else 0,
                sign * count,
                sign * quantity,
                *(sign * share[index] for share in shares),
            ]
            key = (month, county, institution, drug_key, physician, insurance, budget)
            _add(into.rollup[key], added)
            _add(into.county_drugs[(month, county, drug_key, insurance)], added)
            into.patients[(*key[:6], person)] += sign
            _add_parties(into, parties, (month, county), drug_key, added)
    into.county_persons[(month, county, insurance, person)] += sign
    # in the row of its year (m01 … m12) and of the next year, as that year's previous (p01 …)
    for year, index in (
        (settled_on.year, settled_on.month - 1),
        (settled_on.year + 1, len(MONTH_COLUMNS) + settled_on.month - 1),
    ):
        for length in PERSON_AREAS:
            area = county[:length]
            into.area_persons[(area, year, ALL_TYPES, person)][index] += sign  # AREA_PERSON_KEY
            into.area_persons[(area, year, insurance, person)][index] += sign
        for drug_key in groups:
            for length in DRUG_AREAS:  # AREA_DRUG_PERSON_KEY
                into.drug_persons[(county[:length], year, drug_key, person)][index] += sign
        for kind, party in parties:  # PARTY_PERSON_KEY
            for length in PARTY_AREAS[kind]:
                into.party_persons[(kind, county[:length], year, party, person)][index] += sign


def _add_parties(into: Contributions, parties, place: tuple, drug_key: int, added) -> None:
    """A drug group's figures under each party (PARTY_KEY), the drug kept for the kinds that
    keep it (``PARTY_DRUG_KINDS``)."""
    month, county = place
    for kind, party in parties:
        drug = drug_key if kind in PARTY_DRUG_KINDS else NO_KEY
        _add(into.parties[(month, kind, county, party, drug)], added)


def _add(row: list[int], added: list[int]) -> None:
    for n, value in enumerate(added):
        row[n] += value


def _quoted(names: Iterable[str]) -> list[str]:
    return [connection.ops.quote_name(name) for name in names]


def _upsert(model, key: tuple[str, ...], measures: tuple[str, ...], rows: list[tuple]):
    """Add the rows' measures to ``model``'s table (``INSERT … ON CONFLICT DO UPDATE SET x = x
    + excluded.x``), in key order so two writers lock rows in the same order. PostgreSQL: one
    statement whose columns come as arrays (``SELECT … FROM unnest(%s::date[], …)``), a handful
    of parameters whatever the rows; SQLite: ``INSERT … VALUES`` in chunks."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    columns = (*key, *measures)
    quoted = _quoted(columns)
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in _quoted(measures))
    conflict = f"ON CONFLICT ({', '.join(_quoted(key))}) DO UPDATE SET {sets}"
    rows = sorted(rows)
    with connection.cursor() as cursor:
        if _postgres():
            fields = [model._meta.get_field(name.removesuffix("_id")) for name in columns]
            arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(quoted)}) SELECT * FROM unnest({arrays}) "
                f"{conflict}",
                [pg_array(column) for column in zip(*rows, strict=True)],
            )
            return
        row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), UPSERT_CHUNK):
            chunk = rows[start : start + UPSERT_CHUNK]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(quoted)}) VALUES "
                f"{', '.join([row_sql] * len(chunk))} {conflict}",
                [value for row in chunk for value in row],
            )


def write(contributions: Contributions) -> None:
    """Apply the contributions to the rollups (rows that net to nothing are skipped)."""
    c = contributions
    _upsert(
        SettlementRollup, ROLLUP_KEY, MEASURES, [(*k, *v) for k, v in c.rollup.items() if any(v)]
    )
    _upsert(
        PatientRollup, PATIENT_KEY, ("settlements",), [(*k, v) for k, v in c.patients.items() if v]
    )
    _upsert(
        CountyDrugRollup,
        COUNTY_DRUG_KEY,
        MEASURES,
        [(*k, *v) for k, v in c.county_drugs.items() if any(v)],
    )
    _upsert(
        CountyPersonRollup,
        COUNTY_PERSON_KEY,
        ("settlements",),
        [(*k, v) for k, v in c.county_persons.items() if v],
    )
    _upsert(
        AreaPersonYear,
        AREA_PERSON_KEY,
        TWO_YEARS,
        [(*k, *v) for k, v in c.area_persons.items() if any(v)],
    )
    _upsert(
        AreaDrugPersonYear,
        AREA_DRUG_PERSON_KEY,
        TWO_YEARS,
        [(*k, *v) for k, v in c.drug_persons.items() if any(v)],
    )
    _upsert(PartyRollup, PARTY_KEY, MEASURES, [(*k, *v) for k, v in c.parties.items() if any(v)])
    _upsert(
        PartyPersonYear,
        PARTY_PERSON_KEY,
        TWO_YEARS,
        [(*k, *v) for k, v in c.party_persons.items() if any(v)],
    )


def _claim(qs, limit: int) -> list[int]:
    """Lock up to ``limit`` settlements of ``qs``, skipping those another transaction holds."""
    return [pk for (pk,) in _claim_rows(qs, limit, ("pk",))]


def in_database() -> bool:
    """Whether a refresh computes the contributions in the database (PostgreSQL:
    ``rollups_pg``) rather than here (``collect``, ``write``); ``COMPUTE_IN_PYTHON`` forces the
    latter (a test compares the two)."""
    return _postgres() and not COMPUTE_IN_PYTHON


def lock_state() -> RollupState:
    """Lock the one state row (created on first use, should a flushed database lack it)."""
    RollupState.objects.get_or_create(pk=RollupState.SINGLETON)
    return RollupState.objects.select_for_update().get(pk=RollupState.SINGLETON)


def refresh(*, limit: int = DEFAULT_LIMIT, now: datetime | None = None) -> RefreshResult:
    """Take up to ``limit`` new settlements and ``limit`` reversals into the rollups, and up
    to ``limit`` prescriptions and dispensings into the circulation rollup. Two transactions,
    each under the state row: the prescriptions' first and short (the rows it claims are the
    ones a counter is about to dispense, which waits for it), then the settlements'."""
    now = now or timezone.now()
    with transaction.atomic():
        lock_state()
        issued, routed, dispensings = refresh_circulation(limit, now)
    with transaction.atomic():
        state = lock_state()
        new = _claim(Settlement.objects.filter(rolled_up_at__isnull=True), limit)
        reversals = _claim(
            Settlement.objects.filter(
                status=SettlementStatus.REVERSED,
                reversal_rolled_up_at__isnull=True,
                rolled_up_at__isnull=False,
            ),
            limit,
        )
        # a new settlement reversed before this refresh adds nothing; both its marks are set
        if in_database():
            reversed_now = sorted(rollups_pg.reversed_among(new, pg_array))
            skip = set(reversed_now)
            rollups_pg.apply([pk for pk in new if pk not in skip], reversals, pg_array)
        else:
            contributions = Contributions.empty()
            reversed_now = collect(new, sign=1, into=contributions, skip_reversed=True)
            collect(reversals, sign=-1, into=contributions)
            write(contributions)
        settlements_mark_rolled_up(
            settled_ids=new, reversal_ids=[*reversals, *reversed_now], at=now
        )
        state.refreshed_at = now
        state.settlements_rolled += len(new)
        state.reversals_rolled += len(reversals) + len(reversed_now)
        state.save()
    return RefreshResult(len(new), len(reversals), now, issued, routed, dispensings)


def refresh_all(*, limit: int = DEFAULT_LIMIT, rounds: int = 1000) -> RefreshResult:
    """Refresh until nothing is left (at most ``rounds`` transactions); the totals."""
    totals = (0,) * 5
    result = refresh(limit=limit)
    for _ in range(rounds):
        totals = tuple(map(sum, zip(totals, result.taken(), strict=True)))
        if not result.full(limit):
            break
        result = refresh(limit=limit)
    settlements, reversals, issued, routed, dispensings = totals
    return RefreshResult(settlements, reversals, result.refreshed_at, issued, routed, dispensings)


# --- the circulation rollup: prescriptions issued, routed; dispensings -------------------------


def _claim_rows(qs, limit: int, fields: tuple[str, ...]) -> list[tuple]:
    """Lock up to ``limit`` rows of ``qs``, skipping those another transaction holds (a
    prescription being routed or dispensed is taken next time): their ``fields``."""
    locked = qs.order_by("pk").select_for_update(skip_locked=True, no_key=True, of=("self",))
    return list(locked.values_list(*fields)[:limit])


def _local_month(moment: datetime) -> date:
    """The first day of the month ``moment`` falls in, in the product's time zone (as
    ``TruncMonth`` gives it)."""
    return timezone.localtime(moment).date().replace(day=1)


def refresh_circulation(limit: int, now: datetime) -> tuple[int, int, int]:
    """Take into ``CirculationRollup`` up to ``limit`` prescriptions not yet counted as issued
    (and, if routed already, as routed), ``limit`` routed ones counted as issued before, and
    ``limit`` dispensings; mark them. In a transaction under the state row (``refresh``'s
    first). Returns how many of each: prescriptions issued, routed; dispensings."""
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])  # CIRCULATION_MEASURES
    fresh = _claim_rows(
        Prescription.objects.filter(issued_rolled_up_at__isnull=True),
        limit,
        ("pk", "issued_at", "routed_at", "hospital__region_id"),
    )
    routed_ids = []
    for pk, issued_at, routed_at, county in fresh:
        counts[(_local_month(issued_at), county)][0] += 1
        if routed_at is not None:
            counts[(_local_month(routed_at), county)][1] += 1
            routed_ids.append(pk)
    later = _claim_rows(
        Prescription.objects.filter(
            routed_at__isnull=False,
            routed_rolled_up_at__isnull=True,
            issued_rolled_up_at__isnull=False,
        ),
        limit,
        ("pk", "routed_at", "hospital__region_id"),
    )
    for pk, routed_at, county in later:
        counts[(_local_month(routed_at), county)][1] += 1
        routed_ids.append(pk)
    dispensed = _claim_rows(
        Dispensing.objects.filter(rolled_up_at__isnull=True),
        limit,
        ("pk", "dispensed_at", "pharmacy__region_id"),
    )
    for _pk, dispensed_at, county in dispensed:
        counts[(_local_month(dispensed_at), county)][2] += 1
    _upsert(
        CirculationRollup,
        CIRCULATION_KEY,
        CIRCULATION_MEASURES,
        [(*key, *measures) for key, measures in counts.items()],
    )
    prescriptions_mark_rolled_up(
        issued_ids=[row[0] for row in fresh], routed_ids=routed_ids, at=now
    )
    dispensings_mark_rolled_up(ids=[row[0] for row in dispensed], at=now)
    return len(fresh), len(routed_ids), len(dispensed)


def rebuild(*, limit: int = DEFAULT_LIMIT) -> RefreshResult:
    """Recompute the rollups from detail: forget them and the markers, then refresh all."""
    with transaction.atomic():
        state = lock_state()
        for model in PERSISTED:
            model.objects.all().delete()
        settlements_clear_rolled_up()
        circulation_clear_rolled_up()
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


def _rolled_detail(prefix: str = "") -> Q:
    """The settlements the rollups hold: taken in, and their reversal (if any) not yet
    (``prefix``: the path to the settlement, for its lines)."""
    return Q(
        **{f"{prefix}rolled_up_at__isnull": False, f"{prefix}reversal_rolled_up_at__isnull": True}
    )


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


def _county_grain(months: tuple[date, date] | None) -> tuple[dict, dict]:
    """The coarse rollup by month × county × insurance type: settlements and the six amounts."""
    keys = ("month", "institution__region_id", "insurance_type")
    detail_qs = Settlement.objects.filter(_rolled_detail()).annotate(month=TruncMonth("settled_on"))
    rollup_qs = CountyDrugRollup.objects.all()
    if months is not None:
        detail_qs = detail_qs.filter(settled_on__gte=months[0], settled_on__lte=months[1])
        rollup_qs = rollup_qs.filter(month__gte=months[0], month__lte=months[1])
    detail = {
        tuple(row[k] for k in keys): (row["n"], *(to_fen(row[a]) for a in AMOUNTS))
        for row in detail_qs.values(*keys).annotate(n=Count("pk"), **{a: Sum(a) for a in AMOUNTS})
    }
    rkeys = ("month", "county_id", "insurance_type")
    sums = ("settlements", *(f"{a}_fen" for a in AMOUNTS))
    rollup = {
        tuple(row[k] for k in rkeys): tuple(row[f"s_{s}"] for s in sums)
        for row in rollup_qs.values(*rkeys).annotate(**{f"s_{s}": Sum(s) for s in sums})
    }
    return detail, rollup


def _drug_grain(
    months: tuple[date, date] | None, model: type = SettlementRollup
) -> tuple[dict, dict]:
    lines = SettlementLine.objects.filter(_rolled_detail("settlement__")).annotate(
        month=TruncMonth("settlement__settled_on"), drug_key=Coalesce("drug_id", NO_KEY)
    )
    rollup_qs = model.objects.all()
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


def _patient_grain(
    months: tuple[date, date] | None, model: type = PatientRollup
) -> tuple[dict, dict]:
    detail_qs = Settlement.objects.filter(_rolled_detail()).annotate(month=TruncMonth("settled_on"))
    rollup_qs = model.objects.filter(settlements__gt=0)
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


def _months_rollup(rows, keys: tuple[str, ...], *, previous: bool = False) -> dict:
    """(month, *keys) → (persons served, settlements) of a persons' months table: persons from
    the derived bitmask ``months``, settlements from the month's count; ``previous``: from the
    next year's rows, which keep the same months as their year before (``p01`` …, bits 12–23)."""
    columns, first_bit = (PREVIOUS_YEAR_COLUMNS, 12) if previous else (MONTH_COLUMNS, 0)
    sums = {}
    for n, column in enumerate(columns):
        served = GreaterThan(F("months").bitand(1 << (first_bit + n)), 0)
        sums[f"p{n}"] = Sum(Case(When(served, then=Value(1)), default=Value(0)))
        sums[f"n{n}"] = Sum(column)
    out = {}
    for row in rows.values("year", *keys).annotate(**sums):
        for n in range(len(columns)):
            if row[f"p{n}"] or row[f"n{n}"]:
                month = date(row["year"] - (1 if previous else 0), n + 1, 1)
                out[(month, *(row[k] for k in keys))] = (row[f"p{n}"], row[f"n{n}"])
    return out


def _in_months(qs, months: tuple[date, date] | None, field: str):
    if months is None:
        return qs
    return qs.filter(**{f"{field}__gte": months[0], f"{field}__lte": months[1]})


def _months_filter(rows, months: tuple[date, date] | None, *, previous: bool = False):
    if months is None:
        return rows
    shift = 1 if previous else 0  # the months of year Y as the previous year of Y + 1's rows
    return rows.filter(year__gte=months[0].year + shift, year__lte=months[1].year + shift)


def _only_months(found: dict, months: tuple[date, date] | None) -> dict:
    if months is None:
        return found
    return {k: v for k, v in found.items() if months[0] <= k[0] <= months[1]}


def _kept(model, keys: tuple[str, ...], months: tuple[date, date] | None) -> tuple[dict, dict]:
    """A persons' months table by (month, *keys): from the rows of the month's year, and from
    the next year's rows, which keep it as their previous year."""
    return tuple(
        _only_months(
            _months_rollup(
                _months_filter(model.objects.all(), months, previous=previous),
                keys,
                previous=previous,
            ),
            months,
        )
        for previous in (False, True)
    )


def _area_person_grain(months: tuple[date, date] | None) -> tuple[dict, dict, dict]:
    """Persons served and settlements by month × area (province, city, county) × insurance type
    (and over every type, ``ALL_TYPES``) from detail, and from ``AreaPersonYear`` (the month's
    year's rows, the next year's)."""
    held = _in_months(
        Settlement.objects.filter(_rolled_detail()).annotate(month=TruncMonth("settled_on")),
        months,
        "settled_on",
    )
    detail = {}
    for length in PERSON_AREAS:
        area = held.annotate(area=Substr("institution__region_id", 1, length))
        for row in area.values("month", "area", "insurance_type").annotate(
            p=Count("person_id", distinct=True), n=Count("pk")
        ):
            detail[(row["month"], row["area"], row["insurance_type"])] = (row["p"], row["n"])
        for row in area.values("month", "area").annotate(
            p=Count("person_id", distinct=True), n=Count("pk")
        ):
            detail[(row["month"], row["area"], ALL_TYPES)] = (row["p"], row["n"])
    return detail, *_kept(AreaPersonYear, ("area", "insurance_type"), months)


def _area_drug_person_grain(months: tuple[date, date] | None) -> tuple[dict, dict, dict]:
    """Persons served and settlements by month × area (province, city) × drug from detail (a
    settlement without lines under ``NO_KEY``), and from ``AreaDrugPersonYear`` (the month's
    year's rows, the next year's)."""
    held = _in_months(
        Settlement.objects.filter(_rolled_detail()).annotate(
            month=TruncMonth("settled_on"), drug_key=Coalesce("lines__drug_id", NO_KEY)
        ),
        months,
        "settled_on",
    )
    detail = {}
    for length in DRUG_AREAS:
        area = held.annotate(area=Substr("institution__region_id", 1, length))
        for row in area.values("month", "area", "drug_key").annotate(
            p=Count("person_id", distinct=True), n=Count("pk", distinct=True)
        ):
            detail[(row["month"], row["area"], row["drug_key"])] = (row["p"], row["n"])
    return detail, *_kept(AreaDrugPersonYear, ("area", "drug_key"), months)


def _party_of(kind: str, prefix: str = ""):
    """The party of a settlement (``prefix``: the path to it) as ``_parties`` gives it."""
    if kind == PartyKind.INSTITUTION:
        return F(f"{prefix}institution_id")
    if kind == PartyKind.PHYSICIAN:
        return Coalesce(f"{prefix}prescription__physician_id", NO_KEY)
    return Case(  # credited_hospital
        When(
            **{f"{prefix}prescription__physician_id__isnull": False},
            then=F(f"{prefix}prescription__physician__hospital_id"),
        ),
        When(
            **{f"{prefix}institution__kind": InstitutionKind.HOSPITAL},
            then=F(f"{prefix}institution_id"),
        ),
        default=None,
    )


def _held_by_party(kind: PartyKind, months: tuple[date, date] | None):
    """The settlements the rollups hold in ``months`` with a party of ``kind`` (``party``)."""
    return _in_months(
        Settlement.objects.filter(_rolled_detail()).annotate(
            month=TruncMonth("settled_on"), party=_party_of(kind)
        ),
        months,
        "settled_on",
    ).filter(party__isnull=False)


def _party_grain(months: tuple[date, date] | None) -> tuple[dict, dict]:
    """Settlements and the six amounts by month × kind × county × party, from detail and from
    ``PartyRollup``."""
    detail = {}
    for kind in PartyKind:
        held = _held_by_party(kind, months)
        keys = ("month", "institution__region_id", "party")
        for row in held.values(*keys).annotate(n=Count("pk"), **{a: Sum(a) for a in AMOUNTS}):
            detail[(row["month"], kind.value, row["institution__region_id"], row["party"])] = (
                row["n"],
                *(to_fen(row[a]) for a in AMOUNTS),
            )
    sums = ("settlements", *(f"{a}_fen" for a in AMOUNTS))
    rkeys = ("month", "kind", "county_id", "party")
    rollup = {
        tuple(row[k] for k in rkeys): tuple(row[f"s_{s}"] for s in sums)
        for row in _in_months(PartyRollup.objects.all(), months, "month")
        .values(*rkeys)
        .annotate(**{f"s_{s}": Sum(s) for s in sums})
    }
    return detail, rollup


def _party_drug_grain(months: tuple[date, date] | None) -> tuple[dict, dict]:
    """Lines, quantity and amount by month × kind × party × drug (the institution's and the
    physician's over all drugs, ``NO_KEY``), from the lines and from ``PartyRollup``."""
    detail = {}
    for kind in PartyKind:
        lines = _in_months(
            SettlementLine.objects.filter(_rolled_detail("settlement__")).annotate(
                month=TruncMonth("settlement__settled_on"),
                drug_key=Coalesce("drug_id", NO_KEY) if kind in PARTY_DRUG_KINDS else Value(NO_KEY),
                party=_party_of(kind, "settlement__"),
            ),
            months,
            "settlement__settled_on",
        ).filter(party__isnull=False)
        for row in lines.values("month", "party", "drug_key").annotate(
            n=Count("pk"), q=Sum("quantity"), a=Sum("amount")
        ):
            key = (row["month"], kind.value, row["party"], row["drug_key"])
            detail[key] = (row["n"], row["q"], to_fen(row["a"]))
    rkeys = ("month", "kind", "party", "drug_key")
    rollup = {
        tuple(row[k] for k in rkeys): (row["n"], row["q"], row["a"])
        for row in _in_months(PartyRollup.objects.filter(lines__gt=0), months, "month")
        .values(*rkeys)
        .annotate(n=Sum("lines"), q=Sum("quantity"), a=Sum("total_fen"))
    }
    return detail, rollup


def _party_person_grain(months: tuple[date, date] | None) -> tuple[dict, dict, dict]:
    """Persons served and settlements by month × kind × area × party from detail (the areas
    of ``PARTY_AREAS``), and from ``PartyPersonYear`` (the month's year's rows, the next
    year's)."""
    detail = {}
    for kind in PartyKind:
        held = _held_by_party(kind, months)
        for length in PARTY_AREAS[kind]:
            area = held.annotate(area=Substr("institution__region_id", 1, length))
            for row in area.values("month", "area", "party").annotate(
                p=Count("person_id", distinct=True), n=Count("pk")
            ):
                key = (row["month"], kind.value, row["area"], row["party"])
                detail[key] = (row["p"], row["n"])
    return detail, *_kept(PartyPersonYear, ("kind", "area", "party"), months)


def _first_day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _circulation_grain(months: tuple[date, date] | None) -> tuple[dict, dict]:
    """Prescriptions issued and routed by month × the issuing hospital's county, and
    dispensings by month × the dispensing institution's county, from detail (those the rollup
    has taken in) and from ``CirculationRollup``."""
    counted = (
        (Prescription.objects.filter(issued_rolled_up_at__isnull=False), "issued_at", "hospital"),
        (Prescription.objects.filter(routed_rolled_up_at__isnull=False), "routed_at", "hospital"),
        (Dispensing.objects.filter(rolled_up_at__isnull=False), "dispensed_at", "pharmacy"),
    )
    detail: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for n, (qs, moment, place) in enumerate(counted):
        rows = (
            qs.annotate(month=TruncMonth(moment))
            .order_by()
            .values("month", f"{place}__region_id")
            .annotate(n=Count("pk"))
        )
        for row in rows:
            detail[(_first_day(row["month"]), row[f"{place}__region_id"])][n] += row["n"]
    rollup = {
        (row.month, row.county_id): (row.issued, row.routed, row.dispensed)
        for row in CirculationRollup.objects.all()
    }
    detail = {key: tuple(value) for key, value in detail.items()}
    return _only_months(detail, months), _only_months(rollup, months)


def rollup_differences(*, months: tuple[date, date] | None = None) -> list[str]:
    """Every difference between the rollups and detail (optionally for the months from one
    first day to another): by month, county, institution, insurance type and budget line
    (settlements and the six amounts, in fen), by month, county and drug (lines, quantity,
    amount) and by month and county (distinct persons served); the coarse rollups likewise by
    month, county and insurance type, by month, county and drug, and persons by month and
    county; the parties' sums by month × kind × county × party and their lines by month × kind ×
    party × drug; the persons' months by month × area × insurance type, month × area × drug and
    month × kind × area × party (persons served from the bitmask, settlements from the month's
    count), in the rows of the month's year and again in the next year's (its previous year);
    prescriptions issued and routed and the dispensings by month × county. Empty: equal to the
    fen."""
    if months is not None:
        months = (months[0], month_end(months[1]))  # the last month's every day counts
    out: list[str] = []
    _compare("settlements", *_settlement_grain(months), out)
    _compare("drug", *_drug_grain(months), out)
    _compare("patients", *_patient_grain(months), out)
    _compare("county-settlements", *_county_grain(months), out)
    _compare("county-drug", *_drug_grain(months, CountyDrugRollup), out)
    _compare("county-patients", *_patient_grain(months, CountyPersonRollup), out)
    _compare("party-settlements", *_party_grain(months), out)
    _compare("party-drug", *_party_drug_grain(months), out)
    _compare("circulation", *_circulation_grain(months), out)
    for name, (detail, kept, kept_next_year) in (
        ("area-persons", _area_person_grain(months)),
        ("area-drug-persons", _area_drug_person_grain(months)),
        ("party-persons", _party_person_grain(months)),
    ):
        _compare(name, detail, kept, out)
        _compare(f"{name}-next-year", detail, kept_next_year, out)
    return out
