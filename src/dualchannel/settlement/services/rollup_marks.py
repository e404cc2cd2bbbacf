"""The markers analytics' rollups keep on settlements (issue 13): which settlements, and which
reversals, the rollups have taken in. Settlement owns the rows; analytics calls these inside its
refresh transaction. Bookkeeping of a derived table, not a business action: no audit event."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from ..models import Settlement


def settlements_mark_rolled_up(
    *, settled_ids: Iterable[int], reversal_ids: Iterable[int], at: datetime
) -> None:
    """Mark settlements (and reversals) as taken into the rollups at ``at``."""
    settled, reversed_ = sorted(set(settled_ids)), sorted(set(reversal_ids))
    if settled:
        Settlement.objects.filter(_among(settled)).update(rolled_up_at=at)
    if reversed_:
        Settlement.objects.filter(_among(reversed_)).update(reversal_rolled_up_at=at)


def _among(ids: list[int]) -> Q | RawSQL:
    """``pk IN ids``; on PostgreSQL ``id = ANY(%s::bigint[])`` with the ids as one array literal:
    a refresh marks thousands at once, and a statement with as many parameters (or a list the
    driver adapts element by element) costs more to build and parse than the update itself."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Settlement._meta.db_table)
        array = "{" + ",".join(str(int(pk)) for pk in ids) + "}"  # one text parameter
        return RawSQL(f'{table}."id" = ANY(%s::bigint[])', (array,), output_field=BooleanField())
    return Q(pk__in=ids)


def settlements_clear_rolled_up() -> int:
    """Forget every marker (a rebuild of the rollups from detail); returns the rows changed."""
    return Settlement.objects.filter(rolled_up_at__isnull=False).update(
        rolled_up_at=None, reversal_rolled_up_at=None
    )
