"""Authentication endpoints (obtain and revoke a token, who am I) and the working-day calendar.

The audit ledger is searched by insured person in ``registry.audit_api``.
"""

from __future__ import annotations

from datetime import date, datetime

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils import timezone
from django_otp import verify_token
from ninja import Router, Schema, Status

from .auth import api_auth
from .calendar import add_working_days, calendar_year_load
from .errors import DomainError
from .models import ApiToken, User
from .roles import Role
from .security import confirmed_device, second_factor_required

router = Router(tags=["auth"])
calendar_router = Router(tags=["calendar"], auth=api_auth)


class TokenIn(Schema):
    username: str
    password: str
    otp: str | None = None  # the authenticator's code; required of officers and administrators


class TokenOut(Schema):
    token: str
    expires_at: datetime


class MeOut(Schema):
    username: str
    display_name: str
    roles: list[str]
    institution_id: int | None
    institution_name: str | None


@router.post("/token", response=TokenOut, auth=None, summary="用户名密码换取访问令牌")
def token_obtain(request: HttpRequest, payload: TokenIn):
    user = authenticate(request, username=payload.username, password=payload.password)
    if getattr(request, "axes_locked_out", False):
        raise DomainError(
            "auth.locked_out", "登录失败次数过多，账户已临时锁定，请稍后再试", status=429
        )
    if user is None or not user.is_active:
        raise DomainError("auth.invalid_credentials", "用户名或密码错误", status=401)
    if second_factor_required(user):
        _check_second_factor(user, payload.otp)
    token, raw = ApiToken.issue(user)
    return TokenOut(token=raw, expires_at=token.expires_at)


def _check_second_factor(user: User, code: str | None) -> None:
    device = confirmed_device(user)
    if device is None:
        raise DomainError(
            "auth.otp_not_enrolled", "请先在网页登录并绑定身份验证器（动态口令）", status=403
        )
    if not code:
        raise DomainError(
            "auth.otp_required", "请提供动态口令", fields={"otp": ["必填"]}, status=401
        )
    if verify_token(user, device.persistent_id, "".join(code.split())) is None:
        raise DomainError(
            "auth.otp_invalid", "动态口令不正确", fields={"otp": ["动态口令不正确"]}, status=401
        )


@router.delete("/token", response={204: None}, auth=api_auth, summary="注销当前令牌")
def token_revoke(request: HttpRequest):
    token = getattr(request, "api_token", None)
    if token is not None:
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    return Status(204, None)


@router.get("/me", response=MeOut, auth=api_auth, summary="当前用户")
def me(request: HttpRequest):
    user: User = request.auth
    return MeOut(
        username=user.username,
        display_name=str(user),
        roles=sorted(r for r in user.role_set if r in Role.values),
        institution_id=user.institution_id,
        institution_name=user.institution.name if user.institution_id else None,
    )


class CalendarDayIn(Schema):
    date: date
    working: bool
    name: str = ""


class CalendarYearIn(Schema):
    document_no: str
    days: list[CalendarDayIn]


class CalendarYearOut(Schema):
    year: int
    document_no: str
    days: list[CalendarDayIn]


@calendar_router.put("/years/{year}", response=CalendarYearOut, summary="导入某年节假日安排")
def calendar_year_put(request: HttpRequest, year: int, payload: CalendarYearIn):
    loaded = calendar_year_load(
        actor=request.auth,
        year=year,
        days=[(d.date, d.working, d.name) for d in payload.days],
        document_no=payload.document_no,
    )
    return CalendarYearOut(
        year=loaded.year,
        document_no=loaded.document_no,
        days=[
            CalendarDayIn(date=d.date, working=d.is_working_day, name=d.name)
            for d in loaded.days.all()
        ],
    )


@calendar_router.get("/working-days", summary="工作日计算")
def calendar_working_days(request: HttpRequest, start: date, days: int = 7):
    """The date ``days`` working days after ``start`` (e.g. the 7-working-day review deadline)."""
    if not 0 <= days <= 366:
        raise DomainError(
            "calendar.invalid_days", "天数应在0至366之间", fields={"days": ["超出范围"]}
        )
    return {"start": start, "days": days, "deadline": add_working_days(start, days)}
