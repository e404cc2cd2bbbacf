"""What an agency officer reads when inspecting an institution of their region [SD §9, HB art.
48]: its stock (batches), movements (进销存) and traceability codes; and the spot checks.

A county officer sees its county, a city officer its city, the province all; an institution of
another region is "not found", a region outside one's own is refused with a code.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Q, QuerySet

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.inventory.models import MovementKind, StockItem, StockMovement, TraceCode
from dualchannel.registry.models import Institution, InstitutionKind, Region
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from .models import SpotCheck

INSPECTED_KINDS = (InstitutionKind.HOSPITAL, InstitutionKind.PHARMACY)


def _prefix(actor: User) -> str | None:
    """The officer's region prefix; "" for admins (everything)."""
    require_role(actor, Role.AGENCY_OFFICER)
    if actor.is_superuser:
        return ""
    region = officer_region(actor)
    return region.code_prefix if region is not None else None


def inspectable_regions(actor: User) -> list[tuple[str, str]]:
    """(code, name) of the regions where the officer's institutions are: the filter's choices,
    by name (a person never types a region code)."""
    prefix = _prefix(actor)
    if prefix is None:
        return []
    qs = Institution.objects.filter(kind__in=INSPECTED_KINDS, region__code__startswith=prefix)
    return list(qs.values_list("region_id", "region__name").distinct().order_by("region_id"))


def inspectable_institutions(
    actor: User, *, region: str = "", name: str = "", kind: str = ""
) -> QuerySet[Institution]:
    prefix = _prefix(actor)
    qs = Institution.objects.filter(kind__in=INSPECTED_KINDS).select_related("region")
    if prefix is None:
        return qs.none()
    qs = qs.filter(region__code__startswith=prefix)
    if region:
        chosen = Region.objects.filter(code=region).first()
        if chosen is None or not chosen.code.startswith(prefix):
            raise DomainError(
                codes.REGION_OUT_OF_SCOPE,
                "所选地区不在您的管辖范围内",
                fields={"region": ["所选地区不在您的管辖范围内"]},
            )
        qs = qs.filter(region__code__startswith=chosen.code_prefix)
    if kind in INSPECTED_KINDS:
        qs = qs.filter(kind=kind)
    if name:
        qs = qs.filter(name__icontains=name.strip())
    return qs.order_by("region_id", "kind", "name")


def inspected_institution(actor: User, institution_id: int) -> Institution:
    found = inspectable_institutions(actor).filter(pk=institution_id).first()
    if found is None:
        raise NotFound(codes.NOT_FOUND, "机构不存在或不在您的管辖范围内")
    return found


def inspection_stock(
    institution: Institution, *, drug: str = "", include_empty: bool = False
) -> QuerySet[StockItem]:
    qs = StockItem.objects.filter(pharmacy=institution).select_related("drug")
    if drug:
        qs = qs.filter(Q(drug__generic_name__icontains=drug) | Q(batch_no__icontains=drug))
    if not include_empty:
        qs = qs.filter(quantity__gt=0)
    return qs.order_by("drug__generic_name", "expiry_date", "batch_no")


def inspection_movements(
    institution: Institution,
    *,
    kind: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    drug: str = "",
) -> QuerySet[StockMovement]:
    qs = StockMovement.objects.filter(pharmacy=institution).select_related(
        "stock_item", "stock_item__drug"
    )
    if kind in MovementKind.values:
        qs = qs.filter(kind=kind)
    if date_from:
        qs = qs.filter(occurred_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(occurred_at__date__lte=date_to)
    if drug:
        qs = qs.filter(stock_item__drug__generic_name__icontains=drug)
    return qs.order_by("-occurred_at", "-id")


def inspection_trace_codes(
    institution: Institution, *, status: str = "", code: str = ""
) -> QuerySet[TraceCode]:
    qs = TraceCode.objects.filter(stock_item__pharmacy=institution).select_related(
        "drug", "stock_item"
    )
    if status:
        qs = qs.filter(status=status)
    if code:
        qs = qs.filter(code__startswith=code.strip())
    return qs.order_by("code")


def visible_spot_checks(actor: User) -> QuerySet[SpotCheck]:
    prefix = _prefix(actor)
    qs = SpotCheck.objects.select_related("hospital", "created_by")
    if prefix is None:
        return qs.none()
    return qs.filter(hospital__region__code__startswith=prefix)


def spot_check_get(actor: User, spot_check_id: int) -> SpotCheck:
    found = visible_spot_checks(actor).filter(pk=spot_check_id).first()
    if found is None:
        raise NotFound(codes.NOT_FOUND, "抽查记录不存在")
    return found
