"""Settlement rows built directly, for tests of what comes after a settlement (recovery orders,
the access matrices) that need one without a dispensing and a counter behind it."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.settlement import rules
from dualchannel.settlement.engine import Accumulated, LineInput, Person, calculate
from dualchannel.settlement.models import (
    BenefitCategory,
    BenefitRule,
    BudgetLine,
    Settlement,
    SettlementKind,
    SettlementLine,
    SettlementTransition,
)
from dualchannel.settlement.services import BREAKDOWN_FIELDS

D = Decimal


def benefit_rule(region_code: str) -> BenefitRule:
    """A plain rule of the region: no deductible, the fund pays 70 % (illustrative numbers)."""
    rule, _ = BenefitRule.objects.get_or_create(
        region_id=region_code,
        insurance_type="310",
        category=BenefitCategory.SPECIAL_DRUG,
        hospital_level=None,
        effective_from=date(2026, 1, 1),
        defaults={
            "med_type": "110202",
            "fund_ratio": D("0.7000"),
            "ceiling_group": "outpatient_special",
            "source": "测试用参数",
        },
    )
    return rule


def settled_row(
    institution,
    person,
    actor,
    *,
    amount: str = "1000.00",
    drug_class: str = "甲",
    rule: BenefitRule | None = None,
    drug=None,
    settlement_no: str = "",
) -> Settlement:
    """One live pharmacy settlement of one line, worked out by the engine under ``rule`` (the
    plain test rule of the institution's city when none) from no accumulated use."""

    rule = rule or benefit_rule(institution.region_id[:4] + "00")
    total = D(amount)
    b = calculate(
        [LineInput("1", total, None, drug_class)],
        rules.parameters_of(rule),
        Accumulated(),
        Person(person.medical_assistance, person.commercial_insured),
    )
    (result,) = b.lines
    settlement = Settlement.objects.create(
        settlement_no=settlement_no or f"JS-T-{uuid.uuid4().hex[:12]}",
        kind=SettlementKind.PHARMACY,
        institution=institution,
        person=person,
        category=rule.category,
        insurance_type=rule.insurance_type,
        med_type=rule.med_type,
        rule=rule,
        parameters=rules.parameters_snapshot(rule),
        scopes={},
        budget_line=BudgetLine.HOSPITAL_GLOBAL,
        settled_on=date(2026, 3, 2),
        used={name: str(value) for name, value in vars(b.used).items()},
        idempotency_key=uuid.uuid4().hex,
        request_digest="0" * 64,
        settled_by=actor,
        **{name: getattr(b, name) for name in BREAKDOWN_FIELDS},
    )
    SettlementLine.objects.create(
        settlement=settlement,
        position=1,
        drug=drug or DrugFactory(),
        drug_class=drug_class,
        quantity=1,
        unit="盒",
        unit_price=total,
        amount=total,
        full_self_pay=result.full_self_pay,
        over_standard=result.over_standard,
        payable_base=result.payable_base,
        first_self_pay=result.first_self_pay,
        in_policy=result.in_policy,
    )
    SettlementTransition.objects.create(
        settlement=settlement, from_status="", to_status="settled", actor=actor
    )
    return settlement
