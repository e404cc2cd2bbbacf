"""Reads of payment orders, scoped to the actor: a payer sees their own orders only."""

from __future__ import annotations

from dualchannel.core.errors import NotFound
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role

from . import error_codes as codes
from .models import PaymentOrder


def payment_order_of_payer(actor, out_trade_no: str) -> PaymentOrder:
    """The caller's own order; another's, or none, is the same 404."""
    require_role(actor, Role.PATIENT)
    order = PaymentOrder.objects.filter(out_trade_no=out_trade_no, payer_user=actor).first()
    if order is None:
        raise NotFound(codes.ORDER_NOT_FOUND, "支付订单不存在")
    return order
