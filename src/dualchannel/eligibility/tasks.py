"""Scheduled re-evaluation work [HB art. 9] (core.jobs): the reminder when the window opens and
the suspension the day after a missed deadline. Logs carry ids and counts only."""

from __future__ import annotations

import logging
from datetime import date, datetime, time

from django.utils import timezone

from dualchannel.core.jobs import SHANGHAI, periodic

from .reevaluation import send_reevaluation_reminders, suspend_overdue

logger = logging.getLogger("dualchannel.eligibility")


def _slot_date(job) -> date:
    """The Shanghai date of the job's slot (the day it was scheduled for), else today."""
    slot = (getattr(job, "payload", None) or {}).get("slot")
    if slot:
        try:
            return datetime.fromisoformat(slot).astimezone(SHANGHAI).date()
        except ValueError:
            pass
    return timezone.localdate()


@periodic("eligibility.reevaluation_reminders", at=time(8, 0))
def reevaluation_reminders(job) -> None:
    sent = send_reevaluation_reminders(today=_slot_date(job))
    logger.info("reevaluation reminders sent: %s", sent)


@periodic("eligibility.suspend_overdue", at=time(0, 5))
def suspend_overdue_eligibilities(job) -> None:
    suspended = suspend_overdue(today=_slot_date(job))
    logger.info("overdue eligibilities suspended: %s", suspended)
