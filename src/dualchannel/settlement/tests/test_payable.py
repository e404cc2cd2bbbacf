"""Each non-payable rule of DESIGN §6 turns the line into full self-pay with its reason code."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from dualchannel.settlement import payable
from dualchannel.settlement.engine import Accumulated, LineInput, Parameters, calculate

PAYABLE = payable.LineFacts(
    separately_paid=True,
    has_eligibility=True,
    eligibility_active=True,
    institution_designated=True,
    has_valid_prescription=True,
)


def test_a_line_meeting_every_rule_is_payable():
    assert payable.nonpayable_reason(PAYABLE) == ""


@pytest.mark.parametrize(
    ("article", "change", "code"),
    [
        # 1. 未经责任医师开具外购申请和处方 [AH annex note 3(1)]
        ("AH annex 3(1)", {"has_eligibility": False}, payable.NO_PHYSICIAN_ORDER),
        # 2. 在省内非双通道定点零售药店 / 医药机构 [HB art. 31(1)–(2)]
        ("HB art. 31(1)", {"institution_designated": False}, payable.NOT_DESIGNATED),
        # 3. 无住院医嘱或处方 [HB art. 31(3)]
        ("HB art. 31(3)", {"has_valid_prescription": False}, payable.NO_VALID_PRESCRIPTION),
        # 5. 不符合法定适应症或医保限定支付范围 [HB art. 31(5), art. 36]
        ("HB art. 31(5)", {"within_restriction": False}, payable.OUTSIDE_RESTRICTION),
        # 6. 过度诊疗、人证不符、虚假诊治 [HB art. 31(6)]
        ("HB art. 31(6)", {"violation": True}, payable.VIOLATION),
        # 7. 药品生产企业或者慈善组织无偿提供 [HB art. 31(7)]
        ("HB art. 31(7)", {"donated": True}, payable.DONATED),
        # 8. 在非谈判药外购管理医院住院期间药店外购 [AH annex note 3(2)]
        ("AH annex 3(2)", {"inpatient_at_non_designated": True}, payable.INPATIENT_ELSEWHERE),
        # 9. 未按期复查评估：截止次日起停止待遇 [HB art. 9]
        ("HB art. 9", {"eligibility_active": False}, payable.ELIGIBILITY_INACTIVE),
    ],
)
def test_each_rule_makes_the_line_self_pay_with_its_code(article, change, code):
    facts = replace(PAYABLE, **change)

    reason = payable.nonpayable_reason(facts)
    result = calculate(
        [LineInput("1", Decimal("1000.00"), Decimal("1200.00"), "乙", reason)],
        Parameters(fund_ratio=Decimal("0.7"), first_self_pay_ratio=Decimal("0.1")),
        Accumulated(),
    )

    assert reason == code, article
    assert code in payable.REASON_LABELS
    line = result.lines[0]
    assert (line.full_self_pay, line.self_pay_reason, result.fund) == (
        Decimal("1000.00"),
        code,
        Decimal("0.00"),
    )


def test_rule_4_the_part_above_the_standard_is_self_pay_and_the_rest_is_paid():
    # HB art. 31(4), CX art. 12: 超出医保支付标准的费用统筹基金不予支付
    result = calculate(
        [LineInput("1", Decimal("1300.00"), Decimal("1200.00"), "甲")],
        Parameters(fund_ratio=Decimal("0.7")),
        Accumulated(),
    )

    line = result.lines[0]
    assert (line.over_standard, line.self_pay_reason, line.payable_base) == (
        Decimal("100.00"),
        "over_standard",
        Decimal("1200.00"),
    )
    assert result.fund == Decimal("840.00")
    assert "over_standard" in payable.REASON_LABELS


def test_an_ordinary_drug_needs_no_eligibility():
    # HB art. 13–15: other dual-channel drugs are bought on an ordinary insurance prescription
    facts = replace(PAYABLE, separately_paid=False, has_eligibility=False, eligibility_active=False)
    assert payable.nonpayable_reason(facts) == ""
