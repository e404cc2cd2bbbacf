"""Returns to the supplier (3504) and stocktakes (3501)."""

from __future__ import annotations

import pytest

from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import AuditEvent
from dualchannel.inventory.models import (
    MovementKind,
    MovementTraceCode,
    StockMovement,
    TraceCode,
    TraceCodeStatus,
)
from dualchannel.inventory.services import (
    SaleLine,
    sale_record,
    stock_return_to_supplier,
    stocktake_adjust,
)
from dualchannel.monitoring.models import Alert

from .conftest import OTHER_PREFIX, PREFIX, in_days, inventory_state, receive
from .factories import StockItemFactory, trace_codes

pytestmark = pytest.mark.django_db


def give_back(actor, item, quantity, codes, **kwargs):
    values = {"reason": "近效期退货", "idempotency_key": None, "supplier_name": "国药控股湖北"}
    values.update(kwargs)
    return stock_return_to_supplier(
        actor=actor, stock_item_id=item.pk, quantity=quantity, trace_codes=codes, **values
    )


def test_return_to_supplier_takes_stock_out_and_marks_the_codes(pharmacist_user, stocked):
    item, codes = stocked

    result = give_back(pharmacist_user, item, 2, codes[:2])

    movement = result.movement
    assert (movement.kind, movement.quantity_delta, movement.quantity_after) == (
        MovementKind.PURCHASE_RETURN,
        -2,
        3,
    )
    assert movement.infno == "3504"
    assert movement.supplier_name == "国药控股湖北"
    assert set(TraceCode.objects.filter(code__in=codes[:2]).values_list("status", flat=True)) == {
        TraceCodeStatus.RETURNED_TO_SUPPLIER
    }
    assert AuditEvent.objects.filter(action="inventory.stock_returned_to_supplier").exists()


def test_a_code_returned_to_the_supplier_may_be_received_again(
    scanning_pharmacy, pharmacist_user, drug, stocked
):
    item, codes = stocked
    give_back(pharmacist_user, item, 1, codes[:1])

    result, _ = receive(pharmacist_user, drug, 1, codes=codes[:1], batch_no="L2401")

    code = TraceCode.objects.get(code=codes[0])
    assert (code.status, code.last_movement_id) == (TraceCodeStatus.IN_STOCK, result.movement.pk)


def test_an_expired_batch_may_go_back_to_the_supplier(scanning_pharmacy, pharmacist_user, drug):
    scanning_pharmacy.traceability_enabled = False
    scanning_pharmacy.save()
    item = StockItemFactory(
        pharmacy=scanning_pharmacy, drug=drug, quantity=2, expiry_date=in_days(-3)
    )

    result = give_back(pharmacist_user, item, 2, [])

    assert result.movement.quantity_after == 0


def test_returning_more_than_in_stock_is_refused(pharmacist_user, stocked):
    item, codes = stocked
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        give_back(pharmacist_user, item, 6, [*codes, "81234560000000099999"])

    assert refused.value.code == "inventory.insufficient_stock"
    assert inventory_state() == before


def test_returning_a_sold_or_unknown_code_is_refused(scanning_pharmacy, pharmacist_user, stocked):
    item, codes = stocked
    sale_record(
        actor=pharmacist_user,
        pharmacy=scanning_pharmacy,
        lines=[SaleLine(item.pk, 1, codes[:1])],
        reference="d",
        idempotency_key=None,
    )
    before = inventory_state()

    for code in (codes[0], "81234569999999999999"):
        with pytest.raises(DomainError) as refused:
            give_back(pharmacist_user, item, 1, [code])
        assert refused.value.code == "inventory.trace_code_not_in_stock"
    assert inventory_state() == before


def test_returning_a_code_of_another_batch_is_refused(pharmacist_user, drug, stocked):
    item, _ = stocked
    _, other = receive(pharmacist_user, drug, 1, batch_no="L9")
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        give_back(pharmacist_user, item, 1, other)

    assert refused.value.code == "inventory.trace_code_wrong_batch"
    assert inventory_state() == before


def test_another_pharmacy_cannot_return_our_stock(outsider_pharmacist, stocked):
    item, codes = stocked

    with pytest.raises(NotFound):
        give_back(outsider_pharmacist, item, 1, codes[:1])

    assert not StockMovement.objects.filter(kind=MovementKind.PURCHASE_RETURN).exists()


def test_stocktake_sets_the_counted_quantity(pharmacist_user, stocked):
    item, _ = stocked

    result = stocktake_adjust(
        actor=pharmacist_user,
        stock_item_id=item.pk,
        counted_quantity=4,
        reason="月末盘点",
        idempotency_key="st-1",
    )

    movement = result.movement
    assert (movement.kind, movement.quantity_delta, movement.quantity_after) == (
        MovementKind.STOCKTAKE,
        -1,
        4,
    )
    assert movement.infno == "3501"
    # five codes are still recorded in stock: someone must find the missing package
    assert [w["code"] for w in result.warnings] == ["inventory.stocktake_codes_exceed"]
    assert AuditEvent.objects.get(action="inventory.stocktake_adjusted").summary["delta"] == -1


def test_a_stocktake_without_difference_is_recorded_too(pharmacist_user, stocked):
    item, _ = stocked

    result = stocktake_adjust(
        actor=pharmacist_user,
        stock_item_id=item.pk,
        counted_quantity=5,
        reason="月末盘点",
        idempotency_key=None,
    )

    assert (result.movement.quantity_delta, result.warnings) == (0, [])


def test_stocktake_needs_a_reason_and_a_count(pharmacist_user, stocked):
    item, _ = stocked
    before = inventory_state()

    for counted, reason in ((-1, "盘点"), (3, " ")):
        with pytest.raises(DomainError):
            stocktake_adjust(
                actor=pharmacist_user,
                stock_item_id=item.pk,
                counted_quantity=counted,
                reason=reason,
                idempotency_key=None,
            )

    assert inventory_state() == before


# --- stocktakes with traceability codes --------------------------------------------------------


def take_stock(actor, item, counted, codes=(), **kwargs):
    values = {"reason": "月末盘点", "idempotency_key": None}
    values.update(kwargs)
    return stocktake_adjust(
        actor=actor, stock_item_id=item.pk, counted_quantity=counted, trace_codes=codes, **values
    )


def code_rows(codes):
    return {
        t.code: (t.status, t.stock_item_id, t.last_movement_id)
        for t in TraceCode.objects.filter(code__in=codes)
    }


def test_a_shortfall_records_the_codes_of_the_missing_packages(pharmacist_user, stocked):
    # given: five packages on the books, two of them not on the shelf
    item, codes = stocked
    receipt = item.movements.get(kind=MovementKind.PURCHASE)

    # when
    result = take_stock(pharmacist_user, item, 3, codes[:2])

    # then: stock is the count, the two codes are missing, linked to the stocktake
    movement = result.movement
    assert (movement.kind, movement.quantity_delta, movement.quantity_after) == (
        MovementKind.STOCKTAKE,
        -2,
        3,
    )
    assert result.warnings == []  # every missing package is named
    assert code_rows(codes) == {
        **{c: (TraceCodeStatus.MISSING, item.pk, movement.pk) for c in codes[:2]},
        **{c: (TraceCodeStatus.IN_STOCK, item.pk, receipt.pk) for c in codes[2:]},
    }
    linked = MovementTraceCode.objects.filter(movement=movement)
    assert sorted(linked.values_list("trace_code__code", flat=True)) == sorted(codes[:2])
    event = AuditEvent.objects.get(action="inventory.stocktake_adjusted")
    assert (event.summary["delta"], event.summary["trace_codes"]) == (-2, 2)


def test_a_surplus_records_the_codes_of_the_packages_found(pharmacist_user, stocked):
    # given: one package counted missing last month, found again with a box never received
    item, codes = stocked
    take_stock(pharmacist_user, item, 4, codes[:1])
    found = [codes[0], *trace_codes(PREFIX, 1)]

    # when
    result = take_stock(pharmacist_user, item, 6, found)

    # then: both are in stock in this batch; the new one is marked as not received
    movement = result.movement
    assert (movement.quantity_delta, movement.quantity_after) == (2, 6)
    assert result.warnings == []
    assert code_rows(found) == {c: (TraceCodeStatus.IN_STOCK, item.pk, movement.pk) for c in found}
    assert TraceCode.objects.get(code=found[1]).received is False
    assert MovementTraceCode.objects.filter(movement=movement).count() == 2


def test_a_stocktake_code_that_is_not_20_digits_warns(pharmacist_user, stocked):
    item, _ = stocked

    result = take_stock(pharmacist_user, item, 6, ["GS1IMPORT0001"])

    assert [w["code"] for w in result.warnings] == ["inventory.trace_code_nonstandard"]
    assert TraceCode.objects.get(code="GS1IMPORT0001").stock_item_id == item.pk


def test_a_scanning_pharmacy_is_warned_of_a_surplus_without_codes(pharmacist_user, stocked):
    item, _ = stocked

    result = take_stock(pharmacist_user, item, 7)

    assert result.movement.quantity_after == 7
    assert [w["code"] for w in result.warnings] == ["inventory.stocktake_codes_short"]


def test_stocktake_codes_of_another_batch_or_drug_are_refused(
    pharmacist_user, drug, other_drug, stocked
):
    # given: a second batch of the drug and a batch of another drug
    item, codes = stocked
    _, other_batch = receive(pharmacist_user, drug, 1, batch_no="L9")
    _, other_drugs = receive(pharmacist_user, other_drug, 1, prefix=OTHER_PREFIX, batch_no="K1")
    before = inventory_state()

    cases = (
        (3, [codes[0], other_batch[0]], "inventory.trace_code_wrong_batch"),  # shortfall
        (6, other_batch, "inventory.trace_code_wrong_batch"),  # surplus
        (4, other_drugs, "inventory.trace_code_wrong_drug"),
        (6, other_drugs, "inventory.trace_code_wrong_drug"),
        (6, trace_codes(OTHER_PREFIX, 1), "inventory.trace_code_wrong_drug"),  # its prefix
        (6, codes[:1], "inventory.trace_code_duplicate"),  # already on the books
        (4, trace_codes(PREFIX, 1), "inventory.trace_code_not_in_stock"),  # never received
        (4, codes[:2], "inventory.trace_code_count"),  # more codes than the difference
        (5, codes[:1], "inventory.trace_code_count"),  # no difference, no codes
    )
    for counted, sent, code in cases:
        # when
        with pytest.raises(DomainError) as refused:
            take_stock(pharmacist_user, item, counted, sent)

        # then: refused with its reason, nothing written
        assert refused.value.code == code, (counted, sent)
        assert "trace_codes" in refused.value.fields
    assert inventory_state() == before


def test_a_sold_code_found_at_a_stocktake_is_refused_and_alerted(
    scanning_pharmacy, pharmacist_user, stocked
):
    # given: a sold package
    item, codes = stocked
    sale_record(
        actor=pharmacist_user,
        pharmacy=scanning_pharmacy,
        lines=[SaleLine(item.pk, 1, codes[:1])],
        reference="d",
        idempotency_key=None,
    )
    before = inventory_state()

    # when: it is counted as found on the shelf
    with pytest.raises(DomainError) as refused:
        take_stock(pharmacist_user, item, 5, codes[:1])

    # then: refused, nothing written, but the supervisor sees it
    assert refused.value.code == "inventory.trace_code_duplicate"
    assert inventory_state() == before
    alert = Alert.objects.get(rule="trace_code_duplicate")
    assert (alert.severity, alert.evidence["attempt"]) == ("high", "stocktake")


def test_a_missing_code_cannot_be_sold(scanning_pharmacy, pharmacist_user, stocked):
    item, codes = stocked
    take_stock(pharmacist_user, item, 4, codes[:1])
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sale_record(
            actor=pharmacist_user,
            pharmacy=scanning_pharmacy,
            lines=[SaleLine(item.pk, 1, codes[:1])],
            reference="d",
            idempotency_key=None,
        )

    assert refused.value.code == "inventory.trace_code_not_in_stock"
    assert inventory_state() == before


def test_a_stocktake_replayed_with_its_key_writes_nothing_more(pharmacist_user, stocked):
    item, codes = stocked
    first = take_stock(pharmacist_user, item, 4, codes[:1], idempotency_key="st-9")
    before = inventory_state()

    again = take_stock(pharmacist_user, item, 4, codes[:1], idempotency_key="st-9")
    with pytest.raises(Conflict) as refused:
        take_stock(pharmacist_user, item, 4, codes[1:2], idempotency_key="st-9")

    assert (again.replayed, again.movement.pk) == (True, first.movement.pk)
    assert refused.value.code == "inventory.idempotency_mismatch"
    assert inventory_state() == before
