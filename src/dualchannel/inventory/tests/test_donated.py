"""Donated stock (赠药) is marked at receipt, so that a box of it is never paid by the fund
[HB art. 31(7): 使用药品生产企业或者慈善组织无偿提供的双通道药品或单独支付药品]."""

from __future__ import annotations

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.inventory.models import StockItem, StockMovement, TraceCode
from dualchannel.inventory.selectors import sold_as_donation
from dualchannel.simulators.models import SimInventoryRecord

from .conftest import PREFIX, inventory_state, receive
from .factories import drain, receipt, trace_codes

pytestmark = pytest.mark.django_db

DONOR = "某基金会患者援助项目"


def test_a_donated_receipt_marks_its_batch_its_codes_and_its_movement(
    scanning_pharmacy, pharmacist_user, drug
):
    """HB art. 31(7): the donation is recorded where the box is received."""
    result, codes = receive(pharmacist_user, drug, 2, donated=True, supplier_name=DONOR)

    movement = result.movement
    assert (movement.donated, movement.supplier_name) == (True, DONOR)
    assert StockItem.objects.get(pk=movement.stock_item_id).donated
    assert set(TraceCode.objects.filter(code__in=codes).values_list("donated", flat=True)) == {True}
    event = AuditEvent.objects.get(action="inventory.stock_received")
    assert event.summary["donated"] is True
    assert sold_as_donation(movement.stock_item_id, codes[:1])
    assert sold_as_donation(movement.stock_item_id, [])  # sold without a code


def test_a_purchase_is_not_donated(scanning_pharmacy, pharmacist_user, drug):
    result, codes = receive(pharmacist_user, drug, 2)

    assert not result.movement.donated
    assert not StockItem.objects.get(pk=result.movement.stock_item_id).donated
    assert not sold_as_donation(result.movement.stock_item_id, codes)
    assert "donated" not in AuditEvent.objects.get(action="inventory.stock_received").summary


def test_in_a_batch_holding_both_a_box_received_as_bought_is_not_donated(
    scanning_pharmacy, pharmacist_user, drug
):
    """HB art. 31(7): the same manufacturer's lot may come bought and donated; the code tells
    the boxes apart, and a box that cannot be told apart is taken as donated."""
    bought, bought_codes = receive(pharmacist_user, drug, 2, idempotency_key="po-1")
    _, given_codes = receive(
        pharmacist_user,
        drug,
        1,
        codes=trace_codes(PREFIX, 1),
        donated=True,
        supplier_name=DONOR,
        idempotency_key="gift-1",
    )
    batch = bought.movement.stock_item_id

    assert StockItem.objects.get(pk=batch).donated
    assert not sold_as_donation(batch, bought_codes)
    assert sold_as_donation(batch, given_codes)
    assert sold_as_donation(batch, [bought_codes[0], given_codes[0]])
    assert sold_as_donation(batch, [])  # no code: cannot be told apart
    assert sold_as_donation(batch, [trace_codes(PREFIX, 1)[0]])  # never received


def test_a_donation_without_its_donor_is_refused_and_nothing_is_written(
    scanning_pharmacy, pharmacist_user, drug
):
    before = inventory_state()

    with pytest.raises(DomainError) as refused:
        receive(pharmacist_user, drug, 1, donated=True)

    assert refused.value.code == "inventory.donor_required"
    assert "supplier_name" in refused.value.fields
    assert inventory_state() == before


def test_the_receipt_api_takes_and_shows_the_donation(
    api_client, scanning_pharmacy, pharmacist_user, drug
):
    """HB art. 31(7): a pharmacist receives donated stock through the API and sees it marked."""
    api_client.as_user(pharmacist_user)
    base = f"/api/v1/inventory/pharmacies/{scanning_pharmacy.pk}"
    codes = trace_codes(PREFIX, 2)

    received = api_client.post_json(
        f"{base}/receipts", receipt(drug, codes, donated=True, supplier_name=DONOR)
    )
    refused = api_client.post_json(
        f"{base}/receipts",
        receipt(drug, trace_codes(PREFIX, 1), key="po-2", donated=True),
    )
    stock = api_client.get(f"{base}/stock").json()

    assert received.status_code == 200, received.content
    assert received.json()["movements"][0]["donated"] is True
    assert [(s["batch_no"], s["donated"]) for s in stock] == [("L2401", True)]
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "inventory.donor_required"
    assert StockMovement.objects.count() == 1


def test_the_3503_upload_flags_a_donation_as_a_gift(scanning_pharmacy, pharmacist_user, drug):
    """HB art. 31(7): the platform's purchase record (3503) says the goods were given
    (prod_geay_flag 1, the donor as supplier); a purchase says 0."""
    receive(pharmacist_user, drug, 1, donated=True, supplier_name=DONOR, idempotency_key="g-1")
    receive(pharmacist_user, drug, 1, batch_no="L2402", idempotency_key="po-1")

    drain()

    flags = {
        r.data["spler_name"]: r.data["prod_geay_flag"]
        for r in SimInventoryRecord.objects.filter(infno="3503")
    }
    assert flags == {DONOR: "1", "无": "0"}
