"""For tests of "network first, then lock": what held while the platform was being called."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.db.models import Model

from dualchannel.integration.nhsa.client import PlatformClient


@dataclass(frozen=True)
class Seen:
    infno: str
    in_transaction: bool  # the caller had a transaction open
    lockable: bool | None  # another connection could lock the row at once (None: not PostgreSQL)


def lockable_elsewhere(model: type[Model], pk: int) -> bool | None:
    """PostgreSQL: can another connection take the row's lock at once (FOR UPDATE NOWAIT)?"""
    if connection.vendor != "postgresql":
        return None  # SQLite has no row locks
    result: list[bool] = []

    def try_lock() -> None:
        try:
            with transaction.atomic():
                model.objects.select_for_update(nowait=True).get(pk=pk)
            result.append(True)
        except DatabaseError:
            result.append(False)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=try_lock)
    thread.start()
    thread.join(timeout=30)
    return result[0] if result else False


def watch_platform(
    monkeypatch,
    model: type[Model],
    pk: int,
    *,
    infnos: tuple[str, ...],
    during: Callable[[str], None] | None = None,
) -> list[Seen]:
    """Record, for every ``PlatformClient.call`` of ``infnos``, whether a transaction was open
    and whether the row ``model``/``pk`` could be locked elsewhere; ``during(infno)`` then runs
    before the call goes out (someone else acting while the platform answers; its own calls are
    not watched)."""
    seen: list[Seen] = []
    original = PlatformClient.call
    others: list[bool] = []  # set while ``during`` runs

    def call(self, infno, input, **kwargs):
        if infno in infnos and not others:
            seen.append(Seen(infno, connection.in_atomic_block, lockable_elsewhere(model, pk)))
            if during is not None:
                others.append(True)
                try:
                    during(infno)
                finally:
                    others.clear()
        return original(self, infno, input, **kwargs)

    monkeypatch.setattr(PlatformClient, "call", call)
    return seen
