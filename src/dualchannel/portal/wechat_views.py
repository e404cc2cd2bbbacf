"""The patient's account settings page (账号设置) with its WeChat section: bind through WeChat's
web authorisation (``portal.wechat``), the callback WeChat returns to, and unbind."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError

from . import wechat
from .selectors import portal_profile
from .views import patient_required


def account_page(
    request: HttpRequest, *, error: DomainError | None = None, status: int = 200
) -> HttpResponse:
    response = TemplateResponse(
        request,
        "portal/account.html",
        {
            "profile": portal_profile(request.user),
            "wechat_bound": bool(request.user.wechat_openid),
            "wechat_available": wechat.configured(),
            "error": error,
        },
        status=status,
    )
    if wechat.configured():
        # The bind form's answer redirects to WeChat: the policy's form-action must allow it.
        response._csp_update = {"form-action": [wechat.authorize_origin()]}
    return response


@require_GET
@patient_required
def portal_account(request: HttpRequest) -> HttpResponse:
    return account_page(request)


@require_POST
@patient_required
def portal_wechat_bind(request: HttpRequest) -> HttpResponse:
    """Off to WeChat's authorize page (in the WeChat browser it returns at once)."""
    try:
        target = wechat.authorize_url(request.session, user=request.user)
    except DomainError as exc:
        return account_page(request, error=exc, status=exc.status)
    return redirect(target)


@require_GET
@patient_required
def portal_wechat_callback(request: HttpRequest) -> HttpResponse:
    try:
        wechat.state_take(request.session, user=request.user, given=request.GET.get("state", ""))
        openid = wechat.openid_for_code(request.GET.get("code", ""))
        wechat.wechat_bind(actor=request.user, openid=openid)
    except DomainError as exc:
        return account_page(request, error=exc, status=exc.status)
    messages.success(request, "已绑定微信，审核结果和处方提醒将通过微信公众号通知您")
    return redirect("portal-account")


@require_POST
@patient_required
def portal_wechat_unbind(request: HttpRequest) -> HttpResponse:
    try:
        wechat.wechat_unbind(actor=request.user)
    except DomainError as exc:
        return account_page(request, error=exc, status=exc.status)
    messages.success(request, "已解除微信绑定，今后不再通过微信通知您")
    return redirect("portal-account")
