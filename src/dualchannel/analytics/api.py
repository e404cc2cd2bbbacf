"""The Shandong monthly table as JSON [SD §10]: a city's table (as submitted, else live) for the
officers whose scope holds the city."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from dualchannel.core.auth import api_auth
from dualchannel.registry.models import RegionLevel

from .sd_monthly import build_table
from .sd_report import status_label, submitted_table
from .selectors import parse_month, region_in_scope, submission_of

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
    return {**table.as_dict(), "submission_status": status_label(submission)}
