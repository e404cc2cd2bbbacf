"""The outside systems answered in this process: the bundled simulators, handed down at start-up.

The simulators sit above integration (they reuse its envelope, crypto and wire formats), so
integration does not import them: ``SimulatorsConfig.ready()`` registers each simulator's
``handle`` here, and the simulator transports call it when no address of the real system is set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[..., dict[str, Any]]


class NoAnswer(Exception):
    """The system in this process gave no answer at all (a simulator's timeout switch)."""


_handlers: dict[str, Handler] = {}


def in_process_register(system: str, handler: Handler) -> None:
    """Answer ``system`` ("nhsa": ``handle(envelope)``; "rxcentre": ``handle(api, request)``)."""
    _handlers[system] = handler


def in_process_handler(system: str) -> Handler:
    return _handlers[system]
