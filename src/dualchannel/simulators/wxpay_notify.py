"""The simulated WeChat Pay's callbacks: built as WeChat sends them (a signed JSON envelope whose
``resource`` is AEAD_AES_256_GCM sealed with the API v3 key) and delivered to the notify URL.

Tests build them to send late, twice, out of order, with the amount off by a fen (signed: the
provider's word that differs from ours) or forged (``forge="signature"``: signed with another
key; ``forge="key"``: sealed with another API v3 key; ``timestamp``: an old, replayed one).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils import timezone

from dualchannel.payments.providers import wechatpay_crypto as crypto
from dualchannel.payments.services import payment_notify_receive

from .models import SimPayOrder, SimPayRefund
from .wxpay_wire import keys, refund_json, rfc3339, signed_headers, trade_json

Notify = tuple[dict[str, str], bytes]


def _envelope(
    event_type: str,
    original_type: str,
    resource: dict[str, Any],
    summary: str,
    *,
    forge: str | None,
    timestamp: int | None,
) -> Notify:
    api_v3_key = secrets.token_hex(16).encode() if forge == "key" else keys()["api_v3_key"]
    nonce = secrets.token_hex(6)  # 12 bytes, as WeChat's
    associated_data = original_type
    body = {
        "id": secrets.token_hex(18),
        "create_time": rfc3339(timezone.now()),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": crypto.aead_encrypt(
                api_v3_key,
                nonce,
                associated_data,
                json.dumps(resource, ensure_ascii=False).encode(),
            ),
            "associated_data": associated_data,
            "nonce": nonce,
        },
    }
    text = json.dumps(body, ensure_ascii=False)
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if forge == "signature"
        else None
    )
    return signed_headers(text, key=key, timestamp=timestamp), text.encode()


def trade_notify(
    order: SimPayOrder,
    *,
    total_delta: int = 0,
    forge: str | None = None,
    timestamp: int | None = None,
) -> Notify:
    """TRANSACTION.SUCCESS for a paid order (``total_delta``: the amount off by that many fen)."""
    resource = trade_json(order)
    resource["amount"] = {**resource["amount"], "total": order.total_fen + total_delta}
    resource["payer"] = {"openid": "oSimPayer" + order.out_trade_no[-8:]}
    return _envelope(
        "TRANSACTION.SUCCESS", "transaction", resource, "支付成功", forge=forge, timestamp=timestamp
    )


def refund_notify(
    refund: SimPayRefund, *, forge: str | None = None, timestamp: int | None = None
) -> Notify:
    """REFUND.SUCCESS / .ABNORMAL / .CLOSED for a settled refund."""
    data = refund_json(refund)
    resource = {
        "mchid": refund.order.mchid,
        "out_trade_no": data["out_trade_no"],
        "transaction_id": data["transaction_id"],
        "out_refund_no": data["out_refund_no"],
        "refund_id": data["refund_id"],
        "refund_status": refund.status,
        "success_time": data["success_time"],
        "user_received_account": data["user_received_account"],
        "amount": {
            k: data["amount"][k] for k in ("total", "refund", "payer_total", "payer_refund")
        },
    }
    summary = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}[refund.status]
    return _envelope(
        f"REFUND.{refund.status}", "refund", resource, summary, forge=forge, timestamp=timestamp
    )


def deliver(url: str, notify: Notify) -> int:
    """Send a callback; the answer's status (2xx: accepted). Ours with the in-process simulator
    is answered in this process (the demo's server may serve one request at a time)."""
    headers, body = notify
    ours = settings.PAYMENT_NOTIFY_BASE_URL + "/payments/notify/wechatpay/"
    if not settings.WECHATPAY_BASE_URL and url == ours:
        status, _ = payment_notify_receive("wechatpay", headers, body)
        return status
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=10)
    except httpx.HTTPError:
        return 0  # WeChat retries later; the merchant's query finds the payment meanwhile
    return response.status_code


def auto_notify() -> bool:
    return settings.WXPAY_SIMULATOR_AUTO_NOTIFY
