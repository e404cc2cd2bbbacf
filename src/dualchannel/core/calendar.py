"""Working days on the Chinese statutory calendar (holidays and make-up working days).

A year loaded by the agency (``CalendarYear``, the State Council's notice) wins; otherwise the
``chinese-calendar`` package answers (it knows 2004-2026). A year that neither knows yet (the
notice comes out in November, the package later) is answered *provisionally* from the law
itself, never from weekends alone: the thirteen days of the 《全国年节及纪念日放假办法》 art. 2
(2024 revision; the lunar ones converted with ``lunardate``), a weekend holiday given back on the
next working day [art. 6]. Only the notice's swaps (调休) are unknown until it is loaded; loading
it sends ``calendar_year_loaded`` so the deadlines computed provisionally are computed again.
A date outside what can be computed at all fails loudly with ``calendar.unknown_year``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import chinese_calendar
from django.db import transaction
from django.dispatch import Signal
from lunardate import LunarDate

from .audit import record
from .errors import DomainError, PermissionDenied, field_error
from .models import CalendarDay, CalendarYear, User
from .permissions import require_role
from .roles import Role

# Bound the walk so a typo (n=100000) cannot spin for minutes.
MAX_WORKING_DAYS = 3660


class UnknownCalendarYear(DomainError):
    status = 409

    def __init__(self, year: int) -> None:
        super().__init__(
            "calendar.unknown_year",
            f"{year}年的法定节假日安排尚未导入，无法计算工作日；请经办机构导入该年节假日表",
        )
        self.year = year


# Sent inside the loading transaction with ``year``; receivers recompute what they stored from a
# provisional calendar and return a short summary (recorded with the load's audit event).
calendar_year_loaded = Signal()

# The 2024 revision of the law is in force from 2025; lunardate's tables end with 2099.
_LAW_YEARS = range(2025, 2100)


@cache
def statutory_holidays(year: int) -> dict[date, str]:
    """The days off the law fixes for everybody [放假办法 art. 2] and, for one that falls on a
    weekend, the weekday given back [art. 6] (the first working day after the holiday)."""
    if year not in _LAW_YEARS:
        raise UnknownCalendarYear(year)
    new_year = LunarDate(year, 1, 1).to_solar_date()
    days = {date(year, 1, 1): "元旦"}
    # 除夕 and 正月初一至初三: 正月初一 falls between 21 January and 20 February, so all four
    # days are in the same solar year.
    days.update({new_year + timedelta(days=offset): "春节" for offset in range(-1, 3)})
    qingming = chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 10))
    days.update({day: "清明节" for day, name in qingming if name == "清明"})
    days.update({date(year, 5, 1): "劳动节", date(year, 5, 2): "劳动节"})
    days[LunarDate(year, 5, 5).to_solar_date()] = "端午节"
    days[LunarDate(year, 8, 15).to_solar_date()] = "中秋节"
    days.update({date(year, 10, day): "国庆节" for day in (1, 2, 3)})
    given_back: dict[date, str] = {}
    for day, name in sorted(days.items()):
        if day.weekday() >= 5:
            back = day + timedelta(days=1)
            while back.weekday() >= 5 or back in days or back in given_back:
                back += timedelta(days=1)
            given_back[back] = f"{name}补假"
    return days | given_back


def _provisional_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in statutory_holidays(day.year)


def is_provisional_year(year: int) -> bool:
    """Neither loaded nor known to the package: answered from the law, swaps unknown."""
    if CalendarYear.objects.filter(year=year).exists():
        return False
    try:
        chinese_calendar.is_workday(date(year, 6, 30))
    except NotImplementedError:
        return True
    return False


def _loaded_year(year: int) -> dict[date, bool] | None:
    if not CalendarYear.objects.filter(year=year).exists():
        return None
    return dict(
        CalendarDay.objects.filter(calendar_year_id=year).values_list("date", "is_working_day")
    )


class _Calendar:
    """Answers for one computation; loads each year at most once."""

    def __init__(self) -> None:
        self._years: dict[int, dict[date, bool] | None] = {}

    def is_working_day(self, day: date) -> bool:
        if day.year not in self._years:
            self._years[day.year] = _loaded_year(day.year)
        loaded = self._years[day.year]
        if loaded is not None:
            return loaded.get(day, day.weekday() < 5)
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            return _provisional_working_day(day)


def is_working_day(day: date) -> bool:
    return _Calendar().is_working_day(day)


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself not counted).

    HB art. 10: a complete application submitted on ``start`` must be decided by
    ``add_working_days(start, 7)``.
    """
    if not 0 <= days <= MAX_WORKING_DAYS:
        raise ValueError(f"days out of range: {days}")
    cal = _Calendar()
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if cal.is_working_day(current):
            remaining -= 1
    return current


def subtract_working_days(end: date, days: int) -> date:
    """The date ``days`` working days before ``end`` (``end`` itself not counted).

    HB art. 9: the re-evaluation window opens ``subtract_working_days(deadline, 7)``.
    """
    if not 0 <= days <= MAX_WORKING_DAYS:
        raise ValueError(f"days out of range: {days}")
    cal = _Calendar()
    current = end
    remaining = days
    while remaining:
        current -= timedelta(days=1)
        if cal.is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end``; negative when ``end`` < start."""
    if end < start:
        return -working_days_between(end, start)
    if (end - start).days > MAX_WORKING_DAYS * 2:
        raise ValueError("range too long")
    cal = _Calendar()
    return sum(
        1
        for offset in range(1, (end - start).days + 1)
        if cal.is_working_day(start + timedelta(days=offset))
    )


def _provincial_officer(actor: User) -> bool:
    # Agencies and region levels are the registry's, a floor above core: ask the officer's
    # institution, reached through core's own User.institution foreign key, not an import.
    institution = actor.institution
    return institution is not None and institution.is_provincial_agency


def may_load_calendar(actor: User) -> bool:
    """Who loads a year's State Council table: a provincial agency's officer or an admin."""
    if not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    return actor.has_role(Role.AGENCY_OFFICER) and _provincial_officer(actor)


def provisional_year_notice(today: date) -> int | None:
    """The year to warn about: this year, or from 1 December the next one, when its State
    Council notice is not loaded (deadlines in it are counted from the 放假办法 alone)."""
    years = [today.year] + ([today.year + 1] if today.month == 12 else [])
    return next((year for year in years if is_provisional_year(year)), None)


@dataclass(frozen=True)
class CalendarNotice:
    """The banner on an officer's or admin's first page while a year is provisional."""

    year: int
    may_load: bool  # the reader may load it (the link to the year's page is offered)

    @property
    def text(self) -> str:
        return f"{self.year}年节假日安排尚未导入，期限暂按《全国年节及纪念日放假办法》推算"


def calendar_notice(actor: User, today: date) -> CalendarNotice | None:
    year = provisional_year_notice(today)
    return None if year is None else CalendarNotice(year, may_load_calendar(actor))


def parse_calendar_lines(text: str) -> list[tuple[date, bool, str]]:
    """The page's table, one exception a line: ``2027-02-08 休 春节`` or ``2027-02-07 班 春节``."""
    days: list[tuple[date, bool, str]] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            day = None
        if day is None or len(parts) < 2 or parts[1] not in ("休", "班"):
            raise field_error(
                "days",
                "calendar.bad_line",
                f"第{number}行应为“日期 休/班 节日名称”，如 2027-02-08 休 春节",
            )
        days.append((day, parts[1] == "班", " ".join(parts[2:])[:30]))
    return days


def calendar_year_load(
    *, actor: User | None, year: int, days: list[tuple[date, bool, str]], document_no: str
) -> CalendarYear:
    """Load (or replace) a year's holidays and make-up working days from the State Council notice.

    ``days`` lists only the exceptions: (date, is_working_day, name). A weekday holiday is
    (d, False, "春节"); a weekend make-up day is (d, True, "春节").
    """
    if actor is not None:
        # National data: a city's or county's officer must not move every region's deadlines;
        # the provincial agency (or a platform administrator) loads the State Council's table.
        require_role(actor, Role.AGENCY_OFFICER)
        if not actor.is_superuser and not _provincial_officer(actor):
            raise PermissionDenied(
                "calendar.admin_only",
                "全国节假日安排仅省级医保经办机构或系统管理员可导入",
            )
    _check_table(year, days, document_no)
    with transaction.atomic():
        existing = CalendarYear.objects.select_for_update().filter(year=year).first()
        before = (
            {
                "document_no": existing.document_no,
                "days": sorted(
                    (d.isoformat(), w)
                    for d, w in existing.days.values_list("date", "is_working_day")
                ),
            }
            if existing
            else None
        )
        if existing:
            existing.days.all().delete()
            existing.document_no = document_no
            existing.loaded_by = actor
            existing.save()
            calendar_year = existing
        else:
            calendar_year = CalendarYear.objects.create(
                year=year, document_no=document_no, loaded_by=actor
            )
        CalendarDay.objects.bulk_create(
            CalendarDay(calendar_year=calendar_year, date=d, is_working_day=w, name=n)
            for d, w, n in days
        )
        record(
            actor=actor,
            action="calendar.year_loaded",
            subject=calendar_year,
            before=before,
            after={
                "document_no": document_no,
                "days": sorted((d.isoformat(), w) for d, w, _ in days),
            },
            role=Role.ADMIN if actor is not None else "",
            summary={
                "year": year,
                "days": len(days),
                "replaced": existing is not None,
                "recomputed": _recompute_followers(year),
            },
        )
    return calendar_year


def _check_table(year: int, days: list[tuple[date, bool, str]], document_no: str) -> None:
    """A notice's table lists only the exceptions of its own year, each day once."""
    if not 2000 <= year <= 2100:
        raise field_error("year", "calendar.invalid_year", "年度应在2000至2100之间")
    if not document_no.strip():
        raise field_error("document_no", "calendar.missing_document", "请填写依据文件文号")
    seen: set[date] = set()
    for number, (day, working, _name) in enumerate(days, start=1):
        if day.year != year:
            raise field_error(
                f"days[{number}]", "calendar.wrong_year", f"第{number}行日期不属于{year}年"
            )
        if day in seen:
            raise field_error(f"days[{number}]", "calendar.duplicate_day", f"第{number}行日期重复")
        weekend = day.weekday() >= 5
        if working != weekend:
            # Only exceptions belong in the table: weekday holidays and weekend working days.
            raise field_error(
                f"days[{number}]",
                "calendar.not_an_exception",
                f"第{number}行{day}不是节假日调整（只需列出工作日放假和周末调休上班）",
            )
        seen.add(day)


def _recompute_followers(year: int) -> dict[str, int]:
    """Deadlines stored from the provisional calendar, computed again under the loaded year."""
    recomputed: dict[str, int] = {}
    for _receiver, answer in calendar_year_loaded.send(sender=CalendarYear, year=year):
        recomputed.update(answer or {})
    return recomputed
