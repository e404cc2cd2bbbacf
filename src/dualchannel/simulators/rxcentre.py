"""The e-prescription centre's side (医保电子处方中心), for tests and the demo.

``handle(api, request)`` checks the request as a centre does (``rxcentre.wire``), decrypts SM4
data and verifies ``signData`` where keys are registered for the appId, then answers the
hospital services (uploadChk, rxFixmedinsSign, rxFileUpld, rxUndo, the four queries) and the
pharmacy uploads (rxChkInfoUpld = 7204 review, rxSetlInfoUpld = 7206 dispensing). State lives in
``SimRx``: pre-checked → valid (uploaded) → dispensed, or cancelled (rxUndo), or expired (past
valiEndTime, seen on the next call that reads it). Field rules live in ``rxcentre_fields``;
refusals carry Chinese messages and the codes of ``wire``.

Switches: ``rxcentre_fail_next`` (busy answers or no answer), ``rxcentre_register_keys``, and
``rxcentre_register_stock_hook`` — the project answers rxSetlStockQuery from its own inventory;
without a hook the answer is "-1" (no stock).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from gmssl import func, sm2, sm3

from dualchannel.core.canonical import canonical_json, digest
from dualchannel.integration.nhsa.crypto import Sm2Signer, Sm4Cipher, sm2_verify
from dualchannel.integration.nhsa.envelope import SHANGHAI
from dualchannel.integration.rxcentre import wire
from dualchannel.integration.rxcentre.wire import (
    CODE_BAD_REQUEST,
    CODE_BUSY,
    CODE_INVALID,
    CODE_NOT_FOUND,
    CODE_OK,
    CODE_SECURITY,
    CODE_STATE,
    CODE_UNKNOWN_INSTITUTION,
)
from dualchannel.registry.models import Institution, InstitutionKind

from .models import FaultMode, SimRx, SimRxAppKey, SimRxFault, SimRxStatus
from .platform import SimulatedTimeout, next_serial, stamp
from .rxcentre_fields import (
    LINE_REQUIRED,
    TIME_FORMAT,
    Refusal,
    blank,
    check_prescription,
    list_of_objects,
    missing,
    positive_decimal,
    refuse_missing,
    trace_codes,
)

logger = logging.getLogger("dualchannel.simulators")

BUSY_MESSAGE = "系统繁忙，请稍后重试（模拟故障）"

# (fixmedins_code of the pharmacy, {medListCodg: quantity}) -> "1" all, "0" partly, "-1" none
StockHook = Callable[[str, dict[str, Decimal]], str]
_stock_hook: StockHook | None = None


@dataclass(frozen=True)
class Call:
    """Who calls (the ``fixmedinsCode`` of the data, checked to be registered) and when."""

    fixmedins_code: str
    institution: Any
    now: datetime


# --- switches for tests and the demo --------------------------------------------------------------


def rxcentre_fail_next(count: int, *, mode: str = FaultMode.ERROR, api: str = "") -> SimRxFault:
    """Make the next ``count`` calls (of ``api``, or any) fail in ``mode``."""
    if count < 0 or mode not in FaultMode.values:
        raise ValueError("count must be >= 0 and mode one of FaultMode")
    return SimRxFault.objects.create(mode=mode, api=api, remaining=count)


def rxcentre_clear_faults() -> None:
    SimRxFault.objects.all().delete()


def rxcentre_register_keys(
    app_id: str, *, sm2_public_key: str, sm4_key_hex: str = "", require_signature: bool = True
) -> SimRxAppKey:
    key, _ = SimRxAppKey.objects.update_or_create(
        app_id=app_id,
        defaults={
            "sm2_public_key": sm2_public_key,
            "sm4_key_hex": sm4_key_hex,
            "require_signature": require_signature,
        },
    )
    return key


def rxcentre_register_stock_hook(hook: StockHook | None) -> StockHook | None:
    """Answer rxSetlStockQuery with ``hook`` (None: always "-1"); returns the previous hook."""
    global _stock_hook
    previous, _stock_hook = _stock_hook, hook
    return previous


@functools.cache
def _centre_key() -> tuple[str, str]:
    """The simulated centre's own SM2 key pair (fixed, so that every process agrees)."""
    n = int(sm2.default_ecc_table["n"], 16)
    seed = hashlib.sha256(b"dualchannel simulated e-prescription centre").hexdigest()
    private = f"{int(seed, 16) % (n - 1) + 1:064x}"
    public = sm2.CryptSM2(private_key=private, public_key="")._kg(
        int(private, 16), sm2.default_ecc_table["g"]
    )
    return private, public


def rxcentre_public_key() -> str:
    return _centre_key()[1]


def rxcentre_cert_sn() -> str:
    return sm3.sm3_hash(func.bytes_to_list(bytes.fromhex(rxcentre_public_key())))[:32].upper()


def rxcentre_verify_sign_digest(hi_rxno: str, rx_file: str, sign_digest: str) -> bool:
    """Whether ``sign_digest`` is the simulated centre's signature of this prescription file."""
    return sm2_verify(rxcentre_public_key(), sign_digest, {"hiRxno": hi_rxno, "rxFile": rx_file})


# --- the centre -----------------------------------------------------------------------------------


def _consume_fault(api: str) -> str | None:
    with transaction.atomic():
        fault = (
            SimRxFault.objects.select_for_update()
            .filter(remaining__gt=0, api__in=["", api])
            .order_by("id")
            .first()
        )
        if fault is None:
            return None
        fault.remaining -= 1
        fault.save(update_fields=["remaining"])
        return fault.mode


def _answer(code: int, message: str, data: dict[str, Any] | str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "data": data if data is not None else {}}


def handle(api: str, request: Any) -> dict[str, Any]:
    """Answer one request as the centre would. Raises ``SimulatedTimeout`` when told to."""
    fault = _consume_fault(api)
    if fault == FaultMode.TIMEOUT:
        logger.info("rxcentre simulator timeout api=%s", api)
        raise SimulatedTimeout()
    if fault == FaultMode.ERROR:
        return _answer(CODE_BUSY, BUSY_MESSAGE)
    errors = wire.request_errors(request)
    if errors:
        detail = "；".join(f"{name}{message}" for name, message in sorted(errors.items()))
        return _answer(CODE_BAD_REQUEST, f"报文校验失败：{detail}")
    handler = HANDLERS.get(api)
    if handler is None:
        return _answer(CODE_BAD_REQUEST, f"服务[{api}]不存在或未开放")
    keys = SimRxAppKey.objects.filter(app_id=request["appId"]).first()
    try:
        data, cipher = _open_data(request, keys)
        call = _caller(data)
        with transaction.atomic():
            output = handler(call, data)
    except Refusal as refusal:
        logger.info("rxcentre simulator api=%s code=%s", api, refusal.code)
        return _answer(refusal.code, refusal.message)
    # An encrypted request gets an encrypted answer, with the same key.
    return _answer(CODE_OK, "成功", cipher.encrypt(output) if cipher else output)


def _open_data(
    request: dict[str, Any], keys: SimRxAppKey | None
) -> tuple[dict[str, Any], Sm4Cipher | None]:
    """Decrypt ``data`` if it is ciphertext and check ``signData`` where keys are registered.

    Returns the plain data and the cipher of the request (None when it came in plain).
    """
    data = request["data"]
    cipher = None
    if isinstance(data, str):
        if keys is None or not keys.sm4_key_hex:
            raise Refusal(CODE_SECURITY, "业务数据为密文，但该应用未登记加密密钥")
        cipher = Sm4Cipher(keys.sm4_key_hex)
        try:
            data = cipher.decrypt(data)
        except (ValueError, UnicodeDecodeError):
            raise Refusal(CODE_SECURITY, "业务数据解密失败") from None
    if (
        keys is not None
        and keys.require_signature
        and not sm2_verify(keys.sm2_public_key, request["signData"], wire.signed_data(data))
    ):
        raise Refusal(CODE_SECURITY, "签名验证失败")
    return data, cipher


def _caller(data: dict[str, Any]) -> Call:

    code = str(data.get("fixmedinsCode", ""))
    if not code:
        raise Refusal(CODE_INVALID, "必填字段为空：定点医药机构编号")
    institution = Institution.objects.filter(platform_code=code).first()
    if institution is None:
        raise Refusal(CODE_UNKNOWN_INSTITUTION, f"定点医药机构编号[{code}]未登记")
    return Call(fixmedins_code=code, institution=institution, now=timezone.now())


# --- prescriptions --------------------------------------------------------------------------------


def _serial_code(call: Call, name: str) -> str:
    """30 characters: admin division (6) + yyyyMMddHHmmss (14) + serial (10)."""
    region = str(call.institution.region_id or "")[:6].ljust(6, "0")
    return f"{region}{stamp(call.now, '%Y%m%d%H%M%S')}{next_serial(name):010d}"


def _refresh(rx: SimRx, now: datetime) -> SimRx:
    """A valid prescription past its valiEndTime is expired from now on (status 2)."""
    if rx.status == SimRxStatus.VALID and now > rx.vali_end_time:
        rx.status = SimRxStatus.EXPIRED
        rx.expired_at = now
        rx.save(update_fields=["status", "expired_at"])
    return rx


def _uploaded(call: Call, hi_rxno: Any, *, own: bool) -> SimRx:
    """An uploaded prescription, locked; ``own``: only the issuing hospital may see it."""
    if blank(hi_rxno):
        raise Refusal(CODE_INVALID, "必填字段为空：医保处方编号")
    rows = SimRx.objects.select_for_update().filter(hi_rxno=str(hi_rxno))
    if own:
        rows = rows.filter(fixmedins_code=call.fixmedins_code)
    rx = rows.exclude(status=SimRxStatus.CHECKED).first()
    if rx is None:
        raise Refusal(CODE_NOT_FOUND, f"医保处方编号[{hi_rxno}]不存在")
    return _refresh(rx, call.now)


def _status_fields(rx: SimRx) -> dict[str, str]:
    stas = {
        SimRxStatus.VALID: "1",
        SimRxStatus.DISPENSED: "1",
        SimRxStatus.EXPIRED: "2",
        SimRxStatus.CANCELLED: "3",
    }[SimRxStatus(rx.status)]
    used = "1" if rx.status == SimRxStatus.DISPENSED else "0"
    return {
        "rxStasCodg": stas,
        "rxStasName": wire.RX_STATUS[stas],
        "rxUsedStasCodg": used,
        "rxUsedStasName": wire.RX_USED_STATUS[used],
    }


def _refuse_unless_valid(rx: SimRx, action: str) -> None:
    """Refuse ``action`` on a cancelled, expired or dispensed prescription."""
    reasons = {
        SimRxStatus.CANCELLED: "处方已撤销",
        SimRxStatus.EXPIRED: "处方已失效（超过有效截止时间）",
        SimRxStatus.DISPENSED: "处方已取药",
    }
    if rx.status in reasons:
        raise Refusal(CODE_STATE, f"{reasons[SimRxStatus(rx.status)]}，不能{action}")


# --- hospital services ----------------------------------------------------------------------------

Output = dict[str, Any]


def _upload_check(call: Call, data: dict[str, Any]) -> Output:

    if call.institution.kind != InstitutionKind.HOSPITAL:
        raise Refusal(CODE_INVALID, "仅定点医疗机构可上传电子处方")
    _, ends = check_prescription(data, fixmedins_code=call.fixmedins_code, now=call.now)
    hosp_rxno = str(data["hospRxno"])
    rx = (
        SimRx.objects.select_for_update()
        .filter(fixmedins_code=call.fixmedins_code, hosp_rxno=hosp_rxno)
        .first()
    )
    if rx is not None and rx.status != SimRxStatus.CHECKED:
        raise Refusal(
            CODE_STATE, f"院内处方号[{hosp_rxno}]已上传（医保处方编号{rx.hi_rxno}），不能重复上传"
        )
    values = {
        "data": data,
        "data_digest": digest(data),
        "vali_end_time": ends,
        "rx_trace_code": _serial_code(call, "rx_trace_code"),
        "checked_at": call.now,
        # A new pre-check replaces the content: an earlier signature no longer applies.
        "rx_file_digest": "",
        "sign_digest": "",
        "sign_cert_sn": "",
        "signed_at": None,
    }
    if rx is not None:
        for name, value in values.items():
            setattr(rx, name, value)
        rx.save()
    else:
        try:
            with transaction.atomic():
                rx = SimRx.objects.create(
                    hi_rxno=_serial_code(call, "hi_rxno"),
                    fixmedins_code=call.fixmedins_code,
                    hosp_rxno=hosp_rxno,
                    status=SimRxStatus.CHECKED,
                    **values,
                )
        except IntegrityError:
            raise Refusal(CODE_STATE, f"院内处方号[{hosp_rxno}]正在预核验，请勿重复提交") from None
    return {"rxTraceCode": rx.rx_trace_code, "hiRxno": rx.hi_rxno}


def _sign(call: Call, data: dict[str, Any]) -> Output:
    refuse_missing(missing(data, {"originalValue": "原始待签名处方信息"}))
    try:
        prescription = json.loads(base64.b64decode(str(data["originalValue"]), validate=True))
    except (binascii.Error, ValueError):
        prescription = None
    if not isinstance(prescription, dict):
        raise Refusal(CODE_INVALID, "原始待签名处方信息应为处方 JSON 的 base64 编码")
    if prescription.get("fixmedinsCode") != call.fixmedins_code:
        raise Refusal(CODE_INVALID, "待签名处方的定点医疗机构编号与请求机构不符")
    rx = (
        SimRx.objects.select_for_update()
        .filter(fixmedins_code=call.fixmedins_code, hosp_rxno=str(prescription.get("hospRxno")))
        .first()
    )
    if rx is None:
        raise Refusal(CODE_NOT_FOUND, "未找到该处方的预核验记录，请先调用上传预核验（uploadChk）")
    if rx.status != SimRxStatus.CHECKED:
        raise Refusal(CODE_STATE, f"处方已上传（医保处方编号{rx.hi_rxno}），不能重复签名")
    if digest(prescription) != rx.data_digest:
        raise Refusal(CODE_INVALID, "待签名处方与预核验处方不一致，请重新预核验")
    original_file = data.get("originalRxFile")
    rx_file = (
        str(original_file)
        if original_file
        else base64.b64encode(canonical_json(prescription).encode()).decode()
    )
    private, public = _centre_key()
    rx.sign_digest = Sm2Signer(private, public).sign({"hiRxno": rx.hi_rxno, "rxFile": rx_file})
    rx.sign_cert_sn = rxcentre_cert_sn()
    rx.rx_file_digest = hashlib.sha256(rx_file.encode()).hexdigest()
    rx.signed_at = call.now
    rx.save(update_fields=["sign_digest", "sign_cert_sn", "rx_file_digest", "signed_at"])
    return {"rxFile": rx_file, "signDigest": rx.sign_digest, "signCertSn": rx.sign_cert_sn}


def _upload(call: Call, data: dict[str, Any]) -> Output:
    refuse_missing(
        missing(
            data,
            {"rxTraceCode": "处方追溯码", "rxFile": "处方原件", "signDigest": "签名值"},
        )
    )
    rx = (
        SimRx.objects.select_for_update()
        .filter(fixmedins_code=call.fixmedins_code, rx_trace_code=str(data["rxTraceCode"]))
        .first()
    )
    if rx is None:
        raise Refusal(
            CODE_NOT_FOUND, "未找到处方追溯码对应的预核验记录，请先调用上传预核验（uploadChk）"
        )
    if data.get("hiRxno") and data["hiRxno"] != rx.hi_rxno:
        raise Refusal(CODE_INVALID, "医保处方编号与处方追溯码不符")
    if rx.status != SimRxStatus.CHECKED:
        raise Refusal(CODE_STATE, f"处方已上传（医保处方编号{rx.hi_rxno}），不能重复上传")
    if not rx.sign_digest:
        raise Refusal(CODE_STATE, "处方尚未进行医保电子签名（rxFixmedinsSign），不能上传")
    file_digest = hashlib.sha256(str(data["rxFile"]).encode()).hexdigest()
    if file_digest != rx.rx_file_digest or data["signDigest"] != rx.sign_digest:
        raise Refusal(CODE_SECURITY, "处方原件或签名值与医保电子签名结果不符")
    if call.now > rx.vali_end_time:
        raise Refusal(CODE_STATE, "处方已过有效截止时间，不能上传")
    rx.status = SimRxStatus.VALID
    rx.uploaded_at = call.now
    rx.upload_data = {k: v for k, v in data.items() if k not in ("rxFile", "signDigest")}
    rx.save(update_fields=["status", "uploaded_at", "upload_data"])
    return {"hiRxno": rx.hi_rxno, **_status_fields(rx)}


def _undo(call: Call, data: dict[str, Any]) -> Output:
    refuse_missing(missing(data, {"undoRea": "撤销原因"}))
    rx = _uploaded(call, data.get("hiRxno"), own=True)
    if rx.status == SimRxStatus.CANCELLED:
        raise Refusal(CODE_STATE, "处方已撤销，不能重复撤销")
    _refuse_unless_valid(rx, "撤销")
    rx.status = SimRxStatus.CANCELLED
    rx.cancelled_at = call.now
    rx.cancel_reason = str(data["undoRea"])[:500]
    rx.save(update_fields=["status", "cancelled_at", "cancel_reason"])
    return {"hiRxno": rx.hi_rxno, **_status_fields(rx)}


def _detail_query(call: Call, data: dict[str, Any]) -> Output:
    rx = _uploaded(call, data.get("hiRxno"), own=True)
    rx_data = rx.data
    summary = {
        name: rx_data.get(name, "")
        for name in (
            "hospRxno",
            "rxTypeCode",
            "prscTime",
            "rxDrugCnt",
            "valiDays",
            "valiEndTime",
            "longRxFlag",
            "bizTypeCode",
            "rxExraAttrCode",
        )
    }
    return {
        "hiRxno": rx.hi_rxno,
        "fixmedinsCode": rx.fixmedins_code,
        "fixmedinsName": call.institution.name,
        **_status_fields(rx),
        **summary,
        "rxDetlList": rx_data.get("rxdrugdetail", []),
        "rxOtpinfo": rx_data.get("mdtrtinfo", {}),
        "rxDiseList": rx_data.get("diseinfo", []),
    }


def _review_query(call: Call, data: dict[str, Any]) -> Output:
    rx = _uploaded(call, data.get("hiRxno"), own=True)
    review = rx.review or {}
    fields = _status_fields(rx)
    return {
        "hiRxno": rx.hi_rxno,
        "rxChkStasCodg": rx.review_status,
        "rxChkStasName": wire.REVIEW_STATUS[rx.review_status],
        "rxChkOpnn": review.get("rxChkOpnn", ""),
        "rxChkTime": review.get("rxChkTime", ""),
        "pharName": review.get("pharName", ""),
        "pharCode": review.get("pharCode", ""),
        "chkFixmedinsCode": rx.review_fixmedins_code,
        "rxStasCodg": fields["rxStasCodg"],
        "rxStasName": fields["rxStasName"],
    }


def _settlement_query(call: Call, data: dict[str, Any]) -> Output:
    rx = _uploaded(call, data.get("hiRxno"), own=True)
    return {
        "hiRxno": rx.hi_rxno,
        "setlTime": stamp(rx.dispensed_at, TIME_FORMAT) if rx.dispensed_at else "",
        "dispFixmedinsCode": rx.dispense_fixmedins_code,
        **_status_fields(rx),
        "seltdelts": rx.dispense_lines,
    }


def _quantities(rx: SimRx) -> dict[str, Decimal]:
    """Prescribed quantity per national drug code (medListCodg)."""
    totals: dict[str, Decimal] = {}
    for drug in rx.data.get("rxdrugdetail", []):
        code = str(drug["medListCodg"])
        totals[code] = totals.get(code, Decimal(0)) + Decimal(str(drug["drugCnt"]))
    return totals


def _stock_query(call: Call, data: dict[str, Any]) -> Output:

    refuse_missing(missing(data, {"dispFixmedinsCode": "取药定点医药机构编号"}))
    rx = _uploaded(call, data.get("hiRxno"), own=True)
    _refuse_unless_valid(rx, "查询库存")
    pharmacy = str(data["dispFixmedinsCode"])
    if not Institution.objects.filter(platform_code=pharmacy).exists():
        raise Refusal(CODE_INVALID, f"取药定点医药机构编号[{pharmacy}]未登记")
    accept = wire.STOCK_NONE
    if _stock_hook is not None:
        try:
            accept = str(_stock_hook(pharmacy, _quantities(rx)))
        except Exception as exc:  # the project's hook failed: the centre answers "busy"
            logger.warning("rxcentre stock hook failed: %s", type(exc).__name__)
            raise Refusal(CODE_BUSY, "库存查询暂不可用，请稍后重试") from None
        if accept not in wire.STOCK_ANSWERS:
            raise Refusal(CODE_BUSY, "库存查询结果无效")
    return {"hiRxno": rx.hi_rxno, "dispFixmedinsCode": pharmacy, "accept": accept}


# --- pharmacy services ----------------------------------------------------------------------------


def _review_upload(call: Call, data: dict[str, Any]) -> Output:
    """7204: the pharmacist's review; a later review by the same or another pharmacy replaces it."""
    refuse_missing(
        missing(
            data,
            {
                "pharName": "药师姓名",
                "pharPracCertNo": "药师执业资格证号",
                "rxChkStasCodg": "处方审核状态代码",
            },
        )
    )
    result = str(data["rxChkStasCodg"])
    if result not in (wire.REVIEW_APPROVED, wire.REVIEW_REJECTED):
        raise Refusal(CODE_INVALID, "处方审核状态代码应为1（通过）或2（不通过）")
    if result == wire.REVIEW_REJECTED and blank(data.get("rxChkOpnn")):
        raise Refusal(CODE_INVALID, "审核不通过时必须填写处方审核意见")
    rx = _uploaded(call, data.get("hiRxno"), own=False)
    _refuse_unless_valid(rx, "审核")
    rx.review_fixmedins_code = call.fixmedins_code
    rx.review_status = result
    rx.review = {
        name: data.get(name, "")
        for name in ("pharName", "pharPracCertNo", "pharCode", "rxChkOpnn", "rxChkTime")
    }
    rx.reviewed_at = call.now
    rx.save(update_fields=["review_fixmedins_code", "review_status", "review", "reviewed_at"])
    return {
        "hiRxno": rx.hi_rxno,
        "rxChkStasCodg": result,
        "rxChkStasName": wire.REVIEW_STATUS[result],
        "rxStasCodg": _status_fields(rx)["rxStasCodg"],
    }


def _dispense_upload(call: Call, data: dict[str, Any]) -> Output:
    """7206: what the pharmacy handed out, per batch, with the drugs' traceability codes."""
    lines = list_of_objects(data, "seltdelts", "取药明细")
    absent: list[str] = []
    for i, line in enumerate(lines, start=1):
        absent += missing(line, LINE_REQUIRED, f"第{i}条取药明细")
    refuse_missing(absent)
    rx = _uploaded(call, data.get("hiRxno"), own=False)
    if rx.status == SimRxStatus.DISPENSED:
        raise Refusal(CODE_STATE, "处方已取药，不能重复取药")
    _refuse_unless_valid(rx, "取药")
    if rx.review_status != wire.REVIEW_APPROVED or rx.review_fixmedins_code != call.fixmedins_code:
        raise Refusal(CODE_STATE, "处方未经本机构药师审核通过（rxChkInfoUpld），不能取药")
    prescribed = _quantities(rx)
    drugs = {str(d["medListCodg"]): d for d in rx.data.get("rxdrugdetail", [])}
    handed: dict[str, Decimal] = {}
    seen_codes: set[str] = set()
    stored = []
    today = call.now.astimezone(SHANGHAI).date()
    for i, line in enumerate(lines, start=1):
        where = f"第{i}条取药明细"
        code = str(line["medListCodg"])
        if code not in prescribed:
            raise Refusal(CODE_INVALID, f"{where}药品[{code}]不在处方中")
        count = positive_decimal(line["cnt"], f"{where}数量")
        handed[code] = handed.get(code, Decimal(0)) + count
        try:
            expires = datetime.strptime(str(line["expyEnd"]), "%Y-%m-%d").date()  # noqa: DTZ007
        except ValueError:
            raise Refusal(CODE_INVALID, f"{where}有效期止格式应为 yyyy-MM-dd") from None
        if expires < today:
            raise Refusal(CODE_INVALID, f"{where}药品已过有效期")
        traces = trace_codes(line, where)
        for trace in traces:
            if trace["drug_trac_codg"] in seen_codes:
                raise Refusal(CODE_INVALID, f"{where}药品追溯码[{trace['drug_trac_codg']}]重复")
            seen_codes.add(trace["drug_trac_codg"])
        drug = drugs[code]
        stored.append(
            {
                "medListCodg": code,
                "drugGenname": drug.get("drugGenname", ""),
                "drugProdname": line.get("drugProdname") or drug.get("drugProdname", ""),
                "drugDosform": drug.get("drugDosform", ""),
                "drugSpec": drug.get("drugSpec", ""),
                "cnt": format(count, "f"),
                "aprvno": str(line.get("aprvno", "")),
                "bchno": str(line["bchno"]),
                "manuLotnum": str(line["manuLotnum"]),
                "expyEnd": expires.isoformat(),
                "prdrName": str(line.get("prdrName") or drug.get("prdrName", "")),
                "takeDrugFlag": "1",
                "drugtracinfo": traces,
            }
        )
    for code, count in handed.items():
        if count > prescribed[code]:
            raise Refusal(CODE_INVALID, f"药品[{code}]取药数量超过处方数量")
    rx.status = SimRxStatus.DISPENSED
    rx.dispense_fixmedins_code = call.fixmedins_code
    rx.dispense_lines = stored
    rx.dispensed_at = call.now
    rx.save(update_fields=["status", "dispense_fixmedins_code", "dispense_lines", "dispensed_at"])
    fields = _status_fields(rx)
    return {
        "hiRxno": rx.hi_rxno,
        "setlTime": stamp(call.now, TIME_FORMAT),
        "rxUsedStasCodg": fields["rxUsedStasCodg"],
        "rxUsedStasName": fields["rxUsedStasName"],
    }


HANDLERS: dict[str, Callable[[Call, dict[str, Any]], Output]] = {
    wire.UPLOAD_CHECK: _upload_check,
    wire.SIGN: _sign,
    wire.UPLOAD: _upload,
    wire.UNDO: _undo,
    wire.DETAIL_QUERY: _detail_query,
    wire.REVIEW_QUERY: _review_query,
    wire.SETTLEMENT_QUERY: _settlement_query,
    wire.STOCK_QUERY: _stock_query,
    wire.REVIEW_UPLOAD: _review_upload,
    wire.DISPENSE_UPLOAD: _dispense_upload,
}
