"""Scheduled re-evaluation work [HB art. 9] (core.jobs): the reminder when the window opens and
the suspension the day after a missed deadline. Logs carry ids and counts only."""

from __future__ import annotations

import logging
from datetime import time

from dualchannel.core.jobs import periodic, slot_date

from .services.reevaluation_deadlines import (
    flag_overdue_reevaluations,
    send_reevaluation_reminders,
    suspend_overdue,
)

logger = logging.getLogger("dualchannel.eligibility")


@periodic("eligibility.reevaluation_reminders", at=time(8, 0))
def reevaluation_reminders(job) -> None:
    sent = send_reevaluation_reminders(today=slot_date(job))
    logger.info("reevaluation reminders sent: %s", sent)


@periodic("eligibility.suspend_overdue", at=time(0, 5))
def suspend_overdue_eligibilities(job) -> None:
    suspended = suspend_overdue(today=slot_date(job))
    logger.info("overdue eligibilities suspended: %s", suspended)


@periodic("eligibility.flag_overdue_reevaluations", at=time(0, 15))
def flag_late_reevaluations(job) -> None:
    flagged = flag_overdue_reevaluations(today=slot_date(job))
    logger.info("overdue re-evaluations flagged: %s", flagged)
