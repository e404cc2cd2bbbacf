"""Agency page: each pharmacy's stocking coverage against its profile's minimum
[SD §6: ≥30 drugs in an urban district, ≥20 in a county; CX art. 14: ≥30% of negotiated drugs]."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from .selectors import coverage_report


@require_GET
@login_required
def agency_coverage(request: HttpRequest) -> HttpResponse:
    rows = coverage_report(request.user)
    return TemplateResponse(
        request,
        "inventory/agency_coverage.html",
        {
            "rows": rows,
            "short": sum(1 for r in rows if r.meets is False),
            "met": sum(1 for r in rows if r.meets),
        },
    )
