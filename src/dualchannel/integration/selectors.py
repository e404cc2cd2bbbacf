"""Reads of filings, scoped to the actor: agency officers their region, hospital staff their own
institution, admins everything. Out of scope is reported exactly like missing (``NotFound``)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from dualchannel.core.errors import NotFound
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.registry.selectors import officer_region, staff_institution_id

from .models import PlatformFiling

_NOTHING = Q(pk__in=[])
FILING_STAFF_ROLES = frozenset({Role.PHYSICIAN, Role.REVIEWER})


def visible_filings(actor: User | None) -> QuerySet[PlatformFiling]:
    qs = PlatformFiling.objects.select_related("institution", "person")
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return qs.filter(_NOTHING)
    if actor.is_superuser:
        return qs
    scope = _NOTHING
    region = officer_region(actor)
    if region is not None:
        scope |= Q(institution__region__code__startswith=region.code_prefix)
    own = staff_institution_id(actor, FILING_STAFF_ROLES)
    if own:
        scope |= Q(institution_id=own)
    return qs.filter(scope)


def filing_list(
    actor: User | None, *, subject_type: str | None = None, subject_id: str | None = None
) -> QuerySet[PlatformFiling]:
    qs = visible_filings(actor)
    if subject_type:
        qs = qs.filter(subject_type=subject_type)
    if subject_id:
        qs = qs.filter(subject_id=subject_id)
    return qs.order_by("-created_at", "-id")


def filing_get(actor: User | None, pk: int) -> PlatformFiling:
    found = visible_filings(actor).prefetch_related("history").filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found
