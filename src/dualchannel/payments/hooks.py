"""What a referencing app does when its payment moves: handlers registered per ``purpose``.

Payments sits below the apps that take money (the online order), so they hand their handlers
down in their ``AppConfig.ready()``::

    hooks.register("online_order", lock=..., on_paid=..., on_expired=..., on_refunded=...,
                   return_url=...)

Every handler runs inside the transaction of the payment's state change, after the change, with
the locked ``PaymentOrder``: what it writes commits or rolls back with the payment. ``lock``
(``lock(reference_id)``) runs first, before the payment row is locked, so the referencing app
locks its own rows in ``core.locks`` order (its order row sits below ``Level.PAYMENT``); the
others may lock only rows above ``Level.PAYMENT`` (stock items to release a hold).

- ``on_paid(order)``: the provider confirmed the money (once per order).
- ``on_expired(order)``: not paid in time, closed at the provider: release holds.
- ``on_refunded(order, refund)``: a refund reached the payer (each refund once).
- ``on_late_paid(order)``: a payment confirmed after the order had expired; the money is being
  refunded automatically (optional: a message to the payer).
- ``return_url(order) -> str``: where the payer's phone goes back to after the cashier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dualchannel.core.errors import DomainError

from . import error_codes as codes


def _nothing(*args: Any) -> None:
    return None


@dataclass(frozen=True)
class PurposeHooks:
    lock: Callable[[int], Any] = _nothing
    on_paid: Callable[..., Any] = _nothing
    on_expired: Callable[..., Any] = _nothing
    on_refunded: Callable[..., Any] = _nothing
    on_late_paid: Callable[..., Any] = _nothing
    return_url: Callable[..., str] | None = None


_registry: dict[str, PurposeHooks] = {}


def register(
    purpose: str,
    *,
    lock: Callable[[int], Any] | None = None,
    on_paid: Callable[..., Any] | None = None,
    on_expired: Callable[..., Any] | None = None,
    on_refunded: Callable[..., Any] | None = None,
    on_late_paid: Callable[..., Any] | None = None,
    return_url: Callable[..., str] | None = None,
) -> None:
    """Hand down what ``purpose``'s app does on each move (a second registration replaces)."""
    given = {
        "lock": lock,
        "on_paid": on_paid,
        "on_expired": on_expired,
        "on_refunded": on_refunded,
        "on_late_paid": on_late_paid,
    }
    _registry[purpose] = PurposeHooks(
        **{name: func for name, func in given.items() if func is not None}, return_url=return_url
    )


def unregister(purpose: str) -> None:
    _registry.pop(purpose, None)


def registered(purpose: str) -> bool:
    return purpose in _registry


def hooks_for(purpose: str) -> PurposeHooks:
    """The handlers of ``purpose``; an order for an unknown purpose is refused at creation."""
    found = _registry.get(purpose)
    if found is None:
        raise DomainError(codes.UNKNOWN_PURPOSE, "未知的支付用途")
    return found
