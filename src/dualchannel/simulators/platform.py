"""The platform side of the national-platform interface, for tests and the demo.

``handle(envelope)`` checks the envelope as the platform does, then answers 9001/9002 (session),
1101 (person info from the registry, then ``persons``; an e-voucher token, certificate type
01, first resolved to its holder: ``simulator_voucher_issue``), 2503/2504 (filing, cancel) and 5301
(query filings) in the real response format. State lives in the ``Sim…`` tables.
``simulator_fail_next`` makes the next calls fail (infcode -1 "busy", or no answer) so that
retries can be shown.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core.canonical import digest
from dualchannel.integration.in_process import NoAnswer
from dualchannel.integration.nhsa.crypto import Sm4Cipher, sm2_verify
from dualchannel.integration.nhsa.envelope import envelope_errors
from dualchannel.integration.nhsa.filing_fields import FILING_FIELDS, FILING_LABELS, FILING_REQUIRED
from dualchannel.registry.models import Institution, InsuredPerson

from .common import Refusal, next_serial, stamp
from .inventory import INVENTORY_HANDLERS
from .models import (
    FaultMode,
    SimFault,
    SimFiling,
    SimInstitutionKey,
    SimMessage,
    SimSession,
    SimVoucher,
)
from .persons import PlatformOnlyPerson, platform_only_person
from .settlement import SETTLEMENT_HANDLERS

logger = logging.getLogger("dualchannel.simulators")

SESSION_HOURS = 12
# How long an e-voucher token stays valid. The real token's lifetime is the platform's (the app's
# QR code refreshes about every minute); a few minutes here [uncertain].
VOUCHER_MINUTES = 5
BUSY_MESSAGE = "系统繁忙，请稍后重试（模拟故障）"
SESSION_MESSAGE = "签到编号无效或已过期，请重新签到（9001）"


class SimulatedTimeout(NoAnswer):
    """The fault switch asked for no answer at all (the transports report it as a timeout)."""


# --- switches for tests and the demo ----------------------------------------------------------


def simulator_fail_next(count: int, *, mode: str = FaultMode.ERROR, infno: str = "") -> SimFault:
    """Make the next ``count`` calls (of ``infno``, or any) fail in ``mode``."""
    if count < 0 or mode not in FaultMode.values:
        raise ValueError("count must be >= 0 and mode one of FaultMode")
    return SimFault.objects.create(mode=mode, infno=infno, remaining=count)


def simulator_clear_faults() -> None:
    SimFault.objects.all().delete()


def simulator_register_keys(
    fixmedins_code: str, *, sm2_public_key: str, sm4_key_hex: str = "", require_signature=True
) -> SimInstitutionKey:
    key, _ = SimInstitutionKey.objects.update_or_create(
        fixmedins_code=fixmedins_code,
        defaults={
            "sm2_public_key": sm2_public_key,
            "sm4_key_hex": sm4_key_hex,
            "require_signature": require_signature,
        },
    )
    return key


# --- the platform ------------------------------------------------------------------------------


def simulator_voucher_issue(id_number: str, *, minutes: int = VOUCHER_MINUTES) -> SimVoucher:
    """What the patient's insurance app does when it shows 我的医保电子凭证: a fresh token bound
    to the person with this ID number, valid for ``minutes`` (for tests and the demo)."""
    now = timezone.now()
    return SimVoucher.objects.create(
        token=f"EC{secrets.token_hex(16).upper()}",
        id_number=id_number.strip().upper(),
        issued_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )


def _consume_fault(infno: str) -> str | None:
    with transaction.atomic():
        fault = (
            SimFault.objects.select_for_update()
            .filter(remaining__gt=0)
            .filter(infno__in=["", infno])
            .order_by("id")
            .first()
        )
        if fault is None:
            return None
        fault.remaining -= 1
        fault.save(update_fields=["remaining"])
        return fault.mode


def handle(envelope: Any) -> dict[str, Any]:
    """Answer one envelope as the platform would. Raises ``SimulatedTimeout`` when told to."""
    received = timezone.now()
    infno = str(envelope.get("infno", "")) if isinstance(envelope, dict) else ""
    fault = _consume_fault(infno)
    if fault == FaultMode.TIMEOUT:
        logger.info("simulator timeout infno=%s", infno)
        raise SimulatedTimeout()
    admdvs = "000000"
    if isinstance(envelope, dict) and str(envelope.get("mdtrtarea_admvs", "")).isdigit():
        admdvs = str(envelope["mdtrtarea_admvs"])[:6].ljust(6, "0")
    if fault == FaultMode.ERROR:
        return _answer(admdvs, received, "-1", BUSY_MESSAGE)
    if not isinstance(envelope, dict):
        return _answer(admdvs, received, "-1", "报文格式错误：应为 JSON 对象")
    with transaction.atomic():
        return _handle(envelope, admdvs, received)


def _handle(envelope: dict[str, Any], admdvs: str, received: datetime) -> dict[str, Any]:

    errors = envelope_errors(envelope)
    if errors:
        detail = "；".join(f"{name}{'、'.join(msgs)}" for name, msgs in sorted(errors.items()))
        return _answer(admdvs, received, "-1", f"报文校验失败：{detail}")
    infno = envelope["infno"]
    handler = HANDLERS.get(infno)
    if handler is None:
        return _answer(admdvs, received, "-1", f"交易编号[{infno}]不存在或未开放")
    code = envelope["fixmedins_code"]
    if not Institution.objects.filter(platform_code=code).exists():
        return _answer(admdvs, received, "-1", f"定点医药机构编码[{code}]未登记")
    try:
        data = _open_input(envelope)
    except Refusal as refusal:
        return _answer(admdvs, received, "-1", refusal.err_msg)
    request_digest = digest({**envelope, "input": data})
    seen = SimMessage.objects.filter(msgid=envelope["msgid"]).first()
    if seen is not None:
        if seen.request_digest == request_digest:
            return seen.response  # the same message again: the same answer
        return _answer(admdvs, received, "-1", "报文ID重复")
    if infno != "9001" and not _session_ok(envelope):
        answer = _answer(admdvs, received, "-1", SESSION_MESSAGE)
    else:
        try:
            output, warn = handler(envelope, data)
        except Refusal as refusal:
            answer = _answer(admdvs, received, "-1", refusal.err_msg)
        else:
            answer = _answer(admdvs, received, "0", "", output=output, warn_msg=warn)
    SimMessage.objects.create(
        msgid=envelope["msgid"],
        infno=infno,
        fixmedins_code=code,
        request_digest=request_digest,
        response=answer,
    )
    return answer


def _answer(
    admdvs: str,
    received: datetime,
    infcode: str,
    err_msg: str,
    *,
    output: dict[str, Any] | None = None,
    warn_msg: str = "",
) -> dict[str, Any]:
    now = timezone.now()
    return {
        "infcode": infcode,
        "inf_refmsgid": f"{admdvs}{stamp(now, '%Y%m%d%H%M%S')}{next_serial('refmsgid'):010d}",
        "refmsg_time": stamp(received, "%Y%m%d%H%M%S%f"),
        "respond_time": stamp(now, "%Y%m%d%H%M%S%f"),
        "err_msg": err_msg,
        "warn_msg": warn_msg,
        "cainfo": "",
        "signtype": "",
        "output": output or {},
    }


def _open_input(envelope: dict[str, Any]) -> dict[str, Any]:
    """Decrypt ``input`` if it is ciphertext and check the signature where keys are registered."""
    keys = SimInstitutionKey.objects.filter(fixmedins_code=envelope["fixmedins_code"]).first()
    data = envelope["input"]
    if isinstance(data, str):
        if keys is None or not keys.sm4_key_hex:
            raise Refusal("交易输入为密文，但未登记加密密钥")
        try:
            data = Sm4Cipher(keys.sm4_key_hex).decrypt(data)
        except (ValueError, UnicodeDecodeError):
            raise Refusal("交易输入解密失败") from None
    if keys is not None and keys.require_signature:
        signed = envelope.get("signtype") == "SM2" and sm2_verify(
            keys.sm2_public_key, envelope.get("cainfo", ""), data
        )
        if not signed:
            raise Refusal("数字签名验证失败")
    return data


def _session_ok(envelope: dict[str, Any]) -> bool:
    if not envelope["sign_no"]:
        return False
    return SimSession.objects.filter(
        sign_no=envelope["sign_no"],
        fixmedins_code=envelope["fixmedins_code"],
        signed_out_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).exists()


# --- transactions -------------------------------------------------------------------------------

Output = tuple[dict[str, Any], str]


def _sign_in(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    now = timezone.now()
    sign_no = stamp(now, "%Y%m%d%H%M%S") + "".join(secrets.choice("0123456789") for _ in range(16))
    SimSession.objects.create(
        sign_no=sign_no,
        fixmedins_code=envelope["fixmedins_code"],
        opter=envelope["opter"],
        expires_at=now + timedelta(hours=SESSION_HOURS),
    )
    return {"signinoutb": {"sign_time": stamp(now, "%Y-%m-%d %H:%M:%S"), "sign_no": sign_no}}, ""


def _sign_out(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    now = timezone.now()
    SimSession.objects.filter(
        sign_no=envelope["sign_no"], fixmedins_code=envelope["fixmedins_code"]
    ).update(signed_out_at=now)
    return {"signoutoutb": {"sign_time": stamp(now, "%Y-%m-%d %H:%M:%S")}}, ""


def _data(data: dict[str, Any]) -> dict[str, Any]:
    node = data.get("data")
    if not isinstance(node, dict):
        raise Refusal("交易输入缺少 data 节点")
    return node


def _person_info(envelope: dict[str, Any], data: dict[str, Any]) -> Output:

    node = _data(data)
    cert_type = str(node.get("mdtrt_cert_type", ""))
    cert_no = str(node.get("mdtrt_cert_no", ""))
    if not cert_type and node.get("psn_cert_type") == "01":
        cert_type, cert_no = "02", str(node.get("certno", ""))
    if cert_type not in ("01", "02"):
        raise Refusal("就诊凭证类型仅支持01（医保电子凭证）或02（居民身份证）")
    if not cert_no:
        raise Refusal("就诊凭证编号不能为空")
    if cert_type == "01":
        cert_no = _voucher_holder(cert_no)
    person = InsuredPerson.objects.filter(id_number=cert_no.upper()).first()
    if person is None:
        known = platform_only_person(cert_no)
        if known is None:
            raise Refusal("未查询到该人员参保信息")
        return _platform_only_answer(known, node)
    _check_name(node, person.name)
    today = timezone.localdate()
    born = person.birth_date
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    base = {
        "psn_no": person.person_no,
        "psn_cert_type": "01",
        "certno": person.id_number,
        "psn_name": person.name,
        "gend": person.sex,
        "brdy": born.isoformat(),
        "age": age,
    }
    insu = {
        "insutype": person.insurance_type,
        "psn_type": "11" if person.insurance_type == "310" else "1601",
        "psn_insu_stas": {"normal": "1", "suspended": "2"}.get(person.benefit_status, "4"),
        "insuplc_admdvs": person.enrolment_region_id,
        "balc": "0.00",
        "paus_insu_date": "",
    }
    return {"baseinfo": base, "insuinfo": [insu], "idetinfo": []}, ""


def _voucher_holder(token: str) -> str:
    """The ID number an e-voucher token (01) stands for: an unknown token is refused, and so is
    one past its time (the patient refreshes the QR code in the app)."""
    voucher = SimVoucher.objects.filter(token=token.strip()).first()
    if voucher is None:
        raise Refusal("医保电子凭证无效（未查询到该电子凭证）")
    if voucher.expires_at <= timezone.now():
        raise Refusal("医保电子凭证已过期，请参保人刷新电子凭证二维码后重新出示")
    return voucher.id_number


def _check_name(node: dict[str, Any], name: str) -> None:
    """The platform checks a psn_name sent with the certificate number."""
    sent = str(node.get("psn_name", "")).strip()
    if sent and sent != name:
        raise Refusal("人员姓名与证件号码不匹配")


def _platform_only_answer(known: PlatformOnlyPerson, node: dict[str, Any]) -> Output:
    """A person the platform knows beyond the registry (``simulators.persons``)."""
    _check_name(node, known.name)
    today = timezone.localdate()
    born = known.birth
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    base = {
        "psn_no": known.psn_no,
        "psn_cert_type": "01",
        "certno": known.id_number,
        "psn_name": known.name,
        "gend": "1" if known.male else "2",
        "brdy": born.isoformat(),
        "age": age,
    }
    insu = {
        "insutype": known.insutype,
        "psn_type": "11" if known.insutype == "310" else "1601",
        "psn_insu_stas": known.psn_insu_stas,
        "paus_insu_date": known.paus_insu_date,
        "insuplc_admdvs": known.insuplc_admdvs,
        "balc": "0.00",
    }
    return {"baseinfo": base, "insuinfo": [insu], "idetinfo": []}, ""


def _parse_date(value: Any, label: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise Refusal(f"{label}格式应为 yyyy-MM-dd") from None


def _file(envelope: dict[str, Any], data: dict[str, Any]) -> Output:

    node = _data(data)
    missing = [FILING_LABELS[f] for f in FILING_REQUIRED if not str(node.get(f, "")).strip()]
    if missing:
        raise Refusal(f"必填字段为空：{'、'.join(missing)}")
    begin = _parse_date(node["begndate"], "开始日期")
    _parse_date(node["hosp_ide_date"], "医院鉴定日期")
    end = _parse_date(node["enddate"], "结束日期") if node.get("enddate") else None
    if end is not None and end < begin:
        raise Refusal("结束日期不能早于开始日期")
    if not envelope["insuplc_admdvs"]:
        raise Refusal("传入人员编号时参保地医保区划（insuplc_admdvs）必填")
    person = InsuredPerson.objects.filter(person_no=node["psn_no"]).first()
    if person is None:
        raise Refusal("人员编号不存在")
    if person.insurance_type != node["insutype"]:
        raise Refusal("险种类型与参保信息不符")
    if person.enrolment_region_id != envelope["insuplc_admdvs"]:
        raise Refusal("参保地医保区划与参保信息不符")
    if not Institution.objects.filter(platform_code=node["ide_fixmedins_no"]).exists():
        raise Refusal("鉴定定点医药机构编号未登记")
    key = {
        "fixmedins_code": envelope["fixmedins_code"],
        "psn_no": node["psn_no"],
        "opsp_dise_code": str(node["opsp_dise_code"]),
        "begndate": begin,
    }
    existing = SimFiling.objects.filter(cancelled_at__isnull=True, **key).first()
    if existing is not None:
        return _filing_output(existing), "该人员已存在相同备案，返回原备案流水号"
    today = stamp(timezone.now(), "%Y%m%d")
    sn = f"{envelope['mdtrtarea_admvs']}{today}{next_serial('filing'):010d}"
    try:
        with transaction.atomic():
            filing = SimFiling.objects.create(
                trt_dcla_detl_sn=sn,
                insutype=node["insutype"],
                opsp_dise_name=str(node["opsp_dise_name"])[:300],
                enddate=end,
                data={f: node.get(f, "") for f in FILING_FIELDS},
                **key,
            )
    except IntegrityError:
        existing = SimFiling.objects.get(cancelled_at__isnull=True, **key)
        return _filing_output(existing), "该人员已存在相同备案，返回原备案流水号"
    return _filing_output(filing), ""


def _filing_output(filing: SimFiling) -> dict[str, Any]:
    return {"result": {"trt_dcla_detl_sn": filing.trt_dcla_detl_sn}}


def _cancel(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    node = _data(data)
    sn = str(node.get("trt_dcla_detl_sn", ""))
    if not sn:
        raise Refusal("必填字段为空：待遇申报明细流水号")
    filing = (
        SimFiling.objects.select_for_update()
        .filter(trt_dcla_detl_sn=sn, fixmedins_code=envelope["fixmedins_code"])
        .first()
    )
    if filing is None or (node.get("psn_no") and node["psn_no"] != filing.psn_no):
        raise Refusal(f"未找到待遇申报明细流水号[{sn}]对应的备案")
    if filing.cancelled_at is not None:
        raise Refusal("该备案已撤销，不能重复撤销")
    filing.cancelled_at = timezone.now()
    filing.cancel_memo = str(node.get("memo", ""))[:500]
    filing.save(update_fields=["cancelled_at", "cancel_memo"])
    return {"result": {"trt_dcla_detl_sn": sn, "vali_flag": "0"}}, ""


def _query_filings(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    node = _data(data)
    psn_no = str(node.get("psn_no", ""))
    if not psn_no:
        raise Refusal("必填字段为空：人员编号")
    rows = SimFiling.objects.filter(psn_no=psn_no).order_by("filed_at", "id")
    detail = [
        {
            "trt_dcla_detl_sn": f.trt_dcla_detl_sn,
            "psn_no": f.psn_no,
            "insutype": f.insutype,
            "opsp_dise_code": f.opsp_dise_code,
            "opsp_dise_name": f.opsp_dise_name,
            "fixmedins_code": f.fixmedins_code,
            "begndate": f.begndate.isoformat(),
            "enddate": f.enddate.isoformat() if f.enddate else "",
            "vali_flag": "0" if f.cancelled_at else "1",
        }
        for f in rows
    ]
    return {"feedetail": detail}, ""


HANDLERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Output]] = {
    "9001": _sign_in,
    "9002": _sign_out,
    "1101": _person_info,
    "2503": _file,
    "2504": _cancel,
    "5301": _query_filings,
    **INVENTORY_HANDLERS,  # 3501–3507 (进销存)
    **SETTLEMENT_HANDLERS,  # 2101–2103, 2206–2208 (结算), 3201/3202 (对账)
}
