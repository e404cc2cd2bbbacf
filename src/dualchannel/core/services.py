"""Writes of core's own tables that other apps ask for: a patient's login and its binding to an
insured person (the portal's phone login and real-name binding, ``portal.services``), its WeChat
openid (``portal.wechat``), and a
staff login with its roles (the demo's accounts; administrators use the admin site).

Each runs inside the caller's transaction (a savepoint of it); the caller checks its own rules
first and audits the change in its own event (``portal.account_created``,
``portal.identity_bound``), as before these writes moved here.
"""

from __future__ import annotations

from django.db import transaction

from . import audit
from .errors import Conflict
from .models import RoleGrant, User
from .roles import Role


def user_create_patient(*, username: str) -> User:
    """A patient's login: no password (they sign in with a one-time code), the PATIENT role."""
    with transaction.atomic():
        user = User(username=username)
        user.set_unusable_password()
        user.save()
        RoleGrant.objects.create(user=user, role=Role.PATIENT)
    return user


def user_bind_insured_person(*, user_id: int, person_id: int) -> User:
    """Bind a login to the insured person it belongs to; a login bound to another is refused
    (the caller has checked that the person is this user's and bound to nobody else)."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        if user.insured_person_id not in (None, person_id):
            raise Conflict("core.user_already_bound", "该账号已绑定其他参保人")
        user.insured_person_id = person_id
        user.save(update_fields=["insured_person"])
    return user


def user_set_wechat_openid(*, user_id: int, openid: str) -> User:
    """Record (or, with ``""``, clear) the WeChat openid of a login; an openid that another
    login holds is refused (the caller checked first; the unique constraint backs it)."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        if openid and User.objects.filter(wechat_openid=openid).exclude(pk=user_id).exists():
            raise Conflict("core.wechat_openid_taken", "该微信已绑定其他账号")
        user.wechat_openid = openid
        user.save(update_fields=["wechat_openid"])
    return user


def user_create_staff(
    *,
    actor: User | None,
    username: str,
    display_name: str,
    password: str,
    roles: tuple[str, ...],
    otp_exempt: bool = False,
    **fields,
) -> User:
    """A staff login with its roles; ``otp_exempt`` counts only in demo mode (core.security)."""
    with transaction.atomic():
        user = User.objects.create_user(
            username=username, display_name=display_name, otp_exempt=otp_exempt, **fields
        )
        user.set_password(password)
        user.save()
        for role in roles:
            RoleGrant.objects.create(user=user, role=role)
        audit.record(
            actor=actor,
            action="core.user_created",
            subject=user,
            summary={"roles": sorted(roles), "otp_exempt": otp_exempt},
        )
    return user
