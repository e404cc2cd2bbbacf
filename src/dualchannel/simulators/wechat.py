"""A stand-in for WeChat's official-account web authorisation (网页授权, scope snsapi_base), for
the demo and tests: ``GET simulators/wechat/connect/oauth2/authorize`` redirects at once to the
``redirect_uri`` with a ``code`` (and the ``state``), as WeChat does for a silent snsapi_base
authorisation; ``GET simulators/wechat/sns/oauth2/access_token`` exchanges the code for the
openid in WeChat's JSON, errors included (``{"errcode": 40029, "errmsg": "invalid code"}``).

The simulated WeChat user is the browser: a cookie holds its openid, so the same browser is the
same WeChat user, as the same phone is on WeChat. The account is the configured one
(``WECHAT_APP_ID`` / ``WECHAT_APP_SECRET``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from .models import SimWeChatCode

CODE_TTL = timedelta(minutes=5)
OPENID_COOKIE = "wxsim_openid"
COOKIE_AGE = 365 * 24 * 3600


def error(errcode: int, errmsg: str) -> JsonResponse:
    """WeChat's error answer: HTTP 200 with errcode/errmsg (and a request id)."""
    return JsonResponse({"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(6)}"})


def _openid_of(request: HttpRequest) -> str:
    openid = request.COOKIES.get(OPENID_COOKIE, "")
    if openid.startswith("oSim") and openid[4:].isalnum() and len(openid) == 28:
        return openid
    return "oSim" + secrets.token_hex(12)


@require_GET
def authorize(request: HttpRequest) -> HttpResponse:
    params = request.GET
    redirect_uri = params.get("redirect_uri", "")
    if params.get("appid") != settings.WECHAT_APP_ID or not settings.WECHAT_APP_ID:
        return HttpResponseBadRequest("appid 参数错误")  # WeChat shows an error page, too
    # Only back to this site: WeChat allows only the domain registered for the account.
    if not redirect_uri.startswith(f"{settings.PUBLIC_BASE_URL}/"):
        return HttpResponseBadRequest("redirect_uri 参数错误")
    if params.get("response_type") != "code" or params.get("scope") not in (
        "snsapi_base",
        "snsapi_userinfo",
    ):
        return HttpResponseBadRequest("scope 参数错误")
    openid = _openid_of(request)
    code = SimWeChatCode.objects.create(
        code=secrets.token_hex(16), app_id=settings.WECHAT_APP_ID, openid=openid
    ).code
    query = {"code": code, "state": params.get("state", "")}
    response = redirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(query)}")
    response.set_cookie(OPENID_COOKIE, openid, max_age=COOKIE_AGE, httponly=True, samesite="Lax")
    return response


@require_GET
def access_token(request: HttpRequest) -> HttpResponse:
    params = request.GET
    if params.get("appid") != settings.WECHAT_APP_ID or not settings.WECHAT_APP_ID:
        return error(40013, "invalid appid")
    if params.get("secret") != settings.WECHAT_APP_SECRET:
        return error(40125, "invalid appsecret")
    if params.get("grant_type") != "authorization_code":
        return error(40002, "invalid grant_type")
    with transaction.atomic():
        found = (
            SimWeChatCode.objects.select_for_update()
            .filter(code=params.get("code", ""), app_id=params["appid"])
            .first()
        )
        if found is None:
            return error(40029, "invalid code")
        if found.used_at is not None:
            return error(40163, "code been used")
        if timezone.now() - found.issued_at > CODE_TTL:
            return error(42003, "code expired")
        found.used_at = timezone.now()
        found.save(update_fields=["used_at"])
    return JsonResponse(
        {
            "access_token": secrets.token_urlsafe(32),
            "expires_in": 7200,
            "refresh_token": secrets.token_urlsafe(32),
            "openid": found.openid,
            "scope": "snsapi_base",
        }
    )
