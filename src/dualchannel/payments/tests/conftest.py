from __future__ import annotations

import pytest

from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.payments import hooks
from dualchannel.registry.tests.factories import InsuredPersonFactory

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


@pytest.fixture
def other_patient(db):
    person = InsuredPersonFactory(name="外人丙")
    return UserFactory(username="other_patient", insured_person=person, roles=[Role.PATIENT])
