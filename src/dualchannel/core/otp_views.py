"""The second sign-in step for officers and administrators: enrol an authenticator app (TOTP),
then give its six-digit code after each password login."""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import urlencode

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp import verify_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import audit
from .security import confirmed_device, go_next, second_factor_required

WRONG_CODE = "动态口令不正确，请查看身份验证器中的最新 6 位数字。"
THROTTLED = "尝试次数过多，请稍等片刻后再试。"


def _code(request: HttpRequest) -> str:
    return "".join(request.POST.get("token", "").split())


def _done(request: HttpRequest, device: TOTPDevice) -> HttpResponse:
    otp_login(request, device)
    # A new session key for the stronger sign-in, as for the password login.
    request.session.cycle_key()
    return go_next(request)


@never_cache
@login_required
def otp_verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not second_factor_required(user) or user.is_verified():
        return go_next(request)
    device = confirmed_device(user)
    if device is None:
        return _other_step(request, "otp-setup")
    error = ""
    if request.method == "POST":
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            error = THROTTLED
        elif verify_token(user, device.persistent_id, _code(request)) is not None:
            return _done(request, device)
        else:
            error = WRONG_CODE
    return TemplateResponse(
        request, "core/otp_verify.html", {"error": error, "next": _next(request)}
    )


@never_cache
@login_required
def otp_setup(request: HttpRequest) -> HttpResponse:
    """Enrolment, only while the user has no confirmed authenticator: a second device needs the
    first one (or an administrator), never just the password."""
    user = request.user
    if not second_factor_required(user) or user.is_verified():
        return go_next(request)
    if confirmed_device(user) is not None:
        return _other_step(request, "otp-verify")
    # The same secret across reloads until it is confirmed.
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="身份验证器", confirmed=False)
    error = ""
    if request.method == "POST":
        if not device.verify_is_allowed()[0]:
            error = THROTTLED
        elif device.verify_token(_code(request)):
            with transaction.atomic():
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                TOTPDevice.objects.filter(user=user, confirmed=False).delete()
                audit.record(
                    actor=user,
                    action="auth.otp_enrolled",
                    subject=user,
                    summary={"device": "totp"},
                )
            messages.success(request, "已绑定身份验证器，今后登录时请输入其中的动态口令。")
            return _done(request, device)
        else:
            error = WRONG_CODE
    secret = b32encode(device.bin_key).decode()
    return TemplateResponse(
        request,
        "core/otp_setup.html",
        {
            "error": error,
            "next": _next(request),
            "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
            "qr_data_uri": segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2),
        },
    )


def _other_step(request: HttpRequest, name: str) -> HttpResponse:
    wanted = _next(request)
    return redirect(f"{reverse(name)}?{urlencode({'next': wanted})}" if wanted else name)


def _next(request: HttpRequest) -> str:
    return request.POST.get("next") or request.GET.get("next") or ""
