"""The markers analytics' rollups keep on settlements (issue 13): which settlements, and which
reversals, the rollups have taken in. Settlement owns the rows; analytics calls these inside its
refresh transaction. Bookkeeping of a derived table, not a business action: no audit event."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from dualchannel.core.queries import update_among

from ..models import Settlement


def settlements_mark_rolled_up(
    *, settled_ids: Iterable[int], reversal_ids: Iterable[int], at: datetime
) -> None:
    """Mark settlements (and reversals) as taken into the rollups at ``at``."""
    update_among(Settlement, settled_ids, rolled_up_at=at)
    update_among(Settlement, reversal_ids, reversal_rolled_up_at=at)


def settlements_clear_rolled_up() -> int:
    """Forget every marker (a rebuild of the rollups from detail); returns the rows changed."""
    return Settlement.objects.filter(rolled_up_at__isnull=False).update(
        rolled_up_at=None, reversal_rolled_up_at=None
    )
