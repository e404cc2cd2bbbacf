"""What the payment services share: the lock of an order, numbers, the log."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from django.utils import timezone

from dualchannel.core.errors import DomainError, NotFound

from .. import error_codes as codes
from ..hooks import hooks_for
from ..models import PaymentOrder, PaymentRefund

# Facts only (out_trade_no, codes): never a name, ID number, phone or openid.
logger = logging.getLogger("dualchannel.payments")


def new_number(prefix: str, now: datetime | None = None) -> str:
    """``DC20260315103000`` + 10 hex: ≤ 32 characters of [0-9A-Za-z], unique per merchant."""
    local = timezone.localtime(now or timezone.now())
    return f"{prefix}{local:%Y%m%d%H%M%S}{secrets.token_hex(5)}"


def lock_order(order_id: int) -> PaymentOrder:
    """The order locked, after its referencing app's rows (``hooks.lock``), in the business
    transaction of the caller."""
    found = PaymentOrder.objects.filter(pk=order_id).values("purpose", "reference_id").first()
    if found is None:
        raise NotFound(codes.ORDER_NOT_FOUND, "支付订单不存在")
    hooks_for(found["purpose"]).lock(found["reference_id"])
    return PaymentOrder.objects.select_for_update().select_related("payer_user").get(pk=order_id)


def lock_refund(refund_id: int) -> tuple[PaymentOrder, PaymentRefund]:
    order_id = PaymentRefund.objects.values_list("order_id", flat=True).get(pk=refund_id)
    order = lock_order(order_id)
    return order, PaymentRefund.objects.select_for_update().get(pk=refund_id)


def refused(code_message: str) -> DomainError:
    """A provider's fact that does not match ours (amount, number): nothing is written."""
    return DomainError(codes.NOTIFY_REFUSED, code_message)
