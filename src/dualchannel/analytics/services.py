"""Writes of the Shandong monthly table [SD §10]: the county's progress text, the city's
submission to the province, and the worker's reminder (5th) and late flag (11th)."""

from __future__ import annotations

import logging
from datetime import date

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.models import User
from dualchannel.core.months import month_end, previous_month
from dualchannel.core.permissions import actor_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.notifications.services import notify
from dualchannel.registry.models import InstitutionKind, Region, RegionLevel
from dualchannel.registry.regions import regions_within

from . import error_codes as codes
from .models import (
    PROGRESS_MAX_CHARS,
    CountyProgress,
    MonthlySubmission,
    SubmissionStatus,
)
from .sd_monthly import build_table
from .selectors import monthly_table_duties, parse_month, region_in_scope

logger = logging.getLogger("dualchannel.analytics")

REMIND_DAY = 5  # the worker reminds the cities that have not submitted on the 5th [SD §10]
PHONE_MAX = 20


def _month_label(month: date) -> str:
    return f"{month.year}年{month.month}月"


def _frozen(submission: MonthlySubmission) -> None:
    if submission.status == SubmissionStatus.SUBMITTED:
        raise Conflict(
            codes.ALREADY_SUBMITTED,
            f"{_month_label(submission.month)}统计表已报送省医保局，不能再修改",
        )


def _locked_submission(city: Region, month: date) -> MonthlySubmission:
    MonthlySubmission.objects.get_or_create(city=city, month=month)
    return MonthlySubmission.objects.select_for_update().get(city=city, month=month)


def county_progress_save(
    *, actor: User, county_code: str, month: str, text: str, today: date | None = None
) -> CountyProgress:
    """The county's 主要工作进展情况 for a month (≤600 characters [SD annex]); the county's
    officers enter it, the city's may correct it until the city submits."""
    month_day = parse_month(month, today=today)
    county = region_in_scope(actor, county_code, level=RegionLevel.COUNTY)
    text = (text or "").strip()
    if len(text) > PROGRESS_MAX_CHARS:
        raise DomainError(
            codes.PROGRESS_TOO_LONG,
            f"主要工作进展情况字数应控制在{PROGRESS_MAX_CHARS}字以内（现为{len(text)}字）",
            fields={"text": [f"不能超过{PROGRESS_MAX_CHARS}字"]},
        )
    with transaction.atomic():
        # The city's submission row first (created pending if need be): a text saved while the
        # city submits waits for it, and is then refused, rather than missing from the table.
        if county.parent is not None:
            _frozen(_locked_submission(county.parent, month_day))
        row = (
            CountyProgress.objects.select_for_update()
            .filter(county=county, month=month_day)
            .first()
        )
        before = snapshot(row) if row is not None else None
        if row is None:
            row = CountyProgress(county=county, month=month_day, entered_by=actor)
        row.text = text
        row.entered_by = actor
        row.updated_at = timezone.now()
        row.save()
        audit.record(
            actor=actor,
            action="analytics.county_progress_save",
            subject=row,
            before=before,
            after=row,
            role=actor_role(actor, Role.AGENCY_OFFICER),
            summary={
                "county": county.code,
                "month": month_day.strftime("%Y-%m"),
                "chars": len(text),
            },
        )
    return row


def sd_monthly_submit(
    *,
    actor: User,
    city_code: str,
    month: str,
    contact_phone: str = "",
    today: date | None = None,
) -> MonthlySubmission:
    """The city sends the month's table to the province [SD §10]: its figures are frozen."""
    today = today or timezone.localdate()
    month_day = parse_month(month, today=today)
    city = region_in_scope(actor, city_code, level=RegionLevel.CITY)
    if month_end(month_day) >= today:
        raise DomainError(
            codes.FUTURE_MONTH,
            f"{_month_label(month_day)}尚未结束，结束后方可报送",
            fields={"month": ["本月尚未结束"]},
        )
    phone = (contact_phone or "").strip()
    if len(phone) > PHONE_MAX:
        raise DomainError(
            codes.INVALID_PHONE,
            f"联系电话不能超过{PHONE_MAX}个字符",
            fields={"contact_phone": ["过长"]},
        )
    with transaction.atomic():
        submission = _locked_submission(city, month_day)
        _frozen(submission)
        table = build_table(city, month_day, today=today)
        transition(
            submission,
            SubmissionStatus.SUBMITTED,
            actor=actor,
            changes={
                "table": table.as_dict(),
                "contact_phone": phone,
                "submitted_by": actor,
                "submitted_at": timezone.now(),
            },
            late=submission.flagged_late,
        )
    return submission


def _officers(region: Region):
    return User.objects.filter(
        is_active=True,
        institution__kind=InstitutionKind.AGENCY,
        institution__region=region,
        role_grants__role=Role.AGENCY_OFFICER,
    ).distinct()


def _duty_cities(duties: dict[str, int]):
    for province_code, due_day in duties.items():
        province = Region.objects.filter(code=province_code).first()
        if province is None:
            continue
        for city in regions_within(province, level=RegionLevel.CITY).order_by("code"):
            yield province, city, due_day


def send_monthly_reminders(today: date | None = None) -> int:
    """On the 5th: remind the officers of every city that has not submitted last month's table."""
    today = today or timezone.localdate()
    if today.day != REMIND_DAY:
        return 0
    month = previous_month(today)
    sent = 0
    for _province, city, due_day in _duty_cities(monthly_table_duties()):
        with transaction.atomic():
            submission = _locked_submission(city, month)
            if submission.status != SubmissionStatus.PENDING or submission.reminded_on:
                continue
            submission.reminded_on = today
            submission.save(update_fields=["reminded_on"])
            for officer in _officers(city):
                notify(
                    template="analytics.sd_monthly_reminder",
                    context={
                        "city_name": city.name,
                        "month_label": _month_label(month),
                        "due_date": today.replace(day=due_day),
                    },
                    user=officer,
                )
                sent += 1
    return sent


def flag_late_submissions(today: date | None = None) -> int:
    """The day after the due day (the 11th): a city that has not submitted is flagged late, its
    officers and the province's officers are told [SD §10]."""
    today = today or timezone.localdate()
    duties = monthly_table_duties()
    if all(today.day != due_day + 1 for due_day in duties.values()):
        return 0
    month = previous_month(today)
    flagged = 0
    for province, city, due_day in _duty_cities(duties):
        if today.day != due_day + 1:
            continue
        with transaction.atomic():
            submission = _locked_submission(city, month)
            if submission.status != SubmissionStatus.PENDING:
                continue
            transition(
                submission,
                SubmissionStatus.LATE,
                actor=None,
                role="",
                reason=f"{today.replace(day=due_day).isoformat()}前未报送",
                changes={"flagged_late": True},
            )
            context = {
                "city_name": city.name,
                "month_label": _month_label(month),
                "due_date": today.replace(day=due_day),
            }
            for officer in [*_officers(city), *_officers(province)]:
                notify(template="analytics.sd_monthly_late", context=context, user=officer)
            flagged += 1
    return flagged
