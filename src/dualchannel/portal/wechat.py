"""Binding a patient's WeChat openid through the official account's web authorisation (网页授权,
scope ``snsapi_base``), so template messages reach them [P §2]; and unbinding it.

The flow: ``authorize_url`` sends the browser to WeChat with a ``state`` kept in the session
(single use, ten minutes); WeChat sends it back with ``code`` and ``state``; ``state_take`` checks
the state, ``openid_for_code`` asks ``sns/oauth2/access_token`` for the openid, ``wechat_bind``
records it. The addresses are settings (``WECHAT_OAUTH_AUTHORIZE_URL``,
``WECHAT_OAUTH_API_BASE``): the demo and tests point them at the bundled simulator.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import urlencode

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import DomainError
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.services import user_set_wechat_openid

from . import error_codes as codes

logger = logging.getLogger("dualchannel.portal")

SESSION_KEY = "portal_wechat_oauth"
STATE_TTL_SECONDS = 600
TIMEOUT_SECONDS = 10.0

# WeChat's errcodes of sns/oauth2/access_token, as the patient reads them.
WECHAT_ERRORS = {
    40029: "微信授权码无效，请重新点击“绑定微信”",
    40163: "微信授权码已被使用，请重新点击“绑定微信”",
    42003: "微信授权码已过期，请重新点击“绑定微信”",
    40013: "公众号配置有误（AppID 无效），请联系医保经办机构",
    40125: "公众号配置有误（AppSecret 无效），请联系医保经办机构",
    40002: "微信授权请求有误，请重新点击“绑定微信”",
    -1: "微信系统繁忙，请稍后再试",
}


def configured() -> bool:
    return bool(settings.WECHAT_APP_ID and settings.WECHAT_APP_SECRET)


def authorize_origin() -> str:
    """Scheme and host of WeChat's authorize page (``https://open.weixin.qq.com``)."""
    url = urlsplit(settings.WECHAT_OAUTH_AUTHORIZE_URL)
    return f"{url.scheme}://{url.netloc}"


def callback_url() -> str:
    """The ``redirect_uri``: on the public address, the domain registered with WeChat."""
    return f"{settings.PUBLIC_BASE_URL}{reverse('portal-wechat-callback')}"


def authorize_url(session: Any, *, user: User) -> str:
    """A new single-use state in the session and WeChat's authorize address carrying it."""
    if not configured():
        raise DomainError(codes.WECHAT_NOT_CONFIGURED, "本系统暂未开通微信公众号服务")
    state = secrets.token_hex(16)  # WeChat allows [a-zA-Z0-9], up to 128 bytes
    session[SESSION_KEY] = {"state": state, "user": user.pk, "issued": int(time.time())}
    # WeChat requires the parameters in this order and the #wechat_redirect fragment.
    query = urlencode(
        [
            ("appid", settings.WECHAT_APP_ID),
            ("redirect_uri", callback_url()),
            ("response_type", "code"),
            ("scope", "snsapi_base"),
            ("state", state),
        ]
    )
    return f"{settings.WECHAT_OAUTH_AUTHORIZE_URL}?{query}#wechat_redirect"


def state_take(session: Any, *, user: User, given: str, now: float | None = None) -> None:
    """Check the state WeChat sent back against the session's, which is used up either way."""
    kept = session.pop(SESSION_KEY, None)
    if (
        not isinstance(kept, dict)
        or not given
        or not constant_time_compare(str(kept.get("state", "")), given)
        or kept.get("user") != user.pk
    ):
        raise DomainError(
            codes.WECHAT_STATE_INVALID,
            "绑定请求无效或已使用，请在账号设置页重新点击“绑定微信”",
        )
    if (now or time.time()) - int(kept.get("issued", 0)) > STATE_TTL_SECONDS:
        raise DomainError(
            codes.WECHAT_STATE_EXPIRED, "绑定请求已超时，请在账号设置页重新点击“绑定微信”"
        )


def http_client() -> httpx.Client:
    """The HTTP client of the code exchange (tests route it to the simulator in process)."""
    return httpx.Client(timeout=TIMEOUT_SECONDS)


def openid_for_code(code: str, *, http: httpx.Client | None = None) -> str:
    """Ask WeChat (sns/oauth2/access_token) for the openid the code stands for."""
    if not code:
        raise DomainError(codes.WECHAT_NO_CODE, "未获得微信授权，请重新点击“绑定微信”")
    client = http or http_client()
    try:
        response = client.get(
            f"{settings.WECHAT_OAUTH_API_BASE}/sns/oauth2/access_token",
            params={
                "appid": settings.WECHAT_APP_ID,
                "secret": settings.WECHAT_APP_SECRET,
                "code": code,
                "grant_type": "authorization_code",
            },
        )
        data = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        data = None
    finally:
        if http is None:
            client.close()
    if not isinstance(data, dict):
        raise DomainError(codes.WECHAT_UNREACHABLE, "暂时无法连接微信，请稍后再试", status=502)
    openid = data.get("openid")
    if data.get("errcode") or not isinstance(openid, str) or not openid:
        errcode = int(data.get("errcode") or 0)
        logger.warning("wechat oauth refused the code: errcode %s", errcode)
        message = WECHAT_ERRORS.get(errcode, f"微信返回错误（错误码 {errcode}），请稍后再试")
        raise DomainError(codes.WECHAT_ERROR, message)
    return openid[:64]


def _taken() -> DomainError:
    # No openid, phone or account in the log: only that it happened.
    logger.warning("wechat bind refused: the openid is bound to another patient account")
    return DomainError(
        codes.WECHAT_TAKEN,
        "该微信已绑定其他患者账号，请先在那个账号中解除绑定",
        status=409,
    )


def wechat_bind(*, actor: User, openid: str) -> User:
    """Record the patient's openid; one already bound to another account is refused."""
    require_role(actor, Role.PATIENT)
    try:
        with transaction.atomic():
            user = User.objects.select_for_update().get(pk=actor.pk)
            if user.wechat_openid == openid:
                return user  # the same WeChat again: nothing to do
            if User.objects.filter(wechat_openid=openid).exclude(pk=user.pk).exists():
                raise _taken()
            before = snapshot(user)
            user = user_set_wechat_openid(user_id=user.pk, openid=openid)
            audit.record(
                actor=actor,
                action="portal.wechat_bound",
                subject=user,
                before=before,
                after=user,
                patient=user.insured_person,
                role=Role.PATIENT,
                summary={"rebound": bool(before.get("wechat_openid"))},
            )
    except IntegrityError:  # a concurrent bind of the same openid won the unique constraint
        raise _taken() from None
    actor.refresh_from_db(fields=["wechat_openid"])  # the request's user sees the binding
    return user


def wechat_unbind(*, actor: User) -> User:
    """Forget the patient's openid: no template message reaches that WeChat any more."""
    require_role(actor, Role.PATIENT)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.pk)
        if not user.wechat_openid:
            raise DomainError(codes.WECHAT_NOT_BOUND, "您的账号尚未绑定微信")
        before = snapshot(user)
        user = user_set_wechat_openid(user_id=user.pk, openid="")
        audit.record(
            actor=actor,
            action="portal.wechat_unbound",
            subject=user,
            before=before,
            after=user,
            patient=user.insured_person,
            role=Role.PATIENT,
        )
    actor.refresh_from_db(fields=["wechat_openid"])
    return user
