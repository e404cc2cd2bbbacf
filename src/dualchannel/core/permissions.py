"""Role checks shared by services, selectors, the API and pages: ``require_role`` for services,
``role_required`` for pages, ``actor_role`` for the audit ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from .errors import PermissionDenied
from .models import User
from .roles import Role

# The order in which a user holding several roles is named in the audit ledger.
ROLE_ORDER = (
    Role.PHYSICIAN,
    Role.REVIEWER,
    Role.PHARMACIST,
    Role.AGENCY_OFFICER,
    Role.PATIENT,
    Role.ADMIN,
)


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


def actor_role(actor: User | None, *roles: str) -> str:
    """The role an action is recorded under in the audit ledger: ``admin`` for a superuser, else
    the first of ``roles`` (by default every role, in ``ROLE_ORDER``) the actor holds; "" for
    none (a job, or a user without any of them).

    A module whose actions are all done in one role names it (``actor_role(actor,
    Role.PHARMACIST)``), after ``require_role`` has checked it.
    """
    if actor is None:
        return ""
    if actor.is_superuser:
        return Role.ADMIN
    held = actor.role_set
    return next((role for role in roles or ROLE_ORDER if role in held), "")


def role_required(*roles: str, login_url: str | None = None) -> Callable:
    """A page for ``roles`` only (admins pass too): an anonymous visitor is sent to the login
    page (``login_url``, a URL name or path; ``settings.LOGIN_URL`` by default), any other role
    gets the 403 page, also on a POST or an htmx request. Scope is the selectors' job: 404."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), login_url=login_url)
            if not has_any_role(request.user, roles):
                return TemplateResponse(
                    request, "core/error.html", {"error": PermissionDenied()}, status=403
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
