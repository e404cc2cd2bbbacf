"""Reads of the reports, scoped to the actor [SD §10].

Access: a county's officers see their county, a city's officers their city (and its counties), a
province's officers the province (and its cities); an admin everything. A region outside the
actor's scope is refused as not found (``analytics.region_not_found``), never revealed.
"""

from __future__ import annotations

import re
from datetime import date

from django.db.models import QuerySet
from django.utils import timezone

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.registry.models import PolicyProfile, Region, RegionLevel
from dualchannel.registry.profiles import profile_citation
from dualchannel.registry.regions import is_within, regions_within
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from .models import CountyProgress, MonthlySubmission

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
QUARTER_RE = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)


def parse_month(text: str | None, *, today: date | None = None) -> date:
    """``YYYY-MM`` → the month's first day; a malformed or future month is refused."""
    match = MONTH_RE.match((text or "").strip())
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise DomainError(
            codes.INVALID_MONTH, "月份格式应为“年-月”，如 2026-03", fields={"month": ["格式有误"]}
        )
    month = date(int(match.group(1)), int(match.group(2)), 1)
    today = today or timezone.localdate()
    if month > today.replace(day=1):
        raise DomainError(
            codes.FUTURE_MONTH,
            f"{month.year}年{month.month}月尚未到来，不能统计",
            fields={"month": ["不能晚于本月"]},
        )
    return month


def parse_quarter(text: str | None, *, today: date | None = None) -> tuple[date, date, date]:
    """``YYYY-Qn`` → the quarter's three months; a malformed or future quarter is refused."""
    match = QUARTER_RE.match((text or "").strip())
    if match is None:
        raise DomainError(
            codes.INVALID_QUARTER,
            "季度格式应为“年-Q季度”，如 2026-Q1",
            fields={"quarter": ["格式有误"]},
        )
    year, quarter = int(match.group(1)), int(match.group(2))
    months = tuple(date(year, 3 * (quarter - 1) + i, 1) for i in (1, 2, 3))
    parse_month(months[0].strftime("%Y-%m"), today=today)  # the quarter has begun
    return months  # type: ignore[return-value]


def monthly_table_duties() -> dict[str, int]:
    """Province code → the day of the month its cities' tables are due, for every province whose
    policy profile asks for the monthly table [SD §10] (one query)."""
    return dict(
        PolicyProfile.objects.filter(
            region__level=RegionLevel.PROVINCE, monthly_table_due_day__isnull=False
        )
        .order_by("region_id")
        .values_list("region_id", "monthly_table_due_day")
    )


def monthly_table_due_day(province_code: str) -> int | None:
    """The day of the month the province's cities submit by (None: it asks for no table)."""
    return monthly_table_duties().get(province_code)


def monthly_table_basis(province_code: str) -> str:
    """The province's own words for the duty (its profile's citation, in Chinese)."""
    profile = PolicyProfile.objects.filter(region_id=province_code).first()
    return profile_citation(profile, "monthly_table_due_day")


def region_not_found() -> NotFound:
    return NotFound(codes.REGION_NOT_FOUND, "区划不存在或不在您的管辖范围内")


def actor_scope(actor: User | None) -> Region | None:
    """The region an officer reports for; None for an admin (everything). Others are refused."""
    require_role(actor, Role.AGENCY_OFFICER)
    if actor.is_superuser:
        return None
    region = officer_region(actor)
    if region is None:
        raise region_not_found()
    return region


def region_in_scope(actor: User | None, code: str | None, *, level: str) -> Region:
    """The region ``code`` of ``level`` when the actor may see it; else refused."""
    scope = actor_scope(actor)
    region = Region.objects.select_related("parent").filter(code=(code or "").strip()).first()
    if region is None or (scope is not None and not is_within(region.code, scope)):
        raise region_not_found()
    if region.level != level:
        labels = {
            RegionLevel.CITY: (codes.NOT_A_CITY, "请选择地市级区划"),
            RegionLevel.COUNTY: (codes.NOT_A_COUNTY, "请选择县（市、区）"),
            RegionLevel.PROVINCE: (codes.NOT_A_PROVINCE, "请选择省级区划"),
        }
        code_, message = labels[level]
        raise DomainError(code_, message, fields={"region": [message]})
    return region


def province_in_scope(actor: User | None, code: str | None) -> Region:
    """The province whose cities the actor lists (default: the officer's own province; a city's
    officer then sees their city only, see ``cities_in_scope``); a county's officer has none."""
    scope = actor_scope(actor)
    own = scope.code[:2] + "0000" if scope is not None else next(iter(monthly_table_duties()), "")
    code = (code or "").strip() or own
    province = Region.objects.filter(code=code, level=RegionLevel.PROVINCE).first()
    outside = scope is not None and (
        scope.level == RegionLevel.COUNTY or not code.startswith(scope.code[:2])
    )
    if province is None or outside:
        raise region_not_found()
    return province


def report_counties(city: Region) -> list[Region]:
    """The table's rows: the city's county-level units; a city without counties is its own."""
    counties = list(regions_within(city, level=RegionLevel.COUNTY).order_by("code"))
    if not counties and city.is_county_level:
        return [city]
    return counties


def cities_in_scope(actor: User | None, province: Region) -> list[Region]:
    """The province's cities the actor sees (a city officer: their own city)."""
    scope = actor_scope(actor)
    cities = regions_within(province, level=RegionLevel.CITY).order_by("code")
    if scope is not None and scope.level != RegionLevel.PROVINCE:
        cities = cities.filter(code__startswith=scope.code_prefix)
    return list(cities)


def progress_for(counties: list[Region], month: date) -> dict[str, CountyProgress]:
    rows = CountyProgress.objects.filter(county__in=counties, month=month)
    return {row.county_id: row for row in rows}


def submissions_for(cities: list[Region], months: list[date]) -> QuerySet[MonthlySubmission]:
    return MonthlySubmission.objects.filter(city__in=cities, month__in=months).select_related(
        "submitted_by"
    )


def submission_of(city: Region, month: date) -> MonthlySubmission | None:
    return MonthlySubmission.objects.filter(city=city, month=month).first()
