"""Integers bound by the server refuse what their column cannot hold, as literals do.

Django wraps an ``IntegerField``'s value in psycopg's ``Int4`` (``SmallIntegerField``: ``Int2``)
and psycopg sends those in binary by default, packed into 4 (2) bytes without a range check: with
the parameters bound by the server (``DB_PREPARED_STATEMENTS``), 3,000,000,000 boxes arrived as
-1,294,967,296. Sent as text, PostgreSQL parses the number into the column's type and refuses it
("out of range for type integer"), the error the API answers 422 ``request.number_out_of_range``,
as it did with the parameters bound in the client.
"""

from __future__ import annotations

from psycopg.types.numeric import Int2, Int2Dumper, Int4, Int4Dumper


def send_small_integers_as_text(sender, connection, **kwargs) -> None:
    """``connection_created``: on PostgreSQL, ``Int2``/``Int4`` parameters as text."""
    if connection.vendor != "postgresql":
        return
    adapters = connection.connection.adapters
    adapters.register_dumper(Int2, Int2Dumper)  # text, and the format psycopg picks by default
    adapters.register_dumper(Int4, Int4Dumper)
