"""The officers' page of the smart-monitoring rules [HB art. 47, AH §2(8), CX art. 30]: each
rule as it applies in their region, with the article it serves, where its values come from, and
a form per rule writing the region's override (``services.rule_update``)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import selectors, services
from .models import AlertSeverity
from .rules import RULE_PARAMS

officer_required = role_required(Role.AGENCY_OFFICER)


@require_GET
@officer_required
def agency_monitoring_rules(request: HttpRequest) -> HttpResponse:
    region, rows = selectors.rules_page(request.user)
    return TemplateResponse(
        request,
        "monitoring/agency_rules.html",
        {
            "region": region,
            "region_code": region.code if region is not None else services.NATIONAL,
            "rows": rows,
            "severities": AlertSeverity.choices,
        },
    )


@require_POST
@officer_required
def agency_monitoring_rule_update(request: HttpRequest, region_code: str, key: str) -> HttpResponse:
    params = {name: request.POST.get(name, "") for name in RULE_PARAMS.get(key, {})}
    rule = services.rule_update(
        actor=request.user,
        key=key,
        region_code=region_code,
        params=params,
        enabled=request.POST.get("enabled") == "1",
        severity=request.POST.get("severity") or None,
    )
    done = f"已保存“{rule.name}”的阈值"
    if not request.headers.get("HX-Request"):
        messages.success(request, done)
        return redirect("agency-monitoring-rules")
    _region, rows = selectors.rules_page(request.user)
    return TemplateResponse(
        request,
        "monitoring/_rule.html",
        {
            "row": next(r for r in rows if r.rule.key == key),
            "region_code": region_code,
            "severities": AlertSeverity.choices,
            "done": done,
        },
    )
