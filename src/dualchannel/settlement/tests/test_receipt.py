"""The settlement receipt PDF: the breakdown in Chinese, the person masked (issue 5 item 8)."""

from __future__ import annotations

import pytest

from dualchannel.core.masking import mask_id_number
from dualchannel.settlement import services
from dualchannel.settlement.models import ClaimReason
from dualchannel.settlement.receipt import render_receipt

from .helpers import colleague, submit, text_of

pytestmark = pytest.mark.django_db


def test_the_receipt_shows_the_breakdown_and_only_the_masked_id(dispensed, pharmacist_user):
    settlement = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    person = settlement.person

    pdf = render_receipt(settlement)

    assert pdf.startswith(b"%PDF")
    text = text_of(pdf)
    for label in ("医疗费总额", "统筹基金支付", "个人现金支付", "大病保险", "惠民保", "起付线"):
        assert label in text
    assert "2,000.00" in text  # total
    assert "1,500.00" in text  # fund
    assert "500.00" in text  # co-pay and personal
    assert "1,000.00" in text  # the unit price of the line
    assert settlement.settlement_no in text
    assert dispensed.pharmacy.name in text
    assert "110202" in text  # med_type [HB art. 34–35]
    assert "塞瑞替尼胶囊" in text
    assert mask_id_number(person.id_number) in text
    assert person.id_number not in text
    assert person.name not in text  # 张伟 → 张*
    assert "已冲销" not in text


def test_a_reversed_settlement_is_marked_on_its_receipt(dispensed, pharmacist_user):
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    reversed_ = services.settlement_reverse(
        actor=pharmacist_user, settlement_id=settled.pk, reason="患者退药", idempotency_key="r-1"
    )

    text = text_of(render_receipt(reversed_))

    assert "已冲销" in text
    assert reversed_.person.id_number not in text


def test_a_manual_claims_receipt_names_the_claim_and_each_lines_self_pay_reason(
    zhang, chronic_drug, physician, benefit_rules, agency_user, other_pharmacy
):
    claim = submit(
        agency_user,
        zhang,
        other_pharmacy,
        [{"drug_id": chronic_drug.pk, "quantity": 3, "unit_price": "12.50", "pack_size": "28"}],
        reason=ClaimReason.CROSS_PROVINCE,
        category="chronic_disease",
    )
    settlement = services.claim_decide(
        actor=colleague(agency_user), claim_id=claim.pk, approve=True
    ).settlement

    text = text_of(render_receipt(settlement))

    assert claim.claim_no in text and "手工（零星）报销" in text
    assert "非双通道定点医药机构" in text  # payable.REASON_LABELS["not_designated"]
    assert "37.50" in text
    assert zhang.id_number not in text and mask_id_number(zhang.id_number) in text
