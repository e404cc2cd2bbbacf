"""The Shandong monthly table as JSON [SD §10]: a city's table (as submitted, else live) for the
officers whose scope holds the city."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from dualchannel.core.auth import api_auth
from dualchannel.registry.models import RegionLevel

from . import services
from .sd_monthly import build_table
from .sd_report import city_months, status_label, submitted_table
from .selectors import (
    cities_in_scope,
    parse_month,
    province_in_scope,
    region_in_scope,
    submission_of,
)

router = Router(tags=["analytics"], auth=api_auth)


class CountyRowOut(Schema):
    index: int
    code: str
    name: str
    drugs: int
    pharmacies: int
    realtime: int
    e_prescription: int
    progress: str


class MonthlyTableOut(Schema):
    city_code: str
    city_name: str
    month: str
    as_of: str
    submission_status: str
    rows: list[CountyRowOut]
    total: CountyRowOut


@router.get("/sd-monthly", response=MonthlyTableOut)
def sd_monthly(request: HttpRequest, region: str, month: str):
    """全市谈判药品“双通道”管理工作情况统计表 of one city and month."""
    month_day = parse_month(month)
    city = region_in_scope(request.user, region, level=RegionLevel.CITY)
    submission = submission_of(city, month_day)
    table = submitted_table(submission) or build_table(city, month_day)
    return {**table.as_dict(), "submission_status": status_label(submission, city, month_day)}


class ProgressIn(Schema):
    county: str
    month: str
    text: str


class ProgressOut(Schema):
    county: str
    month: str
    text: str


@router.post("/sd-monthly/progress", response=ProgressOut)
def sd_progress(request: HttpRequest, payload: ProgressIn):
    """A county's 主要工作进展情况 (≤600 characters), until its city submits."""
    row = services.county_progress_save(
        actor=request.user, county_code=payload.county, month=payload.month, text=payload.text
    )
    return {"county": row.county_id, "month": row.month.strftime("%Y-%m"), "text": row.text}


class SubmitIn(Schema):
    region: str
    month: str
    contact_phone: str = ""


class SubmissionOut(Schema):
    city_code: str
    city_name: str
    month: str
    status: str
    status_label: str
    flagged_late: bool
    submitted_at: datetime | None


def _submission_out(city, month, submission) -> dict:
    return {
        "city_code": city.code,
        "city_name": city.name,
        "month": month.strftime("%Y-%m"),
        "status": submission.status if submission is not None else "",
        "status_label": status_label(submission, city, month),
        "flagged_late": bool(submission and submission.flagged_late),
        "submitted_at": submission.submitted_at if submission is not None else None,
    }


@router.post("/sd-monthly/submit", response=SubmissionOut)
def sd_submit(request: HttpRequest, payload: SubmitIn):
    """The city sends the month's table to the province (its figures are frozen) [SD §10]."""
    submission = services.sd_monthly_submit(
        actor=request.user,
        city_code=payload.region,
        month=payload.month,
        contact_phone=payload.contact_phone,
    )
    return _submission_out(submission.city, submission.month, submission)


@router.get("/sd-submissions", response=list[SubmissionOut])
def sd_submissions(request: HttpRequest, region: str, month: str):
    """Which cities of a province submitted the month's table (a city's officer: their own)."""
    month_day = parse_month(month)
    province = province_in_scope(request.user, region)
    cities = cities_in_scope(request.user, province)
    return [
        _submission_out(item.city, item.month, item.submission)
        for item in city_months(cities, [month_day])
    ]
