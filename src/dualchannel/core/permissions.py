"""Role checks shared by services, selectors, the API and pages."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import PermissionDenied
from .models import User


def require_role(actor: User | None, *roles: str) -> None:
    """Refuse unless the actor holds one of ``roles`` (admins hold every role)."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise PermissionDenied("unauthenticated", "请先登录")
    if actor.is_superuser:
        return
    if not actor.role_set.intersection(roles):
        raise PermissionDenied()


def has_any_role(actor: User | None, roles: Iterable[str]) -> bool:
    if actor is None or not actor.is_authenticated:
        return False
    return actor.is_superuser or bool(actor.role_set.intersection(roles))
