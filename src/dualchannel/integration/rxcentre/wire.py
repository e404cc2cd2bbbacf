"""The request and answer of every e-prescription-centre call (医保电子处方中心).

Provincial e-prescription centres share one convention, seen in public vendor code of several
provinces: JSON POST to ``<RX_CENTRE_URL>/<api>`` (``api`` the camelCase name of the service,
e.g. ``uploadChk``) with the body

    {"appId": "...",                 # the app registered with the centre
     "encType": "SM4" | "plain",     # "SM4": ``data`` is the hex of its SM4-ECB ciphertext
     "signType": "SM2",
     "timestamp": "1767225600000",   # milliseconds since the epoch, as a string
     "version": "1.0.0",
     "data": {...} | "<hex>",        # the business fields, camelCase
     "signData": "..."}              # SM3withSM2 over the canonical JSON of the plain data

and the answer ``{"code": 0 | non-zero, "message": "...", "data": {...}}``; when the request was
encrypted, the answer's ``data`` is encrypted with the same key. ``signData`` is empty when no
SM2 key is configured (the simulator accepts that unless keys are registered for the app).

[uncertain] Some centres sign the envelope fields plus the ciphertext instead of the plain data,
and derive the SM4 key from appId and app secret; both are one function here (``signed_data``
and ``nhsa.crypto.Sm4Cipher``). The numeric answer codes below are this project's convention
for the simulator; a real centre's non-zero codes are kept verbatim in ``RxCentreError``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from dualchannel.core.canonical import canonical_json

VERSION = "1.0.0"
ENC_SM4 = "SM4"
ENC_PLAIN = "plain"
SIGN_SM2 = "SM2"
MAX_APP_ID = 64
MAX_SIGN_DATA = 1024
MAX_DATA_LENGTH = 200_000  # a prescription with its file fits easily
TIMESTAMP_SKEW_MS = 10 * 60 * 1000

# --- the services (api names) -----------------------------------------------------------------

# Hospital side, in the order of the flow (reference: nhsa-interface.md, e-prescription centre).
UPLOAD_CHECK = "uploadChk"  # 上传预核验 → rxTraceCode, hiRxno
SIGN = "rxFixmedinsSign"  # 医保电子签名 → rxFile, signDigest, signCertSn
UPLOAD = "rxFileUpld"  # 处方上传 → hiRxno, rxStasCodg
UNDO = "rxUndo"  # 处方撤销
DETAIL_QUERY = "hospRxDetlQuery"  # 处方信息查询
REVIEW_QUERY = "rxChkInfoQuery"  # 药师审核结果查询
SETTLEMENT_QUERY = "rxSetlInfoQuery"  # 取药（结算）结果查询
STOCK_QUERY = "rxSetlStockQuery"  # 取药机构库存查询 → accept 1 / 0 / -1
# Pharmacy side. The current centres publish no camelCase names for these two steps in the
# material we have; the older numbered flow calls them 7204 (pharmacist review upload) and 7206
# (dispense/sale upload). We name each after the hospital query that reads its result back
# (rxChkInfoQuery ← rxChkInfoUpld, rxSetlInfoQuery ← rxSetlInfoUpld), with the "Upld" suffix of
# rxFileUpld; ``LEGACY_CODES`` keeps the numbered code for a centre still routing by it.
REVIEW_UPLOAD = "rxChkInfoUpld"  # 药师审核结果上传（7204）
DISPENSE_UPLOAD = "rxSetlInfoUpld"  # 取药/销售结果上传（7206）

HOSPITAL_APIS = (
    UPLOAD_CHECK,
    SIGN,
    UPLOAD,
    UNDO,
    DETAIL_QUERY,
    REVIEW_QUERY,
    SETTLEMENT_QUERY,
    STOCK_QUERY,
)
PHARMACY_APIS = (REVIEW_UPLOAD, DISPENSE_UPLOAD)
LEGACY_CODES = {
    UPLOAD: "7101",
    REVIEW_QUERY: "7102",
    SETTLEMENT_QUERY: "7103",
    UNDO: "7104",
    REVIEW_UPLOAD: "7204",
    DISPENSE_UPLOAD: "7206",
}

# --- answer codes -----------------------------------------------------------------------------

CODE_OK = 0
CODE_BUSY = -1  # the centre is busy or a dependency failed: the same call may succeed later
CODE_BAD_REQUEST = 1001  # body not JSON, a missing/invalid envelope field, unknown api
CODE_SECURITY = 1002  # decryption or signature check failed
CODE_UNKNOWN_INSTITUTION = 1003  # fixmedinsCode not registered with the centre
CODE_INVALID = 2001  # a business field missing or invalid
CODE_NOT_FOUND = 2002  # no such prescription (or not the caller's)
CODE_STATE = 2003  # not allowed in the prescription's current state (duplicate, cancelled…)
CODE_MESSAGES = {
    CODE_OK: "成功",
    CODE_BUSY: "系统繁忙",
    CODE_BAD_REQUEST: "请求报文格式错误",
    CODE_SECURITY: "报文解密或验签失败",
    CODE_UNKNOWN_INSTITUTION: "定点医药机构未登记",
    CODE_INVALID: "业务字段校验失败",
    CODE_NOT_FOUND: "处方不存在",
    CODE_STATE: "处方当前状态不允许此操作",
}
# Only these codes (or a message that says "busy", see ``nhsa.errors.is_transient``) are worth
# retrying with the same data; every other refusal needs a change first.
RETRYABLE_CODES = frozenset({CODE_BUSY})

# --- code lists (reference: prescription status 1 valid, 2 expired, 3 cancelled, 4 void) -------

RX_STATUS = {"1": "有效", "2": "已失效", "3": "已撤销", "4": "已作废"}
# [uncertain] rx_used_stas_codg values are not in the material we have: 0 unused, 1 dispensed.
RX_USED_STATUS = {"0": "未取药", "1": "已取药"}
# [uncertain] rx_chk_stas_codg: 0 not yet reviewed, 1 approved, 2 rejected.
REVIEW_STATUS = {"0": "未审核", "1": "审核通过", "2": "审核不通过"}
REVIEW_APPROVED = "1"
REVIEW_REJECTED = "2"
STOCK_ALL = "1"
STOCK_PARTLY = "0"
STOCK_NONE = "-1"
STOCK_ANSWERS = {STOCK_ALL: "库存充足", STOCK_PARTLY: "部分有库存", STOCK_NONE: "无库存"}


def timestamp_ms(now: float | None = None) -> str:
    return str(int((time.time() if now is None else now) * 1000))


def plain_json(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as plain JSON types (Decimal and dates as strings), as it travels."""
    return json.loads(canonical_json(data))


def signed_data(data: dict[str, Any]) -> dict[str, Any]:
    """What ``signData`` covers: the plain data (its canonical JSON, see ``nhsa.crypto``)."""
    return data


def build_request(
    *,
    app_id: str,
    data: dict[str, Any] | str,
    sign_data: str,
    encrypted: bool,
    version: str = VERSION,
    timestamp: str | None = None,
) -> dict[str, Any]:
    return {
        "appId": app_id,
        "encType": ENC_SM4 if encrypted else ENC_PLAIN,
        "signType": SIGN_SM2,
        "timestamp": timestamp or timestamp_ms(),
        "version": version,
        "data": data,
        "signData": sign_data,
    }


def request_errors(request: Any, *, now_ms: int | None = None) -> dict[str, str]:
    """What is wrong with a request body (empty when valid); used by the simulator."""
    if not isinstance(request, dict):
        return {"body": "请求报文应为 JSON 对象"}
    errors: dict[str, str] = {}
    app_id = request.get("appId")
    if not isinstance(app_id, str) or not app_id.strip():
        errors["appId"] = "缺少应用ID"
    elif len(app_id) > MAX_APP_ID:
        errors["appId"] = f"长度不能超过{MAX_APP_ID}"
    enc = request.get("encType")
    if enc not in (ENC_SM4, ENC_PLAIN):
        errors["encType"] = "加密类型应为 SM4 或 plain"
    if request.get("signType") != SIGN_SM2:
        errors["signType"] = "签名类型应为 SM2"
    stamp = str(request.get("timestamp", ""))
    if not stamp.isdigit():
        errors["timestamp"] = "时间戳应为毫秒数"
    else:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if abs(now - int(stamp)) > TIMESTAMP_SKEW_MS:
            errors["timestamp"] = "时间戳与服务器时间相差超过10分钟"
    if not isinstance(request.get("version"), str) or not request["version"]:
        errors["version"] = "缺少版本号"
    sign = request.get("signData", "")
    if not isinstance(sign, str) or len(sign) > MAX_SIGN_DATA:
        errors["signData"] = "签名值应为不超过1024个字符的字符串"
    data = request.get("data")
    if enc == ENC_SM4 and not isinstance(data, str):
        errors["data"] = "加密类型为 SM4 时业务数据应为密文字符串"
    elif enc == ENC_PLAIN and not isinstance(data, dict):
        errors["data"] = "业务数据应为 JSON 对象"
    elif isinstance(data, str | dict):
        size = len(data) if isinstance(data, str) else len(canonical_json(data))
        if size > MAX_DATA_LENGTH:
            errors["data"] = f"业务数据不能超过{MAX_DATA_LENGTH}个字符"
    return errors
