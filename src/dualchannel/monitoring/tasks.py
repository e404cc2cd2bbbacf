"""Monitoring jobs (core.jobs): the nightly run of every region's rules over the month so far,
and the follow-up run queued after an event (``engine.monitoring_follow``). Logs carry region
codes and counts only."""

from __future__ import annotations

import logging
from datetime import date, time, timedelta

from dualchannel.core.jobs import job_handler, periodic, slot_date
from dualchannel.core.months import month_start
from dualchannel.registry.models import Institution, Region

from .engine import INCREMENTAL_JOB, pooling_region_code, rules_run

logger = logging.getLogger("dualchannel.monitoring")


def pooling_regions() -> list[Region]:
    """The pooling regions that have institutions (their city, or the city-level unit)."""
    codes = {
        pooling_region_code(code)
        for code in Institution.objects.values_list("region_id", flat=True).distinct()
    }
    return list(Region.objects.filter(code__in=codes).order_by("code"))


def nightly_run(day: date) -> int:
    """Every region's rules over the month of ``day`` up to ``day`` (the night after it)."""
    found = 0
    for region in pooling_regions():
        found += rules_run(region, month_start(day), day)
    return found


@periodic("monitoring.nightly", at=time(1, 30))
def monitoring_nightly(job) -> None:
    day = slot_date(job) - timedelta(days=1)  # the night after: the whole of yesterday
    logger.info("monitoring nightly run: %s findings", nightly_run(day))


@job_handler(INCREMENTAL_JOB, label="智能监控：按业务事件检查")
def monitoring_follow_run(job) -> None:
    payload = job.payload or {}
    region = Region.objects.filter(code=payload.get("region", "")).first()
    if region is None:
        return
    day = date.fromisoformat(payload["day"])
    found = rules_run(region, month_start(day), day, keys=list(payload.get("keys") or []))
    logger.info("monitoring follow-up for region %s: %s findings", region.code, found)
