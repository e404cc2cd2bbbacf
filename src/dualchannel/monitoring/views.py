"""The agency officer's pages of monitoring alerts [HB art. 47, AH §2(8), CX art. 30]: the
region's alerts filtered by rule, state, institution, severity and month; one alert with its
evidence in words, links to what it names and its history; confirm (optionally recording the
violation finding, which raises the recovery orders) or dismiss with a reason
(``services.alert_review``)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.registry.models import Institution

from . import selectors, services
from .evidence import evidence_facts
from .models import AlertSeverity, AlertState, MonitoringRule

officer_required = role_required(Role.AGENCY_OFFICER)
LIST_LIMIT = 200
# Rules raised in code by the apps (not in the rules table), in words.
OTHER_RULE_LABELS = {
    "trace_code_duplicate": "追溯码重复：入库或发药时出现已登记的追溯码",
}
# ... and the article each serves (the rules table's own rows carry theirs).
OTHER_RULE_ARTICLES = {
    "trace_code_duplicate": (
        "楚医保规〔2022〕4号第十四条第（三）项：按照国家有关规定使用药品电子追溯码，"
        "通过扫码实时将进、销、存数据上传医保信息平台"
    ),
}
# Facts shown in the list (the rest on the alert's own page).
EVIDENCE_LABELS = {
    "trace_code": "追溯码",
    "sold_at": "售出时间",
    "complete_by": "复查应完成日期",
    "started_on": "复查开始日期",
}


def rule_labels() -> dict[str, str]:
    """Each rule's name in Chinese (the national row's), with the rules raised in code."""
    names = dict(MonitoringRule.objects.filter(region=None).values_list("key", "name"))
    return {**OTHER_RULE_LABELS, **names}


def _row(alert, labels: dict[str, str]) -> dict[str, Any]:
    evidence = alert.evidence or {}
    return {
        "alert": alert,
        "what": labels.get(alert.rule, "其他监控规则"),
        "facts": [
            (label, evidence[key]) for key, label in EVIDENCE_LABELS.items() if evidence.get(key)
        ],
    }


def _filters(request: HttpRequest) -> dict[str, str]:
    state = request.GET.get("state", AlertState.OPEN)
    if state not in AlertState.values and state != "all":
        state = AlertState.OPEN
    institution = request.GET.get("institution", "").strip()
    month = request.GET.get("month", "").strip()
    severity = request.GET.get("severity", "")
    return {
        "state": state,
        "rule": request.GET.get("rule", "").strip()[:60],
        "institution": institution if institution.isdigit() else "",
        "severity": severity if severity in AlertSeverity.values else "",
        "month": month if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month) else "",
    }


def _context(request: HttpRequest) -> dict[str, Any]:
    f = _filters(request)
    qs = selectors.alert_list(
        request.user,
        state=None if f["state"] == "all" else f["state"],
        rule=f["rule"] or None,
        institution_id=int(f["institution"]) if f["institution"] else None,
        severity=f["severity"] or None,
        month=tuple(int(x) for x in f["month"].split("-")) if f["month"] else None,
    )
    order = ("created_at", "id") if f["state"] == AlertState.OPEN else ("-created_at", "-id")
    labels = rule_labels()
    visible = selectors.visible_alerts(request.user)
    return {
        "rows": [_row(a, labels) for a in qs.order_by(*order)[:LIST_LIMIT]],
        "filters": f,
        "state": f["state"],
        "states": AlertState.choices,
        "severities": AlertSeverity.choices,
        "rules": sorted(labels.items()),
        "institutions": Institution.objects.filter(
            pk__in=visible.values("institution_id")
        ).order_by("name"),
        "open_count": visible.filter(state=AlertState.OPEN).count(),
    }


@require_GET
@officer_required
def agency_alerts(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(request, "monitoring/agency_alerts.html", _context(request))


def _detail(request: HttpRequest, alert_id: int) -> dict[str, Any]:
    alert = selectors.alert_get(request.user, alert_id)
    rule = MonitoringRule.objects.filter(key=alert.rule, region=None).first()
    return {
        "alert": alert,
        "what": rule_labels().get(alert.rule, "其他监控规则"),
        "article": rule.article if rule else OTHER_RULE_ARTICLES.get(alert.rule, ""),
        "facts": evidence_facts(alert.evidence),
        "history": alert.history.select_related("actor").order_by("at", "id"),
        "finding_kinds": services.finding_kinds(),
        "has_settlements": bool(services.alert_settlement_ids(alert)),
    }


@require_GET
@officer_required
def agency_alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    return TemplateResponse(request, "monitoring/agency_alert.html", _detail(request, alert_id))


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
        finding_kind=request.POST.get("finding_kind", "") if decision == "confirm" else "",
    )
    text = "已确认预警属实" if alert.state == AlertState.CONFIRMED else "已排除预警"
    if alert.finding_no:
        text += f"，已记录违规认定 {alert.finding_no} 并生成追回单"
    if request.POST.get("from") == "detail" or not request.headers.get("HX-Request"):
        messages.success(request, text)
        if request.POST.get("from") == "detail":
            return redirect("agency-alert", alert_id=alert.pk)
        return redirect("agency-alerts")
    return TemplateResponse(request, "monitoring/_alerts.html", {**_context(request), "done": text})
