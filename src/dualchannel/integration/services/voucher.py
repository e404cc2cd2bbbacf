"""The national insurance e-voucher (医保电子凭证) read at a counter [national 1101].

The patient shows the voucher's QR code in the insurance app; the pharmacy's terminal reads it
and asks the platform who holds it: 1101 人员信息获取 with ``mdtrt_cert_type`` 01 and the
token as ``mdtrt_cert_no``. In the real scheme the terminal first decodes the QR code to an
``ecToken`` through the voucher SDK (the older 2021 interface names a pharmacy "QR decode" 7201
→ ``epc_token``); here the code scanned is the token itself [uncertain: the token's format and
lifetime are the platform's]. The platform is asked holding no transaction or lock
(docs/conventions.md, "network first, then lock"); nothing is written. A refusal carries a code
and a Chinese message; the log names the code only, never the token or the person.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from dualchannel.core.errors import DomainError
from dualchannel.core.locks import in_transaction
from dualchannel.core.models import User

from .. import error_codes as codes
from ..nhsa.client import PlatformClient
from ..nhsa.envelope import platform_connected
from ..nhsa.errors import PlatformError
from .person import PERSON_INFO, person_info_input

logger = logging.getLogger("dualchannel.integration")

# Lenient: letters, digits, '-' and '_' up to the field's 50 characters (mdtrt_cert_no).
VOUCHER_CODE = re.compile(r"^[A-Za-z0-9_-]{16,50}$")
ID_NUMBER_LIKE = re.compile(r"^\d{17}[\dXx]$")
USE_ID_CARD = "请改用居民身份证或社会保障卡核验身份"


@dataclass(frozen=True)
class VoucherHolder:
    """Who the platform says holds the voucher; ``digest`` names the token without keeping it."""

    id_number: str
    name: str
    person_no: str
    digest: str


def voucher_digest(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def e_voucher_resolve(*, actor: User, code: str) -> VoucherHolder:
    """Ask the platform (1101, certificate type 01) who holds the scanned e-voucher ``code``,
    through the actor's institution's platform connection."""
    if in_transaction():
        raise RuntimeError("the platform is asked outside any transaction (network first)")
    token = (code or "").strip()
    institution = actor.institution
    try:
        if institution is None or not platform_connected(institution):
            raise DomainError(
                codes.VOUCHER_UNAVAILABLE,
                f"本机构未接入医保信息平台，不能核验医保电子凭证，{USE_ID_CARD}",
            )
        if ID_NUMBER_LIKE.match(token):
            raise DomainError(
                codes.VOUCHER_INVALID,
                "医保电子凭证须扫描参保人出示的电子凭证二维码，不能录入身份证号；"
                "如凭身份证核验，请选择“居民身份证”",
            )
        if not VOUCHER_CODE.match(token):
            raise DomainError(
                codes.VOUCHER_INVALID,
                "医保电子凭证二维码内容无法识别，请参保人刷新电子凭证后重新扫码",
            )
        output = _ask(PlatformClient(institution, actor), token)
        return _holder(output, token)
    except DomainError as exc:
        logger.info("e-voucher refused code=%s institution=%s", exc.code, actor.institution_id)
        raise


def _ask(client: PlatformClient, token: str) -> dict[str, Any]:
    try:
        return client.call(PERSON_INFO, person_info_input("01", token))  # 医保电子凭证
    except PlatformError as exc:
        if not exc.infcode or exc.retryable:
            raise DomainError(
                codes.VOUCHER_UNAVAILABLE,
                f"医保信息平台暂时无法访问，无法核验医保电子凭证，{USE_ID_CARD}",
            ) from None
        # The platform's answer is free text: "过期" names an expired token [uncertain].
        code = codes.VOUCHER_EXPIRED if "过期" in exc.err_msg else codes.VOUCHER_INVALID
        raise DomainError(
            code,
            f"医保电子凭证核验未通过（平台答复：{exc.err_msg}），"
            f"请参保人刷新电子凭证后重新扫码，或{USE_ID_CARD}",
        ) from None


def _holder(output: dict[str, Any], token: str) -> VoucherHolder:
    base = output.get("baseinfo") if isinstance(output, dict) else None
    certno = str(base.get("certno") or "").strip().upper() if isinstance(base, dict) else ""
    if not certno:
        raise DomainError(codes.VOUCHER_INVALID, "医保信息平台未返回电子凭证持有人的身份信息")
    return VoucherHolder(
        id_number=certno,
        name=str(base.get("psn_name", "")).strip(),
        person_no=str(base.get("psn_no", "")).strip(),
        digest=voucher_digest(token),
    )
