"""``benchmarks/public_query.py`` serves the public drug and pharmacy search with gunicorn on a
throw-away demo database with extra pharmacies and checks what concurrent clients get: answers
where expected, no personal data, the selector's own answer, page 2 after page 1."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "public_query.py"
PASSES = [
    "PASS  every query kind answered and listed institutions",
    "PASS  no personal data",
    "PASS  the same institutions in the same order over HTTP as a direct "
    "registry.selectors.public_institutions call",
    "PASS  page 2 continues page 1 (no repeat, no gap)",
    "PASS  no failed request (0: none)",
]
KINDS = ["drug name", "pinyin", "district", "drug+district", "page 2", "whole page"]


def test_the_public_query_load_runs_briefly_and_every_check_passes():
    # given the script on a tiny configuration: 50 pharmacies, 2 clients, one second, no warm-up
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--pharmacies", "50", "--clients", "2", "--seconds", "1", "--warm-rounds", "0"),
        ],
        capture_output=True,
        text=True,
        timeout=170,
    )

    # then it finished cleanly and printed a row per query kind, the profile and every check
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    lines = out.splitlines()
    rule = next(n for n, line in enumerate(lines) if line.startswith("-------"))
    rows = [line.rsplit(None, 6) for line in lines[rule + 1 : rule + 1 + len(KINDS)]]
    assert [row[0].strip() for row in rows] == KINDS, out
    every = lines[rule + 1 + len(KINDS)].split()
    assert every[0] == "all" and int(every[1]) > 0, out  # requests (a slow machine: few)
    assert all(int(row[6].split("/")[0]) > 0 for row in rows), out  # statements per request
    assert "where the time goes: cProfile" in out
    for line in PASSES:
        assert line in out, out
    if shutil.which("wrk"):  # the compiled load generator's pass, where it is installed
        assert "the same load from wrk" in out and "PASS  no failed request under wrk (0 " in out
    assert "FAIL" not in out
