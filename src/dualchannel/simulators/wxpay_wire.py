"""The wire of the simulated WeChat Pay (``wxpay``): its keys, signatures and JSON shapes.

A stand-in for WeChat Pay API v3 (直连商户, H5 payment), for the demo and tests.

It answers the provider API the payments client calls — ``POST /v3/pay/transactions/h5``,
``GET /v3/pay/transactions/out-trade-no/{no}``, ``POST …/{no}/close``,
``POST /v3/refund/domestic/refunds``, ``GET /v3/refund/domestic/refunds/{no}`` — checks each
request's merchant signature and signs each answer as the platform; its cashier page
(``wxpay_views``) lets the phone pay or cancel, and it sends signed, AEAD-sealed callbacks
(``wxpay_notify``), which tests may also build late, twice, out of order or forged.

The key material is what a merchant account is given (merchant key, platform key, API v3 key):
made once per process, handed to payments as ``credentials()`` (``SimulatorsConfig.ready()``).
Where WeChat's behaviour is not documented precisely the simulator says so in a comment.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime
from functools import lru_cache
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils import timezone

from dualchannel.payments.providers import wechatpay_crypto as crypto

from .models import SimPayOrder, SimPayRefund

PREFIX = "/simulators/wxpay"
MCH_ID = "1900000109"
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A72SIM00001"
PLATFORM_SERIAL = "PUB_KEY_ID_0119000001092026SIM000000001"


@lru_cache(maxsize=1)
def keys() -> dict[str, Any]:
    """This process's merchant and platform keys and API v3 key (2048-bit RSA, as WeChat's)."""
    return {
        "merchant": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "platform": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "api_v3_key": secrets.token_hex(16).encode(),  # 32 bytes
    }


def app_id() -> str:
    return settings.WECHAT_APP_ID or "wxd678efh567hg6787"


def credentials() -> dict[str, Any]:
    """What the merchant platform gives the merchant (for ``payments.in_process``)."""
    held = keys()
    return {
        "mch_id": MCH_ID,
        "app_id": app_id(),
        "api_v3_key": held["api_v3_key"],
        "merchant_serial_no": MERCHANT_SERIAL,
        "merchant_private_key": held["merchant"],
        "platform_serial_no": PLATFORM_SERIAL,
        "platform_public_key": held["platform"].public_key(),
    }


def signed_headers(
    text: str, *, key: rsa.RSAPrivateKey | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """The platform's signature headers over ``text`` (an answer or a callback body)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16).upper()
    signature = crypto.sign(key or keys()["platform"], crypto.response_message(stamp, nonce, text))
    return {
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": PLATFORM_SERIAL,
        "Request-ID": secrets.token_hex(16),
    }


def answer(status: int, data: dict[str, Any] | None = None) -> httpx.Response:
    text = "" if data is None else json.dumps(data, ensure_ascii=False)
    headers = signed_headers(text)
    if data is not None:
        headers["Content-Type"] = "application/json"
    return httpx.Response(status, headers=headers, content=text.encode())


def error(status: int, code: str, message: str) -> httpx.Response:
    return answer(status, {"code": code, "message": message})


def rfc3339(moment: datetime | None) -> str | None:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


def trade_json(order: SimPayOrder) -> dict[str, Any]:
    data: dict[str, Any] = {
        "appid": order.appid,
        "mchid": order.mchid,
        "out_trade_no": order.out_trade_no,
        "trade_type": "MWEB",
        "trade_state": order.trade_state,
        "trade_state_desc": {
            "NOTPAY": "未支付",
            "SUCCESS": "支付成功",
            "CLOSED": "已关闭",
            "REFUND": "转入退款",
        }.get(order.trade_state, ""),
        "amount": {"total": order.total_fen, "currency": "CNY"},
    }
    if order.transaction_id:
        data.update(
            transaction_id=order.transaction_id,
            bank_type="OTHERS",
            success_time=rfc3339(order.success_time),
            amount={**data["amount"], "payer_total": order.total_fen, "payer_currency": "CNY"},
        )
    return data


def refund_json(refund: SimPayRefund) -> dict[str, Any]:
    order = refund.order
    return {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "success_time": rfc3339(refund.success_time),
        "create_time": rfc3339(refund.created_at),
        "status": refund.status,
        "amount": {
            "total": order.total_fen,
            "refund": refund.refund_fen,
            "payer_total": order.total_fen,
            "payer_refund": refund.refund_fen,
            "currency": "CNY",
        },
    }
