"""The national-platform client: envelope, sign-in, signature, transport, call log, idempotency.

``PlatformClient(institution, operator).call(infno, input, key=...)`` returns the ``output`` of
a successful answer or raises ``PlatformError``. A call with an idempotency key that already
succeeded returns the stored answer without calling again. Every call is one ``PlatformCall``
row; log lines carry infno, msgid and infcode only (never the request or personal data).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core.canonical import digest

from ..models import PlatformCall, PlatformSession
from .crypto import Signer, Sm2Signer, Sm4Cipher
from .envelope import Operator, build_envelope, next_msgid, validate_fixmedins_code
from .errors import PlatformError, TransportError, is_transient
from .transport import Transport, default_transport

logger = logging.getLogger("dualchannel.integration.nhsa")

SIGN_IN = "9001"
SIGN_OUT = "9002"


def default_signer() -> Signer:
    private = getattr(settings, "NHSA_SM2_PRIVATE_KEY", "")
    public = getattr(settings, "NHSA_SM2_PUBLIC_KEY", "")
    if private and public and settings.NHSA_SIGNTYPE == "SM2":
        return Sm2Signer(private, public)
    return Signer()


def default_cipher() -> Sm4Cipher | None:
    if not settings.NHSA_ENCRYPT:
        return None
    key = getattr(settings, "NHSA_SM4_KEY", "")
    if not key:
        raise ImproperlyConfigured("NHSA_ENCRYPT is on but NHSA_SM4_KEY is not set")
    return Sm4Cipher(key)


class PlatformClient:
    """Calls of one institution and one operator to the national platform."""

    def __init__(
        self,
        institution: Any,
        operator: Operator | Any = None,
        *,
        transport: Transport | None = None,
        signer: Signer | None = None,
        cipher: Sm4Cipher | None = None,
        recer_sys_code: str | None = None,
        dev_no: str = "",
        dev_safe_info: str = "",
    ) -> None:
        validate_fixmedins_code(institution.platform_code)
        self.institution = institution
        self.operator = operator if isinstance(operator, Operator) else Operator.of(operator)
        self.transport = transport or default_transport()
        self.signer = signer or default_signer()
        self.cipher = cipher if cipher is not None else default_cipher()
        self.recer_sys_code = (
            settings.NHSA_RECEIVER_SYSTEM_CODE if recer_sys_code is None else recer_sys_code
        )
        self.dev_no = dev_no
        self.dev_safe_info = dev_safe_info

    # --- public ----------------------------------------------------------------------------

    def call(
        self,
        infno: str,
        input: dict[str, Any],
        *,
        key: str | None = None,
        insuplc_admdvs: str = "",
    ) -> dict[str, Any]:
        """Send one transaction; re-sign once (9001) if the platform rejects the session."""
        if key:
            stored = self.stored_answer(infno, key)
            if stored is not None:
                return stored
        sign_no = self.sign_no()
        try:
            return self._send(infno, input, sign_no=sign_no, key=key, insuplc=insuplc_admdvs)
        except PlatformError as exc:
            if not exc.is_session_error:
                raise
        self._invalidate(sign_no)
        sign_no = self.sign_in()
        return self._send(infno, input, sign_no=sign_no, key=key, insuplc=insuplc_admdvs)

    def stored_answer(self, infno: str, key: str) -> dict[str, Any] | None:

        found = (
            PlatformCall.objects.filter(
                institution=self.institution, infno=infno, idempotency_key=key, infcode="0"
            )
            .only("response")
            .first()
        )
        if found is None:
            return None
        return (found.response or {}).get("output") or {}

    def sign_no(self) -> str:
        """The live session of this institution and operator, signing in when there is none."""

        live = PlatformSession.objects.filter(
            institution=self.institution, opter=self.operator.code, invalidated_at__isnull=True
        ).first()
        return live.sign_no if live is not None else self.sign_in()

    def sign_in(self) -> str:
        """9001: a new sign_no, kept for this institution and operator."""

        output = self._send(
            SIGN_IN,
            {
                "signIn": {
                    "opter_no": self.operator.code,
                    "mac": getattr(settings, "NHSA_DEVICE_MAC", ""),
                    "ip": getattr(settings, "NHSA_DEVICE_IP", ""),
                }
            },
            sign_no="",
            key=None,
            insuplc="",
        )
        try:
            sign_no = output["signinoutb"]["sign_no"]
        except (KeyError, TypeError) as exc:
            raise PlatformError("-1", "签到应答缺少 sign_no", retryable=True) from exc
        try:
            with transaction.atomic():
                PlatformSession.objects.filter(
                    institution=self.institution,
                    opter=self.operator.code,
                    invalidated_at__isnull=True,
                ).update(invalidated_at=timezone.now())
                PlatformSession.objects.create(
                    institution=self.institution, opter=self.operator.code, sign_no=sign_no
                )
        except IntegrityError:
            pass  # another process signed in at the same moment; both sign_nos are valid
        return sign_no

    # --- internals -------------------------------------------------------------------------

    def _invalidate(self, sign_no: str) -> None:

        PlatformSession.objects.filter(
            institution=self.institution, sign_no=sign_no, invalidated_at__isnull=True
        ).update(invalidated_at=timezone.now())

    def _send(
        self,
        infno: str,
        input: dict[str, Any],
        *,
        sign_no: str,
        key: str | None,
        insuplc: str,
    ) -> dict[str, Any]:
        institution = self.institution
        cainfo = self.signer.sign(input)
        wire_input: dict[str, Any] | str = self.cipher.encrypt(input) if self.cipher else input
        envelope = build_envelope(
            infno=infno,
            msgid=next_msgid(institution.platform_code),
            fixmedins_code=institution.platform_code,
            fixmedins_name=institution.name,
            mdtrtarea_admvs=institution.region_id,
            insuplc_admdvs=insuplc,
            operator=self.operator,
            input=wire_input,
            sign_no=sign_no,
            recer_sys_code=self.recer_sys_code,
            dev_no=self.dev_no,
            dev_safe_info=self.dev_safe_info,
            cainfo=cainfo,
            signtype=self.signer.signtype,
        )
        started = time.monotonic()
        answer: dict[str, Any] | None = None
        try:
            answer = self.transport.send(envelope)
        except TransportError as exc:
            error = PlatformError("", str(exc), retryable=True)
        else:
            infcode = str(answer.get("infcode", ""))
            if infcode == "0":
                error = None
            else:
                err_msg = str(answer.get("err_msg") or "未知错误")
                error = PlatformError(infcode or "-1", err_msg, retryable=is_transient(err_msg))
        duration_ms = int((time.monotonic() - started) * 1000)
        stored = self._log(envelope, input, answer, error, key, duration_ms)
        if error is not None:
            raise error
        if stored is not None:
            return stored
        return (answer or {}).get("output") or {}

    def _log(
        self,
        envelope: dict[str, Any],
        plain_input: dict[str, Any],
        answer: dict[str, Any] | None,
        error: PlatformError | None,
        key: str | None,
        duration_ms: int,
    ) -> dict[str, Any] | None:
        """Record the call; returns the earlier answer if another process won the same key."""

        request = dict(envelope)
        if isinstance(envelope["input"], str):
            request["_plain_input"] = plain_input  # kept in the database only, for audit
        infcode = "0" if error is None else error.infcode
        row = PlatformCall(
            institution=self.institution,
            infno=envelope["infno"],
            msgid=envelope["msgid"],
            idempotency_key=key or "",
            request_digest=digest(envelope),
            request=request,
            response=answer,
            infcode=infcode,
            err_msg="" if error is None else error.err_msg,
            retryable=False if error is None else error.retryable,
            duration_ms=duration_ms,
        )
        logger.info(
            "nhsa call infno=%s msgid=%s infcode=%s duration_ms=%d",
            row.infno,
            row.msgid,
            infcode or "none",
            duration_ms,
        )
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            if error is None and key:
                return self.stored_answer(envelope["infno"], key)
            raise
        return None
