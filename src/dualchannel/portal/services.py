"""Patient-portal services: SMS login codes, the phone-keyed patient account, identity binding."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import DomainError, field_error
from dualchannel.core.masking import mask_phone
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.services import user_bind_insured_person, user_create_patient
from dualchannel.notifications.channels import DeliveryError, get_sms_provider
from dualchannel.notifications.templates import get_template
from dualchannel.registry.models import InsuredPerson
from dualchannel.registry.validation import parse_id_number

from . import error_codes as codes
from .hashing import code_hash, normalize_phone, phone_hash, same
from .models import BindingAttempt, PatientAccount, PhoneLoginCode

logger = logging.getLogger("dualchannel.portal")

CODE_TTL = timedelta(minutes=5)
CODE_MAX_ATTEMPTS = 5  # wrong tries after which a code is dead
RESEND_INTERVAL = timedelta(seconds=60)
CODES_PER_DAY = 10
BIND_FAILURES_PER_DAY = 5
LOGIN_CODE_TEMPLATE = "portal.login_code"


@dataclass(frozen=True)
class IssuedCode:
    expires_at: datetime
    code: str  # handed back only so the demo page can show it; never logged or stored


def clean_phone(value: str | None) -> str:
    phone = normalize_phone(value)
    if phone is None:
        raise field_error("phone", codes.INVALID_PHONE, "请输入正确的11位手机号码")
    return phone


def _new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _start_of_day(now: datetime) -> datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def login_code_request(*, phone: str) -> IssuedCode:
    """Send a fresh 6-digit code to ``phone`` by SMS at once; earlier codes stop working.

    The row is written in the same transaction as the send, so a code exists iff the provider
    accepted the message (a failed send does not use up the phone's allowance).
    """
    phone = clean_phone(phone)
    digest = phone_hash(phone)
    now = timezone.now()
    with transaction.atomic():
        sent = PhoneLoginCode.objects.filter(phone_hash=digest)
        if sent.filter(created_at__gt=now - RESEND_INTERVAL).exists():
            raise DomainError(codes.TOO_MANY_CODES, "验证码发送过于频繁，请60秒后再试", status=429)
        if sent.filter(created_at__gte=_start_of_day(now)).count() >= CODES_PER_DAY:
            raise DomainError(
                codes.TOO_MANY_CODES, "今日获取验证码次数已达上限，请明天再试", status=429
            )
        code = _new_code()
        row = PhoneLoginCode.objects.create(
            phone_hash=digest,
            code_hash=code_hash(digest, code),
            created_at=now,
            expires_at=now + CODE_TTL,
        )
        template = get_template(LOGIN_CODE_TEMPLATE)
        rendered = template.render({"code": code})
        try:
            get_sms_provider().send(phone, template.sms_id, template.sms_payload(rendered))
        except DeliveryError as exc:
            logger.warning("login code to %s not sent: %s", mask_phone(phone), exc.code)
            raise DomainError(codes.SMS_FAILED, "短信发送失败，请稍后重试", status=503) from None
    logger.info("login code %s issued to %s", row.pk, mask_phone(phone))
    return IssuedCode(expires_at=row.expires_at, code=code)


def _check_code(*, digest: str, code: str) -> DomainError | None:
    """Consume the phone's latest code if ``code`` matches; count a wrong try otherwise.

    Returns the refusal instead of raising it, so that the counted try is committed.
    """
    now = timezone.now()
    latest = (
        PhoneLoginCode.objects.select_for_update()
        .filter(phone_hash=digest)
        .order_by("-created_at", "-pk")
        .first()
    )
    if (
        latest is None
        or latest.consumed_at is not None
        or latest.expires_at <= now
        or latest.attempts >= CODE_MAX_ATTEMPTS
    ):
        return field_error("code", codes.CODE_EXPIRED, "验证码已失效，请重新获取")
    if not same(latest.code_hash, code_hash(digest, code or "")):
        latest.attempts += 1
        latest.save(update_fields=["attempts"])
        left = CODE_MAX_ATTEMPTS - latest.attempts
        if left == 0:
            return field_error("code", codes.CODE_EXPIRED, "验证码错误次数过多，请重新获取")
        return field_error("code", codes.INVALID_CODE, f"验证码错误，还可尝试{left}次")
    latest.consumed_at = now
    latest.save(update_fields=["consumed_at"])
    return None


def patient_login(*, phone: str, code: str) -> User:
    """Check the SMS code and return the phone's patient user, created on first login."""
    phone = clean_phone(phone)
    digest = phone_hash(phone)
    with transaction.atomic():
        refusal = _check_code(digest=digest, code=(code or "").strip())
        if refusal is None:
            user = _patient_for_phone(digest)
    if refusal is not None:
        raise refusal
    if not user.is_active:
        raise DomainError(codes.ACCOUNT_DISABLED, "该账号已停用，请联系医保经办机构", status=403)
    return user


def _patient_for_phone(digest: str) -> User:
    account = PatientAccount.objects.select_related("user").filter(phone_hash=digest).first()
    if account is not None:
        return account.user
    user = user_create_patient(username=f"p_{digest[:20]}")
    _account_create(user, digest)
    return user


def _account_create(user: User, digest: str) -> PatientAccount:
    account = PatientAccount.objects.create(user=user, phone_hash=digest)
    audit.record(
        actor=user,
        action="portal.account_created",
        subject=account,
        after=account,
        role=Role.PATIENT,
    )
    return account


def patient_account_for_user(*, user: User, phone: str) -> PatientAccount:
    """The phone login of a patient user who already exists (bound by staff or seeded): the
    same account answers the phone page. Idempotent."""
    require_role(user, Role.PATIENT)
    digest = phone_hash(normalize_phone(phone))
    with transaction.atomic():
        account = PatientAccount.objects.filter(user=user).first()
        return account if account is not None else _account_create(user, digest)


def _bind_failures_today(user: User) -> int:
    since = _start_of_day(timezone.now())
    return BindingAttempt.objects.filter(user=user, at__gte=since).count()


def identity_bind(*, actor: User, id_number: str, name: str) -> InsuredPerson:
    """Bind the logged-in patient to the insured person with this ID number and exact name.

    Refusals that could tell whether a person is in the registry are counted (5 per day).
    """
    require_role(actor, Role.PATIENT)
    if _bind_failures_today(actor) >= BIND_FAILURES_PER_DAY:
        raise DomainError(
            codes.TOO_MANY_ATTEMPTS, "今日实名绑定失败次数过多，请明天再试", status=429
        )
    number = parse_id_number(id_number or "").number
    name = (name or "").strip()
    if not name:
        raise field_error("name", codes.INVALID_NAME, "请输入姓名")
    with transaction.atomic():
        refusal, person = _bind(actor=actor, number=number, name=name)
        if refusal is not None and refusal.code != codes.USER_ALREADY_BOUND:
            BindingAttempt.objects.create(user=actor, code=refusal.code, at=timezone.now())
    if refusal is not None:
        raise refusal
    return person


def _bind(
    *, actor: User, number: str, name: str
) -> tuple[DomainError | None, InsuredPerson | None]:
    person = InsuredPerson.objects.select_for_update().filter(id_number=number).first()
    if person is None or person.name != name:
        # One answer for an unknown number and a wrong name: the registry cannot be probed.
        return DomainError(codes.IDENTITY_MISMATCH, "身份证号与姓名不匹配，请核对后重试"), None
    user = User.objects.select_for_update().get(pk=actor.pk)
    if user.insured_person_id == person.pk:
        return None, person  # already bound to this person: nothing to do
    if user.insured_person_id is not None:
        return DomainError(
            codes.USER_ALREADY_BOUND, "您的账号已绑定参保人，如需更换请联系医保经办机构"
        ), None
    if User.objects.filter(insured_person=person).exclude(pk=user.pk).exists():
        return DomainError(
            codes.ALREADY_BOUND, "该参保人已绑定其他账号，如有疑问请联系医保经办机构"
        ), None
    if person.phone:
        registry_phone = normalize_phone(person.phone)
        account = PatientAccount.objects.filter(user=user).first()
        # The login phone must be the one on record: knowing an ID and name is not enough.
        if (
            registry_phone is None
            or account is None
            or not same(account.phone_hash, phone_hash(registry_phone))
        ):
            return DomainError(
                codes.PHONE_MISMATCH,
                "登录手机号与参保登记的手机号不一致，请使用登记的手机号登录或联系医保经办机构",
            ), None
    before = snapshot(user)
    user = user_bind_insured_person(user_id=user.pk, person_id=person.pk)
    audit.record(
        actor=user,
        action="portal.identity_bound",
        subject=user,
        before=before,
        after=user,
        patient=person,
        role=Role.PATIENT,
    )
    actor.refresh_from_db(fields=["insured_person"])  # the request's user sees the binding
    return None, person
