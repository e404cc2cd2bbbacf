"""``benchmarks/counter_load.py`` drives check → dispense → settle over HTTP on a throw-away
PostgreSQL database, runs pgbench beside it, and checks the outcome: every 201 is one dispensing
or one settlement, no batch goes below zero, no traceability code is sold twice, accumulators
equal the settlements, the audit chains hold; it prints the statements per request, a profile of
one triple and the issue's targets."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres  # skipped on SQLite (root conftest)

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "counter_load.py"
PASSES = [
    "PASS  a dispense replayed with its Idempotency-Key answers the same dispensing",
    "PASS  the same prescription with a new key is refused (dispense 400 counter.rx_used)",
    "PASS  dispensings == successful dispense answers",
    "PASS  stock never negative",
    "PASS  no traceability code sold twice",
    "PASS  settlements == successful settle answers",
    "PASS  accumulators == the sum of each person's settlements",
    "PASS  audit hash chains intact",
]


@pytest.mark.skipif(shutil.which("pgbench") is None, reason="needs pgbench (postgresql-client)")
def test_the_counter_load_runs_at_two_levels_and_every_check_passes():
    # given the script on a tiny configuration: two levels of two seconds, two pharmacies
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--seconds", "2", "--levels", "1,4", "--pharmacies", "2"),
            *("--rate", "60", "--pgbench-scale", "1", "--warm-seconds", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=170,
    )

    # then it finished cleanly and printed a row per level, pgbench's TPS and every check
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    lines = out.splitlines()
    rule = next(n for n, line in enumerate(lines) if line.startswith("-------"))
    rows = [line.split() for line in lines[rule + 1 : rule + 3]]
    assert [row[0] for row in rows] == ["1", "4"], out  # clients
    assert all(float(row[2]) > 0 for row in rows), out  # triples/s
    assert all(row[-1] == "0" for row in rows), out  # no failed request
    assert "TPS" in out and "pgbench TPC-B-like" in out
    assert "warm-up (untimed, counted in the checks below)" in out
    assert "4 clients, CPU per triple: server" in out and "load generator" in out
    for line in PASSES:
        assert line in out, out
    assert "FAIL" not in out
    assert "settle " in out and "ncalls" in out  # statements per request, where the time goes
    assert "Django compiling SQL (models/sql)" in out and "the triple, under cProfile" in out
    assert "statements for dispense:" in out  # the targets, reported
