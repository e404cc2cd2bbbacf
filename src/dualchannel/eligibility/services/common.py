"""What the application services share beyond ``workflow``: the business day and a required text."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from dualchannel.core.errors import DomainError
from dualchannel.core.models import User
from dualchannel.integration.services.filing import can_send, filing_withdraw

from ..models import ApplicationNumberSequence, Eligibility


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


def cancel_filing(actor: User | None, eligibility: Eligibility, reason: str):
    """HB art. 9 / issue 9: an ended eligibility's 2503 filing is ended — cancelled (2504) now
    if accepted, withdrawn if never sent, or cancelled by the worker once it is accepted.

    Returns (cancellation filing or None, note). A physician or officer who is not a platform
    sender has the system send the 2504 on their behalf; the audit event names them.
    """
    filing = eligibility.filing
    if filing is None:
        return None, "无已受理的备案，无需撤销"
    sender = actor if can_send(actor, eligibility.hospital) else None
    return filing_withdraw(actor=sender, filing=filing, reason=reason)


def next_application_no(today: date) -> str:
    """The next application number of the day (SQ + date + sequence), the day's row locked."""
    seq, _ = ApplicationNumberSequence.objects.select_for_update().get_or_create(day=today)
    seq.last += 1
    seq.save(update_fields=["last"])
    return f"SQ{today:%Y%m%d}{seq.last:05d}"
