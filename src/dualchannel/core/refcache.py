"""Per-process cache of reference data with versioned invalidation [issue 15 point 2].

The counter reads the same reference rows on every request — the policy profiles, the regional
lists, the payment standards, the benefit rules, the pharmacy's designation — and they change a
few times a year. Each worker keeps what it read in memory, tagged with the *versions* of the
tables it came from:

- every watched table has a row in ``core.ReferenceVersion`` that a database trigger moves in
  the same transaction as any write to the table (``INSERT``/``UPDATE``/``DELETE``, also bulk
  and raw SQL writes, and ``TRUNCATE`` on PostgreSQL): the move commits with the data, so a
  worker that reads a version sees the data of at least that version; and the writer's own
  transaction sees its move at once;
- a request reads all versions in one statement (``SELECT`` of a few rows), once per
  ``reading()`` block (a service wraps its body in one), else once per cached read;
- an entry is served only while the versions of its tables are those it was read under.

A write transaction holds its table's version row until it commits, so two writers of the same
reference table wait for each other: reference tables only (admin and officer work), never a
table the counter writes. The triggers are (re)installed after every ``migrate``
(``post_migrate``): a table that a migration rebuilds (SQLite) gets them back. Tests clear the
cache between tests (``clear``): a rolled-back test moves the versions back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import connection, connections, models

T = TypeVar("T")

MAX_ENTRIES = 4096
VERSION_TABLE = "core_referenceversion"

_watched: set[str] = set()
_entries: dict[Hashable, tuple[tuple[int, ...], Any]] = {}
_lock = threading.Lock()
_scope: ContextVar[dict[str, int] | None] = ContextVar("refcache_versions", default=None)
_IN_SCOPE_UNREAD: dict[str, int] = {}  # marker: a reading() block whose versions are not read


def watch(*model_classes: type[models.Model]) -> tuple[str, ...]:
    """Watch these models' tables (from an ``AppConfig.ready``); their table names."""
    tables = tuple(m._meta.db_table for m in model_classes)
    _watched.update(tables)
    return tables


def watched() -> frozenset[str]:
    return frozenset(_watched)


def _read_versions() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, version FROM {VERSION_TABLE}")
        return dict(cursor.fetchall())


def versions() -> dict[str, int]:
    """The watched tables' versions: read once per ``reading()`` block, else every time."""
    scope = _scope.get()
    if scope is _IN_SCOPE_UNREAD or scope is None:
        read = _read_versions()
        if scope is not None:
            _scope.set(read)
        return read
    return scope


@contextmanager
def reading(known: dict[str, int] | None = None):
    """A request's reads of reference data: the versions are read once, at the first cached
    read. Only for code that writes no watched table inside the block (it would not see its own
    write through the cache). ``known``: the versions as the request read them already (with
    its bearer token, ``core.auth``), a moment earlier: entries are served as of then."""
    if _scope.get() is not None:
        yield
        return
    token = _scope.set(_IN_SCOPE_UNREAD if known is None else known)
    try:
        yield
    finally:
        _scope.reset(token)


def cached(key: Hashable, tables: Iterable[str], load: Callable[[], T]) -> T:
    """``load()``'s value for ``key``, read again when a table it came from has changed.

    The value is shared by every request of the worker: callers must not change it."""
    tables = tuple(tables)
    unwatched = [t for t in tables if t not in _watched]
    if unwatched:
        raise RuntimeError(f"refcache: {unwatched} are not watched (refcache.watch)")
    current = versions()
    stamp = tuple(current.get(t, 0) for t in tables)
    full_key = (connection.alias, key)
    hit = _entries.get(full_key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = load()
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[full_key] = (stamp, value)
    return value


def clear() -> None:
    """Forget every entry (between tests)."""
    with _lock:
        _entries.clear()


# --- triggers ----------------------------------------------------------------------------------

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION core_reference_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {VERSION_TABLE} (name, version) VALUES (TG_TABLE_NAME, 1)
    ON CONFLICT (name) DO UPDATE SET version = {VERSION_TABLE}.version + 1;
    RETURN NULL;
END
$$
"""


def _pg_statements(table: str) -> list[str]:
    return [
        f"CREATE OR REPLACE TRIGGER refcache_version AFTER INSERT OR UPDATE OR DELETE OR "
        f'TRUNCATE ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION '
        "core_reference_version_bump()"
    ]


def _sqlite_statements(table: str) -> list[str]:
    return [
        f'CREATE TRIGGER IF NOT EXISTS "refcache_{table}_{event.lower()}" AFTER {event} '
        f'ON "{table}" BEGIN INSERT INTO {VERSION_TABLE} (name, version) '
        f"VALUES ('{table}', 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END"
        for event in ("INSERT", "UPDATE", "DELETE")
    ]


def install_triggers(using: str = "default") -> int:
    """Create (or replace) the version triggers on every watched table that exists; idempotent.
    Returns the number of tables."""
    db = connections[using]
    existing = set(db.introspection.table_names())
    if VERSION_TABLE not in existing:
        return 0
    tables = sorted(t for t in _watched if t in existing)
    if db.vendor == "postgresql":
        statements = [_PG_FUNCTION] + [s for t in tables for s in _pg_statements(t)]
    else:
        statements = [s for t in tables for s in _sqlite_statements(t)]
    with db.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return len(tables)


def on_post_migrate(using: str = "default", **_: Any) -> None:
    """After ``migrate`` (and a test database's flush): the triggers, on every watched table."""
    install_triggers(using)
