"""The e-prescription-centre client: request, signature, encryption, call log, idempotency.

``RxCentreClient(institution, operator)`` has one method per service of the centre (hospital
side in the order of the flow, then the pharmacy side); each returns the plain answer ``data``
(shaped where the reference names its fields) or raises ``RxCentreError``. A call with an
idempotency key that already succeeded returns the stored answer without calling again. Every
call is one ``RxCentreCall`` row; log lines carry the api and answer code only (never the
request, prescription or personal data). The wire format is described in ``wire``.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from dualchannel.core.canonical import canonical_json, digest

from ..models import RxCentreCall
from ..nhsa.crypto import Signer, Sm2Signer, Sm4Cipher
from ..nhsa.envelope import Operator, shanghai_now, validate_fixmedins_code
from . import wire
from .errors import RxCentreError, TransportError, is_retryable
from .transport import Transport, default_transport

logger = logging.getLogger("dualchannel.integration.rxcentre")


def default_signer() -> Signer:
    private = settings.RX_CENTRE_SM2_PRIVATE_KEY
    public = settings.RX_CENTRE_SM2_PUBLIC_KEY
    if private and public:
        return Sm2Signer(private, public)
    return Signer()


def default_cipher() -> Sm4Cipher | None:
    if not settings.RX_CENTRE_ENCRYPT:
        return None
    if not settings.RX_CENTRE_SM4_KEY:
        raise ImproperlyConfigured("RX_CENTRE_ENCRYPT is on but RX_CENTRE_SM4_KEY is not set")
    return Sm4Cipher(settings.RX_CENTRE_SM4_KEY)


def _required(answer: dict[str, Any], *names: str) -> dict[str, Any]:
    """The named fields of a successful answer; a missing one means a broken answer."""
    missing = [name for name in names if answer.get(name) in (None, "")]
    if missing:
        # The centre said "success" but the answer is unusable: repeating it will not help.
        raise RxCentreError(wire.CODE_OK, f"应答缺少字段 {'、'.join(missing)}", retryable=False)
    return {name: answer[name] for name in names}


class RxCentreClient:
    """Calls of one institution (hospital or pharmacy) and one operator to the centre."""

    def __init__(
        self,
        institution: Any,
        operator: Operator | Any = None,
        *,
        transport: Transport | None = None,
        signer: Signer | None = None,
        cipher: Sm4Cipher | None = None,
        app_id: str | None = None,
    ) -> None:
        validate_fixmedins_code(institution.platform_code)
        self.institution = institution
        self.operator = operator if isinstance(operator, Operator) else Operator.of(operator)
        self.transport = transport or default_transport()
        self.signer = signer or default_signer()
        self.cipher = cipher if cipher is not None else default_cipher()
        self.app_id = settings.RX_CENTRE_APP_ID if app_id is None else app_id

    # --- hospital side, in the order of the flow ------------------------------------------------

    def upload_check(self, payload: Mapping[str, Any], *, key: str | None = None) -> dict:
        """uploadChk: pre-check of the prescription → ``{"rxTraceCode", "hiRxno"}``."""
        answer = self.call(wire.UPLOAD_CHECK, self.prescription(payload), key=key)
        return _required(answer, "rxTraceCode", "hiRxno")

    def sign(
        self,
        payload: Mapping[str, Any],
        *,
        original_rx_file: str = "",
        key: str | None = None,
    ) -> dict:
        """rxFixmedinsSign: the centre's e-signature → ``{"rxFile", "signDigest", "signCertSn"}``.

        ``payload`` is the pre-checked prescription (sent as base64 of its canonical JSON);
        ``original_rx_file`` an optional base64 rendering (e.g. the PDF) to be signed instead.
        """
        original = canonical_json(self.prescription(payload)).encode()
        data = {
            "originalValue": base64.b64encode(original).decode(),
            "originalRxFile": original_rx_file,
        }
        answer = self.call(wire.SIGN, data, key=key)
        return _required(answer, "rxFile", "signDigest", "signCertSn")

    def upload(
        self,
        rx_trace_code: str,
        rx_file: str,
        sign_digest: str,
        *,
        hi_rxno: str = "",
        extra: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> dict:
        """rxFileUpld: the signed file → ``{"hiRxno", "rxStasCodg", "rxStasName"}``.

        ``extra`` carries the other upload fields (e.g. the reviewing pharmacist ``pharName``,
        ``pharPracCertNo``, ``pharChkTime``) as the centre names them.
        """
        data = {
            **(extra or {}),
            "rxTraceCode": rx_trace_code,
            "hiRxno": hi_rxno,
            "rxFile": rx_file,
            "signDigest": sign_digest,
        }
        answer = self.call(wire.UPLOAD, data, key=key)
        return _required(answer, "hiRxno", "rxStasCodg", "rxStasName")

    def undo(self, hi_rxno: str, reason: str, *, key: str | None = None) -> dict:
        """rxUndo: cancel an uploaded prescription → ``{"hiRxno", "rxStasCodg", "rxStasName"}``."""
        data = {
            "hiRxno": hi_rxno,
            "undoRea": reason,
            "drCode": self.operator.code,
            "undoDrName": self.operator.name,
            "undoTime": shanghai_now().strftime("%Y-%m-%d %H:%M:%S"),
        }
        answer = self.call(wire.UNDO, data, key=key)
        return _required(answer, "hiRxno", "rxStasCodg", "rxStasName")

    def detail(self, hi_rxno: str, *, key: str | None = None) -> dict:
        """hospRxDetlQuery: status (``rxStasCodg``, ``rxUsedStasCodg``) and the prescription."""
        answer = self.call(wire.DETAIL_QUERY, {"hiRxno": hi_rxno}, key=key)
        _required(answer, "hiRxno", "rxStasCodg")
        return answer

    def review_result(self, hi_rxno: str, *, key: str | None = None) -> dict:
        """rxChkInfoQuery: the pharmacist's review (``rxChkStasCodg`` 0 none, 1 pass, 2 reject)."""
        answer = self.call(wire.REVIEW_QUERY, {"hiRxno": hi_rxno}, key=key)
        _required(answer, "hiRxno", "rxChkStasCodg", "rxStasCodg")
        return answer

    def settlement_result(self, hi_rxno: str, *, key: str | None = None) -> dict:
        """rxSetlInfoQuery: dispensing result; ``seltdelts`` lines carry ``bchno`` (batch),
        ``manuLotnum`` (lot), ``aprvno`` (approval number) and ``prdrName`` (manufacturer)."""
        answer = self.call(wire.SETTLEMENT_QUERY, {"hiRxno": hi_rxno}, key=key)
        _required(answer, "hiRxno", "rxStasCodg", "rxUsedStasCodg")
        answer.setdefault("seltdelts", [])
        return answer

    def stock(self, hi_rxno: str, fixmedins_code: str, *, key: str | None = None) -> str:
        """rxSetlStockQuery at a pharmacy: "1" all in stock, "0" partly, "-1" none."""
        data = {"hiRxno": hi_rxno, "dispFixmedinsCode": fixmedins_code}
        answer = self.call(wire.STOCK_QUERY, data, key=key)
        accept = str(_required(answer, "accept")["accept"])
        if accept not in wire.STOCK_ANSWERS:
            raise RxCentreError(wire.CODE_OK, f"库存查询应答无效：{accept}", retryable=False)
        return accept

    # --- pharmacy side --------------------------------------------------------------------------

    def pharmacy_review_upload(
        self,
        hi_rxno: str,
        pharmacist_name: str,
        pharmacist_cert_no: str,
        result: str,
        opinion: str,
        *,
        key: str | None = None,
    ) -> dict:
        """rxChkInfoUpld (7204): the pharmacist's review, ``result`` "1" approved, "2" rejected.

        Returns ``{"hiRxno", "rxChkStasCodg", "rxStasCodg"}``.
        """
        data = {
            "hiRxno": hi_rxno,
            "pharName": pharmacist_name,
            "pharPracCertNo": pharmacist_cert_no,
            "pharCode": self.operator.code,
            "rxChkStasCodg": result,
            "rxChkOpnn": opinion,
            "rxChkTime": shanghai_now().strftime("%Y-%m-%d %H:%M:%S"),
        }
        answer = self.call(wire.REVIEW_UPLOAD, data, key=key)
        return _required(answer, "hiRxno", "rxChkStasCodg", "rxStasCodg")

    def pharmacy_dispense_upload(
        self, hi_rxno: str, lines: Iterable[Mapping[str, Any]], *, key: str | None = None
    ) -> dict:
        """rxSetlInfoUpld (7206): the dispensing → ``{"hiRxno", "setlTime", "rxUsedStasCodg"}``.

        Each line: ``medListCodg``, ``bchno`` (stock batch), ``manuLotnum`` (lot), ``expyEnd``
        (yyyy-MM-dd), ``cnt`` (Decimal or string), optional ``aprvno``, ``prdrName``, and
        ``drugtracinfo: [{"drug_trac_codg": ...}]``.
        """
        data = {
            "hiRxno": hi_rxno,
            "pharCode": self.operator.code,
            "pharName": self.operator.name,
            "seltdelts": [dict(line) for line in lines],
        }
        answer = self.call(wire.DISPENSE_UPLOAD, data, key=key)
        return _required(answer, "hiRxno", "setlTime", "rxUsedStasCodg")

    # --- any service ----------------------------------------------------------------------------

    def prescription(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The pre-check data as sent: the payload with this institution's code and name."""
        return {
            **payload,
            "fixmedinsCode": self.institution.platform_code,
            "fixmedinsName": self.institution.name,
        }

    def call(self, api: str, data: Mapping[str, Any], *, key: str | None = None) -> dict:
        """Send one request; returns the plain answer ``data`` or raises ``RxCentreError``."""
        if key:
            stored = self.stored_answer(api, key)
            if stored is not None:
                return stored
        plain = wire.plain_json({**data, "fixmedinsCode": self.institution.platform_code})
        sign_data = self.signer.sign(wire.signed_data(plain))
        request = wire.build_request(
            app_id=self.app_id,
            data=self.cipher.encrypt(plain) if self.cipher else plain,
            sign_data=sign_data,
            encrypted=self.cipher is not None,
            version=settings.RX_CENTRE_VERSION,
        )
        started = time.monotonic()
        answer: dict[str, Any] | None = None
        answer_data: dict[str, Any] = {}
        error: RxCentreError | None = None
        try:
            answer = self.transport.send(api, request)
        except TransportError as exc:
            error = RxCentreError(None, str(exc), retryable=True)
        else:
            answer_data, error = self._read(answer)
        duration_ms = int((time.monotonic() - started) * 1000)
        stored = self._log(api, request, plain, answer, answer_data, error, key, duration_ms)
        if error is not None:
            raise error
        return stored if stored is not None else answer_data

    def stored_answer(self, api: str, key: str) -> dict[str, Any] | None:

        found = (
            RxCentreCall.objects.filter(
                institution=self.institution, api=api, idempotency_key=key, code=wire.CODE_OK
            )
            .only("response")
            .first()
        )
        if found is None:
            return None
        response = found.response or {}
        plain = response.get("_plain_data", response.get("data"))
        return plain if isinstance(plain, dict) else {}

    # --- internals ------------------------------------------------------------------------------

    def _read(self, answer: dict[str, Any]) -> tuple[dict[str, Any], RxCentreError | None]:
        """The plain ``data`` of an answer and the error it carries, if any."""
        try:
            code = int(answer.get("code"))
        except (TypeError, ValueError):
            return {}, RxCentreError(None, "应答码无效", retryable=True)
        message = str(answer.get("message") or wire.CODE_MESSAGES.get(code, "未知错误"))
        data = answer.get("data") or {}
        if isinstance(data, str):
            if self.cipher is None:
                return {}, RxCentreError(code, "应答为密文，但未配置 SM4 密钥", retryable=False)
            try:
                data = self.cipher.decrypt(data)
            except (ValueError, UnicodeDecodeError):
                return {}, RxCentreError(code, "应答解密失败", retryable=False)
        if not isinstance(data, dict):
            data = {}
        if code != wire.CODE_OK:
            return data, RxCentreError(code, message, retryable=is_retryable(code, message))
        return data, None

    def _log(
        self,
        api: str,
        request: dict[str, Any],
        plain: dict[str, Any],
        answer: dict[str, Any] | None,
        answer_data: dict[str, Any],
        error: RxCentreError | None,
        key: str | None,
        duration_ms: int,
    ) -> dict[str, Any] | None:
        """Record the call; returns the earlier answer if another process won the same key."""

        logged_request = dict(request)
        if isinstance(request["data"], str):
            logged_request["_plain_data"] = plain  # kept in the database only, for audit
        logged_answer = None if answer is None else dict(answer)
        if logged_answer is not None and isinstance(logged_answer.get("data"), str):
            logged_answer["_plain_data"] = answer_data
        code = wire.CODE_OK if error is None else error.centre_code
        row = RxCentreCall(
            institution=self.institution,
            api=api,
            opter=self.operator.code,
            idempotency_key=key or "",
            hi_rxno=str(plain.get("hiRxno") or answer_data.get("hiRxno") or "")[:40],
            request_digest=digest({"api": api, "data": plain}),  # the same for a repeat
            request=logged_request,
            response=logged_answer,
            code=code,
            message="" if error is None else error.centre_message,
            retryable=False if error is None else error.retryable,
            duration_ms=duration_ms,
        )
        logger.info(
            "rxcentre call api=%s code=%s duration_ms=%d",
            api,
            "none" if code is None else code,
            duration_ms,
        )
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            if error is None and key:
                return self.stored_answer(api, key)
            raise
        return None
