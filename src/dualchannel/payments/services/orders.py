"""Payment orders: created at the provider, queried, expired (closed at the provider)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.idempotency import checked_key
from dualchannel.core.money import parse_money
from dualchannel.core.statemachine import transition

from .. import error_codes as codes
from ..amounts import to_fen
from ..hooks import hooks_for
from ..models import PaymentOrder, PaymentStatus
from ..providers import ProviderError, provider_for, provider_name
from .common import lock_order, logger, new_number
from .trades import PAID_STATES, trade_record

PROVIDER_DOWN = "支付渠道暂时无法连接，请稍后再试"


def _checked(
    amount: Decimal, subject: str, purpose: str, expires_at: datetime, key: str
) -> tuple[Decimal, str, str]:
    key = checked_key(key, code=codes.INVALID_FIELD)
    amount = parse_money(amount, field="amount", code=codes.INVALID_AMOUNT, positive=True)
    subject = (subject or "").strip()
    if not subject or len(subject) > 127:
        raise DomainError(
            codes.INVALID_FIELD, "商品描述应为1–127个字", fields={"subject": ["必填"]}
        )
    hooks_for(purpose)
    if timezone.is_naive(expires_at) or expires_at <= timezone.now() + timedelta(minutes=1):
        raise DomainError(
            codes.INVALID_FIELD, "支付截止时间应至少在一分钟之后", fields={"expires_at": ["无效"]}
        )
    return amount, subject, key


def _write(*, payer_user, amount, subject, purpose, reference_type, reference_id, expires_at, key):
    with transaction.atomic():
        existing = PaymentOrder.objects.filter(idempotency_key=key).first()
        if existing is not None:
            same = (
                existing.payer_user_id,
                existing.amount,
                existing.purpose,
                existing.reference_id,
            )
            if same != (payer_user.pk, amount, purpose, reference_id):
                raise Conflict(codes.IDEMPOTENCY_MISMATCH, "同一幂等键已用于另一笔支付")
            return existing
        order = PaymentOrder.objects.create(
            out_trade_no=new_number("DC"),
            provider=provider_name(),
            payer_user=payer_user,
            amount=amount,
            subject=subject,
            purpose=purpose,
            reference_type=reference_type,
            reference_id=reference_id,
            idempotency_key=key,
            expires_at=expires_at,
        )
        audit.record(
            actor=payer_user,
            action="payments.order_created",
            subject=order,
            after=order,
            summary={"out_trade_no": order.out_trade_no, "amount": str(amount), "purpose": purpose},
        )
        return order


def return_url(order: PaymentOrder) -> str:
    return settings.PUBLIC_BASE_URL + reverse("payments-return", args=[order.out_trade_no])


def payment_create(
    *,
    payer_user,
    amount: Decimal,
    subject: str,
    purpose: str,
    reference_type: str,
    reference_id: int,
    expires_at: datetime,
    idempotency_key: str,
    payer_client_ip: str = "127.0.0.1",
) -> PaymentOrder:
    """Our order (``out_trade_no``) and its prepay at the provider; the returned order carries
    ``pay_url`` (the cashier page the phone opens) and ``prepay_id``. The same key returns the
    same order (asking the provider again if it had not answered). Call it outside your
    transaction where you can: it waits for the provider."""
    amount, subject, key = _checked(amount, subject, purpose, expires_at, idempotency_key)
    order = _write(
        payer_user=payer_user,
        amount=amount,
        subject=subject,
        purpose=purpose,
        reference_type=reference_type,
        reference_id=reference_id,
        expires_at=expires_at,
        key=key,
    )
    if order.pay_url or order.status != PaymentStatus.CREATED:
        return order
    try:
        prepay = provider_for(order.provider).create(
            out_trade_no=order.out_trade_no,
            description=order.subject,
            total_fen=to_fen(order.amount),
            time_expire=timezone.localtime(order.expires_at),
            payer_client_ip=payer_client_ip,
            return_url=return_url(order),
        )
    except ProviderError as exc:
        logger.warning("payments: prepay of %s failed (%s)", order.out_trade_no, exc.code)
        raise DomainError(codes.PROVIDER_ERROR, PROVIDER_DOWN) from exc
    PaymentOrder.objects.filter(pk=order.pk).update(
        prepay_id=prepay.prepay_id, pay_url=prepay.pay_url
    )
    order.refresh_from_db()
    return order


def payment_query(order: PaymentOrder) -> PaymentOrder:
    """Ask the provider (no notify came: the payer is back from the cashier, or the periodic
    job) and record a payment it confirms; returns the order as it now stands."""
    try:
        trade = provider_for(order.provider).query(order.out_trade_no)
    except ProviderError as exc:
        if exc.code != "ORDER_NOT_EXIST":
            logger.warning("payments: query of %s failed (%s)", order.out_trade_no, exc.code)
            raise DomainError(codes.PROVIDER_ERROR, PROVIDER_DOWN) from exc
        return PaymentOrder.objects.get(pk=order.pk)
    try:
        return trade_record(order.pk, trade, source="query")
    except DomainError as exc:
        logger.warning("payments: query of %s refused (%s)", order.out_trade_no, exc.code)
        raise


def _close_at_provider(order: PaymentOrder) -> bool:
    """Close the order at the provider; False when it turned out paid (then recorded)."""
    provider = provider_for(order.provider)
    trade = provider.query(order.out_trade_no) if order.prepay_id or order.pay_url else None
    if trade is not None and trade.state in PAID_STATES:
        trade_record(order.pk, trade, source="query")
        return False
    try:
        provider.close(order.out_trade_no)
    except ProviderError as exc:
        if exc.code == "ORDERPAID":  # paid between the query and the close
            trade_record(order.pk, provider.query(order.out_trade_no), source="query")
            return False
        if exc.code != "ORDER_NOT_EXIST":  # never reached the provider: nothing to close
            raise
    return True


def payment_expire(order: PaymentOrder, *, now: datetime | None = None) -> PaymentOrder:
    """An unpaid order past ``expires_at``: closed at the provider, then CLOSED here and its
    referencing app told (``on_expired`` releases the hold). A paid one is recorded instead."""
    now = now or timezone.now()
    if order.status != PaymentStatus.CREATED or order.expires_at > now:
        return order
    try:
        closed = _close_at_provider(order)
    except ProviderError as exc:
        logger.warning("payments: close of %s failed (%s)", order.out_trade_no, exc.code)
        raise DomainError(codes.PROVIDER_ERROR, PROVIDER_DOWN) from exc
    with transaction.atomic():
        locked = lock_order(order.pk)
        if closed and locked.status == PaymentStatus.CREATED:
            transition(locked, PaymentStatus.CLOSED, actor=None, changes={"closed_at": now})
            hooks_for(locked.purpose).on_expired(locked)
        return locked
