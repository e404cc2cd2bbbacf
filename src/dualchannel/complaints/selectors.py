"""Reads of complaints: officers see their region's (a county its county, a city its city, the
province all); the public reads one by tracking number and the contact it left."""

from __future__ import annotations

import hmac

from django.db.models import Q, QuerySet

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.registry.models import Institution, InstitutionKind, Region
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from .models import Complaint, ComplaintStatus

_NOTHING = Q(pk__in=[])
OPEN_STATUSES = (ComplaintStatus.RECEIVED, ComplaintStatus.ACCEPTED, ComplaintStatus.REPLIED)


def complaint_scope(actor: User | None) -> Q | None:
    """The complaints ``actor`` may handle; None means all (admins)."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return _NOTHING
    if actor.is_superuser:
        return None
    region = officer_region(actor)
    if region is None:
        return _NOTHING
    return Q(region__code__startswith=region.code_prefix)


def visible_complaints(actor: User | None) -> QuerySet[Complaint]:
    qs = Complaint.objects.select_related("region", "institution", "assignee")
    scope = complaint_scope(actor)
    return qs if scope is None else qs.filter(scope)


def region_in_scope(actor: User | None, region_code: str) -> Region:
    """A region the officer may filter by; another region is refused with a code."""
    region = Region.objects.filter(code=region_code).first()
    own = officer_region(actor)
    inside = region is not None and (
        getattr(actor, "is_superuser", False)
        or (own is not None and region.code.startswith(own.code_prefix))
    )
    if not inside:
        raise DomainError(
            codes.REGION_OUT_OF_SCOPE,
            "所选统筹区不在您的管辖范围内",
            fields={"region": ["所选统筹区不在您的管辖范围内"]},
        )
    return region


def complaint_queue(
    actor: User | None, *, status: str = "", region: str = "", open_only: bool = True
) -> QuerySet[Complaint]:
    """The officer's queue, earliest deadline first."""
    qs = visible_complaints(actor)
    if region:
        qs = qs.filter(region__code__startswith=region_in_scope(actor, region).code_prefix)
    if status:
        qs = qs.filter(status=status)
    elif open_only:
        qs = qs.filter(status__in=OPEN_STATUSES)
    return qs.order_by("due_on", "id")


def public_institution_name(raw_id: str) -> str:
    """The name of a hospital or pharmacy the public form was opened for ("" if none such)."""
    if not raw_id.isdigit():
        return ""
    found = Institution.objects.filter(
        pk=int(raw_id), kind__in=(InstitutionKind.HOSPITAL, InstitutionKind.PHARMACY)
    )
    return found.values_list("name", flat=True).first() or ""


def complaint_get(actor: User | None, complaint_id: int) -> Complaint:
    found = visible_complaints(actor).filter(pk=complaint_id).first()
    if found is None:
        raise NotFound(codes.NOT_FOUND, "投诉举报不存在")
    return found


def waiting_complaints(actor: User | None) -> QuerySet[Complaint]:
    """Complaints not yet answered in the officer's region (the /agency/ work queue)."""
    return visible_complaints(actor).filter(
        status__in=(ComplaintStatus.RECEIVED, ComplaintStatus.ACCEPTED)
    )


def _same(a: str, b: str) -> bool:
    return bool(a) and hmac.compare_digest(a.encode(), b.encode())


def complaint_lookup(tracking_no: str, contact: str) -> Complaint:
    """The complaint whose tracking number and contact (phone or e-mail) both match; anything
    else is "not found", so a tracking number alone reveals nothing."""
    tracking_no = (tracking_no or "").strip().upper()
    contact = (contact or "").strip()
    found = Complaint.objects.filter(tracking_no=tracking_no).first()
    if found is None or not (
        _same(found.contact_phone, contact) or _same(found.contact_email.lower(), contact.lower())
    ):
        raise NotFound(codes.NOT_FOUND, "未找到该受理编号，或联系方式不一致")
    return found
