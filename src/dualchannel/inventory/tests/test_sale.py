"""Sales (3505) and sale returns (3506): stock, traceability codes, alerts, idempotency."""

from __future__ import annotations

import pytest
from django.db import transaction

from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import AuditEvent
from dualchannel.inventory.models import (
    MovementKind,
    StockItem,
    StockMovement,
    TraceCode,
    TraceCodeStatus,
)
from dualchannel.inventory.services import SaleLine, sale_record, sale_return
from dualchannel.monitoring.models import Alert

from .conftest import OTHER_PREFIX, PREFIX, in_days, inventory_state, receive
from .factories import StockItemFactory, trace_codes

pytestmark = pytest.mark.django_db


def sell(actor, pharmacy, lines, *, key=None, reference="dispensing:1", **kwargs):
    return sale_record(
        actor=actor,
        pharmacy=pharmacy,
        lines=lines,
        reference=reference,
        idempotency_key=key,
        **kwargs,
    )


def test_a_sale_takes_the_packages_out_and_marks_their_codes_sold(
    scanning_pharmacy, pharmacist_user, insured_person, drug, stocked
):
    item, codes = stocked

    result = sell(
        pharmacist_user,
        scanning_pharmacy,
        [SaleLine(item.pk, 2, codes[:2], drug_id=drug.pk)],
        person=insured_person,
        platform_fields={"setl_id": "S001", "rxno": "RX1"},
    )

    item.refresh_from_db()
    assert item.quantity == 3
    movement = result.movement
    assert (movement.kind, movement.quantity_delta, movement.quantity_after) == (
        MovementKind.SALE,
        -2,
        3,
    )
    assert movement.infno == "3505"
    assert movement.person == insured_person
    assert movement.platform_fields == {"rxno": "RX1", "setl_id": "S001"}
    sold = TraceCode.objects.filter(code__in=codes[:2])
    assert {(t.status, t.last_movement_id) for t in sold} == {(TraceCodeStatus.SOLD, movement.pk)}
    assert all(t.sold_at is not None for t in sold)
    assert TraceCode.objects.get(code=codes[2]).status == TraceCodeStatus.IN_STOCK
    event = AuditEvent.objects.get(action="inventory.sale_recorded")
    assert event.patient == insured_person
    assert event.summary["delta"] == -2
    assert result.warnings == []


def test_a_sale_of_several_batches_writes_one_movement_per_line(
    scanning_pharmacy, pharmacist_user, drug
):
    first, codes_a = receive(pharmacist_user, drug, 2, batch_no="A1")
    second, codes_b = receive(pharmacist_user, drug, 2, batch_no="B1", expiry_date=in_days(500))
    a, b = first.movement.stock_item, second.movement.stock_item

    result = sell(
        pharmacist_user,
        scanning_pharmacy,
        [SaleLine(b.pk, 1, codes_b[:1]), SaleLine(a.pk, 2, codes_a)],
    )

    assert [(m.line_no, m.stock_item_id, m.quantity_delta) for m in result.movements] == [
        (1, b.pk, -1),
        (2, a.pk, -2),
    ]
    assert AuditEvent.objects.filter(action="inventory.sale_recorded").count() == 2


def test_sale_inside_the_callers_transaction_commits_nothing_on_its_own(
    scanning_pharmacy, pharmacist_user, stocked
):
    item, codes = stocked
    before = inventory_state()

    # when: dispensing records the sale, then fails later in its own transaction
    with pytest.raises(RuntimeError), transaction.atomic():
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, codes[:1])])
        assert StockItem.objects.get(pk=item.pk).quantity == 4  # visible inside
        raise RuntimeError("settlement failed")

    # then: the sale went with it
    assert inventory_state() == before


def test_more_than_in_stock_is_refused_and_stock_never_goes_negative(
    scanning_pharmacy, pharmacist_user, drug, stocked
):
    item, codes = stocked
    extra = trace_codes(PREFIX, 1)
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 6, [*codes, *extra])])

    assert refused.value.code == "inventory.insufficient_stock"
    assert inventory_state() == before


def test_two_lines_of_one_batch_count_together(scanning_pharmacy, pharmacist_user, stocked):
    item, _ = stocked
    scanning_pharmacy.traceability_enabled = False
    scanning_pharmacy.save()
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 3), SaleLine(item.pk, 3)])

    assert refused.value.code == "inventory.insufficient_stock"
    assert inventory_state() == before


def test_an_expired_batch_is_refused(scanning_pharmacy, pharmacist_user, drug):
    scanning_pharmacy.traceability_enabled = False
    scanning_pharmacy.save()
    item = StockItemFactory(
        pharmacy=scanning_pharmacy, drug=drug, quantity=3, expiry_date=in_days(-1)
    )
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1)])

    assert refused.value.code == "inventory.batch_expired"
    assert inventory_state() == before


def test_a_batch_expiring_today_may_still_be_sold(scanning_pharmacy, pharmacist_user, drug):
    scanning_pharmacy.traceability_enabled = False
    scanning_pharmacy.save()
    item = StockItemFactory(
        pharmacy=scanning_pharmacy, drug=drug, quantity=3, expiry_date=in_days(0)
    )

    result = sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1)])

    assert result.movement.quantity_after == 2


def test_a_batch_of_another_pharmacy_is_not_found(
    scanning_pharmacy, pharmacist_user, other_pharmacy, drug
):
    theirs = StockItemFactory(pharmacy=other_pharmacy, drug=drug, quantity=3)
    before = inventory_state()

    with pytest.raises(NotFound) as refused:
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(theirs.pk, 1, trace_codes(PREFIX, 1))])

    assert refused.value.code == "inventory.stock_item_not_found"
    assert inventory_state() == before


def test_selling_for_another_pharmacy_is_not_found(scanning_pharmacy, outsider_pharmacist, stocked):
    item, codes = stocked
    before = inventory_state()

    with pytest.raises(NotFound):
        sell(outsider_pharmacist, scanning_pharmacy, [SaleLine(item.pk, 1, codes[:1])])

    assert inventory_state() == before


def test_a_batch_of_another_drug_than_prescribed_is_refused(
    scanning_pharmacy, pharmacist_user, other_drug, stocked
):
    item, codes = stocked
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sell(
            pharmacist_user,
            scanning_pharmacy,
            [SaleLine(item.pk, 1, codes[:1], drug_id=other_drug.pk)],
        )

    assert refused.value.code == "inventory.batch_wrong_drug"
    assert inventory_state() == before


def test_a_code_sold_before_is_refused_with_an_alert_and_nothing_else_written(
    scanning_pharmacy, pharmacist_user, stocked
):
    # given: one package sold
    item, codes = stocked
    first = sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, codes[:1])])
    before = inventory_state()

    # when: the same code is scanned again for another sale
    with pytest.raises(DomainError) as refused:
        sell(
            pharmacist_user,
            scanning_pharmacy,
            [SaleLine(item.pk, 2, [codes[0], codes[1]])],
            reference="dispensing:2",
        )

    # then
    assert refused.value.code == "inventory.trace_code_sold"
    assert inventory_state() == before
    alert = Alert.objects.get()
    assert (alert.rule, alert.severity, alert.state) == ("trace_code_resold", "high", "open")
    assert alert.institution_id == scanning_pharmacy.pk
    assert alert.evidence["trace_code"] == codes[0]
    assert alert.evidence["recorded_movement_id"] == first.movement.pk
    assert alert.evidence["attempt_reference"] == "dispensing:2"
    assert alert.history.get().to_status == "open"


def test_a_resold_code_raises_one_alert_however_often_it_is_tried(
    scanning_pharmacy, pharmacist_user, stocked
):
    item, codes = stocked
    sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, codes[:1])])

    for _ in range(2):
        with pytest.raises(DomainError):
            sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, codes[:1])])

    alert = Alert.objects.get()
    assert alert.occurrences == 2


def test_a_code_recorded_for_another_drug_is_refused(
    scanning_pharmacy, pharmacist_user, drug, other_drug, stocked
):
    item, _ = stocked
    _, foreign = receive(pharmacist_user, other_drug, 1, prefix=OTHER_PREFIX, batch_no="C1")
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, foreign)])

    assert refused.value.code == "inventory.trace_code_wrong_drug"
    assert inventory_state() == before


def test_an_unknown_code_with_another_drugs_product_prefix_is_refused(
    scanning_pharmacy, pharmacist_user, other_drug, stocked
):
    item, _ = stocked
    receive(pharmacist_user, other_drug, 1, prefix=OTHER_PREFIX, batch_no="C1")
    never_received = trace_codes(OTHER_PREFIX, 1)
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, never_received)])

    assert refused.value.code == "inventory.trace_code_wrong_drug"
    assert inventory_state() == before


def test_an_unknown_code_is_sold_with_a_warning_and_remembered(
    scanning_pharmacy, pharmacist_user, stocked
):
    item, _ = stocked
    unknown = trace_codes("8999999", 1)

    result = sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, unknown)])

    assert [w["code"] for w in result.warnings] == ["inventory.trace_code_unknown"]
    row = TraceCode.objects.get(code=unknown[0])
    assert (row.status, row.received, row.stock_item_id) == (TraceCodeStatus.SOLD, False, item.pk)
    # and a second sale of it is now a resale
    with pytest.raises(DomainError) as refused:
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, unknown)])
    assert refused.value.code == "inventory.trace_code_sold"


def test_a_code_of_another_batch_is_refused(scanning_pharmacy, pharmacist_user, drug, stocked):
    item, _ = stocked
    _, other_batch = receive(pharmacist_user, drug, 1, batch_no="L2402")
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, other_batch)])

    assert refused.value.code == "inventory.trace_code_wrong_batch"
    assert inventory_state() == before


def test_code_count_must_equal_quantity_where_codes_are_scanned(
    scanning_pharmacy, pharmacist_user, stocked
):
    item, codes = stocked
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 2, codes[:1])])

    assert refused.value.code == "inventory.trace_code_count"
    assert inventory_state() == before


def test_a_pharmacy_that_does_not_scan_may_sell_without_codes(pharmacy, pharmacist_user, drug):
    result, _ = receive(pharmacist_user, drug, 2, codes=[])

    sold = sell(pharmacist_user, pharmacy, [SaleLine(result.movement.stock_item_id, 2)])

    assert sold.movement.quantity_after == 0


def test_the_same_sale_sent_twice_is_recorded_once(scanning_pharmacy, pharmacist_user, stocked):
    item, codes = stocked
    lines = [{"stock_item_id": item.pk, "quantity": 1, "trace_codes": codes[:1]}]
    first = sell(pharmacist_user, scanning_pharmacy, lines, key="disp-9")
    before = inventory_state()

    again = sell(pharmacist_user, scanning_pharmacy, lines, key="disp-9")

    assert again.replayed
    assert [m.pk for m in again.movements] == [m.pk for m in first.movements]
    assert inventory_state() == before


def test_the_same_key_for_another_sale_is_a_conflict(scanning_pharmacy, pharmacist_user, stocked):
    item, codes = stocked
    sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, codes[:1])], key="disp-9")
    before = inventory_state()

    with pytest.raises(Conflict) as refused:
        sell(pharmacist_user, scanning_pharmacy, [SaleLine(item.pk, 1, codes[1:2])], key="disp-9")

    assert refused.value.code == "inventory.idempotency_mismatch"
    assert inventory_state() == before


def test_unknown_platform_fields_are_refused(scanning_pharmacy, pharmacist_user, stocked):
    item, codes = stocked

    with pytest.raises(DomainError) as refused:
        sell(
            pharmacist_user,
            scanning_pharmacy,
            [SaleLine(item.pk, 1, codes[:1])],
            platform_fields={"certno": "420102197005170011"},
        )

    assert refused.value.code == "inventory.invalid_field"
    assert not StockMovement.objects.filter(kind=MovementKind.SALE).exists()


# --- sale returns ------------------------------------------------------------------------------


@pytest.fixture
def sale(scanning_pharmacy, pharmacist_user, insured_person, stocked):
    item, codes = stocked
    result = sell(
        pharmacist_user,
        scanning_pharmacy,
        [SaleLine(item.pk, 3, codes[:3])],
        person=insured_person,
    )
    return result.movement, codes[:3]


def test_a_sale_return_restores_stock_and_codes(pharmacist_user, sale):
    movement, codes = sale

    result = sale_return(
        actor=pharmacist_user,
        movement_id=movement.pk,
        quantity=1,
        trace_codes=codes[:1],
        reason="患者停药退回（包装完好）",
        idempotency_key="ret-1",
    )

    back = result.movement
    assert (back.kind, back.quantity_delta, back.quantity_after) == (MovementKind.SALE_RETURN, 1, 3)
    assert back.infno == "3506"
    assert back.related_movement == movement
    assert back.person == movement.person
    code = TraceCode.objects.get(code=codes[0])
    assert (code.status, code.sold_at, code.last_movement_id) == (
        TraceCodeStatus.IN_STOCK,
        None,
        back.pk,
    )
    assert AuditEvent.objects.filter(action="inventory.sale_returned").count() == 1


def test_more_than_sold_cannot_be_returned(pharmacist_user, sale):
    movement, codes = sale
    sale_return(
        actor=pharmacist_user,
        movement_id=movement.pk,
        quantity=2,
        trace_codes=codes[:2],
        reason="退回",
        idempotency_key=None,
    )
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sale_return(
            actor=pharmacist_user,
            movement_id=movement.pk,
            quantity=2,
            trace_codes=codes[1:3],
            reason="退回",
            idempotency_key=None,
        )

    assert refused.value.code == "inventory.return_exceeds_sale"
    assert inventory_state() == before


def test_a_code_not_in_the_sale_cannot_be_returned(pharmacist_user, sale, stocked):
    movement, _ = sale
    _, codes = stocked
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        sale_return(
            actor=pharmacist_user,
            movement_id=movement.pk,
            quantity=1,
            trace_codes=codes[4:5],  # still in stock, never sold
            reason="退回",
            idempotency_key=None,
        )

    assert refused.value.code == "inventory.trace_code_not_in_sale"
    assert inventory_state() == before


def test_only_a_sale_can_be_returned_and_only_by_its_pharmacy(
    pharmacist_user, outsider_pharmacist, sale, stocked
):
    movement, codes = sale
    purchase = StockMovement.objects.get(kind=MovementKind.PURCHASE)

    with pytest.raises(Conflict) as not_a_sale:
        sale_return(
            actor=pharmacist_user,
            movement_id=purchase.pk,
            quantity=1,
            trace_codes=codes[:1],
            reason="退回",
            idempotency_key=None,
        )
    with pytest.raises(NotFound):
        sale_return(
            actor=outsider_pharmacist,
            movement_id=movement.pk,
            quantity=1,
            trace_codes=codes[:1],
            reason="退回",
            idempotency_key=None,
        )

    assert not_a_sale.value.code == "inventory.not_a_sale"
    assert not StockMovement.objects.filter(kind=MovementKind.SALE_RETURN).exists()


def test_a_returned_code_can_be_sold_again(scanning_pharmacy, pharmacist_user, sale):
    movement, codes = sale
    sale_return(
        actor=pharmacist_user,
        movement_id=movement.pk,
        quantity=1,
        trace_codes=codes[:1],
        reason="退回",
        idempotency_key=None,
    )

    again = sell(
        pharmacist_user,
        scanning_pharmacy,
        [SaleLine(movement.stock_item_id, 1, codes[:1])],
        reference="dispensing:3",
    )

    assert TraceCode.objects.get(code=codes[0]).last_movement_id == again.movement.pk
    assert not Alert.objects.exists()
