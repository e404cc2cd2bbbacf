"""The payment services (the only writers of the payments tables)."""

from .notify import payment_notify_receive
from .orders import payment_create, payment_expire, payment_query, return_url
from .refunds import REFUND_SUBMIT, payment_refund, refund_record, refund_submit, refund_sync
from .trades import trade_record

__all__ = [
    "REFUND_SUBMIT",
    "payment_create",
    "payment_expire",
    "payment_notify_receive",
    "payment_query",
    "payment_refund",
    "refund_record",
    "refund_submit",
    "refund_sync",
    "return_url",
    "trade_record",
]
