"""The agency's statistics page (issue 13 §1): a region and a month range, one section at a time
(概览, 按药品 … 定点覆盖), a chart drawn by the vendored ECharts from a JSON script element, and
each section's tables as .xlsx. Officers only; the scope is the officer's region (``stats``).
The figures are as of the rollups' last refresh (数据截至: the worker's, every five minutes, or
``manage.py rollup_rebuild --refresh``)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dualchannel.core.errors import DomainError
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.registry.models import Region, RegionLevel

from . import error_codes as codes
from .rollups import last_refreshed
from .selectors import actor_scope
from .stats import StatsScope, stats_scope
from .stats_sections import SECTIONS, build_section
from .stats_xlsx import section_file

officer_required = role_required(Role.AGENCY_OFFICER)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
QUERY_KEYS = ("region", "start", "end")


def _scope(request: HttpRequest) -> StatsScope:
    return stats_scope(
        request.user,
        region=request.GET.get("region"),
        start=request.GET.get("start"),
        end=request.GET.get("end"),
    )


def _tab(request: HttpRequest) -> str:
    tab = request.GET.get("tab") or "overview"
    if tab not in SECTIONS:
        raise DomainError(codes.INVALID_DIMENSION, "统计栏目不存在", fields={"tab": ["不存在"]})
    return tab


def _query(scope: StatsScope, **extra: str) -> str:
    params = {
        "region": scope.region.code,
        "start": scope.start.strftime("%Y-%m"),
        "end": scope.end.strftime("%Y-%m"),
        **extra,
    }
    return urlencode(params)


def _regions(request: HttpRequest, scope: StatsScope) -> list[Region]:
    """The regions the picker offers: the officer's own and those below it down to counties."""
    own = actor_scope(request.user)
    base = Region.objects.filter(
        level__in=[RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY]
    )
    if own is not None:
        base = base.filter(code__startswith=own.code_prefix)
    else:
        base = base.filter(code__startswith=scope.region.code[:2])
    return list(base.select_related("parent").order_by("code")[:400])


@require_GET
@officer_required
def agency_statistics(request: HttpRequest) -> HttpResponse:
    tab = _tab(request)
    scope = _scope(request)
    section = build_section(tab, scope)
    context = {
        "scope": scope,
        "section": section,
        "tabs": [
            (key, title, f"?{_query(scope, tab=key)}") for key, (title, _) in SECTIONS.items()
        ],
        "tab": tab,
        "xlsx_url": f"{reverse('agency-statistics-xlsx')}?{_query(scope, tab=tab)}",
        "regions": _regions(request, scope),
        "start": scope.start.strftime("%Y-%m"),
        "end": scope.end.strftime("%Y-%m"),
        "max_month": timezone.localdate().strftime("%Y-%m"),
        "as_of": last_refreshed(),
        "chart": section.chart,
    }
    return TemplateResponse(request, "analytics/statistics.html", context)


@require_GET
@officer_required
def agency_statistics_xlsx(request: HttpRequest) -> HttpResponse:
    tab = _tab(request)
    scope = _scope(request)
    section = build_section(tab, scope)
    content = section_file(section, scope, last_refreshed())
    response = HttpResponse(content, content_type=XLSX)
    name = f"{scope.region.name}双通道统计-{section.title}-{scope.label.replace(' ', '')}.xlsx"
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    response["Cache-Control"] = "private, no-store"
    return response
