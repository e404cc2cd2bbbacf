"""Small query helpers for the hot paths (the pharmacy counter, issue 15)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connections, models, router
from django.db.models import BooleanField, Q, QuerySet, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    ValuesIterable,
    ValuesListIterable,
    get_related_populators,
)
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
    # (position in params, index of the caller's argument, index in it if it is a list, else -1,
    # the backend's adapter of a date or datetime the statement holds adapted, else None)
    slots: tuple[tuple[int, int, int, Callable | None], ...]
    # the columns' converters from database values (``get_converters``: per column a field
    # comparison and the backend's lookups, which Django otherwise repeats on every run)
    converters: dict
    # the rows as the queryset's iterable yields them (``_row_maker``), or None: the queryset
    # runs the statement itself
    make_rows: Callable[[list], list] | None


def _row_maker(queryset: QuerySet, compiler: SQLCompiler) -> Callable[[list], list] | None:
    """What the queryset's iterable makes of the statement's converted rows — models with their
    ``select_related`` objects and annotations (``ModelIterable``), dicts, tuples or values —
    with what Django works out again on every run (the models' field lists, a populator per
    joined model) worked out once; None for a shape it does not take (then the queryset is
    evaluated as usual)."""
    fields = [column[0] for column in compiler.select[: compiler.col_count]]
    if queryset._known_related_objects or compiler.has_composite_fields(fields):
        return None
    iterable = queryset._iterable_class
    if iterable is FlatValuesListIterable:
        return lambda rows: [row[0] for row in rows]
    if iterable is ValuesListIterable:
        return lambda rows: [tuple(row) for row in rows]
    if iterable is ValuesIterable:
        query = queryset.query
        names = list(query.selected or ()) or [
            *query.extra_select,
            *query.values_select,
            *query.annotation_select,
        ]
        return lambda rows: [dict(zip(names, row, strict=False)) for row in rows]
    if iterable is not ModelIterable:
        return None
    db, info, select = queryset.db, compiler.klass_info, compiler.select
    model = info["model"]
    start, end = info["select_fields"][0], info["select_fields"][-1] + 1
    init_list = [column[0].target.attname for column in select[start:end]]
    populators = get_related_populators(info, select, db)
    annotations = list((compiler.annotation_col_map or {}).items())

    def models(rows: list) -> list:
        made = []
        for row in rows:
            obj = model.from_db(db, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in annotations:
                setattr(obj, name, row[position])
            made.append(obj)
        return made

    return models


# A list argument compiles a statement per length (``IN (%s, %s)``): up to this length; a longer
# or empty list is read by the ORM as usual
LISTED = 8


def _sentinel(index: int, kind: type, item: int = 0) -> int | str | date | datetime:
    """A value no caller passes, standing for argument ``index`` (its ``item`` for a list) while
    the template compiles."""
    if kind is int:
        return -1_987_654_000 - index * 100 - item
    if kind is str:
        return f"\x1fcompiled-argument-{index}-{item}\x1f"
    if kind is datetime:  # an aware instant of 1 January 1801, told apart by its microseconds
        return datetime(1801, 1, 1, 0, 0, 0, 1 + index * 100 + item, tzinfo=UTC)
    if kind is date:  # a day of the 1700s
        return date(1700 + index * 10 + item, 1, 1)
    raise TypeError(
        f"a compiled read takes int, str, date or datetime arguments, not {kind.__name__}"
    )


def _adapter(connection: Any, kind: type) -> Callable | None:
    """How the backend adapts a ``kind`` value into a statement's parameter (SQLite: a date or
    an instant as text), or None for a value passed as it is."""
    if kind is datetime:
        return connection.ops.adapt_datetimefield_value
    if kind is date:
        return connection.ops.adapt_datefield_value
    return None


class CompiledRead:
    """A read whose statement is the same every time but for its arguments (a primary key, a
    token's digest, a few ids), built and compiled by Django's ORM once per process and database,
    then run with new arguments: the counter's joined reads (``select_related`` over five
    tables) spent more time in Django's SQL compiler than in PostgreSQL (issue 15).

    ``build`` makes the queryset from its arguments (``kinds``: int, str, date or (aware)
    datetime each, or ``[int]`` / ``[str]`` for a list of them, as ``__in`` takes; a date or an
    instant is bound as the backend adapts it); it must not change its shape with their
    values (no ``None``, no branch on a value): the template is compiled with stand-ins, each of
    which must turn up in the statement's parameters. A list compiles one template per length up
    to ``LISTED``. Rows are made as the queryset's own iterable makes them (models with their
    ``select_related`` objects, or ``values``; ``_row_maker``), with what that works out per
    run worked out once, and ``prefetch_related`` runs as usual."""

    def __init__(self, build: Callable[..., QuerySet], *kinds: type | list[type]):
        self.build = build
        self.kinds = kinds
        for kind in kinds:
            _sentinel(0, kind[0] if isinstance(kind, list) else kind)  # a kind it cannot take
        self._compiled: dict[tuple, _Template] = {}  # by the lists' lengths (one database)

    def _template(self, lengths: tuple) -> _Template:
        if lengths in self._compiled:
            return self._compiled[lengths]
        stand_ins = [
            _sentinel(n, kind)
            if length is None
            else [_sentinel(n, kind[0], i) for i in range(length)]
            for n, (kind, length) in enumerate(zip(self.kinds, lengths, strict=True))
        ]
        queryset = self.build(*stand_ins)
        connection = connections[queryset.db]
        where = {}  # stand-in, or its adapted form → (argument, its item or -1, adapter)
        for n, stand_in in enumerate(stand_ins):
            kind = self.kinds[n][0] if isinstance(self.kinds[n], list) else self.kinds[n]
            adapt = _adapter(connection, kind)
            items = enumerate(stand_in) if isinstance(stand_in, list) else [(-1, stand_in)]
            for i, value in items:
                where[value] = (n, i, None)
                if adapt is not None and adapt(value) != value:
                    where[adapt(value)] = (n, i, adapt)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots = tuple(
            (position, *where[value])
            for position, value in enumerate(params)
            if isinstance(value, int | str | date) and value in where
        )
        missing = {found[:2] for found in where.values()} - {slot[1:3] for slot in slots}
        if missing:
            arguments = sorted({n for n, _ in missing})
            raise ValueError(f"compiled read: arguments {arguments} are not parameters")
        converters = compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]])
        self._compiled[lengths] = _Template(
            queryset,
            compiler,
            sql,
            tuple(params),
            slots,
            converters,
            _row_maker(queryset, compiler),
        )
        return self._compiled[lengths]

    def _bound(self, args: tuple) -> tuple[_Template, tuple] | None:
        """The template for ``args`` and its parameters with them, or None for a list the
        template does not take (empty, or longer than ``LISTED``)."""
        if len(args) != len(self.kinds):
            raise TypeError(f"compiled read takes {len(self.kinds)} arguments")
        lengths = tuple(
            len(arg) if isinstance(kind, list) else None
            for kind, arg in zip(self.kinds, args, strict=True)
        )
        if any(length is not None and not 0 < length <= LISTED for length in lengths):
            return None
        template = self._template(lengths)
        connection = connections[template.queryset.db]
        if template.queryset.query.select_for_update and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        values = [list(arg) if length else arg for arg, length in zip(args, lengths, strict=True)]
        params = list(template.params)
        for position, index, item, adapt in template.slots:
            value = values[index] if item < 0 else values[index][item]
            params[position] = value if adapt is None else adapt(value)
        return template, tuple(params)

    @staticmethod
    def _queryset_of(template: _Template, params: tuple) -> QuerySet:
        """The template's queryset, whose evaluation runs the compiled statement (only that: its
        query still holds the stand-ins, so ``count()``, ``exists()`` or a further ``filter()``
        would compile those)."""
        compiler = copy.copy(template.compiler)
        compiler.connection = connections[template.queryset.db]
        compiler.as_sql = lambda *_, **__: (template.sql, params)
        compiler.get_converters = lambda _: template.converters
        queryset = template.queryset._chain()
        queryset.query.get_compiler = lambda *_, **__: compiler
        return queryset

    @staticmethod
    def _fetch(template: _Template, params: tuple) -> list:
        """The statement's rows, converted as the compiler converts them (``results_iter``)."""
        compiler = template.compiler
        connection = connections[template.queryset.db]
        with connection.cursor() as cursor:
            cursor.execute(template.sql, params)
            rows = cursor.fetchall()
        if compiler.has_extra_select:  # columns only the ordering needs
            rows = [row[: compiler.col_count] for row in rows]
        if template.converters:
            converting = list(template.converters.items())
            rows = [list(row) for row in rows]
            for row in rows:
                for position, (functions, expression) in converting:
                    value = row[position]
                    for function in functions:
                        value = function(value, expression, connection)
                    row[position] = value
        return rows

    def all(self, *args) -> list:
        bound = self._bound(args)
        if bound is None:
            return list(self.build(*args))  # compiled as usual
        template, params = bound
        if template.make_rows is None:
            return list(self._queryset_of(template, params))
        made = template.make_rows(self._fetch(template, params))
        lookups = template.queryset._prefetch_related_lookups
        if lookups and made:
            prefetch_related_objects(made, *lookups)
        return made

    def one(self, *args):
        """The first row, or None (``build`` limits the read to one row where it needs one)."""
        rows = self.all(*args)
        return rows[0] if rows else None


def keyed_read(model: type, owner: str) -> CompiledRead:
    """The row of ``model`` that an owner (``owner``: its column, e.g. ``pharmacy_id``) wrote
    under an idempotency key, or None: a replay's read, compiled once per process."""
    return CompiledRead(
        lambda owner_id, key: model.objects.filter(
            **{owner: owner_id, "idempotency_key": key}
        ).order_by()[:1],
        int,
        str,
    )


def attach(instance: Any, name: str, rows: list) -> None:
    """``rows`` as ``instance``'s prefetched reverse relation ``name`` (a ``ForeignKey``'s
    related manager), as ``prefetch_related`` leaves it: ``getattr(instance, name).all()``
    answers them from memory and each row knows ``instance``. For rows read by a
    ``CompiledRead`` in place of a prefetch, which Django compiles on every run."""
    manager = getattr(instance, name)
    for row in rows:
        manager.field.set_cached_value(row, instance)
    queryset = manager.get_queryset()
    queryset._result_cache = rows
    queryset._prefetch_done = True
    if not hasattr(instance, "_prefetched_objects_cache"):
        instance._prefetched_objects_cache = {}
    instance._prefetched_objects_cache[manager.field.remote_field.cache_name] = queryset


def attached(instance: Any, name: str) -> list | None:
    """The rows of reverse relation ``name`` held in memory (``attach``, ``prefetch_related``),
    or None when reading them would ask the database."""
    found = getattr(instance, "_prefetched_objects_cache", {}).get(name)
    return None if found is None else list(found)


def id_among(model: type, ids: list[int]) -> Q | RawSQL:
    """``pk IN ids`` for a filter; on PostgreSQL ``id = ANY(%s::bigint[])`` with the ids as one
    array literal: a rollup refresh marks thousands of rows at once, and a statement with as
    many parameters (or a list the driver adapts element by element) costs more to build and
    parse than the update itself."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(model._meta.db_table)
        array = "{" + ",".join(str(int(pk)) for pk in ids) + "}"  # one text parameter
        return RawSQL(f'{table}."id" = ANY(%s::bigint[])', (array,), output_field=BooleanField())
    return Q(pk__in=ids)


def update_among(model: type, ids: Iterable[int], **values: Any) -> int:
    """Set ``values`` on the rows of ``model`` with these ids (``id_among``); the rows changed.
    A rollup refresh's markers on the rows it took in."""
    ids = sorted(set(ids))
    if not ids:
        return 0
    return model.objects.filter(id_among(model, ids)).update(**values)


# --- inserts whose SQL is built once per process (issue 15) -------------------------------------


@dataclass(frozen=True)
class _Insert:
    sql: str
    fields: tuple  # the model's concrete fields but its automatic primary key, in column order
    preparers: tuple  # per field: ``_preparer``'s (read plainly, exact types, their function)


def _same(cls: type, base: type, *names: str) -> bool:
    """``cls`` takes these methods from ``base`` as they are (a subclass that overrides one
    prepares its values its own way)."""
    return all(getattr(cls, name) is getattr(base, name) for name in names)


def _preparer(field: Any, connection: Any) -> tuple[bool, tuple[type, ...], Callable]:
    """How ``insert_new`` reads and prepares ``field``'s value: whether ``pre_save`` only reads
    the attribute (no ``auto_now``), the exact value types for which ``get_db_prep_save`` comes
    down to a backend adapter or nothing, and that function — the same result without Django's
    three or four calls per value (issue 15: 235 values a triple); any other value goes through
    ``get_db_prep_save``. A field class that overrides a step is not taken."""
    cls, ops = type(field), connection.ops
    plain_read = cls.pre_save is models.Field.pre_save or (
        isinstance(field, models.DateField) and not (field.auto_now or field.auto_now_add)
    )
    none, kept = type(None), lambda value: value
    prep = ("get_db_prep_save", "get_db_prep_value", "get_prep_value", "to_python")
    if isinstance(field, models.ForeignKey) and _same(cls, models.ForeignKey, *prep[:1]):
        target = field.target_field
        if isinstance(target, models.AutoField | models.BigAutoField):
            return (
                plain_read,
                (int, none),
                lambda v: None if v is None else ops.validate_autopk_value(v),
            )
    if isinstance(field, models.CharField) and _same(cls, models.CharField, *prep):
        return plain_read, (str, none), kept
    if isinstance(field, models.TextField) and _same(cls, models.TextField, *prep):
        return plain_read, (str, none), kept
    if isinstance(field, models.BooleanField) and _same(cls, models.BooleanField, *prep):
        return plain_read, (bool, none), kept
    if (
        isinstance(field, models.IntegerField)
        and not isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField)
        and _same(cls, models.IntegerField, *prep[:3])
    ):
        kind = field.get_internal_type()
        return plain_read, (int, none), lambda value: ops.adapt_integerfield_value(value, kind)
    if isinstance(field, models.DecimalField) and _same(cls, models.DecimalField, *prep):
        digits, places = field.max_digits, field.decimal_places
        return (
            plain_read,
            (Decimal,),
            lambda value: (
                ops.adapt_decimalfield_value(value, digits, places)
                if value.is_finite()
                else field.get_db_prep_save(value, connection)  # refused as Django refuses it
            ),
        )
    if isinstance(field, models.DateTimeField) and _same(cls, models.DateTimeField, *prep):
        return (
            plain_read,
            (datetime, none),
            lambda value: (
                ops.adapt_datetimefield_value(value)
                if value is None or value.utcoffset() is not None or not settings.USE_TZ
                else field.get_db_prep_save(value, connection)  # naive: Django warns and converts
            ),
        )
    if cls is models.DateField:
        return plain_read, (date, none), ops.adapt_datefield_value
    return plain_read, (), kept


_INSERTS: dict[tuple[type, str, int, bool], _Insert | None] = {}


def _insert_template(model: type, alias: str, rows: int, ignore: bool) -> _Insert | None:
    """``INSERT INTO … VALUES (…), … RETURNING id`` for ``rows`` new rows of ``model`` (with
    ``ignore``: ``… ON CONFLICT DO NOTHING``, nothing returned), or None where Django's own path
    is needed (a parent model, a default or value computed by the database, a field with its
    own placeholder, no ``RETURNING`` for several rows)."""
    connection = connections[alias]
    opts = model._meta
    pk = opts.pk
    if opts.parents or not getattr(pk, "db_returning", False):  # an AutoField's: RETURNING
        return None
    if rows > 1 and not ignore and not connection.features.can_return_rows_from_bulk_insert:
        return None
    fields = tuple(f for f in opts.concrete_fields if f is not pk)
    for field in fields:
        if field.generated or field.has_db_default() or hasattr(field, "get_placeholder"):
            return None
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    preparers = tuple(_preparer(field, connection) for field in fields)
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * rows)} "
        + ("ON CONFLICT DO NOTHING" if ignore else f"RETURNING {quote(pk.column)}")
    )
    return _Insert(sql, fields, preparers)


def insert_new(objs: list, *, ignore_conflicts: bool = False) -> None:
    """Insert new instances of one model (automatic primary key not set) in one statement and
    give each its primary key: what ``bulk_create`` does for such a model, with the statement
    built once per process, model, database and number of rows instead of by Django's SQL
    compiler on every call (issue 15: on the counter's path an insert spent more time being
    compiled than in PostgreSQL). Each field's ``pre_save`` (``auto_now``) and
    ``get_db_prep_save`` run as in a save; like ``bulk_create``, no ``pre_save`` /
    ``post_save`` signal is sent. A value that is an expression, or a model the template cannot
    take, goes through ``bulk_create``. ``ignore_conflicts``: a row that would break a unique
    constraint is not written (``ON CONFLICT DO NOTHING``) and no row gets its key, as
    ``bulk_create(ignore_conflicts=True)``."""
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model, instance=objs[0])
    key = (model, alias, len(objs), ignore_conflicts)
    if key not in _INSERTS:
        _INSERTS[key] = _insert_template(model, alias, len(objs), ignore_conflicts)
    template = _INSERTS[key]
    connection = connections[alias]
    params: list | None = [] if template is not None else None
    for obj in objs:
        if type(obj) is not model or obj.pk is not None:
            raise ValueError("insert_new takes new instances of one model")
        obj._prepare_related_fields_for_save(operation_name="insert_new")
        if params is None:
            continue
        for field, (plain_read, types, prepare) in zip(
            template.fields, template.preparers, strict=True
        ):
            value = getattr(obj, field.attname) if plain_read else field.pre_save(obj, True)
            if type(value) in types:
                params.append(prepare(value))
            elif hasattr(value, "resolve_expression"):
                params = None  # the ORM resolves it
                break
            else:
                params.append(field.get_db_prep_save(value, connection=connection))
    if params is None:
        model._base_manager.using(alias).bulk_create(objs, ignore_conflicts=ignore_conflicts)
        return
    with connection.cursor() as cursor:
        cursor.execute(template.sql, params)
        if ignore_conflicts:
            return
        keys = cursor.fetchall()
    for obj, (pk,) in zip(objs, keys, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias


_UPDATES: dict[tuple[type, str, tuple[str, ...], int], str] = {}


def update_rows(objs: list, fields: list[str] | tuple[str, ...]) -> None:
    """Write ``fields`` of saved instances of one model in one ``UPDATE`` built once per
    process, model, database, fields and number of rows (``UPDATE … SET f = CASE id WHEN …``
    for several rows): what ``save(update_fields=…)`` does for one row and ``bulk_update`` for
    several, without Django's SQL compiler on every call (issue 15). Each field's ``pre_save``
    runs as in a save (``auto_now``); no signal is sent. Raises ``DatabaseError`` when a row is
    gone, as ``save(update_fields=…)`` does."""
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model, instance=objs[0])
    connection = connections[alias]
    opts = model._meta
    names = tuple(fields)
    columns = [opts.get_field(name) for name in names]
    key = (model, alias, names, len(objs))
    sql = _UPDATES.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        pk = quote(opts.pk.column)
        if len(objs) == 1:
            sets = ", ".join(f"{quote(f.column)} = %s" for f in columns)
        else:
            whens = " ".join(["WHEN %s THEN %s"] * len(objs))
            cast = connection.features.requires_casted_case_in_updates  # PostgreSQL
            sets = ", ".join(
                f"{quote(f.column)} = "
                + (
                    f"CAST(CASE {pk} {whens} END AS {f.cast_db_type(connection)})"
                    if cast
                    else f"CASE {pk} {whens} END"
                )
                for f in columns
            )
        marks = ", ".join(["%s"] * len(objs))
        sql = _UPDATES[key] = f"UPDATE {quote(opts.db_table)} SET {sets} WHERE {pk} IN ({marks})"
    values = []
    for obj in objs:
        if type(obj) is not model or obj.pk is None:
            raise ValueError("update_rows takes saved instances of one model")
        values.append(
            [f.get_db_prep_save(f.pre_save(obj, False), connection=connection) for f in columns]
        )
    if len(objs) == 1:
        params = [*values[0], objs[0].pk]
    else:
        params = [
            value
            for n in range(len(columns))
            for obj, row in zip(objs, values, strict=True)
            for value in (obj.pk, row[n])
        ]
        params += [obj.pk for obj in objs]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != len(objs):
            raise DatabaseError(f"{model.__name__}: {len(objs) - cursor.rowcount} rows not found")
