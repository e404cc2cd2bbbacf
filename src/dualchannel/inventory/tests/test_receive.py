"""Receiving purchases (3503): batches, traceability codes, refusals that write nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent, Job
from dualchannel.inventory.models import (
    MovementKind,
    StockItem,
    StockMovement,
    TraceCode,
    TraceCodeStatus,
    UploadStatus,
)
from dualchannel.inventory.services import sale_record, stock_receive
from dualchannel.monitoring.models import Alert

from .conftest import PREFIX, in_days, inventory_state, receive
from .factories import trace_codes

pytestmark = pytest.mark.django_db


def test_receipt_creates_the_batch_its_codes_the_movement_the_audit_and_the_upload_job(
    scanning_pharmacy, pharmacist_user, drug
):
    # when
    result, codes = receive(pharmacist_user, drug, 3, idempotency_key="po-1")

    # then
    item = StockItem.objects.get(pharmacy=scanning_pharmacy, drug=drug, batch_no="L2401")
    assert item.quantity == 3
    assert item.retail_price == Decimal("1280.50")
    assert item.approval_no == "国药准字H20170001"
    movement = result.movement
    assert (movement.kind, movement.quantity_delta, movement.quantity_after) == (
        MovementKind.PURCHASE,
        3,
        3,
    )
    assert movement.infno == "3503"
    assert movement.upload_status == UploadStatus.PENDING
    assert result.warnings == []
    rows = TraceCode.objects.filter(code__in=codes)
    assert {(t.status, t.stock_item_id, t.product_prefix) for t in rows} == {
        (TraceCodeStatus.IN_STOCK, item.pk, PREFIX)
    }
    assert movement.trace_code_links.count() == 3
    event = AuditEvent.objects.get(action="inventory.stock_received")
    assert event.subject_id == str(item.pk)
    assert event.summary["movement_id"] == movement.pk
    assert event.summary["trace_codes"] == 3
    job = Job.objects.get(kind="inventory.upload")
    assert job.payload == {"movement_id": movement.pk}
    assert movement.upload_history.get().to_status == UploadStatus.PENDING


def test_a_second_receipt_of_the_same_batch_adds_to_it(scanning_pharmacy, pharmacist_user, drug):
    receive(pharmacist_user, drug, 2)

    result, _ = receive(pharmacist_user, drug, 3, retail_price="1300")

    item = result.movement.stock_item
    assert StockItem.objects.count() == 1
    assert item.quantity == 5
    assert result.movement.quantity_after == 5
    assert item.retail_price == Decimal("1300.00")


def test_unconnected_pharmacy_needs_no_upload(pharmacy, pharmacist_user, drug):
    # given: a pharmacy without platform code, not scanning codes
    result, _ = receive(pharmacist_user, drug, 2, codes=[])

    assert result.movement.upload_status == UploadStatus.NOT_REQUIRED
    assert not Job.objects.filter(kind="inventory.upload").exists()


def test_non_standard_code_is_accepted_with_a_warning(scanning_pharmacy, pharmacist_user, drug):
    gs1 = "0106901234567892172812311012345A"

    result, _ = receive(pharmacist_user, drug, 2, codes=[gs1, *trace_codes(PREFIX, 1)])

    assert [w["code"] for w in result.warnings] == ["inventory.trace_code_nonstandard"]
    assert result.warnings[0]["trace_code"] == gs1
    assert TraceCode.objects.get(code=gs1).product_prefix == ""
    assert result.movement.warnings == result.warnings


def test_code_count_must_equal_quantity_where_codes_are_scanned(
    scanning_pharmacy, pharmacist_user, drug
):
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        receive(pharmacist_user, drug, 3, codes=trace_codes(PREFIX, 2))

    assert refused.value.code == "inventory.trace_code_count"
    assert inventory_state() == before


@pytest.mark.parametrize(
    "bad", ["", "ABC-123", "码12345678901234567", "1" * 101], ids=["empty", "dash", "hanzi", "long"]
)
def test_malformed_codes_are_refused(scanning_pharmacy, pharmacist_user, drug, bad):
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        receive(pharmacist_user, drug, 1, codes=[bad])

    assert refused.value.code == "inventory.trace_code_invalid"
    assert inventory_state() == before


def test_the_same_code_twice_in_one_receipt_is_refused(scanning_pharmacy, pharmacist_user, drug):
    code = trace_codes(PREFIX, 1)[0]
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        receive(pharmacist_user, drug, 2, codes=[code, code])

    assert refused.value.code == "inventory.trace_code_duplicate"
    assert inventory_state() == before
    assert not Alert.objects.exists()  # a double scan, not a red flag


def test_a_code_already_in_stock_is_refused_with_an_alert_and_nothing_else_written(
    scanning_pharmacy, pharmacist_user, drug, stocked
):
    item, codes = stocked
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        receive(pharmacist_user, drug, 2, codes=[codes[0], *trace_codes(PREFIX, 1)], batch_no="X9")

    assert refused.value.code == "inventory.trace_code_duplicate"
    assert inventory_state() == before
    assert not StockItem.objects.filter(batch_no="X9").exists()
    alert = Alert.objects.get()
    assert alert.rule == "trace_code_duplicate"
    assert alert.severity == "warning"
    assert alert.institution_id == scanning_pharmacy.pk
    assert alert.subject_type == "inventory.TraceCode"
    assert alert.evidence["trace_code"] == codes[0]
    assert alert.evidence["recorded_stock_item_id"] == item.pk
    assert alert.evidence["attempt_batch_no"] == "X9"
    assert AuditEvent.objects.filter(action="monitoring.alert_raised").count() == 1


def test_a_code_already_sold_elsewhere_is_refused_with_a_high_alert(
    scanning_pharmacy, pharmacist_user, outsider_pharmacist, other_pharmacy, drug
):
    # given: a code sold at another pharmacy

    other_pharmacy.traceability_enabled = True
    other_pharmacy.save()
    sold, codes = receive(outsider_pharmacist, drug, 1)
    sale_record(
        actor=outsider_pharmacist,
        pharmacy=other_pharmacy,
        lines=[{"stock_item_id": sold.movement.stock_item_id, "quantity": 1, "trace_codes": codes}],
        reference="dispensing:1",
        idempotency_key="s1",
    )
    before = inventory_state()

    # when: Wuhan receives a package with that code
    with pytest.raises(DomainError) as refused:
        receive(pharmacist_user, drug, 1, codes=codes)

    # then
    assert refused.value.code == "inventory.trace_code_duplicate"
    assert inventory_state() == before
    alert = Alert.objects.get(rule="trace_code_duplicate")
    assert alert.severity == "high"
    assert alert.evidence["recorded_status"] == "sold"
    assert alert.evidence["recorded_pharmacy_id"] == other_pharmacy.pk


def test_expired_batch_is_refused(scanning_pharmacy, pharmacist_user, drug):
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        receive(pharmacist_user, drug, 1, expiry_date=in_days(-1))

    assert refused.value.code == "inventory.batch_expired"
    assert inventory_state() == before


def test_a_batch_number_with_another_expiry_date_is_refused(
    scanning_pharmacy, pharmacist_user, drug, stocked
):
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        receive(pharmacist_user, drug, 1, expiry_date=in_days(400))

    assert refused.value.code == "inventory.batch_mismatch"
    assert inventory_state() == before


def test_the_same_key_and_body_returns_the_first_result_and_writes_nothing(
    scanning_pharmacy, pharmacist_user, drug
):
    codes = trace_codes(PREFIX, 2)
    first, _ = receive(pharmacist_user, drug, 2, codes=codes, idempotency_key="po-7")
    before = inventory_state()

    again, _ = receive(pharmacist_user, drug, 2, codes=codes, idempotency_key="po-7")

    assert again.replayed is True
    assert [m.pk for m in again.movements] == [first.movement.pk]
    assert inventory_state() == before


def test_the_same_key_with_another_body_is_a_conflict(scanning_pharmacy, pharmacist_user, drug):
    receive(pharmacist_user, drug, 2, idempotency_key="po-8")
    before = inventory_state()

    with pytest.raises(Conflict) as refused:
        receive(pharmacist_user, drug, 1, idempotency_key="po-8")

    assert refused.value.code == "inventory.idempotency_mismatch"
    assert inventory_state() == before


def test_a_pharmacist_cannot_receive_into_another_pharmacy(
    scanning_pharmacy, outsider_pharmacist, drug
):
    before = inventory_state()

    with pytest.raises(NotFound):
        receive(outsider_pharmacist, drug, 1, pharmacy=scanning_pharmacy)

    assert inventory_state() == before


def test_other_roles_cannot_receive(scanning_pharmacy, physician_user, agency_user, drug):
    for actor in (physician_user, agency_user):
        with pytest.raises(PermissionDenied):
            receive(actor, drug, 1)
    assert not StockMovement.objects.exists()


def test_an_admin_receives_into_a_named_pharmacy(scanning_pharmacy, admin_user, drug):
    result, _ = receive(admin_user, drug, 1, pharmacy=scanning_pharmacy)

    assert result.movement.pharmacy_id == scanning_pharmacy.pk
    assert AuditEvent.objects.get(action="inventory.stock_received").actor_role == "admin"


def test_an_admin_must_name_a_pharmacy(scanning_pharmacy, admin_user, drug):
    with pytest.raises(DomainError) as refused:
        receive(admin_user, drug, 1)

    assert refused.value.code == "inventory.not_a_pharmacy"


def test_invalid_fields_are_refused(scanning_pharmacy, pharmacist_user, drug):
    cases = [
        ({"quantity": 0}, "inventory.invalid_quantity"),
        ({"retail_price": "-1"}, "inventory.invalid_field"),
        ({"retail_price": "abc"}, "inventory.invalid_field"),
        ({"batch_no": " "}, "inventory.invalid_field"),
        ({"manufacture_date": in_days(1)}, "inventory.invalid_field"),
        ({"drug_id": 999999}, "inventory.drug_not_found"),
    ]
    for change, code in cases:
        values = {
            "actor": pharmacist_user,
            "drug_id": drug.pk,
            "batch_no": "L1",
            "expiry_date": in_days(300),
            "quantity": 1,
            "trace_codes": trace_codes(PREFIX, 1),
            "retail_price": "10",
            "idempotency_key": None,
            **change,
        }
        if values["quantity"] == 0:
            values["trace_codes"] = []
        with pytest.raises(DomainError) as refused:
            stock_receive(**values)
        assert refused.value.code == code, change
    assert not StockMovement.objects.exists()
