"""Statements the counter's three actions send, per action [issue 15 point 2].

The issue's budget per request is 12 for the check, 30 for the dispensing and 30 for the
settlement. The bounds below are where the services stand and may only go down: a change that
adds a statement to the hot path fails here and says which. Reference data (profiles, lists,
payment standards, benefit rules, designations) is cached per worker (``core.refcache``): a
request reads the tables' versions once, and what this test's set-up already read is not read
again. ``make bench-counter`` prints the same per HTTP request.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dualchannel.prescriptions.services import counter
from dualchannel.prescriptions.tests.helpers import line, me
from dualchannel.prescriptions.tests.today import in_force_today, issue, route
from dualchannel.settlement.services import counter as settlement_counter

from .conftest import _codes

pytestmark = pytest.mark.django_db

CHECK, DISPENSE, SETTLE = 9, 30, 21


def _within(budget: int, captured: CaptureQueriesContext, action: str) -> None:
    sent = [q["sql"][:160] for q in captured.captured_queries]
    assert len(sent) <= budget, f"{action}: {len(sent)} statements > {budget}:\n" + "\n".join(sent)


def test_check_dispense_and_settle_stay_within_their_statements(
    eligibility,
    physician_user,
    patient_user,
    bound_pharmacy,
    stock,
    pharmacist,
    pharmacist_user,
    standard,
    benefit_rules,
):
    prescription = issue(physician_user, in_force_today(eligibility), quantity="100")
    route(patient_user, prescription, bound_pharmacy)
    lines = [{**line(prescription, stock[0]), "packages": 2, "trace_codes": _codes(stock[0], 2)}]
    who = {"actor": pharmacist_user, "prescription_id": prescription.pk}

    with CaptureQueriesContext(connection) as checked:
        result = counter.counter_check(**who, identity=me(prescription), lines=lines)
    with CaptureQueriesContext(connection) as dispensed:
        counter.counter_dispense(
            **who, identity=me(prescription), lines=lines, idempotency_key="budget-d"
        )
    with CaptureQueriesContext(connection) as settled:
        settlement = settlement_counter.settlement_settle(**who, idempotency_key="budget-s")

    assert not result.refusals and settlement.fund > 0  # the real path, not a refusal
    _within(CHECK, checked, "check")
    _within(DISPENSE, dispensed, "dispense")
    _within(SETTLE, settled, "settle")
