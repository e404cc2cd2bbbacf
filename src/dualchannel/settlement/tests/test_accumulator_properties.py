"""Settle-then-reverse restores every accumulator, through the real services and database, for
random prices and random starting accumulators (deductible partly met, fund near its ceiling…)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualchannel.core.locks import several_transactions
from dualchannel.prescriptions.models import DispensingLine
from dualchannel.settlement import services
from dualchannel.settlement.models import Accumulator, AccumulatorKind

pytestmark = pytest.mark.django_db

fen = st.integers(min_value=0, max_value=50_000_000).map(lambda n: Decimal(n).scaleb(-2))
price = st.integers(min_value=1, max_value=300_000).map(lambda n: Decimal(n).scaleb(-2))


def _state(person) -> dict:
    return {(a.kind, a.scope): a.amount for a in Accumulator.objects.filter(person=person)}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(unit_price=price, start=st.lists(fen, min_size=7, max_size=7))
def test_settle_then_reverse_restores_every_accumulator(
    chronic_dispensed, pharmacist_user, unit_price, start
):
    with several_transactions():
        # given: this price on the line, and accumulators already used this year
        DispensingLine.objects.filter(dispensing=chronic_dispensed).update(unit_price=unit_price)
        person = chronic_dispensed.prescription.patient
        preview = services.settlement_preview(
            actor=pharmacist_user, prescription_id=chronic_dispensed.prescription_id
        )
        for (kind, scope), amount in zip(sorted(preview.scopes.items()), start, strict=True):
            Accumulator.objects.update_or_create(
                person=person, kind=kind, scope=scope, defaults={"amount": amount}
            )
        before = _state(person)

        # when: settled, then reversed
        settled = services.settlement_settle(
            actor=pharmacist_user,
            prescription_id=chronic_dispensed.prescription_id,
            idempotency_key="p-settle",
        )
        during = _state(person)
        services.settlement_reverse(
            actor=pharmacist_user,
            settlement_id=settled.pk,
            reason="冲销",
            idempotency_key="p-reverse",
            return_goods=False,
        )

        # then: every accumulator is back where it was, and the settlement added exactly `used`
        assert _state(person) == before
        for field, kind in services.ACCUMULATED_KINDS.items():
            key = (str(kind), settled.scopes[str(kind)])
            assert during[key] - before[key] == Decimal(settled.used[field])
        assert (
            settled.fund
            + settled.critical_illness
            + settled.assistance
            + (settled.commercial)
            + settled.personal
            == unit_price
        )
        assert sorted(AccumulatorKind.values) == sorted(str(k) for k in preview.scopes)
        transaction.set_rollback(True)
