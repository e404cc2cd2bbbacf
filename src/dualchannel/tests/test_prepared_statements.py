"""On PostgreSQL a statement a connection runs again and again is prepared on the server, so it is
parsed and planned once per connection (issue 15: the counter's joined reads spent more time in
PostgreSQL's planner than in their execution)."""

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.db import DataError, connection, transaction

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.pg_timestamps import UtcTimestampLoader
from dualchannel.inventory.models import StockItem
from dualchannel.registry.models import Region
from dualchannel.registry.tests.factories import InstitutionFactory


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_statement_run_five_times_is_prepared_and_later_runs_use_it():
    assert settings.DATABASES["default"]["OPTIONS"]["server_side_binding"] is True
    connection.ensure_connection()
    assert connection.connection.prepare_threshold == 5
    codes = [f"4201{n:02d}" for n in range(8)]
    for code in codes:  # the same statement, other parameters
        list(Region.objects.filter(code=code))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    runs = [plans for statement, plans in prepared if '"registry_region"."code" = $1' in statement]
    # run five times unprepared, then prepared: runs six to eight executed the prepared statement
    assert runs == [3]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_number_too_large_for_its_column_is_refused_not_wrapped():
    """psycopg packs a bound ``Int4`` into 4 bytes unchecked: 3,000,000,000 would arrive as
    -1,294,967,296 (``core.pg_numbers`` sends them as text, which PostgreSQL range-checks)."""
    drug, shop = DrugFactory(), InstitutionFactory(kind="pharmacy")
    fields = {"pharmacy": shop, "drug": drug, "expiry_date": "2030-01-01", "retail_price": "1.00"}
    for n in range(6):  # the INSERT prepared on the server
        StockItem.objects.create(batch_no=f"B{n}", quantity=n, **fields)
    with pytest.raises(DataError, match="out of range"), transaction.atomic():
        StockItem.objects.create(batch_no="BIG", quantity=3_000_000_000, **fields)
    assert not StockItem.objects.filter(batch_no="BIG").exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_connections_plan_for_solid_state_storage_without_jit():
    """DB_SESSION_SETTINGS' defaults: a range of a key is read by the key (random_page_cost
    1.1), and no statement waits for JIT compilation (issue 13 §6)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('random_page_cost'), current_setting('jit')")
        assert cursor.fetchone() == ("1.1", "off")


@pytest.mark.postgres
@pytest.mark.django_db
def test_instants_are_read_in_utc_by_the_standard_librarys_parser():
    """``core.pg_timestamps``: the values Django's own loader made — aware, in
    ``datetime.timezone.utc``, to the microsecond — from ``datetime.fromisoformat``; a session
    in another time zone still gives the same instant; what the parser cannot take raises as
    before."""
    connection.ensure_connection()
    assert connection.connection.adapters.get_loader(1184, 0) is UtcTimestampLoader
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT '2026-12-05 05:52:32.065163+00'::timestamptz, "
            "'1999-01-01 00:00:00+08'::timestamptz, '0800-02-29 12:00:00+00'::timestamptz"
        )
        values = cursor.fetchone()
        assert values == (
            datetime(2026, 12, 5, 5, 52, 32, 65163, tzinfo=UTC),
            datetime(1998, 12, 31, 16, 0, tzinfo=UTC),
            datetime(800, 2, 29, 12, 0, tzinfo=UTC),
        )
        assert all(value.tzinfo is UTC for value in values)
        with transaction.atomic():
            cursor.execute("SET LOCAL TIME ZONE 'Asia/Shanghai'")
            cursor.execute("SELECT '2026-12-05 13:52:32.5+08'::timestamptz")
            (shanghai,) = cursor.fetchone()
        assert shanghai == datetime(2026, 12, 5, 5, 52, 32, 500000, tzinfo=UTC)
        assert shanghai.tzinfo is UTC
        cursor.execute("SELECT 'infinity'::timestamptz")
        with pytest.raises(DataError, match="too large"):
            cursor.fetchone()
