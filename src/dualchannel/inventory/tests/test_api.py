"""The inventory API: a pharmacist's day at the counter, and the agency's coverage report."""

from __future__ import annotations

import pytest

from dualchannel.inventory.models import StockItem

from .conftest import PREFIX
from .factories import receipt, trace_codes

pytestmark = pytest.mark.django_db


def test_receive_list_suggest_and_take_stock(api_client, scanning_pharmacy, pharmacist_user, drug):
    api_client.as_user(pharmacist_user)
    base = f"/api/v1/inventory/pharmacies/{scanning_pharmacy.pk}"
    codes = trace_codes(PREFIX, 3)

    received = api_client.post_json(f"{base}/receipts", receipt(drug, codes))
    again = api_client.post_json(f"{base}/receipts", receipt(drug, codes))
    stock = api_client.get(f"{base}/stock").json()
    fefo = api_client.get(f"{base}/fefo", {"drug_id": drug.pk, "quantity": 5}).json()
    item_id = stock[0]["id"]
    stocktake = api_client.post_json(
        f"/api/v1/inventory/stock/{item_id}/stocktakes",
        {"counted_quantity": 3, "reason": "盘点", "idempotency_key": "st-1"},
    )
    returned = api_client.post_json(
        f"/api/v1/inventory/stock/{item_id}/supplier-returns",
        {"quantity": 1, "trace_codes": codes[:1], "reason": "破损", "idempotency_key": "r-1"},
    )
    movements = api_client.get(f"{base}/movements").json()
    detail = api_client.get(f"/api/v1/inventory/movements/{movements[-1]['id']}").json()

    assert received.status_code == 200, received.content
    body = received.json()
    assert body["replayed"] is False
    assert body["movements"][0]["infno"] == "3503"
    assert again.json()["replayed"] is True
    assert [(s["batch_no"], s["quantity"], s["retail_price"]) for s in stock] == [
        ("L2401", 3, "1280.50")
    ]
    assert (fefo["available"], fefo["shortfall"], fefo["picks"][0]["stock_item_id"]) == (
        3,
        2,
        item_id,
    )
    assert stocktake.status_code == 200
    assert returned.json()["movements"][0]["quantity_after"] == 2
    assert [m["kind"] for m in movements] == ["purchase_return", "stocktake", "purchase"]
    assert detail["trace_codes"] == sorted(codes)
    assert detail["upload_history"][0]["to_status"] == "pending"


def test_a_stocktake_names_the_codes_of_the_missing_packages(
    api_client, scanning_pharmacy, pharmacist_user, drug
):
    # given: three packages received
    api_client.as_user(pharmacist_user)
    base = f"/api/v1/inventory/pharmacies/{scanning_pharmacy.pk}"
    codes = trace_codes(PREFIX, 3)
    api_client.post_json(f"{base}/receipts", receipt(drug, codes))
    url = f"/api/v1/inventory/stock/{StockItem.objects.get().pk}/stocktakes"

    # when: one is missing, first named with a code of no package of the batch
    wrong = api_client.post_json(
        url,
        {
            "counted_quantity": 2,
            "reason": "盘点",
            "trace_codes": trace_codes(PREFIX, 1),
            "idempotency_key": "st-0",
        },
    )
    taken = api_client.post_json(
        url,
        {
            "counted_quantity": 2,
            "reason": "盘点",
            "trace_codes": codes[2:],
            "idempotency_key": "st-1",
        },
    )

    # then
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "inventory.trace_code_not_in_stock"
    assert taken.status_code == 200, taken.content
    body = taken.json()
    assert (body["movements"][0]["quantity_after"], body["warnings"]) == (2, [])
    detail = api_client.get(f"/api/v1/inventory/movements/{body['movements'][0]['id']}").json()
    assert (detail["infno"], detail["trace_codes"]) == ("3501", codes[2:])


def test_refusals_have_the_error_shape(api_client, scanning_pharmacy, pharmacist_user, drug):
    api_client.as_user(pharmacist_user)
    url = f"/api/v1/inventory/pharmacies/{scanning_pharmacy.pk}/receipts"

    wrong_count = api_client.post_json(url, receipt(drug, trace_codes(PREFIX, 2), quantity=3))
    no_key = api_client.post_json(
        url, {**receipt(drug, trace_codes(PREFIX, 1)), "idempotency_key": ""}
    )

    assert wrong_count.status_code == 400
    assert wrong_count.json()["error"]["code"] == "inventory.trace_code_count"
    assert no_key.status_code == 422
    assert not StockItem.objects.exists()


def test_another_pharmacys_stock_is_not_found(
    api_client, scanning_pharmacy, outsider_pharmacist, drug
):
    api_client.as_user(outsider_pharmacist)
    base = f"/api/v1/inventory/pharmacies/{scanning_pharmacy.pk}"

    for response in (
        api_client.get(f"{base}/stock"),
        api_client.get(f"{base}/movements"),
        api_client.post_json(f"{base}/receipts", receipt(drug, trace_codes(PREFIX, 1))),
    ):
        assert response.status_code == 404
    assert not StockItem.objects.exists()


def test_officers_read_the_coverage_of_their_region(api_client, agency_user, pharmacy):
    response = api_client.as_user(agency_user).get("/api/v1/inventory/coverage")

    assert response.status_code == 200
    assert [row["pharmacy_id"] for row in response.json()] == [pharmacy.pk]
