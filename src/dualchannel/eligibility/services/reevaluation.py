"""Re-evaluation of an eligibility (DESIGN §5.3, HB art. 8–9): the physician's re-evaluation
recorded on the signed 复查评估表, and the stop; the reminder and the suspension after a missed
deadline are ``reevaluation_deadlines``.

The eligibility's status changes only through ``core.statemachine.transition`` (edge check,
history row, audit event), the patient's notification written to the outbox in the same
transaction; whether it gives the benefit on a day is ``selectors.eligibility_benefits_active``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.calendar import UnknownCalendarYear, add_working_days, subtract_working_days
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.documents.models import DocumentKind
from dualchannel.documents.services import document_sign
from dualchannel.notifications.services import notify
from dualchannel.registry.designations import physician_standing
from dualchannel.registry.models import InsuranceType, Physician, Sex
from dualchannel.registry.profiles import profile_of

from .. import error_codes as codes
from .. import selectors
from ..models import (
    ELIGIBILITY_MACHINE,
    Eligibility,
    EligibilityStatus,
    Reevaluation,
    ReevaluationResult,
)
from ..workflow import age
from .common import cancel_filing

E = EligibilityStatus
R = ReevaluationResult

DEFAULT_WINDOW_WORKING_DAYS = 7  # HB art. 9, when a profile sets no window
MAX_CYCLE_DAYS = 366


# --- reads -------------------------------------------------------------------------------------


def window_working_days(eligibility: Eligibility) -> int:
    profile = profile_of(eligibility.hospital)
    return (profile.reevaluation_window_working_days if profile else None) or (
        DEFAULT_WINDOW_WORKING_DAYS
    )


def window_opens(eligibility: Eligibility, due: date | None = None) -> date:
    """The first day of the re-evaluation window: 7 working days before the deadline [HB art. 9].

    Raises ``UnknownCalendarYear`` when the statutory calendar of that year is not loaded.
    """
    due = due or eligibility.next_reevaluation_due
    return subtract_working_days(due, window_working_days(eligibility))


def current_cycle_days(eligibility: Eligibility) -> int | None:
    last = (
        eligibility.reevaluations.filter(
            completed_at__isnull=False, evaluation_cycle_days__isnull=False
        )
        .order_by("-completed_at", "-id")
        .first()
    )
    if last is not None:
        return last.evaluation_cycle_days
    return eligibility.application.evaluation_cycle_days


# --- helpers -----------------------------------------------------------------------------------


def _today(today: date | None) -> date:
    return today or timezone.localdate()


def _locked(actor: User, eligibility_id: int) -> Eligibility:
    """The eligibility if in ``actor``'s scope (else NotFound), locked for this transaction."""
    selectors.eligibility_get(actor, eligibility_id)
    return (
        Eligibility.objects.select_for_update(of=("self",))
        .select_related("application", "patient", "drug", "hospital", "physician", "pharmacy")
        .get(pk=eligibility_id)
    )


def _hospital_physician(actor: User, eligibility: Eligibility) -> Physician:
    """The eligibility's physician or another physician of its hospital (the signer)."""
    require_role(actor, Role.PHYSICIAN)
    if eligibility.physician.user_id == actor.pk:
        return eligibility.physician
    if not actor.is_superuser and actor.institution_id != eligibility.hospital_id:
        raise PermissionDenied(codes.NOT_OWN_APPLICATION, "只有该用药资格所在医院的医师可以办理")
    found = Physician.objects.filter(user=actor, hospital_id=eligibility.hospital_id).first()
    if found is None:
        if actor.is_superuser:
            return eligibility.physician
        raise PermissionDenied(codes.NOT_PHYSICIAN, "当前账号未登记为本院医师")
    return found


def _responsible_signer(actor: User, eligibility: Eligibility) -> Physician:
    """The re-evaluation is the responsible physician's [HB art. 9]: designated and not
    suspended by a failed annual assessment [CX art. 20]."""
    signer = _hospital_physician(actor, eligibility)
    standing = physician_standing(signer)
    if standing.ok:
        return signer
    if standing.reason == "assessment_failed":
        raise DomainError(
            codes.PHYSICIAN_SUSPENDED,
            f"您{standing.failed_year}年度考核不合格，责任医师资格暂停，不能办理复查评估",
        )
    raise DomainError(codes.PHYSICIAN_NOT_DESIGNATED, "复查评估须由双通道责任医师办理")


def _text(value: str | None, field: str, code: str, message: str, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(code, message, fields={field: ["必填"]})
    if len(value) > max_length:
        raise DomainError(code, f"内容不能超过{max_length}字", fields={field: ["内容过长"]})
    return value


def _cycle(value: int | None, eligibility: Eligibility) -> int:
    cycle = value if value is not None else current_cycle_days(eligibility)
    if not isinstance(cycle, int) or not 1 <= cycle <= MAX_CYCLE_DAYS:
        raise DomainError(
            codes.INVALID_PLAN,
            f"复查评估周期应为1至{MAX_CYCLE_DAYS}天",
            fields={"evaluation_cycle_days": ["无效"]},
        )
    return cycle


def _quantity_text(quantity: Decimal | None, unit: str) -> str:
    value = quantity.normalize() if quantity is not None else 0
    return f"{value:f}{unit}"


def _plan_text(plan: dict[str, Any]) -> str:
    period = ""
    if plan.get("period_start") and plan.get("period_end"):
        period = f"；{plan['period_start'].isoformat()}至{plan['period_end'].isoformat()}"
    return (
        f"{plan['dose']}，{plan['route']}，{plan['frequency']}；"
        f"总量{_quantity_text(plan['total_quantity'], plan['quantity_unit'])}{period}"
    )


def _adjusted_plan(
    eligibility: Eligibility,
    *,
    dose: str,
    frequency: str,
    route: str,
    total_quantity: Any,
    quantity_unit: str,
    period_start: date | None,
    period_end: date | None,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    plan: dict[str, Any] = {}
    for key, value in (("dose", dose), ("frequency", frequency), ("route", route)):
        value = (value or "").strip()
        if not value:
            errors[key] = ["必填"]
        elif len(value) > 50:
            errors[key] = ["内容过长"]
        plan[key] = value
    try:
        quantity = Decimal(str(total_quantity)) if total_quantity is not None else None
    except (InvalidOperation, ValueError):
        quantity = None
    if quantity is None or not quantity.is_finite() or quantity <= 0:
        errors["total_quantity"] = ["应为正数"]
    elif quantity < eligibility.plan_used_quantity:
        errors["total_quantity"] = ["不能少于已使用药量"]
    plan["total_quantity"] = quantity
    plan["quantity_unit"] = (quantity_unit or "").strip()[:20] or (
        eligibility.application.quantity_unit
    )
    if period_start is None:
        errors["period_start"] = ["必填"]
    if period_end is None:
        errors["period_end"] = ["必填"]
    elif period_start is not None and period_end < period_start:
        errors["period_end"] = ["应晚于开始日期"]
    plan["period_start"], plan["period_end"] = period_start, period_end
    if errors:
        raise DomainError(codes.INVALID_PLAN, "调整后的用药方案不完整或有误", fields=errors)
    return plan


def _form_data(
    eligibility: Eligibility,
    reevaluation: Reevaluation,
    signer: Physician,
    today: date,
) -> dict[str, Any]:
    """HB annex 2 (湖北省单独支付药品复查评估表), filled from the eligibility and the result."""
    application = eligibility.application
    person = eligibility.patient
    data: dict[str, Any] = {
        "evaluation_date": today.isoformat(),
        "name": person.name,
        "sex": "男" if person.sex == Sex.MALE else "女",
        "age": age(person.birth_date, today),
        "id_number": person.id_number,
        "insured_region": person.enrolment_region.name,
        "insurance_category": (
            "employee" if person.insurance_type == InsuranceType.EMPLOYEE else "resident"
        ),
        "phone": person.phone or "未登记",
        "hospital_name": eligibility.hospital.name,
        "pharmacy_name": eligibility.pharmacy.name if eligibility.pharmacy else "由患者选定",
        "diagnosis": f"{application.diagnosis_name}（{application.diagnosis_code}）",
        "drug_name": eligibility.drug.generic_name,
        "eligibility_start_date": eligibility.effective_from.isoformat(),
        "current_plan": _plan_text(selectors.current_plan(eligibility)),
        "assessment": reevaluation.assessment,
        "result": reevaluation.result,
        "physician_name": signer.name,
    }
    if reevaluation.result == R.ADJUST:
        data["adjusted_plan"] = _plan_text(
            {
                "dose": reevaluation.dose,
                "frequency": reevaluation.frequency,
                "route": reevaluation.route,
                "total_quantity": reevaluation.total_quantity,
                "quantity_unit": reevaluation.quantity_unit,
                "period_start": reevaluation.period_start,
                "period_end": reevaluation.period_end,
            }
        )
    if reevaluation.result == R.STOP:
        data["stop_reason"] = reevaluation.stop_reason
    else:
        data["evaluation_cycle"] = f"{reevaluation.evaluation_cycle_days}天"
        data["next_evaluation_date"] = reevaluation.next_due.isoformat()
    return data


def _stop(
    eligibility: Eligibility, *, actor: User | None, reason: str, today: date, **facts: Any
) -> tuple[Any, str]:
    cancel, note = cancel_filing(actor, eligibility, reason)
    eligibility.filing_note = note[:200]
    transition(
        eligibility,
        E.STOPPED,
        actor=actor,
        reason=reason,
        stopped_on=today.isoformat(),
        cancel_filing=cancel.pk if cancel is not None else None,
        **facts,
    )
    notify(
        template="eligibility.stopped",
        context={
            "drug_name": eligibility.drug.generic_name,
            "stopped_on": today,
            "reason": reason,
        },
        person=eligibility.patient,
        actor=actor,
    )
    return cancel, note


# --- services ----------------------------------------------------------------------------------


def _complete_by(eligibility: Eligibility, today: date) -> date | None:
    """HB art. 10: 7 working days (the profile's review deadline) from the day it started.

    A year without its notice is counted provisionally from the law (``core.calendar``) and
    computed again when the notice is loaded; beyond the law's reach the date stays open.
    """
    profile = profile_of(eligibility.hospital)
    days = (profile.review_deadline_working_days if profile else None) or 7
    try:
        return add_working_days(today, days)
    except UnknownCalendarYear:
        return None


def reevaluation_start(
    *, actor: User, eligibility_id: int, today: date | None = None
) -> Reevaluation:
    """The physician starts a re-evaluation [HB art. 9]: from the window's opening (7 working
    days before the deadline) on, or at any time for a suspended eligibility (late)."""
    today = _today(today)
    with transaction.atomic():
        eligibility = _locked(actor, eligibility_id)
        physician = _responsible_signer(actor, eligibility)
        ELIGIBILITY_MACHINE.check(eligibility.status, E.IN_REEVALUATION)
        due = eligibility.next_reevaluation_due
        late = eligibility.status == E.SUSPENDED
        opens = window_opens(eligibility, due) if due is not None else None
        if not late and opens is not None and today < opens:
            raise DomainError(
                codes.REEVALUATION_NOT_OPEN,
                f"复查评估窗口自{opens.isoformat()}起开放（截止日{due.isoformat()}）",
                fields={"window_opens": [opens.isoformat()]},
            )
        reevaluation = Reevaluation.objects.create(
            eligibility=eligibility,
            due_date=due or today,
            window_opens=opens,
            complete_by=_complete_by(eligibility, today),
            started_by=actor,
            physician=physician,
            late=late,
        )
        transition(
            eligibility,
            E.IN_REEVALUATION,
            actor=actor,
            reason="逾期复查评估" if late else "开始复查评估",
            # HB art. 9: benefits continue meanwhile; the patient knows by when to finish
            reevaluation=reevaluation.pk,
            due=(due or today).isoformat(),
            late=late,
        )
        notify(
            template="eligibility.reevaluation_started",
            context={
                "drug_name": eligibility.drug.generic_name,
                "hospital_name": eligibility.hospital.name,
                "complete_by": reevaluation.complete_by or due or today,
            },
            person=eligibility.patient,
            actor=actor,
        )
    return reevaluation


@dataclass(frozen=True)
class _Completion:
    """A re-evaluation's result as validated before any lock is taken."""

    result: str
    assessment: str
    stop_reason: str
    evaluation_cycle_days: int | None
    plan: dict[str, Any]  # dose … period_end, checked by _adjusted_plan for an adjustment
    today: date


def reevaluation_complete(
    *,
    actor: User,
    reevaluation_id: int,
    result: str,
    assessment: str,
    evaluation_cycle_days: int | None = None,
    dose: str = "",
    frequency: str = "",
    route: str = "",
    total_quantity: Any = None,
    quantity_unit: str = "",
    period_start: date | None = None,
    period_end: date | None = None,
    stop_reason: str = "",
    today: date | None = None,
) -> Reevaluation:
    """Record the result on the signed 复查评估表 and apply it [HB art. 9]:

    continue → active, next due = today + cycle; adjust → the same with the new plan;
    stop → the eligibility ends and its accepted filing is cancelled (2504).
    """
    done = _clean_completion(
        result=result,
        assessment=assessment,
        stop_reason=stop_reason,
        evaluation_cycle_days=evaluation_cycle_days,
        plan={
            "dose": dose,
            "frequency": frequency,
            "route": route,
            "total_quantity": total_quantity,
            "quantity_unit": quantity_unit,
            "period_start": period_start,
            "period_end": period_end,
        },
        today=_today(today),
    )
    with transaction.atomic():
        eligibility, reevaluation, signer = _completion_locked(actor, reevaluation_id, done)
        before = snapshot(reevaluation)
        _write_completion(actor, done, eligibility, reevaluation, signer)
        _apply_completion(actor, done, eligibility, reevaluation)
        reevaluation.save()
        audit.record(
            actor=actor,
            action="eligibility.reevaluation_completed",
            subject=reevaluation,
            before=before,
            after=reevaluation,
            patient=eligibility.patient,
            role=actor_role(actor),
            summary={
                "eligibility": eligibility.pk,
                "result": done.result,
                "form": reevaluation.form_id,
            },
        )
    return reevaluation


def _clean_completion(
    *,
    result: str,
    assessment: str,
    stop_reason: str,
    evaluation_cycle_days: int | None,
    plan: dict[str, Any],
    today: date,
) -> _Completion:
    """Check the result, the assessment and (for a stop) its reason, in that order."""
    if result not in R.values:
        raise DomainError(
            codes.INVALID_RESULT, "复查评估结果无效", fields={"result": ["应为继续、调整或停止"]}
        )
    assessment = _text(
        assessment, "assessment", codes.ASSESSMENT_REQUIRED, "请填写复查评估情况", 2000
    )
    if result == R.STOP:
        stop_reason = _text(
            stop_reason, "stop_reason", codes.REASON_REQUIRED, "请填写停止使用原因", 500
        )
    return _Completion(
        result=result,
        assessment=assessment,
        stop_reason=stop_reason,
        evaluation_cycle_days=evaluation_cycle_days,
        plan=plan,
        today=today,
    )


def _completion_locked(
    actor: User, reevaluation_id: int, done: _Completion
) -> tuple[Eligibility, Reevaluation, Physician]:
    """Lock the signer, the eligibility and the re-evaluation; check it is open and may move."""
    found = Reevaluation.objects.filter(pk=reevaluation_id).values_list("eligibility_id", flat=True)
    eligibility_id = found.first()
    if eligibility_id is None:
        raise NotFound()
    # core.locks order: the signer (document_sign locks it), then the eligibility; the
    # scope check and the signer come from an unlocked read
    signer = _responsible_signer(actor, selectors.eligibility_get(actor, eligibility_id))
    Physician.objects.select_for_update().get(pk=signer.pk)
    eligibility = _locked(actor, eligibility_id)
    reevaluation = Reevaluation.objects.select_for_update().get(pk=reevaluation_id)
    signer = _hospital_physician(actor, eligibility)
    if reevaluation.completed_at is not None:
        raise Conflict(codes.REEVALUATION_CLOSED, "该复查评估已完成")
    target = E.STOPPED if done.result == R.STOP else E.ACTIVE
    ELIGIBILITY_MACHINE.check(eligibility.status, target)
    return eligibility, reevaluation, signer


def _write_completion(
    actor: User,
    done: _Completion,
    eligibility: Eligibility,
    reevaluation: Reevaluation,
    signer: Physician,
) -> None:
    """Set the result, the plan (adjust) or the cycle, sign the form and close the row."""
    result, today = done.result, done.today
    reevaluation.result = result
    reevaluation.assessment = done.assessment
    if result == R.ADJUST:
        plan = _adjusted_plan(eligibility, **done.plan)
        for key, value in plan.items():
            setattr(reevaluation, key, value)
    if result == R.STOP:
        reevaluation.stop_reason = done.stop_reason
    else:
        cycle = _cycle(done.evaluation_cycle_days, eligibility)
        reevaluation.evaluation_cycle_days = cycle
        reevaluation.next_due = today + timedelta(days=cycle)
    reevaluation.form = document_sign(
        actor=actor,
        signer=signer,
        kind=DocumentKind.REEVALUATION_FORM,
        subject_type=Reevaluation._meta.label,
        subject_id=str(reevaluation.pk),
        data=_form_data(eligibility, reevaluation, signer, today),
        patient=eligibility.patient,
    )
    reevaluation.completed_at = timezone.now()
    reevaluation.completed_on = today
    reevaluation.completed_by = actor


def _apply_completion(
    actor: User, done: _Completion, eligibility: Eligibility, reevaluation: Reevaluation
) -> None:
    """Stop the eligibility (filing cancelled), or make it active again and tell the patient."""
    result = done.result
    drug_name = eligibility.drug.generic_name
    if result == R.STOP:
        cancel, note = _stop(
            eligibility,
            actor=actor,
            reason=done.stop_reason,
            today=done.today,
            reevaluation=reevaluation.pk,
            result=result,
        )
        reevaluation.cancel_filing = cancel
        reevaluation.filing_note = note[:200]
        return
    eligibility.next_reevaluation_due = reevaluation.next_due
    if result == R.ADJUST:
        eligibility.plan_total_quantity = reevaluation.total_quantity
    label = R(result).label
    transition(
        eligibility,
        E.ACTIVE,
        actor=actor,
        reason=f"复查评估：{label}",
        reevaluation=reevaluation.pk,
        result=result,
        next_due=reevaluation.next_due.isoformat(),
    )
    notify(
        template="eligibility.reevaluation_completed",
        context={
            "drug_name": drug_name,
            "result": label,
            "next_due": reevaluation.next_due,
        },
        person=eligibility.patient,
        actor=actor,
    )


def eligibility_stop(
    *, actor: User, eligibility_id: int, reason: str, today: date | None = None
) -> Eligibility:
    """A physician of the hospital ends an active or suspended eligibility (filing cancelled)."""
    today = _today(today)
    reason = _text(reason, "reason", codes.REASON_REQUIRED, "请填写终止原因", 500)
    with transaction.atomic():
        eligibility = _locked(actor, eligibility_id)
        _hospital_physician(actor, eligibility)
        if eligibility.status == E.IN_REEVALUATION:
            raise Conflict(codes.WRONG_STATUS, "复查评估进行中，请通过复查评估结果终止")
        ELIGIBILITY_MACHINE.check(eligibility.status, E.STOPPED)
        _stop(eligibility, actor=actor, reason=reason, today=today)
    return eligibility
