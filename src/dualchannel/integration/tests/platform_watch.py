"""For tests of "network first, then lock": what held while the platform was being called, seen
at ``PlatformClient.call`` (``watch`` sees it at the transport, and can end the worker)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Model

from dualchannel.integration.nhsa.client import PlatformClient

from .watch import lock_from_another_connection


@dataclass(frozen=True)
class Seen:
    infno: str
    in_transaction: bool  # the caller had a transaction open
    lockable: bool | None  # another connection could lock the row at once (None: not PostgreSQL)


def lockable_elsewhere(model: type[Model], pk: int) -> bool | None:
    """PostgreSQL: can another connection take the row's lock at once (FOR UPDATE NOWAIT)?"""
    if connection.vendor != "postgresql":
        return None  # SQLite has no row locks
    return lock_from_another_connection(model, pk) == "locked"


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
