"""Returns to the supplier (3504) and stocktakes (3501)."""

from __future__ import annotations

import pytest

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import AuditEvent
from dualchannel.inventory.models import MovementKind, StockMovement, TraceCode, TraceCodeStatus
from dualchannel.inventory.services import (
    SaleLine,
    sale_record,
    stock_return_to_supplier,
    stocktake_adjust,
)

from .conftest import in_days, inventory_state, receive
from .factories import StockItemFactory

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
