"""Two or more requests at the same moment, for the PostgreSQL race tests.

Each call runs in its own thread, so on its own database connection (closed after), and all are
released together by a barrier: the row locks, not the test's timing, decide who waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection

from dualchannel.core.errors import DomainError


def _race(calls: tuple[Callable[[], Any], ...], outcome: Callable[[Callable], str]) -> list[str]:
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(call) -> None:
        try:
            barrier.wait(timeout=10)
            result = outcome(call)
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == len(calls), "a call neither returned nor refused: see the log"
    return sorted(outcomes)


def _returned_or_raised(call) -> str:
    try:
        return repr(call())
    except Exception as exc:  # the outcome under test: which one lost, and how
        return type(exc).__name__


def _ok_or_code(call) -> str:
    try:
        call()
    except DomainError as exc:
        return exc.code
    return "ok"


def race(*calls: Callable[[], Any]) -> list[str]:
    """The calls at once; sorted, what each returned (``repr``) or the class of what it raised."""
    return _race(calls, _returned_or_raised)


def race_codes(*calls: Callable[[], Any]) -> list[str]:
    """The calls at once; sorted, "ok" or the code of the ``DomainError`` each was refused with
    (anything else fails the test)."""
    return _race(calls, _ok_or_code)
