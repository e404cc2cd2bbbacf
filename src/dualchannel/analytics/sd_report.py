"""The Shandong table as the city sends it and the province reads it [SD §10]: a submitted month
is its frozen figures, any other month the live ones; the quarterly bulletin (按季通报) is built
from the three months the cities submitted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from dualchannel.core.months import month_end
from dualchannel.registry.models import Region

from .models import MonthlySubmission, SubmissionStatus
from .sd_monthly import MonthlyTable, build_table
from .sd_xlsx import BulletinLine, Filler, bulletin_workbook, monthly_workbook
from .selectors import monthly_table_due_day, submission_of, submissions_for

# How the province reads a city's month.
NOT_DUE = "未到报送期"
LATE_SUBMITTED = "逾期报送"


def submitted_table(submission: MonthlySubmission | None) -> MonthlyTable | None:
    if submission is None or submission.status != SubmissionStatus.SUBMITTED:
        return None
    return MonthlyTable.from_dict(submission.table)


def submitter_name(submission: MonthlySubmission) -> str:
    user = submission.submitted_by
    if user is None:
        return ""
    return user.display_name or user.get_full_name() or user.username


def monthly_file(
    city: Region, month: date, *, unit: str, today: date | None = None
) -> tuple[bytes, MonthlyTable]:
    """The .xlsx of the city's month: as submitted, else live (填报人 left for the city)."""
    submission = submission_of(city, month)
    table = submitted_table(submission)
    if table is not None:
        filler = Filler(
            unit=unit,
            person=submitter_name(submission),
            phone=submission.contact_phone,
            on=timezone.localtime(submission.submitted_at).date(),
        )
        return monthly_workbook(table, filler), table
    table = build_table(city, month, today=today)
    return monthly_workbook(table, Filler(unit=unit)), table


def due_date(city: Region, month: date) -> date | None:
    """The day the city's table for ``month`` is due (None: its province asks for none)."""
    due_day = monthly_table_due_day(city.code[:2] + "0000")
    if due_day is None:
        return None
    following = month_end(month) + timedelta(days=1)
    return following.replace(day=due_day)


def status_label(
    submission: MonthlySubmission | None,
    city: Region,
    month: date,
    *,
    today: date | None = None,
) -> str:
    """How the province reads a city's month: its submission's status, else by the calendar."""
    if submission is not None:
        if submission.status == SubmissionStatus.SUBMITTED and submission.flagged_late:
            return LATE_SUBMITTED
        return submission.get_status_display()
    today = today or timezone.localdate()
    if month_end(month) >= today:
        return NOT_DUE
    due = due_date(city, month)
    if due is not None and today > due:
        return SubmissionStatus.LATE.label
    return SubmissionStatus.PENDING.label


@dataclass(frozen=True)
class CityMonth:
    city: Region
    month: date
    submission: MonthlySubmission | None

    @property
    def label(self) -> str:
        return status_label(self.submission, self.city, self.month)

    @property
    def late(self) -> bool:
        return self.label in (SubmissionStatus.LATE.label, LATE_SUBMITTED)


def city_months(cities: list[Region], months: list[date]) -> list[CityMonth]:
    """Each city's months with its submission (one query)."""
    found = {(s.city_id, s.month): s for s in submissions_for(cities, months)}
    return [
        CityMonth(city, month, found.get((city.code, month))) for city in cities for month in months
    ]


def bulletin_file(province: Region, months: list[date], cities: list[Region]) -> bytes:
    """按季通报 [SD §10]: every city's three months as submitted, and who was late or missing."""
    lines = []
    late: list[str] = []
    missing: list[str] = []
    for item in city_months(cities, months):
        sub = item.submission
        lines.append(
            BulletinLine(
                item.city.name,
                item.month,
                item.label,
                timezone.localtime(sub.submitted_at).date() if sub and sub.submitted_at else None,
                submitted_table(sub),
            )
        )
        where = f"{item.city.name}（{item.month.month}月）"
        if item.late:
            late.append(where)
        if sub is None or sub.status != SubmissionStatus.SUBMITTED:
            missing.append(where)
    quarter = (months[0].month - 1) // 3 + 1
    submitted = sum(1 for item in lines if item.table is not None)
    summary = [
        f"本季度应报送 {len(lines)} 份，已报送 {submitted} 份。",
        "逾期报送或逾期未报送：" + ("、".join(late) if late else "无"),
        "尚未报送：" + ("、".join(missing) if missing else "无"),
    ]
    label = f"{months[0].year}年第{quarter}季度"
    return bulletin_workbook(province.name, label, lines, summary)
