"""Pages of the Shandong monthly table [SD §10]: the county enters its progress text, the city
sees its table, downloads it and submits it to the province, the province sees which cities
submitted (or are late), downloads each, and the quarterly bulletin (按季通报)."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.masking import mask_phone
from dualchannel.core.months import month_end, previous_month
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.registry.models import Region, RegionLevel

from . import services
from .models import PROGRESS_MAX_CHARS, SubmissionStatus
from .sd_monthly import HEADERS, TITLE, build_table
from .sd_report import bulletin_file, city_months, monthly_file, submitted_table, submitter_name
from .selectors import (
    actor_scope,
    cities_in_scope,
    monthly_table_basis,
    monthly_table_due_day,
    parse_month,
    parse_quarter,
    province_in_scope,
    region_in_scope,
    submission_of,
)

officer_required = role_required(Role.AGENCY_OFFICER)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _last_month() -> str:
    return previous_month(timezone.localdate()).strftime("%Y-%m")


def _month(request: HttpRequest) -> date:
    data = request.POST if request.method == "POST" else request.GET
    return parse_month(data.get("month") or _last_month())


def _unit(request: HttpRequest, city: Region) -> str:
    inst = request.user.institution
    if inst is not None and inst.region_id == city.code:
        return inst.name
    return f"{city.name}医疗保障局"


def _county_context(request: HttpRequest, county: Region, month: date) -> dict[str, Any]:
    table = build_table(county.parent, month, counties=[county])
    submission = submission_of(county.parent, month)
    return {
        "view": "county",
        "county": county,
        "table": table,
        "locked": submission is not None and submission.status == SubmissionStatus.SUBMITTED,
    }


def _city_context(request: HttpRequest, city: Region, month: date) -> dict[str, Any]:
    submission = submission_of(city, month)
    frozen = submitted_table(submission)
    scope = actor_scope(request.user)
    return {
        "view": "city",
        "city": city,
        "table": frozen or build_table(city, month),
        "submission": submission,
        "submitter": submitter_name(submission) if frozen else "",
        "phone": mask_phone(submission.contact_phone)
        if frozen and submission.contact_phone
        else "",
        "locked": frozen is not None,
        "can_submit": frozen is None and (scope is None or scope.level == RegionLevel.CITY),
        "month_ended": month_end(month) < timezone.localdate(),
    }


def _page(request: HttpRequest, region: Region, month: date, **extra) -> TemplateResponse:
    if region.level == RegionLevel.COUNTY:
        context = _county_context(request, region, month)
    else:
        context = _city_context(request, region, month)
    as_of = date.fromisoformat(context["table"].as_of)
    context |= {
        "as_of": f"{as_of.year}年{as_of.month}月{as_of.day}日",
        "title": TITLE,
        "headers": HEADERS,
        "month": month.strftime("%Y-%m"),
        "month_label": f"{month.year}年{month.month}月",
        "max_chars": PROGRESS_MAX_CHARS,
        "due_day": monthly_table_due_day(region.code[:2] + "0000"),
        "basis": monthly_table_basis(region.code[:2] + "0000"),
        **extra,
    }
    return TemplateResponse(request, "analytics/sd_monthly.html", context)


@require_GET
@officer_required
def agency_sd_monthly(request: HttpRequest) -> HttpResponse:
    month = _month(request)
    code = request.GET.get("region", "")
    scope = actor_scope(request.user)
    if not code and (scope is None or scope.level == RegionLevel.PROVINCE):
        return redirect(f"{reverse('agency-sd-province')}?month={month:%Y-%m}")
    code = code or scope.code
    found = Region.objects.filter(code=code).values_list("level", flat=True).first()
    level = RegionLevel.COUNTY if found == RegionLevel.COUNTY else RegionLevel.CITY
    region = region_in_scope(request.user, code, level=level)
    return _page(request, region, month)


@require_POST
@officer_required
def agency_sd_progress(request: HttpRequest) -> HttpResponse:
    row = services.county_progress_save(
        actor=request.user,
        county_code=request.POST.get("county", ""),
        month=request.POST.get("month", ""),
        text=request.POST.get("text", ""),
    )
    scope = actor_scope(request.user)
    shown = row.county if scope is not None and scope.level == RegionLevel.COUNTY else None
    region = shown or row.county.parent
    return _page(request, region, row.month, done=f"已保存{row.county.name}的工作进展情况")


@require_POST
@officer_required
def agency_sd_submit(request: HttpRequest) -> HttpResponse:
    submission = services.sd_monthly_submit(
        actor=request.user,
        city_code=request.POST.get("region", ""),
        month=request.POST.get("month", ""),
        contact_phone=request.POST.get("contact_phone", ""),
    )
    return _page(request, submission.city, submission.month, done="统计表已报送省医保局")


def _download(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@officer_required
def agency_sd_monthly_xlsx(request: HttpRequest) -> HttpResponse:
    month = _month(request)
    scope = actor_scope(request.user)
    code = request.GET.get("region") or (scope.code if scope is not None else "")
    city = region_in_scope(request.user, code, level=RegionLevel.CITY)
    content, _table = monthly_file(city, month, unit=_unit(request, city))
    return _download(content, f"{city.name}谈判药品双通道统计表-{month:%Y-%m}.xlsx")


def _province(request: HttpRequest) -> Region:
    return province_in_scope(request.user, request.GET.get("region"))


@require_GET
@officer_required
def agency_sd_province(request: HttpRequest) -> HttpResponse:
    month = _month(request)
    province = _province(request)
    cities = cities_in_scope(request.user, province)
    rows = city_months(cities, [month])
    quarter = f"{month.year}-Q{(month.month - 1) // 3 + 1}"
    context = {
        "province": province,
        "rows": rows,
        "month": month.strftime("%Y-%m"),
        "month_label": f"{month.year}年{month.month}月",
        "quarter": quarter,
        "submitted": sum(1 for r in rows if r.submission and r.submission.status == "submitted"),
        "due_day": monthly_table_due_day(province.code),
        "basis": monthly_table_basis(province.code),
    }
    return TemplateResponse(request, "analytics/sd_province.html", context)


@require_GET
@officer_required
def agency_sd_quarterly_xlsx(request: HttpRequest) -> HttpResponse:
    last = _last_month()  # default: the quarter of last month
    default = f"{last[:4]}-Q{(int(last[5:]) - 1) // 3 + 1}"
    months = list(parse_quarter(request.GET.get("quarter") or default))
    province = _province(request)
    cities = cities_in_scope(request.user, province)
    content = bulletin_file(province, months, cities)
    quarter = (months[0].month - 1) // 3 + 1
    return _download(content, f"{province.name}双通道按季通报-{months[0].year}Q{quarter}.xlsx")
