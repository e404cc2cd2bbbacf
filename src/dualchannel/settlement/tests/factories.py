"""Settlement rows built directly, for tests of what comes after a settlement (recovery orders,
the access matrices) that need one without a dispensing and a counter behind it."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from dualchannel.settlement import rules
from dualchannel.settlement.models import (
    BenefitCategory,
    BenefitRule,
    BudgetLine,
    Settlement,
    SettlementKind,
    SettlementLine,
    SettlementTransition,
)

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
    institution, person, actor, *, amount: str = "1000.00", drug=None, settlement_no: str = ""
) -> Settlement:
    """One live pharmacy settlement of one 甲-class line: the fund pays 70 %, the person 30 %."""
    from dualchannel.catalog.tests.factories import DrugFactory

    rule = benefit_rule(institution.region_id[:4] + "00")
    total = D(amount)
    fund = (total * rule.fund_ratio).quantize(D("0.01"))
    settlement = Settlement.objects.create(
        settlement_no=settlement_no or f"JS-T-{uuid.uuid4().hex[:12]}",
        kind=SettlementKind.PHARMACY,
        institution=institution,
        person=person,
        category=BenefitCategory.SPECIAL_DRUG,
        insurance_type="310",
        med_type=rule.med_type,
        rule=rule,
        parameters=rules.parameters_snapshot(rule),
        scopes={},
        budget_line=BudgetLine.HOSPITAL_GLOBAL,
        settled_on=date(2026, 3, 2),
        total=total,
        full_self_pay=D("0.00"),
        over_standard=D("0.00"),
        payable_base=total,
        first_self_pay=D("0.00"),
        in_policy=total,
        deductible=D("0.00"),
        co_pay=total - fund,
        over_ceiling=D("0.00"),
        fund=fund,
        critical_illness=D("0.00"),
        assistance=D("0.00"),
        commercial=D("0.00"),
        personal=total - fund,
        used={"fund": str(fund)},
        idempotency_key=uuid.uuid4().hex,
        request_digest="0" * 64,
        settled_by=actor,
    )
    SettlementLine.objects.create(
        settlement=settlement,
        position=1,
        drug=drug or DrugFactory(),
        drug_class="甲",
        quantity=1,
        unit="盒",
        unit_price=total,
        amount=total,
        full_self_pay=D("0.00"),
        over_standard=D("0.00"),
        payable_base=total,
        first_self_pay=D("0.00"),
        in_policy=total,
    )
    SettlementTransition.objects.create(
        settlement=settlement, from_status="", to_status="settled", actor=actor
    )
    return settlement
