"""API authentication: bearer tokens (programs) or the page session (htmx calls from pages)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer

from .errors import DomainError
from .models import ApiToken, User
from .security import second_factor_satisfied


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = (
            ApiToken.objects.select_related("user")
            .filter(digest=ApiToken.digest_of(token), revoked_at__isnull=True)
            .first()
        )
        if found is None or found.expires_at <= timezone.now() or not found.user.is_active:
            return None
        request.user = found.user
        request.api_token = found
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
