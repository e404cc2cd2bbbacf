"""The payer's own payment orders, for the phone app: how one stands, and an active query
(after returning from the cashier, when the callback has not come yet)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.http import HttpRequest
from ninja import Router, Schema

from dualchannel.core.auth import api_auth

from .models import PaymentOrder, PaymentStatus
from .selectors import payment_order_of_payer
from .services import payment_query

router = Router(tags=["payments"], auth=api_auth)


class PaymentOrderOut(Schema):
    out_trade_no: str
    status: str
    status_label: str
    amount: Decimal
    subject: str
    expires_at: datetime
    pay_url: str | None  # the cashier page, while it can still be paid
    paid_at: datetime | None
    refunded_amount: Decimal


def shape(order: PaymentOrder) -> PaymentOrderOut:
    return PaymentOrderOut(
        out_trade_no=order.out_trade_no,
        status=order.status,
        status_label=order.get_status_display(),
        amount=order.amount,
        subject=order.subject,
        expires_at=order.expires_at,
        pay_url=order.pay_url or None if order.status == PaymentStatus.CREATED else None,
        paid_at=order.paid_at,
        refunded_amount=order.refunded_amount,
    )


@router.get("/orders/{out_trade_no}", response=PaymentOrderOut, summary="查看本人支付订单")
def order_detail(request: HttpRequest, out_trade_no: str):
    return shape(payment_order_of_payer(request.auth, out_trade_no))


@router.post(
    "/orders/{out_trade_no}/query", response=PaymentOrderOut, summary="向支付渠道查询支付结果"
)
def order_query(request: HttpRequest, out_trade_no: str):
    return shape(payment_query(payment_order_of_payer(request.auth, out_trade_no)))
