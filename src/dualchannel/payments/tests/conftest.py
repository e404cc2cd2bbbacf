from __future__ import annotations

import pytest

from dualchannel.payments import hooks

from .helpers import PURPOSE


class Calls:
    """What the referencing app was told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []


@pytest.fixture
def calls():
    """A referencing app registered for ``PURPOSE`` that records each hook call."""
    seen = Calls()
    hooks.register(
        PURPOSE,
        on_paid=lambda order: seen.events.append(("paid", order.out_trade_no)),
        on_expired=lambda order: seen.events.append(("expired", order.out_trade_no)),
        on_refunded=lambda order, refund: seen.events.append(("refunded", refund.out_refund_no)),
        on_late_paid=lambda order: seen.events.append(("late_paid", order.out_trade_no)),
    )
    yield seen
    hooks.unregister(PURPOSE)


@pytest.fixture
def manual_notify(settings):
    """The simulator holds its callbacks: the test sends them (late, twice, out of order)."""
    settings.WXPAY_SIMULATOR_AUTO_NOTIFY = False
