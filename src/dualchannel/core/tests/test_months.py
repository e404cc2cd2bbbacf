from datetime import date

import pytest

from dualchannel.core.months import month_end, month_start, previous_month


@pytest.mark.parametrize(
    ("day", "start", "end", "before"),
    [
        (date(2026, 3, 17), date(2026, 3, 1), date(2026, 3, 31), date(2026, 2, 1)),
        (date(2028, 2, 10), date(2028, 2, 1), date(2028, 2, 29), date(2028, 1, 1)),  # leap
        (date(2027, 1, 31), date(2027, 1, 1), date(2027, 1, 31), date(2026, 12, 1)),  # new year
        (date(2026, 12, 1), date(2026, 12, 1), date(2026, 12, 31), date(2026, 11, 1)),
    ],
)
def test_a_days_month_its_end_and_the_month_before(day, start, end, before):
    assert (month_start(day), month_end(day), previous_month(day)) == (start, end, before)
