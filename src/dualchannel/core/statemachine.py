"""Explicit state machines: one table of allowed transitions per entity, checked in one place."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import models

from .errors import Conflict


class StateMachine:
    """Allowed edges between the values of a ``TextChoices`` status."""

    def __init__(
        self,
        status: type[models.TextChoices],
        edges: Mapping[str, set[str] | frozenset[str]],
        *,
        error_code: str,
    ) -> None:
        unknown = {s for s in edges} | {t for targets in edges.values() for t in targets}
        unknown -= set(status.values)
        if unknown:
            raise ValueError(f"unknown statuses in transition table: {sorted(unknown)}")
        self.status = status
        self.edges = {source: frozenset(targets) for source, targets in edges.items()}
        self.error_code = error_code

    def allowed_from(self, current: str) -> frozenset[str]:
        return self.edges.get(current, frozenset())

    def can(self, current: str, target: str) -> bool:
        return target in self.allowed_from(current)

    def check(self, current: str, target: str) -> None:
        if not self.can(current, target):
            labels = dict(self.status.choices)
            raise Conflict(
                self.error_code,
                f"不允许从「{labels.get(current, current)}」变更为「{labels.get(target, target)}」",
            )
