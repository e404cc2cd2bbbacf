"""The markers analytics' circulation rollup keeps on prescriptions and dispensings (issue 13):
which prescriptions it has taken in as issued and as routed, and which dispensings. Prescriptions
own the rows; analytics calls these inside its refresh transaction. Bookkeeping of a derived
table, not a business action: no audit event."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from dualchannel.core.queries import update_among

from ..models import Dispensing, Prescription


def prescriptions_mark_rolled_up(
    *, issued_ids: Iterable[int], routed_ids: Iterable[int], at: datetime
) -> None:
    """Mark prescriptions as taken into the rollup at ``at``: as issued, as routed."""
    update_among(Prescription, issued_ids, issued_rolled_up_at=at)
    update_among(Prescription, routed_ids, routed_rolled_up_at=at)


def dispensings_mark_rolled_up(*, ids: Iterable[int], at: datetime) -> None:
    """Mark dispensings as taken into the rollup at ``at``."""
    update_among(Dispensing, ids, rolled_up_at=at)


def circulation_clear_rolled_up() -> int:
    """Forget every marker (a rebuild of the rollups from detail); returns the rows changed."""
    changed = Prescription.objects.filter(issued_rolled_up_at__isnull=False).update(
        issued_rolled_up_at=None, routed_rolled_up_at=None
    )
    return changed + Dispensing.objects.filter(rolled_up_at__isnull=False).update(rolled_up_at=None)
