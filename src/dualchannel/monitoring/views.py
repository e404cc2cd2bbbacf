"""The agency officer's page of monitoring alerts: the region's alerts, open ones oldest first,
each confirmed or dismissed with a note (``services.alert_review``)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import selectors, services
from .models import AlertState

officer_required = role_required(Role.AGENCY_OFFICER)
LIST_LIMIT = 200
# What each rule found, in words (the rule's code stays in the collapsed detail for support).
RULE_LABELS = {
    "trace_code_resold": "追溯码重复销售：同一盒药的追溯码已售出后再次出现",
    "trace_code_duplicate": "追溯码重复：入库或发药时出现已登记的追溯码",
    "reevaluation_overdue": "复查评估逾期：用药资格的复查评估未在期限内完成",
}
# Facts of the evidence shown in words; the rest stays in the detail for support.
EVIDENCE_LABELS = {
    "trace_code": "追溯码",
    "sold_at": "售出时间",
    "complete_by": "复查应完成日期",
    "started_on": "复查开始日期",
}


def _row(alert) -> dict[str, Any]:
    evidence = alert.evidence or {}
    return {
        "alert": alert,
        "what": RULE_LABELS.get(alert.rule, "其他监控规则"),
        "facts": [
            (label, evidence[key]) for key, label in EVIDENCE_LABELS.items() if evidence.get(key)
        ],
    }


def _context(request: HttpRequest) -> dict[str, Any]:
    state = request.GET.get("state", AlertState.OPEN)
    if state not in AlertState.values and state != "all":
        state = AlertState.OPEN
    qs = selectors.visible_alerts(request.user)
    if state != "all":
        qs = qs.filter(state=state)
    order = ("created_at", "id") if state == AlertState.OPEN else ("-created_at", "-id")
    return {
        "rows": [_row(a) for a in qs.order_by(*order)[:LIST_LIMIT]],
        "state": state,
        "states": AlertState.choices,
        "open_count": selectors.visible_alerts(request.user).filter(state=AlertState.OPEN).count(),
    }


@require_GET
@officer_required
def agency_alerts(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(request, "monitoring/agency_alerts.html", _context(request))


@require_POST
@officer_required
def agency_alert_review(request: HttpRequest, alert_id: int) -> HttpResponse:
    decision = request.POST.get("decision", "")
    if decision not in ("confirm", "dismiss"):
        raise DomainError("monitoring.decision_required", "请选择确认违规或排除预警")
    alert = services.alert_review(
        actor=request.user,
        alert_id=alert_id,
        confirm=decision == "confirm",
        note=request.POST.get("note", ""),
    )
    text = "已确认预警属实" if alert.state == AlertState.CONFIRMED else "已排除预警"
    if not request.headers.get("HX-Request"):
        messages.success(request, text)
        return redirect("agency-alerts")
    return TemplateResponse(request, "monitoring/_alerts.html", {**_context(request), "done": text})
