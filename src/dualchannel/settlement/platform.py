"""Pre-settlement with the national platform (2101 at a pharmacy, 2206 at a hospital).

The counter's preview is computed here first; where the institution is connected, the platform is
asked the same question and its answer is shown beside ours. The platform being slow or down never
stops the counter: the answer is then "not checked", and the settlement's upload (2102/2207) is
retried by the worker anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.utils import timezone

from dualchannel.catalog.models import Drug
from dualchannel.integration.nhsa import PlatformClient, PlatformError
from dualchannel.integration.nhsa import settlement as wire

from .models import SettlementKind

CHANNEL = {
    SettlementKind.PHARMACY: wire.Channel.PHARMACY,
    SettlementKind.HOSPITAL: wire.Channel.HOSPITAL,
}


@dataclass(frozen=True)
class PlatformCheck:
    checked: bool  # the platform answered
    agrees: bool | None  # its fund part equals ours (None: not checked)
    message: str


NOT_CONNECTED = PlatformCheck(False, None, "本机构未接入医保平台，未向平台预结算")


def _request(priced, number: str) -> wire.SettlementRequest:
    person = priced.person
    prescription = priced.settled_prescription
    drugs = Drug.objects.in_bulk([line.drug_id for line in priced.lines])
    lines = [
        wire.SettlementLine(
            feedetl_sn=f"{number}-{n:02d}",
            med_list_codg=drugs[line.drug_id].national_code or f"DRUG{line.drug_id:019d}",
            fixmedins_hilist_id=str(line.drug_id),
            fixmedins_hilist_name=drugs[line.drug_id].generic_name,
            cnt=line.quantity,
            pric=line.unit_price,
            det_item_fee_sumamt=result.amount,
            fulamt_ownpay_amt=result.full_self_pay,
            overlmt_amt=result.over_standard,
            preselfpay_amt=result.first_self_pay,
            inscp_scp_amt=result.in_policy,
            rxno=prescription.prescription_no if prescription else "",
        )
        for n, (line, result) in enumerate(
            zip(priced.lines, priced.breakdown.lines, strict=True), 1
        )
    ]
    dispensing = priced.dispensing
    return wire.SettlementRequest(
        channel=CHANNEL[priced.kind],
        fixmedins_setl_id=number,
        psn_no=person.person_no,
        insuplc_admdvs=person.enrolment_region_id,
        mdtrt_cert_type=dispensing.certificate_type if dispensing else "02",
        mdtrt_cert_no=person.id_number,
        insutype=person.insurance_type,
        med_type=priced.rule.med_type,
        begntime=timezone.now(),
        amounts=wire.SettlementAmounts.from_breakdown(priced.breakdown),
        lines=lines,
        chrg_bchno=number,
        ipt_otp_no=number,
    )


def platform_pre_settle(priced) -> PlatformCheck:
    """Ask the platform (2101/2206) about a preview; never raises for the platform's failures."""
    institution = priced.settling_institution
    if len(institution.platform_code or "") != 12:
        return NOT_CONNECTED
    number = f"YJS{uuid.uuid4().hex[:20].upper()}"  # a preview stores nothing on the platform
    try:
        answer = wire.pre_settle(PlatformClient(institution), _request(priced, number))
    except PlatformError as exc:
        return PlatformCheck(False, None, f"医保平台预结算未成功：{exc.message}")
    ours = priced.breakdown.fund
    if answer.amounts.hifp_pay == ours:
        return PlatformCheck(True, True, f"医保平台预结算一致（统筹基金 {ours} 元）")
    return PlatformCheck(
        True,
        False,
        f"医保平台预结算统筹基金 {answer.amounts.hifp_pay} 元，与本地计算 {ours} 元不一致，"
        "请核对后再结算",
    )
