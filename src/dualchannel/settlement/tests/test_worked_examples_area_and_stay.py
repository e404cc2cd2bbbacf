"""Worked examples of issue 11 points 4 and 5, one table per profile (Wuhan/Hubei, Hefei/Anhui,
Jinan/Shandong, Chuxiong), figures worked out by hand to the fen from the shipped (illustrative)
benefit rules:

- out-of-area [HB art. 40–41, AH §2(5), CX art. 17]: a purchase in another pooling region of
  the same province, and a cross-province purchase with and without a filing; whatever the
  place, the benefits are the enrolment region's (参保地待遇);
- inpatients [AH §2(5), CX art. 19]: the hospital's bill of a stay first, then the pharmacy's
  purchase during it; under Chuxiong the purchase is billed to the stay and settled with it.

The end-to-end paths (counter, hospital desk, claim) are in test_out_of_area.py and
test_inpatient_stay.py; here each profile's figures are shown side by side."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.registry.models import OutOfAreaFiling, Region, RegionLevel
from dualchannel.registry.out_of_area import (
    CROSS_PROVINCE_FILED,
    CROSS_PROVINCE_UNFILED,
    IN_PROVINCE,
    out_of_area_of,
)
from dualchannel.registry.profiles import profile_for
from dualchannel.registry.tests.factories import (
    InstitutionFactory,
    InsuredPersonFactory,
    load_seed_profiles,
    region,
)
from dualchannel.settlement import rules
from dualchannel.settlement.engine import Accumulated, LineInput, calculate
from dualchannel.settlement.services.common import accumulator_scopes

pytestmark = pytest.mark.django_db
D = Decimal
ON = date(2026, 6, 15)
# enrolment (参保地) → a pooling region of the same province, and a place in another province
ELSEWHERE_IN_PROVINCE = {
    "420102": "420502",  # 武汉 → 宜昌
    "340102": "340202",  # 合肥 → 芜湖
    "370102": "370202",  # 济南 → 青岛
    "532301": "530102",  # 楚雄 → 昆明
}
OTHER_PROVINCE = {"420102": "340102", "340102": "420102", "370102": "420102", "532301": "420102"}
PARTS = ("total", "full_self_pay", "first_self_pay", "deductible", "co_pay", "fund", "personal")


@pytest.fixture
def shipped_rules(db):
    load_seed_profiles()
    qingdao = Region.objects.get_or_create(
        code="370200",
        defaults={"name": "青岛市", "level": RegionLevel.CITY, "parent": region("370000")},
    )[0]
    Region.objects.get_or_create(
        code="370202",
        defaults={
            "name": "市南区",
            "level": RegionLevel.COUNTY,
            "parent": qingdao,
            "is_urban_district": True,
            "is_county_level": True,
        },
    )
    for code in ("420100", "340100", "370100", "532300", "420502", "340202", "530102"):
        region(code)
    return rules.benefit_rules_load()


def rule(code: str, category: str):
    return rules.benefit_rule_for(
        region=Region.objects.get(code=code),
        insurance_type="310",
        category=category,
        hospital_level=3,
        on=ON,
    )


def parts(result) -> dict[str, Decimal]:
    return {name: getattr(result, name) for name in PARTS}


def figures(**values: str) -> dict[str, Decimal]:
    return {name: D(values.get(name, "0.00")) for name in PARTS}


def filing(person, treating: str) -> OutOfAreaFiling:
    office = InstitutionFactory(kind="hospital", region_code=person.enrolment_region_id)
    officer = UserFactory(
        username=f"officer-{person.pk}", institution=office, roles=[Role.AGENCY_OFFICER]
    )
    return OutOfAreaFiling.objects.create(
        filing_no=f"YDBA-WE-{person.pk}",
        person=person,
        treating_region=region(treating),
        kind="long_term",
        valid_from=ON - timedelta(days=30),
        valid_to=ON + timedelta(days=60),
        recorded_by=officer,
        recorded_at_institution=office,
    )


# --- out-of-area: one chronic-disease box of 1,000.00 (乙, standard 1,100.00) -----------------
#
# The enrolment region's chronic-disease rule (employees, 310): deductible 600.00, fund 80 %;
# first self-pay of 乙 drugs 0 % in Wuhan, 10 % in Hefei and Chuxiong, 20 % in Jinan.
#   Wuhan:     1,000.00 − 600.00 deductible = 400.00 × 80 % = 320.00 fund, 80.00 co-pay
#   Hefei:     100.00 first self-pay; 900.00 − 600.00 = 300.00 × 80 % = 240.00 fund, 60.00
#   Jinan:     200.00 first self-pay; 800.00 − 600.00 = 200.00 × 80 % = 160.00 fund, 40.00
#   Chuxiong:  as Hefei (same shipped ratios): 240.00 fund, personal 760.00
ENROLMENT_SHARE = {
    "420102": figures(total="1000.00", deductible="600.00", co_pay="80.00", fund="320.00",
                      personal="680.00"),
    "340102": figures(total="1000.00", first_self_pay="100.00", deductible="600.00",
                      co_pay="60.00", fund="240.00", personal="760.00"),
    "370102": figures(total="1000.00", first_self_pay="200.00", deductible="600.00",
                      co_pay="40.00", fund="160.00", personal="840.00"),
    "532301": figures(total="1000.00", first_self_pay="100.00", deductible="600.00",
                      co_pay="60.00", fund="240.00", personal="760.00"),
}  # fmt: skip
HOME = {"420102": "420100", "340102": "340100", "370102": "370100", "532301": "532300"}


def enrolment_share(home: str):
    """The box under the enrolment region's rule — at the counter when settled directly, in
    the manual claim at home when not."""
    params = rules.parameters_of(rule(home, "chronic_disease"))
    return calculate([LineInput("1", D("1000.00"), D("1100.00"), "乙")], params, Accumulated())


@pytest.mark.parametrize("home", list(ELSEWHERE_IN_PROVINCE))
def test_every_profile_in_province_out_of_area(shipped_rules, home):
    """HB art. 40, AH §2(5), CX art. 17: a purchase in another pooling region of the same
    province is settled directly, without a filing, with the enrolment region's rules — except
    under Anhui, whose profile says in-province direct settlement is not yet open: the counter
    refuses (the person pays the whole 1,000.00) and the manual claim at home pays Hefei's
    share, the same 240.00 the counter would have paid. Chuxiong's figures equal Anhui's (the
    shipped chronic-disease rules have the same ratios); only the way of paying differs."""
    person = InsuredPersonFactory(region_code=home)
    area = out_of_area_of(person, Region.objects.get(code=ELSEWHERE_IN_PROVINCE[home]), ON)
    result = enrolment_share(home)

    assert area.kind == IN_PROVINCE
    assert area.direct is profile_for(person.enrolment_region).in_province_direct_settlement
    assert area.direct is (home != "340102")
    assert rule(home, "chronic_disease").region_id == HOME[home]  # 参保地待遇
    assert parts(result) == ENROLMENT_SHARE[home]
    if not area.direct:
        assert "手工（零星）报销" in area.rules_note
        at_the_counter = D("1000.00")  # all self-pay; the claim at home then pays the fund share
        assert at_the_counter - result.fund == result.personal


@pytest.mark.parametrize("home", list(OTHER_PROVINCE))
def test_every_profile_cross_province_with_and_without_a_filing(shipped_rules, home):
    """HB art. 41, CX art. 17: in another province a person with a valid cross-province filing
    is settled directly (the treating place's list, the enrolment region's benefits); without
    one the counter takes the whole 1,000.00 and the claim at home pays the enrolment share —
    the same figures either way, only who pays first differs. Anhui's
    ``in_province_direct_settlement`` plays no part across provinces."""
    person = InsuredPersonFactory(region_code=home)
    treating = Region.objects.get(code=OTHER_PROVINCE[home])
    unfiled = out_of_area_of(person, treating, ON)
    filed_no = filing(person, OTHER_PROVINCE[home][:2] + "0000").filing_no
    filed = out_of_area_of(person, treating, ON)
    after = out_of_area_of(person, treating, ON + timedelta(days=61))  # filing ended
    result = enrolment_share(home)

    assert (unfiled.kind, unfiled.direct) == (CROSS_PROVINCE_UNFILED, False)
    assert (filed.kind, filed.direct, filed.filing_no) == (CROSS_PROVINCE_FILED, True, filed_no)
    assert (after.kind, after.direct) == (CROSS_PROVINCE_UNFILED, False)
    assert "未办理异地就医备案" in unfiled.rules_note
    assert parts(result) == ENROLMENT_SHARE[home]
    assert D("1000.00") - result.fund == result.personal  # paid in full, then claimed


# --- inpatients: the hospital's bill of the stay (乙 5,000.00), then a pharmacy purchase during
# the stay (乙 3,000.00) -------------------------------------------------------------------------
#
# The enrolment region's inpatient rule (employees, 310): deductible 800.00, fund 85 %; first
# self-pay of 乙 as above (0 %, 10 %, 20 %, 10 %).
#   Wuhan:    hospital 5,000.00 − 800.00 = 4,200.00 × 85 % = 3,570.00 fund, 630.00 co-pay;
#             pharmacy (deductible met) 3,000.00 × 85 % = 2,550.00, 450.00
#   Hefei:    hospital 500.00 first; 4,500.00 − 800.00 = 3,700.00 × 85 % = 3,145.00, 555.00;
#             pharmacy 300.00 first; 2,700.00 × 85 % = 2,295.00, 405.00
#   Jinan:    hospital 1,000.00 first; 4,000.00 − 800.00 = 3,200.00 × 85 % = 2,720.00, 480.00;
#             pharmacy 600.00 first; 2,400.00 × 85 % = 2,040.00, 360.00
#   Chuxiong: one bill of 8,000.00: 800.00 first; 7,200.00 − 800.00 = 6,400.00 × 85 %
#             = 5,440.00 fund, 960.00 co-pay, personal 2,560.00
HOSPITAL_THEN_PHARMACY = {
    "420102": (
        figures(total="5000.00", deductible="800.00", co_pay="630.00", fund="3570.00",
                personal="1430.00"),
        figures(total="3000.00", co_pay="450.00", fund="2550.00", personal="450.00"),
    ),
    "340102": (
        figures(total="5000.00", first_self_pay="500.00", deductible="800.00", co_pay="555.00",
                fund="3145.00", personal="1855.00"),
        figures(total="3000.00", first_self_pay="300.00", co_pay="405.00", fund="2295.00",
                personal="705.00"),
    ),
    "370102": (
        figures(total="5000.00", first_self_pay="1000.00", deductible="800.00",
                co_pay="480.00", fund="2720.00", personal="2280.00"),
        figures(total="3000.00", first_self_pay="600.00", co_pay="360.00", fund="2040.00",
                personal="960.00"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("home", list(HOSPITAL_THEN_PHARMACY))
def test_every_profile_deductible_of_a_stay_hospital_first_then_pharmacy(shipped_rules, home):
    """AH §2(5): under Anhui (``deductible_once_per_stay``) the stay's deductible is counted
    once across hospital and pharmacy: the hospital's bill pays the 800.00, the pharmacy's
    purchase during the stay finds it met. Wuhan and Jinan do not set the flag: their inpatient
    deductible is kept in the year's inpatient scope, which the hospital's bill and the
    pharmacy's purchase share too, so within one stay the figures come out the same way (only
    a second stay in the year differs: Anhui's pays a new deductible, theirs does not)."""
    place = Region.objects.get(code=home)
    profile = profile_for(place)
    inpatient = rule(home, "inpatient")
    params = rules.parameters_of(inpatient)
    hospital_scopes = accumulator_scopes(
        inpatient, ON, "ZY2026-0100", profile.deductible_once_per_stay
    )
    next_stay_scopes = accumulator_scopes(
        inpatient, ON, "ZY2026-0200", profile.deductible_once_per_stay
    )

    hospital = calculate([LineInput("1", D("5000.00"), None, "乙")], params, Accumulated())
    pharmacy = calculate(
        [LineInput("1", D("3000.00"), None, "乙")],
        params,
        Accumulated(deductible=hospital.used.deductible),
    )

    assert profile.deductible_once_per_stay is (home == "340102")
    assert not profile.inpatient_external_drugs_in_stay  # settled at the counter
    if profile.deductible_once_per_stay:
        assert hospital_scopes["deductible"] == "stay:ZY2026-0100"
        assert next_stay_scopes["deductible"] != hospital_scopes["deductible"]
    else:
        assert hospital_scopes["deductible"] == next_stay_scopes["deductible"] == "2026:inpatient"
    assert (parts(hospital), parts(pharmacy)) == HOSPITAL_THEN_PHARMACY[home]


def test_chuxiong_the_pharmacys_purchase_is_billed_to_the_stay(shipped_rules):
    """CX art. 19: under Chuxiong (``inpatient_external_drugs_in_stay``) the pharmacy's
    3,000.00 is not settled at the counter but added to the stay's bill; the hospital settles
    one bill of 8,000.00 with one deductible. Its ratios equal Anhui's, so the fund pays the
    same 5,440.00 as Anhui's hospital and pharmacy together (3,145.00 + 2,295.00); what differs
    is who settles it (the hospital, once)."""
    profile = profile_for(Region.objects.get(code="532301"))
    params = rules.parameters_of(rule("532301", "inpatient"))

    stay = calculate(
        [
            LineInput("1", D("5000.00"), None, "乙"),  # the hospital's own bill
            LineInput("2", D("3000.00"), None, "乙"),  # the pharmacy's purchase, billed in
        ],
        params,
        Accumulated(),
    )

    assert profile.inpatient_external_drugs_in_stay and not profile.deductible_once_per_stay
    assert parts(stay) == figures(
        total="8000.00",
        first_self_pay="800.00",
        deductible="800.00",
        co_pay="960.00",
        fund="5440.00",
        personal="2560.00",
    )
    hefei = HOSPITAL_THEN_PHARMACY["340102"]
    assert stay.fund == hefei[0]["fund"] + hefei[1]["fund"]
