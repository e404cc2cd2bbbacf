"""Races on PostgreSQL with real concurrent transactions: one settlement per dispensing, and the
person's accumulators exact while settlements and reversals of that person run at once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dualchannel.settlement import services
from dualchannel.settlement.models import Accumulator, Settlement, SettlementStatus
from dualchannel.settlement.services import ACCUMULATED_KINDS
from dualchannel.tests.races import race_codes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_counters_settling_the_same_dispensing_exactly_one_succeeds(dispensed, pharmacist_user):
    def settle(key):
        return lambda: services.settlement_settle(
            actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key=key
        )

    outcomes = race_codes(settle("desk-1"), settle("desk-2"))

    assert outcomes == ["ok", "settlement.already_settled"]
    assert Settlement.objects.filter(status=SettlementStatus.SETTLED).count() == 1


def test_accumulators_stay_exact_under_concurrent_settlements_and_a_reversal(
    dispensed, chronic_dispensed, pharmacist_user
):
    # given one settlement of the person already made, to be reversed during the race
    first = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )

    # when a second settlement of the same person and the reversal of the first run at once
    outcomes = race_codes(
        lambda: services.settlement_settle(
            actor=pharmacist_user,
            prescription_id=chronic_dispensed.prescription_id,
            idempotency_key="s-2",
        ),
        lambda: services.settlement_reverse(
            actor=pharmacist_user, settlement_id=first.pk, reason="退药", idempotency_key="r-1"
        ),
    )

    # then every accumulator equals what the live settlements added, to the fen
    assert outcomes == ["ok", "ok"]
    person = dispensed.prescription.patient
    live = list(Settlement.objects.filter(person=person, status=SettlementStatus.SETTLED))
    assert len(live) == 1
    expected: dict[tuple[str, str], Decimal] = {}
    for settlement in live:
        for field, kind in ACCUMULATED_KINDS.items():
            key = (str(kind), settlement.scopes[str(kind)])
            expected[key] = expected.get(key, Decimal("0.00")) + Decimal(settlement.used[field])
    actual = {(a.kind, a.scope): a.amount for a in Accumulator.objects.filter(person=person)}
    for key, amount in actual.items():
        assert amount == expected.get(key, Decimal("0.00")), key
