"""Request-level hardening: session lifetime, two-factor sign-in, staff-only API docs, and a
lockout that also counts one address's failures across usernames.

Two-factor sign-in (TOTP, django-otp) is required of agency officers and administrators
(superusers, staff and the admin role), as 等保 level 3 asks of systems holding personal health
and insurance data. Until the second factor is given, pages redirect to enrolment or
verification and the API refuses the session (``auth.otp_required``); the token endpoint asks
for an ``otp`` field. Demo users (``User.otp_exempt``) are let through only while DEMO_MODE is on.
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlencode, urlsplit

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.db.models import Sum
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.plugins.otp_totp.models import TOTPDevice

from .calendar import calendar_notice
from .roles import Role

SESSION_STARTED = "dc_session_started"
SESSION_SEEN = "dc_session_seen"
# The last-activity stamp is written at most this often, not on every request.
SEEN_RESOLUTION_SECONDS = 60

# Pages an officer may open before giving the second factor.
OPEN_URL_NAMES = ("login", "logout", "otp-verify", "otp-setup")


# --- Session lifetime ------------------------------------------------------------------------


@receiver(user_logged_in)
def _stamp_login(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SESSION_STARTED] = now
        request.session[SESSION_SEEN] = now


def session_expiry(session) -> str | None:
    """``"idle"`` or ``"absolute"`` when a signed-in session has run out, else None."""
    now = time.time()
    started = session.get(SESSION_STARTED)
    seen = session.get(SESSION_SEEN)
    if seen is not None and now - seen > settings.SESSION_IDLE_MINUTES * 60:
        return "idle"
    if started is not None and now - started > settings.SESSION_ABSOLUTE_HOURS * 3600:
        return "absolute"
    return None


EXPIRY_MESSAGES = {
    "idle": "您已超过 {minutes} 分钟未操作，为保护数据安全已自动退出，请重新登录。",
    "absolute": "本次登录已超过 {hours} 小时，请重新登录。",
}


class SessionLifetimeMiddleware:
    """Signs a page session out after SESSION_IDLE_MINUTES without a request and, in any case,
    SESSION_ABSOLUTE_HOURS after login. Pages go to the login page with a message; an API call
    continues unauthenticated, so a session-only endpoint answers 401 in the error shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            expired = session_expiry(request.session)
            if expired is not None:
                logout(request)
                if not request.path.startswith("/api/"):
                    return self._to_login(request, expired)
            else:
                now = time.time()
                request.session.setdefault(SESSION_STARTED, now)
                seen = request.session.get(SESSION_SEEN)
                if seen is None or now - seen >= SEEN_RESOLUTION_SECONDS:
                    request.session[SESSION_SEEN] = now
        return self.get_response(request)

    def _to_login(self, request: HttpRequest, expired: str) -> HttpResponse:
        messages.warning(
            request,
            EXPIRY_MESSAGES[expired].format(
                minutes=settings.SESSION_IDLE_MINUTES, hours=settings.SESSION_ABSOLUTE_HOURS
            ),
        )
        return _redirect(request, reverse(settings.LOGIN_URL))


# --- Two-factor sign-in ----------------------------------------------------------------------


def second_factor_required(user) -> bool:
    """Whether this user must give a TOTP code after the password."""
    if not getattr(user, "is_authenticated", False):
        return False
    if settings.DEMO_MODE and user.otp_exempt:
        return False
    return (
        user.is_superuser
        or user.is_staff
        or user.has_role(Role.AGENCY_OFFICER)
        or user.has_role(Role.ADMIN)
    )


def second_factor_satisfied(user) -> bool:
    """True unless the user needs the second factor and this session has not given it."""
    if not second_factor_required(user):
        return True
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def second_factor_redirect(request: HttpRequest) -> HttpResponse:
    """To verification when the user has an authenticator, else to enrolment."""
    name = "otp-verify" if confirmed_device(request.user) is not None else "otp-setup"
    return _redirect(request, reverse(name))


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """Redirect a page, or tell htmx to, keeping the page the user wanted as ``next``."""
    if request.headers.get("HX-Request"):
        wanted = request.headers.get("HX-Current-URL", "")
        target = f"{url}?{urlencode({'next': _local_path(wanted)})}" if wanted else url
        return HttpResponse(status=204, headers={"HX-Redirect": target})
    if request.method in ("GET", "HEAD"):
        return redirect_to_login(request.get_full_path(), login_url=url)
    return redirect(url)


def _local_path(url: str) -> str:
    """The path and query of an absolute URL of this site (HX-Current-URL is absolute)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class SecondFactorMiddleware:
    """Until an officer or administrator has given the second factor, every page but login,
    logout and the two-factor pages leads there. API calls are refused by ``core.auth``."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._open_paths: frozenset[str] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not self._is_open(request.path_info)
            and not second_factor_satisfied(user)
        ):
            return second_factor_redirect(request)
        return self.get_response(request)

    def _is_open(self, path: str) -> bool:
        if self._open_paths is None:
            self._open_paths = frozenset(reverse(name) for name in OPEN_URL_NAMES)
        static = "/" + settings.STATIC_URL.lstrip("/")
        return path in self._open_paths or path.startswith(("/api/", static))


class SecondFactorAdminSite(admin.AdminSite):
    """The admin site, for staff who have given the second factor (as django-otp's
    OTPAdminSite), signing in through the site's own login page and its lockout."""

    index_template = "core/admin_index.html"  # the admin index with the calendar's banner

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and second_factor_satisfied(request.user)

    def index(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        notice = calendar_notice(request.user, timezone.localdate())
        return super().index(request, {**(extra_context or {}), "calendar_notice": notice})

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if request.user.is_authenticated and not second_factor_satisfied(request.user):
            return second_factor_redirect(request)
        target = request.GET.get("next") or reverse("admin:index")
        return redirect_to_login(target, login_url=reverse(settings.LOGIN_URL))


# --- API docs --------------------------------------------------------------------------------


def api_docs_guard(view):
    """Ninja ``docs_decorator``: the Swagger page and openapi.json are open in DEBUG/DEMO_MODE
    (API_DOCS_PUBLIC) and otherwise only for signed-in staff who have given the second factor."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs):
        if settings.API_DOCS_PUBLIC:
            return view(request, *args, **kwargs)
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse(settings.LOGIN_URL))
        if not second_factor_satisfied(user):
            return second_factor_redirect(request)
        if not user.is_staff:
            return JsonResponse(
                {
                    "error": {
                        "code": "auth.staff_only",
                        "message": "接口文档仅对后台管理人员开放",
                        "fields": {},
                    }
                },
                status=403,
            )
        return view(request, *args, **kwargs)

    return guarded


# --- Lockout ---------------------------------------------------------------------------------


class AddressAwareAxesHandler(AxesDatabaseHandler):
    """django-axes counts failures per username and address (AXES_FAILURE_LIMIT), so nobody can
    lock a colleague out from elsewhere; this also locks an address that failed
    AXES_IP_FAILURE_LIMIT times in the cool-off period across any usernames (password spraying).
    """

    def get_failures(self, request, credentials=None) -> int:
        failures = super().get_failures(request, credentials)
        address = getattr(request, "axes_ip_address", None)
        if not address:
            return failures
        attempts = AccessAttempt.objects.filter(ip_address=address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        from_address = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
        if from_address >= settings.AXES_IP_FAILURE_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures


def go_next(request: HttpRequest, default: str = "home") -> HttpResponse:
    """Redirect to ``next`` when it is a path of this site, else to ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)
