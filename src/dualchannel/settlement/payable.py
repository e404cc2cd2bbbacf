"""The non-payable rules (DESIGN §6; AH annex 3, HB art. 31 and 36, CX art. 12): a line one of
them hits is paid in full by the person, with the rule's reason code.

The facts come from the settlement's context (prescription, eligibility, institutions, stock);
the rules themselves are pure, so each is tested against the article it implements. Rule 4 (the
part above the payment standard) is not a whole-line rule: the engine splits it off.
"""

from __future__ import annotations

from dataclasses import dataclass

# reason codes, in the order they are checked (the first that applies is recorded)
# 0: not a dual-channel drug of the region on the date [SD §1, CX art. 4, 6]
OUTSIDE_AGREEMENT = "outside_agreement_period"  # the agreement period (and grace) has ended
NOT_IN_REGIONAL_LIST = "not_in_regional_list"  # off the region's dual-channel list in force
NO_PHYSICIAN_ORDER = "no_physician_order"  # 1: without the responsible physician's application
NOT_DESIGNATED = "not_designated"  # 2: at an institution not designated for dual channel
NO_VALID_PRESCRIPTION = "no_valid_prescription"  # 3: no valid prescription or inpatient order
OUTSIDE_RESTRICTION = "outside_restriction"  # 5: outside the indication / payment restriction
VIOLATION = "violation"  # 6: over-treatment, person–certificate mismatch, fake treatment
DONATED = "donated"  # 7: given free by the manufacturer or a charity
INPATIENT_ELSEWHERE = "inpatient_non_designated"  # 8: during a stay at a non-designated hospital
ELIGIBILITY_INACTIVE = "eligibility_inactive"  # 9: eligibility expired, suspended, not re-evaluated
# not one of the rules: an item of a hospital's inpatient bill the bill itself marks self-pay
OUTSIDE_CATALOGUE = "outside_catalogue"

REASON_LABELS = {
    OUTSIDE_AGREEMENT: "谈判药品协议期已结束（含宽限期），不属于协议期内谈判药品",
    NOT_IN_REGIONAL_LIST: "未列入本统筹区现行双通道管理药品目录",
    NO_PHYSICIAN_ORDER: "未经责任医师申请或开具处方",
    NOT_DESIGNATED: "非双通道定点医药机构",
    NO_VALID_PRESCRIPTION: "无有效处方或住院医嘱",
    "over_standard": "超出医保支付标准部分",
    OUTSIDE_RESTRICTION: "超出法定适应症或医保限定支付范围",
    VIOLATION: "过度诊疗、人证不符或虚假诊治",
    DONATED: "药品生产企业或慈善组织无偿提供的药品",
    INPATIENT_ELSEWHERE: "在非双通道定点医疗机构住院期间外购",
    ELIGIBILITY_INACTIVE: "用药资格未生效、已暂停或未按期复查评估",
    OUTSIDE_CATALOGUE: "医保目录外自费项目",
}

# The breakdown as shown to people (counter page, receipt), in the engine's order.
BREAKDOWN_LABELS = (
    ("total", "医疗费总额"),
    ("full_self_pay", "全自费"),
    ("over_standard", "超支付标准"),
    ("first_self_pay", "先行自付"),
    ("deductible", "起付线"),
    ("co_pay", "统筹段自付"),
    ("over_ceiling", "超限额"),
    ("fund", "统筹基金支付"),
    ("critical_illness", "大病保险"),
    ("assistance", "医疗救助"),
    ("commercial", "惠民保"),
    ("personal", "个人现金支付"),
)


@dataclass(frozen=True)
class LineFacts:
    """What is known about one line when it is settled."""

    separately_paid: bool  # a separately-paid drug needs an eligibility [HB ch. 2]
    has_eligibility: bool  # an eligibility granted on the responsible physician's application
    eligibility_active: bool  # benefits active on the purchase date [HB art. 9]
    institution_designated: bool  # the settling institution holds an active designation
    has_valid_prescription: bool  # issued, not cancelled, within its validity when dispensed
    within_restriction: bool = True  # the payment restriction is met (criteria, diagnosis)
    violation: bool = False  # a finding of over-treatment, mismatch or fake treatment
    donated: bool = False  # the batch was received as a donation
    inpatient_at_non_designated: bool = False  # bought while staying at a non-designated hospital
    within_agreement: bool = True  # within its agreement period plus the agency's grace [SD §1]
    in_regional_list: bool = True  # on the region's dual-channel list in force [CX art. 4, 6]


def nonpayable_reason(facts: LineFacts) -> str:
    """The first non-payable rule that applies to the line, or "" when the fund may pay."""
    if not facts.in_regional_list:
        return NOT_IN_REGIONAL_LIST  # CX art. 4, 6: the region's list in force decides
    if not facts.within_agreement:
        return OUTSIDE_AGREEMENT  # SD §1: only drugs within their agreement period
    if facts.separately_paid and not facts.has_eligibility:
        return NO_PHYSICIAN_ORDER  # AH annex note 3(1); HB art. 6 (three-fixed)
    if not facts.institution_designated:
        return NOT_DESIGNATED  # HB art. 31(1)–(2)
    if not facts.has_valid_prescription:
        return NO_VALID_PRESCRIPTION  # HB art. 31(3)
    if not facts.within_restriction:
        return OUTSIDE_RESTRICTION  # HB art. 31(5), art. 36; AH annex note 3(3)
    if facts.violation:
        return VIOLATION  # HB art. 31(6)
    if facts.donated:
        return DONATED  # HB art. 31(7)
    if facts.inpatient_at_non_designated:
        return INPATIENT_ELSEWHERE  # AH annex note 3(2)
    if facts.separately_paid and not facts.eligibility_active:
        return ELIGIBILITY_INACTIVE  # HB art. 9: benefits stop the day after the deadline
    return ""
