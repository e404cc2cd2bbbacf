"""Small query helpers for the hot paths (the pharmacy counter, issue 15)."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import QuerySet

T = TypeVar("T")


def one_or_none(qs: QuerySet[T]) -> T | None:
    """The row a unique lookup names (a primary key, a unique key), or None, in a statement
    without ``ORDER BY``: ``first()`` sorts by the model's ``Meta.ordering`` (or the primary key),
    which for one row only costs the compiler (an ordering on a relation also adds its join)."""
    for row in qs.order_by()[:1]:
        return row
    return None
