"""The simulated WeChat Pay API v3 (see ``wxpay_wire`` for the whole simulator's description):
``handle(request)`` answers the payments client's httpx requests in this process, and the
cashier's pay and the provider's refund settlement send their callbacks (``wxpay_notify``)."""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import datetime
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dualchannel.payments.providers import wechatpay_crypto as crypto

from .common import next_serial
from .models import SimPayOrder, SimPayRefund
from .wxpay_notify import auto_notify, deliver, refund_notify, trade_notify
from .wxpay_wire import (
    MCH_ID,
    MERCHANT_SERIAL,
    PREFIX,
    answer,
    app_id,
    error,
    keys,
    refund_json,
    trade_json,
)


def new_transaction_id() -> str:
    # Real ids are 28 digits starting 4200…; the simulator's serial keeps them unique.
    return f"4200{timezone.localdate():%Y%m%d}{next_serial('wxpay-transaction'):016d}"


def new_refund_id() -> str:
    return f"5030{timezone.localdate():%Y%m%d}{next_serial('wxpay-refund'):016d}"


def request_ok(request: httpx.Request, path: str) -> bool:
    """The merchant's signature over method, path (with query), time, nonce and body."""
    params = crypto.parse_authorization(request.headers.get("Authorization", ""))
    if params.get("mchid") != MCH_ID or params.get("serial_no") != MERCHANT_SERIAL:
        return False
    stamp = params.get("timestamp", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
        return False
    message = crypto.request_message(
        request.method, path, stamp, params.get("nonce_str", ""), request.content.decode()
    )
    return crypto.verify(keys()["merchant"].public_key(), message, params.get("signature", ""))


# --- the API ----------------------------------------------------------------------------------


def create_h5(body: dict[str, Any]) -> httpx.Response:
    try:
        total = body["amount"]["total"]
        assert isinstance(total, int) and total > 0
        assert body["mchid"] == MCH_ID and body["appid"] == app_id()
        fields = {
            "description": str(body["description"])[:127],
            "total_fen": total,
            "time_expire": datetime.fromisoformat(body["time_expire"]),
            "notify_url": str(body["notify_url"]),
        }
        out_trade_no = str(body["out_trade_no"])
    except (KeyError, TypeError, ValueError, AssertionError):
        return error(400, "PARAM_ERROR", "参数错误")
    with transaction.atomic():
        order = SimPayOrder.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
        if order is None:
            order = SimPayOrder.objects.create(
                mchid=MCH_ID,
                appid=app_id(),
                out_trade_no=out_trade_no,
                prepay_id="wx" + secrets.token_hex(15),
                **fields,
            )
        elif order.total_fen != total or order.trade_state != "NOTPAY":
            # A second order under the same number with other facts (or already paid/closed).
            return error(400, "INVALID_REQUEST", "商户订单号重复或订单状态不允许下单")
    cashier = f"{settings.PUBLIC_BASE_URL}{PREFIX}/cashier/?prepay_id={order.prepay_id}"
    return answer(200, {"h5_url": cashier})


def query(out_trade_no: str) -> httpx.Response:
    order = SimPayOrder.objects.filter(out_trade_no=out_trade_no, mchid=MCH_ID).first()
    if order is None:
        return error(404, "ORDER_NOT_EXIST", "订单不存在")
    return answer(200, trade_json(order))


def close(out_trade_no: str) -> httpx.Response:
    with transaction.atomic():
        order = SimPayOrder.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
        if order is None:
            return error(404, "ORDER_NOT_EXIST", "订单不存在")
        if order.trade_state in ("SUCCESS", "REFUND"):
            return error(400, "ORDERPAID", "订单已支付")  # code per the v3 close docs (uncertain)
        order.trade_state = "CLOSED"
        order.save(update_fields=["trade_state"])
    return answer(204)


def refund(body: dict[str, Any]) -> tuple[httpx.Response, SimPayRefund | None]:
    try:
        amount = body["amount"]
        refund_fen, total = amount["refund"], amount["total"]
        assert isinstance(refund_fen, int) and refund_fen > 0 and isinstance(total, int)
        out_refund_no = str(body["out_refund_no"])
        out_trade_no = str(body["out_trade_no"])
    except (KeyError, TypeError, AssertionError):
        return error(400, "PARAM_ERROR", "参数错误"), None
    with transaction.atomic():
        order = SimPayOrder.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
        if order is None:
            return error(404, "RESOURCE_NOT_EXISTS", "订单不存在"), None
        existing = order.refunds.filter(out_refund_no=out_refund_no).first()
        if existing is not None:  # the same out_refund_no: the same refund, not a second one
            return answer(200, refund_json(existing)), None
        refunded = sum(r.refund_fen for r in order.refunds.exclude(status="CLOSED"))
        if order.trade_state not in ("SUCCESS", "REFUND") or total != order.total_fen:
            return error(400, "INVALID_REQUEST", "订单未支付或订单金额不符"), None
        if refunded + refund_fen > order.total_fen:
            return error(403, "NOT_ENOUGH", "可退金额不足"), None
        created = SimPayRefund.objects.create(
            order=order,
            out_refund_no=out_refund_no,
            refund_id=new_refund_id(),
            refund_fen=refund_fen,
            reason=str(body.get("reason") or "")[:80],
            notify_url=str(body.get("notify_url") or order.notify_url),
        )
        order.trade_state = "REFUND"
        order.save(update_fields=["trade_state"])
    return answer(200, refund_json(created)), created


def refund_query(out_refund_no: str) -> httpx.Response:
    found = SimPayRefund.objects.select_related("order").filter(out_refund_no=out_refund_no).first()
    if found is None:
        return error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
    return answer(200, refund_json(found))


_TRADE = re.compile(r"/v3/pay/transactions/out-trade-no/([^/?]+)(/close)?")
_REFUND = re.compile(r"/v3/refund/domestic/refunds/([^/?]+)")


def pay(prepay_id: str, *, allow_expired: bool = False) -> SimPayOrder | None:
    """The payer pays at the cashier: SUCCESS with a transaction id, then the callback is sent
    (``auto_notify``). None when there is nothing to pay (unknown, paid, closed, expired);
    ``allow_expired`` (tests): the provider takes a payment the merchant already gave up on."""
    with transaction.atomic():
        order = SimPayOrder.objects.select_for_update().filter(prepay_id=prepay_id).first()
        if order is None or order.trade_state != "NOTPAY":
            return None
        if order.time_expire <= timezone.now() and not allow_expired:
            return None
        order.trade_state = "SUCCESS"
        order.transaction_id = new_transaction_id()
        order.success_time = timezone.now()
        order.save(update_fields=["trade_state", "transaction_id", "success_time"])
    if auto_notify():
        deliver(order.notify_url, trade_notify(order))
    return order


def pay_closed(out_trade_no: str) -> SimPayOrder:
    """Tests: a payment the provider took although the merchant had closed the order (a close
    that was lost): the late payment the merchant must refund."""
    with transaction.atomic():
        order = SimPayOrder.objects.select_for_update().get(out_trade_no=out_trade_no)
        order.trade_state = "SUCCESS"
        order.transaction_id = order.transaction_id or new_transaction_id()
        order.success_time = order.success_time or timezone.now()
        order.save(update_fields=["trade_state", "transaction_id", "success_time"])
    return order


def refund_settle(refund: SimPayRefund, status: str = "SUCCESS") -> SimPayRefund:
    """The provider finishes a refund (SUCCESS, ABNORMAL or CLOSED) and sends its callback."""
    with transaction.atomic():
        refund = SimPayRefund.objects.select_for_update().select_related("order").get(pk=refund.pk)
        if refund.status not in ("PROCESSING", "ABNORMAL"):
            return refund
        refund.status = status
        refund.success_time = timezone.now() if status == "SUCCESS" else None
        refund.save(update_fields=["status", "success_time"])
    if auto_notify():
        deliver(refund.notify_url, refund_notify(refund))
    return refund


def _route(request: httpx.Request, path: str) -> httpx.Response:
    bare = path.split("?", 1)[0]
    try:
        body = json.loads(request.content) if request.content else {}
    except ValueError:
        return error(400, "PARAM_ERROR", "请求体不是JSON")
    if request.method == "POST" and bare == "/v3/pay/transactions/h5":
        return create_h5(body)
    if request.method == "POST" and bare == "/v3/refund/domestic/refunds":
        response, created = refund(body)
        if created is not None and auto_notify():
            refund_settle(created)  # the simulator returns the money at once
        return response
    trade = _TRADE.fullmatch(bare)
    if trade and request.method == "GET" and not trade.group(2):
        return query(trade.group(1))
    if trade and request.method == "POST" and trade.group(2):
        return close(trade.group(1))
    found = _REFUND.fullmatch(bare)
    if found and request.method == "GET":
        return refund_query(found.group(1))
    return error(404, "NOT_FOUND", "接口不存在")


def handle(request: httpx.Request) -> httpx.Response:
    """One API call of the payments client (an httpx transport's handler, or the HTTP view)."""
    raw = request.url.raw_path.decode()
    path = raw[len(PREFIX) :] if raw.startswith(PREFIX) else raw
    if not request_ok(request, path):
        return error(401, "SIGN_ERROR", "签名错误")
    return _route(request, path)


def transport() -> httpx.BaseTransport:
    return httpx.MockTransport(handle)
