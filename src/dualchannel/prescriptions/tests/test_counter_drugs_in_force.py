"""The counter and the drugs in force [SD §1, CX art. 4, 6] and the sale price [CX art. 14(2)]:
a drug whose agreement period has ended, or that is off the region's list in force, is warned
about at verification (the fund will not pay for it); where the profile says the sale price is
the actual purchase price, a box is sold at the price recorded when its batch was received."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dualchannel.catalog.models import Drug, RegionalList, RegionalListEntry, RegionalListKind
from dualchannel.catalog.tests.factories import DrugFactory, PaymentStandardFactory
from dualchannel.core.errors import DomainError
from dualchannel.inventory.models import StockItem
from dualchannel.prescriptions.services import counter
from dualchannel.registry.models import SalePriceRule
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.tests.factories import region

from .helpers import TODAY, dispense, line, me

pytestmark = pytest.mark.django_db


def _check(actor, prescription, stock_item):
    return counter.counter_check(
        actor=actor,
        prescription_id=prescription.pk,
        identity=me(prescription),
        lines=[line(prescription, stock_item)],
        today=TODAY,
    )


def _warnings(result) -> dict[str, str]:
    return {c.code: c.message for c in result.checks if c.warning}


def test_the_counter_warns_when_the_agreement_period_has_ended(
    routed, pharmacist, pharmacist_user, stock, lung_drug
):
    """SD §1: a drug whose agreement period ended before today is not paid by the fund; the
    pharmacist is told at verification, and the sale is not refused."""
    Drug.objects.filter(pk=lung_drug.pk).update(agreement_end=date(2026, 3, 1))

    result = _check(pharmacist_user, routed, stock[0])

    assert result.ok, result.refusals
    message = _warnings(result)["counter.drug_not_in_force"]
    assert "协议期已于2026-03-01结束" in message and "全自费" in message


def test_within_the_agencys_grace_the_counter_does_not_warn(
    routed, pharmacist, pharmacist_user, stock, lung_drug, bound_pharmacy
):
    """SD §1, CX art. 4: the grace the agency sets (profile ``agreement_grace_days``) keeps the
    drug payable for that many days after the period ends."""
    Drug.objects.filter(pk=lung_drug.pk).update(agreement_end=date(2026, 3, 1))
    profile = profile_of(bound_pharmacy)
    profile.agreement_grace_days = 15
    profile.save(update_fields=["agreement_grace_days"])

    result = _check(pharmacist_user, routed, stock[0])

    assert "counter.drug_not_in_force" not in _warnings(result)


def test_the_counter_warns_when_the_drug_is_off_the_regions_list(
    routed, pharmacist, pharmacist_user, stock, lung_drug
):
    """CX art. 4, 6: where the region's dual-channel list is in force, a drug off it is not paid
    as a dual-channel drug."""
    listing = RegionalList.objects.create(
        region=region("420100"),
        kind=RegionalListKind.DUAL_CHANNEL,
        title="武汉市双通道管理药品目录",
        valid_from=date(2026, 1, 1),
        source_sha256="0" * 64,
    )
    other = DrugFactory()
    RegionalListEntry.objects.create(
        regional_list=listing, drug=other, valid_from=date(2026, 1, 1), row=1
    )

    result = _check(pharmacist_user, routed, stock[0])

    assert "未列入武汉市双通道管理药品目录" in _warnings(result)["counter.drug_not_in_force"]


def test_under_the_purchase_price_rule_a_box_sells_at_its_purchase_price(
    routed, pharmacist, pharmacist_user, stock, lung_drug, bound_pharmacy
):
    """CX art. 14(2): the sale price is the actual purchase price, not above the payment
    standard; the profile says so, and the counter charges what the receipt recorded."""
    PaymentStandardFactory(
        drug=lung_drug, unit="粒", amount=Decimal("20.00"), specification="150mg*50粒"
    )
    StockItem.objects.filter(pk=stock[0].pk).update(purchase_price=Decimal("936.50"))
    profile = profile_of(bound_pharmacy)
    profile.sale_price_rule = SalePriceRule.PURCHASE_PRICE
    profile.save(update_fields=["sale_price_rule"])

    dispensing = dispense(pharmacist_user, routed, stock[0])

    (dispensed_line,) = dispensing.lines.all()
    assert dispensed_line.unit_price == Decimal("936.50")  # the retail price is 1000.00


def test_under_the_purchase_price_rule_a_batch_without_one_is_refused(
    routed, pharmacist, pharmacist_user, stock, bound_pharmacy
):
    """CX art. 14(2): without a recorded purchase price the pharmacy cannot sell at it; the
    counter refuses with a code and a Chinese message, and nothing is dispensed."""
    profile = profile_of(bound_pharmacy)
    profile.sale_price_rule = SalePriceRule.PURCHASE_PRICE
    profile.save(update_fields=["sale_price_rule"])
    before = StockItem.objects.get(pk=stock[0].pk).quantity

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0])

    assert refused.value.code == "counter.purchase_price_missing"
    assert "未登记实际采购价格" in refused.value.message
    assert StockItem.objects.get(pk=stock[0].pk).quantity == before


def test_a_purchase_price_above_the_payment_standard_is_refused(
    routed, pharmacist, pharmacist_user, stock, lung_drug, bound_pharmacy
):
    """CX art. 14(2): the purchase price is charged, but never above the payment standard."""
    PaymentStandardFactory(
        drug=lung_drug, unit="粒", amount=Decimal("20.00"), specification="150mg*50粒"
    )
    StockItem.objects.filter(pk=stock[0].pk).update(purchase_price=Decimal("1000.01"))
    profile = profile_of(bound_pharmacy)
    profile.sale_price_rule = SalePriceRule.PURCHASE_PRICE
    profile.save(update_fields=["sale_price_rule"])

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0])

    assert refused.value.code == "counter.price_above_standard"
    assert "1000.01" in refused.value.message
