"""Writes that must outlive the rollback of the caller's transaction, where they cannot be
committed apart on a second connection (SQLite admits one writer: it would wait for the caller).

``keep_after_rollback(write)`` is called inside the caller's transaction by code that has just
written a row that must stay (a monitoring alert raised by a refused action): ``write()`` checks
whether the row survived and writes it again if not. ``run_pending()`` runs the kept writes, each
in its own transaction, once no caller's transaction is open: at the end of every request
(``core.middleware.DomainErrorMiddleware``) and after a background job failed (``core.jobs``).
A write whose row survived (the caller committed after all) does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import connection, transaction

logger = logging.getLogger("dualchannel.core")

_local = threading.local()


def in_callers_transaction() -> bool:
    """Whether a caller's atomic block is open (the test runner's own blocks do not count)."""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def keep_after_rollback(write: Callable[[], None]) -> None:
    """Run ``write`` once the caller's transaction has ended (it must be idempotent)."""
    pending = getattr(_local, "pending", None)
    if pending is None:
        pending = _local.pending = []
    pending.append(write)


def run_pending() -> int:
    """Run the kept writes, if no caller's transaction is open; returns how many ran."""
    pending = getattr(_local, "pending", None)
    if not pending or in_callers_transaction():
        return 0
    _local.pending = []
    for write in pending:
        try:
            with transaction.atomic():
                write()
        except Exception:  # one lost write must not hide the answer of the request
            logger.exception("a write kept after a rollback failed")
    return len(pending)


def forget_pending() -> None:
    """Drop the kept writes of this thread (tests: one test's writes are not the next one's)."""
    _local.pending = []
