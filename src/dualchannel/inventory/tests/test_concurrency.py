"""Concurrent sales on PostgreSQL with real threads: stock never negative, a code sold once."""

from __future__ import annotations

import pytest
from django.db import transaction

from dualchannel.core.errors import DomainError
from dualchannel.inventory.models import StockItem, StockMovement, TraceCode, TraceCodeStatus
from dualchannel.inventory.services import SaleLine, sale_record
from dualchannel.monitoring.models import Alert
from dualchannel.tests.races import race_codes

from .conftest import receive
from .factories import StockItemFactory, trace_codes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def seller(actor, pharmacy, lines, reference):
    return lambda: sale_record(
        actor=actor, pharmacy=pharmacy, lines=lines, reference=reference, idempotency_key=None
    )


def test_two_sales_of_the_last_units_of_a_batch(pharmacy, pharmacist_user, drug):
    # given: two packages left, a pharmacy that does not scan codes
    item = StockItemFactory(pharmacy=pharmacy, drug=drug, quantity=2)

    # when: two counters sell both at the same moment
    outcomes = race_codes(
        seller(pharmacist_user, pharmacy, [SaleLine(item.pk, 2)], "dispensing:1"),
        seller(pharmacist_user, pharmacy, [SaleLine(item.pk, 2)], "dispensing:2"),
    )

    # then
    assert outcomes == ["inventory.insufficient_stock", "ok"]
    item.refresh_from_db()
    assert item.quantity == 0
    assert StockMovement.objects.filter(kind="sale").count() == 1


def test_many_sales_never_take_stock_below_zero(pharmacy, pharmacist_user, drug):
    item = StockItemFactory(pharmacy=pharmacy, drug=drug, quantity=3)

    outcomes = race_codes(
        *[
            seller(pharmacist_user, pharmacy, [SaleLine(item.pk, 1)], f"dispensing:{n}")
            for n in range(5)
        ]
    )

    assert outcomes.count("ok") == 3
    assert outcomes.count("inventory.insufficient_stock") == 2
    item.refresh_from_db()
    assert item.quantity == 0
    assert sorted(StockMovement.objects.values_list("quantity_after", flat=True)) == [0, 1, 2]


def test_two_sales_of_the_same_code(scanning_pharmacy, pharmacist_user, drug):
    # given: two packages in stock; both counters scan the same code
    received, codes = receive(pharmacist_user, drug, 2)
    item_id = received.movement.stock_item_id

    outcomes = race_codes(
        seller(pharmacist_user, scanning_pharmacy, [SaleLine(item_id, 1, codes[:1])], "d:1"),
        seller(pharmacist_user, scanning_pharmacy, [SaleLine(item_id, 1, codes[:1])], "d:2"),
    )

    assert outcomes == ["inventory.trace_code_sold", "ok"]
    assert StockItem.objects.get(pk=item_id).quantity == 1
    assert TraceCode.objects.get(code=codes[0]).status == TraceCodeStatus.SOLD
    alert = Alert.objects.get()
    assert (alert.rule, alert.evidence["trace_code"]) == ("trace_code_resold", codes[0])


def test_two_pharmacies_selling_the_same_unknown_code(
    pharmacy, other_pharmacy, pharmacist_user, outsider_pharmacist, drug
):
    # given: a code neither pharmacy received, scanned at both at once
    ours = StockItemFactory(pharmacy=pharmacy, drug=drug, quantity=1)
    theirs = StockItemFactory(pharmacy=other_pharmacy, drug=drug, quantity=1)
    code = trace_codes("8777777", 1)

    outcomes = race_codes(
        seller(pharmacist_user, pharmacy, [SaleLine(ours.pk, 1, code)], "d:1"),
        seller(outsider_pharmacist, other_pharmacy, [SaleLine(theirs.pk, 1, code)], "d:2"),
    )

    assert outcomes == ["inventory.trace_code_sold", "ok"]
    assert StockMovement.objects.filter(kind="sale").count() == 1
    assert TraceCode.objects.get(code=code[0]).status == TraceCodeStatus.SOLD
    assert Alert.objects.get().rule == "trace_code_resold"


def test_the_alert_survives_the_rollback_of_the_callers_transaction(
    scanning_pharmacy, pharmacist_user, drug
):
    # given: a code sold once
    received, codes = receive(pharmacist_user, drug, 2)
    item_id = received.movement.stock_item_id
    seller(pharmacist_user, scanning_pharmacy, [SaleLine(item_id, 1, codes[:1])], "d:1")()

    # when: dispensing, in its own transaction, tries to sell it again and rolls back
    with pytest.raises(DomainError) as refused, transaction.atomic():
        StockItemFactory(pharmacy=scanning_pharmacy, drug=drug, batch_no="OUTER", quantity=1)
        sale_record(
            actor=pharmacist_user,
            pharmacy=scanning_pharmacy,
            lines=[SaleLine(item_id, 1, codes[:1])],
            reference="d:2",
            idempotency_key=None,
        )

    # then: the caller's writes are gone, the alert stays
    assert refused.value.code == "inventory.trace_code_sold"
    assert not StockItem.objects.filter(batch_no="OUTER").exists()
    assert StockItem.objects.get(pk=item_id).quantity == 1
    alert = Alert.objects.get()
    assert alert.evidence["attempt_reference"] == "d:2"
    assert alert.history.count() == 1
