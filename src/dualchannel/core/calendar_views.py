"""The holiday table of one year, for agency officers and admins: loaded (its document and its
exceptions) or provisional (counted from the 放假办法). A provincial agency's officer or an
admin loads it here (``core.calendar.calendar_year_load``; also ``PUT /api/v1/calendar/years/
{year}`` and ``manage.py calendar_load_year``)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from .calendar import (
    calendar_year_load,
    is_provisional_year,
    may_load_calendar,
    parse_calendar_lines,
)
from .errors import DomainError, NotFound, PermissionDenied
from .models import CalendarYear
from .permissions import role_required
from .roles import Role


@require_http_methods(["GET", "POST"])
@role_required(Role.AGENCY_OFFICER, Role.ADMIN)
def calendar_year_page(request: HttpRequest, year: int) -> HttpResponse:
    if not 2000 <= year <= 2100:
        raise NotFound("calendar.year_not_found", "年度应在2000至2100之间")
    may_load = may_load_calendar(request.user)
    error: DomainError | None = None
    if request.method == "POST":
        if not may_load:
            raise PermissionDenied(
                "calendar.admin_only", "全国节假日安排仅省级医保经办机构或系统管理员可导入"
            )
        try:
            days = parse_calendar_lines(request.POST.get("days", ""))
            calendar_year_load(
                actor=request.user,
                year=year,
                days=days,
                document_no=request.POST.get("document_no", ""),
            )
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, f"已导入{year}年节假日安排，相关期限已按新安排重新计算")
            return redirect("core-calendar-year", year)
    loaded = CalendarYear.objects.filter(year=year).first()
    return TemplateResponse(
        request,
        "core/calendar_year.html",
        {
            "year": year,
            "loaded": loaded,
            "days": list(loaded.days.order_by("date")) if loaded else [],
            "provisional": is_provisional_year(year),
            "may_load": may_load,
            "error": error,
            "form": request.POST if error else {},
        },
        status=400 if error else 200,
    )
