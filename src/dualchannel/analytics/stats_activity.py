"""The statistics read from their own tables (issue 13 §1): the dual-channel drugs in their
agreement period, designated hospitals and pharmacies with the seeds' per-county minimums
[AH §2(2–3), SD §5–6, CX art. 14–15], prescriptions issued, circulated and dispensed, and the
eligibility work (applications, working days used, overruns of the review limit [HB art. 10]).
Small counts over indexed columns; the amounts are the rollups' (``stats``), the prescriptions
the circulation rollup's."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from dualchannel.core.calendar import UnknownCalendarYear, working_days_between
from dualchannel.eligibility.models import Application, ApplicationStatus
from dualchannel.eligibility.workflow import review_deadline_days
from dualchannel.registry.models import InstitutionKind, PolicyProfile, Region
from dualchannel.registry.profiles import cited, profile_citation, profile_or_none

from .models import CirculationRollup
from .sd_monthly import county_drug_sets, designated_on
from .stats import StatsScope


def _bounds(scope: StatsScope) -> tuple[datetime, datetime]:
    """The scope's months as aware instants [start, end)."""
    start = timezone.make_aware(datetime.combine(scope.start, time.min))
    end = timezone.make_aware(datetime.combine(scope.last_day + timedelta(days=1), time.min))
    return start, end


def as_of(scope: StatsScope, today: date | None = None) -> date:
    """The day the counts of institutions and drugs are read for: the range's last day, or
    today while its last month is in progress."""
    return min(scope.last_day, today or timezone.localdate())


def drugs_in_list(scope: StatsScope, today: date | None = None) -> int:
    """Negotiated drugs in their agreement period under dual-channel management in the scope's
    counties (as the Shandong table counts them [SD §1]; distinct over the counties)."""
    on = as_of(scope, today)
    by_city: dict[str, list[Region]] = defaultdict(list)
    counties = Region.objects.filter(code__in=scope.counties).select_related("parent")
    for county in counties:
        by_city[county.parent_id or county.code].append(county)
    union: set[int] = set()
    for city_code, members in by_city.items():
        city = Region.objects.get(code=city_code)
        for drugs in county_drug_sets(members, city, on).values():
            union |= drugs
    return len(union)


def prescription_figures(scope: StatsScope) -> list[dict]:
    """Per month: prescriptions issued by the scope's hospitals, circulated (routed to a
    pharmacy) from them and dispensed by the scope's institutions, from ``CirculationRollup``
    (as of its last refresh, like the amounts)."""
    sums = (
        CirculationRollup.objects.filter(
            county_id__in=scope.counties, month__gte=scope.start, month__lte=scope.end
        )
        .order_by()
        .values("month")
        .annotate(issued=Sum("issued"), circulated=Sum("routed"), dispensed=Sum("dispensed"))
    )
    found = {row["month"]: row for row in sums}
    return [
        {
            "month": month.strftime("%Y-%m"),
            **{
                name: (found[month][name] if month in found else 0)
                for name in ("issued", "circulated", "dispensed")
            },
        }
        for month in scope.months
    ]


def eligibility_work(scope: StatsScope, today: date | None = None) -> dict:
    """Applications submitted in the scope's hospitals over the range: decided (approved,
    rejected), withdrawn, open; working days from complete to decided (average, longest); and
    the overruns of the review limit (decided after it, or still open past it) [HB art. 10]."""
    today = today or timezone.localdate()
    start, end = _bounds(scope)
    apps = Application.objects.filter(
        hospital__region_id__in=scope.counties, submitted_at__gte=start, submitted_at__lt=end
    ).select_related("hospital__region")
    result = defaultdict(int)
    used: list[int] = []
    overruns: list[dict] = []
    for app in apps:
        result["submitted"] += 1
        result[app.status] += 1
        days, late = _review_days(app, today)
        if days is not None and app.decided_at is not None:
            used.append(days)
        if late:
            overruns.append(_overrun(app, days))
    return {
        "submitted": result["submitted"],
        "approved": result[ApplicationStatus.APPROVED],
        "rejected": result[ApplicationStatus.REJECTED],
        "withdrawn": result[ApplicationStatus.WITHDRAWN],
        "open": result["submitted"] - sum(result[s] for s in ("approved", "rejected", "withdrawn")),
        "decided_with_clock": len(used),
        "average_days": round(sum(used) / len(used), 1) if used else None,
        "longest_days": max(used) if used else None,
        "overruns": overruns,
    }


def _review_days(app: Application, today: date) -> tuple[int | None, bool]:
    """Working days the review took (or has taken so far) and whether it ran past its due day."""
    if app.complete_on is None:
        return None, False
    end = timezone.localdate(app.decided_at) if app.decided_at else today
    try:
        days = working_days_between(app.complete_on, end)
    except (UnknownCalendarYear, ValueError):
        days = None
    due = app.review_due
    still_open = app.decided_at is None and app.status == ApplicationStatus.UNDER_REVIEW
    late = due is not None and (end > due) and (app.decided_at is not None or still_open)
    return days, late


def _overrun(app: Application, days: int | None) -> dict:
    return {
        "application_no": app.application_no,
        "hospital": app.hospital.name,
        "county": app.hospital.region.name,
        "complete_on": app.complete_on,
        "review_due": app.review_due,
        "limit": review_deadline_days(app),
        "days": days,
        "decided": app.decided_at is not None,
    }


def coverage(scope: StatsScope, today: date | None = None) -> list[dict]:
    """Per county: designated hospitals and pharmacies (with real-time settlement, with
    e-prescription circulation) and the shortfalls against the county's profile."""
    on = as_of(scope, today)
    active = designated_on(on).filter(region_id__in=scope.counties)
    counts = {
        r["region_id"]: r
        for r in active.values("region_id").annotate(
            pharmacies=Count("pk", filter=Q(kind=InstitutionKind.PHARMACY)),
            realtime=Count("pk", filter=Q(kind=InstitutionKind.PHARMACY, realtime_settlement=True)),
            e_rx=Count(
                "pk", filter=Q(kind=InstitutionKind.PHARMACY, e_prescription_connected=True)
            ),
            hospitals=Count("pk", filter=Q(kind=InstitutionKind.HOSPITAL)),
        )
    }
    qualified = _qualified_hospitals(active)
    rows = []
    for county in Region.objects.filter(code__in=scope.counties).order_by("code"):
        c = counts.get(county.code, {})
        row = {
            "code": county.code,
            "name": county.name,
            **{k: c.get(k, 0) for k in ("hospitals", "pharmacies", "realtime", "e_rx")},
        }
        row["shortfalls"] = shortfalls(profile_or_none(county), row, qualified.get(county.code, 0))
        rows.append(row)
    return rows


def _qualified_hospitals(active) -> dict[str, int]:
    """county → designated hospitals at or above its profile's minimum level [AH §2(2)]."""
    out: dict[str, int] = defaultdict(int)
    rows = active.filter(kind=InstitutionKind.HOSPITAL).select_related("region")
    for inst in rows:
        profile = profile_or_none(inst.region)
        minimum = profile.hospital_min_level if profile is not None else None
        if minimum is None or (inst.hospital_level or 0) >= minimum:
            out[inst.region_id] += 1
    return out


def shortfalls(profile: PolicyProfile | None, row: dict, qualified_hospitals: int) -> list[str]:
    """What the county lacks against its profile, each with the profile's own citation."""
    if profile is None:
        return []
    out = []
    if profile.min_hospitals_per_county and qualified_hospitals < profile.min_hospitals_per_county:
        level = f"{profile.hospital_min_level}级及以上" if profile.hospital_min_level else ""
        out.append(
            _cited(
                f"{level}双通道医疗机构 {qualified_hospitals} 家，"
                f"少于 {profile.min_hospitals_per_county} 家",
                profile,
                "min_hospitals_per_county",
            )
        )
    if profile.min_pharmacies_per_county and row["pharmacies"] < profile.min_pharmacies_per_county:
        out.append(
            _cited(
                f"双通道药店 {row['pharmacies']} 家，少于 {profile.min_pharmacies_per_county} 家",
                profile,
                "min_pharmacies_per_county",
            )
        )
    if profile.pharmacy_requires_realtime_settlement and row["realtime"] < row["pharmacies"]:
        out.append(
            _cited(
                f"{row['pharmacies'] - row['realtime']} 家双通道药店未实现即时联网结算",
                profile,
                "pharmacy_requires_realtime_settlement",
            )
        )
    if profile.pharmacy_requires_e_prescription and row["e_rx"] < row["pharmacies"]:
        out.append(
            _cited(
                f"{row['pharmacies'] - row['e_rx']} 家双通道药店未接入电子处方流转",
                profile,
                "pharmacy_requires_e_prescription",
            )
        )
    return out


def _cited(text: str, profile: PolicyProfile, key: str) -> str:
    return cited(text, profile_citation(profile, key))
