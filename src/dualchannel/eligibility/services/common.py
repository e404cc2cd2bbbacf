"""What the application services share beyond ``workflow``: the business day and a required text."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from dualchannel.core.errors import DomainError


def day_or_today(today: date | None) -> date:
    """The given business day, else today (local)."""
    return today or timezone.localdate()


def required_text(value: str | None, field: str, code: str, message: str, max_length: int) -> str:
    """``value`` stripped; refused (``code``, ``message`` on ``field``) when empty or too long."""
    value = (value or "").strip()
    if not value:
        raise DomainError(code, message, fields={field: ["必填"]})
    if len(value) > max_length:
        raise DomainError(code, message, fields={field: ["内容过长"]})
    return value
