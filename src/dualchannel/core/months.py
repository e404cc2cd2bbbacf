"""Calendar months as the reports, batches and monitoring count them: a month is named by its
first day."""

from __future__ import annotations

import calendar
from datetime import date


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def previous_month(day: date) -> date:
    """The first day of the month before ``day``'s."""
    first = month_start(day)
    return (
        first.replace(year=first.year - 1, month=12)
        if first.month == 1
        else first.replace(month=first.month - 1)
    )
