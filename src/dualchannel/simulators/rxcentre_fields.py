"""Field rules of the simulated e-prescription centre: required fields, code lists, formats.

Required fields follow the "Y" marks of public vendor code of the provincial centres (uploadChk
input, rxdrugdetail, mdtrtinfo, diseinfo); the dispensing lines (rxSetlInfoUpld) carry what the
settlement query gives back: batch, lot, expiry, quantity, approval number, manufacturer and the
drugs' traceability codes. Every refusal is a ``Refusal`` with a Chinese message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from dualchannel.integration.nhsa.envelope import SHANGHAI
from dualchannel.integration.rxcentre.wire import CODE_INVALID

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_TRACE_CODE = 100  # reference: the platform field is 100 long

# --- required fields (labels are the centre's Chinese names) --------------------------------------

RX_REQUIRED = {
    "mdtrtCertType": "就诊凭证类型",
    "mdtrtCertNo": "就诊凭证编号",
    "bizTypeCode": "业务类型代码",
    "rxExraAttrCode": "处方附加属性代码",
    "hospRxno": "定点医疗机构处方编号",
    "rxTypeCode": "处方类别代码",
    "prscTime": "开方时间",
    "rxDrugCnt": "药品类目数（剂数）",
    "valiDays": "处方有效天数",
    "valiEndTime": "有效截止时间",
    "longRxFlag": "长期处方标志",
}
DRUG_REQUIRED = {
    "medListCodg": "医疗目录编码",
    "rxItemTypeCode": "处方项目分类代码",
    "drugGenname": "药品通用名",
    "drugDosform": "药品剂型",
    "drugSpec": "药品规格",
    "drugCnt": "药品总用药量",
    "drugDosunt": "药品总用药量单位",
    "medcDays": "用药天数",
}
# Western and Chinese patent medicine carry their usage per line; herbal pieces (13) per rx.
DRUG_USAGE_REQUIRED = {
    "medcWayCodg": "用药途径代码",
    "sinDoscnt": "单次用量",
    "sinDosunt": "单次剂量单位",
    "usedFrquCodg": "使用频次编码",
}
MDTRT_REQUIRED = {
    "medType": "医疗类别",
    "patnName": "患者姓名",
    "psnCertType": "人员证件类型",
    "certno": "证件号码",
    "prscDeptName": "开方科室名称",
    "drCode": "开方医师医保编码",
    "prscDrName": "开方医师姓名",
}
DISE_REQUIRED = {
    "diagType": "诊断类别",
    "maindiagFlag": "主诊断标志",
    "diagCode": "诊断代码",
    "diagName": "诊断名称",
}
LINE_REQUIRED = {
    "medListCodg": "医疗目录编码",
    "bchno": "批次号",
    "manuLotnum": "生产批号",
    "expyEnd": "有效期止",
    "cnt": "数量",
}
CODE_LISTS = {
    "mdtrtCertType": ("01", "02", "03"),  # e-credential, ID card, social security card
    "bizTypeCode": ("01", "02"),  # hospital visit, internet hospital
    "rxExraAttrCode": ("01", "02", "03", "99"),  # dual-channel, outpatient pooling, other
    "longRxFlag": ("0", "1"),
}
RX_ITEM_TYPES = ("11", "12", "13")  # Western, Chinese patent, herbal pieces
HERBAL = "13"


class Refusal(Exception):
    """The centre's answer with a non-zero code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- field checks ---------------------------------------------------------------------------------


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def missing(node: dict[str, Any], required: dict[str, str], where: str = "") -> list[str]:
    return [f"{where}{label}" for name, label in required.items() if blank(node.get(name))]


def refuse_missing(labels: list[str]) -> None:
    if labels:
        raise Refusal(CODE_INVALID, f"必填字段为空：{'、'.join(labels)}")


def parse_time(value: Any, label: str) -> datetime:
    try:
        return datetime.strptime(str(value), TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise Refusal(CODE_INVALID, f"{label}格式应为 yyyy-MM-dd HH:mm:ss") from None


def positive_decimal(value: Any, label: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise Refusal(CODE_INVALID, f"{label}应为数字") from None
    if not number.is_finite() or number <= 0:
        raise Refusal(CODE_INVALID, f"{label}应大于0")
    return number


def list_of_objects(data: dict[str, Any], name: str, label: str) -> list[dict[str, Any]]:
    nodes = data.get(name)
    if not isinstance(nodes, list) or not nodes:
        raise Refusal(CODE_INVALID, f"{label}（{name}）不能为空")
    if not all(isinstance(node, dict) for node in nodes):
        raise Refusal(CODE_INVALID, f"{label}（{name}）每项应为对象")
    return nodes


def check_prescription(
    data: dict[str, Any], *, fixmedins_code: str, now: datetime
) -> tuple[datetime, datetime]:
    """The pre-check rules of uploadChk; returns (prscTime, valiEndTime)."""
    absent = missing(data, RX_REQUIRED)
    drugs = list_of_objects(data, "rxdrugdetail", "处方明细信息")
    for i, drug in enumerate(drugs, start=1):
        absent += missing(drug, DRUG_REQUIRED, f"第{i}条处方明细")
        if drug.get("rxItemTypeCode") != HERBAL:
            absent += missing(drug, DRUG_USAGE_REQUIRED, f"第{i}条处方明细")
    mdtrt = data.get("mdtrtinfo")
    if not isinstance(mdtrt, dict):
        raise Refusal(CODE_INVALID, "就诊信息（mdtrtinfo）不能为空")
    absent += missing(mdtrt, MDTRT_REQUIRED, "就诊信息")
    diseases = list_of_objects(data, "diseinfo", "诊断信息")
    for i, disease in enumerate(diseases, start=1):
        absent += missing(disease, DISE_REQUIRED, f"第{i}条诊断信息")
    if data.get("mdtrtCertType") == "03" and blank(data.get("cardSn")):
        absent.append("卡识别码（就诊凭证类型为03时必填）")
    refuse_missing(absent)
    for name, allowed in CODE_LISTS.items():
        if data[name] not in allowed:
            label = RX_REQUIRED[name]
            raise Refusal(CODE_INVALID, f"{label}[{data[name]}]无效，应为{'、'.join(allowed)}")
    for i, drug in enumerate(drugs, start=1):
        if drug["rxItemTypeCode"] not in RX_ITEM_TYPES:
            raise Refusal(CODE_INVALID, f"第{i}条处方明细处方项目分类代码应为11、12或13")
        positive_decimal(drug["drugCnt"], f"第{i}条处方明细药品总用药量")
    if not any(str(d.get("maindiagFlag")) == "1" for d in diseases):
        raise Refusal(CODE_INVALID, "诊断信息中应有一条主诊断（maindiagFlag 为 1）")
    if mdtrt.get("fixmedinsCode") not in (None, "", fixmedins_code):
        raise Refusal(CODE_INVALID, "就诊信息中的定点医疗机构编号与请求机构不符")
    drug_count = positive_decimal(data["rxDrugCnt"], "药品类目数（剂数）")
    if all(d["rxItemTypeCode"] != HERBAL for d in drugs) and drug_count != len(drugs):
        raise Refusal(CODE_INVALID, "药品类目数与处方明细条数不符")
    prescribed = parse_time(data["prscTime"], "开方时间")
    ends = parse_time(data["valiEndTime"], "有效截止时间")
    days = str(data["valiDays"])
    if not days.isdigit() or int(days) < 1:
        raise Refusal(CODE_INVALID, "处方有效天数应为正整数")
    # 开方时间 + 有效天数 = 有效截止时间; hospitals often round up to the end of that day.
    latest = (prescribed + timedelta(days=int(days))).replace(hour=23, minute=59, second=59)
    if ends <= prescribed or ends > latest:
        raise Refusal(CODE_INVALID, "有效截止时间应在开方时间之后、不超过开方时间加有效天数")
    if ends <= now:
        raise Refusal(CODE_INVALID, "处方已过有效截止时间")
    return prescribed, ends


def trace_codes(line: dict[str, Any], where: str) -> list[dict[str, str]]:
    nodes = line.get("drugtracinfo") or []
    if not isinstance(nodes, list):
        raise Refusal(CODE_INVALID, f"{where}追溯码信息（drugtracinfo）应为列表")
    codes = []
    for node in nodes:
        code = node.get("drug_trac_codg") if isinstance(node, dict) else None
        if blank(code) or len(str(code)) > MAX_TRACE_CODE:
            raise Refusal(CODE_INVALID, f"{where}药品追溯码应为1至{MAX_TRACE_CODE}个字符")
        codes.append({"drug_trac_codg": str(code).strip()})
    return codes
