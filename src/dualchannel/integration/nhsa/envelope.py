"""The request envelope of every national-platform call, and the msgid sequence.

Field names and lengths follow ``reference/nhsa-interface.md`` (envelope table). A field that
does not fit is refused here, before anything is sent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core.errors import DomainError

from .. import error_codes as codes
from ..models import PlatformMsgSequence
from .errors import PlatformError

SHANGHAI = ZoneInfo("Asia/Shanghai")
INFVER = "V1.0"
MAX_INPUT_LENGTH = 40000
MAX_SEQUENCE = 9999

# field -> maximum length (exact lengths are checked separately below)
MAX_LENGTHS = {
    "infno": 5,
    "msgid": 30,
    "mdtrtarea_admvs": 6,
    "insuplc_admdvs": 6,
    "recer_sys_code": 10,
    "dev_no": 100,
    "dev_safe_info": 2000,
    "cainfo": 1024,
    "signtype": 10,
    "infver": 6,
    "opter_type": 3,
    "opter": 30,
    "opter_name": 50,
    "inf_time": 19,
    "fixmedins_code": 12,
    "fixmedins_name": 200,
    "sign_no": 30,
}
FIELDS = (*MAX_LENGTHS, "input")
OPTER_TYPES = {"1": "经办人员", "2": "自助终端", "3": "移动终端"}
_INFNO = re.compile(r"^\d{4,5}$")
_ADMDVS = re.compile(r"^\d{6}$")
_MSGID = re.compile(r"^(?P<code>.{12})(?P<time>\d{14})(?P<seq>\d{4})$")


def shanghai_now() -> datetime:
    return timezone.now().astimezone(SHANGHAI)


def _invalid(fields: dict[str, list[str]]) -> DomainError:
    return DomainError(codes.INVALID_ENVELOPE, "医保平台报文字段不符合接口规范", fields=fields)


FIXMEDINS_CODE_LENGTH = 12


def validate_fixmedins_code(code: str) -> None:
    if len(code or "") != FIXMEDINS_CODE_LENGTH:
        raise _invalid({"fixmedins_code": ["定点机构编码应为12位"]})


def platform_connected(institution) -> bool:
    """Whether an institution can call the platform: it has its 12-character institution code."""
    return len(institution.platform_code or "") == FIXMEDINS_CODE_LENGTH


@dataclass(frozen=True)
class Operator:
    """Who makes the call: ``opter_type`` 1 staff, 2 self-service terminal, 3 mobile."""

    code: str
    name: str
    type: str = "1"

    @classmethod
    def of(cls, user: Any) -> Operator:
        """The operator of a logged-in user (the system itself when ``user`` is None)."""
        if user is None:
            return cls(code="SYSTEM", name="系统自动")
        name = getattr(user, "display_name", "") or user.get_username()
        return cls(code=f"U{user.pk}", name=name[:50])


def next_msgid(fixmedins_code: str, *, now: datetime | None = None) -> str:
    """fixmedins_code(12) + yyyyMMddHHmmss(14, Asia/Shanghai) + a 4-digit per-second sequence.

    The sequence lives in one locked row per institution, so it is unique across processes.
    """
    validate_fixmedins_code(fixmedins_code)
    second = (now or shanghai_now()).astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
    with transaction.atomic():
        row = _locked_sequence(fixmedins_code)
        if row.second > second:
            # The clock of another process ran ahead: keep counting in that second's space so
            # that no msgid can repeat (msgids stay unique, the time part stays plausible).
            second = row.second
        value = row.value + 1 if row.second == second else 1
        if value > MAX_SEQUENCE:
            raise PlatformError("", "本秒报文序号已用尽，请稍后重试", retryable=True)
        row.second = second
        row.value = value
        row.save(update_fields=["second", "value"])
    return f"{fixmedins_code}{second}{value:04d}"


def _locked_sequence(fixmedins_code: str):

    row = PlatformMsgSequence.objects.select_for_update().filter(fixmedins_code=fixmedins_code)
    found = row.first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            PlatformMsgSequence.objects.create(fixmedins_code=fixmedins_code)
    except IntegrityError:
        pass  # another process created it first
    return row.get()


def parse_msgid(msgid: str) -> tuple[str, str, int] | None:
    found = _MSGID.match(msgid or "")
    if not found:
        return None
    return found["code"], found["time"], int(found["seq"])


def build_envelope(
    *,
    infno: str,
    msgid: str,
    fixmedins_code: str,
    fixmedins_name: str,
    mdtrtarea_admvs: str,
    operator: Operator,
    input: dict[str, Any] | str,
    sign_no: str = "",
    insuplc_admdvs: str = "",
    recer_sys_code: str = "",
    dev_no: str = "",
    dev_safe_info: str = "",
    cainfo: str = "",
    signtype: str = "",
    inf_time: datetime | None = None,
) -> dict[str, Any]:
    """Every field of the reference table, checked; ``input`` is a dict or an SM4 ciphertext."""
    envelope: dict[str, Any] = {
        "infno": infno,
        "msgid": msgid,
        "mdtrtarea_admvs": mdtrtarea_admvs,
        "insuplc_admdvs": insuplc_admdvs,
        "recer_sys_code": recer_sys_code,
        "dev_no": dev_no,
        "dev_safe_info": dev_safe_info,
        "cainfo": cainfo,
        "signtype": signtype,
        "infver": INFVER,
        "opter_type": operator.type,
        "opter": operator.code,
        "opter_name": operator.name,
        "inf_time": (inf_time or shanghai_now()).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "fixmedins_code": fixmedins_code,
        "fixmedins_name": fixmedins_name,
        "sign_no": sign_no,
        "input": input,
    }
    errors = envelope_errors(envelope)
    if errors:
        raise _invalid(errors)
    return envelope


def envelope_errors(envelope: dict[str, Any]) -> dict[str, list[str]]:
    """What is wrong with an envelope (empty when it is valid); shared with the simulator."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name in FIELDS:
        if name not in envelope:
            add(name, "缺少字段")
    for name, limit in MAX_LENGTHS.items():
        value = envelope.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            add(name, "应为字符串")
        elif len(value) > limit:
            add(name, f"长度不能超过{limit}")
    if errors:
        return errors
    if not _INFNO.match(envelope["infno"]):
        add("infno", "交易编号应为4位数字")
    if len(envelope["fixmedins_code"]) != 12:
        add("fixmedins_code", "定点机构编码应为12位")
    parsed = parse_msgid(envelope["msgid"])
    if parsed is None:
        add("msgid", "报文ID应为30位：机构编码12位+时间14位+序号4位")
    elif parsed[0] != envelope["fixmedins_code"]:
        add("msgid", "报文ID前12位应为定点机构编码")
    else:
        try:
            datetime.strptime(parsed[1], "%Y%m%d%H%M%S")  # noqa: DTZ007 (format check only)
        except ValueError:
            add("msgid", "报文ID时间部分无效")
    if not _ADMDVS.match(envelope["mdtrtarea_admvs"]):
        add("mdtrtarea_admvs", "就医地医保区划应为6位数字")
    if envelope["insuplc_admdvs"] and not _ADMDVS.match(envelope["insuplc_admdvs"]):
        add("insuplc_admdvs", "参保地医保区划应为6位数字")
    if envelope["infver"] != INFVER:
        add("infver", f"接口版本应为{INFVER}")
    if envelope["opter_type"] not in OPTER_TYPES:
        add("opter_type", "经办人类别应为1、2或3")
    if not envelope["opter"]:
        add("opter", "缺少经办人")
    try:
        datetime.strptime(envelope["inf_time"], "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        add("inf_time", "交易时间格式应为 yyyy-MM-dd HH:mm:ss")
    payload = envelope["input"]
    if isinstance(payload, dict):
        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
    elif isinstance(payload, str):
        size = len(payload)
    else:
        size = 0
        add("input", "交易输入应为对象或密文字符串")
    if size > MAX_INPUT_LENGTH:
        add("input", f"交易输入不能超过{MAX_INPUT_LENGTH}个字符")
    return errors
