"""Analytics at a province's scale: the Shandong monthly table and the statistics queries on
10 million settlement lines, on PostgreSQL, beside DuckDB on the same data in Parquet.

Run: ``make bench-analytics`` or ``.venv/bin/python benchmarks/analytics_load.py [--lines N]``.
Needs a PostgreSQL server (``PGHOST``/``PGPORT``/``PGUSER``, default 127.0.0.1:5432 as postgres,
or taken from a ``postgres://`` ``DATABASE_URL``), like ``benchmarks/counter_load.py``.

1. Creates a throw-away database, migrates it and loads the reference data the project ships:
   the admin divisions (Shandong's 16 cities and their counties), the 2025 catalogue. Then a
   synthetic province: ``--institutions`` hospitals and pharmacies spread over the counties with
   a Zipf skew (Jinan and Qingdao get the most), designated at dates within the year (a few
   suspended or exited later), real-time settlement and e-prescription flags in realistic shares;
   physicians per hospital; insured persons enrolled in the counties, each a patient on a
   regimen of 1–3 negotiated drugs (Zipf over the catalogue) with a hospital and a pharmacy of
   their city where they buy it; then ``--lines`` settlement lines over 12 months (a settlement
   at an institution chosen by a Zipf over the institutions, for one of its patients: their
   regimen, a line a drug; a seasonal and growing month trend, a few % reversed). The 40 % of
   patients settled as chronic-disease cases have a physician of their hospital, who issues the
   prescription of each of their settlements (routed to the pharmacy when it is connected to
   e-prescription circulation); the others' single-payment drugs would rest on an eligibility,
   which is not generated, so their settlements have no prescription. All streamed with
   ``COPY … FROM STDIN`` straight into ``prescriptions_prescription``, ``settlement_settlement``
   and ``settlement_settlementline`` (check constraints in force; the foreign keys, unique
   constraints and secondary indexes set aside for the load and re-created after it, which
   validates every row). Generation is plain Python in its own thread, one pre-formatted line
   per drug and quantity.
2. Takes every settlement into the rollups the statistics pages read
   (``analytics.rollups.refresh_all``: ``SettlementRollup``, ``PatientRollup``), timed
   (settlements/s); then adds 0.5 % new settlements and reverses as many older ones and times the
   incremental refresh that takes them in.
3. Times, on PostgreSQL, cold (the first run on a fresh connection after ``DISCARD ALL``; the
   server's shared buffers and the OS cache may still be warm: nothing here can drop them) and
   warm (best of ``--repeat``): the Shandong monthly table of Jinan for the last month
   (``analytics.sd_monthly.build_table``, and ``manage.py report_monthly_sd`` writing the .xlsx);
   five statistics questions both from the rollups and from detail (plain SQL); and the
   statistics page's selectors (``analytics.stats``: key figures, trend, breakdowns, hospital
   evaluation) for Jinan and for the province over the 12 months.
4. Exports the detail tables' columns the queries read to Parquet (``COPY … TO STDOUT`` as CSV
   → DuckDB → Parquet) and times DuckDB on the same questions from detail: the reference.
5. Prints a table (query, PG cold, PG warm, DuckDB, ratio, target, MET / NOT MET) and PASS/FAIL
   lines: detail as generated (each settlement's total is its lines' sum), the monthly table's
   counts equal the generator's designations and a direct count, the rollups equal detail to the
   fen (the application's ``rollup_differences`` and plain SQL per month × county and in total),
   and every answer, from the rollups or the selectors, equals DuckDB's from detail.

Everything created is removed afterwards. Exit 1 when a check fails; a slow machine only shows in
the figures (targets reported, not asserted).
"""

from __future__ import annotations

import argparse
import bisect
import io
import itertools
import os
import pickle
import platform
import queue
import random
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from counter_load import django_setup, pg_server, table, throwaway_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

PROVINCE = "370000"  # 山东省
CITY = "370100"  # 济南市: the city whose monthly table is timed
MONTHS = 12
HOSPITAL_SHARE = 0.2  # of the institutions
HOSPITAL_SETTLEMENT_SHARE = 0.35  # of the settlements (hospital pharmacies of the dual channel)
REALTIME_SHARE = 0.86  # pharmacies with real-time networked settlement [SD §5]
E_RX_SHARE = 0.72  # pharmacies connected to e-prescription circulation [SD §7]
REVERSED_SHARE = 0.03
# Patients settled under 门诊慢特病 (chronic and special diseases) carry a prescription of their
# hospital's physician for each settlement; the others settle 单独支付药品 against an eligibility,
# which the generator does not build (application, criteria set, signed documents), so their
# settlements carry no prescription and count for no physician.
CHRONIC_SHARE = 0.4
CHRONIC_DIAGNOSES = (  # ICD-10 医保版 2.0
    ("E11.900", "2型糖尿病"),
    ("I10.x00x002", "高血压"),
    ("C34.900", "支气管或肺恶性肿瘤"),
    ("C50.900", "乳房恶性肿瘤"),
    ("G35.x00", "多发性硬化"),
)
# Drugs a patient takes: the negotiated drugs of the dual channel treat cancers, rare and chronic
# diseases; a patient is on one, sometimes two or three (the lines of each of their settlements).
REGIMEN_SIZES = ((1, 0.70), (2, 0.22), (3, 0.08))
LINES_PER_PERSON = 10  # a year: about seven settlements of 1.4 lines (default --persons)
QUANTITIES = ((1, 0.55), (2, 0.30), (3, 0.15))
FUND_RATIO = {"310": (80, 100), "390": (65, 100)}  # employee / resident, of the in-policy part
EMPLOYEE_SHARE = 0.45
TARGET_TABLE_S = 2.0
TARGET_QUERY_S = 1.0
TARGET_DUCKDB_RATIO = 2.0
CHUNK = 50_000  # settlements generated per COPY write


# --- distributions -----------------------------------------------------------------------------


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def month_weights(months: list[date]) -> list[float]:
    """A seasonal swell in winter and spring plus 2 % growth a month (dual-channel uptake)."""
    import math

    return [
        (1 + 0.15 * math.cos(2 * math.pi * (m.month - 1) / 12)) * (1.02**n)
        for n, m in enumerate(months)
    ]


def split(total: int, weights: list[float]) -> list[int]:
    """``total`` spread over ``weights`` (largest remainder: the parts sum to ``total``)."""
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    parts = [int(s) for s in shares]
    for n in sorted(range(len(shares)), key=lambda i: parts[i] - shares[i])[: total - sum(parts)]:
        parts[n] += 1
    return parts


def the_months(today: date) -> list[date]:
    """The 12 months before the current one (the current month is not over)."""
    first = today.replace(day=1)
    months = []
    for _ in range(MONTHS):
        first = (first - timedelta(days=1)).replace(day=1)
        months.append(first)
    return months[::-1]


# --- the province -------------------------------------------------------------------------------


@dataclass
class Province:
    months: list[date]
    counties: list[str]  # county-level units of the province
    county_city: dict[str, str]
    hospitals: list[int] = field(default_factory=list)  # institution ids, volume rank order
    pharmacies: list[int] = field(default_factory=list)
    institution_county: dict[int, str] = field(default_factory=dict)
    # pharmacy id → (realtime, e-prescription, active from, status, suspended/exited on)
    designated: dict[int, tuple] = field(default_factory=dict)
    persons_by_city: dict[str, list[int]] = field(default_factory=dict)
    person_type: dict[int, str] = field(default_factory=dict)
    # hospital id → its physicians as (id, department), the volume rank order
    physicians: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    drugs: list[tuple[int, str, int]] = field(default_factory=list)  # id, class, price in fen
    rule_id: int = 0
    user_id: int = 0
    settlements: int = 0
    lines: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    stream: Stream | None = None  # the generator, kept for the settlements added later


def reference_data() -> None:
    from django.core.management import call_command

    for command in ("registry_load_regions", "registry_load_profiles", "catalog_import"):
        call_command(command, stdout=io.StringIO())


def province_counties() -> tuple[list[str], dict[str, str]]:
    from dualchannel.registry.models import Region, RegionLevel

    cities = list(
        Region.objects.filter(parent_id=PROVINCE, level=RegionLevel.CITY).values_list(
            "code", flat=True
        )
    )
    county_city = dict(
        Region.objects.filter(parent_id__in=cities, level=RegionLevel.COUNTY).values_list(
            "code", "parent_id"
        )
    )
    return sorted(county_city), county_city


def county_weights(counties: list[str], county_city: dict[str, str]) -> list[float]:
    """Bigger cities (Jinan, Qingdao first, then the others by code) and urban districts weigh
    more: a Zipf over the cities times 1.5 for a 市辖区-coded county (xx01xx–xx03xx)."""
    cities = sorted(set(county_city.values()))
    order = {c: n for n, c in enumerate(cities)}
    return [
        (1.0 / (order[county_city[c]] + 1) ** 0.6) * (1.5 if c[4] == "0" else 1.0) for c in counties
    ]


def institutions(rng: random.Random, province: Province, count: int, start: date) -> None:
    """Hospitals and pharmacies with an active designation (some suspended or exited later)."""
    from django.utils import timezone

    from dualchannel.registry.identifiers import synthetic_credit_code
    from dualchannel.registry.models import Institution, InstitutionKind

    counties = province.counties
    cum = cumulative(county_weights(counties, province.county_city))
    rows = []
    for n in range(count):
        county = counties[bisect.bisect_left(cum, rng.random() * cum[-1])]
        hospital = n % int(1 / HOSPITAL_SHARE) == 0
        rows.append(
            Institution(
                kind=InstitutionKind.HOSPITAL if hospital else InstitutionKind.PHARMACY,
                name=f"压测{'医院' if hospital else '大药房'}{n + 1:04d}",
                credit_code=synthetic_credit_code(county, 800000 + n),
                platform_code=f"{'H' if hospital else 'P'}{county}{n % 100000:05d}",
                region_id=county,
                hospital_level=rng.choice((2, 3)) if hospital else None,
                has_biologics_licence=not hospital,
                has_cold_chain=not hospital and rng.random() < 0.8,
                realtime_settlement=(realtime := hospital or rng.random() < REALTIME_SHARE),
                e_prescription_connected=(e_rx := hospital or rng.random() < E_RX_SHARE),
                # the monthly table counts a flag from the day it turned on: on since the start
                realtime_settlement_since=start if realtime else None,
                e_prescription_since=start if e_rx else None,
                traceability_enabled=True,
                created_at=timezone.make_aware(datetime.combine(start, datetime.min.time())),
            )
        )
    made = Institution.objects.bulk_create(rows, batch_size=1000)
    for row in made:
        kind = province.hospitals if row.kind == InstitutionKind.HOSPITAL else province.pharmacies
        kind.append(row.pk)
        province.institution_county[row.pk] = row.region_id
    rng.shuffle(province.hospitals)  # the volume rank: not by county
    rng.shuffle(province.pharmacies)
    designations(rng, made, province)


def designations(rng: random.Random, made: list, province: Province) -> None:
    """Each institution designated (applied → … → active) on a day of the first months; 3 %
    suspended and 2 % exited in a later month: the monthly table reads the history."""
    from django.utils import timezone

    from dualchannel.registry.models import (
        Designation,
        DesignationStatus,
        DesignationTransition,
        ExitReason,
    )

    s, months = DesignationStatus, province.months
    path = (s.APPLIED, s.EVALUATED, s.PUBLICISED, s.AGREEMENT_SIGNED, s.ACTIVE)
    rounds, history = [], []
    for row in made:
        active_on = months[0] - timedelta(days=rng.randint(0, 400)) + timedelta(days=120)
        fate = rng.random()
        later = active_on + timedelta(days=rng.randint(30, 200))
        status = s.SUSPENDED if fate < 0.03 else s.EXITED if fate < 0.05 else s.ACTIVE
        rounds.append(
            Designation(
                institution_id=row.pk,
                status=status,
                applied_on=active_on - timedelta(days=40),
                effective_from=active_on,
                agreement_no=f"XY{row.pk:06d}",
                exit_reason=ExitReason.VOLUNTARY if status == s.EXITED else "",
                exited_on=later if status == s.EXITED else None,
            )
        )
        steps = [
            (a, b, active_on - timedelta(days=40 - 10 * n))
            for n, (a, b) in enumerate(zip(("", *path[:-1]), path, strict=True))
        ]
        if status != s.ACTIVE:
            steps.append((s.ACTIVE, status, later))
        if row.kind == "pharmacy":
            province.designated[row.pk] = (
                row.realtime_settlement,
                row.e_prescription_connected,
                active_on,
                status,
                later,
            )
        history.append(steps)
    made_rounds = Designation.objects.bulk_create(rounds, batch_size=1000)
    noon = datetime.min.time().replace(hour=12)
    DesignationTransition.objects.bulk_create(
        (
            DesignationTransition(
                designation_id=d.pk,
                from_status=a,
                to_status=b,
                actor_id=province.user_id,
                at=timezone.make_aware(datetime.combine(on, noon)),
            )
            for d, steps in zip(made_rounds, history, strict=True)
            for a, b, on in steps
        ),
        batch_size=2000,
    )


def physicians(province: Province, each: int) -> int:
    from dualchannel.registry.models import Physician, TitleRank

    rows = [
        Physician(
            hospital_id=hospital,
            name=f"压测医师{hospital}-{n}",
            staff_code=f"D{hospital:06d}{n:03d}",
            department=("肿瘤科", "血液科", "内分泌科", "心内科", "风湿免疫科")[n % 5],
            title=TitleRank.values[n % len(TitleRank.values)],
            practising_certificate_no=f"1103700{hospital:06d}{n:03d}",
        )
        for hospital in province.hospitals
        for n in range(each)
    ]
    for row in Physician.objects.bulk_create(rows, batch_size=2000):
        province.physicians.setdefault(row.hospital_id, []).append((row.pk, row.department))
    return len(rows)


def copy_rows(cursor, statement: str, chunks: Iterator[str]) -> None:
    with cursor.copy(statement) as copy:
        for chunk in chunks:
            copy.write(chunk)


def persons(rng: random.Random, province: Province, count: int) -> None:
    """Insured persons enrolled in the counties (weighted like the institutions), by COPY."""
    from django.db import connection
    from stdnum.cn import ric

    counties = province.counties
    cum = cumulative(county_weights(counties, province.county_city))
    now = datetime.now(UTC).isoformat()

    def chunks() -> Iterator[str]:
        out = []
        for n in range(count):
            county = counties[bisect.bisect_left(cum, rng.random() * cum[-1])]
            # (birth, serial) differ for every n: the ID numbers are unique whatever the county
            birth = date(1940, 1, 1) + timedelta(days=(n // 1000) * 37 % 25_000)
            body = f"{county}{birth:%Y%m%d}{n % 1000:03d}"
            number = body + ric.calc_check_digit(body + "0")
            male = n % 2 == 1  # the serial's last digit: odd for a man
            kind = "310" if rng.random() < EMPLOYEE_SHARE else "390"
            assisted = "t" if rng.random() < 0.04 else "f"
            insured = "t" if rng.random() < 0.3 else "f"
            out.append(
                f"{number}\t压测参保人{n}\t{1 if male else 2}\t"
                f"{birth}\t\t\t{kind}\t{assisted}\t{insured}\t{county}\tBENCH{n:012d}\t"
                f"normal\t{now}\n"
            )
            if len(out) == 20_000:
                yield "".join(out)
                out = []
        yield "".join(out)

    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        copy_rows(
            cursor,
            "COPY registry_insuredperson (id_number, name, sex, birth_date, phone, address, "
            "insurance_type, medical_assistance, commercial_insured, enrolment_region_id, "
            "person_no, benefit_status, created_at) FROM STDIN",
            chunks(),
        )
        cursor.execute(
            "SELECT id, enrolment_region_id, insurance_type FROM registry_insuredperson "
            "WHERE person_no LIKE 'BENCH%%' ORDER BY id"
        )
        for pk, county, kind in cursor.fetchall():
            province.persons_by_city.setdefault(province.county_city[county], []).append(pk)
            province.person_type[pk] = kind


SETTLEMENT_COLUMNS = (
    "id, settlement_no, kind, institution_id, person_id, category, insurance_type, med_type, "
    "rule_id, parameters, scopes, inpatient_admission_no, budget_line, settled_on, total, "
    "full_self_pay, over_standard, payable_base, first_self_pay, in_policy, deductible, co_pay, "
    "over_ceiling, fund, critical_illness, assistance, commercial, personal, used, status, "
    "idempotency_key, request_digest, settled_at, settled_by_id, reversed_at, reversed_by_id, "
    "reversal_reason, reversal_key, goods_returned, upload_status, setl_id, mdtrt_id, "
    "reversal_upload_status, prescription_id"
)
PRESCRIPTION_COLUMNS = (
    "id, prescription_no, patient_id, hospital_id, physician_id, benefit_type, "
    "rx_extra_attr_code, diagnosis_code, diagnosis_name, department, issued_at, valid_days, "
    "valid_until, long_prescription, status, pharmacy_id, consented_at, stock_status_at_choice, "
    "routed_at, cancel_reason, dispensed_at, created_by_id"
)
LINE_COLUMNS = (
    "settlement_id, position, drug_id, item_name, drug_class, quantity, unit, unit_price, amount, "
    "standard_amount, full_self_pay, self_pay_reason, over_standard, payable_base, "
    "first_self_pay, in_policy"
)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@dataclass(frozen=True)
class LineKind:
    """A drug at a quantity: the line's text after (settlement, position) and its sums in fen."""

    tail: str
    amount: int
    first_self_pay: int
    in_policy: int


def line_kinds(drugs: list[tuple[int, str, int]]) -> list[list[LineKind]]:
    """Per drug (catalogue order of the Zipf rank), per quantity 1..3: the pre-formatted line."""
    kinds = []
    for drug_id, drug_class, price in drugs:
        per_quantity = []
        for quantity in (1, 2, 3):
            amount = price * quantity
            first = amount * 10 // 100 if drug_class == "乙" else 0  # 乙类 先行自付 10 %
            in_policy = amount - first
            tail = (
                f"{drug_id}\t\t{drug_class}\t{quantity}\t盒\t{yuan(price)}\t{yuan(amount)}\t"
                f"{yuan(amount)}\t0.00\t\t0.00\t{yuan(amount)}\t{yuan(first)}\t{yuan(in_policy)}\n"
            )
            per_quantity.append(LineKind(tail, amount, first, in_policy))
        kinds.append(per_quantity)
    return kinds


@dataclass
class Stream:
    """What the settlement generator needs, precomputed once."""

    rng: random.Random
    province: Province
    kinds: list[list[LineKind]]
    drug_cum: list[float]
    hospital_cum: list[float]
    pharmacy_cum: list[float]
    institution_city: dict[int, str]
    patients: dict[int, list[int]] = field(default_factory=dict)  # institution → its patients
    regimen: dict[int, tuple[int, ...]] = field(default_factory=dict)  # person → drug indexes
    # a chronic-disease patient → the prescribing physician of their hospital: (hospital, id,
    # department); the other patients are absent
    doctor: dict[int, tuple[int, int, str]] = field(default_factory=dict)
    next_id: int = 1
    next_prescription: int = 1
    generating: float = 0.0  # seconds
    error: BaseException | None = None


def payers(total: int, in_policy: int, kind: str, person: int) -> tuple[int, ...]:
    """(co_pay, fund, critical illness, assistance, commercial, personal) in fen, summing with
    the fund to the total; the deductible is met earlier in the year (0 here)."""
    numerator, denominator = FUND_RATIO[kind]
    fund = in_policy * numerator // denominator
    co_pay = in_policy - fund
    critical = co_pay * 60 // 100 if total > 1_000_000 else 0  # above 10,000 yuan
    assistance = (co_pay - critical) * 50 // 100 if person % 25 == 0 else 0
    commercial = (co_pay - critical - assistance) * 30 // 100 if person % 3 == 0 else 0
    personal = total - fund - critical - assistance - commercial
    return co_pay, fund, critical, assistance, commercial, personal


@dataclass
class Batch:
    """Generated rows as COPY text: the prescriptions first (the settlements point at them)."""

    prescriptions: list[str] = field(default_factory=list)
    settlements: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    written: int = 0  # lines

    def copy(self, cursor) -> None:
        for table_name, columns, rows in (
            ("prescriptions_prescription", PRESCRIPTION_COLUMNS, self.prescriptions),
            ("settlement_settlement", SETTLEMENT_COLUMNS, self.settlements),
            ("settlement_settlementline", LINE_COLUMNS, self.lines),
        ):
            if rows:
                copy_rows(
                    cursor, f"COPY {table_name} ({columns}) FROM STDIN", iter(("".join(rows),))
                )


def settlement_batch(stream: Stream, month: date, lines_wanted: int) -> Batch:
    """Settlements of ``month`` until ``lines_wanted`` lines, with the prescriptions of the
    chronic-disease patients'. Ids ascend with time, like a live system's."""
    rng, province = stream.rng, stream.province
    days = ((month.replace(day=28) + timedelta(days=4)).replace(day=1) - month).days
    quantities, quantity_weights = zip(*QUANTITIES, strict=True)
    batch = Batch()
    settlements, lines, written = batch.settlements, batch.lines, 0
    while written < lines_wanted:
        hospital = rng.random() < HOSPITAL_SETTLEMENT_SHARE
        pool, cum = (
            (province.hospitals, stream.hospital_cum)
            if hospital
            else (province.pharmacies, stream.pharmacy_cum)
        )
        institution = pool[bisect.bisect_left(cum, rng.random() * cum[-1])]
        people = stream.patients.get(institution) or province.persons_by_city.get(
            stream.institution_city[institution], ()
        )
        if not people:  # a city nobody lives in (a tiny world): an institution elsewhere
            continue
        sid = stream.next_id
        stream.next_id += 1
        person = people[int(rng.random() * len(people))]
        kind_code = province.person_type[person]
        picks = stream.regimen[person][: lines_wanted - written]
        k = len(picks)
        qty = rng.choices(quantities, quantity_weights, k=k)
        total = first = in_policy = 0
        for position, (drug, quantity) in enumerate(zip(picks, qty, strict=True), 1):
            line = stream.kinds[drug][quantity - 1]
            total += line.amount
            first += line.first_self_pay
            in_policy += line.in_policy
            lines.append(f"{sid}\t{position}\t{line.tail}")
        written += k
        on = month.replace(day=1 + int(rng.random() * days))
        prescription = None
        if person in stream.doctor:
            prescription = stream.next_prescription
            stream.next_prescription += 1
            batch.prescriptions.append(
                prescription_text(
                    stream, prescription, person, on, sid, None if hospital else institution
                )
            )
        settlements.append(
            settlement_text(
                sid,
                on,
                hospital,
                institution,
                person,
                kind_code,
                (total, first, in_policy),
                rng.random() < REVERSED_SHARE,
                province,
                prescription,
            )
        )
    batch.written = written
    return batch


def settled_at(sid: int, on: date) -> str:
    return f"{on} {8 + sid % 10:02d}:{sid % 60:02d}:00+08"


def prescription_text(
    stream: Stream, rx: int, person: int, on: date, sid: int, pharmacy: int | None
) -> str:
    """The chronic-disease prescription a settlement dispensed: issued by the patient's
    physician 0–2 days before at 7 a.m. (the settlements are from 8 on), valid 3 days; taken
    to a pharmacy it was routed there (e-prescription circulation) when the pharmacy is
    connected, else carried on paper (no pharmacy, not routed)."""
    hospital, physician, department = stream.doctor[person]
    issued_on = on - timedelta(days=rx % 3)
    at = f"{issued_on} 07:{rx % 60:02d}"
    routed = pharmacy is not None and stream.province.designated[pharmacy][1]
    circulation = f"{pharmacy}\t{at}:30+08\t1\t{at}:40+08" if routed else "\\N\t\\N\t\t\\N"
    code, name = CHRONIC_DIAGNOSES[person % len(CHRONIC_DIAGNOSES)]
    return (
        f"{rx}\tRX{rx:012d}\t{person}\t{hospital}\t{physician}\tchronic_disease\t01\t{code}\t"
        f"{name}\t{department}\t{at}:00+08\t3\t{issued_on + timedelta(days=3)}\tf\tdispensed\t"
        f"{circulation}\t\t{settled_at(sid, on)}\t{stream.province.user_id}\n"
    )


def settlement_text(
    sid: int,
    on: date,
    hospital: bool,
    institution: int,
    person: int,
    kind_code: str,
    sums: tuple[int, int, int],
    reversed_: bool,
    province: Province,
    prescription: int | None,
) -> str:
    total, first, in_policy = sums
    co_pay, fund, critical, assistance, commercial, personal = payers(
        total, in_policy, kind_code, person
    )
    at = settled_at(sid, on)
    money = "\t".join(
        yuan(v)
        for v in (
            total,
            0,
            0,
            total,
            first,
            in_policy,
            0,
            co_pay,
            0,
            fund,
            critical,
            assistance,
            commercial,
            personal,
        )
    )
    user = province.user_id
    head = f"K{sid}\t{sid:064x}\t{at}\t{user}"
    tail = (
        f"reversed\t{head}\t{at}\t{user}\t退药冲销\tR{sid}\tt\taccepted\tS{sid}\tM{sid}\taccepted"
        if reversed_
        else f"settled\t{head}\t\\N\t\\N\t\t\tf\taccepted\tS{sid}\tM{sid}\t"
    ) + ("\t\\N\n" if prescription is None else f"\t{prescription}\n")
    category = "special_drug" if prescription is None else "chronic_disease"
    return (
        f"{sid}\tBENCH{sid:012d}\t{'hospital' if hospital else 'pharmacy'}\t{institution}\t"
        f"{person}\t{category}\t{kind_code}\t14\t{province.rule_id}\t{{}}\t{{}}\t\t"
        f"{'hospital_global' if hospital else 'pharmacy_separate'}\t{on}\t{money}\t{{}}\t{tail}"
    )


LOADED_TABLES = ("prescriptions_prescription", "settlement_settlement", "settlement_settlementline")


def set_aside(cursor) -> list[str]:
    """Drop the loaded tables' foreign keys, unique constraints and secondary indexes (the
    primary keys and check constraints stay): a bulk load then re-creates them in one pass each,
    which also validates every loaded row. Returns the statements that re-create them."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('f', 'u') ORDER BY contype",
        [list(LOADED_TABLES)],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [list(LOADED_TABLES)],
    )
    indexes = cursor.fetchall()
    for table_name, name, _ in constraints:
        cursor.execute(f'ALTER TABLE {table_name} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    unique_first = sorted(constraints, key=lambda c: not c[2].startswith("UNIQUE"))
    return [definition for _, definition in indexes] + [
        f'ALTER TABLE {table_name} ADD CONSTRAINT "{name}" {definition}'
        for table_name, name, definition in unique_first
    ]


def produce(stream: Stream, per_month: list[int], chunks: queue.Queue) -> None:
    """The generator's thread: chunks of (month, settlements, lines, count, month done), then
    None; it generates the next chunk while the server takes the last (libpq frees the GIL)."""
    try:
        for month, wanted in zip(stream.province.months, per_month, strict=True):
            while wanted > 0:
                tick = time.perf_counter()
                batch = settlement_batch(stream, month, min(wanted, CHUNK * 2))
                stream.generating += time.perf_counter() - tick
                wanted -= batch.written
                chunks.put((month, batch, wanted <= 0))
    except BaseException as exc:  # handed to the loading thread, which raises it
        stream.error = exc
    finally:
        chunks.put(None)


def load_settlements(rng: random.Random, province: Province, lines: int) -> None:
    """``lines`` settlement lines over the months, by COPY, in chunks: settlements then lines."""
    from django.db import connection

    stream = Stream(
        rng,
        province,
        line_kinds(province.drugs),
        cumulative(zipf_weights(len(province.drugs), 1.1)),
        cumulative(zipf_weights(len(province.hospitals), 0.9)),
        cumulative(zipf_weights(len(province.pharmacies), 0.9)),
        {i: province.county_city[c] for i, c in province.institution_county.items()},
    )
    province.stream = stream
    patients_and_regimens(stream)
    per_month = split(lines, month_weights(province.months))
    started = time.perf_counter()
    chunks: queue.Queue = queue.Queue(maxsize=2)
    producer = threading.Thread(
        target=produce, args=(stream, per_month, chunks), name="generate", daemon=True
    )
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        restore = set_aside(cursor)
        producer.start()
        while (chunk := chunks.get()) is not None:
            month, batch, month_done = chunk
            batch.copy(cursor)
            province.lines += batch.written
            if month_done:
                print(
                    f"  {month:%Y-%m}: {province.lines:,} lines "
                    f"({province.lines / (time.perf_counter() - started):,.0f} lines/s)"
                )
        producer.join()
        if stream.error is not None:
            raise stream.error
        province.timings["generate"] = stream.generating
        set_sequences(cursor, stream)
        province.settlements = stream.next_id - 1
        province.timings["settlements"] = time.perf_counter() - started
        tick = time.perf_counter()
        for statement in restore:
            cursor.execute(statement)
        province.timings["constraints"] = time.perf_counter() - tick
        province.timings["restored"] = len(restore)
        tick = time.perf_counter()
        cursor.execute("ANALYZE")
        province.timings["analyze"] = time.perf_counter() - tick


def set_sequences(cursor, stream: Stream) -> None:
    """The loaded tables' id sequences past the ids the generator gave."""
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence('settlement_settlement', 'id'), %s), "
        "setval(pg_get_serial_sequence('prescriptions_prescription', 'id'), %s)",
        [stream.next_id, stream.next_prescription],
    )


def patients_and_regimens(stream: Stream) -> None:
    """Each person's regimen (1–3 distinct drugs, Zipf over the catalogue) and their hospital and
    pharmacy: one of their city's, by the institutions' own Zipf weights, so an institution's
    patients are as many as its settlements ask for. A chronic-disease patient (``CHRONIC_SHARE``)
    is treated by a physician of their hospital (the first physicians of a hospital see more
    patients), who prescribes each of their settlements."""
    rng, province = stream.rng, stream.province
    sizes, size_weights = zip(*REGIMEN_SIZES, strict=True)
    homes = {}
    for pool, cum in (
        (province.hospitals, stream.hospital_cum),
        (province.pharmacies, stream.pharmacy_cum),
    ):
        weights = [b - a for a, b in zip([0.0, *cum], cum, strict=False)]
        for city in province.persons_by_city:
            mine = [
                (i, w)
                for i, w in zip(pool, weights, strict=True)
                if stream.institution_city[i] == city
            ]
            if mine:
                homes.setdefault(city, []).append(
                    ([i for i, _ in mine], cumulative([w for _, w in mine]))
                )
    drugs = range(len(stream.kinds))
    for city, people in province.persons_by_city.items():
        for person in people:
            hospital = None
            for ids, cum in homes.get(city, ()):
                home = ids[bisect.bisect_left(cum, rng.random() * cum[-1])]
                stream.patients.setdefault(home, []).append(person)
                hospital = hospital or (home if home in province.physicians else None)
            size = rng.choices(sizes, size_weights)[0]
            regimen: list[int] = []
            while len(regimen) < size:
                drug = rng.choices(drugs, cum_weights=stream.drug_cum)[0]
                if drug not in regimen:
                    regimen.append(drug)
            stream.regimen[person] = tuple(regimen)
            if hospital is not None and rng.random() < CHRONIC_SHARE:
                staff = province.physicians[hospital]
                physician, department = staff[int(len(staff) * rng.random() ** 2)]
                stream.doctor[person] = (hospital, physician, department)


def drugs(rng: random.Random) -> list[tuple[int, str, int]]:
    """The shipped catalogue, shuffled (the Zipf rank), each with a price per box in fen: a
    log-normal around 600 yuan, 20 to 30,000 (negotiated drugs are dear)."""
    from dualchannel.catalog.models import Drug

    rows = list(Drug.objects.order_by("pk").values_list("pk", "drug_class"))
    rng.shuffle(rows)
    return [
        (pk, drug_class or "乙", min(3_000_000, max(2_000, int(rng.lognormvariate(11.0, 1.0)))))
        for pk, drug_class in rows
    ]


def seed(rng: random.Random, args: argparse.Namespace) -> Province:
    """The synthetic province (see the module doc); settlements and lines by COPY."""
    from django.utils import timezone

    from dualchannel.core.models import User
    from dualchannel.settlement.models import BenefitRule

    started = time.perf_counter()
    reference_data()
    counties, county_city = province_counties()
    province = Province(the_months(timezone.localdate()), counties, county_city)
    province.timings["reference"] = time.perf_counter() - started
    province.user_id = User.objects.create(username="bench_officer", display_name="压测经办").pk
    province.rule_id = BenefitRule.objects.create(
        region_id=PROVINCE,
        insurance_type="310",
        category="special_drug",
        med_type="14",
        fund_ratio=Decimal("0.8000"),
        ceiling_group="bench",
        effective_from=province.months[0],
        source="压测（合成数据）",
    ).pk
    province.drugs = drugs(rng)
    tick = time.perf_counter()
    institutions(rng, province, args.institutions, province.months[0])
    made = physicians(province, args.physicians)
    persons(rng, province, args.persons or max(1_000, args.lines // LINES_PER_PERSON))
    province.timings["registry"] = time.perf_counter() - tick
    print(
        f"world: {len(counties)} counties of {len(set(county_city.values()))} cities, "
        f"{len(province.hospitals)} hospitals + {len(province.pharmacies)} pharmacies, {made} "
        f"physicians, {len(province.person_type):,} persons, {len(province.drugs)} drugs "
        f"({province.timings['reference']:.0f} s reference data, "
        f"{province.timings['registry']:.0f} s registry)"
    )
    load_settlements(rng, province, args.lines)
    return province


# --- the queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A statistics query: its SQL over the detail tables (the same text on PostgreSQL and on
    DuckDB) and, when the rollups are installed, the page's own read of them."""

    name: str
    sql: str
    page: Callable[[], list[tuple]] | None = None


LIVE = "s.status = 'settled'"
AMOUNT_COLUMNS = ("total", "fund", "critical_illness", "assistance", "commercial", "personal")
PAYERS = (
    "count(*), sum(s.total), sum(s.fund), sum(s.critical_illness), sum(s.assistance), "
    "sum(s.commercial), sum(s.personal)"
)


def detail_queries(city: str, months: list[date]) -> list[Query]:
    first, last = months[0], months[-1]
    after = (last + timedelta(days=32)).replace(day=1)
    year = f"s.settled_on >= DATE '{first}' AND s.settled_on < DATE '{after}'"
    month = f"s.settled_on >= DATE '{last}' AND s.settled_on < DATE '{after}'"
    in_city = f"i.region_id LIKE '{city[:4]}%'"
    join = "FROM settlement_settlement s JOIN registry_institution i ON i.id = s.institution_id"
    return [
        Query(
            "county × month, city, 12 months",
            f"SELECT i.region_id, date_trunc('month', s.settled_on) AS m, {PAYERS} {join} "
            f"WHERE {LIVE} AND {in_city} AND {year} GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        Query(
            "insurance type × month, province",
            f"SELECT s.insurance_type, date_trunc('month', s.settled_on) AS m, {PAYERS} "
            f"FROM settlement_settlement s WHERE {LIVE} AND {year} GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        Query(
            "top 20 drugs, province, last month",
            "SELECT l.drug_id, count(*), sum(l.quantity), sum(l.amount) "
            "FROM settlement_settlementline l JOIN settlement_settlement s "
            f"ON s.id = l.settlement_id WHERE {LIVE} AND {month} "
            "GROUP BY 1 ORDER BY 4 DESC, 1 LIMIT 20",
        ),
        Query(
            "institutions, city, last month",
            f"SELECT s.institution_id, {PAYERS} {join} WHERE {LIVE} AND {in_city} AND {month} "
            "GROUP BY 1 ORDER BY 3 DESC, 1",
        ),
        Query(
            "patients served × month, city",
            "SELECT date_trunc('month', s.settled_on) AS m, count(DISTINCT s.person_id) "
            f"{join} WHERE {LIVE} AND {in_city} AND {year} GROUP BY 1 ORDER BY 1",
        ),
    ]


ROLLUP = "analytics_settlementrollup"
PATIENTS = "analytics_patientrollup"
COUNTY_ROLLUP = "analytics_countydrugrollup"  # month × county × drug × insurance type
COUNTY_PERSONS = "analytics_countypersonrollup"  # month × county × insurance type × person
AREA_PERSONS = "analytics_areapersonyear"  # area × insurance type (or all) × person × year
AREA_DRUG_PERSONS = "analytics_areadrugpersonyear"  # area × drug × person × year
PARTIES = "analytics_partyrollup"  # month × kind × county × institution/physician/hospital × drug
PARTY_PERSONS = "analytics_partypersonyear"  # kind × area × party × person × year
CIRCULATION = "analytics_circulationrollup"  # month × county: prescriptions, dispensings
LIVE_GROUP = "HAVING sum(settlements) <> 0"  # rows whose settlements were all reversed net to 0
ROLLUP_PAYERS = (
    "sum(settlements)::bigint, sum(total_fen)::bigint, sum(fund_fen)::bigint, "
    "sum(critical_illness_fen)::bigint, sum(assistance_fen)::bigint, "
    "sum(commercial_fen)::bigint, sum(personal_fen)::bigint"
)


def rollup_queries(city: str, months: list[date]) -> list[str]:
    """The same questions as ``detail_queries``, in the same order and answer shape, read from
    the coarsest rollup the statistics pages read that answers them
    (``analytics.models.CountyDrugRollup`` and, for persons, ``AreaPersonYear`` without institution,
    ``SettlementRollup`` by institution); money in fen."""
    first, last = months[0], months[-1]
    year = f"month BETWEEN DATE '{first}' AND DATE '{last}'"
    month = f"month = DATE '{last}'"
    in_city = f"county_id LIKE '{city[:4]}%'"
    served = ", ".join(f"count(*) FILTER (WHERE m{n:02d} > 0) AS c{n}" for n in range(1, 13))
    per_month = ", ".join(f"({n}, c{n})" for n in range(1, 13))
    return [
        f"SELECT county_id, month, {ROLLUP_PAYERS} FROM {COUNTY_ROLLUP} WHERE {in_city} AND "
        f"{year} GROUP BY 1, 2 {LIVE_GROUP} ORDER BY 1, 2",
        f"SELECT insurance_type, month, {ROLLUP_PAYERS} FROM {COUNTY_ROLLUP} WHERE {year} "
        f"GROUP BY 1, 2 {LIVE_GROUP} ORDER BY 1, 2",
        "SELECT drug_key, sum(lines)::bigint, sum(quantity)::bigint, sum(total_fen)::bigint "
        f"FROM {COUNTY_ROLLUP} WHERE {month} GROUP BY 1 ORDER BY 4 DESC, 1 LIMIT 20",
        f"SELECT party, {ROLLUP_PAYERS} FROM {PARTIES} WHERE kind = 'i' AND {in_city} AND {month} "
        f"GROUP BY 1 {LIVE_GROUP} ORDER BY 3 DESC, 1",
        # one row per person and year in the city, a count per month: a pass per year, as the
        # page's trend (``stats.served_by_month``), its twelve columns then one row a month
        f"SELECT make_date(y.year, v.n, 1) AS m, v.c FROM (SELECT year, {served} "
        f"FROM {AREA_PERSONS} WHERE area = '{city[:4]}' AND insurance_type = '' AND year "
        f"BETWEEN {first.year} AND {last.year} GROUP BY year) AS y CROSS JOIN LATERAL "
        f"(VALUES {per_month}) AS v(n, c) "
        f"WHERE make_date(y.year, v.n, 1) BETWEEN DATE '{first}' AND DATE '{last}' ORDER BY 1",
    ]


def normal(rows) -> list[tuple]:
    """Rows comparable across engines and tables: money in fen (detail's decimals × 100, the
    rollups' fen as they are), months as YYYY-MM, the rest as read."""

    def cell(value):
        if isinstance(value, Decimal):
            return int(value * 100)  # every Decimal here is money with two places
        if isinstance(value, datetime | date):
            return f"{value:%Y-%m}"
        return value

    return [tuple(cell(v) for v in row) for row in rows]


@dataclass
class Timing:
    name: str
    cold: float = float("nan")
    warm: float = float("nan")
    duck: float = float("nan")
    target: float = TARGET_QUERY_S
    answer: list = field(default_factory=list)
    duck_answer: list = field(default_factory=list)


def timed(run: Callable[[], object]) -> tuple[float, object]:
    tick = time.perf_counter()
    out = run()
    return time.perf_counter() - tick, out


def pg_timing(name: str, run: Callable[[], object], repeat: int, target: float) -> Timing:
    """Cold: the first run on a fresh connection after DISCARD ALL; warm: best of ``repeat``."""
    from django.db import connection

    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("DISCARD ALL")
    cold, answer = timed(run)
    warm = min((timed(run)[0] for _ in range(repeat)), default=cold)
    return Timing(name, cold, warm, target=target, answer=answer)


def sql_runner(sql: str) -> Callable[[], list[tuple]]:
    from django.db import connection

    def run() -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql.replace("%", "%%"))
            return normal(cursor.fetchall())

    return run


# --- DuckDB, the reference -----------------------------------------------------------------

# The columns the queries read, with their types (the CSV carries no types; DuckDB keeps these
# in Parquet: DECIMAL(14,2) money, as on PostgreSQL)
EXPORTS = {
    "settlement_settlement": {
        "id": "BIGINT",
        "institution_id": "BIGINT",
        "person_id": "BIGINT",
        "prescription_id": "BIGINT",
        "insurance_type": "VARCHAR",
        "budget_line": "VARCHAR",
        "settled_on": "DATE",
        "status": "VARCHAR",
        "total": "DECIMAL(14,2)",
        "fund": "DECIMAL(14,2)",
        "critical_illness": "DECIMAL(14,2)",
        "assistance": "DECIMAL(14,2)",
        "commercial": "DECIMAL(14,2)",
        "personal": "DECIMAL(14,2)",
    },
    "settlement_settlementline": {
        "settlement_id": "BIGINT",
        "drug_id": "BIGINT",
        "quantity": "INTEGER",
        "amount": "DECIMAL(14,2)",
    },
    "registry_institution": {"id": "BIGINT", "region_id": "VARCHAR", "kind": "VARCHAR"},
    "prescriptions_prescription": {
        "id": "BIGINT",
        "physician_id": "BIGINT",
        "hospital_id": "BIGINT",
        "issued_on": "DATE",
        "routed_on": "DATE",
    },
    "registry_physician": {"id": "BIGINT", "hospital_id": "BIGINT"},
}


# exported columns that are expressions: the local day of a moment (the page counts by month in
# the project's time zone)
DERIVED = {
    "issued_on": "(issued_at AT TIME ZONE 'Asia/Shanghai')::date",
    "routed_on": "(routed_at AT TIME ZONE 'Asia/Shanghai')::date",
}


def export_parquet(workdir: Path) -> tuple[dict[str, Path], float, int]:
    """Each table's columns: COPY TO STDOUT (CSV) → a file → DuckDB → Parquet (zstd)."""
    import duckdb
    from django.db import connection

    started, size, files = time.perf_counter(), 0, {}
    duck = duckdb.connect()
    for name, columns in EXPORTS.items():
        csv, parquet = workdir / f"{name}.csv", workdir / f"{name}.parquet"
        with connection.cursor() as django_cursor, csv.open("wb") as out:
            selected = ", ".join(DERIVED.get(c, c) for c in columns)
            statement = f"COPY (SELECT {selected} FROM {name}) TO STDOUT (FORMAT csv)"
            with django_cursor.cursor.copy(statement) as copy:
                for block in copy:
                    out.write(block)
        types = ", ".join(f"'{c}': '{t}'" for c, t in columns.items())
        duck.execute(
            f"COPY (SELECT * FROM read_csv('{csv}', header = false, columns = {{{types}}})) "
            f"TO '{parquet}' (FORMAT parquet, COMPRESSION zstd)"
        )
        csv.unlink()
        size += parquet.stat().st_size
        files[name] = parquet
    duck.close()
    return files, time.perf_counter() - started, size


def duckdb_times(files: dict[str, Path], queries: list[Query], repeat: int) -> list[tuple]:
    """(cold, warm, answer) per query: cold on a fresh in-memory DuckDB over the Parquet files
    (the OS cache may hold them), warm the best of ``repeat``."""
    import duckdb

    out = []
    for query in queries:
        duck = duckdb.connect()
        for name, path in files.items():
            duck.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")

        def run(duck=duck, sql=query.sql) -> list[tuple]:
            return normal(duck.execute(sql).fetchall())

        cold, answer = timed(run)
        warm = min((timed(run)[0] for _ in range(repeat)), default=cold)
        out.append((cold, warm, answer))
        duck.close()
    return out


# --- the Shandong monthly table ----------------------------------------------------------------


def monthly_table(province: Province, repeat: int, workdir: Path) -> tuple[list[Timing], object]:
    """``build_table`` (what the page and the command show) and ``report_monthly_sd`` (the
    .xlsx), cold and warm, for the city's last month."""
    from django.core.management import call_command

    from dualchannel.analytics.sd_monthly import build_table
    from dualchannel.registry.models import Region

    month = province.months[-1]
    city = Region.objects.get(code=CITY)
    data = pg_timing(
        f"monthly table {CITY} (build_table)",
        lambda: build_table(Region.objects.get(code=CITY), month),
        repeat,
        TARGET_TABLE_S,
    )

    def command() -> None:
        call_command(
            "report_monthly_sd",
            region=CITY,
            month=f"{month:%Y-%m}",
            out=str(workdir / "sd.xlsx"),
            stdout=io.StringIO(),
        )

    xlsx = pg_timing(f"monthly table {CITY} (.xlsx)", command, repeat, TARGET_TABLE_S)
    return [data, xlsx], build_table(city, month)


def expected_pharmacies(province: Province, on: date) -> dict[str, tuple[int, int, int]]:
    """The generator's own record: pharmacies active at the end of ``on`` per county."""
    counts: dict[str, list[int]] = {}
    for pk, (realtime, e_rx, active_on, status, later) in province.designated.items():
        county = province.institution_county[pk]
        if not county.startswith(CITY[:4]) or active_on > on:
            continue
        if status != "active" and later <= on:
            continue
        row = counts.setdefault(county, [0, 0, 0])
        row[0] += 1
        row[1] += realtime
        row[2] += e_rx
    return {county: tuple(row) for county, row in counts.items()}


def direct_drug_count(on: date) -> tuple[int, int]:
    """(negotiated dual-channel drugs in their agreement period on ``on``, regional dual-channel
    lists in force for the city): plain SQL beside the table's ORM reads."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM catalog_drug d JOIN catalog_listedition e ON e.id = d.edition_id "
            "WHERE d.is_negotiated AND d.is_dual_channel "
            "AND coalesce(d.agreement_start, e.effective_from) <= %s "
            "AND (d.agreement_end IS NULL OR d.agreement_end >= %s)",
            [on, on],
        )
        drugs = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM catalog_regionallist WHERE kind = 'dual_channel' "
            "AND (region_id LIKE %s OR region_id = %s) AND valid_from <= %s "
            "AND (valid_to IS NULL OR valid_to >= %s)",
            [f"{CITY[:4]}%", PROVINCE, on, on],
        )
        return drugs, cursor.fetchone()[0]


def table_checks(province: Province, built) -> list[tuple[bool, str]]:
    on = date.fromisoformat(built.as_of)
    expected = expected_pharmacies(province, on)
    got = {r.code: (r.pharmacies, r.realtime, r.e_prescription) for r in built.rows}
    differ = [c for c in got if got[c] != expected.get(c, (0, 0, 0))]
    drugs, lists = direct_drug_count(on)
    drug_columns = {r.drugs for r in built.rows} | {built.total.drugs}
    total = sum(v[0] for v in expected.values())
    return [
        (
            not differ and built.total.pharmacies == total,
            f"the monthly table's pharmacy counts equal the generator's designations "
            f"({len(got)} counties, {total} pharmacies active on {on}; {len(differ)} differ)",
        ),
        (
            lists > 0 or drug_columns == {drugs},
            f"the monthly table's drugs column equals a direct count ({drugs} negotiated "
            f"dual-channel drugs in their agreement period; {lists} regional lists in force)",
        ),
    ]


# --- the rollups ---------------------------------------------------------------------------------


def refresh_timed(limit: int):
    """``refresh_all`` until nothing is left: its result and the seconds it took."""
    from dualchannel.analytics import rollups

    tick = time.perf_counter()
    result = rollups.refresh_all(limit=limit, rounds=10**7)
    return result, time.perf_counter() - tick


def circulation_taken(result) -> str:
    return (
        f"{result.issued:,} prescriptions as issued, {result.routed:,} as routed, "
        f"{result.dispensings:,} dispensings"
    )


def add_and_reverse(province: Province, settlements: int) -> tuple[int, int]:
    """New settlements in the last month (by COPY) and as many reversals of older ones (as
    ``settlement_reverse`` leaves them): what an incremental refresh takes in."""
    from django.db import connection

    stream = province.stream
    first = stream.next_id
    batch = settlement_batch(stream, province.months[-1], settlements * 2)
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        batch.copy(cursor)
        set_sequences(cursor, stream)
        cursor.execute(
            "UPDATE settlement_settlement SET status = 'reversed', reversed_at = settled_at + "
            "interval '1 day', reversed_by_id = settled_by_id, reversal_reason = '退药冲销', "
            "reversal_key = 'R' || id, goods_returned = true, reversal_upload_status = 'pending' "
            "WHERE id IN (SELECT id FROM settlement_settlement WHERE status = 'settled' AND "
            "id < %s ORDER BY id DESC LIMIT %s)",
            [first, stream.next_id - first],
        )
        reversed_ = cursor.rowcount
    province.lines += batch.written
    province.settlements = stream.next_id - 1
    return stream.next_id - first, reversed_


def rollup_build(province: Province, limit: int) -> None:
    """The rollups taken in from scratch (every settlement new), then incrementally."""
    from django.db import connection

    result, spent = refresh_timed(limit)
    print(
        f"rollups: {result.settlements:,} settlements and {result.reversals:,} reversals taken "
        f"in from scratch by analytics.rollups.refresh_all ({limit:,} a transaction) in "
        f"{spent:.1f} s = {result.settlements / spent:,.0f} settlements/s; with them "
        f"{circulation_taken(result)}"
    )
    added, reversed_ = add_and_reverse(province, max(100, province.settlements // 200))
    result, spent = refresh_timed(limit)
    settled, reversals = result.settlements, result.reversals
    with connection.cursor() as cursor:
        # the refresh marked every settlement: without fresh statistics the planner believes
        # none is rolled up and joins detail by nested loops (autovacuum would catch up later)
        tables = (
            *(ROLLUP, PATIENTS, COUNTY_ROLLUP, COUNTY_PERSONS, AREA_PERSONS, AREA_DRUG_PERSONS),
            *(PARTIES, PARTY_PERSONS, CIRCULATION),
        )
        analyzed = ("settlement_settlement", "prescriptions_prescription", *tables)
        cursor.execute("; ".join(f"ANALYZE {name}" for name in analyzed))
        cursor.execute(
            "SELECT "
            + ", ".join(
                f"(SELECT count(*) FROM {name}), pg_total_relation_size('{name}')"
                for name in tables
            )
        )
        sizes = cursor.fetchone()
    (
        rows,
        patients,
        county_rows,
        county_persons,
        area_persons,
        drug_persons,
        parties,
        party_persons,
        circulation,
    ) = (f"{sizes[2 * n]:,} rows ({sizes[2 * n + 1] / 2**20:,.0f} MiB)" for n in range(9))
    print(
        f"  then {added:,} new settlements and {reversed_:,} reversals of older ones: taken in "
        f"incrementally in {spent:.2f} s = {(settled + reversals) / spent:,.0f} settlements/s\n"
        f"  fine rollups: {rows} by institution × drug × physician, persons {patients}; coarse: "
        f"{county_rows} by month × county × drug × insurance type, persons {county_persons}\n"
        f"  persons' months (a row per person and year, a bit per month): {area_persons} by "
        f"province/city/county × insurance type, {drug_persons} by province/city × drug\n"
        f"  parties (institution, physician, credited hospital): {parties} by month × county × "
        f"party × drug, persons' months {party_persons}\n"
        f"  circulation (prescriptions issued, routed; dispensings) by month × county: "
        f"{circulation}"
    )


def rollup_checks() -> list[tuple[bool, str]]:
    """The rollups against detail: the application's own comparison, and plain SQL per month ×
    county and in total (settlements and the six amounts, in fen)."""
    from django.db import connection

    from dualchannel.analytics.rollups import rollup_differences

    differences = rollup_differences()
    detail_sql = (
        "SELECT to_char(s.settled_on, 'YYYY-MM'), i.region_id, count(*), "
        + ", ".join(f"(sum(s.{a}) * 100)::bigint" for a in AMOUNT_COLUMNS)
        + " FROM settlement_settlement s JOIN registry_institution i ON i.id = s.institution_id "
        f"WHERE {LIVE} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    rollup_sql = (
        f"SELECT to_char(month, 'YYYY-MM'), county_id, {ROLLUP_PAYERS} FROM {ROLLUP} "
        "GROUP BY 1, 2 HAVING sum(settlements) <> 0 ORDER BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(detail_sql)
        detail = cursor.fetchall()
        cursor.execute(rollup_sql)
        rolled = cursor.fetchall()
    total = [sum(row[n] for row in detail) for n in range(2, 9)]
    rolled_total = [sum(row[n] for row in rolled) for n in range(2, 9)]
    return [
        (
            not differences,
            "rollup == detail to the fen (analytics.rollups.rollup_differences: month × county × "
            "institution × insurance type × budget line, month × county × drug, persons served, "
            "parties, prescriptions issued and routed and dispensings by month × county; "
            f"{len(differences)} differ{': ' + differences[0] if differences else ''})",
        ),
        (
            detail == rolled and total == rolled_total,
            f"rollup == detail to the fen per month × county in plain SQL ({len(detail)} cells; "
            f"in total {total[0]:,} settlements, {yuan(total[1])} yuan, fund {yuan(total[2])})",
        ),
    ]


# --- the statistics page's selectors ------------------------------------------------------------


def province_officer():
    """An officer of the province's agency: the scope of the province's statistics page."""
    from dualchannel.core.models import RoleGrant, User
    from dualchannel.core.roles import Role
    from dualchannel.registry.identifiers import synthetic_credit_code
    from dualchannel.registry.models import Institution, InstitutionKind

    found = User.objects.filter(username="bench_province").first()  # a --reuse run
    if found is not None:
        return found
    agency = Institution.objects.create(
        kind=InstitutionKind.AGENCY,
        name="山东省医疗保障事业中心（压测）",
        credit_code=synthetic_credit_code(PROVINCE, 999),
        region_id=PROVINCE,
    )
    officer = User.objects.create(
        username="bench_province", display_name="压测省级经办", institution=agency
    )
    RoleGrant.objects.create(user=officer, role=Role.AGENCY_OFFICER)
    return officer


def fen(value: Decimal) -> int:
    return int(value * 100)


def selector_queries(province: Province) -> list[tuple[str, Callable, str | None, Callable]]:
    """(name, selector call, DuckDB's SQL over detail or None, the selector's answer as rows
    comparable with DuckDB's): what ``/agency/statistics/`` reads, for the city and the
    province over the 12 months."""
    from dualchannel.analytics import stats, stats_activity

    officer = province_officer()
    first, last = province.months[0], province.months[-1]
    after = (last + timedelta(days=32)).replace(day=1)
    span = {"start": f"{first:%Y-%m}", "end": f"{last:%Y-%m}"}
    year = f"s.settled_on >= DATE '{first}' AND s.settled_on < DATE '{after}'"
    city_sql = f"i.region_id LIKE '{CITY[:4]}%'"
    join = "FROM settlement_settlement s JOIN registry_institution i ON i.id = s.institution_id"
    payers = ", ".join(f"sum(s.{a})" for a in AMOUNT_COLUMNS)

    prescribed = (
        "FROM prescriptions_prescription p JOIN registry_institution i ON i.id = p.hospital_id "
        f"WHERE i.region_id LIKE '{CITY[:4]}%'"
    )

    def scope(region: str):
        return stats.stats_scope(officer, region=region, **span)

    def amounts(row: dict) -> tuple:
        return tuple(fen(row[a]) for a in AMOUNT_COLUMNS)

    # ties in amount: the page orders rows by their key as text
    return [
        (
            "prescriptions issued and circulated × month, city",
            lambda: stats_activity.prescription_figures(scope(CITY)),
            "SELECT m, sum(a), sum(b) FROM ("
            f"SELECT date_trunc('month', p.issued_on) AS m, 1 AS a, 0 AS b {prescribed} "
            f"AND p.issued_on >= DATE '{first}' AND p.issued_on < DATE '{after}' UNION ALL "
            f"SELECT date_trunc('month', p.routed_on), 0, 1 {prescribed} "
            f"AND p.routed_on >= DATE '{first}' AND p.routed_on < DATE '{after}'"
            ") AS x GROUP BY 1 ORDER BY 1",
            lambda got: [
                (r["month"], r["issued"], r["circulated"])
                for r in got
                if r["issued"] or r["circulated"]
            ],
        ),
        (
            "key figures, province, 12 months",
            lambda: stats.key_figures(scope(PROVINCE)),
            f"SELECT count(*), {payers}, count(DISTINCT s.person_id) FROM settlement_settlement s "
            f"WHERE {LIVE} AND {year}",
            lambda got: [(got["settlements"], *amounts(got), got["patients"])],
        ),
        (
            "trend, city, 12 months",
            lambda: stats.trend(scope(CITY)),
            f"SELECT date_trunc('month', s.settled_on), count(*), {payers}, "
            f"count(DISTINCT s.person_id) {join} WHERE {LIVE} AND {city_sql} AND {year} "
            "GROUP BY 1 ORDER BY 1",
            lambda got: [(r["month"], r["settlements"], *amounts(r), r["patients"]) for r in got],
        ),
        (
            "by drug, province, 12 months",
            lambda: stats.breakdown(scope(PROVINCE), "drug"),
            "SELECT l.drug_id, count(*), sum(l.quantity), sum(l.amount), "
            "count(DISTINCT s.person_id) FROM settlement_settlementline l "
            "JOIN settlement_settlement s ON s.id = l.settlement_id "
            f"WHERE {LIVE} AND {year} GROUP BY 1 ORDER BY 4 DESC, 1",
            lambda got: [
                (r["key"], r["lines"], r["quantity"], fen(r["total"]), r["patients"]) for r in got
            ],
        ),
        (
            "by institution, city, 12 months",
            lambda: stats.breakdown(scope(CITY), "institution"),
            f"SELECT s.institution_id, count(*), {payers}, count(DISTINCT s.person_id) {join} "
            f"WHERE {LIVE} AND {city_sql} AND {year} GROUP BY 1 "
            "ORDER BY 3 DESC, CAST(s.institution_id AS VARCHAR)",
            lambda got: [(r["key"], r["settlements"], *amounts(r), r["patients"]) for r in got],
        ),
        (
            "by county, province, 12 months",
            lambda: stats.breakdown(scope(PROVINCE), "county"),
            f"SELECT i.region_id, count(*), {payers}, count(DISTINCT s.person_id) {join} "
            f"WHERE {LIVE} AND {year} GROUP BY 1 ORDER BY 3 DESC, 1",
            lambda got: [(r["key"], r["settlements"], *amounts(r), r["patients"]) for r in got],
        ),
        (
            "by insurance type, province, 12 months",
            lambda: stats.breakdown(scope(PROVINCE), "insurance"),
            f"SELECT s.insurance_type, count(*), {payers}, count(DISTINCT s.person_id) "
            f"FROM settlement_settlement s WHERE {LIVE} AND {year} GROUP BY 1 ORDER BY 3 DESC, 1",
            lambda got: [(r["key"], r["settlements"], *amounts(r), r["patients"]) for r in got],
        ),
        (
            "by physician, city, 12 months",
            lambda: stats.breakdown(scope(CITY), "physician"),
            f"SELECT coalesce(p.physician_id, 0), count(*), {payers}, count(DISTINCT s.person_id) "
            f"{join} LEFT JOIN prescriptions_prescription p ON p.id = s.prescription_id "
            f"WHERE {LIVE} AND {city_sql} AND {year} GROUP BY 1 "
            "ORDER BY 3 DESC, CAST(coalesce(p.physician_id, 0) AS VARCHAR)",
            lambda got: [(r["key"], r["settlements"], *amounts(r), r["patients"]) for r in got],
        ),
        (
            "hospital evaluation, city, 12 months",
            lambda: stats.hospital_evaluation(scope(CITY)),
            # credited: the prescribing physician's hospital, else the settling hospital
            "WITH c AS (SELECT s.id, s.total, s.person_id, CASE WHEN p.physician_id IS NOT NULL "
            "THEN ph.hospital_id WHEN i.kind = 'hospital' THEN s.institution_id END AS h "
            f"{join} LEFT JOIN prescriptions_prescription p ON p.id = s.prescription_id "
            "LEFT JOIN registry_physician ph ON ph.id = p.physician_id "
            f"WHERE {LIVE} AND {city_sql} AND {year}), "
            "v AS (SELECT c.h, count(DISTINCT l.drug_id) AS n FROM c "
            "JOIN settlement_settlementline l ON l.settlement_id = c.id GROUP BY 1) "
            "SELECT c.h, count(*), sum(c.total), min(v.n), count(DISTINCT c.person_id) "
            "FROM c JOIN v ON v.h = c.h GROUP BY 1 ORDER BY 3 DESC, 1",
            lambda got: [
                (r["key"], r["settlements"], fen(r["total"]), r["varieties"], r["patients"])
                for r in got
            ],
        ),
    ]


def selector_timings(province: Province, files: dict, repeat: int) -> list[Timing]:
    """Each selector cold and warm on PostgreSQL; DuckDB's time and answer from detail."""
    import duckdb

    timings = []
    for name, call, duck_sql, project in selector_queries(province):
        timing = pg_timing(name, call, repeat, TARGET_QUERY_S)
        if duck_sql is not None:
            timing.answer = normal(project(timing.answer))
            duck = duckdb.connect()
            for table_name, path in files.items():
                duck.execute(f"CREATE VIEW {table_name} AS SELECT * FROM read_parquet('{path}')")
            timed(lambda duck=duck, sql=duck_sql: duck.execute(sql).fetchall())  # cold
            runs = [timed(lambda duck=duck, sql=duck_sql: duck.execute(sql).fetchall())]
            runs += [
                timed(lambda duck=duck, sql=duck_sql: duck.execute(sql).fetchall())
                for _ in range(repeat - 1)
            ]
            timing.duck = min(spent for spent, _ in runs)
            timing.duck_answer = normal(runs[0][1])
            duck.close()
        else:
            timing.answer = []
        timings.append(timing)
    return timings


# --- the report ---------------------------------------------------------------------------------


def seconds(value: float) -> str:
    if value != value:  # NaN: not measured
        return "—"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def report(timings: list[Timing]) -> str:
    rows = [["query", "PG cold s", "PG warm s", "DuckDB s", "PG/DuckDB", "target", "met"]]
    for t in timings:
        ratio = t.warm / t.duck if t.duck == t.duck and t.duck > 0 else float("nan")
        met = t.warm <= t.target and (ratio != ratio or ratio <= TARGET_DUCKDB_RATIO)
        rows.append(
            [
                t.name,
                seconds(t.cold),
                seconds(t.warm),
                seconds(t.duck),
                "—" if ratio != ratio else f"{ratio:.1f}×",
                f"≤ {t.target:g} s" + ("" if t.duck != t.duck else f", ≤ {TARGET_DUCKDB_RATIO:g}×"),
                "MET" if met else "NOT MET",
            ]
        )
    return table(rows)


def answer_checks(timings: list[Timing]) -> list[tuple[bool, str]]:
    compared = [t for t in timings if t.duck_answer]
    differ = [t.name for t in compared if t.answer != t.duck_answer]
    for t in compared:
        if t.answer != t.duck_answer:  # the first difference, to read in the output
            pairs = itertools.zip_longest(t.answer, t.duck_answer)
            print(f"  {t.name}: first difference {next(p for p in pairs if p[0] != p[1])}")
    rows = sum(len(t.answer) for t in compared)
    return [
        (
            bool(compared) and not differ and all(t.answer for t in compared),
            f"PostgreSQL and DuckDB give the same answers to the fen ({len(compared)} queries, "
            f"{rows} rows; {len(differ)} differ{': ' + ', '.join(differ) if differ else ''})",
        )
    ]


def detail_total_check(province: Province) -> tuple[bool, str]:
    """The loaded lines: as many as asked, and each settlement's total is its lines' sum."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM settlement_settlementline), "
            "(SELECT count(*) FROM settlement_settlement), "
            "(SELECT count(*) FROM (SELECT s.id FROM settlement_settlement s "
            " JOIN settlement_settlementline l ON l.settlement_id = s.id "
            " GROUP BY s.id, s.total HAVING sum(l.amount) <> s.total) AS off)"
        )
        lines, settlements, off = cursor.fetchone()
    return (
        lines == province.lines and settlements == province.settlements and off == 0,
        f"detail loaded as generated ({lines:,} lines, {settlements:,} settlements; "
        f"{off} settlements whose total is not their lines' sum)",
    )


# --- the run -----------------------------------------------------------------------------------


def measure(province: Province, args: argparse.Namespace, workdir: Path) -> list[tuple]:
    """Time everything, print the table; the correctness checks as (ok, text)."""
    queries = detail_queries(CITY, province.months)
    if args.reuse:
        print(f"rollups: kept from the run that loaded {args.reuse} (not timed again)")
    else:
        rollup_build(province, args.refresh_limit)
    if args.keep:
        state = state_file(server_database())
        state.write_bytes(pickle.dumps(province))
        print(f"kept: the database and {state}; time the queries again with --reuse NAME")
    timings, built = monthly_table(province, args.repeat, workdir)
    checks = [detail_total_check(province), *table_checks(province, built), *rollup_checks()]
    for query, rollup_sql in zip(queries, rollup_queries(CITY, province.months), strict=True):
        for name, sql in (
            (f"{query.name} (rollup)", rollup_sql),
            (f"{query.name} (detail)", query.sql),
        ):
            timings.append(pg_timing(name, sql_runner(sql), args.repeat, TARGET_QUERY_S))
    files, exported, size = export_parquet(workdir)
    print(
        f"parquet: {len(files)} tables exported in {exported:.1f} s ({size / 2**20:,.0f} MiB, "
        "COPY TO STDOUT as CSV → DuckDB → zstd Parquet)"
    )
    for n, (_cold, warm, answer) in enumerate(duckdb_times(files, queries, args.repeat)):
        for timing in timings[2 + 2 * n : 4 + 2 * n]:  # the query's rollup and detail rows
            timing.duck, timing.duck_answer = warm, answer
    timings += selector_timings(province, files, args.repeat)
    print()
    print(report(timings))
    print(
        "cold = the first run on a fresh connection after DISCARD ALL (PostgreSQL's shared "
        "buffers and the OS cache may still be warm); warm = best of "
        f"{args.repeat}; DuckDB = best of {args.repeat} over the Parquet files (in memory, "
        f"{os.cpu_count()} threads)"
    )
    return [*checks, *answer_checks(timings)]


def loaded(province: Province) -> str:
    t = province.timings
    return (
        f"detail: {province.lines:,} lines, {province.settlements:,} settlements in "
        f"{t['settlements']:.0f} s ({province.lines / t['settlements']:,.0f} lines/s, "
        f"{t['generate']:.0f} s of it generating in Python); {t['restored']:.0f} foreign "
        f"keys, unique constraints and indexes set aside for the load and re-created "
        f"(validating every row) in {t['constraints']:.0f} s; ANALYZE {t['analyze']:.0f} s"
    )


def state_file(database: str) -> Path:
    """Where ``--keep`` leaves what the checks know of the generated world, beside the database."""
    return Path(tempfile.gettempdir()) / f"{database}.province.pickle"


def server_database() -> str:
    from django.db import connection

    return connection.settings_dict["NAME"]


@contextmanager
def kept_database(server, name: str, *, create: bool) -> Iterator[str]:
    """A database this run creates (``--keep``) or was given (``--reuse``) and leaves in place."""
    if create:
        with server.connect() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    yield name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=10_000_000, help="settlement lines (10M)")
    parser.add_argument("--institutions", type=int, default=2_000, help="institutions (2,000)")
    parser.add_argument("--physicians", type=int, default=8, help="physicians per hospital (8)")
    parser.add_argument("--persons", type=int, help="insured persons (default: lines / 10)")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per query (3)")
    parser.add_argument("--seed", type=int, default=13, help="random seed (13)")
    parser.add_argument(
        "--refresh-limit",
        type=int,
        default=20_000,
        help="settlements a refresh transaction (20,000)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the database and the generated world in place (for --reuse)",
    )
    parser.add_argument(
        "--reuse",
        metavar="NAME",
        help="time the queries again on a database a --keep run left (no load; the refresh "
        "takes in only what newer rollups lack)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on kill too
    sys.stdout.reconfigure(line_buffering=True)  # progress as it happens, also through make

    server = pg_server()
    with server.connect() as admin:
        version = admin.execute("SHOW server_version").fetchone()[0]
        buffers = admin.execute("SHOW shared_buffers").fetchone()[0]
    import duckdb

    print("analytics at a province's scale: Shandong's monthly table and the statistics queries")
    print(
        f"machine: {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, PostgreSQL {version} (shared_buffers {buffers}) at "
        f"{server.host}:{server.port}, DuckDB {duckdb.__version__}, load average "
        f"{os.getloadavg()[0]:.1f} at start"
    )
    tag = f"{int(time.time())}_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="dualchannel-analytics-"))
    try:
        name = args.reuse or f"dualchannel_analytics_{tag}"
        if args.keep or args.reuse:
            database = kept_database(server, name, create=not args.reuse)
        else:
            database = throwaway_database(server, name)
        with database as db:
            started = time.perf_counter()
            django_setup(server.url(db), secrets.token_urlsafe(40), workdir / "var")
            from django.core.management import call_command
            from django.db import connections

            if args.reuse:
                province = pickle.loads(state_file(db).read_bytes())
                call_command("migrate", verbosity=0)  # the code's newer migrations, if any
                # what the code's newer rollups have not taken in yet (nothing, if none)
                caught_up, spent = refresh_timed(args.refresh_limit)
                with connections["default"].cursor() as cursor:  # statistics after them
                    cursor.execute("ANALYZE")
                print(
                    f"database: {db}, reused as a --keep run left it; migrate, refresh and "
                    f"ANALYZE took {time.perf_counter() - started:.0f} s (the refresh "
                    f"{spent:.1f} s: {caught_up.settlements:,} settlements, "
                    f"{circulation_taken(caught_up)})"
                )
            else:
                call_command("migrate", verbosity=0)
                print(f"database: {db}, migrated in {time.perf_counter() - started:.0f} s")
                province = seed(random.Random(args.seed), args)
                print(loaded(province))
            checks = measure(province, args, workdir)
            connections.close_all()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    for ok, text in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
