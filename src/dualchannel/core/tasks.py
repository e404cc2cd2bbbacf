"""The worker checkpoints the audit streams' heads outside the database (core.audit).

Every ``AUDIT_CHECKPOINT_MINUTES`` (0: never, the default in tests). Logs carry counts and
stream names (institution ids) only.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings

from . import audit
from .jobs import periodic

logger = logging.getLogger("dualchannel.audit")

CHECKPOINT_TASK = "core.audit_checkpoint"


def audit_checkpoint(job) -> None:
    run = audit.write_checkpoint()
    logger.info("audit checkpoint: %s stream(s) written", len(run.written))
    for refused in run.refused:
        # The stream no longer agrees with its last checkpoint: someone changed the ledger.
        logger.error("audit checkpoint refused: %s", refused)


def register_checkpoint_task(minutes: int) -> None:
    if minutes > 0:
        periodic(CHECKPOINT_TASK, every=timedelta(minutes=minutes))(audit_checkpoint)


register_checkpoint_task(settings.AUDIT_CHECKPOINT_MINUTES)
