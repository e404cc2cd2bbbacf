"""Payment providers behind one protocol (``base.PaymentProvider``); ``provider_for(name)``."""

from .base import (
    Notice,
    NotifyInvalid,
    PaymentProvider,
    Prepay,
    ProviderError,
    RefundState,
    TradeState,
)
from .registry import provider_for, provider_name

__all__ = [
    "Notice",
    "NotifyInvalid",
    "PaymentProvider",
    "Prepay",
    "ProviderError",
    "RefundState",
    "TradeState",
    "provider_for",
    "provider_name",
]
