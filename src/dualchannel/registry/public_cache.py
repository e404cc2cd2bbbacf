"""Per-process cache of the public query's answers, kept while the data they come from is unchanged.

The public search is read far more often than its data changes, and an answer (up to 100 cards
of a county, 2,000 pharmacies of a city) costs tens of milliseconds of Python to build. Every
worker keeps its answers in memory under a *data version* read in one statement per request:

- the sum of the audit streams' heads: every business write records its audit event in its own
  transaction and moves its stream's head under a row lock (``core.audit.record``), so the sum
  grows with every committed write, in commit order — institutions, designations, equipped
  drugs, stock, drugs changed through the services;
- the newest ids of the tables the answers read (institutions, designation history, equipped
  drugs, stock batches and movements, drugs): rows added without an audit event (bulk loads,
  fixtures) change it too;
- the versions of the drugs' and regions' tables (``core.refcache``: a trigger moves them with
  every write, also the catalogue's and the regions' reloads by management command, which write
  no audit event and often no new id);
- today's date: stock past its expiry date stops counting as "有货" at midnight.

An answer is kept only when the version read after building it equals the one read before (no
write committed in between), so it is the answer of that version. A write that none of these
sees (a row edited in the database by hand, a data migration) is seen after ``TTL_S`` seconds at
the latest; until then each worker rebuilt its answers every minute (when a rule only guarded
the reloads), a pause of up to a few hundred milliseconds on a large city's answer.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.apps import apps
from django.db import connection
from django.utils import timezone

from dualchannel.core import refcache

T = TypeVar("T")

TTL_S = 900.0
# the regions list of the query form: no version statement for it, so a reload shows in a minute
REFERENCE_TTL_S = 60.0
MAX_ENTRIES = 512
# What a worker keeps at most, in rows of answers (an id, a card): a visitor's arbitrary search
# words make arbitrary keys, and one word may match every pharmacy of the country.
MAX_ROWS = 200_000

_entries: OrderedDict[Hashable, tuple[tuple, float, Any, int]] = OrderedDict()
_rows = 0
_lock = threading.Lock()
_version_sql: str | None = None


def _sql() -> str:
    global _version_sql
    if _version_sql is None:
        quote = connection.ops.quote_name
        newest = [
            f"(SELECT MAX({quote(model._meta.pk.column)}) FROM {quote(model._meta.db_table)})"
            for model in (
                apps.get_model("registry", "Institution"),
                apps.get_model("registry", "DesignationTransition"),
                apps.get_model("registry", "EquippedDrug"),
                apps.get_model("inventory", "StockItem"),
                apps.get_model("inventory", "StockMovement"),
                apps.get_model("catalog", "Drug"),
            )
        ]
        heads = apps.get_model("core", "AuditChainHead")._meta
        reference = ", ".join(
            f"'{apps.get_model(*name)._meta.db_table}'"
            for name in (("catalog", "Drug"), ("registry", "Region"))
        )
        _version_sql = (
            f"SELECT (SELECT COALESCE(SUM({quote('last_seq')}), 0) FROM {quote(heads.db_table)}), "
            f"(SELECT COALESCE(SUM(version), 0) FROM {refcache.VERSION_TABLE} "
            f"WHERE name IN ({reference})), " + ", ".join(newest)
        )
    return _version_sql


def data_version() -> tuple:
    """What the public answers depend on, in one statement (see the module doc)."""
    with connection.cursor() as cursor:
        cursor.execute(_sql())
        row = cursor.fetchone()
    return (*row, timezone.localdate())


def _keep(key: Hashable, version: tuple, now: float, value: Any, rows: int) -> None:
    global _rows
    if rows > MAX_ROWS:
        return
    with _lock:
        old = _entries.pop(key, None)
        _rows -= old[3] if old is not None else 0
        _entries[key] = (version, now, value, rows)
        _rows += rows
        while len(_entries) > MAX_ENTRIES or _rows > MAX_ROWS:
            _rows -= _entries.popitem(last=False)[1][3]


def cached(
    key: Hashable,
    build: Callable[[], T],
    rows: Callable[[T], int] = len,
    *,
    version: tuple | None = None,
) -> T:
    """The answer under ``key`` at the current data version, built once per version;
    ``rows(answer)`` is what it weighs against ``MAX_ROWS``. ``version``: the one this request
    already read (``data_version()``), so a second answer of the same request costs no
    statement when it is kept."""
    version = data_version() if version is None else version
    now = time.monotonic()
    with _lock:
        found = _entries.get(key)
        if found is not None and found[0] == version and now - found[1] < TTL_S:
            _entries.move_to_end(key)
            return found[2]
    value = build()
    if data_version() == version:
        _keep(key, version, now, value, rows(value))
    return value


def reference(key: Hashable, build: Callable[[], T], rows: Callable[[T], int] = len) -> T:
    """Reference data loaded by management commands only (regions): kept ``REFERENCE_TTL_S``
    seconds, without a version statement; ``rows`` as for ``cached``."""
    now = time.monotonic()
    with _lock:
        found = _entries.get(key)
        if found is not None and now - found[1] < REFERENCE_TTL_S:
            _entries.move_to_end(key)
            return found[2]
    value = build()
    _keep(key, (), now, value, rows(value))
    return value


def clear() -> None:
    global _rows
    with _lock:
        _entries.clear()
        _rows = 0
