"""Settlement transactions of the national platform: inputs, calls and parsed answers.

Pharmacies: 2101 pre-settle, 2102 settle, 2103 reverse. Hospital outpatient: 2206 pre-settle,
2207 settle, 2208 reverse. Reconciliation: 3201 totals, 3202 details. The settlement app builds a
``SettlementRequest`` (amounts from its benefit engine, lines from the dispensing), calls
``pre_settle`` / ``settle`` / ``reverse`` / ``reconcile_totals`` / ``reconcile_details`` with a
``PlatformClient`` and gets typed answers back; a malformed answer raises ``MalformedAnswer``.

Amounts are ``Decimal`` here and travel as strings with exactly two decimals; a float is never
accepted. Field names follow the NHSA interface (reference/nhsa-interface.md and public vendor
code). Choices the reference does not settle are marked **[uncertain]**:

- [uncertain] On the real platform 2101/2102/2206/2207 compute the breakdown themselves from the
  fee lines; here the institution sends the breakdown its own engine computed and the platform
  (simulator) checks and echoes it. The answer's amounts are parsed so a caller can compare.
- [uncertain] ``fund_pay_sumamt`` is the total paid by all funds, as on the real platform:
  ``hifp_pay`` (basic pooled fund) + ``hifmi_pay`` (critical illness) + ``maf_pay`` (medical
  assistance) + ``oth_pay`` (here: city commercial insurance). So
  ``fund_pay_sumamt + acct_pay + psn_cash_pay == medfee_sumamt``. 3201/3202 totals use the same.
- [uncertain] The hospital's real flow registers the visit (2201) and uploads fee details (2204)
  before 2206/2207; here the fee lines travel inline as ``feedetail`` and ``mdtrt_id`` is optional
  (the platform assigns one when it is empty).
- [uncertain] ``fixmedins_setl_id`` (the institution's settlement number) makes 2102/2207
  idempotent: the same number with the same body answers the same ``setl_id``.
- [uncertain] A line the fund does not pay at all (a non-payable rule: outside the payment
  restriction, donated, …) is transmitted as a self-pay line [HB art. 36]: its whole amount in
  ``fulamt_ownpay_amt``, ``hosp_appr_flag`` 2 (转自费, as on 2204's fee lines: 1 已审批,
  2 转自费) and the reason in ``memo``; both are left out of a line the fund pays.
- [uncertain] Traceability codes go on a line as ``drugtracinfo: [{"drug_trac_codg": ...}]``, as
  in 3505 (reference/nhsa-interface.md).
- [uncertain] 3202's details travel inline (the real platform takes a file through 9101) and the
  answer lists the mismatches (``stmtdetail``); 3201/3202 answer the platform's own totals too.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .envelope import SHANGHAI
from .errors import PlatformError

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class Channel(enum.StrEnum):
    """Who settles: a designated pharmacy (21xx) or a hospital's outpatient department (22xx)."""

    PHARMACY = "pharmacy"
    HOSPITAL = "hospital"


PRE_SETTLE = {Channel.PHARMACY: "2101", Channel.HOSPITAL: "2206"}
SETTLE = {Channel.PHARMACY: "2102", Channel.HOSPITAL: "2207"}
REVERSE = {Channel.PHARMACY: "2103", Channel.HOSPITAL: "2208"}
RECONCILE_TOTALS = "3201"
RECONCILE_DETAILS = "3202"
# The node of the fee lines: drug details at a pharmacy, fee details at a hospital.
LINE_NODE = {Channel.PHARMACY: "drugdetail", Channel.HOSPITAL: "feedetail"}
# 清算类别 the platform files a settlement under [uncertain]: 41 定点药店购药, 11 门诊.
CLR_TYPE = {Channel.PHARMACY: "41", Channel.HOSPITAL: "11"}
# The err_msg of a reversal the platform already made (a retry whose first answer was lost).
ALREADY_REVERSED = "该结算已冲正"
# hosp_appr_flag of a line the fund does not pay (转自费) [uncertain, see above]
SELF_PAY_FLAG = "2"


class MalformedAnswer(PlatformError):
    """The platform answered infcode 0 but the output lacks or garbles what the call needs."""

    def __init__(self, infno: str, detail: str) -> None:
        super().__init__("0", f"{infno}应答格式错误：{detail}", retryable=False)
        self.infno = infno


def is_already_reversed(error: PlatformError) -> bool:
    """True when a reversal was refused because the platform had already made it."""
    return ALREADY_REVERSED in error.err_msg


# --- amounts ------------------------------------------------------------------------------------


def money(value: Decimal, name: str = "金额") -> str:
    """A fen amount on the wire: a string with exactly two decimals. Floats are refused."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite() or amount != amount.quantize(FEN):
        raise ValueError(f"{name} must be a whole number of fen: {value}")
    return format(amount.quantize(FEN), "f")


def quantity(value: Decimal | int, name: str = "数量") -> str:
    """A positive quantity with at most four decimals (NHSA ``cnt`` is 16,4)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal or int, not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.0001")):
        raise ValueError(f"{name} must be positive with at most four decimals: {value}")
    return format(amount, "f")


@dataclass(frozen=True)
class SettlementAmounts:
    """The breakdown of one settlement, NHSA names. Two partitions of ``medfee_sumamt``:

    by policy: ``fulamt_ownpay_amt`` (full self-pay) + ``overlmt_selfpay`` (above the payment
    standard) + ``preselfpay_amt`` (first self-pay, 乙 class) + ``inscp_scp_amt`` (in policy);
    by payer: ``hifp_pay`` + ``hifmi_pay`` + ``maf_pay`` + ``oth_pay`` + ``acct_pay`` +
    ``psn_cash_pay``.
    """

    medfee_sumamt: Decimal
    fulamt_ownpay_amt: Decimal
    overlmt_selfpay: Decimal
    preselfpay_amt: Decimal
    inscp_scp_amt: Decimal
    hifp_pay: Decimal  # basic pooled fund (统筹基金)
    psn_cash_pay: Decimal
    hifmi_pay: Decimal = ZERO  # critical-illness insurance (大病保险)
    maf_pay: Decimal = ZERO  # medical assistance (医疗救助)
    oth_pay: Decimal = ZERO  # city commercial insurance (惠民保) [uncertain: 其他支出]
    acct_pay: Decimal = ZERO  # personal account (个人账户)

    @property
    def fund_pay_sumamt(self) -> Decimal:
        """All funds together (基金支付总额)."""
        return self.hifp_pay + self.hifmi_pay + self.maf_pay + self.oth_pay

    @classmethod
    def from_breakdown(cls, breakdown: Any, *, acct_pay: Decimal = ZERO) -> SettlementAmounts:
        """From ``settlement.engine.Breakdown`` (duck-typed): the personal part is paid from the
        personal account up to ``acct_pay``, the rest in cash."""
        if acct_pay < 0 or acct_pay > breakdown.personal:
            raise ValueError("acct_pay must be between 0 and the personal part")
        return cls(
            medfee_sumamt=breakdown.total,
            fulamt_ownpay_amt=breakdown.full_self_pay,
            overlmt_selfpay=breakdown.over_standard,
            preselfpay_amt=breakdown.first_self_pay,
            inscp_scp_amt=breakdown.in_policy,
            hifp_pay=breakdown.fund,
            hifmi_pay=breakdown.critical_illness,
            maf_pay=breakdown.assistance,
            oth_pay=breakdown.commercial,
            acct_pay=acct_pay,
            psn_cash_pay=breakdown.personal - acct_pay,
        )

    def wire(self) -> dict[str, str]:
        return {
            "medfee_sumamt": money(self.medfee_sumamt, "medfee_sumamt"),
            "fulamt_ownpay_amt": money(self.fulamt_ownpay_amt, "fulamt_ownpay_amt"),
            "overlmt_selfpay": money(self.overlmt_selfpay, "overlmt_selfpay"),
            "preselfpay_amt": money(self.preselfpay_amt, "preselfpay_amt"),
            "inscp_scp_amt": money(self.inscp_scp_amt, "inscp_scp_amt"),
            "fund_pay_sumamt": money(self.fund_pay_sumamt, "fund_pay_sumamt"),
            "hifp_pay": money(self.hifp_pay, "hifp_pay"),
            "hifmi_pay": money(self.hifmi_pay, "hifmi_pay"),
            "maf_pay": money(self.maf_pay, "maf_pay"),
            "oth_pay": money(self.oth_pay, "oth_pay"),
            "acct_pay": money(self.acct_pay, "acct_pay"),
            "psn_cash_pay": money(self.psn_cash_pay, "psn_cash_pay"),
        }


AMOUNT_FIELDS = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "fund_pay_sumamt",
    "hifp_pay",
    "hifmi_pay",
    "maf_pay",
    "oth_pay",
    "acct_pay",
    "psn_cash_pay",
)


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettlementLine:
    """One drug (pharmacy) or fee (hospital) line. ``det_item_fee_sumamt`` = ``pric`` × ``cnt``
    to the fen; its parts sum to it (the line-level name of the over-standard part is
    ``overlmt_amt``)."""

    feedetl_sn: str  # 费用明细流水号, unique within the settlement
    med_list_codg: str  # national insurance drug code (23 characters)
    fixmedins_hilist_id: str
    fixmedins_hilist_name: str
    cnt: Decimal | int
    pric: Decimal
    det_item_fee_sumamt: Decimal
    fulamt_ownpay_amt: Decimal = ZERO
    overlmt_amt: Decimal = ZERO
    preselfpay_amt: Decimal = ZERO
    inscp_scp_amt: Decimal = ZERO
    rxno: str = ""
    manu_lotnum: str = ""
    drug_trac_codg: tuple[str, ...] = ()
    hosp_appr_flag: str = ""  # "2" 转自费: the fund pays nothing of the line [HB art. 36]
    memo: str = ""  # why the line is self-pay

    def wire(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "feedetl_sn": self.feedetl_sn,
            "med_list_codg": self.med_list_codg,
            "fixmedins_hilist_id": self.fixmedins_hilist_id,
            "fixmedins_hilist_name": self.fixmedins_hilist_name[:200],
            "cnt": quantity(self.cnt, "cnt"),
            "pric": money(self.pric, "pric"),
            "det_item_fee_sumamt": money(self.det_item_fee_sumamt, "det_item_fee_sumamt"),
            "fulamt_ownpay_amt": money(self.fulamt_ownpay_amt, "fulamt_ownpay_amt"),
            "overlmt_amt": money(self.overlmt_amt, "overlmt_amt"),
            "preselfpay_amt": money(self.preselfpay_amt, "preselfpay_amt"),
            "inscp_scp_amt": money(self.inscp_scp_amt, "inscp_scp_amt"),
            "rxno": self.rxno,
            "manu_lotnum": self.manu_lotnum,
        }
        if self.hosp_appr_flag:
            line["hosp_appr_flag"] = self.hosp_appr_flag
        if self.memo:
            line["memo"] = self.memo[:500]
        if self.drug_trac_codg:
            line["drugtracinfo"] = [{"drug_trac_codg": code} for code in self.drug_trac_codg]
        return line


@dataclass(frozen=True)
class SettlementRequest:
    """What 2101/2102 (pharmacy) or 2206/2207 (hospital) send.

    ``chrg_bchno`` (收费批次号) is required at a pharmacy, ``ipt_otp_no`` (门诊号) at a hospital.
    ``insuplc_admdvs`` (the insured's enrolment place, from 1101) goes in the envelope.
    """

    channel: Channel
    fixmedins_setl_id: str  # our settlement number: the platform's idempotency key
    psn_no: str
    insuplc_admdvs: str
    mdtrt_cert_type: str  # 01 e-credential, 02 ID card, 03 social security card
    mdtrt_cert_no: str
    insutype: str
    med_type: str  # from the profile (e.g. 110202 特药门诊 in Hubei), never hard-coded
    begntime: datetime
    amounts: SettlementAmounts
    lines: Sequence[SettlementLine]
    chrg_bchno: str = ""
    ipt_otp_no: str = ""
    mdtrt_id: str = ""  # hospital: from 2201 where the region requires registration
    psn_setlway: str = "01"  # 01 by item (按项目结算), 02 fixed amount (按定额结算)
    # 异地标志 [HB art. 40–41]: "1" when the treating place (envelope ``mdtrtarea_admvs``) lies
    # outside the enrolment pooling region (``insuplc_admdvs``), "0" local, "" not sent.
    # [uncertain] the field name varies by province; the two envelope codes are authoritative.
    out_setl_flag: str = ""


def settlement_input(request: SettlementRequest) -> dict[str, Any]:
    """The ``input`` of 2101/2102/2206/2207: ``data`` plus ``drugdetail`` or ``feedetail``."""
    if not request.lines:
        raise ValueError("a settlement needs at least one line")
    if request.channel == Channel.PHARMACY and not request.chrg_bchno:
        raise ValueError("chrg_bchno is required at a pharmacy")
    if request.channel == Channel.HOSPITAL and not request.ipt_otp_no:
        raise ValueError("ipt_otp_no is required at a hospital")
    data: dict[str, Any] = {
        "psn_no": request.psn_no,
        "mdtrt_cert_type": request.mdtrt_cert_type,
        "mdtrt_cert_no": request.mdtrt_cert_no,
        "insutype": request.insutype,
        "med_type": request.med_type,
        "begntime": request.begntime.astimezone(SHANGHAI).strftime(TIME_FORMAT),
        **request.amounts.wire(),
        "psn_setlway": request.psn_setlway,
        "fixmedins_setl_id": request.fixmedins_setl_id,
    }
    if request.out_setl_flag:
        data["out_setl_flag"] = request.out_setl_flag
    if request.channel == Channel.PHARMACY:
        data["chrg_bchno"] = request.chrg_bchno
    else:
        data["ipt_otp_no"] = request.ipt_otp_no
        data["mdtrt_id"] = request.mdtrt_id
    return {"data": data, LINE_NODE[request.channel]: [line.wire() for line in request.lines]}


@dataclass(frozen=True)
class ReversalRequest:
    """What 2103 (pharmacy) or 2208 (hospital) send: the settlement the platform answered."""

    channel: Channel
    setl_id: str
    mdtrt_id: str
    psn_no: str
    insuplc_admdvs: str
    fixmedins_setl_id: str  # of the settlement being reversed (cross-checked by the platform)


def reversal_input(request: ReversalRequest) -> dict[str, Any]:
    return {
        "data": {
            "setl_id": request.setl_id,
            "psn_no": request.psn_no,
            "mdtrt_id": request.mdtrt_id,
            "fixmedins_setl_id": request.fixmedins_setl_id,
        }
    }


@dataclass(frozen=True)
class ReconciliationScope:
    """Which settlements a reconciliation covers: the calling institution's, of one insurance
    type, clearing type and agency, settled from ``begin`` to ``end`` (inclusive, Asia/Shanghai).
    """

    insutype: str
    clr_type: str  # see CLR_TYPE
    setl_optins: str  # the agency's admin division (the insured's insuplc_admdvs)
    begin: date
    end: date


@dataclass(frozen=True)
class ReconciliationTotals:
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    acct_pay: Decimal
    fixmedins_setl_cnt: int


@dataclass(frozen=True)
class ReconciliationDetail:
    """One settlement of the institution's list (3202). ``refd_setl_flag``: reversed."""

    setl_id: str
    fixmedins_setl_id: str
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    psn_cash_pay: Decimal
    refd_setl_flag: bool = False


def _header(scope: ReconciliationScope, totals: ReconciliationTotals) -> dict[str, Any]:
    if scope.end < scope.begin:
        raise ValueError("the reconciliation period ends before it begins")
    if totals.fixmedins_setl_cnt < 0:
        raise ValueError("fixmedins_setl_cnt must not be negative")
    return {
        "insutype": scope.insutype,
        "clr_type": scope.clr_type,
        "setl_optins": scope.setl_optins,
        "stmt_begndate": scope.begin.isoformat(),
        "stmt_enddate": scope.end.isoformat(),
        "medfee_sumamt": money(totals.medfee_sumamt, "medfee_sumamt"),
        "fund_pay_sumamt": money(totals.fund_pay_sumamt, "fund_pay_sumamt"),
        "acct_pay": money(totals.acct_pay, "acct_pay"),
        "fixmedins_setl_cnt": str(totals.fixmedins_setl_cnt),
    }


def totals_input(scope: ReconciliationScope, totals: ReconciliationTotals) -> dict[str, Any]:
    """The ``input`` of 3201."""
    return {"data": _header(scope, totals)}


def details_input(
    scope: ReconciliationScope,
    totals: ReconciliationTotals,
    details: Iterable[ReconciliationDetail],
) -> dict[str, Any]:
    """The ``input`` of 3202: the 3201 header plus ``details``."""
    rows = [
        {
            "setl_id": d.setl_id,
            "fixmedins_setl_id": d.fixmedins_setl_id,
            "medfee_sumamt": money(d.medfee_sumamt, "medfee_sumamt"),
            "fund_pay_sumamt": money(d.fund_pay_sumamt, "fund_pay_sumamt"),
            "psn_cash_pay": money(d.psn_cash_pay, "psn_cash_pay"),
            "refd_setl_flag": "1" if d.refd_setl_flag else "0",
        }
        for d in details
    ]
    return {"data": {**_header(scope, totals), "details": rows}}


# --- answers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettlementResult:
    """The answer of a (pre-)settlement. On a preview ``setl_id`` is empty (nothing stored)."""

    setl_id: str
    mdtrt_id: str
    psn_no: str
    setl_time: datetime | None
    amounts: SettlementAmounts
    fund_pay_sumamt: Decimal  # as the platform answered it

    @property
    def preview(self) -> bool:
        return not self.setl_id


@dataclass(frozen=True)
class ReversalResult:
    """The answer of 2103/2208: the reversal's own settlement id and its (negative) amounts."""

    setl_id: str  # of the reversal
    reversed_setl_id: str  # the settlement it reverses
    mdtrt_id: str
    setl_time: datetime
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal


@dataclass(frozen=True)
class TotalsReconciliation:
    """3201: ``stmt_rslt`` '0' the totals match, '1' they do not; ``platform`` its own totals."""

    stmt_rslt: str
    message: str
    platform: ReconciliationTotals

    @property
    def matched(self) -> bool:
        return self.stmt_rslt == "0"


class MismatchReason(enum.StrEnum):
    PLATFORM_MISSING = "platform_missing"  # listed by the institution, unknown in the scope
    INSTITUTION_MISSING = "institution_missing"  # a live settlement the list lacks
    AMOUNT_DIFFERS = "amount_differs"  # ``fields`` names which amounts
    REVERSAL_DIFFERS = "refd_setl_flag_differs"  # reversed on one side only
    ID_DIFFERS = "fixmedins_setl_id_differs"  # the setl_id belongs to another of our numbers


@dataclass(frozen=True)
class Mismatch:
    setl_id: str
    fixmedins_setl_id: str
    reason: MismatchReason
    message: str
    fields: tuple[str, ...] = ()
    platform: ReconciliationDetail | None = None  # the platform's view, when it has the line


@dataclass(frozen=True)
class DetailReconciliation:
    """3202: ``stmt_rslt`` '0' when the totals and every line match; otherwise the mismatches."""

    stmt_rslt: str
    message: str
    platform: ReconciliationTotals
    mismatches: tuple[Mismatch, ...] = field(default=())

    @property
    def matched(self) -> bool:
        return self.stmt_rslt == "0"


def _node(infno: str, output: Any, name: str) -> Mapping[str, Any]:
    node = output.get(name) if isinstance(output, Mapping) else None
    if isinstance(node, list) and len(node) == 1:
        node = node[0]  # some provinces answer a one-element list [uncertain]
    if not isinstance(node, Mapping):
        raise MalformedAnswer(infno, f"缺少 {name} 节点")
    return node


def _text(infno: str, node: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = node.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise MalformedAnswer(infno, f"{name} 应为字符串")
    text = str(value)
    if required and not text:
        raise MalformedAnswer(infno, f"缺少 {name}")
    return text


def _amount(infno: str, node: Mapping[str, Any], name: str, *, signed: bool = False) -> Decimal:
    value = node.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedAnswer(infno, f"缺少金额 {name}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise MalformedAnswer(infno, f"金额 {name} 不是数字：{value!r}") from None
    if not amount.is_finite() or amount != amount.quantize(FEN, rounding=ROUND_HALF_UP):
        raise MalformedAnswer(infno, f"金额 {name} 应为至多两位小数：{value!r}")
    if amount < 0 and not signed:
        raise MalformedAnswer(infno, f"金额 {name} 不能为负：{value!r}")
    return amount.quantize(FEN)


def _count(infno: str, node: Mapping[str, Any], name: str) -> int:
    value = node.get(name)
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise MalformedAnswer(infno, f"{name} 应为非负整数：{value!r}")
    return int(text)


def _time(infno: str, node: Mapping[str, Any], name: str, *, required: bool) -> datetime | None:
    text = _text(infno, node, name, required=required)
    return _parse_time(infno, name, text) if text else None


def _parse_time(infno: str, name: str, text: str) -> datetime:
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise MalformedAnswer(infno, f"{name} 应为 yyyy-MM-dd HH:mm:ss：{text!r}") from None


def parse_settlement(infno: str, output: Any) -> SettlementResult:
    """``setlinfo`` of 2101/2102/2206/2207. A settlement (2102/2207) must carry its ids."""
    node = _node(infno, output, "setlinfo")
    final = infno in SETTLE.values()
    amounts = SettlementAmounts(
        medfee_sumamt=_amount(infno, node, "medfee_sumamt"),
        fulamt_ownpay_amt=_amount(infno, node, "fulamt_ownpay_amt"),
        overlmt_selfpay=_amount(infno, node, "overlmt_selfpay"),
        preselfpay_amt=_amount(infno, node, "preselfpay_amt"),
        inscp_scp_amt=_amount(infno, node, "inscp_scp_amt"),
        hifp_pay=_amount(infno, node, "hifp_pay"),
        hifmi_pay=_amount(infno, node, "hifmi_pay"),
        maf_pay=_amount(infno, node, "maf_pay"),
        oth_pay=_amount(infno, node, "oth_pay"),
        acct_pay=_amount(infno, node, "acct_pay"),
        psn_cash_pay=_amount(infno, node, "psn_cash_pay"),
    )
    fund = _amount(infno, node, "fund_pay_sumamt")
    if fund + amounts.acct_pay + amounts.psn_cash_pay != amounts.medfee_sumamt:
        raise MalformedAnswer(infno, "基金支付、个人账户与现金支付之和不等于医疗费总额")
    return SettlementResult(
        setl_id=_text(infno, node, "setl_id", required=final),
        mdtrt_id=_text(infno, node, "mdtrt_id", required=final),
        psn_no=_text(infno, node, "psn_no"),
        setl_time=_time(infno, node, "setl_time", required=final),
        amounts=amounts,
        fund_pay_sumamt=fund,
    )


def parse_reversal(infno: str, output: Any) -> ReversalResult:
    node = _node(infno, output, "setlinfo")
    setl_time = _parse_time(infno, "setl_time", _text(infno, node, "setl_time"))
    return ReversalResult(
        setl_id=_text(infno, node, "setl_id"),
        reversed_setl_id=_text(infno, node, "init_setl_id"),
        mdtrt_id=_text(infno, node, "mdtrt_id"),
        setl_time=setl_time,
        medfee_sumamt=_amount(infno, node, "medfee_sumamt", signed=True),
        fund_pay_sumamt=_amount(infno, node, "fund_pay_sumamt", signed=True),
        acct_pay=_amount(infno, node, "acct_pay", signed=True),
        psn_cash_pay=_amount(infno, node, "psn_cash_pay", signed=True),
    )


def _totals(infno: str, node: Mapping[str, Any]) -> ReconciliationTotals:
    return ReconciliationTotals(
        medfee_sumamt=_amount(infno, node, "medfee_sumamt"),
        fund_pay_sumamt=_amount(infno, node, "fund_pay_sumamt"),
        acct_pay=_amount(infno, node, "acct_pay"),
        fixmedins_setl_cnt=_count(infno, node, "fixmedins_setl_cnt"),
    )


def _stmt_rslt(infno: str, node: Mapping[str, Any]) -> str:
    rslt = _text(infno, node, "stmt_rslt")
    if rslt not in ("0", "1"):
        raise MalformedAnswer(infno, f"stmt_rslt 应为 0 或 1：{rslt!r}")
    return rslt


def parse_totals(output: Any) -> TotalsReconciliation:
    infno = RECONCILE_TOTALS
    node = _node(infno, output, "stmtinfo")
    return TotalsReconciliation(
        stmt_rslt=_stmt_rslt(infno, node),
        message=_text(infno, node, "stmt_rslt_dscr", required=False),
        platform=_totals(infno, node),
    )


def parse_details(output: Any) -> DetailReconciliation:
    infno = RECONCILE_DETAILS
    node = _node(infno, output, "stmtinfo")
    rows = output.get("stmtdetail", [])
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise MalformedAnswer(infno, "stmtdetail 应为列表")
    mismatches = []
    for row in rows:
        try:
            reason = MismatchReason(_text(infno, row, "reason"))
        except ValueError:
            raise MalformedAnswer(infno, f"未知的不符原因：{row.get('reason')!r}") from None
        fields_ = row.get("fields", [])
        if not isinstance(fields_, list) or not all(isinstance(f, str) for f in fields_):
            raise MalformedAnswer(infno, "fields 应为字符串列表")
        platform = None
        if reason != MismatchReason.PLATFORM_MISSING:
            platform = ReconciliationDetail(
                setl_id=_text(infno, row, "setl_id"),
                fixmedins_setl_id=_text(infno, row, "hsa_fixmedins_setl_id"),
                medfee_sumamt=_amount(infno, row, "hsa_medfee_sumamt"),
                fund_pay_sumamt=_amount(infno, row, "hsa_fund_pay_sumamt"),
                psn_cash_pay=_amount(infno, row, "hsa_psn_cash_pay"),
                refd_setl_flag=_text(infno, row, "hsa_refd_setl_flag") == "1",
            )
        mismatches.append(
            Mismatch(
                setl_id=_text(infno, row, "setl_id", required=False),
                fixmedins_setl_id=_text(infno, row, "fixmedins_setl_id", required=False),
                reason=reason,
                message=_text(infno, row, "memo", required=False),
                fields=tuple(fields_),
                platform=platform,
            )
        )
    rslt = _stmt_rslt(infno, node)
    if rslt == "0" and mismatches:
        raise MalformedAnswer(infno, "对账结果为相符，却列出了不符明细")
    return DetailReconciliation(
        stmt_rslt=rslt,
        message=_text(infno, node, "stmt_rslt_dscr", required=False),
        platform=_totals(infno, node),
        mismatches=tuple(mismatches),
    )


# --- calls --------------------------------------------------------------------------------------


def pre_settle(client: Any, request: SettlementRequest) -> SettlementResult:
    """2101 / 2206: the platform's preview; nothing is stored, so no idempotency key."""
    infno = PRE_SETTLE[request.channel]
    output = client.call(infno, settlement_input(request), insuplc_admdvs=request.insuplc_admdvs)
    return parse_settlement(infno, output)


def settle(client: Any, request: SettlementRequest, *, key: str | None = None) -> SettlementResult:
    """2102 / 2207. ``key`` defaults to ``<infno>:<fixmedins_setl_id>``: a repeat after success
    answers from the call log; the platform itself is idempotent on ``fixmedins_setl_id``."""
    infno = SETTLE[request.channel]
    output = client.call(
        infno,
        settlement_input(request),
        key=key or f"{infno}:{request.fixmedins_setl_id}",
        insuplc_admdvs=request.insuplc_admdvs,
    )
    return parse_settlement(infno, output)


def reverse(client: Any, request: ReversalRequest, *, key: str | None = None) -> ReversalResult:
    """2103 / 2208. ``key`` defaults to ``<infno>:<setl_id>``, so a retry after a success whose
    answer was kept returns it; a second reversal sent anyway is refused by the platform
    (``is_already_reversed``)."""
    infno = REVERSE[request.channel]
    output = client.call(
        infno,
        reversal_input(request),
        key=key or f"{infno}:{request.setl_id}",
        insuplc_admdvs=request.insuplc_admdvs,
    )
    return parse_reversal(infno, output)


def reconcile_totals(
    client: Any, scope: ReconciliationScope, totals: ReconciliationTotals
) -> TotalsReconciliation:
    """3201: compare our totals of the scope with the platform's (asked afresh each time)."""
    return parse_totals(client.call(RECONCILE_TOTALS, totals_input(scope, totals)))


def reconcile_details(
    client: Any,
    scope: ReconciliationScope,
    totals: ReconciliationTotals,
    details: Iterable[ReconciliationDetail],
) -> DetailReconciliation:
    """3202: compare our settlements of the scope line by line; the answer lists mismatches."""
    return parse_details(client.call(RECONCILE_DETAILS, details_input(scope, totals, details)))
