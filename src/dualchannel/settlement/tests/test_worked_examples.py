"""Worked examples, one table per profile: the shipped (illustrative) benefit rules of each demo
pooling region, the lines of a purchase, and the breakdown worked out by hand to the fen; each
profile also shows a line outside the payment restriction and a donated box (the last table).
The out-of-area and inpatient-stay examples of each profile are in
test_worked_examples_area_and_stay.py, the drugs in force in test_worked_examples_in_force.py,
who may prescribe, the agency's powers and the person from the platform in
test_worked_examples_powers.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from dualchannel.catalog.tests.factories import DrugFactory, PaymentStandardFactory
from dualchannel.core.errors import DomainError
from dualchannel.registry.models import BindingMode, PaymentStandardRule, Region
from dualchannel.registry.profiles import profile_for
from dualchannel.registry.tests.factories import load_seed_profiles, region
from dualchannel.settlement import payable, rules
from dualchannel.settlement.engine import Accumulated, LineInput, Person, calculate
from dualchannel.settlement.models import BenefitRule, ListingPrice
from dualchannel.settlement.services.common import accumulator_scopes

pytestmark = pytest.mark.django_db
D = Decimal
ON = date(2026, 6, 15)


@pytest.fixture
def shipped_rules(db):
    load_seed_profiles()
    for code in ("420100", "340100", "370100", "532300", "420102", "340102", "370102", "532301"):
        region(code)
    return rules.benefit_rules_load()


def rule(code: str, insutype: str, category: str) -> BenefitRule:
    return rules.benefit_rule_for(
        region=Region.objects.get(code=code),
        insurance_type=insutype,
        category=category,
        hospital_level=3,
        on=ON,
    )


def line(amount: str, standard: str | None = None, drug_class: str = "乙") -> LineInput:
    return LineInput("1", D(amount), None if standard is None else D(standard), drug_class)


PARTS = (
    "total",
    "full_self_pay",
    "over_standard",
    "first_self_pay",
    "deductible",
    "co_pay",
    "fund",
    "critical_illness",
    "commercial",
    "personal",
)


def parts(result) -> dict[str, Decimal]:
    return {name: getattr(result, name) for name in PARTS}


# --- Hubei (Wuhan): separately-paid drugs, 特药门诊 110202 [HB art. 30–35] --------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # 2 boxes at 1,000.00 under a 1,100.00 standard: the fund pays 75 % of all of it
        (
            [line("2000.00", "2200.00")],
            {"total": "2000.00", "fund": "1500.00", "co_pay": "500.00", "personal": "500.00"},
        ),
        # sold above the standard (HB art. 31(4)): the 100.00 above it is the person's
        (
            [line("1200.00", "1100.00")],
            {
                "total": "1200.00",
                "over_standard": "100.00",
                "fund": "825.00",
                "co_pay": "275.00",
                "personal": "375.00",
            },
        ),
    ],
)
def test_hubei_special_drug_outpatient(shipped_rules, lines, expected):
    hubei = rule("420102", "310", "special_drug")

    result = calculate(lines, rules.parameters_of(hubei), Accumulated())

    assert hubei.med_type == "110202"  # HB art. 34–35
    assert profile_for(Region.objects.get(code="420102")).binding_mode == BindingMode.THREE_FIXED
    got = parts(result)
    assert {k: got[k] for k in expected} == {k: D(v) for k, v in expected.items()}
    assert sum(result.basic_parts) == result.total


# --- Anhui (Hefei): the deductible counted once across hospital and pharmacy [AH §2(5)] --------


def test_anhui_inpatient_deductible_is_counted_once_for_the_stay(shipped_rules):
    anhui = rule("340102", "390", "inpatient")
    params = rules.parameters_of(anhui)
    profile = profile_for(Region.objects.get(code="340102"))

    # the hospital's bill of the stay (乙 class 5,000.00), then a purchase at a dual-channel
    # pharmacy during the same stay (3,000.00): one deductible scope for both
    scopes = accumulator_scopes(
        anhui, ON, "340102-H001-ZY2026001", profile.deductible_once_per_stay
    )
    hospital = calculate([line("5000.00")], params, Accumulated())
    pharmacy = calculate(
        [line("3000.00")], params, Accumulated(deductible=hospital.used.deductible)
    )

    assert profile.deductible_once_per_stay and scopes["deductible"].startswith("stay:")
    assert scopes["fund"] == "2026:inpatient"  # the fund's ceiling is still the year's
    assert parts(hospital) == {
        "total": D("5000.00"),
        "full_self_pay": D("0.00"),
        "over_standard": D("0.00"),
        "first_self_pay": D("500.00"),  # 10 %
        "deductible": D("600.00"),
        "co_pay": D("1170.00"),
        "fund": D("2730.00"),  # 70 % of 3,900.00
        "critical_illness": D("0.00"),
        "commercial": D("0.00"),
        "personal": D("2270.00"),
    }
    assert (pharmacy.deductible, pharmacy.fund, pharmacy.personal) == (
        D("0.00"),
        D("1890.00"),
        D("1110.00"),
    )
    # AH §2(6): the pharmacy's fund spending is budgeted on its own line
    assert profile.pharmacy_spend_outside_hospital_budget


# --- Shandong (Jinan): first self-pay at its 20 % cap, then the layers [SD §2–3] -------------


def test_shandong_chronic_disease_with_critical_illness_and_commercial_insurance(shipped_rules):
    shandong = rule("370102", "390", "chronic_disease")

    result = calculate(
        [line("60000.00")],
        rules.parameters_of(shandong),
        Accumulated(),
        Person(commercial_insured=True),
    )

    assert shandong.first_self_pay_ratio == D("0.20")
    assert parts(result) == {
        "total": D("60000.00"),
        "full_self_pay": D("0.00"),
        "over_standard": D("0.00"),
        "first_self_pay": D("12000.00"),
        "deductible": D("500.00"),
        "co_pay": D("19000.00"),
        "fund": D("28500.00"),  # 60 % of 47,500.00
        # burden 31,500.00: 60 % above the 15,000.00 critical-illness deductible
        "critical_illness": D("9900.00"),
        # 21,600.00 left: 70 % above the 20,000.00 commercial deductible
        "commercial": D("1120.00"),
        "personal": D("20480.00"),
    }


def test_shandong_refuses_a_first_self_pay_above_twenty_percent(shipped_rules):
    # SD §3: 个人先行自付比例……调至不高于20%
    shandong = rule("370102", "390", "chronic_disease")
    shandong.first_self_pay_ratio = D("0.25")

    with pytest.raises(DomainError) as refused:
        rules.check_first_self_pay(shandong, profile_for(Region.objects.get(code="370102")))

    assert refused.value.code == "settlement.first_self_pay_above_cap"


# --- Chuxiong: national standard, provincial listing price for generics, actual if lower -----


def test_chuxiong_generic_at_the_listing_price_and_the_actual_price_when_lower(shipped_rules):
    chuxiong = rule("532301", "310", "chronic_disease")
    profile = profile_for(Region.objects.get(code="532301"))
    yunnan = Region.objects.get(code="530000")
    generic = DrugFactory()
    PaymentStandardFactory(drug=generic, specification="10mg*10片", unit="片", amount=D("12.00"))
    ListingPrice.objects.create(
        region=yunnan,
        drug=generic,
        manufacturer="云南某仿制药厂",
        specification="10mg*10片",
        price=D("80.00"),
        effective_from=date(2026, 1, 1),
        source="云南省药品采购平台挂网价（测试数据）",
    )
    lookup = {
        "profile": profile,
        "province": yunnan,
        "specification": "10mg*10片",
        "unit": "片",
        "package_unit": "盒",
        "pack_size": D(10),
        "on": ON,
    }

    listed = rules.package_standard(generic, manufacturer="云南某仿制药厂", **lookup)
    original = rules.package_standard(generic, manufacturer="原研企业", **lookup)
    # a generic sold at 90.00 × 10 boxes over its 80.00 listing price; the originator sold at
    # 100.00 × 5 under its 120.00 national standard (the actual price is paid as it is)
    result = calculate(
        [
            LineInput("generic", D("900.00"), listed.amount * 10, "乙"),
            LineInput("original", D("500.00"), original.amount * 5, "乙"),
        ],
        rules.parameters_of(chuxiong),
        Accumulated(),
    )

    assert profile.payment_standard_rule == PaymentStandardRule.NATIONAL_PROVINCIAL_ACTUAL
    assert (listed.amount, listed.source) == (D("80.00"), "listing")
    assert (original.amount, original.source) == (D("120.00"), "national")
    assert parts(result) == {
        "total": D("1400.00"),
        "full_self_pay": D("0.00"),
        "over_standard": D("100.00"),
        "first_self_pay": D("130.00"),  # 10 % of 800.00 + 500.00
        "deductible": D("600.00"),
        "co_pay": D("114.00"),
        "fund": D("456.00"),  # 80 % of 570.00
        "critical_illness": D("0.00"),
        "commercial": D("0.00"),
        "personal": D("944.00"),
    }


# --- every profile: a line outside the payment restriction and a donated box ------------------
# HB art. 31(5), 36 and AH annex note 3(3): outside the indication or the payment restriction;
# HB art. 31(7): given free by the manufacturer or a charity. Both are the person's in full, with
# their reason, whatever the region's rule does with the line the fund pays beside them.

WITHIN = payable.LineFacts(
    separately_paid=False,
    has_eligibility=False,
    eligibility_active=False,
    institution_designated=True,
    has_valid_prescription=True,
)


@pytest.mark.parametrize(
    ("code", "insutype", "category", "expected"),
    [
        # Wuhan employee 特药: no deductible, fund 75 % of the 1,000.00 paid line
        (
            "420102",
            "310",
            "special_drug",
            {"deductible": "0.00", "co_pay": "250.00", "fund": "750.00", "personal": "1050.00"},
        ),
        # Hefei resident, a purchase during a stay: 10 % first self-pay, 600.00 deductible, 70 %
        (
            "340102",
            "390",
            "inpatient",
            {
                "first_self_pay": "100.00",
                "deductible": "600.00",
                "co_pay": "90.00",
                "fund": "210.00",
                "personal": "1590.00",
            },
        ),
        # Jinan resident 门诊慢特病: 20 % first self-pay, 500.00 deductible, 60 %
        (
            "370102",
            "390",
            "chronic_disease",
            {
                "first_self_pay": "200.00",
                "deductible": "500.00",
                "co_pay": "120.00",
                "fund": "180.00",
                "personal": "1620.00",
            },
        ),
        # Chuxiong employee 门诊慢特病: 10 % first self-pay, 600.00 deductible, 80 %
        (
            "532301",
            "310",
            "chronic_disease",
            {
                "first_self_pay": "100.00",
                "deductible": "600.00",
                "co_pay": "60.00",
                "fund": "240.00",
                "personal": "1560.00",
            },
        ),
    ],
)
def test_each_profile_a_line_outside_the_restriction_and_a_donated_box_are_self_pay(
    shipped_rules, code, insutype, category, expected
):
    """HB art. 31(5), 31(7), 36; AH annex 3(3): 1,000.00 paid under the region's rule beside
    500.00 outside the restriction and a 300.00 donated box, both full self-pay."""
    regional = rule(code, insutype, category)
    outside = payable.nonpayable_reason(replace(WITHIN, within_restriction=False))
    donated = payable.nonpayable_reason(replace(WITHIN, donated=True))

    result = calculate(
        [
            LineInput("paid", D("1000.00"), D("1100.00"), "乙", payable.nonpayable_reason(WITHIN)),
            LineInput("outside", D("500.00"), D("550.00"), "乙", outside),
            LineInput("donated", D("300.00"), D("330.00"), "乙", donated),
        ],
        rules.parameters_of(regional),
        Accumulated(),
    )

    assert (outside, donated) == (payable.OUTSIDE_RESTRICTION, payable.DONATED)
    assert [(r.self_pay_reason, r.full_self_pay) for r in result.lines] == [
        ("", D("0.00")),
        (payable.OUTSIDE_RESTRICTION, D("500.00")),
        (payable.DONATED, D("300.00")),
    ]
    got = parts(result)
    assert (got["total"], got["full_self_pay"]) == (D("1800.00"), D("800.00"))
    assert {k: got[k] for k in expected} == {k: D(v) for k, v in expected.items()}
    assert sum(result.basic_parts) == result.total
