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
from dualchannel.integration.nhsa import PlatformClient, PlatformError, platform_connected
from dualchannel.integration.nhsa import settlement as wire

from .engine import OVER_STANDARD
from .models import SettlementKind
from .payable import REASON_LABELS

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


@dataclass(frozen=True)
class WireLine:
    """One line as the platform sees it: ``result`` has the line's split (amount, full self-pay,
    over standard, first self-pay, in policy) — a SettlementLine row or an engine LineResult."""

    drug: Drug
    quantity: int
    unit_price: object
    result: object
    lot: str = ""
    codes: tuple[str, ...] = ()


def settlement_request(
    *,
    kind: str,
    number: str,
    person,
    prescription,
    insutype: str,
    med_type: str,
    cert_type: str,
    begntime,
    amounts,
    lines: list[WireLine],
    out_of_area: dict | None = None,
) -> wire.SettlementRequest:
    """The 2101/2102 (pharmacy) or 2206/2207 (hospital) request of a settlement or a preview.
    ``out_of_area``: the settlement's out-of-area facts (``OutOfArea.as_facts``), sent as the
    异地标志 beside the envelope's treating and enrolment places [HB art. 40–41]."""
    rxno = prescription.prescription_no if prescription else ""
    return wire.SettlementRequest(
        channel=CHANNEL[kind],
        fixmedins_setl_id=number,
        psn_no=person.person_no,
        insuplc_admdvs=person.enrolment_region_id,
        mdtrt_cert_type=cert_type,
        mdtrt_cert_no=person.id_number,
        insutype=insutype,
        med_type=med_type,
        begntime=begntime,
        amounts=wire.SettlementAmounts.from_breakdown(amounts),
        lines=[
            wire.SettlementLine(
                feedetl_sn=f"{number}-{n:02d}",
                med_list_codg=line.drug.national_code or f"DRUG{line.drug.pk:019d}",
                fixmedins_hilist_id=str(line.drug.pk),
                fixmedins_hilist_name=line.drug.generic_name,
                cnt=line.quantity,
                pric=line.unit_price,
                det_item_fee_sumamt=line.result.amount,
                fulamt_ownpay_amt=line.result.full_self_pay,
                overlmt_amt=line.result.over_standard,
                preselfpay_amt=line.result.first_self_pay,
                inscp_scp_amt=line.result.in_policy,
                rxno=rxno,
                manu_lotnum=line.lot,
                drug_trac_codg=line.codes,
                **_self_pay(line.result),
            )
            for n, line in enumerate(lines, 1)
        ],
        chrg_bchno=number,
        ipt_otp_no=number,
        out_setl_flag="1" if out_of_area else "0",
    )


def _self_pay(result) -> dict[str, str]:
    """A line a non-payable rule made self-pay travels as a self-pay line with its reason
    [HB art. 36: 应以自费药品明细进行传输和结算]; a line the fund pays (in part) has neither."""
    reason = result.self_pay_reason
    if not reason or reason == OVER_STANDARD:
        return {}
    return {
        "hosp_appr_flag": wire.SELF_PAY_FLAG,
        "memo": f"{reason}:{REASON_LABELS.get(reason, reason)}",
    }


def _request(priced, number: str) -> wire.SettlementRequest:
    drugs = Drug.objects.in_bulk([line.drug_id for line in priced.lines])
    dispensing = priced.dispensing
    return settlement_request(
        kind=priced.kind,
        number=number,
        person=priced.person,
        prescription=priced.settled_prescription,
        insutype=priced.person.insurance_type,
        med_type=priced.rule.med_type,
        cert_type=dispensing.certificate_type if dispensing else "02",
        begntime=timezone.now(),
        amounts=priced.breakdown,
        lines=[
            WireLine(drugs[line.drug_id], line.quantity, line.unit_price, result)
            for line, result in zip(priced.lines, priced.breakdown.lines, strict=True)
        ],
        out_of_area=_facts(priced.out_of_area),
    )


def _facts(area) -> dict | None:
    return area.as_facts() if area is not None and area.is_out_of_area else None


def platform_pre_settle(priced) -> PlatformCheck:
    """Ask the platform (2101/2206) about a preview; never raises for the platform's failures."""
    institution = priced.settling_institution
    if not platform_connected(institution):
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
