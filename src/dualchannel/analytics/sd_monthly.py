"""The Shandong monthly table [SD §10 and its annex 全市谈判药品"双通道"管理工作情况统计表].

One row per county-level unit of a city, counted as of the month's last day (today, for the
month in progress):

- 纳入"双通道"管理的协议期内谈判药品数量: national negotiated drugs flagged for dual-channel
  management whose agreement period (协议期) holds that day [SD §1: all negotiated drugs within
  their agreement period are managed through the dual channel, updated with the national list];
  where the county, its city or its province has a dual-channel list in force
  (``catalog.RegionalListKind.DUAL_CHANNEL``, the nearest one wins as in
  ``catalog.selectors.drug_listed_for``), only the negotiated drugs on that list count. The grace
  days after an agreement ends are a payment tolerance, not the agreement period: not counted.
  Non-negotiated chronic-disease drugs are not 谈判药品: not counted.
- "双通道"药店数量: pharmacies of the county whose designation was 已纳入 (active) at the end of
  that day, read from the designation's status history (a suspended one is not open).
- of them, 实现即时联网结算 / 实现电子处方流转: the pharmacy's ``realtime_settlement`` /
  ``e_prescription_connected`` flags [SD §5, §7]. The registry keeps these flags without dates:
  the live table reads them as they are now, and a submitted table keeps the figures of its day.
- 主要工作进展情况: the county's text (≤600 characters).

Total row (合计): pharmacies are summed (each is in one county); the drugs column counts the
distinct drugs of all the counties (the same drug in two counties is one drug).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from dualchannel.catalog.models import Drug, RegionalList, RegionalListEntry, RegionalListKind
from dualchannel.core.months import month_end
from dualchannel.registry.models import (
    DesignationStatus,
    DesignationTransition,
    Institution,
    InstitutionKind,
    Region,
)

from .selectors import progress_for, report_counties

TITLE = "全市谈判药品“双通道”管理工作情况统计表"
HEADERS = (
    "序号",
    "县（市、区）",
    "纳入“双通道”管理的协议期内谈判药品数量",
    "“双通道”药店数量",
    "实现即时联网结算的“双通道”药店数量",
    "实现电子处方流转的“双通道”药店数量",
    "主要工作进展情况（字数控制在600字以内）",
)
TOTAL_LABEL = "合计"


@dataclass(frozen=True)
class CountyRow:
    index: int
    code: str
    name: str
    drugs: int
    pharmacies: int
    realtime: int
    e_prescription: int
    progress: str


@dataclass(frozen=True)
class MonthlyTable:
    city_code: str
    city_name: str
    month: str  # YYYY-MM
    as_of: str  # YYYY-MM-DD
    rows: tuple[CountyRow, ...]
    total: CountyRow

    def as_dict(self) -> dict:
        """JSON-ready (the submission keeps it)."""
        data = asdict(self)
        data["rows"] = list(data["rows"])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> MonthlyTable:
        return cls(
            city_code=data["city_code"],
            city_name=data["city_name"],
            month=data["month"],
            as_of=data["as_of"],
            rows=tuple(CountyRow(**row) for row in data["rows"]),
            total=CountyRow(**data["total"]),
        )


def as_of_day(month: date, today: date | None = None) -> date:
    """The month's last day, or today while the month is in progress."""
    return min(month_end(month), today or timezone.localdate())


def agreement_drug_ids(on: date) -> set[int]:
    """Negotiated dual-channel drugs whose agreement period holds ``on`` [SD §1] (one query)."""
    started = Q(agreement_start__lte=on) | Q(
        agreement_start__isnull=True, edition__effective_from__lte=on
    )
    not_ended = Q(agreement_end__isnull=True) | Q(agreement_end__gte=on)
    return set(
        Drug.objects.filter(
            started, not_ended, is_negotiated=True, is_dual_channel=True
        ).values_list("pk", flat=True)
    )


def _in_force(on: date, prefix: str = "") -> Q:
    return Q(**{f"{prefix}valid_from__lte": on}) & (
        Q(**{f"{prefix}valid_to__isnull": True}) | Q(**{f"{prefix}valid_to__gte": on})
    )


def county_drug_sets(counties: list[Region], city: Region, on: date) -> dict[str, set[int]]:
    """Each county's drugs under dual-channel management on ``on`` (three queries in all)."""
    base = agreement_drug_ids(on)
    chain = {c.code for c in counties} | {city.code}
    if city.parent_id:
        chain.add(city.parent_id)
    lists = {
        listing.region_id: listing.pk
        for listing in RegionalList.objects.filter(
            _in_force(on), region_id__in=chain, kind=RegionalListKind.DUAL_CHANNEL
        ).order_by("valid_from", "pk")  # one in force per region; the newest would win
    }
    entries: dict[int, set[int]] = {pk: set() for pk in lists.values()}
    for list_id, drug_id in RegionalListEntry.objects.filter(
        _in_force(on), regional_list_id__in=list(lists.values())
    ).values_list("regional_list_id", "drug_id"):
        entries[list_id].add(drug_id)
    result: dict[str, set[int]] = {}
    for county in counties:
        nearest = next(
            (lists[code] for code in (county.code, city.code, city.parent_id) if code in lists),
            None,
        )
        result[county.code] = base if nearest is None else base & entries[nearest]
    return result


def pharmacy_counts(counties: list[Region], on: date) -> dict[str, tuple[int, int, int]]:
    """county code → (designated pharmacies, with real-time settlement, with e-prescription)
    as of the end of ``on`` (one query)."""
    rows = designated_on(on).filter(kind=InstitutionKind.PHARMACY, region__in=counties)
    rows = rows.values("region_id").annotate(
        total=Count("pk"),
        realtime=Count("pk", filter=Q(realtime_settlement=True)),
        e_rx=Count("pk", filter=Q(e_prescription_connected=True)),
    )
    return {r["region_id"]: (r["total"], r["realtime"], r["e_rx"]) for r in rows}


def designated_on(on: date):
    """Institutions whose designation was 已纳入 (active) at the end of ``on``, read from the
    designation's status history."""
    cutoff = timezone.make_aware(datetime.combine(on + timedelta(days=1), time.min))
    status_on = Subquery(
        DesignationTransition.objects.filter(designation__institution=OuterRef("pk"), at__lt=cutoff)
        .order_by("-at", "-id")
        .values("to_status")[:1]
    )
    return Institution.objects.annotate(status_on=status_on).filter(
        status_on=DesignationStatus.ACTIVE
    )


def build_table(
    city: Region,
    month: date,
    *,
    counties: list[Region] | None = None,
    today: date | None = None,
) -> MonthlyTable:
    """The city's table for ``month`` (or only ``counties`` of it, for a county's officer)."""
    on = as_of_day(month, today)
    counties = report_counties(city) if counties is None else counties
    drugs = county_drug_sets(counties, city, on)
    pharmacies = pharmacy_counts(counties, on)
    progress = progress_for(counties, month)
    rows = []
    for index, county in enumerate(counties, 1):
        total, realtime, e_rx = pharmacies.get(county.code, (0, 0, 0))
        entry = progress.get(county.code)
        rows.append(
            CountyRow(
                index,
                county.code,
                county.name,
                len(drugs[county.code]),
                total,
                realtime,
                e_rx,
                entry.text if entry is not None else "",
            )
        )
    union: set[int] = set().union(*drugs.values()) if drugs else set()
    total_row = CountyRow(
        0,
        city.code,
        TOTAL_LABEL,
        len(union),
        sum(r.pharmacies for r in rows),
        sum(r.realtime for r in rows),
        sum(r.e_prescription for r in rows),
        "",
    )
    return MonthlyTable(
        city.code, city.name, month.strftime("%Y-%m"), on.isoformat(), tuple(rows), total_row
    )
