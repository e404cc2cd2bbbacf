"""API authentication: bearer tokens (programs) or the page session (htmx calls from pages)."""

from __future__ import annotations

from django.db.models import Aggregate, CharField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer

from .errors import DomainError
from .models import ApiToken, ReferenceVersion, RoleGrant, User
from .queries import CompiledRead
from .security import second_factor_satisfied

ROLE_SEPARATOR = ","  # role codes are identifiers (core.roles.Role): never a comma


class _Joined(Aggregate):
    """The strings of a group joined with ``ROLE_SEPARATOR``: ``STRING_AGG`` on PostgreSQL,
    ``GROUP_CONCAT`` on SQLite (Django 5.2 has no backend-neutral string aggregate)."""

    function = "STRING_AGG"
    template = f"%(function)s(%(expressions)s, '{ROLE_SEPARATOR}')"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="GROUP_CONCAT", **extra_context)


def _roles_of_user():
    """The user's role codes, joined, as a subquery of the token's statement."""
    grants = (
        RoleGrant.objects.filter(user_id=OuterRef("user_id"))
        .order_by()
        .values("user_id")
        .annotate(joined=_Joined("role"))
        .values("joined")
    )
    return Subquery(grants, output_field=CharField())


def _reference_versions():
    """The reference tables' versions (``core.refcache``) as ``name:version,…``, a subquery of
    the token's statement: the counter's services then need not read them again."""
    entry = Concat("name", Value(":"), Cast("version", CharField()), output_field=CharField())
    joined = (
        ReferenceVersion.objects.order_by()
        .values(one=Value(1))  # no GROUP BY: one row over the whole table
        .annotate(joined=_Joined(entry))
        .values("joined")
    )
    return Subquery(joined, output_field=CharField())


def reference_versions(request: HttpRequest) -> dict[str, int] | None:
    """The versions read with the request's bearer token, else None (a page session)."""
    return getattr(request, "reference_versions", None)


_TOKEN = CompiledRead(
    lambda digest: (
        ApiToken.objects.select_related("user")
        .annotate(user_roles=_roles_of_user(), versions=_reference_versions())
        .filter(digest=digest, revoked_at__isnull=True)
        .order_by()[:1]
    ),
    str,
)


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        # the token, its user and the user's roles in one statement: every API call checks a
        # role, and the roles are read here rather than once more by ``User.role_set``
        found = _TOKEN.one(ApiToken.digest_of(token))
        if found is None or found.expires_at <= timezone.now() or not found.user.is_active:
            return None
        roles = found.user_roles.split(ROLE_SEPARATOR) if found.user_roles else ()
        found.user.remember_roles(roles)
        request.user = found.user
        request.api_token = found
        request.reference_versions = {
            name: int(version)
            for name, _, version in (
                entry.rpartition(":") for entry in (found.versions or "").split(ROLE_SEPARATOR)
            )
            if name
        }
        return found.user


class SessionAuth(APIKeyCookie):
    """The logged-in page session, with Django's CSRF check on unsafe methods."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            if not second_factor_satisfied(user):
                raise DomainError("auth.otp_required", "请先完成动态口令验证", status=401)
            return user
        return None


api_auth = [BearerToken(), SessionAuth()]
