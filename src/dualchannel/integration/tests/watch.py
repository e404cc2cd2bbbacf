"""Test helpers: the bundled simulators behind transports that note where they are called from.

A handler that calls another system must hold no transaction (and so no row lock) while it
waits for the answer. ``WatchedPlatform`` / ``WatchedRxCentre`` record, for every request,
whether an atomic block was open on this thread's connection (in a transactional test there is
no test block, so any open block is the code's own), and can run a hook while "the other system
is answering" — a person's action, or another connection trying to lock the row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, connection, transaction

from dualchannel.integration.nhsa.transport import SimulatorTransport as PlatformSimulator
from dualchannel.integration.rxcentre.transport import SimulatorTransport as RxCentreSimulator

Hook = Callable[[], Any]


class WorkerDied(BaseException):
    """The worker's process ends here (not an ``Exception``: the job runner does not catch it)."""


class WatchedPlatform(PlatformSimulator):
    """The platform simulator; ``during[infno]`` runs while that request is at the platform,
    ``die_after`` ends the worker once, after the platform took the request."""

    def __init__(self, *, during: dict[str, Hook] | None = None, die_after: str = "") -> None:
        super().__init__()
        self.calls: list[tuple[str, bool]] = []
        self.seen: dict[str, Any] = {}
        self.during = during or {}
        self.die_after = die_after

    def send(self, envelope: dict[str, Any]) -> dict[str, Any]:
        infno = envelope["infno"]
        self.calls.append((infno, connection.in_atomic_block))
        if infno in self.during:
            self.seen[infno] = self.during[infno]()
        answer = super().send(envelope)
        if infno == self.die_after:
            self.die_after = ""
            raise WorkerDied()
        return answer


class WatchedRxCentre(RxCentreSimulator):
    """The e-prescription-centre simulator; ``during[api]`` runs while that request is there."""

    def __init__(self, *, during: dict[str, Hook] | None = None) -> None:
        super().__init__()
        self.calls: list[tuple[str, bool]] = []
        self.seen: dict[str, Any] = {}
        self.during = during or {}

    def send(self, api: str, request: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((api, connection.in_atomic_block))
        if api in self.during:
            self.seen[api] = self.during[api]()
        return super().send(api, request)


def watch_platform(monkeypatch, **kwargs) -> WatchedPlatform:
    watched = WatchedPlatform(**kwargs)
    monkeypatch.setattr("dualchannel.integration.nhsa.client.default_transport", lambda: watched)
    return watched


def watch_rx_centre(monkeypatch, **kwargs) -> WatchedRxCentre:
    watched = WatchedRxCentre(**kwargs)
    monkeypatch.setattr(
        "dualchannel.integration.rxcentre.client.default_transport", lambda: watched
    )
    return watched


def lock_from_another_connection(model, pk) -> str:
    """``SELECT … FOR UPDATE NOWAIT`` of the row on another connection (another thread):
    ``"locked"`` if it got the lock at once, else the error's type (the row was held)."""
    outcome: dict[str, str] = {}

    def other() -> None:
        try:
            with transaction.atomic():
                model.objects.select_for_update(nowait=True).get(pk=pk)
            outcome["result"] = "locked"
        except DatabaseError as exc:
            outcome["result"] = type(exc).__name__
        finally:
            connection.close()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=30)
    return outcome.get("result", "timeout")
