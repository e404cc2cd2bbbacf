from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.template.response import TemplateResponse

from .errors import DomainError, NotFound
from .roles import Role


class LoginForm(AuthenticationForm):
    username = forms.CharField(label="用户名", max_length=150)
    password = forms.CharField(label="密码", strip=False, widget=forms.PasswordInput)
    error_messages = {
        "invalid_login": "用户名或密码错误。",
        "inactive": "该账户已停用。",
    }


# Where each role starts after login, first match wins.
ROLE_HOME = [
    (Role.AGENCY_OFFICER, "agency-home"),
    (Role.ADMIN, "admin:index"),
    (Role.PATIENT, "portal-home"),
    (Role.PHARMACIST, "pharmacy-home"),
    (Role.PHYSICIAN, "eligibility-doctor"),
    (Role.REVIEWER, "eligibility-review"),
]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_superuser:
        return redirect("admin:index")
    for role, url_name in ROLE_HOME:
        if request.user.has_role(role):
            return redirect(url_name)
    return TemplateResponse(request, "core/home.html", {})


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return TemplateResponse(request, "core/error.html", {"error": NotFound()}, status=404)


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes lockout answer: the API's error shape for API calls, a page otherwise."""
    error = DomainError(
        "auth.locked_out", "登录失败次数过多，账户已临时锁定，请稍后再试", status=429
    )
    if request.path.startswith("/api/"):
        return JsonResponse(error.as_dict(), status=429)
    # A plain rendered response: middleware answers after the view, so nothing would render it.
    return render(request, "core/locked_out.html", {"error": error}, status=429)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form from a stale page (signed out or in again since it was opened,
    or the session expired). Nothing was written; say so in words people understand."""
    error = DomainError(
        "auth.csrf_failed",
        "页面已过期或登录状态已变化，本次提交未保存。请刷新页面（必要时重新登录）后再提交。",
        status=403,
    )
    if request.path.startswith("/api/"):
        return JsonResponse(error.as_dict(), status=403)
    return render(
        request,
        "core/error.html",
        {"error": error, "login_url": f"{resolve_url(settings.LOGIN_URL)}?next={request.path}"},
        status=403,
    )
