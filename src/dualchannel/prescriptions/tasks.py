"""Scheduled work of the prescriptions app. Logs carry counts only."""

from __future__ import annotations

import logging
from datetime import time

from dualchannel.core.jobs import job_handler, periodic, slot_date

from .services import (
    circulation,  # noqa: F401  (registers the e-prescription-centre job)
    orders_expire,
    prescriptions_expire,
)
from .services.orders import ORDER_EXPIRE_JOB, order_expire

logger = logging.getLogger("dualchannel.prescriptions")


@periodic("prescriptions.expire", at=time(0, 10))
def expire_prescriptions(job) -> None:
    """Every night: open prescriptions past their validity become expired."""
    expired = prescriptions_expire(today=slot_date(job))
    logger.info("prescriptions expired: %s", expired)


@job_handler(ORDER_EXPIRE_JOB, label="网上订单到期释放库存")
def expire_order(job) -> None:
    """At the order's hold_until: still waiting, it expires and its boxes go back to sale."""
    order_expire(order_id=job.payload["order_id"])


@periodic("prescriptions.orders_expire", at=time(0, 20))
def expire_orders(job) -> None:
    """Every night: any order past its hold that its own job missed."""
    expired = orders_expire()
    logger.info("online orders expired: %s", expired)
