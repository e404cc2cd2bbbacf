"""``benchmarks/analytics_load.py`` builds a synthetic Shandong province on a throw-away
PostgreSQL database (settlements and lines by COPY), takes them into the rollups, times the
monthly table, the statistics queries and the statistics page's selectors cold and warm beside
DuckDB on the same data in Parquet, and checks the answers: detail as generated, the monthly table
against the generator's designations and a direct count, the rollups against detail to the fen,
PostgreSQL against DuckDB."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

pytestmark = pytest.mark.postgres  # skipped on SQLite (root conftest)

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "analytics_load.py"
PASSES = [
    "PASS  detail loaded as generated (20,200 lines, ",  # 1 % more added for the incremental
    "PASS  rollup == detail to the fen (analytics.rollups.rollup_differences: ",
    "PASS  rollup == detail to the fen per month × county in plain SQL (",
    "PASS  the monthly table's pharmacy counts equal the generator's designations (",
    "PASS  the monthly table's drugs column equals a direct count (",
    "PASS  PostgreSQL and DuckDB give the same answers to the fen (",
]
QUERIES = [  # each from the rollups and from detail, DuckDB beside
    *(
        f"{query} ({source})"
        for query in (
            "county × month, city, 12 months",
            "insurance type × month, province",
            "top 20 drugs, province, last month",
            "institutions, city, last month",
            "patients served × month, city",
        )
        for source in ("rollup", "detail")
    ),
    # the statistics page's selectors (analytics.stats), DuckDB beside
    "prescriptions issued and circulated × month, city",
    "key figures, province, 12 months",
    "trend, city, 12 months",
    "by drug, province, 12 months",
    "by institution, city, 12 months",
    "by county, province, 12 months",
    "by insurance type, province, 12 months",
    "by physician, city, 12 months",  # the chronic-disease patients' prescriptions
    "hospital evaluation, city, 12 months",
]


def test_the_analytics_bench_runs_on_a_small_province_and_every_check_passes():
    # given the script on a tiny province: 20,000 lines, 200 institutions, one warm run
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--lines", "20000", "--institutions", "200", "--repeat", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )

    # then it finished cleanly, printed a timed row per query with DuckDB beside, and every check
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    lines = out.splitlines()
    rule = next(n for n, line in enumerate(lines) if line.startswith("-------"))
    rows = [line.strip() for line in lines[rule + 1 :] if "≤" in line]
    assert rows[0].startswith("monthly table 370100 (build_table)"), out
    for query in QUERIES:
        row = next((r for r in rows if r.startswith(query)), None)
        assert row is not None, f"{query!r} not timed:\n{out}"
        cells = row[len(query) :].split()
        # PG warm and DuckDB timed (a number, not "—"; a tiny province's rollup read can print
        # 0.000 at three decimals)
        assert float(cells[1]) >= 0 and float(cells[2]) >= 0, row
        assert cells[-1] in {"MET", "NOT"} or cells[-2:] == ["NOT", "MET"], row  # reported
    for line in PASSES:
        assert line in out, out
    assert "FAIL" not in out
    assert "settlements/s" in out  # the refresh's throughput, from scratch and incremental
    # the prescriptions taken in with them, by the circulation rollup the page reads
    taken = re.search(r"with them ([\d,]+) prescriptions as issued, ([\d,]+) as routed", out)
    assert taken and int(taken.group(1).replace(",", "")) > 0, out
    assert "circulation (prescriptions issued, routed; dispensings) by month × county" in out


def test_a_kept_province_is_timed_again_without_loading_it():
    # given a --keep run on a tiny province, which leaves its database and world in place
    small = ("--lines", "5000", "--institutions", "100", "--repeat", "1")
    kept = subprocess.run(
        [sys.executable, str(SCRIPT), *small, "--keep"],
        capture_output=True,
        text=True,
        timeout=400,
    )
    found = re.search(r"^database: (dualchannel_analytics_\w+),", kept.stdout, re.M)
    name = found.group(1) if found else "-"  # dropped afterwards, also when the run failed
    state = Path(tempfile.gettempdir()) / f"{name}.province.pickle"
    try:
        assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr[-3000:]
        assert state.exists()
        # when the queries are timed again on it
        again = subprocess.run(
            [sys.executable, str(SCRIPT), "--repeat", "1", "--reuse", name],
            capture_output=True,
            text=True,
            timeout=400,
        )
        # then nothing was loaded, the refresh found nothing left to take in, and every check
        # passes on the kept data
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert f"database: {name}, reused as a --keep run left it" in again.stdout
        assert "settlements/s" not in again.stdout
        taken = "0 settlements, 0 prescriptions as issued, 0 as routed, 0 dispensings)"
        assert taken in again.stdout, again.stdout
        for line in PASSES:  # the counts differ with the size
            assert line.split(" (")[0] + " (" in again.stdout, again.stdout
        assert "FAIL" not in again.stdout
    finally:
        state.unlink(missing_ok=True)
        with psycopg.connect(_admin_url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_url() -> str:
    """The server of the test database (``DATABASE_URL``), its ``postgres`` database."""
    db = settings.DATABASES["default"]
    return (
        f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} "
        f"user={db['USER'] or 'postgres'} dbname=postgres"
    )
