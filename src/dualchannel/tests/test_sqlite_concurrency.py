"""The zero-set-up SQLite default holds concurrent writers: eight officers writing at once through
the WSGI app get no 500 ("database is locked"), and every write is there afterwards.

The writers run in a subprocess (``sqlite_writers.py``) on a fresh file database, since the test
database here is in-memory SQLite, which one process shares through one cache and one lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

SCRIPT = Path(__file__).with_name("sqlite_writers.py")
SRC = Path(__file__).resolve().parents[2]
WRITERS, ROUNDS = 8, 5


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite default only")
def test_eight_officers_writing_at_once_on_file_sqlite_get_no_server_error(tmp_path):
    # given a fresh file database (migrated by the script) and eight officers with tokens
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'writers.sqlite3'}",
        "DUALCHANNEL_TESTING": "1",
        "PYTHONPATH": str(SRC),
        "SQLITE_WRITERS": str(WRITERS),
        "SQLITE_ROUNDS": str(ROUNDS),
    }

    # when each registers and corrects insured persons at the same moment
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300
    )

    # then no request failed, and every registration and correction was written
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["statuses"] == {"200": WRITERS + WRITERS * ROUNDS, "201": WRITERS * ROUNDS}, out
    assert out["created"] == WRITERS * ROUNDS
    assert out["phones"] == [f"1380000{n:02d}{ROUNDS - 1:02d}" for n in range(WRITERS)]
    assert out["journal_mode"] == "wal"
