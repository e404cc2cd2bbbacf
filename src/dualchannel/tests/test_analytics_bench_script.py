"""``benchmarks/analytics_load.py`` builds a synthetic Shandong province on a throw-away
PostgreSQL database (settlements and lines by COPY), takes them into the rollups, times the
monthly table, the statistics queries and the statistics page's selectors cold and warm beside
DuckDB on the same data in Parquet, and checks the answers: detail as generated, the monthly table
against the generator's designations and a direct count, the rollups against detail to the fen,
PostgreSQL against DuckDB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
    "key figures, province, 12 months",
    "trend, city, 12 months",
    "by drug, province, 12 months",
    "by institution, city, 12 months",
    "by county, province, 12 months",
    "by insurance type, province, 12 months",
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
        assert float(cells[1]) > 0 and float(cells[2]) > 0, row  # PG warm, DuckDB
        assert cells[-1] in {"MET", "NOT"} or cells[-2:] == ["NOT", "MET"], row  # reported
    for line in PASSES:
        assert line in out, out
    assert "FAIL" not in out
    assert "settlements/s" in out  # the refresh's throughput, from scratch and incremental
