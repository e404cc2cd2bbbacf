"""Explicit state machines, and the one function that moves any of them: ``transition``.

A stateful model declares its machine beside it, in its app's ``models.py``::

    APPLICATION_MACHINE = StateMachine(
        ApplicationStatus,
        {...},                                   # the allowed edges
        error_code=codes.TRANSITION,
        model=Application,                       # binds the machine to the model
        history=ApplicationTransition,           # a core.models.StatusHistory subclass
        history_fk="application",
        audit_action="eligibility.application_{to}",
        patient=lambda application: application.patient,
        summary=lambda a, from_, to: {"application_no": a.application_no, "from": from_, "to": to},
    )

``transition(obj, to, actor=..., reason=..., **facts)`` then needs nothing else: it checks the
edge, sets the status (and the machine's ``stamp`` fields), saves, writes the history row and the
audit event with ``facts`` added to its summary. Core imports no app: the app passes its classes
in, and the machine registers itself as Django imports the app's models at start-up. The caller
queues the patient's notice after the move (notifications are not core's). A model with several
machines (a designation: institution or physician; a delivery: one per mode) gives each a
``when`` that says which of its rows it moves.

Locking: the caller locks the row (``select_for_update`` in the order of ``core.locks``) before
it reads what it decides on, because the checks before the move (who may act, the business rule)
need the locked row as much as the move does. ``transition`` refuses to run outside a business
transaction (a cheap check that catches a move made with no lock at all); it cannot tell cheaply
whether this row was locked (Django keeps no mark on an instance read ``FOR UPDATE``, and a lock
taken through a filter names no key the lock-order check could remember). It never calls the
network: ask first, then lock and move (docs/conventions.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import models

from . import audit
from .canonical import snapshot
from .errors import Conflict
from .locks import in_transaction
from .permissions import actor_role
from .queries import insert_new, update_rows

Summary = Callable[[Any, str, str], dict[str, Any]]


def _from_to(obj: Any, from_status: str, to_status: str) -> dict[str, Any]:
    return {"from": from_status, "to": to_status}


class StateMachine:
    """Allowed edges between the values of a ``TextChoices`` status, and (with ``model``) how a
    move of that model is written.

    - ``field``: the status column (``status``, ``state``, ``upload_status``).
    - ``history`` / ``history_fk``: the history table and its foreign key to the row (none: no
      history row is written).
    - ``audit_action``: the event's action, ``{to}`` replaced by the target (none: the caller
      writes the audit event of its own action).
    - ``role``: the role the event is recorded under, from the actor (default
      ``core.permissions.actor_role``); a caller may name it (``transition(..., role=...)``).
    - ``patient``: the person the event concerns; ``summary``: the event's facts from the row,
      the source and the target (default ``{"from", "to"}``), the call's ``facts`` added after.
    - ``stamp``: fields set on entering a status, from the row and the target (``published_at``).
    - ``save_fields``: saved with the status and every field ``changes`` or ``stamp`` set
      (``update_fields``); none: the whole row is saved.
    - ``reason_max``: the history row's reason is cut to this length.
    - ``when``: which rows of the model this machine moves, where the model has several.
    """

    def __init__(
        self,
        status: type[models.TextChoices],
        edges: Mapping[str, set[str] | frozenset[str]],
        *,
        error_code: str,
        model: type[models.Model] | None = None,
        field: str = "status",
        history: type[models.Model] | None = None,
        history_fk: str = "",
        audit_action: str = "",
        role: Callable[[Any], str] = actor_role,
        patient: Callable[[Any], Any] | None = None,
        summary: Summary = _from_to,
        stamp: Callable[[Any, str], dict[str, Any]] | None = None,
        save_fields: Iterable[str] | None = None,
        reason_max: int | None = None,
        when: Callable[[Any], bool] | None = None,
    ) -> None:
        unknown = {s for s in edges} | {t for targets in edges.values() for t in targets}
        unknown -= set(status.values)
        if unknown:
            raise ValueError(f"unknown statuses in transition table: {sorted(unknown)}")
        if (history is None) != (not history_fk):
            raise ValueError("a history table needs its foreign key (history_fk), and back")
        self.status = status
        self.edges = {source: frozenset(targets) for source, targets in edges.items()}
        self.error_code = error_code
        self.model = model
        self.field = field
        self.history = history
        self.history_fk = history_fk
        self.audit_action = audit_action
        self.role = role
        self.patient = patient
        self.summary = summary
        self.stamp = stamp
        self.save_fields = None if save_fields is None else tuple(save_fields)
        self.reason_max = reason_max
        self.when = when
        if model is not None:
            _MACHINES.setdefault(model, []).append(self)

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


# model → the machines declared for it (filled as the apps' models modules are imported)
_MACHINES: dict[type[models.Model], list[StateMachine]] = {}


def machines() -> dict[type[models.Model], list[StateMachine]]:
    """Every model that has a machine, with its machines."""
    return {model: list(found) for model, found in _MACHINES.items()}


def machine_of(obj: models.Model) -> StateMachine:
    """The machine that moves ``obj`` (the one whose ``when`` holds, where there are several)."""
    found = [m for m in _MACHINES.get(type(obj), ()) if m.when is None or m.when(obj)]
    if len(found) != 1:
        raise LookupError(
            f"{type(obj).__name__} has {len(found) or 'no'} state machines for this row"
        )
    return found[0]


def transition(
    obj: models.Model,
    to: str,
    *,
    actor: Any,
    reason: str = "",
    role: str | None = None,
    changes: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    **facts: Any,
) -> None:
    """Move ``obj`` to ``to``: check the edge, set the status, save, write the history row and the
    audit event (``facts`` added to its summary), all in the caller's transaction.

    The caller holds the row's lock. ``changes``: other fields of the row set with the move,
    after the audit's ``before`` snapshot (who decided, when); ``role``: the audit role when the
    caller knows it better than the machine; ``at``: the history row's time (default now).
    A refused edge raises ``Conflict`` with the machine's code and writes nothing.
    """
    machine = machine_of(obj)
    if not in_transaction():
        raise RuntimeError("a status moves inside the business transaction that locked the row")
    from_status = getattr(obj, machine.field)
    machine.check(from_status, to)
    before = snapshot(obj) if machine.audit_action else None
    changed = {**(changes or {}), **(machine.stamp(obj, to) if machine.stamp else {})}
    for name, value in changed.items():
        setattr(obj, name, value)
    setattr(obj, machine.field, to)
    if machine.save_fields is None:
        obj.save()
    else:
        fields = [machine.field, *machine.save_fields, *changed]
        update_rows([obj], list(dict.fromkeys(fields)))
    if machine.history is not None:
        row = machine.history(
            **{machine.history_fk: obj},
            from_status=from_status,
            to_status=to,
            actor=actor,
            reason=reason[: machine.reason_max] if machine.reason_max else reason,
            **({"at": at} if at is not None else {}),
        )
        insert_new([row])
    if machine.audit_action:
        audit.record(
            actor=actor,
            action=machine.audit_action.format(to=to),
            subject=obj,
            before=before,
            after=obj,
            patient=machine.patient(obj) if machine.patient else None,
            role=machine.role(actor) if role is None else role,
            summary={**machine.summary(obj, from_status, to), **facts},
        )
