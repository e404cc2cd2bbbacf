"""Scheduled work of the prescriptions app. Logs carry counts only."""

from __future__ import annotations

import logging
from datetime import time, timedelta

from dualchannel.core.jobs import periodic, slot_date

from .services import (
    circulation,  # noqa: F401  (registers the e-prescription-centre job)
    orders_expire,
    prescriptions_expire,
)

logger = logging.getLogger("dualchannel.prescriptions")


@periodic("prescriptions.expire", at=time(0, 10))
def expire_prescriptions(job) -> None:
    """Every night: open prescriptions past their validity become expired."""
    expired = prescriptions_expire(today=slot_date(job))
    logger.info("prescriptions expired: %s", expired)


@periodic("prescriptions.orders_expire", every=timedelta(minutes=5))
def expire_orders(job) -> None:
    """Every five minutes: online orders whose hold ran out expire and give their boxes back."""
    expired = orders_expire()
    logger.info("online orders expired: %s", expired)
