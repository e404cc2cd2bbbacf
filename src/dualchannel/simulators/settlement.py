"""The simulated platform's settlement and reconciliation transactions.

2101/2206 pre-settle (a checked preview, nothing stored), 2102/2207 settle (a ``SimSettlement``),
2103/2208 reverse it, 3201 total and 3202 detail reconciliation. Inputs follow
``integration.nhsa.settlement`` (read its **[uncertain]** notes): the institution sends the
breakdown its engine computed, and the platform checks that it is well formed and consistent —
every amount a non-negative number with at most two decimals, both partitions of
``medfee_sumamt`` exact (policy: full self-pay + over standard + first self-pay + in policy;
payer: basic fund + critical illness + assistance + other + account + cash), ``fund_pay_sumamt``
the sum of the funds, each line ``pric`` × ``cnt`` and split the same way, the lines adding up to
the header — and that the person, insurance type and enrolment place agree with its records.
Anything else is refused with infcode -1 and a Chinese err_msg.

2102/2207 are idempotent on (institution, ``fixmedins_setl_id``): the same body answers the same
``setl_id`` again (with a warning); a different body under the same number is refused.

Reconciliation scope: the calling institution's settlements of the given ``insutype``,
``clr_type`` and ``setl_optins`` whose settlement time, in Asia/Shanghai, falls on a day from
``stmt_begndate`` to ``stmt_enddate`` inclusive. Reversals are judged **as of the reconciliation
call**: a settlement that has been reversed — in the same period or any time later, up to the
moment of the call — is left out of the 3201 totals altogether (it is not netted as a negative
line in the period of its reversal). So a period reconciled again after a late reversal no longer
matches, and 3202 names the settlement (``refd_setl_flag`` differs) unless the institution marks
it reversed too. In 3202 the institution may list reversed settlements (``refd_setl_flag`` 1) or
leave them out; a live one it leaves out is listed as missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core.canonical import digest
from dualchannel.integration.nhsa.envelope import SHANGHAI
from dualchannel.integration.nhsa.settlement import (
    ALREADY_REVERSED,
    CLR_TYPE,
    LINE_NODE,
    TIME_FORMAT,
    Channel,
)
from dualchannel.registry.models import Institution, InstitutionKind, InsuredPerson, Region
from dualchannel.registry.out_of_area import pooling_code, province_code, valid_filing

from .common import Refusal, next_serial, stamp
from .models import SimSettlement

Output = tuple[dict[str, Any], str]

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
CNT_PLACES = Decimal("0.0001")
MAX_TRACE_CODE = 100
MAX_SETL_ID = 50

CHANNEL = {
    "2101": Channel.PHARMACY,
    "2102": Channel.PHARMACY,
    "2103": Channel.PHARMACY,
    "2206": Channel.HOSPITAL,
    "2207": Channel.HOSPITAL,
    "2208": Channel.HOSPITAL,
}
SETTLE_OF = {"2103": "2102", "2208": "2207"}  # the settlement a reversal reverses
POLICY_PARTS = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")
FUND_PARTS = ("hifp_pay", "hifmi_pay", "maf_pay", "oth_pay")
PAYER_PARTS = (*FUND_PARTS, "acct_pay", "psn_cash_pay")
HEADER_AMOUNTS = ("medfee_sumamt", *POLICY_PARTS, "fund_pay_sumamt", *PAYER_PARTS)
# header part -> the same part on a line
LINE_PART = {
    "fulamt_ownpay_amt": "fulamt_ownpay_amt",
    "overlmt_selfpay": "overlmt_amt",
    "preselfpay_amt": "preselfpay_amt",
    "inscp_scp_amt": "inscp_scp_amt",
}
HEADER_REQUIRED = (
    "psn_no",
    "mdtrt_cert_type",
    "mdtrt_cert_no",
    "insutype",
    "med_type",
    "begntime",
    "psn_setlway",
    "fixmedins_setl_id",
)
BATCH_FIELD = {Channel.PHARMACY: "chrg_bchno", Channel.HOSPITAL: "ipt_otp_no"}
LINE_REQUIRED = (
    "feedetl_sn",
    "med_list_codg",
    "fixmedins_hilist_id",
    "fixmedins_hilist_name",
)
LINE_AMOUNTS = ("pric", "det_item_fee_sumamt", *LINE_PART.values())
RECON_REQUIRED = ("insutype", "clr_type", "setl_optins", "stmt_begndate", "stmt_enddate")
RECON_AMOUNTS = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")
DETAIL_AMOUNTS = ("medfee_sumamt", "fund_pay_sumamt", "psn_cash_pay")
LABELS = {
    "psn_no": "人员编号",
    "mdtrt_cert_type": "就诊凭证类型",
    "mdtrt_cert_no": "就诊凭证编号",
    "insutype": "险种类型",
    "med_type": "医疗类别",
    "begntime": "开始时间",
    "psn_setlway": "个人结算方式",
    "fixmedins_setl_id": "定点医药机构结算ID",
    "chrg_bchno": "收费批次号",
    "ipt_otp_no": "门诊号",
    "setl_id": "结算ID",
    "mdtrt_id": "就诊ID",
    "medfee_sumamt": "医疗费总额",
    "fulamt_ownpay_amt": "全自费金额",
    "overlmt_selfpay": "超限价自费费用",
    "overlmt_amt": "超限价金额",
    "preselfpay_amt": "先行自付金额",
    "inscp_scp_amt": "符合政策范围金额",
    "fund_pay_sumamt": "基金支付总额",
    "hifp_pay": "基本医疗保险统筹基金支出",
    "hifmi_pay": "大病保险资金支出",
    "maf_pay": "医疗救助基金支出",
    "oth_pay": "其他支出",
    "acct_pay": "个人账户支出",
    "psn_cash_pay": "个人现金支出",
    "feedetl_sn": "费用明细流水号",
    "med_list_codg": "医疗目录编码",
    "fixmedins_hilist_id": "定点医药机构目录编号",
    "fixmedins_hilist_name": "定点医药机构目录名称",
    "cnt": "数量",
    "pric": "单价",
    "det_item_fee_sumamt": "明细项目费用总额",
    "clr_type": "清算类别",
    "setl_optins": "结算经办机构",
    "stmt_begndate": "对账开始日期",
    "stmt_enddate": "对账结束日期",
    "fixmedins_setl_cnt": "结算笔数",
    "refd_setl_flag": "退费结算标志",
}


def _refuse(message: str) -> None:

    raise Refusal(message)


def _node(data: dict[str, Any]) -> dict[str, Any]:
    node = data.get("data")
    if not isinstance(node, dict):
        _refuse("交易输入缺少 data 节点")
    return node


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _missing(node: dict[str, Any], names: Sequence[str], where: str = "") -> None:
    missing = [LABELS[n] for n in names if not _text(node.get(n))]
    if missing:
        _refuse(f"{where}必填字段为空：{'、'.join(missing)}")


def _amount(node: dict[str, Any], name: str, where: str = "") -> Decimal:
    value = node.get(name)
    label = f"{where}{LABELS[name]}（{name}）"
    if value is None or value == "":
        _refuse(f"必填字段为空：{label}")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        _refuse(f"金额格式错误：{label}应为数字")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        _refuse(f"金额格式错误：{label}应为数字")
    if not amount.is_finite() or amount != amount.quantize(FEN, rounding=ROUND_HALF_UP):
        _refuse(f"金额格式错误：{label}最多两位小数")
    if amount < 0:
        _refuse(f"金额格式错误：{label}不能为负数")
    return amount.quantize(FEN)


def _count(node: dict[str, Any], where: str) -> Decimal:
    value = node.get("cnt")
    label = f"{where}{LABELS['cnt']}"
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidOperation
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        _refuse(f"{label}应为数字")
    if not amount.is_finite() or amount <= 0:
        _refuse(f"{label}应大于0")
    if amount != amount.quantize(CNT_PLACES, rounding=ROUND_HALF_UP):
        _refuse(f"{label}最多四位小数")
    return amount


def _money(value: Decimal) -> str:
    return format(value.quantize(FEN), "f")


def _shanghai(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime(TIME_FORMAT)


def _parse_date(node: dict[str, Any], name: str) -> date:
    try:
        return date.fromisoformat(_text(node.get(name)))
    except ValueError:
        _refuse(f"{LABELS[name]}格式应为 yyyy-MM-dd")


# --- settlement input --------------------------------------------------------------------------


@dataclass
class Checked:
    channel: Channel
    node: dict[str, Any]
    amounts: dict[str, Decimal]


def _check_lines(channel: Channel, data: dict[str, Any], amounts: dict[str, Decimal]) -> None:
    name = LINE_NODE[channel]
    lines = data.get(name)
    if not isinstance(lines, list) or not lines or not all(isinstance(x, dict) for x in lines):
        _refuse(f"交易输入缺少 {name} 节点（费用明细）")
    seen: set[str] = set()
    sums = dict.fromkeys(("det_item_fee_sumamt", *LINE_PART.values()), ZERO)
    for index, line in enumerate(lines, start=1):
        where = f"第{index}条明细"
        _missing(line, LINE_REQUIRED, f"{where}")
        sn = _text(line["feedetl_sn"])
        if sn in seen:
            _refuse(f"费用明细流水号[{sn}]重复")
        seen.add(sn)
        cnt = _count(line, where)
        values = {n: _amount(line, n, where) for n in LINE_AMOUNTS}
        if (values["pric"] * cnt).quantize(FEN, rounding=ROUND_HALF_UP) != values[
            "det_item_fee_sumamt"
        ]:
            _refuse(f"{where}明细项目费用总额不等于单价×数量")
        parts = sum((values[n] for n in LINE_PART.values()), ZERO)
        if parts != values["det_item_fee_sumamt"]:
            _refuse(
                f"{where}全自费金额、超限价金额、先行自付金额与符合政策范围金额之和"
                "不等于明细项目费用总额"
            )
        for n in sums:
            sums[n] += values[n]
        _check_trace_codes(line, where)
    if sums["det_item_fee_sumamt"] != amounts["medfee_sumamt"]:
        _refuse("费用明细合计不等于医疗费总额")
    for header, part in LINE_PART.items():
        if sums[part] != amounts[header]:
            _refuse(f"费用明细的{LABELS[part]}合计不等于{LABELS[header]}")


def _check_trace_codes(line: dict[str, Any], where: str) -> None:
    info = line.get("drugtracinfo", [])
    if not isinstance(info, list):
        _refuse(f"{where}追溯码信息（drugtracinfo）应为列表")
    for entry in info:
        code = entry.get("drug_trac_codg") if isinstance(entry, dict) else None
        if not isinstance(code, str) or not code or len(code) > MAX_TRACE_CODE:
            _refuse(f"{where}药品追溯码应为1至{MAX_TRACE_CODE}位字符")


def _check_person(envelope: dict[str, Any], node: dict[str, Any]) -> None:

    if node["mdtrt_cert_type"] not in ("01", "02", "03"):
        _refuse("就诊凭证类型应为01（医保电子凭证）、02（居民身份证）或03（社会保障卡）")
    if not envelope["insuplc_admdvs"]:
        _refuse("传入人员编号时参保地医保区划（insuplc_admdvs）必填")
    person = InsuredPerson.objects.filter(person_no=node["psn_no"]).first()
    if person is None:
        _refuse("人员编号不存在")
    if person.insurance_type != node["insutype"]:
        _refuse("险种类型与参保信息不符")
    if person.enrolment_region_id != envelope["insuplc_admdvs"]:
        _refuse("参保地医保区划与参保信息不符")


def _check_out_of_area(envelope: dict[str, Any], node: dict[str, Any]) -> None:
    """异地标志 [HB art. 40–41]: when sent it agrees with the two places; a cross-province
    settlement needs the person's filing for the treating place on the day (else the person
    pays in full and claims at home)."""
    home, where = envelope["insuplc_admdvs"], envelope["mdtrtarea_admvs"]
    flag = node.get("out_setl_flag", "")
    if flag not in ("", "0", "1"):
        _refuse("异地标志（out_setl_flag）应为0（本地）或1（异地）")
    if flag and flag != ("0" if pooling_code(home) == pooling_code(where) else "1"):
        _refuse("异地标志与就医地、参保地医保区划不符")
    if province_code(home) == province_code(where):
        return  # 省内异地直接结算，无需备案
    person = InsuredPerson.objects.get(person_no=node["psn_no"])
    region = Region.objects.filter(code=where).first()
    day = datetime.strptime(node["begntime"], TIME_FORMAT).date()  # noqa: DTZ007 (local date)
    if region is None or valid_filing(person, region, day) is None:
        _refuse("跨省异地就医未办理异地就医备案，不能直接结算")


def _check_institution(envelope: dict[str, Any], channel: Channel) -> None:

    kind = (
        Institution.objects.filter(platform_code=envelope["fixmedins_code"])
        .values_list("kind", flat=True)
        .first()
    )
    if channel == Channel.PHARMACY and kind != InstitutionKind.PHARMACY:
        _refuse("药店结算交易（2101–2103）仅限定点零售药店")
    if channel == Channel.HOSPITAL and kind != InstitutionKind.HOSPITAL:
        _refuse("门诊结算交易（2206–2208）仅限定点医疗机构")


def _check_settlement(envelope: dict[str, Any], data: dict[str, Any]) -> Checked:
    channel = CHANNEL[envelope["infno"]]
    _check_institution(envelope, channel)
    node = _node(data)
    _missing(node, (*HEADER_REQUIRED, BATCH_FIELD[channel]))
    node = {k: (_text(v) if k in HEADER_REQUIRED else v) for k, v in node.items()}
    if len(node["fixmedins_setl_id"]) > MAX_SETL_ID:
        _refuse(f"定点医药机构结算ID不能超过{MAX_SETL_ID}位")
    try:
        datetime.strptime(node["begntime"], TIME_FORMAT)  # noqa: DTZ007 (format check only)
    except ValueError:
        _refuse("开始时间格式应为 yyyy-MM-dd HH:mm:ss")
    amounts = {name: _amount(node, name) for name in HEADER_AMOUNTS}
    total = amounts["medfee_sumamt"]
    if sum((amounts[n] for n in POLICY_PARTS), ZERO) != total:
        _refuse("全自费金额、超限价自费费用、先行自付金额与符合政策范围金额之和不等于医疗费总额")
    if sum((amounts[n] for n in FUND_PARTS), ZERO) != amounts["fund_pay_sumamt"]:
        _refuse("基金支付总额不等于统筹基金、大病保险、医疗救助与其他支出之和")
    if sum((amounts[n] for n in PAYER_PARTS), ZERO) != total:
        _refuse("基金支付、个人账户支出与个人现金支出之和不等于医疗费总额")
    _check_lines(channel, data, amounts)
    _check_person(envelope, node)
    _check_out_of_area(envelope, node)
    return Checked(channel=channel, node=node, amounts=amounts)


def _setlinfo(
    checked: Checked, *, setl_id: str, mdtrt_id: str, setl_time: datetime | None
) -> dict[str, Any]:
    node = checked.node
    return {
        "setl_id": setl_id,
        "mdtrt_id": mdtrt_id,
        "psn_no": node["psn_no"],
        "insutype": node["insutype"],
        "med_type": node["med_type"],
        "clr_type": CLR_TYPE[checked.channel],
        "fixmedins_setl_id": node["fixmedins_setl_id"],
        "setl_time": _shanghai(setl_time) if setl_time else "",
        **{name: _money(value) for name, value in checked.amounts.items()},
    }


def _serial_id(envelope: dict[str, Any], serial: str) -> str:

    day = stamp(timezone.now(), "%Y%m%d")
    return f"{envelope['mdtrtarea_admvs']}{day}{next_serial(serial):010d}"


# --- transactions ------------------------------------------------------------------------------


def pre_settle(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    """2101 / 2206: check everything and answer the breakdown; nothing is stored."""
    checked = _check_settlement(envelope, data)
    mdtrt_id = _text(checked.node.get("mdtrt_id"))
    output = {"setlinfo": _setlinfo(checked, setl_id="", mdtrt_id=mdtrt_id, setl_time=None)}
    settled = SimSettlement.objects.filter(
        fixmedins_code=envelope["fixmedins_code"],
        fixmedins_setl_id=checked.node["fixmedins_setl_id"],
    ).exists()
    warn = f"定点医药机构结算ID[{checked.node['fixmedins_setl_id']}]已结算" if settled else ""
    return output, warn


def _replay(found: SimSettlement, request_digest: str) -> Output:
    if found.request_digest != request_digest:
        _refuse(f"定点医药机构结算ID[{found.fixmedins_setl_id}]已存在且结算内容不同，不能重复结算")
    warn = f"定点医药机构结算ID[{found.fixmedins_setl_id}]已结算，返回原结算信息"
    if found.reversed_at is not None:
        warn += f"（该结算已于{_shanghai(found.reversed_at)}冲正）"
    return found.output, warn


def settle(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    """2102 / 2207: store the settlement and answer its setl_id and mdtrt_id."""
    infno = envelope["infno"]
    code = envelope["fixmedins_code"]
    checked = _check_settlement(envelope, data)
    node = checked.node
    request_digest = digest({"infno": infno, "input": data})
    found = SimSettlement.objects.filter(
        fixmedins_code=code, fixmedins_setl_id=node["fixmedins_setl_id"]
    ).first()
    if found is not None:
        return _replay(found, request_digest)
    now = timezone.now()
    setl_id = _serial_id(envelope, "settlement")
    mdtrt_id = _text(node.get("mdtrt_id")) or _serial_id(envelope, "mdtrt")
    output = {"setlinfo": _setlinfo(checked, setl_id=setl_id, mdtrt_id=mdtrt_id, setl_time=now)}
    amounts = checked.amounts
    try:
        with transaction.atomic():
            SimSettlement.objects.create(
                setl_id=setl_id,
                mdtrt_id=mdtrt_id[:30],
                fixmedins_code=code,
                fixmedins_setl_id=node["fixmedins_setl_id"],
                infno=infno,
                clr_type=CLR_TYPE[checked.channel],
                setl_optins=envelope["insuplc_admdvs"],
                insutype=node["insutype"],
                med_type=node["med_type"][:10],
                psn_no=node["psn_no"],
                **{name: amounts[name] for name in ("medfee_sumamt", "fund_pay_sumamt")},
                **{name: amounts[name] for name in PAYER_PARTS},
                request_digest=request_digest,
                data=data,
                output=output,
                setl_time=now,
            )
    except IntegrityError:
        found = SimSettlement.objects.get(
            fixmedins_code=code, fixmedins_setl_id=node["fixmedins_setl_id"]
        )
        return _replay(found, request_digest)
    return output, ""


def reverse(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    """2103 / 2208: reverse a settlement of this institution, once."""
    infno = envelope["infno"]
    _check_institution(envelope, CHANNEL[infno])
    node = _node(data)
    _missing(node, ("setl_id", "psn_no", "mdtrt_id"))
    setl_id = _text(node["setl_id"])
    if not envelope["insuplc_admdvs"]:
        _refuse("传入人员编号时参保地医保区划（insuplc_admdvs）必填")
    found = (
        SimSettlement.objects.select_for_update()
        .filter(setl_id=setl_id, fixmedins_code=envelope["fixmedins_code"], infno=SETTLE_OF[infno])
        .first()
    )
    if found is None:
        _refuse(f"未找到结算ID[{setl_id}]对应的结算记录")
    if _text(node["psn_no"]) != found.psn_no:
        _refuse("人员编号与原结算不符")
    if _text(node["mdtrt_id"]) != found.mdtrt_id:
        _refuse("就诊ID与原结算不符")
    fixmedins_setl_id = _text(node.get("fixmedins_setl_id"))
    if fixmedins_setl_id and fixmedins_setl_id != found.fixmedins_setl_id:
        _refuse("定点医药机构结算ID与原结算不符")
    if found.reversed_at is not None:
        _refuse(f"{ALREADY_REVERSED}（{_shanghai(found.reversed_at)}），不能重复冲正")
    now = timezone.now()
    found.reversed_at = now
    found.reversal_setl_id = _serial_id(envelope, "settlement")
    found.save(update_fields=["reversed_at", "reversal_setl_id"])
    negative = {
        name: _money(ZERO - getattr(found, name))
        for name in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")
    }
    output = {
        "setlinfo": {
            "setl_id": found.reversal_setl_id,
            "init_setl_id": found.setl_id,
            "mdtrt_id": found.mdtrt_id,
            "psn_no": found.psn_no,
            "fixmedins_setl_id": found.fixmedins_setl_id,
            "setl_time": _shanghai(now),
            **negative,
        }
    }
    return output, ""


# --- reconciliation ----------------------------------------------------------------------------


@dataclass
class Scope:
    node: dict[str, Any]
    amounts: dict[str, Decimal]
    count: int
    rows: list[SimSettlement]  # the scope's settlements, reversed ones included


def _scope(envelope: dict[str, Any], data: dict[str, Any]) -> Scope:
    node = _node(data)
    _missing(node, (*RECON_REQUIRED, "fixmedins_setl_cnt"))
    begin = _parse_date(node, "stmt_begndate")
    end = _parse_date(node, "stmt_enddate")
    if end < begin:
        _refuse("对账结束日期不能早于对账开始日期")
    amounts = {name: _amount(node, name) for name in RECON_AMOUNTS}
    count_text = _text(node["fixmedins_setl_cnt"])
    if not count_text.isdigit():
        _refuse("结算笔数应为非负整数")
    start = datetime.combine(begin, time.min, SHANGHAI)
    stop = datetime.combine(end + timedelta(days=1), time.min, SHANGHAI)
    rows = list(
        SimSettlement.objects.filter(
            fixmedins_code=envelope["fixmedins_code"],
            insutype=_text(node["insutype"]),
            clr_type=_text(node["clr_type"]),
            setl_optins=_text(node["setl_optins"]),
            setl_time__gte=start,
            setl_time__lt=stop,
        ).order_by("setl_time", "id")
    )
    return Scope(node=node, amounts=amounts, count=int(count_text), rows=rows)


def _platform_totals(rows: list[SimSettlement]) -> dict[str, Any]:
    live = [r for r in rows if r.reversed_at is None]
    return {
        **{name: sum((getattr(r, name) for r in live), ZERO) for name in RECON_AMOUNTS},
        "fixmedins_setl_cnt": len(live),
    }


def _compare_totals(scope: Scope) -> tuple[dict[str, Any], list[str]]:
    ours = _platform_totals(scope.rows)
    theirs = {**scope.amounts, "fixmedins_setl_cnt": scope.count}
    differences = [
        f"{LABELS[name]}不符（机构{theirs[name]}，平台{ours[name]}）"
        for name in (*RECON_AMOUNTS, "fixmedins_setl_cnt")
        if theirs[name] != ours[name]
    ]
    return ours, differences


def _stmtinfo(scope: Scope, totals: dict[str, Any], rslt: str, dscr: str) -> dict[str, Any]:
    return {
        "setl_optins": _text(scope.node["setl_optins"]),
        "stmt_rslt": rslt,
        "stmt_rslt_dscr": dscr,
        **{name: _money(totals[name]) for name in RECON_AMOUNTS},
        "fixmedins_setl_cnt": str(totals["fixmedins_setl_cnt"]),
    }


def reconcile_totals(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    """3201: the institution's totals of the scope against the platform's live settlements."""
    scope = _scope(envelope, data)
    totals, differences = _compare_totals(scope)
    if differences:
        return {"stmtinfo": _stmtinfo(scope, totals, "1", "；".join(differences))}, ""
    return {"stmtinfo": _stmtinfo(scope, totals, "0", "对账相符")}, ""


def _details(node: dict[str, Any]) -> list[dict[str, Any]]:
    rows = node.get("details")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        _refuse("交易输入缺少 details 节点（对账明细）")
    checked: list[dict[str, Any]] = []
    seen_setl: set[str] = set()
    seen_fix: set[str] = set()
    for index, row in enumerate(rows, start=1):
        where = f"第{index}条对账明细"
        setl_id = _text(row.get("setl_id"))
        fix = _text(row.get("fixmedins_setl_id"))
        if not setl_id and not fix:
            _refuse(f"{where}结算ID与定点医药机构结算ID不能同时为空")
        if (setl_id and setl_id in seen_setl) or (fix and fix in seen_fix):
            _refuse(f"{where}与前面的明细重复（结算ID或定点医药机构结算ID相同）")
        seen_setl.add(setl_id)
        seen_fix.add(fix)
        flag = _text(row.get("refd_setl_flag"))
        if flag not in ("0", "1"):
            _refuse(f"{where}退费结算标志应为0或1")
        checked.append(
            {
                "setl_id": setl_id,
                "fixmedins_setl_id": fix,
                "refd_setl_flag": flag,
                **{name: _amount(row, name, where) for name in DETAIL_AMOUNTS},
            }
        )
    return checked


def _mismatch(
    reason: str, memo: str, row: dict[str, Any], found: SimSettlement | None, fields=()
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "setl_id": found.setl_id if found else row["setl_id"],
        "fixmedins_setl_id": row.get("fixmedins_setl_id")
        or (found.fixmedins_setl_id if found else ""),
        "reason": reason,
        "memo": memo,
        "fields": list(fields),
    }
    if found is not None:
        entry.update(
            {
                "hsa_fixmedins_setl_id": found.fixmedins_setl_id,
                **{f"hsa_{name}": _money(getattr(found, name)) for name in DETAIL_AMOUNTS},
                "hsa_refd_setl_flag": "1" if found.reversed_at else "0",
            }
        )
    return entry


def reconcile_details(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    """3202: the institution's list against the platform's settlements of the scope."""
    scope = _scope(envelope, data)
    listed = _details(scope.node)
    by_setl = {r.setl_id: r for r in scope.rows}
    by_fix = {r.fixmedins_setl_id: r for r in scope.rows}
    matched: set[str] = set()
    found_rows: list[dict[str, Any]] = []
    for row in listed:
        found = (
            by_setl.get(row["setl_id"]) if row["setl_id"] else by_fix.get(row["fixmedins_setl_id"])
        )
        if found is None:
            found_rows.append(_mismatch("platform_missing", "平台该对账范围内无此结算", row, None))
            continue
        matched.add(found.setl_id)
        if row["fixmedins_setl_id"] and row["fixmedins_setl_id"] != found.fixmedins_setl_id:
            found_rows.append(
                _mismatch(
                    "fixmedins_setl_id_differs",
                    f"定点医药机构结算ID不符（机构{row['fixmedins_setl_id']}，"
                    f"平台{found.fixmedins_setl_id}）",
                    row,
                    found,
                    ("fixmedins_setl_id",),
                )
            )
        reversed_here = found.reversed_at is not None
        if (row["refd_setl_flag"] == "1") != reversed_here:
            memo = (
                "平台该结算已冲正，机构标记为未冲正"
                if reversed_here
                else "平台该结算未冲正，机构标记为已冲正"
            )
            found_rows.append(
                _mismatch("refd_setl_flag_differs", memo, row, found, ("refd_setl_flag",))
            )
        differing = [n for n in DETAIL_AMOUNTS if row[n] != getattr(found, n)]
        if differing:
            memo = "金额不符：" + "；".join(
                f"{LABELS[n]}（机构{_money(row[n])}，平台{_money(getattr(found, n))}）"
                for n in differing
            )
            found_rows.append(_mismatch("amount_differs", memo, row, found, differing))
    for found in scope.rows:
        if found.setl_id in matched or found.reversed_at is not None:
            continue  # a reversed settlement may be left out of the list
        row = {"setl_id": found.setl_id, "fixmedins_setl_id": found.fixmedins_setl_id}
        found_rows.append(_mismatch("institution_missing", "机构对账明细缺少该结算", row, found))
    totals, differences = _compare_totals(scope)
    if found_rows:
        differences.append(f"明细不符{len(found_rows)}条")
    if differences:
        info = _stmtinfo(scope, totals, "1", "；".join(differences))
    else:
        info = _stmtinfo(scope, totals, "0", "对账相符")
    return {"stmtinfo": info, "stmtdetail": found_rows}, ""


SETTLEMENT_HANDLERS = {
    "2101": pre_settle,
    "2102": settle,
    "2103": reverse,
    "2206": pre_settle,
    "2207": settle,
    "2208": reverse,
    "3201": reconcile_totals,
    "3202": reconcile_details,
}
