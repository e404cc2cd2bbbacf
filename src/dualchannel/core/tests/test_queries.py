"""Reads compiled once per process (``core.queries.CompiledRead``, issue 15): the same rows and
related objects as the queryset they come from, Django's compiler run once for the statement,
new arguments bound each time, and the shapes it cannot take refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import FieldError, ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Prefetch
from django.db.models.functions import Now
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dualchannel.core.models import Job
from dualchannel.core.queries import (
    CompiledRead,
    _preparer,
    attach,
    attached,
    insert_new,
    keyed_read,
    update_rows,
)
from dualchannel.inventory.models import StockItem
from dualchannel.registry.models import Institution, Physician
from dualchannel.registry.tests.factories import InstitutionFactory, PhysicianFactory

pytestmark = pytest.mark.django_db


def _hospital_with_physicians(build_physicians=True):
    def build(institution_id: int, name: str):
        qs = Institution.objects.select_related("region__parent").filter(
            pk=institution_id, name=name
        )
        if build_physicians:
            qs = qs.prefetch_related(
                Prefetch("physicians", Physician.objects.order_by("staff_code"))
            )
        return qs.order_by()[:1]

    return build


@pytest.fixture
def compiles(monkeypatch):
    """How many times Django's compiler compiled a SELECT."""
    calls = []
    original = SQLCompiler.as_sql

    def counted(self, *args, **kwargs):
        calls.append(self.query.model)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counted)
    return calls


def test_the_same_rows_and_related_objects_as_the_queryset(compiles):
    first, second = InstitutionFactory(), InstitutionFactory()
    PhysicianFactory(hospital=second, staff_code="B2")
    PhysicianFactory(hospital=second, staff_code="A1")
    read = CompiledRead(_hospital_with_physicians(), int, str)
    assert read.one(first.pk, first.name).pk == first.pk
    compiles.clear()
    with CaptureQueriesContext(connection) as sent:
        found = read.one(second.pk, second.name)
        # region and its parent joined, physicians prefetched: nothing more is read
        assert found.region.parent.code == second.region.parent_id
        assert [p.staff_code for p in found.physicians.all()] == ["A1", "B2"]
    assert len(sent) == 2
    assert compiles == [Physician]  # the prefetch compiles; the institution's read does not
    plain = _hospital_with_physicians()(second.pk, second.name)[0]
    assert [getattr(found, f.attname) for f in Institution._meta.concrete_fields] == [
        getattr(plain, f.attname) for f in Institution._meta.concrete_fields
    ]
    assert read.one(second.pk, "another name") is None
    assert read.all(first.pk, first.name) == [first]


def test_an_argument_that_is_no_parameter_is_refused():
    read = CompiledRead(lambda pk, name: Institution.objects.filter(pk=pk), int, str)
    with pytest.raises(ValueError, match=r"arguments \[1\]"):
        read.one(1, "x")
    with pytest.raises(TypeError):
        CompiledRead(lambda day: Institution.objects.all(), float).one(1.0)
    with pytest.raises(TypeError, match="takes 1 arguments"):
        CompiledRead(lambda pk: Institution.objects.filter(pk=pk), int).one(1, 2)


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_needs_a_transaction():
    institution = InstitutionFactory()
    read = CompiledRead(
        lambda pk: Institution.objects.select_for_update().filter(pk=pk).order_by()[:1], int
    )
    with transaction.atomic():
        assert read.one(institution.pk) == institution
    with pytest.raises(TransactionManagementError):
        read.one(institution.pk)


def test_a_list_argument_compiles_once_per_length(compiles):
    made = InstitutionFactory.create_batch(4)
    ids = [i.pk for i in made]
    read = CompiledRead(
        lambda pks, names: Institution.objects.filter(pk__in=set(pks), name__in=names).order_by(
            "pk"
        ),
        [int],
        [str],
    )
    names = [i.name for i in made]
    for n in (1, 2, 3):
        assert read.all(ids[:n], names) == made[:n]
    compiles.clear()
    # the same lengths again, other values: no compilation, the rows of those values
    assert read.all(ids[1:2], names) == made[1:2]
    assert read.all({ids[3], ids[0]}, names) == [made[0], made[3]]  # a set as well
    assert read.all(ids[1:4], [names[3], names[2], "x", "y"]) == made[2:4]
    assert read.all([ids[0], ids[0]], names) == made[:1]  # a repeated id: one row
    assert compiles == []
    # an empty list or one longer than LISTED: read as the ORM reads it, with the same answer
    assert read.all([], names) == []
    long = [*ids, *range(-20, -10)]
    assert read.all(long, names) == made
    assert len(compiles) == 2  # each compiled as usual


def test_a_list_kind_it_cannot_bind_is_refused():
    with pytest.raises(TypeError):
        CompiledRead(lambda pks: Institution.objects.filter(pk__in=pks), [float])
    read = CompiledRead(lambda pks: Institution.objects.filter(pk__in=pks[:1]), [int])
    with pytest.raises(ValueError, match=r"arguments \[0\]"):
        read.all([1, 2])  # the second id is no parameter of the statement


def test_attached_rows_are_answered_from_memory_and_known_as_such():
    hospital = InstitutionFactory()
    PhysicianFactory(hospital=hospital, staff_code="A1")
    assert attached(hospital, "physicians") is None  # reading them would ask the database
    rows = list(Physician.objects.filter(hospital=hospital))
    attach(hospital, "physicians", rows)
    with CaptureQueriesContext(connection) as sent:
        assert attached(hospital, "physicians") == rows
        assert list(hospital.physicians.all()) == rows
        assert rows[0].hospital is hospital
    assert len(sent) == 0


def test_a_keyed_read_finds_the_owners_row_by_its_key():
    institution = InstitutionFactory()
    job = Job.objects.create(kind="k", idempotency_key="key-1", institution=institution)
    read = keyed_read(Job, "institution_id")

    assert read.one(institution.pk, "key-1") == job
    assert read.one(institution.pk, "key-2") is None  # another key
    assert read.one(institution.pk + 1, "key-1") is None  # another owner's
    with pytest.raises(FieldError):  # an owner column the model does not have
        keyed_read(Job, "no_such_column").one(1, "k")


def test_new_rows_are_inserted_in_one_statement_and_get_their_keys():
    jobs = [Job(kind="a", payload={"x": [1, "二"]}), Job(kind="b", idempotency_key="k-b")]
    with CaptureQueriesContext(connection) as sent:
        insert_new(jobs)
    assert len(sent) == 1 and sent[0]["sql"].startswith("INSERT INTO")
    assert all(job.pk and not job._state.adding for job in jobs)
    stored = {job.pk: job for job in Job.objects.filter(pk__in=[j.pk for j in jobs])}
    assert stored[jobs[0].pk].payload == {"x": [1, "二"]}
    assert stored[jobs[1].pk].idempotency_key == "k-b"
    assert stored[jobs[0].pk].run_after == jobs[0].run_after
    # the second time, the statement is the one built before
    again = [Job(kind="c"), Job(kind="d")]
    insert_new(again)
    assert Job.objects.filter(kind__in=["c", "d"]).count() == 2


def test_an_expression_goes_through_the_orm_and_a_bad_row_is_refused():
    job = Job(kind="e", run_after=Now())
    insert_new([job])
    job.refresh_from_db()
    assert job.run_after is not None and not hasattr(job.run_after, "resolve_expression")

    with pytest.raises(ValueError):  # an instance already saved
        insert_new([job])
    with pytest.raises(ValueError):  # its hospital not saved: as save() says
        insert_new([Physician(hospital=Institution(name="未保存"), name="某医师")])
    assert not Physician.objects.filter(name="某医师").exists()


def test_rows_that_would_conflict_are_skipped_when_asked():
    insert_new([Job(kind="f", idempotency_key="k-f")])
    rows = [Job(kind="g", idempotency_key="k-f"), Job(kind="g", idempotency_key="k-g")]
    insert_new(rows, ignore_conflicts=True)
    assert sorted(
        Job.objects.filter(kind__in=["f", "g"]).values_list("kind", "idempotency_key")
    ) == [
        ("f", "k-f"),
        ("g", "k-g"),
    ]


def test_rows_are_updated_in_one_statement_each_with_its_own_values():
    jobs = [Job(kind="h"), Job(kind="i"), Job(kind="j")]
    insert_new(jobs)
    later = timezone.now() + timedelta(hours=1)
    jobs[0].attempts, jobs[0].run_after = 3, later
    jobs[1].attempts, jobs[1].run_after = 5, later + timedelta(minutes=1)
    with CaptureQueriesContext(connection) as sent:
        update_rows(jobs[:2], ["attempts", "run_after"])
    assert len(sent) == 1
    stored = {j.kind: j for j in Job.objects.filter(kind__in=["h", "i", "j"])}
    assert (stored["h"].attempts, stored["h"].run_after) == (3, later)
    assert (stored["i"].attempts, stored["i"].run_after) == (5, later + timedelta(minutes=1))
    assert stored["j"].attempts == 0  # not among them
    jobs[2].last_error = "出错"
    update_rows([jobs[2]], ["last_error"])
    assert Job.objects.get(pk=jobs[2].pk).last_error == "出错"


def test_updating_a_row_that_is_gone_is_an_error():
    job = Job(kind="k")
    insert_new([job])
    Job.objects.filter(pk=job.pk).delete()
    with pytest.raises(DatabaseError):
        update_rows([job], ["attempts"])
    with pytest.raises(ValueError):
        update_rows([Job(kind="new")], ["attempts"])


def test_dates_and_instants_are_bound_as_the_backend_adapts_them():
    now = timezone.now()
    for n, delta in enumerate((-2, -1, 1, 2)):
        Job.objects.create(kind=f"t{n}", run_after=now + timedelta(hours=delta))
    kinds = ["t0", "t1", "t2", "t3"]
    due = CompiledRead(
        lambda before, kinds: (
            Job.objects.filter(run_after__lt=before, kind__in=kinds)
            .order_by("run_after")
            .values_list("kind", flat=True)
        ),
        datetime,
        [str],
    )
    on_day = CompiledRead(
        lambda day: (
            Job.objects.filter(run_after__date__gte=day, kind__startswith="t")
            .order_by("run_after")
            .values_list("kind", flat=True)
        ),
        date,
    )
    for moment in (now, now - timedelta(minutes=90), now + timedelta(days=1)):
        expected = list(
            Job.objects.filter(run_after__lt=moment, kind__startswith="t")
            .order_by("run_after")
            .values_list("kind", flat=True)
        )
        assert due.all(moment, kinds) == expected
    assert due.all(now, kinds) == ["t0", "t1"]
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert on_day.all(tomorrow + timedelta(days=1)) == []
    assert on_day.all(timezone.localdate() - timedelta(days=1)) == ["t0", "t1", "t2", "t3"]


SAMPLE_VALUES = (
    "text",
    "",
    None,
    True,
    False,
    7,
    2_147_483_647,
    Decimal("12.30"),
    Decimal("-0.01"),
    datetime(2026, 12, 5, 5, 52, 32, 65163, tzinfo=UTC),
    date(2026, 12, 5),
)


def test_insert_new_prepares_each_value_as_django_prepares_it():
    """``_preparer``'s short ways give what ``get_db_prep_save`` gives, on every concrete field
    of every model of the project, for the values they take."""
    taken = 0
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            _, types, prepare = _preparer(field, connection)
            for value in SAMPLE_VALUES:
                if type(value) not in types:
                    continue
                expected = field.get_db_prep_save(value, connection)
                got = prepare(value)
                assert (type(got), got) == (type(expected), expected), (field, value)
                taken += 1
    assert taken > 1000


def test_a_value_the_short_ways_do_not_take_goes_through_django():
    job = Job(kind="a", attempts=True)  # a bool in an integer column: Django's int()
    insert_new([job])
    assert Job.objects.get(pk=job.pk).attempts == 1
    _, _, prepare = _preparer(StockItem._meta.get_field("retail_price"), connection)
    with pytest.raises(ValidationError):
        prepare(Decimal("NaN"))  # refused as Django refuses it
    run_after = Job._meta.get_field("run_after")
    _, _, prepare = _preparer(run_after, connection)
    naive = datetime(2026, 12, 5, 8, 0)
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        assert prepare(naive) == run_after.get_db_prep_save(naive, connection)


def test_every_row_shape_is_what_the_queryset_itself_yields():
    """Dicts, tuples, values and annotated models through ``_row_maker``; a shape it does not
    take (named tuples) through the queryset's own iterable: each the queryset's answer."""
    made = InstitutionFactory.create_batch(3)
    ids = [i.pk for i in made]

    def shapes(pks):
        ordered = Institution.objects.filter(pk__in=pks).order_by("pk")
        return {
            "dicts": ordered.values("pk", "name"),
            "tuples": ordered.values_list("pk", "name"),
            "flat": ordered.values_list("name", flat=True),
            "named": ordered.values_list("pk", "name", named=True),
            "annotated": ordered.annotate(twice=F("pk") * 2),
        }

    for shape in shapes(ids):
        read = CompiledRead(lambda pks, shape=shape: shapes(pks)[shape], [int])
        expected = list(shapes(ids[:2])[shape])
        got = read.all(ids[:2])
        assert got == expected, shape
        assert [type(row) for row in got] == [type(row) for row in expected], shape
        if shape == "annotated":
            assert [row.twice for row in got] == [2 * pk for pk in ids[:2]]
