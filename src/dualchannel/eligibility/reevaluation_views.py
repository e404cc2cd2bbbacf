"""复查评估 from a page (issue 12, point 3; HB art. 9): the physician's list of eligibilities
due, and one eligibility's re-evaluation — start it, then record the result on the signed form.
Forms post with htmx: a refusal lands in the message area and the form keeps what was typed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.calendar import UnknownCalendarYear
from dualchannel.core.errors import NotFound, field_error
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.models import User
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import selectors
from .models import Eligibility, EligibilityStatus, ReevaluationResult
from .services import reevaluation as services

E = EligibilityStatus
physician_required = role_required(Role.PHYSICIAN)
FALLBACK_WINDOW_DAYS = 10  # calendar days, when the year's working-day calendar is not loaded


def _window_opens(eligibility: Eligibility) -> date | None:
    if eligibility.next_reevaluation_due is None:
        return None
    try:
        return services.window_opens(eligibility)
    except UnknownCalendarYear:
        return eligibility.next_reevaluation_due - timedelta(days=FALLBACK_WINDOW_DAYS)


def reevaluations_due(actor: User, today: date | None = None) -> list[dict[str, Any]]:
    """The hospital's eligibilities whose re-evaluation is open, under way or overdue, by
    deadline (the physician's work queue)."""
    today = today or timezone.localdate()
    qs = selectors.visible_eligibilities(actor).filter(
        status__in=[E.ACTIVE, E.IN_REEVALUATION, E.SUSPENDED]
    )
    if not actor.is_superuser:
        qs = qs.filter(hospital_id=actor.institution_id)
    rows = []
    for eligibility in qs.order_by("next_reevaluation_due", "pk"):
        opens = _window_opens(eligibility)
        if eligibility.status == E.ACTIVE and (opens is None or today < opens):
            continue
        rows.append(
            {
                "eligibility": eligibility,
                "name": mask_name(eligibility.patient.name),
                "opens": opens,
                "overdue": eligibility.status == E.SUSPENDED
                or (eligibility.next_reevaluation_due or today) < today,
            }
        )
    return rows


def _own_eligibility(request: HttpRequest, eligibility_id: int) -> Eligibility:
    eligibility = selectors.eligibility_get(request.user, eligibility_id)
    if not request.user.is_superuser and eligibility.hospital_id != request.user.institution_id:
        raise NotFound()
    return eligibility


def _open_reevaluation(eligibility: Eligibility):
    return eligibility.reevaluations.filter(completed_at__isnull=True).order_by("-pk").first()


@require_GET
@physician_required
def doctor_reevaluation(request: HttpRequest, eligibility_id: int) -> HttpResponse:
    eligibility = _own_eligibility(request, eligibility_id)
    plan = selectors.current_plan(eligibility)
    today = timezone.localdate()
    opens = _window_opens(eligibility)
    current = _open_reevaluation(eligibility)
    context = {
        "eligibility": eligibility,
        "masked_name": mask_name(eligibility.patient.name),
        "masked_id": mask_id_number(eligibility.patient.id_number),
        "plan": plan,
        "opens": opens,
        "current": current,
        "can_start": current is None
        and (
            eligibility.status == E.SUSPENDED
            or (eligibility.status == E.ACTIVE and (opens is None or today >= opens))
        ),
        "results": ReevaluationResult.choices,
        "cycle": services.current_cycle_days(eligibility),
        "period_start": today,
        "period_end": today + timedelta(days=(services.current_cycle_days(eligibility) or 90) - 1),
        "done": list(
            eligibility.reevaluations.filter(completed_at__isnull=False).order_by("-completed_at")
        ),
    }
    return TemplateResponse(request, "eligibility/doctor_reevaluation.html", context)


def _back(request: HttpRequest, eligibility_id: int, message: str) -> HttpResponse:
    messages.success(request, message)
    url = reverse("eligibility-doctor-reevaluation", args=[eligibility_id])
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


@require_POST
@physician_required
def doctor_reevaluation_start(request: HttpRequest, eligibility_id: int) -> HttpResponse:
    eligibility = _own_eligibility(request, eligibility_id)
    services.reevaluation_start(actor=request.user, eligibility_id=eligibility.pk)
    return _back(request, eligibility.pk, "已开始复查评估，患者待遇在复查期间继续")


def _date_or_none(value: str, field: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise field_error(field, "eligibility.invalid_plan", "请选择有效的日期") from None


@require_POST
@physician_required
def doctor_reevaluation_complete(request: HttpRequest, eligibility_id: int) -> HttpResponse:
    eligibility = _own_eligibility(request, eligibility_id)
    current = _open_reevaluation(eligibility)
    if current is None:
        raise field_error("result", "eligibility.reevaluation_closed", "请先开始复查评估")
    post = request.POST
    cycle = post.get("evaluation_cycle_days", "").strip()
    if cycle and not cycle.isdigit():
        raise field_error("evaluation_cycle_days", "eligibility.invalid_plan", "周期应为天数")
    done = services.reevaluation_complete(
        actor=request.user,
        reevaluation_id=current.pk,
        result=post.get("result", ""),
        assessment=post.get("assessment", ""),
        evaluation_cycle_days=int(cycle) if cycle else None,
        dose=post.get("dose", ""),
        frequency=post.get("frequency", ""),
        route=post.get("route", ""),
        total_quantity=post.get("total_quantity", "").strip() or None,
        quantity_unit=post.get("quantity_unit", ""),
        period_start=_date_or_none(post.get("period_start", ""), "period_start"),
        period_end=_date_or_none(post.get("period_end", ""), "period_end"),
        stop_reason=post.get("stop_reason", ""),
    )
    return _back(request, eligibility.pk, f"复查评估已完成：{done.get_result_display()}")
