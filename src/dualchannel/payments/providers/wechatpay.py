"""A WeChat Pay API v3 client (直连商户, H5 payment) over httpx.

Requests are signed with the merchant's RSA key (``Authorization: WECHATPAY2-SHA256-RSA2048``);
answers and callbacks are verified against the platform certificate or public key
(``Wechatpay-Serial`` / ``-Timestamp`` / ``-Nonce`` / ``-Signature``); callback resources are
AEAD_AES_256_GCM sealed with the API v3 key. Paths and fields follow the v3 documentation:
``POST /v3/pay/transactions/h5``, ``GET /v3/pay/transactions/out-trade-no/{no}?mchid=``,
``POST …/{no}/close``, ``POST /v3/refund/domestic/refunds``,
``GET /v3/refund/domestic/refunds/{out_refund_no}``.

The bundled simulator is this same client with the simulator's base URL (and, with no address
configured, an in-process transport): ``registry.provider_for``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from . import wechatpay_crypto as crypto
from .base import Notice, NotifyInvalid, Prepay, ProviderError, RefundState, TradeState

NAME = "wechatpay"
# The callback's answer WeChat Pay expects: 2xx (200 or 204) with no body is success; a failure is
# 4xx/5xx with {"code": "FAIL", "message": ...} and the notify is retried (15s, 15s, 30s, 3m …).
_FAIL_BODY = json.dumps({"code": "FAIL", "message": "失败"}, ensure_ascii=False).encode()


@dataclass(frozen=True)
class WeChatPayConfig:
    mch_id: str
    app_id: str
    api_v3_key: bytes  # 32 bytes
    merchant_serial_no: str
    merchant_private_key: Any  # rsa.RSAPrivateKey
    platform_keys: Mapping[str, Any]  # Wechatpay-Serial → rsa.RSAPublicKey
    base_url: str
    notify_url: str
    timeout_seconds: float = 15.0
    notify_max_age_seconds: int = 300  # a callback older than this is a replay
    transport: httpx.BaseTransport | None = field(default=None, compare=False)


def parse_time(text: str | None) -> datetime | None:
    """RFC 3339 as WeChat writes it (``2018-06-08T10:34:56+08:00``)."""
    return datetime.fromisoformat(text) if text else None


def trade_from(data: Mapping[str, Any]) -> TradeState:
    amount = data.get("amount") or {}
    total = amount.get("total")
    if not isinstance(total, int) or isinstance(total, bool):
        raise ValueError("amount.total is not an integer")
    payer_total = amount.get("payer_total")
    return TradeState(
        out_trade_no=str(data["out_trade_no"]),
        state=str(data["trade_state"]),
        total_fen=total,
        transaction_id=str(data.get("transaction_id") or ""),
        payer_total_fen=payer_total if isinstance(payer_total, int) else None,
        success_time=parse_time(data.get("success_time")),
        mchid=str(data.get("mchid") or ""),
        appid=str(data.get("appid") or ""),
    )


def refund_from(data: Mapping[str, Any]) -> RefundState:
    amount = data.get("amount") or {}
    refund, total = amount.get("refund"), amount.get("total")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (refund, total)):
        raise ValueError("amount.refund/total are not integers")
    # The query answer calls it ``status``, the notify ``refund_status``.
    status = data.get("status") or data.get("refund_status")
    return RefundState(
        out_refund_no=str(data["out_refund_no"]),
        status=str(status),
        refund_fen=refund,
        total_fen=total,
        out_trade_no=str(data.get("out_trade_no") or ""),
        transaction_id=str(data.get("transaction_id") or ""),
        refund_id=str(data.get("refund_id") or ""),
        success_time=parse_time(data.get("success_time")),
    )


class WeChatPayV3:
    """The provider ``wechatpay``: the real service or the simulator, by configuration."""

    name = NAME

    def __init__(self, config: WeChatPayConfig) -> None:
        self.config = config

    # --- calls ---------------------------------------------------------------------------

    def create(
        self,
        *,
        out_trade_no: str,
        description: str,
        total_fen: int,
        time_expire: datetime,
        payer_client_ip: str,
        return_url: str,
    ) -> Prepay:
        body = {
            "appid": self.config.app_id,
            "mchid": self.config.mch_id,
            "description": description,
            "out_trade_no": out_trade_no,
            "time_expire": time_expire.isoformat(timespec="seconds"),
            "notify_url": self.config.notify_url,
            "amount": {"total": total_fen, "currency": "CNY"},
            "scene_info": {"payer_client_ip": payer_client_ip, "h5_info": {"type": "Wap"}},
        }
        answer = self._call("POST", "/v3/pay/transactions/h5", body)
        h5_url = str(answer.get("h5_url") or "")
        if not h5_url:
            raise ProviderError("INVALID_ANSWER", "no h5_url")
        # H5: the phone opens h5_url with redirect_url (URL-encoded) appended; WeChat returns
        # there after the cashier (it does not tell the result: the page queries).
        pay_url = f"{h5_url}&redirect_url={quote(return_url, safe='')}"
        prepay_id = httpx.URL(h5_url).params.get("prepay_id", "")
        return Prepay(prepay_id=prepay_id, pay_url=pay_url)

    def query(self, out_trade_no: str) -> TradeState:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}?mchid={self.config.mch_id}"
        try:
            return trade_from(self._call("GET", path))
        except (KeyError, ValueError) as exc:
            raise ProviderError("INVALID_ANSWER", type(exc).__name__) from exc

    def close(self, out_trade_no: str) -> None:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}/close"
        self._call("POST", path, {"mchid": self.config.mch_id})

    def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        reason: str,
        refund_fen: int,
        total_fen: int,
    ) -> RefundState:
        body = {
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "reason": reason,
            "notify_url": self.config.notify_url,
            "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"},
        }
        try:
            return refund_from(self._call("POST", "/v3/refund/domestic/refunds", body))
        except (KeyError, ValueError) as exc:
            raise ProviderError("INVALID_ANSWER", type(exc).__name__) from exc

    def refund_query(self, out_refund_no: str) -> RefundState:
        path = f"/v3/refund/domestic/refunds/{quote(out_refund_no)}"
        try:
            return refund_from(self._call("GET", path))
        except (KeyError, ValueError) as exc:
            raise ProviderError("INVALID_ANSWER", type(exc).__name__) from exc

    # --- callbacks -----------------------------------------------------------------------

    def parse_notify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """The callback, verified (signature by a known platform key, fresh timestamp) and its
        resource decrypted; anything else raises ``NotifyInvalid``."""
        text = self._verified_text(headers, body)
        try:
            envelope = json.loads(text)
            resource = envelope["resource"]
            if resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise NotifyInvalid("unknown algorithm")
            plain = crypto.aead_decrypt(
                self.config.api_v3_key,
                resource["nonce"],
                resource.get("associated_data") or "",
                resource["ciphertext"],
            )
            data = json.loads(plain)
            event_type = str(envelope["event_type"])
            notify_id = str(envelope["id"])
            if event_type.startswith("TRANSACTION."):
                if data.get("mchid") != self.config.mch_id:
                    raise NotifyInvalid("another merchant's transaction")
                return Notice(notify_id, event_type, trade=trade_from(data))
            if event_type.startswith("REFUND."):
                if data.get("mchid") != self.config.mch_id:
                    raise NotifyInvalid("another merchant's refund")
                return Notice(notify_id, event_type, refund=refund_from(data))
        except NotifyInvalid:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise NotifyInvalid(type(exc).__name__) from exc
        raise NotifyInvalid("unknown event type")

    def notify_answer(self, ok: bool) -> tuple[int, bytes]:
        return (204, b"") if ok else (400, _FAIL_BODY)

    # --- the wire ------------------------------------------------------------------------

    def _verified_text(self, headers: Mapping[str, str], body: bytes) -> str:
        lower = {k.lower(): v for k, v in headers.items()}
        timestamp = lower.get("wechatpay-timestamp", "")
        nonce = lower.get("wechatpay-nonce", "")
        signature = lower.get("wechatpay-signature", "")
        key = self.config.platform_keys.get(lower.get("wechatpay-serial", ""))
        if key is None or not timestamp.isdigit() or not nonce or not signature:
            raise NotifyInvalid("unsigned or unknown platform key")
        if abs(time.time() - int(timestamp)) > self.config.notify_max_age_seconds:
            raise NotifyInvalid("stale timestamp")  # a replay of an old message
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise NotifyInvalid("not UTF-8") from exc
        if not crypto.verify(key, crypto.response_message(timestamp, nonce, text), signature):
            raise NotifyInvalid("bad signature")
        return text

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        text = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        headers = {
            "Accept": "application/json",
            "Authorization": crypto.authorization(
                mchid=self.config.mch_id,
                serial_no=self.config.merchant_serial_no,
                key=self.config.merchant_private_key,
                method=method,
                path=path,
                body=text,
                timestamp=str(int(time.time())),
                nonce=secrets.token_hex(16),
            ),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            with httpx.Client(
                base_url=self.config.base_url,
                timeout=self.config.timeout_seconds,
                transport=self.config.transport,
            ) as client:
                response = client.request(method, path, content=text.encode(), headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderError("NETWORK", type(exc).__name__) from exc
        return self._answer(response)

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        try:
            # Answers are signed as callbacks are: an unsigned answer may be a man in the middle.
            text = self._verified_text(response.headers, response.content)
        except NotifyInvalid as exc:
            raise ProviderError("SIGN_ERROR", str(exc), status=response.status_code) from exc
        if response.status_code == 204 or not text:
            return {}
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ProviderError("INVALID_ANSWER", "not JSON", status=response.status_code) from exc
        if response.status_code >= 300:
            raise ProviderError(
                str(data.get("code") or "ERROR"),
                str(data.get("message") or ""),
                status=response.status_code,
            )
        return data
