"""The provider's callbacks: verified, decrypted, checked against our rows and recorded once."""

from __future__ import annotations

from collections.abc import Mapping

from dualchannel.core.errors import DomainError

from ..models import PaymentOrder, PaymentRefund
from ..providers import Notice, NotifyInvalid, provider_for
from .common import logger
from .refunds import refund_record
from .trades import trade_record


def _record(provider: str, notice: Notice) -> bool:
    if notice.trade is not None:
        order = PaymentOrder.objects.filter(
            provider=provider, out_trade_no=notice.trade.out_trade_no
        ).first()
        if order is None:
            logger.warning("payments: notify for unknown order %s", notice.trade.out_trade_no)
            return False
        trade_record(order.pk, notice.trade, source="notify")
        return True
    if notice.refund is not None:
        refund = PaymentRefund.objects.filter(
            order__provider=provider, out_refund_no=notice.refund.out_refund_no
        ).first()
        if refund is None:
            logger.warning("payments: notify for unknown refund %s", notice.refund.out_refund_no)
            return False
        refund_record(refund.pk, notice.refund, source="notify")
        return True
    return False


def payment_notify_receive(
    provider: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, bytes]:
    """Answer a callback as the provider expects (status, body). A forged, stale (replayed) or
    mismatched one is refused and logged with its reason and our number only; nothing is
    written. A repeated one is answered as success and changes nothing."""
    client = provider_for(provider)
    try:
        notice = client.parse_notify(headers, body)
    except NotifyInvalid as exc:
        logger.warning("payments: %s notify refused (%s)", provider, exc)
        return client.notify_answer(False)
    try:
        return client.notify_answer(_record(provider, notice))
    except DomainError as exc:
        number = notice.trade.out_trade_no if notice.trade else notice.refund.out_refund_no
        logger.warning("payments: %s notify for %s refused (%s)", provider, number, exc.code)
        return client.notify_answer(False)
