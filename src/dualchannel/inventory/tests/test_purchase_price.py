"""The actual purchase price recorded at receipt [CX art. 14(2)]: the batch keeps it, the 3503
upload sends it as ``finl_trns_pric``, and a bad price is refused with nothing written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.inventory.models import StockItem
from dualchannel.inventory.upload import movement_upload_process
from dualchannel.simulators.models import SimInventoryRecord

from .conftest import inventory_state, receive

pytestmark = pytest.mark.django_db


def test_the_receipt_records_the_purchase_price_and_uploads_it(
    scanning_pharmacy, pharmacist_user, drug
):
    """CX art. 14(2): the actual purchase price is recorded when the batch is received (and the
    3503 purchase record carries it as the final transaction price)."""
    result, _ = receive(pharmacist_user, drug, 2, purchase_price="1180.20")

    item = StockItem.objects.get(pk=result.movement.stock_item_id)
    assert item.purchase_price == Decimal("1180.20")
    movement_upload_process(result.movement.pk)
    assert SimInventoryRecord.objects.get(infno="3503").data["finl_trns_pric"] == "1180.20"


def test_a_receipt_without_a_purchase_price_keeps_the_one_recorded(
    scanning_pharmacy, pharmacist_user, drug
):
    """CX art. 14(2): a later receipt that does not state a price leaves the batch's as it was."""
    receive(pharmacist_user, drug, 2, purchase_price="1180.20")

    result, _ = receive(pharmacist_user, drug, 1, codes=["81234560000000000099"])

    assert result.movement.stock_item.purchase_price == Decimal("1180.20")


def test_a_bad_purchase_price_is_refused_and_nothing_is_written(
    scanning_pharmacy, pharmacist_user, drug
):
    """Bad input: a price with more than two decimals or not a number is refused with a code and
    a Chinese message; nothing is written."""
    before = inventory_state()

    for bad in ("12.345", "abc", "-1"):
        with pytest.raises(DomainError) as refused:
            receive(pharmacist_user, drug, 1, purchase_price=bad)
        assert refused.value.code == "inventory.invalid_field"
        assert "purchase_price" in refused.value.fields

    assert inventory_state() == before
