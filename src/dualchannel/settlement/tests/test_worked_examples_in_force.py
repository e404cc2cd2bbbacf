"""Worked examples of the drugs in force and the sale price, one per profile [SD §1, CX art. 3,
4, 6, 14(2)]: under each shipped profile (Wuhan/Hubei, Hefei/Anhui, Jinan/Shandong, Chuxiong) a
line of a drug whose agreement period ended is wholly self-pay, within the agency's grace it is
paid; under Chuxiong's profile a box sells at its purchase price, and the fund pays on that."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dualchannel.catalog import selectors as catalog
from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.prescriptions.services.counter_checks import sale_price
from dualchannel.registry.models import Region, SalePriceRule
from dualchannel.registry.profiles import profile_for
from dualchannel.registry.tests.factories import load_seed_profiles, region
from dualchannel.settlement import payable, rules
from dualchannel.settlement.engine import Accumulated, LineInput, calculate

pytestmark = pytest.mark.django_db
D = Decimal
ON = date(2026, 6, 15)
ENDED = date(2026, 5, 31)  # the agreement period ended 15 days before the purchase
POOLING = {"420102": "420100", "340102": "340100", "370102": "370100", "532301": "532300"}
INSUTYPE = {"420102": "310", "340102": "310", "370102": "310", "532301": "310"}


@pytest.fixture
def shipped_rules(db):
    load_seed_profiles()
    for code in (*POOLING, *POOLING.values()):
        region(code)
    return rules.benefit_rules_load()


def _reason(drug, place: Region, profile) -> str:
    standing = rules.standing_of(drug, region=place, profile=profile, on=ON)
    return payable.nonpayable_reason(
        payable.LineFacts(
            **rules.listing_facts(standing),
            has_eligibility=True,
            eligibility_active=True,
            institution_designated=True,
            has_valid_prescription=True,
        )
    )


@pytest.mark.parametrize("code", list(POOLING))
def test_every_profile_makes_a_drug_past_its_agreement_period_self_pay(shipped_rules, code):
    """SD §1: under every shipped profile (no grace set: the seeds leave it to the agency) the
    line of a drug whose agreement period has ended is paid wholly by the person."""
    place = Region.objects.get(code=code)
    profile = profile_for(place)
    drug = DrugFactory(agreement_end=ENDED, is_separately_paid=False)
    parameters = rules.parameters_of(
        rules.benefit_rule_for(
            region=place,
            insurance_type=INSUTYPE[code],
            category="chronic_disease",
            hospital_level=3,
            on=ON,
        )
    )

    reason = _reason(drug, place, profile)
    result = calculate(
        [LineInput("1", D("1000.00"), D("1100.00"), "乙", reason)], parameters, Accumulated()
    )

    assert profile.agreement_grace_days is None
    assert reason == payable.OUTSIDE_AGREEMENT
    assert (result.full_self_pay, result.fund, result.personal) == (
        D("1000.00"),
        D("0.00"),
        D("1000.00"),
    )


@pytest.mark.parametrize("code", list(POOLING))
def test_within_a_grace_the_agency_sets_the_drug_is_paid(shipped_rules, code):
    """SD §1, CX art. 4: an agency that sets a 30-day grace keeps paying for 30 days."""
    place = Region.objects.get(code=code)
    profile = profile_for(place)
    profile.agreement_grace_days = 30
    drug = DrugFactory(agreement_end=ENDED, is_separately_paid=False)

    assert _reason(drug, place, profile) == ""
    assert catalog.agreement_payable_until(drug, 30) == date(2026, 6, 30)


def test_only_chuxiong_sells_at_the_purchase_price(shipped_rules):
    """CX art. 14(2): Chuxiong's pharmacies sell at the actual purchase price; the other seeds
    keep the pharmacy's retail price (never above the standard). A box bought at 936.50 and
    priced 1,000.00 at retail is sold at 936.50 in Chuxiong, and the fund pays on 936.50."""

    class Box:
        retail_price = D("1000.00")
        purchase_price = D("936.50")

    rules_by_region = {code: profile_for(Region.objects.get(code=code)) for code in POOLING}
    prices = {code: sale_price(Box, profile) for code, profile in rules_by_region.items()}
    chuxiong = rules.benefit_rule_for(
        region=Region.objects.get(code="532301"),
        insurance_type="310",
        category="chronic_disease",
        hospital_level=3,
        on=ON,
    )
    result = calculate(
        [LineInput("1", prices["532301"] * 2, D("2200.00"), "乙")],
        rules.parameters_of(chuxiong),
        Accumulated(),
    )

    assert rules_by_region["532301"].sale_price_rule == SalePriceRule.PURCHASE_PRICE
    assert prices == {
        "420102": D("1000.00"),
        "340102": D("1000.00"),
        "370102": D("1000.00"),
        "532301": D("936.50"),
    }
    assert result.total == D("1873.00")
    assert result.over_standard == D("0.00")
