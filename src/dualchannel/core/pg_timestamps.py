"""``timestamptz`` values read from PostgreSQL by ``datetime.fromisoformat`` (C) in UTC.

Django loads every ``timestamptz`` with its own subclass of psycopg's pure-Python loader (the C
one cannot be subclassed): a regular expression per value and, per column of every result, a
loader whose construction reads the session's time zone and date style. A counter's triple reads
some 60 such columns; that was 6 % of the server's CPU. This loader makes the same values —
aware datetimes in ``datetime.UTC``, which is Django's connection time zone under
``USE_TZ`` — with the standard library's parser; what it cannot parse (``infinity``, a year past
9999) goes to Django's loader, which raises the same error as before.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg.adapt import Loader


class _DjangoUtcLoader(BaseTzLoader):
    timezone = UTC


class UtcTimestampLoader(Loader):
    """A ``timestamptz`` as an aware ``datetime`` in UTC."""

    # Django's ``create_cursor`` compares this with the connection's time zone and registers its
    # own loader on every cursor when they differ
    timezone = UTC

    def load(self, data) -> datetime:
        text = (data if isinstance(data, bytes) else bytes(data)).decode("ascii")
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return _DjangoUtcLoader(self.oid, self.connection).load(data)
        if value.tzinfo is not UTC:  # a session in another time zone: the same instant
            value = value.astimezone(UTC)
        return value


def load_timestamps_in_utc(sender, connection, **kwargs) -> None:
    """``connection_created``: on PostgreSQL with Django's connection in UTC, this loader."""
    if connection.vendor != "postgresql" or connection.timezone is not UTC:
        return
    connection.connection.adapters.register_loader("timestamptz", UtcTimestampLoader)
