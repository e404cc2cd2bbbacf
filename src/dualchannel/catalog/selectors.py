"""Catalogue reads shared by the API and the pages.

The catalogue is public, except the amounts of confidential payment standards (备注1), which
only agency officers see; everyone else sees 保密.

Criteria sets are national (``region`` null) or regional. Published sets are policy and public;
drafts and retired sets are read by admins, and by agency officers for the national baseline and
the sets of their own agency's region or inside it — another region's are reported as missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from dualchannel.core import refcache
from dualchannel.core.errors import NotFound
from dualchannel.core.models import User
from dualchannel.core.permissions import has_any_role
from dualchannel.core.roles import Role
from dualchannel.registry.models import Region
from dualchannel.registry.regions import ancestors, is_within, region_subtree_q
from dualchannel.registry.selectors import officer_region

from .categories import all_categories, category_name, codes_matching_name
from .models import (
    NATIONAL_LABEL,
    CriteriaSet,
    CriteriaStatus,
    Criterion,
    Drug,
    PaymentStandard,
    RegionalList,
    RegionalListEntry,
    RegionalListKind,
    Restriction,
)

CONFIDENTIAL_LABEL = "保密"
SEARCH_FLAGS = (
    "is_dual_channel",
    "is_separately_paid",
    "is_anti_cancer",
    "is_injectable",
    "needs_cold_chain",
)
_CODE = re.compile(r"^X?[A-Z]\d{0,2}[A-Z0-9]{0,4}$", re.IGNORECASE)
_ASCII_QUERY = re.compile(r"^[a-z0-9 ]+$", re.IGNORECASE)


def can_see_confidential(actor: User | None) -> bool:
    return has_any_role(actor, [Role.AGENCY_OFFICER])


def _category_q(category: str) -> Q | None:
    category = (category or "").strip()
    if not category:
        return None
    if _CODE.match(category):
        code = category.upper()
        if not code.startswith("X"):
            code = "X" + code
        return Q(category_code__startswith=code)
    codes = codes_matching_name(category)
    query = Q(pk__in=[])
    for code in codes:
        query |= Q(category_code__startswith=code)
    return query


def drug_search(
    *,
    q: str = "",
    category: str = "",
    flags: dict[str, bool | None] | None = None,
    special_control: str | None = None,
) -> QuerySet[Drug]:
    """Drugs matching a Chinese name, pinyin initials or full pinyin, or a category.

    Best matches first: exact name or initials, then prefixes, then substrings, then list order.
    """
    drugs = Drug.objects.all()
    category_filter = _category_q(category)
    if category_filter is not None:
        drugs = drugs.filter(category_filter)
    for name, value in (flags or {}).items():
        if name in SEARCH_FLAGS and value is not None:
            drugs = drugs.filter(**{name: value})
    if special_control is not None:
        drugs = drugs.filter(special_control=special_control)
    q = (q or "").strip()
    if not q:
        return drugs.order_by("section", "list_no")
    if _ASCII_QUERY.match(q):
        letters = q.replace(" ", "").lower()
        match = (
            Q(pinyin_initials__icontains=letters)
            | Q(pinyin__icontains=letters)
            | Q(generic_name__icontains=q)
        )
        if _CODE.match(letters):
            code = letters.upper()
            match |= Q(category_code__startswith=code if code.startswith("X") else "X" + code)
        rank = Case(
            When(Q(pinyin_initials=letters) | Q(generic_name__iexact=q), then=Value(0)),
            When(
                Q(pinyin_initials__startswith=letters) | Q(pinyin__startswith=letters),
                then=Value(1),
            ),
            When(Q(pinyin_initials__icontains=letters) | Q(pinyin__icontains=letters), then=2),
            default=Value(3),
            output_field=IntegerField(),
        )
    else:
        match = Q(generic_name__icontains=q) | Q(brand_names__icontains=q)
        for code in codes_matching_name(q):
            match |= Q(category_code__startswith=code)
        rank = Case(
            When(generic_name=q, then=Value(0)),
            When(generic_name__startswith=q, then=Value(1)),
            When(generic_name__icontains=q, then=Value(2)),
            default=Value(3),
            output_field=IntegerField(),
        )
    return drugs.filter(match).annotate(rank=rank).order_by("rank", "section", "list_no")


def drug_get(drug_id: int) -> Drug:
    drug = Drug.objects.select_related("edition").filter(pk=drug_id).first()
    if drug is None:
        raise NotFound("catalog.drug_not_found", "药品不存在")
    return drug


def category_list() -> list[dict]:
    """Named categories with the number of drugs in each (prefix match)."""
    codes = list(Drug.objects.values_list("category_code", flat=True))
    result = []
    for category in all_categories():
        count = sum(1 for code in codes if code.startswith(category.code))
        if count:
            result.append(
                {
                    "code": category.code,
                    "name": category.name,
                    "level": category.level,
                    "parent": category.parent,
                    "drug_count": count,
                }
            )
    return result


def category_label(code: str) -> str:
    name = category_name(code)
    return f"{code} {name}" if name else code


def _today() -> date:
    return timezone.localdate()


def _valid_on(on: date) -> Q:
    return Q(effective_from__lte=on) & (Q(effective_to__isnull=True) | Q(effective_to__gte=on))


def payment_standards_on(drug: Drug, on: date | None = None) -> list[PaymentStandard]:
    """The standards in force on ``on`` (default: today), e.g. for a settlement of that date."""
    on = on or _today()
    # read once per worker and day while the standards are unchanged (core.refcache)
    return list(
        refcache.cached(
            ("catalog.payment_standards_on", drug.pk, on),
            (PaymentStandard._meta.db_table,),
            lambda: tuple(drug.payment_standards.filter(_valid_on(on)).order_by("id")),
        )
    )


def current_payment_standards(drug: Drug) -> list[PaymentStandard]:
    """The latest standards (not closed by a later list), whatever today's date."""
    return list(drug.payment_standards.filter(effective_to__isnull=True).order_by("id"))


def confidential_amount_missing() -> QuerySet[Drug]:
    """Drugs with a current confidential standard (备注1) whose amount is not entered yet: a
    settlement of them has no standard to pay by until the catalogue administrator enters it."""
    return Drug.objects.filter(
        payment_standards__effective_to__isnull=True,
        payment_standards__is_confidential=True,
        payment_standards__amount__isnull=True,
    ).distinct()


def payment_standard_history(drug: Drug) -> list[PaymentStandard]:
    return list(drug.payment_standards.select_related("edition").order_by("-effective_from", "id"))


def current_restriction(drug: Drug) -> Restriction | None:
    return drug.restrictions.filter(effective_to__isnull=True).order_by("-id").first()


def restriction_on(drug: Drug, on: date) -> Restriction | None:
    return drug.restrictions.filter(_valid_on(on)).order_by("-id").first()


def restriction_history(drug: Drug) -> list[Restriction]:
    return list(drug.restrictions.select_related("edition").order_by("-effective_from", "-id"))


def criteria_set_not_found() -> NotFound:
    return NotFound("catalog.criteria_not_found", "认定条件不存在")


def region_get(code: str) -> Region:
    region = Region.objects.filter(code=(code or "").strip()).first()
    if region is None:
        raise NotFound("catalog.region_not_found", "区划不存在")
    return region


def published_criteria(drug: Drug, region: Region | None = None) -> CriteriaSet | None:
    """The set in force for ``region``: the published set of the most specific region among it
    and its ancestors (county → city → province), else the national one, else None.

    Without a region, the national published set. Evaluating an application passes the region
    of the hospital.
    """
    published = drug.criteria_sets.filter(status=CriteriaStatus.PUBLISHED).select_related("region")
    if region is not None:
        chain = [r.code for r in ancestors(region)]
        found = {
            s.region_id: s for s in published.filter(region_id__in=chain).prefetch_related("items")
        }
        for code in chain:
            if code in found:
                return found[code]
    return published.filter(region__isnull=True).prefetch_related("items").first()


def criteria_in_force(region: Region | None) -> list[CriteriaSet]:
    """Every drug's set in force for ``region`` (as ``published_criteria`` picks it per drug),
    with its drug: one query whatever the size of the catalogue. Their items come from
    ``published_items``."""
    chain = [r.code for r in ancestors(region)] if region is not None else []
    sets = (
        CriteriaSet.objects.filter(status=CriteriaStatus.PUBLISHED)
        .filter(Q(region__isnull=True) | Q(region_id__in=chain))
        .select_related("drug")
    )
    # nearest first: county → city → province, then the national set
    rank = {code: n for n, code in enumerate(chain)}
    chosen: dict[int, CriteriaSet] = {}
    for criteria_set in sets:
        there = chosen.get(criteria_set.drug_id)
        if there is None or rank.get(criteria_set.region_id, len(chain)) < rank.get(
            there.region_id, len(chain)
        ):
            chosen[criteria_set.drug_id] = criteria_set
    return list(chosen.values())


# A published set's items never change (catalog.services and the admin edit drafts only; a
# change is a new version), so each process keeps them once read, by set id and creation time
# (a row id can come back after a rollback; its creation time does not).
_PUBLISHED_ITEMS: dict[tuple[int, Any], tuple[PublishedItem, ...]] = {}
_PUBLISHED_ITEMS_MAX = 20_000


class PublishedItem(NamedTuple):
    """A criterion of a published set as ``catalog.criteria.evaluate_items`` reads it."""

    code: str
    kind: str
    group: str
    text: str
    expression: str


def published_items(sets: list[CriteriaSet]) -> dict[int, tuple[PublishedItem, ...]]:
    """The items of published sets in their order, by set id (read once per process)."""
    keys = {s.pk: (s.pk, s.created_at) for s in sets}
    missing = [pk for pk, key in keys.items() if key not in _PUBLISHED_ITEMS]
    if missing:
        if len(_PUBLISHED_ITEMS) + len(missing) > _PUBLISHED_ITEMS_MAX:
            _PUBLISHED_ITEMS.clear()
        read: dict[int, list[PublishedItem]] = {pk: [] for pk in missing}
        rows = Criterion.objects.filter(criteria_set_id__in=missing).order_by("position")
        for set_id, *fields in rows.values_list("criteria_set_id", *PublishedItem._fields):
            read[set_id].append(PublishedItem(*fields))
        _PUBLISHED_ITEMS.update((keys[pk], tuple(items)) for pk, items in read.items())
    return {pk: _PUBLISHED_ITEMS[key] for pk, key in keys.items()}


def in_force_label(region: Region | None) -> str:
    """「武汉市 适用」 for a region, 「全国基线」 without one."""
    return f"{region.name} 适用" if region is not None else NATIONAL_LABEL


def _active(actor: User | None) -> bool:
    return actor is not None and actor.is_authenticated and actor.is_active


def criteria_region_covered(actor: User | None, region_code: str | None) -> bool:
    """Whether ``actor`` may change the sets of ``region_code`` (None: the national baseline).

    Admins change everything; an agency officer the sets of their agency's region or inside it,
    never the national ones.
    """
    if not _active(actor):
        return False
    if actor.is_superuser:
        return True
    if region_code is None:
        return False
    region = officer_region(actor)
    return region is not None and is_within(region_code, region)


def can_edit_criteria(actor: User | None, criteria_set: CriteriaSet) -> bool:
    return criteria_region_covered(actor, criteria_set.region_id)


def can_read_criteria(actor: User | None, criteria_set: CriteriaSet) -> bool:
    """Published sets: everyone. Drafts and retired sets: admins, and officers for the national
    baseline and their own region's sets."""
    if criteria_set.status == CriteriaStatus.PUBLISHED:
        return True
    if not can_see_confidential(actor):
        return False
    if actor.is_superuser or criteria_set.region_id is None:
        return True
    return criteria_region_covered(actor, criteria_set.region_id)


def visible_criteria_sets(actor: User | None) -> QuerySet[CriteriaSet]:
    """Admins: all; officers: the national sets and those of their region or inside it;
    everyone else: the published sets."""
    sets = CriteriaSet.objects.select_related("region")
    if _active(actor) and actor.is_superuser:
        return sets
    if not can_see_confidential(actor):
        return sets.filter(status=CriteriaStatus.PUBLISHED)
    region = officer_region(actor)
    scope = Q(region__isnull=True)
    if region is not None:
        scope |= Q(region__code__startswith=region.code_prefix)
    return sets.filter(scope)


def criteria_sets_for(drug: Drug, actor: User | None) -> list[CriteriaSet]:
    """The sets of ``drug`` the actor may read (see ``visible_criteria_sets``), newest first."""
    sets = visible_criteria_sets(actor).filter(drug=drug).prefetch_related("items")
    return list(sets.order_by("-version"))


def criteria_set_get(criteria_set_id: int, actor: User | None) -> CriteriaSet:
    criteria_set = (
        CriteriaSet.objects.select_related("drug", "region").filter(pk=criteria_set_id).first()
    )
    if criteria_set is None or not can_read_criteria(actor, criteria_set):
        raise criteria_set_not_found()
    return criteria_set


@dataclass(frozen=True)
class StandardView:
    """A payment standard as shown to one actor: confidential amounts only to officers."""

    id: int
    specification: str
    unit: str
    amount: Decimal | None
    amount_label: str
    is_confidential: bool
    tiered_note: dict | None
    note: str
    source_text: str
    effective_from: date
    effective_to: date | None
    edition_code: str


def standard_view(standard: PaymentStandard, actor: User | None) -> StandardView:
    show = not standard.is_confidential or can_see_confidential(actor)
    amount = standard.amount if show else None
    if standard.is_confidential:
        label = f"{CONFIDENTIAL_LABEL}（{amount}元）" if amount is not None else CONFIDENTIAL_LABEL
        if show and amount is None:
            label = f"{CONFIDENTIAL_LABEL}（未录入）"
    elif standard.tiered_note:
        label = "阶梯价格（见备注）"
    else:
        label = f"{amount}元"
    return StandardView(
        id=standard.id,
        specification=standard.specification,
        unit=standard.unit,
        amount=amount,
        amount_label=label,
        is_confidential=standard.is_confidential,
        tiered_note=standard.tiered_note,
        note=standard.note,
        source_text=standard.source_text,
        effective_from=standard.effective_from,
        effective_to=standard.effective_to,
        edition_code=standard.edition.code,
    )


def drug_counts() -> dict[str, int]:
    return Drug.objects.aggregate(
        total=Count("id"),
        anti_cancer=Count("id", filter=Q(is_anti_cancer=True)),
        cold_chain=Count("id", filter=Q(needs_cold_chain=True)),
    )


# --- drugs in force: the agreement period and the regional lists [SD §1, CX art. 3, 4, 6] -------

# Why a drug is not payable as a dual-channel drug on a date (settlement's reason codes).
OUTSIDE_AGREEMENT = "outside_agreement_period"
NOT_IN_REGIONAL_LIST = "not_in_regional_list"


@dataclass(frozen=True)
class ListedFor:
    """The regional lists in force for a region on a date (the region and its ancestors).

    ``kinds``: drug id → the kinds of list that name it. ``scope``: the dual-channel list of the
    nearest region that has one in force [CX art. 4, 6], or None (the national list applies)."""

    on: date
    kinds: dict[int, frozenset[str]]
    titles: dict[int, tuple[str, ...]]
    scope: RegionalList | None
    scope_drugs: frozenset[int]


def _list_in_force(on: date, prefix: str = "") -> Q:
    return Q(**{f"{prefix}valid_from__lte": on}) & (
        Q(**{f"{prefix}valid_to__isnull": True}) | Q(**{f"{prefix}valid_to__gte": on})
    )


def drug_listed_for(region: Region | None, on: date, *, drug_ids=None) -> ListedFor:
    """What the lists of ``region`` (and the regions above it) say on ``on``.

    ``drug_ids`` narrows the entries read (the scope list's drugs are always read in full).
    Read once per worker while the lists are unchanged (``core.refcache``)."""
    if region is None:
        return ListedFor(on, {}, {}, None, frozenset())
    narrowed = None if drug_ids is None else tuple(sorted(set(drug_ids)))
    return refcache.cached(
        ("catalog.drug_listed_for", region.code, on, narrowed),
        (RegionalList._meta.db_table, RegionalListEntry._meta.db_table),
        lambda: _listed_for(region, on, narrowed),
    )


def _listed_for(region: Region, on: date, drug_ids) -> ListedFor:
    chain = [r.code for r in ancestors(region)]
    entries = RegionalListEntry.objects.filter(
        _list_in_force(on),
        _list_in_force(on, "regional_list__"),
        regional_list__region_id__in=chain,
    ).select_related("regional_list")
    if drug_ids is not None:
        entries = entries.filter(
            Q(drug_id__in=list(drug_ids)) | Q(regional_list__kind=RegionalListKind.DUAL_CHANNEL)
        )
    kinds: dict[int, set[str]] = {}
    titles: dict[int, list[str]] = {}
    scope_lists: dict[str, RegionalList] = {}
    by_list: dict[int, set[int]] = {}
    for entry in entries:
        listing = entry.regional_list
        kinds.setdefault(entry.drug_id, set()).add(listing.kind)
        titles.setdefault(entry.drug_id, []).append(listing.title)
        if listing.kind == RegionalListKind.DUAL_CHANNEL:
            scope_lists.setdefault(listing.region_id, listing)
            by_list.setdefault(listing.pk, set()).add(entry.drug_id)
    # a dual-channel list in force with no entry in force still sets the scope
    for listing in RegionalList.objects.filter(
        _list_in_force(on), region_id__in=chain, kind=RegionalListKind.DUAL_CHANNEL
    ):
        scope_lists.setdefault(listing.region_id, listing)
    scope = next((scope_lists[code] for code in chain if code in scope_lists), None)
    return ListedFor(
        on,
        {k: frozenset(v) for k, v in kinds.items()},
        {k: tuple(v) for k, v in titles.items()},
        scope,
        frozenset(by_list.get(scope.pk, ())) if scope else frozenset(),
    )


@dataclass(frozen=True)
class DrugStanding:
    """Whether the fund pays for a drug as a dual-channel drug in a region on a date."""

    payable: bool
    reason: str  # "" or OUTSIDE_AGREEMENT / NOT_IN_REGIONAL_LIST
    message: str  # the reason in Chinese, for the counter and the settlement line
    separately_paid: bool  # nationally flagged or on the region's separately-paid list
    lists: tuple[str, ...]  # titles of the regional lists that name it


def agreement_payable_until(drug: Drug, grace_days: int | None) -> date | None:
    """The last day the fund pays for a negotiated drug: its agreement end plus the grace the
    agency set (None: no end recorded)."""
    if drug.agreement_end is None:
        return None
    return drug.agreement_end + timedelta(days=grace_days or 0)


def drug_standing(
    drug: Drug,
    region: Region | None,
    on: date,
    *,
    grace_days: int | None = None,
    listed: ListedFor | None = None,
) -> DrugStanding:
    """The drug's standing on ``on`` for ``region`` [SD §1, CX art. 3, 4, 6]:

    - on the region's chronic-disease list (non-negotiated drugs of 门诊慢特病) in force: paid;
    - where the region has a dual-channel list in force (CX's annual adjustment), a drug off it is
      not paid as a dual-channel drug;
    - a negotiated drug is paid only within its agreement period (协议期), plus the grace days the
      agency set, and not after.
    """
    listed = listed if listed is not None else drug_listed_for(region, on, drug_ids=[drug.pk])
    kinds = listed.kinds.get(drug.pk, frozenset())
    lists = listed.titles.get(drug.pk, ())
    separately_paid = drug.is_separately_paid or RegionalListKind.SEPARATELY_PAID in kinds

    def standing(reason: str = "", message: str = "") -> DrugStanding:
        return DrugStanding(not reason, reason, message, separately_paid, lists)

    if RegionalListKind.CHRONIC_DISEASE in kinds:
        return standing()
    if listed.scope is not None and drug.pk not in listed.scope_drugs:
        return standing(
            NOT_IN_REGIONAL_LIST,
            f"{drug.generic_name}未列入{listed.scope.title}，医保基金不予支付",
        )
    until = agreement_payable_until(drug, grace_days)
    if drug.is_negotiated and until is not None and on > until:
        grace = f"（含宽限期{grace_days}天，至{until.isoformat()}）" if grace_days else ""
        return standing(
            OUTSIDE_AGREEMENT,
            f"{drug.generic_name}谈判协议期已于{drug.agreement_end.isoformat()}结束{grace}，"
            "医保基金不予支付",
        )
    return standing()


def regional_lists_visible(actor: User | None) -> QuerySet[RegionalList]:
    """The lists an officer reads: their agency's region, the regions above it (which apply
    there) and inside it; admins read all."""
    qs = RegionalList.objects.select_related("region").annotate(entry_count=Count("entries"))
    if actor is not None and actor.is_superuser:
        return qs.order_by("region_id", "kind", "-valid_from")
    region = officer_region(actor) if _active(actor) else None
    if region is None:
        return qs.none()
    above = [r.code for r in ancestors(region)]
    return qs.filter(Q(region_id__in=above) | region_subtree_q(region, "region__code")).order_by(
        "region_id", "kind", "-valid_from"
    )


def regional_list_get(list_id: int, actor: User | None) -> RegionalList:
    found = regional_lists_visible(actor).filter(pk=list_id).first()
    if found is None:
        raise NotFound("catalog.regional_list_not_found", "地方药品目录不存在")
    return found
