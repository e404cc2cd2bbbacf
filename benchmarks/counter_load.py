"""Counter load: check → dispense → settle over HTTP on PostgreSQL, beside pgbench on the server.

Run: ``make bench-counter`` or ``.venv/bin/python benchmarks/counter_load.py [--seconds 15]
[--levels 1,8,32]``. Needs a PostgreSQL server (``PGHOST``/``PGPORT``/``PGUSER``, default
127.0.0.1:5432 as postgres, or taken from a ``postgres://`` ``DATABASE_URL``) and ``pgbench``.

1. Creates a throw-away database, migrates it and seeds a Wuhan world: one hospital and
   physician, ``--pharmacies`` designated pharmacies with ``--counters`` pharmacists each, one
   batch of an ordinary chronic-disease drug per pharmacy with a traceability code per package,
   and one patient per prescription (the refill-interval check refuses a second supply of the
   same drug to the same patient). One prescription is issued and routed through the services
   (signed PDF, audit events, notices); the others are bulk copies of its rows (prescription, item,
   ``""→issued→routed`` history, e-prescription-centre row) with their own patient, number and
   pharmacy, without a PDF of their own: the counter never reads it, and signing costs ~0.3 s each.
2. Serves the application with gunicorn (sync workers, ``2 × cores + 1`` unless ``--workers``) on
   a free loopback port. The first pharmacist logs in with ``POST /api/v1/auth/token``; the
   others' tokens are issued in the database as that endpoint does (a login is ~1 s of PBKDF2).
3. Warms up for ``--warm-seconds`` with untimed triples from ``2 × workers`` clients (a worker
   prepares a statement on its connection after running it five times). Then, for each level of
   ``--levels``, that many clients (threads, each with its own ``http.client`` connection
   and pharmacist) loop for ``--seconds``: ``counter/check`` then ``counter/dispense`` of the next
   prescription routed to the client's pharmacy, then ``settle`` (2101 pre-settlement check and
   the fund's share, the platform simulator in process; its upload queued for the worker).
   Client *i* works at pharmacy *i* mod ``--pharmacies``: up to that many clients nobody shares
   a pharmacy; beyond it two counters of one pharmacy share its batch row and its audit chain
   (both locked by a dispensing). A thread samples ``pg_stat_activity`` meanwhile: busy
   backends, and those waiting for a lock.
4. Runs pgbench's TPC-B-like script on a second throw-away database on the same server.
5. Checks the outcome in the database: dispensings == 201 answers, no batch below zero and every
   batch's count == received − sold, no traceability code sold twice, settlements == settle
   answers, every person's accumulators == the sum of their settlements, audit chains intact;
   and replays one dispense (same key: same answer) and dispenses a dispensed prescription
   (refused). Before the load, one triple is profiled in-process (cProfile): where the time goes.

Everything created is removed afterwards, also on failure or Ctrl-C. Exit 1 when a check fails,
a request failed unexpectedly, or a level ran out of seeded prescriptions (raise ``--rate``).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

DRUG = "压测苯磺酸氨氯地平片"  # an ordinary chronic-disease drug (not separately paid)
PACK = 28  # tablets per box: one box per prescription, one traceability code
PRODUCT_PREFIX = "8300001"  # 7-digit product prefix of the drug's 20-digit codes
DIAGNOSIS = "I10.x00x002"  # 高血压
PASSWORD = "Counter-load-2026"
REQUEST_TIMEOUT_S = 30.0


# --- the server and its databases --------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str

    def url(self, db: str) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{db}"

    def connect(self, db: str = "postgres"):
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=db, autocommit=True
        )


def pg_server() -> Server:
    """The server of a ``postgres://`` DATABASE_URL, else PGHOST/PGPORT/PGUSER's defaults."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        parsed = urlparse(url)
        return Server(parsed.hostname or "127.0.0.1", parsed.port or 5432, parsed.username or "")
    return Server(
        os.environ.get("PGHOST", "127.0.0.1"),
        int(os.environ.get("PGPORT", "5432")),
        os.environ.get("PGUSER", "postgres"),
    )


@contextmanager
def throwaway_database(server: Server, name: str) -> Iterator[str]:
    with server.connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with server.connect() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_audit_keys(secret_key: str) -> str:
    """The audit ledger's HMAC key (required outside demo mode), the same for server and checks."""
    return "bench:" + hashlib.sha256(b"bench-audit:" + secret_key.encode()).hexdigest()


def server_env(database_url: str, secret_key: str, var_dir: Path, conn_max_age: int) -> dict:
    """Production-like settings: no DEBUG, no demo, no testing shortcuts (real password hash)."""
    env = dict(os.environ)
    for name in ("DUALCHANNEL_TESTING", "DJANGO_SETTINGS_MODULE", "DEBUG", "DEMO_MODE"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="dualchannel.config.settings",
        DATABASE_URL=database_url,
        SECRET_KEY=secret_key,
        AUDIT_HMAC_KEYS=bench_audit_keys(secret_key),
        API_DOCS_PUBLIC="1",  # the start-up probe reads openapi.json
        DB_CONN_MAX_AGE=str(conn_max_age),
        DUALCHANNEL_VAR_DIR=str(var_dir),
        LOG_LEVEL="WARNING",
        # this checkout's code, not the one the shared virtual env's editable install names
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
    )
    return env


@contextmanager
def gunicorn(env: dict, workers: int, log: Path) -> Iterator[tuple[str, int]]:
    """The server's address and its master's process id, while it runs."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "dualchannel.config.wsgi:application",
        # production's settings (sync workers, --preload, the import frozen before each fork)
        f"--config={ROOT / 'deploy' / 'gunicorn.conf.py'}",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--graceful-timeout=5",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url, process, log)
        yield base_url, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_up(base_url: str, process: subprocess.Popen, log: Path, seconds: float = 60):
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{tail(log)}")
        with suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/api/v1/openapi.json", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {seconds:.0f} s:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    if not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# --- seeding (in this process, Django set up on the throw-away database) ----------------------


@dataclass(frozen=True)
class Task:
    """One routed prescription and what the counter sends for it."""

    prescription_id: int
    pharmacy_id: int
    body: dict[str, Any]


@dataclass
class World:
    pharmacists: list[tuple[str, int]]  # (username, pharmacy id), client i takes pharmacist i
    pools: dict[int, deque[Task]]  # routed prescriptions per pharmacy, taken from the left
    probes: list[Task]  # dispensed in-process to count queries: services, request, profile
    stock_items: dict[int, int]  # pharmacy id → its batch
    received: dict[int, int]  # batch → packages received
    seconds: float = 0.0


def django_setup(database_url: str, secret_key: str, var_dir: Path) -> None:
    for name in ("DUALCHANNEL_TESTING", "DEBUG", "DEMO_MODE"):
        os.environ.pop(name, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="dualchannel.config.settings",
        DATABASE_URL=database_url,
        SECRET_KEY=secret_key,
        AUDIT_HMAC_KEYS=bench_audit_keys(secret_key),
        API_DOCS_PUBLIC="1",  # the start-up probe reads openapi.json
        DUALCHANNEL_VAR_DIR=str(var_dir),
        LOG_LEVEL="WARNING",
    )
    (var_dir / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns without it
    import django

    django.setup()


def pool_sizes(levels: list[int], pharmacies: int, seconds: float, rate: float) -> list[int]:
    """Prescriptions per pharmacy for every level at ``rate`` triples/s, spread like the clients."""
    sizes = [0] * pharmacies
    for level in levels:
        per_client = rate * seconds / level
        for client in range(level):
            sizes[client % pharmacies] += per_client
    return [math.ceil(s * 1.1) + 3 for s in sizes]  # + the probes' copies


def id_number(n: int) -> str:
    """A valid 18-character resident ID number (GB 11643) of Jiang'an district, one per ``n``."""
    from datetime import date, timedelta

    from stdnum.cn import ric

    birth = date(1950, 1, 1) + timedelta(days=n // 800)
    body = f"420102{birth:%Y%m%d}{100 + n % 800:03d}"
    return body + ric.calc_check_digit(body + "0")


def fields_of(row) -> dict[str, Any]:
    """A row's stored values but its primary key: what a copy of it starts from."""
    return {
        f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields if not f.primary_key
    }


def seed(pharmacies: int, counters: int, sizes: list[int]) -> World:
    """The world of the run; prescriptions as the services make them (see the module doc)."""
    from datetime import date, timedelta
    from decimal import Decimal

    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from dualchannel.catalog.tests.factories import DrugFactory, PaymentStandardFactory
    from dualchannel.core.models import RoleGrant, User
    from dualchannel.core.roles import Role
    from dualchannel.inventory.services import stock_receive
    from dualchannel.prescriptions import services
    from dualchannel.prescriptions.models import (
        BenefitType,
        Prescription,
        PrescriptionItem,
        PrescriptionNumberSequence,
        PrescriptionStatus,
        PrescriptionTransition,
        RxCentreSubmission,
    )
    from dualchannel.registry.models import (
        DesignationStatus,
        InsuranceType,
        InsuredPerson,
        Sex,
    )
    from dualchannel.registry.tests.factories import (
        DesignationFactory,
        PharmacistFactory,
        PhysicianFactory,
        designate,
        load_seed_profiles,
        qualified_hospital,
        qualified_pharmacy,
        region,
    )
    from dualchannel.settlement.rules import benefit_rules_load

    started = time.perf_counter()
    today = timezone.localdate()
    load_seed_profiles()
    password = make_password(PASSWORD)  # one real hash, shared: 32 hashes would take 30 s

    def user(username: str, institution, role: str) -> User:
        created = User.objects.create(
            username=username, display_name=username, institution=institution, password=password
        )
        RoleGrant.objects.create(user=created, role=role)
        return created

    hospital = qualified_hospital(region_code="420102", name="武汉压测医院")
    designate(hospital)
    doctor = user("bench_doctor", hospital, Role.PHYSICIAN)
    physician = PhysicianFactory(
        user=doctor, hospital=hospital, name="压测医师", department="心内科"
    )
    DesignationFactory(institution=None, physician=physician, status=DesignationStatus.ACTIVE)
    drug = DrugFactory(
        generic_name=DRUG, is_separately_paid=False, is_anti_cancer=False, category_code="C08CA"
    )
    PaymentStandardFactory(
        drug=drug,
        specification="5mg*28片",
        unit="片",
        amount=Decimal("1.50"),
        source_text="1.50元(5mg/片)",
    )
    districts = ("420102", "420106", "420115")  # all of Wuhan: any of them may be chosen
    shops, pharmacists, stock_items, received, codes = [], [], {}, {}, {}
    for p in range(pharmacies):
        shop = qualified_pharmacy(region_code=districts[p % 3], name=f"压测大药房{p + 1:02d}店")
        designate(shop)
        shops.append(shop)
    for c in range(counters):  # pharmacist i works at pharmacy i mod pharmacies
        for p, shop in enumerate(shops):
            name = f"bench_ph{p + 1:02d}_{c + 1}"
            PharmacistFactory(user=user(name, shop, Role.PHARMACIST), pharmacy=shop, name=name)
            pharmacists.append((name, shop.pk))
    for p, shop in enumerate(shops):
        quantity = sizes[p] + (1 if p == 0 else 0)  # pharmacy 0 also dispenses the first probe
        codes[shop.pk] = [f"{PRODUCT_PREFIX}{p * 10**8 + n:013d}" for n in range(1, quantity + 1)]
        movement = stock_receive(
            actor=User.objects.get(username=f"bench_ph{p + 1:02d}_1"),
            drug_id=drug.pk,
            batch_no=f"A{p + 1:02d}2611",
            expiry_date=today + timedelta(days=365),
            quantity=quantity,
            trace_codes=codes[shop.pk],
            retail_price=Decimal("30.00"),
            specification="5mg*28片",
            idempotency_key=f"bench-receive-{p}",
        ).movements[0]
        stock_items[shop.pk] = movement.stock_item_id
        received[movement.stock_item_id] = quantity

    total = sum(sizes) + 1
    enrolment = region("420102")
    benefit_rules_load()  # the shipped rules of the demo regions: Wuhan's settle the triples
    InsuredPerson.objects.bulk_create(
        InsuredPerson(
            id_number=id_number(n),
            name=f"压测患者{n}",
            sex=Sex.MALE if int(id_number(n)[16]) % 2 else Sex.FEMALE,
            birth_date=date(1950, 1, 1) + timedelta(days=n // 800),
            phone=f"139{n:08d}",
            insurance_type=InsuranceType.EMPLOYEE,
            enrolment_region=enrolment,
            person_no=f"4201BENCH{n:010d}",
        )
        for n in range(total)
    )
    patients = list(InsuredPerson.objects.filter(person_no__startswith="4201BENCH").order_by("pk"))

    # the template: issued and routed through the services, like any prescription
    usage = {"single_dose": "5", "dose_unit": "mg", "frequency": "每日一次", "route": "口服"}
    template = services.prescription_issue(
        actor=doctor,
        patient_id_number=patients[0].id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code=DIAGNOSIS,
        items=[
            {
                "drug_id": drug.pk,
                "quantity": str(PACK),
                "unit": "片",
                "pack_size": str(PACK),
                "specification": "5mg*28片",
                **usage,
                "days": PACK,
            }
        ],
        today=today,
    )
    template = services.prescription_route(
        actor=doctor,
        prescription_id=template.pk,
        pharmacy_id=shops[0].pk,
        consent=True,
        today=today,
    )
    template_item = template.items.get()
    template_history = list(template.history.order_by("at", "pk"))
    submission = RxCentreSubmission.objects.get(prescription=template)

    # the copies: the same rows with their own patient, number, pharmacy and moments
    owners = [shops[p].pk for p in range(pharmacies) for _ in range(sizes[p])]
    with transaction.atomic():
        sequence = PrescriptionNumberSequence.objects.select_for_update().get(day=today)
        first_no = sequence.last + 1
        sequence.last += len(owners)
        sequence.save(update_fields=["last"])
        if sequence.last > 99999:
            raise SystemExit("more than 99,999 prescriptions a day: lower --rate or --seconds")
        now = timezone.now()
        rx_values = fields_of(template)
        copies = [
            Prescription(
                **rx_values
                | {
                    "prescription_no": f"CF{today:%Y%m%d}{first_no + n:05d}",
                    "patient_id": patient.pk,
                    "pharmacy_id": pharmacy_id,
                    "document_id": None,
                    "issued_at": now,
                    "consented_at": now,
                    "routed_at": now,
                }
            )
            for n, (patient, pharmacy_id) in enumerate(zip(patients[1:], owners, strict=True))
        ]
        for rx, patient in zip(copies, patients[1:], strict=True):
            rx.patient = patient
        Prescription.objects.bulk_create(copies, batch_size=2000)
        item_values = fields_of(template_item)
        items = [PrescriptionItem(**item_values | {"prescription_id": rx.pk}) for rx in copies]
        PrescriptionItem.objects.bulk_create(items, batch_size=2000)
        PrescriptionTransition.objects.bulk_create(
            [
                PrescriptionTransition(
                    prescription_id=rx.pk,
                    from_status=step.from_status,
                    to_status=step.to_status,
                    actor_id=step.actor_id,
                    reason=step.reason,
                    at=now,
                )
                for rx in copies
                for step in template_history
            ],
            batch_size=4000,
        )
        RxCentreSubmission.objects.bulk_create(
            [RxCentreSubmission(prescription_id=rx.pk, status=submission.status) for rx in copies],
            batch_size=4000,
        )
    assert all(c.status == PrescriptionStatus.ROUTED for c in copies)

    def task(prescription, item_id: int, pharmacy_id: int, code: str) -> Task:
        return Task(
            prescription.pk,
            pharmacy_id,
            {
                "identity": {
                    "certificate_type": "02",
                    "certificate_no": prescription.patient.id_number,
                },
                "lines": [
                    {
                        "item_id": item_id,
                        "stock_item_id": stock_items[pharmacy_id],
                        "packages": 1,
                        "trace_codes": [code],
                    }
                ],
            },
        )

    pools: dict[int, deque[Task]] = {shop.pk: deque() for shop in shops}
    taken = Counter()
    for rx, item in zip(copies, items, strict=True):
        code = codes[rx.pharmacy_id][taken[rx.pharmacy_id]]
        taken[rx.pharmacy_id] += 1
        pools[rx.pharmacy_id].append(task(rx, item.pk, rx.pharmacy_id, code))
    probes = [
        task(template, template_item.pk, shops[0].pk, codes[shops[0].pk][-1]),
        pools[shops[0].pk].pop(),  # a copy, to show it passes like the service-made one
        pools[shops[0].pk].pop(),  # profiled
    ]
    world = World(pharmacists, pools, probes, stock_items, received)
    world.seconds = time.perf_counter() - started
    return world


def probe_queries(world: World) -> dict[str, Any]:
    """Statements of a check, a dispense and a settle, counted once in-process
    (CaptureQueriesContext): by the services alone, and by whole requests through the
    middleware and the API; then one more triple through the requests under cProfile."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from dualchannel.core.models import ApiToken, User
    from dualchannel.prescriptions.services import counter
    from dualchannel.settlement.services import counter as settlement_counter

    username = next(name for name, shop in world.pharmacists if shop == world.probes[0].pharmacy_id)
    actor = User.objects.get(username=username)
    found: dict[str, Any] = {}
    service, request, profiled = world.probes
    identity = counter.Identity(**service.body["identity"])
    with CaptureQueriesContext(connection) as checked:
        result = counter.counter_check(
            actor=actor,
            prescription_id=service.prescription_id,
            identity=identity,
            lines=service.body["lines"],
        )
    if not result.ok:
        raise RuntimeError(f"the seeded prescription does not pass the checks: {result.refusals}")
    with CaptureQueriesContext(connection) as dispensed:
        counter.counter_dispense(
            actor=actor,
            prescription_id=service.prescription_id,
            identity=identity,
            lines=service.body["lines"],
            idempotency_key=f"probe-{uuid.uuid4()}",
        )
    with CaptureQueriesContext(connection) as settled:
        settlement_counter.settlement_settle(
            actor=actor,
            prescription_id=service.prescription_id,
            idempotency_key=f"probe-{uuid.uuid4()}",
        )
    found["service"] = (len(checked), len(dispensed), len(settled))
    _, raw = ApiToken.issue(actor)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    counts = []
    for step in triple_requests(request):
        with CaptureQueriesContext(connection) as sent:
            step(client)
        counts.append(len(sent))
    found["request"] = tuple(counts)
    found["profile"] = profile_triple(client, profiled)
    return found


def triple_requests(task: Task) -> list:
    """The three requests of a triple through Django's test client, each checking its answer."""

    def check(client) -> None:
        answer = client.post(
            check_url(task.prescription_id), task.body, content_type="application/json"
        )
        if answer.status_code != 200 or answer.json()["ok"] is not True:
            raise RuntimeError(
                f"a copied prescription does not pass the checks: {answer.content!r}"
            )

    def dispense(client) -> None:
        answer = client.post(
            dispense_url(task.prescription_id),
            {**task.body, "delivery": {"mode": "pickup"}},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        if answer.status_code != 201:
            raise RuntimeError(f"a copied prescription is not dispensed: {answer.content!r}")

    def settle(client) -> None:
        answer = client.post(
            settle_url(task.prescription_id),
            {},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        if answer.status_code != 201:
            raise RuntimeError(f"a dispensed prescription is not settled: {answer.content!r}")

    return [check, dispense, settle]


# Where a triple's time goes, by the code that spends it (cProfile's own time of each function,
# summed by the first of these path fragments its file matches); the first match wins
PROFILE_BUCKETS = (
    ("psycopg", "waiting for PostgreSQL and the driver (psycopg)"),
    ("/django/db/models/sql/", "Django compiling SQL (models/sql)"),
    ("/django/db/backends/", "Django's database layer (backends)"),
    ("/django/db/models/", "Django building querysets and model instances"),
    ("/ninja/", "the API framework (Ninja)"),
    ("/pydantic", "validation (pydantic)"),
    ("/django/", "Django: request, middleware, the rest"),
    ("/dualchannel/", "the project's own code"),
    ("site-packages", "other libraries"),
)


def profile_triple(client, task: Task, lines: int = 12) -> str:
    """cProfile of one triple through the requests: its time by the code that spent it
    (``PROFILE_BUCKETS``), then the functions with the most time of their own."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for step in triple_requests(task):
        step(client)
    profiler.disable()
    stats = pstats.Stats(profiler)
    spent: dict[str, float] = {}
    calls = 0
    for (filename, _, _), (_, primitive, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        label = next(
            (name for part, name in PROFILE_BUCKETS if part in filename),
            "Python's standard library and built-ins",
        )
        spent[label] = spent.get(label, 0.0) + own
        calls += primitive
    total = sum(spent.values())
    rows = [["where (own time of the functions)", "ms", "share"]]
    rows += [
        [label, f"{own * 1000:.1f}", f"{own / total:.0%}"]
        for label, own in sorted(spent.items(), key=lambda item: -item[1])
    ]
    rows.append(["the triple, under cProfile", f"{total * 1000:.1f}", f"{calls:,} calls"])
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(lines)
    text = out.getvalue()
    top = text[text.index("   ncalls") :] if "   ncalls" in text else text
    by_code = "\n".join(f"  {line}" for line in table(rows).splitlines())  # under the heading
    return f"{by_code}\n  the functions with the most time of their own:\n{top}"


def issue_tokens(world: World, clients: int) -> list[str]:
    """Bearer tokens of pharmacists 2 … ``clients`` (the first logs in through the API)."""
    from dualchannel.core.models import ApiToken, User

    users = User.objects.in_bulk(
        [name for name, _ in world.pharmacists[1:clients]], field_name="username"
    )
    return [ApiToken.issue(users[name])[1] for name, _ in world.pharmacists[1:clients]]


# --- the load ----------------------------------------------------------------------------------


@dataclass
class LevelResult:
    clients: int
    seconds: float = 0.0
    triples: int = 0
    check_ms: list[float] = field(default_factory=list)
    dispense_ms: list[float] = field(default_factory=list)
    settle_ms: list[float] = field(default_factory=list)
    triple_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    dispensed: list[int] = field(default_factory=list)  # prescriptions answered 201
    settled: list[int] = field(default_factory=list)  # settlements answered 201
    replay: tuple | None = None  # a dispense to replay: client, prescription, key, body, answer
    ran_out: int = 0  # clients whose pharmacy had no prescription left
    backends: list[tuple[int, int]] = field(default_factory=list)  # (active, waiting on a lock)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds: server, database, clients


def login(base_url: str, username: str) -> str:
    import httpx

    answer = httpx.post(
        f"{base_url}/api/v1/auth/token",
        json={"username": username, "password": PASSWORD},
        timeout=REQUEST_TIMEOUT_S,
    )
    answer.raise_for_status()
    return answer.json()["token"]


def error_key(phase: str, answer) -> str:
    try:
        code = answer.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = ""
    return f"{phase} {answer.status_code} {code}".rstrip()


def check_url(prescription_id: int) -> str:
    return f"/api/v1/prescriptions/{prescription_id}/counter/check"


def dispense_url(prescription_id: int) -> str:
    return f"/api/v1/prescriptions/{prescription_id}/counter/dispense"


def settle_url(prescription_id: int) -> str:
    return f"/api/v1/settlement/prescriptions/{prescription_id}/settle"


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class Http:
    """One client of the load: each request on a new connection (gunicorn's sync workers close
    it after each answer, as they do behind a proxy), written in one ``sendall`` and its answer
    read by the standard library's ``http.client.HTTPResponse``. About a third of httpx's CPU
    per request (the load generator shares the server's cores); headers and body in one segment
    (``http.client``'s own ``request`` sends them apart, which cost ~15 ms a request in waits
    on this loopback)."""

    def __init__(self, base_url: str, token: str):
        address = urlparse(base_url)
        self.address = (address.hostname, address.port)
        self.head = (
            f"Host: {address.netloc}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nAccept: */*\r\n"
            "User-Agent: dualchannel-counter-load\r\nConnection: close\r\n"
        )

    def post(self, path: str, body: dict, key: str | None = None) -> Answer:
        content = json.dumps(body).encode()
        extra = f"Idempotency-Key: {key}\r\n" if key else ""
        request = (
            f"POST {path} HTTP/1.1\r\n{self.head}{extra}Content-Length: {len(content)}\r\n\r\n"
        ).encode() + content
        with socket.create_connection(self.address, timeout=REQUEST_TIMEOUT_S) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            response = http.client.HTTPResponse(sock)
            response.begin()
            return Answer(response.status, response.read())


def run_level(
    base_url: str, tokens: list[str], world: World, clients: int, seconds: float, sampler
) -> LevelResult:
    result = LevelResult(clients)
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    deadline: list[float] = []

    def client(n: int) -> None:
        pool = world.pools[world.pharmacists[n][1]]
        check_ms, dispense_ms, settle_ms, triple_ms = [], [], [], []
        dispensed, settled = [], []
        errors: Counter = Counter()
        replay = None
        ran_out = 0
        http = Http(base_url, tokens[n])
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            try:
                task = pool.popleft()  # atomic: counters of one pharmacy share its pool
            except IndexError:
                ran_out = 1
                break
            phase = "check"
            try:
                started = time.perf_counter()
                answer = http.post(check_url(task.prescription_id), task.body)
                checked = time.perf_counter()
                check_ms.append((checked - started) * 1000)
                if answer.status_code != 200 or answer.json().get("ok") is not True:
                    errors[error_key(phase, answer)] += 1
                    continue
                phase = "dispense"
                key = str(uuid.uuid4())
                body = {**task.body, "delivery": {"mode": "pickup"}}
                answer = http.post(dispense_url(task.prescription_id), body, key)
                done = time.perf_counter()
                dispense_ms.append((done - checked) * 1000)
                if answer.status_code != 201:
                    errors[error_key(phase, answer)] += 1
                    continue
                dispensed.append(task.prescription_id)
                replay = replay or (n, task.prescription_id, key, body, answer.json()["id"])
                phase = "settle"
                answer = http.post(settle_url(task.prescription_id), {}, str(uuid.uuid4()))
                finished = time.perf_counter()
                settle_ms.append((finished - done) * 1000)
                if answer.status_code != 201:
                    errors[error_key(phase, answer)] += 1
                    continue
                triple_ms.append((finished - started) * 1000)
                settled.append(answer.json()["id"])
            except Exception as exc:  # a transport error or a garbled answer: count it
                errors[f"{phase} {type(exc).__name__}"] += 1
        with lock:
            result.check_ms += check_ms
            result.dispense_ms += dispense_ms
            result.settle_ms += settle_ms
            result.triple_ms += triple_ms
            result.dispensed += dispensed
            result.settled += settled
            result.errors += errors
            result.ran_out += ran_out
            result.replay = result.replay or replay

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    deadline.append(time.perf_counter() + seconds)
    started = time.perf_counter()
    with sampler.sampling() as samples:
        barrier.wait()
        for thread in threads:
            thread.join(timeout=seconds + 2 * REQUEST_TIMEOUT_S + 5)
    result.seconds = time.perf_counter() - started
    result.triples = len(result.triple_ms)
    result.backends = samples
    result.cpu = sampler.cpu
    return result


class BackendSampler:
    """Samples pg_stat_activity of the database every 50 ms: how many of its backends are
    running a statement, and how many of those wait for a lock (a row another one holds). And
    the CPU seconds the level took (Linux's /proc): the server (gunicorn's master and workers),
    PostgreSQL (all its processes) and the load generator (this process)."""

    def __init__(self, server: Server, db: str, server_pid: int):
        self.server, self.db, self.server_pid = server, db, server_pid
        self.cpu: dict[str, float] = {}

    @contextmanager
    def sampling(self) -> Iterator[list[tuple[int, int]]]:
        samples: list[tuple[int, int]] = []
        stop = threading.Event()

        def sample() -> None:
            with self.server.connect() as conn:
                while not stop.wait(0.05):
                    samples.append(
                        conn.execute(
                            "SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock') "
                            "FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                            "AND pid <> pg_backend_pid()",
                            [self.db],
                        ).fetchone()
                    )

        thread = threading.Thread(target=sample, daemon=True)
        before = self.cpu_now()
        thread.start()
        try:
            yield samples
        finally:
            stop.set()
            thread.join()
            after = self.cpu_now()
            self.cpu = {
                part: sum(after[part].values())
                - sum(before[part].get(pid, 0.0) for pid in after[part])
                for part in after
            }

    def cpu_now(self) -> dict[str, dict[int, float]]:
        """CPU seconds so far of each process: the server's, PostgreSQL's, and this one."""
        found: dict[str, dict[int, float]] = {"server": {}, "database": {}, "clients": {}}
        found["clients"][os.getpid()] = time.process_time()
        proc = Path("/proc")
        if not (proc / "self" / "stat").exists():
            return found
        tick = os.sysconf("SC_CLK_TCK")
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            with suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                name = stat[stat.index("(") + 1 : stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2 :].split()
                parent, cpu = int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
                pid = int(entry.name)
                if pid == self.server_pid or parent == self.server_pid:
                    found["server"][pid] = cpu
                elif name == "postgres":
                    found["database"][pid] = cpu
        return found


def warm_up(base_url: str, tokens: list[str], world: World, workers: int) -> None:
    """Checks only (they write nothing), so that every worker has answered before timing."""
    import httpx

    def hit(n: int) -> None:
        k = n % len(tokens)
        task = world.pools[world.pharmacists[k][1]][0]  # routed to the pharmacist's pharmacy
        headers = {"Authorization": f"Bearer {tokens[k]}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as http:
            http.post(check_url(task.prescription_id), json=task.body).raise_for_status()

    with ThreadPoolExecutor(max_workers=2 * workers) as hits:
        list(hits.map(hit, range(2 * workers)))


def deliberate(
    base_url: str, tokens: list[str], results: list[LevelResult]
) -> list[tuple[bool, str]]:
    """Replay one dispense with its key (the same dispensing) and send it with a new key."""
    import httpx

    found = next((r.replay for r in results if r.replay), None)
    if found is None:
        return [(False, "no dispense to replay")]
    client, prescription_id, key, body, dispensing_id = found
    headers = {"Authorization": f"Bearer {tokens[client]}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as http:
        url = dispense_url(prescription_id)
        replayed = http.post(url, json=body, headers={"Idempotency-Key": key})
        again = http.post(url, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    same = replayed.status_code == 200 and replayed.json().get("id") == dispensing_id
    refused = error_key("dispense", again)
    return [
        (
            same,
            "a dispense replayed with its Idempotency-Key answers the same dispensing "
            f"({replayed.status_code})",
        ),
        (
            again.is_client_error and refused.endswith(" counter.rx_used"),
            f"the same prescription with a new key is refused ({refused})",
        ),
    ]


# --- the outcome -------------------------------------------------------------------------------


def verify(world: World, results: list[LevelResult]) -> list[tuple[bool, str]]:
    from django.db.models import Count, Min

    from dualchannel.core.audit import verify_chain
    from dualchannel.inventory.models import MovementTraceCode, StockItem, StockMovement, TraceCode
    from dualchannel.prescriptions.models import Dispensing, DispensingLine

    answered = [pk for r in results for pk in r.dispensed] + [
        p.prescription_id for p in world.probes
    ]
    dispensed = list(Dispensing.objects.values_list("prescription_id", flat=True))
    checks = [
        (
            len(dispensed) == len(answered) and set(dispensed) == set(answered),
            f"dispensings == successful dispense answers ({len(dispensed)} rows, "
            f"{len(answered) - 2} answered 201 + 2 in-process probes)",
        )
    ]
    sold = Counter(
        DispensingLine.objects.values_list("stock_item_id", flat=True).order_by()
    )  # one package per line
    items = dict(StockItem.objects.values_list("pk", "quantity"))
    lowest = StockMovement.objects.aggregate(low=Min("quantity_after"))["low"]
    balanced = all(items[pk] == world.received[pk] - sold[pk] for pk in world.received)
    checks.append(
        (
            min(items.values()) >= 0 and (lowest is None or lowest >= 0) and balanced,
            f"stock never negative (lowest after a movement: {lowest}) and every batch "
            "== received − dispensed",
        )
    )
    twice = (
        MovementTraceCode.objects.filter(movement__kind="sale")
        .values("trace_code_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    scanned = [
        c for codes in DispensingLine.objects.values_list("trace_codes", flat=True) for c in codes
    ]
    sold_codes = TraceCode.objects.filter(status="sold").count()
    checks.append(
        (
            twice == 0 and len(scanned) == len(set(scanned)) == sold_codes,
            f"no traceability code sold twice ({sold_codes} sold, {len(scanned)} scanned)",
        )
    )
    checks += settlement_checks(world, results)
    breaks = verify_chain()
    checks.append((not breaks, "audit hash chains intact" + (f": {breaks[0]}" if breaks else "")))
    return checks


def settlement_checks(world: World, results: list[LevelResult]) -> list[tuple[bool, str]]:
    """One settlement per settle answer; every person's accumulators == their settlements."""
    from django.db.models import Sum

    from dualchannel.settlement.models import Accumulator, Settlement, SettlementStatus

    answered = {pk for r in results for pk in r.settled}
    settled = Settlement.objects.filter(status=SettlementStatus.SETTLED)
    rows = set(settled.values_list("pk", flat=True))
    probes = len(rows - answered)
    checks = [
        (
            answered <= rows and probes == 3,
            f"settlements == successful settle answers ({len(rows)} rows, {len(answered)} "
            f"answered 201 + {probes} in-process probes)",
        )
    ]
    parts = ("deductible", "fund", "critical_illness", "assistance", "commercial")
    paid = {
        (row["person_id"], part): row[part]
        for row in settled.values("person_id").annotate(**{p: Sum(p) for p in parts})
        for part in parts
    }
    kept = {
        (row["person_id"], row["kind"]): row["amount"]
        for row in Accumulator.objects.filter(kind__in=parts)
        .values("person_id", "kind")
        .annotate(amount=Sum("amount"))
    }
    wrong = [key for key, amount in paid.items() if kept.get(key, 0) != amount]
    wrong += [key for key, amount in kept.items() if amount and key not in paid]
    fund = sum(v for (_, part), v in paid.items() if part == "fund")
    counted = sum(paid.values())
    checks.append(
        (
            not wrong and counted > 0,
            f"accumulators == the sum of each person's settlements ({len({p for p, _ in paid})} "
            f"persons; deductible, fund {fund} 元, critical illness, assistance, commercial; "
            f"{len(wrong)} differ)",
        )
    )
    return checks


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(c.rjust(w) if n else c.ljust(w) for c, w in zip(row, widths, strict=True))
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def backends(samples: list[tuple[int, int]]) -> str:
    """Mean backends running a statement / of them waiting for a lock, over the samples."""
    if not samples:
        return "—"
    busy = sum(a for a, _ in samples) / len(samples)
    waiting = sum(w for _, w in samples) / len(samples)
    return f"{busy:.1f}/{waiting:.1f}"


def report(results: list[LevelResult], pharmacies: int) -> str:
    rows = [
        [
            "clients",
            "pharmacies",
            "triples/s",
            "check p50/p99 ms",
            "dispense p50/p99 ms",
            "settle p50/p99 ms",
            "triple p50/p99 ms",
            "busy/lock-wait backends",
            "errors",
        ]
    ]
    for r in results:
        errors = sum(r.errors.values())
        rows.append(
            [
                str(r.clients),
                str(min(r.clients, pharmacies)),
                f"{r.triples / r.seconds:.1f}",
                f"{percentile(r.check_ms, 50):.0f}/{percentile(r.check_ms, 99):.0f}",
                f"{percentile(r.dispense_ms, 50):.0f}/{percentile(r.dispense_ms, 99):.0f}",
                f"{percentile(r.settle_ms, 50):.0f}/{percentile(r.settle_ms, 99):.0f}",
                f"{percentile(r.triple_ms, 50):.0f}/{percentile(r.triple_ms, 99):.0f}",
                backends(r.backends),
                str(errors) + (" (ran out)" if r.ran_out else ""),
            ]
        )
    out = [table(rows)]
    for r in results:
        for key, count in sorted(r.errors.items()):
            out.append(f"  {r.clients} clients: {count} × {key}")
    cores = os.cpu_count() or 1
    for r in results:
        if r.cpu and r.triples:
            each = {part: seconds * 1000 / r.triples for part, seconds in r.cpu.items()}
            busy = sum(r.cpu.values()) / r.seconds
            out.append(
                f"  {r.clients} clients, CPU per triple: server {each['server']:.1f} ms, "
                f"PostgreSQL {each['database']:.1f} ms, load generator {each['clients']:.1f} ms; "
                f"{busy:.2f} of the {cores} cores busy"
            )
    out.append(
        "triple = check + dispense + settle as the client saw them; busy/lock-wait = mean "
        "backends of the database running a statement / of them waiting for a row lock "
        "(pg_stat_activity, 20/s)"
    )
    return "\n".join(out)


# The issue's targets on 2 cores with the load generator on the same machine [issue 15]: printed
# as met or not, never failing the run (a slower machine is not a defect).
TARGET_RATE_32 = 60.0  # triples/s at 32 clients
TARGET_P99_MS = {1: 60.0, 32: 1000.0}
TARGET_STATEMENTS = (12, 30, 30)  # per request: check, dispense, settle


def targets(results: list[LevelResult], bench: dict, queries: dict) -> str:
    lines = ["targets (issue 15; reported, not asserted):"]
    for r in results:
        rate, p99 = r.triples / r.seconds, percentile(r.triple_ms, 99)
        if r.clients == 32:
            met = "met" if rate >= TARGET_RATE_32 else "not met"
            lines.append(
                f"  {met:7}  ≥ {TARGET_RATE_32:.0f} triples/s at 32 clients: {rate:.1f} "
                f"({rate / bench['tps'] * 100:.1f} % of pgbench's TPS)"
            )
        if r.clients in TARGET_P99_MS:
            limit = TARGET_P99_MS[r.clients]
            met = "met" if p99 <= limit else "not met"
            lines.append(f"  {met:7}  triple p99 ≤ {limit:.0f} ms at {r.clients}: {p99:.0f} ms")
    for name, limit, sent in zip(
        ("check", "dispense", "settle"), TARGET_STATEMENTS, queries["request"], strict=True
    ):
        met = "met" if sent <= limit else "not met"
        lines.append(f"  {met:7}  ≤ {limit} statements for {name}: {sent}")
    return "\n".join(lines)


# --- pgbench -----------------------------------------------------------------------------------


def pgbench(server: Server, db: str, scale: int, clients: int, jobs: int, seconds: int) -> dict:
    base = ["pgbench", "-h", server.host, "-p", str(server.port), "-U", server.user]
    subprocess.run([*base, "-i", "-q", "-s", str(scale), db], check=True, capture_output=True)
    done = subprocess.run(
        [*base, "-c", str(clients), "-j", str(jobs), "-T", str(seconds), db],
        check=True,
        capture_output=True,
        text=True,
    )
    tps = re.search(r"^tps = ([\d.]+) \(without initial connection time\)", done.stdout, re.M)
    latency = re.search(r"^latency average = ([\d.]+) ms", done.stdout, re.M)
    if tps is None:
        raise RuntimeError(f"no tps in pgbench's output:\n{done.stdout}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1)) if latency else None}


# --- the run -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="load per level (15)")
    parser.add_argument("--levels", default="1,8,32", help="concurrent clients (1,8,32)")
    parser.add_argument("--pharmacies", type=int, default=16, help="pharmacies (16)")
    parser.add_argument("--counters", type=int, default=2, help="pharmacists per pharmacy (2)")
    parser.add_argument("--workers", type=int, default=2 * cores + 1, help="gunicorn workers")
    parser.add_argument(
        "--conn-max-age", type=int, default=60, help="DB_CONN_MAX_AGE of the server (60)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=60.0,
        help="triples/s the seeded prescriptions suffice for (60)",
    )
    parser.add_argument(
        "--warm-seconds",
        type=float,
        default=3.0,
        help="untimed triples before the levels, so every worker has prepared its statements (3)",
    )
    parser.add_argument("--pgbench-seconds", type=int, help="pgbench -T (default: --seconds)")
    parser.add_argument("--pgbench-scale", type=int, default=10, help="pgbench -i -s (10)")
    parser.add_argument("--pgbench-clients", type=int, default=8, help="pgbench -c (8)")
    parser.add_argument("--pgbench-jobs", type=int, default=2, help="pgbench -j (2)")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",") if n.strip()]
    if not levels or min(levels) < 1:
        parser.error("--levels: positive numbers, e.g. 1,8,32")
    if max(levels) > args.pharmacies * args.counters:
        parser.error(f"{max(levels)} clients need {max(levels)} pharmacists: raise --counters")
    if shutil.which("pgbench") is None:
        print("no pgbench: apt-get install postgresql-client", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on kill too
    sys.stdout.reconfigure(line_buffering=True)  # progress as it happens, also through make

    server = pg_server()
    with server.connect() as admin:
        version = admin.execute("SHOW server_version").fetchone()[0]
    import gunicorn as gunicorn_package

    print(
        "counter load: check → dispense → settle over HTTP "
        "(http.client threads → gunicorn → PostgreSQL)"
    )
    print(
        f"machine: {cores} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"PostgreSQL {version} at {server.host}:{server.port}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    tag = f"{int(time.time())}_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="dualchannel-load-"))
    secret_key = secrets.token_urlsafe(40)
    ok = True
    try:
        with throwaway_database(server, f"dualchannel_load_{tag}") as db:
            started = time.perf_counter()
            django_setup(server.url(db), secret_key, workdir / "var")
            from django.core.management import call_command
            from django.db import connections

            call_command("migrate", verbosity=0)
            migrated = time.perf_counter() - started
            warm_clients = min(2 * args.workers, args.pharmacies * args.counters)
            sizes = pool_sizes(levels, args.pharmacies, args.seconds, args.rate)
            if args.warm_seconds > 0:
                warm = pool_sizes([warm_clients], args.pharmacies, args.warm_seconds, args.rate)
                sizes = [a + b for a, b in zip(sizes, warm, strict=True)]
            world = seed(args.pharmacies, args.counters, sizes)
            queries = probe_queries(world)
            issued = issue_tokens(world, max(*levels, warm_clients))
            connections.close_all()
            print(
                f"database: migrated in {migrated:.0f} s; seeded in {world.seconds:.0f} s "
                f"{sum(sizes) + 1} routed prescriptions, one patient each "
                f"(sized for {args.rate:.0f} triples/s), over {args.pharmacies} pharmacies × "
                f"{args.counters} pharmacists"
            )
            print(
                "  1 issued and routed through the services; the rest bulk copies of its rows "
                "(own patient, number, pharmacy; no signed PDF of their own)"
            )
            service, request = queries["service"], queries["request"]
            print(
                "SQL statements, counted once in-process (CaptureQueriesContext), service / "
                f"request: check {service[0]} / {request[0]}, dispense {service[1]} / "
                f"{request[1]}, settle {service[2]} / {request[2]}"
            )
            print("where one triple's time goes (cProfile through the three requests):")
            print(queries["profile"])
            env = server_env(server.url(db), secret_key, workdir / "var", args.conn_max_age)
            with gunicorn(env, args.workers, workdir / "gunicorn.log") as (base_url, server_pid):
                print(
                    f"server: gunicorn {gunicorn_package.__version__}, {args.workers} sync "
                    f"workers, deploy/gunicorn.conf.py (--preload, gc.freeze before the fork), "
                    f"DB_CONN_MAX_AGE={args.conn_max_age}, {base_url}"
                )
                started = time.perf_counter()
                tokens = [login(base_url, world.pharmacists[0][0]), *issued]
                logged_in = time.perf_counter() - started
                warm_up(base_url, tokens, world, args.workers)
                print(
                    f"tokens: {world.pharmacists[0][0]} logged in with POST /api/v1/auth/token "
                    f"in {logged_in:.1f} s (PBKDF2); {len(issued)} more issued in the database "
                    "(ApiToken.issue, as that endpoint does) to spare their password hashes"
                )
                print(
                    f"\nload: {args.seconds:g} s per level, each client: check, dispense and "
                    "settle its pharmacy's next prescription, one box with its traceability code"
                )
                results = []
                sampler = BackendSampler(server, db, server_pid)
                warmed = []
                if args.warm_seconds > 0:
                    warmed.append(
                        run_level(base_url, tokens, world, warm_clients, args.warm_seconds, sampler)
                    )
                    print(
                        f"warm-up (untimed, counted in the checks below): {warmed[0].triples} "
                        f"triples from {warm_clients} clients in {args.warm_seconds:g} s, so that "
                        "every worker has run each statement of a triple the five times after "
                        "which psycopg prepares it on its connection (DB_PREPARE_THRESHOLD): "
                        "a running server's steady state"
                        + (f"; errors: {dict(warmed[0].errors)}" if warmed[0].errors else "")
                    )
                for level in levels:
                    results.append(run_level(base_url, tokens, world, level, args.seconds, sampler))
                print(report(results, args.pharmacies))
                extra = deliberate(base_url, tokens, results)
            server_log = tail(workdir / "gunicorn.log", 15)
            checks = extra + verify(world, warmed + results)
            connections.close_all()

        pgbench_seconds = args.pgbench_seconds or max(1, round(args.seconds))
        with throwaway_database(server, f"dualchannel_pgbench_{tag}") as db:
            bench = pgbench(
                server,
                db,
                args.pgbench_scale,
                args.pgbench_clients,
                args.pgbench_jobs,
                pgbench_seconds,
            )
        best = max(r.triples / r.seconds for r in results)
        print(
            f"\npgbench TPC-B-like on the same server (scale {args.pgbench_scale}, "
            f"{args.pgbench_clients} clients, {args.pgbench_jobs} threads, {pgbench_seconds} s): "
            f"{bench['tps']:.0f} TPS, latency average {bench['latency_ms']:.1f} ms"
        )
        print(
            f"  best counter rate {best:.1f} triples/s = {best / bench['tps'] * 100:.1f} % of "
            f"pgbench's transactions (a triple is {sum(queries['request'])} statements, "
            "a TPC-B transaction 7 with BEGIN and END)"
        )
        print(targets(results, bench, queries))
        print(f"  load average {os.getloadavg()[0]:.1f} at the end ({cores} cores)")
        print()
        for passed, text in checks:
            print(f"{'PASS' if passed else 'FAIL'}  {text}")
        unexpected = sum(sum(r.errors.values()) for r in warmed + results)
        ran_out = [r.clients for r in warmed + results if r.ran_out]
        if unexpected:
            print(f"FAIL  {unexpected} requests failed (listed under the table)")
        if ran_out:
            print(f"FAIL  ran out of seeded prescriptions at {ran_out} clients: raise --rate")
        ok = all(passed for passed, _ in checks) and not unexpected and not ran_out
        if not ok:
            print(f"\nserver log, last lines:\n{server_log}", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
