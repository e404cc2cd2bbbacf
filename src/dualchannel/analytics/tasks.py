"""Scheduled work of the Shandong monthly table [SD §10] (core.jobs): the reminder on the 5th
and the late flag on the 11th (calendar days). Logs carry counts only."""

from __future__ import annotations

import logging
from datetime import time

from dualchannel.core.jobs import periodic, slot_date

from .services import flag_late_submissions, send_monthly_reminders

logger = logging.getLogger("dualchannel.analytics")


@periodic("analytics.sd_monthly_reminders", at=time(8, 30))
def sd_monthly_reminders(job) -> None:
    sent = send_monthly_reminders(today=slot_date(job))
    logger.info("monthly table reminders sent: %s", sent)


@periodic("analytics.sd_monthly_flag_late", at=time(0, 30))
def sd_monthly_flag_late(job) -> None:
    flagged = flag_late_submissions(today=slot_date(job))
    logger.info("late monthly tables flagged: %s", flagged)
