"""Small query helpers for the hot paths (the pharmacy counter, issue 15)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.db import connections
from django.db.models import QuerySet
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

T = TypeVar("T")


def one_or_none(qs: QuerySet[T]) -> T | None:
    """The row a unique lookup names (a primary key, a unique key), or None, in a statement
    without ``ORDER BY``: ``first()`` sorts by the model's ``Meta.ordering`` (or the primary key),
    which for one row only costs the compiler (an ordering on a relation also adds its join)."""
    for row in qs.order_by()[:1]:
        return row
    return None


# --- reads compiled once per process (issue 15) ------------------------------------------------


@dataclass(frozen=True)
class _Template:
    queryset: QuerySet
    compiler: SQLCompiler  # compiled: its select, related-object info and column count
    sql: str
    params: tuple
    slots: tuple[tuple[int, int], ...]  # (position in params, index of the caller's argument)


def _sentinel(index: int, kind: type) -> int | str:
    """A value no caller passes, standing for argument ``index`` while the template compiles."""
    if kind is int:
        return -1_987_654_000 - index
    if kind is str:
        return f"\x1fcompiled-argument-{index}\x1f"
    raise TypeError(f"a compiled read takes int or str arguments, not {kind.__name__}")


class CompiledRead:
    """A read whose statement is the same every time but for its arguments (a primary key, a
    token's digest), built and compiled by Django's ORM once per process and database, then run
    with new arguments: the counter's joined reads (``select_related`` over five tables) spent
    more time in Django's SQL compiler than in PostgreSQL (issue 15).

    ``build`` makes the queryset from its arguments (``kinds``: int or str each); it must not
    change its shape with their values (no ``__in`` of a list, no ``None``): the template is
    compiled with stand-ins, each of which must turn up in the statement's parameters. Rows are
    made by the queryset's own iterable (models with their ``select_related`` objects, or
    ``values``), and ``prefetch_related`` runs as usual."""

    def __init__(self, build: Callable[..., QuerySet], *kinds: type):
        self.build = build
        self.kinds = kinds
        self._compiled: _Template | None = None  # the project has one database

    def _template(self) -> _Template:
        if self._compiled is not None:
            return self._compiled
        stand_ins = [_sentinel(n, kind) for n, kind in enumerate(self.kinds)]
        queryset = self.build(*stand_ins)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots = tuple(
            (position, stand_ins.index(value))
            for position, value in enumerate(params)
            if value in stand_ins
        )
        missing = set(range(len(stand_ins))) - {index for _, index in slots}
        if missing:
            raise ValueError(f"compiled read: arguments {sorted(missing)} are not parameters")
        self._compiled = _Template(queryset, compiler, sql, tuple(params), slots)
        return self._compiled

    def _queryset(self, *args) -> QuerySet:
        """The queryset for ``args``, whose evaluation runs the compiled statement (only that:
        its query still holds the stand-ins, so ``count()``, ``exists()`` or a further
        ``filter()`` would compile those)."""
        if len(args) != len(self.kinds):
            raise TypeError(f"compiled read takes {len(self.kinds)} arguments")
        template = self._template()
        connection = connections[template.queryset.db]
        if template.queryset.query.select_for_update and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = list(template.params)
        for position, index in template.slots:
            params[position] = args[index]
        compiler = copy.copy(template.compiler)
        compiler.connection = connection
        bound = (template.sql, tuple(params))
        compiler.as_sql = lambda *_, **__: bound
        queryset = template.queryset._chain()
        queryset.query.get_compiler = lambda *_, **__: compiler
        return queryset

    def all(self, *args) -> list:
        return list(self._queryset(*args))

    def one(self, *args):
        """The first row, or None (``build`` limits the read to one row where it needs one)."""
        for row in self._queryset(*args):
            return row
        return None
