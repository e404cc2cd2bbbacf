"""The pharmacy's stock pages [issue 12, point 4]: intake by scanning a delivery's codes,
return to the supplier, stocktake with its difference; each recorded once, refused in Chinese
with nothing written, and only for the pharmacy's own pharmacists."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from dualchannel.core.models import AuditEvent
from dualchannel.inventory.models import StockItem, StockMovement, TraceCode

from .conftest import PREFIX, in_days, receive
from .factories import trace_codes

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(scanning_pharmacy, pharmacist_user, drug):
    result, _codes = receive(pharmacist_user, drug, 3)
    return result.movements[0].stock_item


def state():
    return (
        StockMovement.objects.count(),
        list(StockItem.objects.order_by("pk").values_list("quantity", flat=True)),
        list(TraceCode.objects.order_by("code").values_list("status", flat=True)),
        AuditEvent.objects.count(),
    )


def intake(drug, codes, **extra):
    return {
        "idempotency_key": "page-receive-1",
        "drug_id": str(drug.pk),
        "batch_no": "L2402",
        "expiry_date": in_days(400).isoformat(),
        "retail_price": "1280.50",
        "supplier_name": "九州通医药",
        "reference": "PS-001",
        "trace_codes": "\n".join(codes),
        **extra,
    }


def test_intake_by_scanning_counts_the_codes_and_records_once(client, pharmacist_user, batch, drug):
    client.force_login(pharmacist_user)
    codes = trace_codes(PREFIX, 2)
    url = reverse("inventory-stock-receive")

    first = client.post(url, intake(drug, codes))
    again = client.post(url, intake(drug, codes))  # a double click: the same key

    assert first.status_code == again.status_code == 302
    item = StockItem.objects.get(batch_no="L2402")
    assert item.quantity == 2
    assert StockMovement.objects.filter(stock_item=item, kind="purchase").count() == 1
    assert set(TraceCode.objects.filter(stock_item=item).values_list("code", flat=True)) == set(
        codes
    )
    assert AuditEvent.objects.filter(action="inventory.stock_received").count() >= 2
    page = client.get(reverse("inventory-stock")).content.decode()
    assert "L2402" in page


def test_intake_with_a_code_already_in_stock_is_refused_in_chinese(
    client, pharmacist_user, batch, drug
):
    client.force_login(pharmacist_user)
    known = TraceCode.objects.filter(stock_item=batch).first().code
    before = state()[:3]  # the red-flag alert (and its audit event) survives the refusal

    response = client.post(reverse("inventory-stock-receive"), intake(drug, [known]))

    assert response.status_code >= 400
    text = response.content.decode()
    assert "不能重复入库" in text
    assert 'value="L2402"' in text  # what was typed is kept
    assert state()[:3] == before


def test_intake_with_a_bad_price_is_refused_and_writes_nothing(
    client, pharmacist_user, batch, drug
):
    client.force_login(pharmacist_user)
    before = state()

    response = client.post(
        reverse("inventory-stock-receive"),
        intake(drug, trace_codes(PREFIX, 1), retail_price="一千"),
    )

    assert response.status_code == 400
    assert "零售价" in response.content.decode()
    assert state() == before


def test_intake_without_a_drug_is_refused(client, pharmacist_user, batch, drug):
    client.force_login(pharmacist_user)
    before = state()

    response = client.post(
        reverse("inventory-stock-receive"), intake(drug, trace_codes(PREFIX, 1), drug_id="")
    )

    assert response.status_code == 400
    assert "请选择药品" in response.content.decode()
    assert state() == before


def test_supplier_return_by_scanning(client, pharmacist_user, batch):
    client.force_login(pharmacist_user)
    code = TraceCode.objects.filter(stock_item=batch).order_by("code").first().code

    response = client.post(
        reverse("inventory-stock-return", args=[batch.pk]),
        {"idempotency_key": "ret-1", "trace_codes": code, "reason": "近效期退货"},
    )

    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.quantity == 2
    assert TraceCode.objects.get(code=code).status == "returned_to_supplier"


def test_supplier_return_without_a_reason_writes_nothing(client, pharmacist_user, batch):
    client.force_login(pharmacist_user)
    code = TraceCode.objects.filter(stock_item=batch).first().code
    before = state()

    response = client.post(
        reverse("inventory-stock-return", args=[batch.pk]),
        {"idempotency_key": "ret-2", "trace_codes": code, "reason": ""},
    )

    assert response.status_code == 400
    before_details = response.content.decode().split('<details class="support"')[0]
    visible = re.sub(r"<[^>]*>", " ", before_details)
    assert "原因或说明：不能为空" in visible
    assert "inventory." not in visible and "reason" not in visible
    assert state() == before


def test_stocktake_books_and_shows_the_difference(client, pharmacist_user, batch):
    client.force_login(pharmacist_user)
    missing = TraceCode.objects.filter(stock_item=batch).order_by("code").first().code
    url = reverse("inventory-stock-stocktake", args=[batch.pk])

    response = client.post(
        url,
        {
            "idempotency_key": "st-1",
            "counted_quantity": "2",
            "trace_codes": missing,
            "reason": "月末盘点",
        },
        follow=True,
    )

    batch.refresh_from_db()
    assert batch.quantity == 2
    assert TraceCode.objects.get(code=missing).status == "missing"
    assert "盘亏1" in response.content.decode()
    assert "盘亏 1" in client.get(url).content.decode()  # the batch's history shows it


def test_stocktake_with_a_bad_count_writes_nothing(client, pharmacist_user, batch):
    client.force_login(pharmacist_user)
    before = state()

    response = client.post(
        reverse("inventory-stock-stocktake", args=[batch.pk]),
        {"idempotency_key": "st-2", "counted_quantity": "-1", "reason": "月末盘点"},
    )

    assert response.status_code == 400
    assert "数量应为非负整数" in response.content.decode()
    assert state() == before


@pytest.mark.parametrize("name", ["inventory-stock-return", "inventory-stock-stocktake"])
def test_another_pharmacy_cannot_open_the_batch(client, outsider_pharmacist, batch, name):
    client.force_login(outsider_pharmacist)
    before = state()

    assert client.get(reverse(name, args=[batch.pk])).status_code == 404
    response = client.post(
        reverse(name, args=[batch.pk]),
        {"idempotency_key": "x", "counted_quantity": "0", "reason": "x", "trace_codes": ""},
    )
    assert response.status_code == 404
    assert state() == before


@pytest.mark.parametrize(
    "name", ["inventory-stock", "inventory-stock-receive", "inventory-stock-return"]
)
def test_other_roles_are_refused(client, physician_user, agency_user, batch, name):
    args = [batch.pk] if name == "inventory-stock-return" else []
    for user in (physician_user, agency_user):
        client.force_login(user)
        assert client.get(reverse(name, args=args)).status_code == 403
