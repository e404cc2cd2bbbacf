"""Designations of institutions and physicians [DESIGN §5.4]: apply, and every later move; one
transaction each, locked, checked, audited. The lifecycle's rules are ``registry.designations``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError, NotFound, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition

from .. import error_codes as codes
from ..designations import (
    OPEN_STATUSES,
    REASON_REQUIRED,
    institution_shortfalls,
    machine_for,
    title_shortfall,
)
from ..designations import ban_end as compute_ban_end
from ..models import (
    Designation,
    DesignationStatus,
    DesignationTransition,
    ExitReason,
    Institution,
    InstitutionKind,
    Physician,
)
from ..profiles import profile_for
from .common import (
    clean_text,
    day_or_today,
    officer_covers,
    require_staff_or_officer,
)

S = DesignationStatus


# Designations ---------------------------------------------------------------------------------


def _latest_ban(*, institution: Institution | None, physician: Physician | None) -> date | None:
    qs = Designation.objects.filter(status=S.EXITED, ban_until__isnull=False)
    qs = qs.filter(institution=institution) if institution else qs.filter(physician=physician)
    return qs.order_by("-ban_until").values_list("ban_until", flat=True).first()


def designation_apply(
    *,
    actor: User,
    institution: Institution | None = None,
    physician: Physician | None = None,
    today: date | None = None,
    at: datetime | None = None,
) -> Designation:
    """Open a designation round for a hospital, pharmacy or physician (``at``: an application
    made earlier, recorded afterwards).

    Refused while a round is open, or while the ban after the latest exit lasts [HB art. 21-22].
    """
    if at is not None and at > timezone.now():
        raise field_error("at", codes.INVALID_FIELD, "补录时间不能晚于现在")
    today = timezone.localdate(at) if at is not None else day_or_today(today)
    if (institution is None) == (physician is None):
        raise DomainError(codes.INVALID_FIELD, "须指定一个机构或一名医师")
    if institution is not None:
        if institution.kind == InstitutionKind.AGENCY:
            raise DomainError(codes.NOT_DESIGNATABLE, "医保经办机构不参与双通道定点")
        staff_roles = (
            (Role.REVIEWER,) if institution.kind == InstitutionKind.HOSPITAL else (Role.PHARMACIST,)
        )
        require_staff_or_officer(actor, institution, staff_roles)
        lock_inst_id = institution.pk
    else:
        require_staff_or_officer(actor, physician.hospital, (Role.REVIEWER,))
        lock_inst_id = physician.hospital_id
    with transaction.atomic():
        locked_inst = Institution.objects.select_for_update().get(pk=lock_inst_id)
        if physician is not None:
            physician = Physician.objects.select_for_update().get(pk=physician.pk)
            profile = profile_for(locked_inst.region)
            shortfall = title_shortfall(physician.title, profile, locked_inst)
            if shortfall:
                raise field_error("title", codes.TITLE_BELOW_MINIMUM, shortfall)
        subject = {"institution": locked_inst} if institution else {"physician": physician}
        if Designation.objects.filter(status__in=OPEN_STATUSES, **subject).exists():
            raise Conflict(codes.DESIGNATION_OPEN, "已有进行中的双通道定点申请或资格")
        banned_until = _latest_ban(institution=institution and locked_inst, physician=physician)
        if banned_until is not None and today < banned_until:
            raise Conflict(
                codes.DESIGNATION_BANNED,
                f"退出双通道管理后禁入至{banned_until:%Y年%m月%d日}，"
                f"{banned_until:%Y年%m月%d日}起方可重新申请",
                fields={"ban_until": [banned_until.isoformat()]},
            )
        try:
            with transaction.atomic():
                designation = Designation.objects.create(applied_on=today, **subject)
        except IntegrityError:
            raise Conflict(codes.DESIGNATION_OPEN, "已有进行中的双通道定点申请或资格") from None
        DesignationTransition.objects.create(
            designation=designation,
            from_status="",
            to_status=S.APPLIED,
            actor=actor,
            reason="",
            at=at or timezone.now(),
        )
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.designation_applied",
            subject=designation,
            after=designation,
            summary={
                "subject": "institution" if institution else "physician",
                "subject_id": (locked_inst.pk if institution else physician.pk),
                "to": S.APPLIED,
            },
        )
    return designation


def check_recorded_at(designation: Designation, at: datetime | None) -> None:
    """A decision recorded afterwards: not in the future, not before the designation's last
    change (its history stays in order)."""
    if at is None:
        return
    last = designation.history.order_by("-at").values_list("at", flat=True).first()
    if at > timezone.now() or (last is not None and at < last):
        raise field_error("at", codes.INVALID_FIELD, "补录时间不能晚于现在，也不能早于上一次变更")


def designation_transition(
    *,
    actor: User,
    designation: Designation,
    to_status: str,
    reason: str = "",
    exit_reason: str | None = None,
    agreement_no: str | None = None,
    today: date | None = None,
    at: datetime | None = None,
) -> Designation:
    """Move a designation along its state machine (``at``: a decision taken earlier, recorded
    afterwards, its day the effective day); every refusal leaves it unchanged."""
    today = timezone.localdate(at) if at is not None else day_or_today(today)
    require_role(actor, Role.AGENCY_OFFICER)
    if to_status not in S.values:
        raise field_error("to", codes.INVALID_FIELD, "目标状态无效")
    reason = clean_text("reason", reason, max_length=2000)
    with transaction.atomic():
        current = Designation.objects.select_related("physician").get(pk=designation.pk)
        inst_id = current.institution_id or current.physician.hospital_id
        inst = Institution.objects.select_for_update().get(pk=inst_id)
        if not officer_covers(actor, inst.region_id):
            raise NotFound()
        locked = Designation.objects.select_for_update().get(pk=designation.pk)
        physician = locked.physician_id and Physician.objects.select_for_update().get(
            pk=locked.physician_id
        )
        machine_for(locked).check(locked.status, to_status)
        check_recorded_at(locked, at)
        if to_status in REASON_REQUIRED and not reason:
            raise field_error("reason", codes.INVALID_FIELD, "请填写原因")
        if to_status == S.EXITED:
            if exit_reason not in ExitReason.values:
                raise field_error("exit_reason", codes.EXIT_REASON_REQUIRED, "退出须选择退出原因")
        elif exit_reason:
            raise field_error(
                "exit_reason", codes.EXIT_REASON_NOT_ALLOWED, "只有退出时填写退出原因"
            )
        agreement_no = clean_text("agreement_no", agreement_no, max_length=50)
        if to_status == S.AGREEMENT_SIGNED and not agreement_no:
            raise field_error(
                "agreement_no", codes.AGREEMENT_NO_REQUIRED, "签订补充协议须填写协议编号"
            )
        profile = profile_for(inst.region)
        if to_status == S.EVALUATED:
            missing = institution_shortfalls(inst, profile, today=today)
            if missing:
                raise DomainError(
                    codes.CONDITIONS_NOT_MET,
                    "不符合双通道定点条件：" + "；".join(missing),
                    fields={"conditions": missing},
                )
        if physician is not None and to_status == S.ACTIVE:
            shortfall = title_shortfall(physician.title, profile, inst)
            if shortfall:
                raise field_error("title", codes.TITLE_BELOW_MINIMUM, shortfall)
            hospital_active = Designation.objects.filter(institution=inst, status=S.ACTIVE).exists()
            if not hospital_active:
                raise DomainError(
                    codes.HOSPITAL_NOT_DESIGNATED,
                    f"{inst.name}不是双通道定点医疗机构，不能备案责任医师",
                )

        changes: dict[str, Any] = {}
        facts: dict[str, Any] = {}
        if to_status == S.AGREEMENT_SIGNED:
            changes["agreement_no"] = agreement_no
        if to_status == S.ACTIVE and locked.effective_from is None:
            changes["effective_from"] = today
        if to_status == S.EXITED:
            ban_until = compute_ban_end(today, profile)
            changes |= {"exit_reason": exit_reason, "exited_on": today, "ban_until": ban_until}
            facts = {
                "exit_reason": exit_reason,
                "ban_until": ban_until.isoformat() if ban_until else None,
            }
        transition(locked, to_status, actor=actor, reason=reason, changes=changes, at=at, **facts)
    return locked
