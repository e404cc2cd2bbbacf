"""Scheduled work of the prescriptions app. Logs carry counts only."""

from __future__ import annotations

import logging
from datetime import time

from dualchannel.core.jobs import periodic, slot_date

from .services import (
    circulation,  # noqa: F401  (registers the e-prescription-centre job)
    prescriptions_expire,
)

logger = logging.getLogger("dualchannel.prescriptions")


@periodic("prescriptions.expire", at=time(0, 10))
def expire_prescriptions(job) -> None:
    """Every night: open prescriptions past their validity become expired."""
    expired = prescriptions_expire(today=slot_date(job))
    logger.info("prescriptions expired: %s", expired)
