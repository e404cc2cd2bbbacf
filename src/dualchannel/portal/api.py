"""Patient-portal API for the mobile app: SMS-code login for a token, identity binding, me."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema, Status

from dualchannel.core.auth import api_auth
from dualchannel.core.models import ApiToken, User

from . import services
from .selectors import portal_profile

router = Router(tags=["portal"])


class LoginCodeIn(Schema):
    phone: str


class LoginCodeOut(Schema):
    expires_at: datetime
    resend_after_seconds: int
    demo_code: str | None = None  # only in DEMO_MODE, where no SMS is sent


class LoginIn(Schema):
    phone: str
    code: str


class LoginOut(Schema):
    token: str
    expires_at: datetime
    bound: bool


class BindIn(Schema):
    id_number: str
    name: str


class PortalProfileOut(Schema):
    bound: bool
    name: str | None
    id_number: str | None
    phone: str | None


@router.post("/login-codes", response={202: LoginCodeOut}, auth=None, summary="发送手机登录验证码")
def login_code_create(request: HttpRequest, payload: LoginCodeIn):
    issued = services.login_code_request(phone=payload.phone)
    return Status(
        202,
        LoginCodeOut(
            expires_at=issued.expires_at,
            resend_after_seconds=int(services.RESEND_INTERVAL.total_seconds()),
            demo_code=issued.code if settings.DEMO_MODE else None,
        ),
    )


@router.post("/login", response=LoginOut, auth=None, summary="手机号和验证码换取访问令牌")
def login(request: HttpRequest, payload: LoginIn):
    user = services.patient_login(phone=payload.phone, code=payload.code)
    token, raw = ApiToken.issue(user)
    return LoginOut(token=raw, expires_at=token.expires_at, bound=bool(user.insured_person_id))


@router.post("/bind", response=PortalProfileOut, auth=api_auth, summary="实名绑定参保人")
def bind(request: HttpRequest, payload: BindIn):
    user: User = request.auth
    services.identity_bind(actor=user, id_number=payload.id_number, name=payload.name)
    return PortalProfileOut(**asdict(portal_profile(user)))


@router.get("/me", response=PortalProfileOut, auth=api_auth, summary="当前患者的绑定信息（脱敏）")
def me(request: HttpRequest):
    return PortalProfileOut(**asdict(portal_profile(request.auth)))
