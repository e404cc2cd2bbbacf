"""Reads of stock: lists scoped to the actor, FEFO picks, stock status and coverage.

Pharmacists read their own pharmacy, admins any; another pharmacy's rows are not found. Agency
officers read the coverage of their region's pharmacies (``coverage_report``), not their stock.
``fefo_suggestion``, ``stock_available``, ``stock_status`` and ``pharmacy_coverage`` take a
pharmacy the caller has already scoped (dispensing, the public query, the coverage report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from dualchannel.catalog.models import Drug
from dualchannel.core.errors import DomainError, NotFound, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.queries import CompiledRead
from dualchannel.core.roles import Role
from dualchannel.registry.models import Institution, InstitutionKind
from dualchannel.registry.profiles import profile_for
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from .models import HoldStatus, StockHold, StockItem, StockMovement, TraceCode, UploadStatus
from .service_helpers import may_act_for

# rxSetlStockQuery answers (reference, e-prescription centre): 1 all, 0 partly, -1 none.
STOCK_STATUS_CODES = {"all": "1", "partly": "0", "none": "-1"}
RATIO_PLACES = Decimal("0.0001")


# --- donated stock [HB art. 31(7)] ---------------------------------------------------------------


_DONATED = CompiledRead(  # whether codes were received as donated, and whether received
    lambda codes_: (
        TraceCode.objects.filter(code__in=codes_).values_list("donated", "received").order_by()
    ),
    [str],
)


def sold_as_donation(
    stock_item_id: int | None, trace_codes: Sequence[str], *, batch_donated: bool | None = None
) -> bool:
    """Whether the boxes of a sale line are donated stock (赠药), never paid by the fund.

    Yes when one of its codes was received as a donation; and when its batch holds donated boxes
    and the line's boxes cannot be told apart from them — sold without codes, or with a code
    that was not registered at a receipt (first seen at the sale). A box whose code was received
    as bought is paid even from a batch that also holds donated boxes. ``batch_donated``: the
    batch's own flag where the caller read the batch already (else it is read here).
    """
    codes_ = [code for code in trace_codes or () if code]
    rows = _DONATED.all(codes_) if codes_ else []
    if any(donated for donated, _ in rows):
        return True
    if stock_item_id is None:
        return False
    if batch_donated is None:
        batch_donated = StockItem.objects.filter(pk=stock_item_id, donated=True).exists()
    if not batch_donated:
        return False
    received_as_bought = sum(1 for _, received in rows if received)
    return not codes_ or received_as_bought < len(codes_)


# --- scope -------------------------------------------------------------------------------------


def pharmacy_for_stock(actor: User | None, pharmacy_id: int):
    """A pharmacy whose stock the actor may read and change (its pharmacists, admins)."""

    require_role(actor, Role.PHARMACIST)
    found = Institution.objects.filter(pk=pharmacy_id, kind=InstitutionKind.PHARMACY).first()
    if found is None or not may_act_for(actor, found.pk):
        raise NotFound()
    return found


def stock_list(
    actor: User | None,
    *,
    pharmacy_id: int,
    drug_id: int | None = None,
    include_empty: bool = False,
) -> QuerySet[StockItem]:
    pharmacy = pharmacy_for_stock(actor, pharmacy_id)
    qs = StockItem.objects.filter(pharmacy=pharmacy).select_related("drug")
    if drug_id:
        qs = qs.filter(drug_id=drug_id)
    if not include_empty:
        qs = qs.filter(quantity__gt=0)
    return qs.order_by("drug__generic_name", "expiry_date", "batch_no")


def movement_list(
    actor: User | None,
    *,
    pharmacy_id: int,
    kind: str | None = None,
    upload_status: str | None = None,
    stock_item_id: int | None = None,
    reference: str | None = None,
) -> QuerySet[StockMovement]:
    pharmacy = pharmacy_for_stock(actor, pharmacy_id)
    qs = StockMovement.objects.filter(pharmacy=pharmacy).select_related(
        "stock_item", "stock_item__drug"
    )
    if kind:
        qs = qs.filter(kind=kind)
    if upload_status:
        qs = qs.filter(upload_status=upload_status)
    if stock_item_id:
        qs = qs.filter(stock_item_id=stock_item_id)
    if reference:
        qs = qs.filter(reference=reference)
    return qs.order_by("-occurred_at", "-id")


def movement_get(actor: User | None, pk: int) -> StockMovement:
    require_role(actor, Role.PHARMACIST)
    found = (
        StockMovement.objects.select_related("stock_item", "stock_item__drug", "pharmacy")
        .filter(pk=pk)
        .first()
    )
    if found is None or not may_act_for(actor, found.pharmacy_id):
        raise NotFound(codes.MOVEMENT_NOT_FOUND, "进销存记录不存在或不属于本药店")
    return found


def movement_trace_codes(movement: StockMovement) -> list[str]:
    return list(
        movement.trace_code_links.order_by("trace_code__code").values_list(
            "trace_code__code", flat=True
        )
    )


# --- availability ------------------------------------------------------------------------------


def _id(obj: Any) -> int:
    return getattr(obj, "pk", obj)


def held_quantities(
    item_ids: Sequence[int] | QuerySet, *, exclude_reference: str = "", now: Any = None
) -> dict[int, int]:
    """Boxes of each batch kept by active holds (online orders) not yet past their time;
    ``exclude_reference``: the holder's own holds do not count against it."""
    now = now or timezone.now()
    if isinstance(item_ids, QuerySet):
        totals = _held_totals(item_ids, now, exclude_reference)
    else:
        ids = sorted(set(item_ids))
        totals = (
            _HELD_BUT.all(ids, now, exclude_reference) if exclude_reference else _HELD.all(ids, now)
        )
    return {row["stock_item_id"]: row["n"] for row in totals}


def _held_totals(item_ids: Sequence[int] | QuerySet, now: Any, exclude_reference: str = ""):
    rows = StockHold.objects.filter(
        stock_item_id__in=item_ids, status=HoldStatus.ACTIVE, expires_at__gt=now
    )
    if exclude_reference:
        rows = rows.exclude(reference=exclude_reference)
    return rows.values("stock_item_id").annotate(n=Sum("quantity"))


_HELD = CompiledRead(_held_totals, [int], datetime)
_HELD_BUT = CompiledRead(_held_totals, [int], datetime, str)


def with_held(
    items: QuerySet[StockItem], *, exclude_reference: str = "", now: Any = None
) -> QuerySet[StockItem]:
    """``items`` each annotated with ``held``: ``held_quantities`` read in the items' own
    statement (a plain read: a sale under its batch locks reads them after taking the locks)."""
    rows = StockHold.objects.filter(
        stock_item_id=OuterRef("pk"),
        status=HoldStatus.ACTIVE,
        expires_at__gt=now or timezone.now(),
    )
    if exclude_reference:
        rows = rows.exclude(reference=exclude_reference)
    total = rows.order_by().values("stock_item_id").annotate(n=Sum("quantity")).values("n")
    return items.annotate(held=Coalesce(Subquery(total[:1]), 0))


def _sellable(pharmacy: Any, on: date | None) -> QuerySet[StockItem]:
    """Batches with stock that have not expired on ``on`` (usable through the expiry date)."""
    on = on or timezone.localdate()
    return StockItem.objects.filter(pharmacy_id=_id(pharmacy), quantity__gt=0, expiry_date__gte=on)


@dataclass(frozen=True)
class FefoPick:
    stock_item: StockItem
    quantity: int


@dataclass(frozen=True)
class FefoSuggestion:
    """Which batches to sell, earliest expiry first; ``shortfall`` is what stock cannot cover."""

    picks: list[FefoPick]
    wanted: int

    @property
    def available(self) -> int:
        return sum(p.quantity for p in self.picks)

    @property
    def shortfall(self) -> int:
        return max(self.wanted - self.available, 0)


def fefo_suggestion(
    pharmacy: Any, drug: Any, quantity: int, on: date | None = None
) -> FefoSuggestion:
    """First-expiry-first-out: expired and empty batches are skipped."""
    picks: list[FefoPick] = []
    remaining = max(quantity, 0)
    batches = (
        _sellable(pharmacy, on)
        .filter(drug_id=_id(drug))
        .select_related("drug")
        .order_by("expiry_date", "batch_no", "pk")
    )
    held = held_quantities(batches.values("pk"))
    for item in batches:
        if remaining <= 0:
            break
        take = min(item.quantity - held.get(item.pk, 0), remaining)
        if take <= 0:
            continue
        picks.append(FefoPick(item, take))
        remaining -= take
    return FefoSuggestion(picks, max(quantity, 0))


def stock_available(pharmacy: Any, drug: Any, on: date | None = None) -> int:
    """Sellable packages of a drug at a pharmacy (expired batches do not count)."""
    batches = _sellable(pharmacy, on).filter(drug_id=_id(drug))
    total = batches.aggregate(n=Sum("quantity"))["n"] or 0
    return max(total - sum(held_quantities(batches.values("pk")).values()), 0)


def available_by_drug(batches: QuerySet[StockItem]) -> dict[int, int]:
    """Sellable boxes per drug of these batches: their quantity less what is held for orders."""
    rows = list(batches.values_list("pk", "drug_id", "quantity"))
    held = held_quantities([pk for pk, _drug, _qty in rows])
    have: dict[int, int] = {}
    for pk, drug_id, quantity in rows:
        have[drug_id] = have.get(drug_id, 0) + max(quantity - held.get(pk, 0), 0)
    return have


def stock_status(pharmacy: Any, wanted: dict[int, int], on: date | None = None) -> str:
    """ "all" when every drug is there in full, "none" when nothing is, else "partly"."""
    wanted = {drug_id: qty for drug_id, qty in wanted.items() if qty > 0}
    if not wanted:
        return "all"
    batches = _sellable(pharmacy, on).filter(drug_id__in=wanted)
    have = available_by_drug(batches)
    if all(have.get(drug_id, 0) >= qty for drug_id, qty in wanted.items()):
        return "all"
    if not any(have.get(drug_id, 0) for drug_id in wanted):
        return "none"
    return "partly"


# --- coverage against the profile's minimum [SD §6, CX art. 14(1)] -----------------------------


@dataclass(frozen=True)
class Coverage:
    pharmacy_id: int
    pharmacy_name: str
    region_code: str
    area: str  # "urban" (市辖区) or "county" (县域): the minimum differs [SD §6]
    drugs_in_stock: int  # distinct negotiated drugs with sellable stock
    negotiated_in_catalogue: int
    ratio: Decimal | None
    min_drugs: int | None
    min_ratio: Decimal | None
    meets: bool | None  # None: the profile sets no minimum
    profile_name: str
    basis: str  # the article the minimum comes from


def _negotiated_count() -> int:

    return Drug.objects.filter(is_negotiated=True).count()


def _in_stock_counts(pharmacy_ids: list[int], on: date | None) -> dict[int, int]:
    on = on or timezone.localdate()
    rows = (
        StockItem.objects.filter(
            pharmacy_id__in=pharmacy_ids,
            quantity__gt=0,
            expiry_date__gte=on,
            drug__is_negotiated=True,
        )
        .values("pharmacy_id")
        .annotate(n=Count("drug_id", distinct=True))
    )
    return {row["pharmacy_id"]: row["n"] for row in rows}


def _coverage(pharmacy, in_stock: int, catalogue: int, profiles: dict[str, Any]) -> Coverage:

    region = pharmacy.region
    area = "urban" if region.is_urban_district else "county"
    if region.code not in profiles:
        try:
            profiles[region.code] = profile_for(region)
        except DomainError:
            profiles[region.code] = None  # no profile up the chain: no minimum to check
    profile = profiles[region.code]
    field = "pharmacy_min_drugs_urban" if area == "urban" else "pharmacy_min_drugs_county"
    min_drugs = getattr(profile, field) if profile is not None else None
    min_ratio = profile.pharmacy_min_negotiated_ratio if profile is not None else None
    ratio = (
        (Decimal(in_stock) / Decimal(catalogue)).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)
        if catalogue
        else None
    )
    checks = []
    if min_drugs is not None:
        checks.append(in_stock >= min_drugs)
    if min_ratio is not None:
        checks.append(ratio is not None and ratio >= min_ratio)
    citations = profile.citations_in_words if profile is not None else {}
    basis = "；".join(
        citations[f]
        for f in (field, "pharmacy_min_negotiated_ratio")
        if f in citations and getattr(profile, f) is not None
    )
    return Coverage(
        pharmacy_id=pharmacy.pk,
        pharmacy_name=pharmacy.name,
        region_code=region.code,
        area=area,
        drugs_in_stock=in_stock,
        negotiated_in_catalogue=catalogue,
        ratio=ratio,
        min_drugs=min_drugs,
        min_ratio=min_ratio,
        meets=all(checks) if checks else None,
        profile_name=profile.name if profile is not None else "",
        basis=basis,
    )


def pharmacy_coverage(pharmacy, on: date | None = None) -> Coverage:
    """Distinct negotiated drugs in stock against the profile's minimum for the pharmacy's area."""
    counts = _in_stock_counts([pharmacy.pk], on)
    return _coverage(pharmacy, counts.get(pharmacy.pk, 0), _negotiated_count(), {})


def coverage_report(actor_officer: User | None, on: date | None = None) -> list[Coverage]:
    """Every pharmacy of the officer's region (admins: all), with its coverage."""

    require_role(actor_officer, Role.AGENCY_OFFICER)
    pharmacies = Institution.objects.filter(kind=InstitutionKind.PHARMACY).select_related(
        "region", "region__parent", "region__parent__parent"
    )
    if not actor_officer.is_superuser:
        region = officer_region(actor_officer)
        if region is None:
            raise PermissionDenied()
        pharmacies = pharmacies.filter(Q(region__code__startswith=region.code_prefix))
    pharmacies = list(pharmacies.order_by("region_id", "name"))
    counts = _in_stock_counts([p.pk for p in pharmacies], on)
    catalogue = _negotiated_count()
    profiles: dict[str, Any] = {}
    return [_coverage(p, counts.get(p.pk, 0), catalogue, profiles) for p in pharmacies]


# --- the pharmacy's work queue [issue 12, point 1] -----------------------------------------------

LOW_STOCK_PACKAGES = 2  # a drug with this many sellable packages or fewer is running low
EXPIRY_WARNING_DAYS = 90  # a batch expiring within this many days is to be sold or returned first


@dataclass(frozen=True)
class LowStock:
    drug: Drug
    packages: int


def stock_attention(pharmacy_id: int, today: date) -> tuple[list[LowStock], list[StockItem]]:
    """Drugs the pharmacy holds that run low (sellable packages, fewest first), and batches in
    stock that expire within ``EXPIRY_WARNING_DAYS`` or have expired (earliest first)."""
    held = StockItem.objects.filter(pharmacy_id=pharmacy_id).values_list("drug_id", flat=True)
    sellable = dict(
        _sellable(pharmacy_id, today)
        .order_by()
        .values("drug_id")
        .annotate(n=Sum("quantity"))
        .values_list("drug_id", "n")
    )
    drugs = {d.pk: d for d in Drug.objects.filter(pk__in=set(held))}
    low = sorted(
        (
            LowStock(drugs[pk], sellable.get(pk, 0))
            for pk in drugs
            if sellable.get(pk, 0) <= LOW_STOCK_PACKAGES
        ),
        key=lambda row: (row.packages, row.drug.generic_name),
    )
    expiring = list(
        StockItem.objects.filter(
            pharmacy_id=pharmacy_id,
            quantity__gt=0,
            expiry_date__lte=today + timedelta(days=EXPIRY_WARNING_DAYS),
        )
        .select_related("drug")
        .order_by("expiry_date", "pk")
    )
    return low, expiring


def uploads_failed(pharmacy_id: int) -> QuerySet[StockMovement]:
    """The pharmacy's stock movements whose platform upload (3501–3506) failed, oldest first."""
    return (
        StockMovement.objects.filter(
            pharmacy_id=pharmacy_id,
            upload_status__in=[UploadStatus.FAILED, UploadStatus.DEAD],
        )
        .select_related("stock_item__drug")
        .order_by("occurred_at", "pk")
    )
