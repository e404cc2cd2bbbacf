"""Scheduled work of analytics (core.jobs): the Shandong monthly table's reminder on the 5th and
late flag on the 11th (calendar days) [SD §10], and the statistics' rollups brought up to date
every five minutes (issue 13). Logs carry counts only."""

from __future__ import annotations

import logging
from datetime import time, timedelta

from dualchannel.core.jobs import periodic, slot_date

from .rollups import refresh_all
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


@periodic("analytics.rollup_refresh", every=timedelta(minutes=5))
def rollup_refresh(job) -> None:
    result = refresh_all()
    logger.info(
        "rollups: %s settlements, %s reversals; prescriptions %s issued, %s routed; %s dispensings",
        result.settlements,
        result.reversals,
        result.issued,
        result.routed,
        result.dispensings,
    )
