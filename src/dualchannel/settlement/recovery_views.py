"""Pages of violations and recovery orders [HB art. 21–22, 31(6); CX art. 13]: the agency
officer's list with the form that records a finding (which raises the orders) and the cancel
button; the institution's read-only list of the orders against it (its pharmacists or its
insurance office's reviewers). Services and selectors check roles and scope."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.registry.models import Institution
from dualchannel.registry.profiles import institution_citation

from . import error_codes as codes
from . import selectors
from .models import FindingKind, RecoveryStatus, SettlementKind, SettlementStatus
from .services import recovery
from .views import month_choices

LIST_LIMIT = 200
officer_required = role_required(Role.AGENCY_OFFICER)
staff_required = role_required(Role.PHARMACIST, Role.REVIEWER)


def recovery_citation(institution) -> str:
    """The region's legal basis for recovery, from its policy profile (data, not code)."""
    return institution_citation(institution, "recovery")


def _orders(request: HttpRequest):
    qs = selectors.visible_recoveries(request.user).prefetch_related("items__settlement")
    status = request.GET.get("status", "")
    if status in RecoveryStatus.values:
        qs = qs.filter(status=status)
    return list(qs.order_by("-raised_at", "-id")[:LIST_LIMIT])


PICK_LIMIT = 100


def settlement_filters(request: HttpRequest) -> dict[str, str]:
    """The filters of the list the officer picks a finding's settlements from."""
    institution = request.GET.get("institution", "").strip()
    month = request.GET.get("month", "").strip()
    return {
        "institution": institution if institution.isdigit() else "",
        "month": month if re.fullmatch(r"\d{4}-\d{2}", month) else "",
        "q": request.GET.get("q", "").strip()[:40],
    }


def _pickable(request: HttpRequest, filters: dict[str, str]):
    """Live settlements of the region's institutions, newest first (a manual claim's was paid
    to the person, not the institution: no recovery from it)."""
    qs = selectors.visible_settlements(request.user).filter(status=SettlementStatus.SETTLED)
    qs = qs.exclude(kind=SettlementKind.MANUAL)
    if filters["institution"]:
        qs = qs.filter(institution_id=int(filters["institution"]))
    if filters["month"]:
        year, month = (int(x) for x in filters["month"].split("-"))
        qs = qs.filter(settled_on__year=year, settled_on__month=month)
    if filters["q"]:
        qs = qs.filter(Q(settlement_no__icontains=filters["q"]) | Q(person__name=filters["q"]))
    return list(qs.order_by("-settled_on", "-id")[:PICK_LIMIT])


def _institution_choices(request: HttpRequest):
    ids = selectors.visible_settlements(request.user).values("institution_id")
    return Institution.objects.filter(pk__in=ids).order_by("name")


def _agency_context(request: HttpRequest) -> dict[str, Any]:
    filters = settlement_filters(request)
    return {
        "filters": filters,
        "pickable": _pickable(request, filters),
        "pick_limit": PICK_LIMIT,
        "institutions": _institution_choices(request),
        "months": month_choices(timezone.localdate()),
        "orders": _orders(request),
        "kinds": FindingKind.choices,
        "statuses": RecoveryStatus.choices,
        "status": request.GET.get("status", ""),
        "citation": recovery_citation(request.user.institution),
    }


@require_GET
@officer_required
def agency_recoveries(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(request, "settlement/agency_recoveries.html", _agency_context(request))


def _picked_ids(request: HttpRequest) -> list[int]:
    """The settlements ticked in the list, as ids the officer may see; one that is not (another
    region's, or none) is refused like a typed number not found."""
    raw = request.POST.getlist("settlement_ids")
    ids = sorted({int(v) for v in raw if v.strip().isdigit()})
    if any(not v.strip().isdigit() for v in raw):
        raise DomainError(
            codes.RECOVERY_SETTLEMENT_NOT_IN_REGION, "所选结算记录无效，请刷新页面后重新勾选"
        )
    visible = selectors.visible_settlements(request.user).filter(pk__in=ids)
    found = set(visible.values_list("pk", flat=True))
    if found != set(ids):
        raise NotFound(
            codes.RECOVERY_SETTLEMENT_NOT_IN_REGION, "所选结算记录不存在或不在本经办机构管辖区域"
        )
    return ids


def _settlement_ids(request: HttpRequest, raw: str) -> list[int]:
    """Settlement numbers as typed (spaces, commas, new lines), as ids the officer may see; a
    number not found is refused like a settlement of another region."""
    numbers = sorted({n for n in re.split(r"[\s,，;；、]+", raw or "") if n})
    if not numbers:
        return []
    found = dict(
        selectors.visible_settlements(request.user)
        .filter(settlement_no__in=numbers)
        .values_list("settlement_no", "pk")
    )
    if len(found) != len(numbers):
        missing = "、".join(n for n in numbers if n not in found)
        raise NotFound(
            codes.RECOVERY_SETTLEMENT_NOT_IN_REGION,
            f"结算记录不存在或不在本经办机构管辖区域：{missing}",
        )
    return sorted(found.values())


def _answer(request: HttpRequest, text: str) -> HttpResponse:
    if not request.headers.get("HX-Request"):
        messages.success(request, text)
        return redirect("agency-recoveries")
    context = {**_agency_context(request), "done": text}
    return TemplateResponse(request, "settlement/_recoveries.html", context)


@require_POST
@officer_required
def agency_finding_record(request: HttpRequest) -> HttpResponse:
    finding, orders = recovery.violation_record(
        actor=request.user,
        kind=request.POST.get("kind", ""),
        reason=request.POST.get("reason", ""),
        evidence=request.POST.get("evidence", ""),
        settlement_ids=sorted(
            set(_picked_ids(request))
            | set(_settlement_ids(request, request.POST.get("settlements", "")))
        ),
    )
    numbers = "、".join(o.order_no for o in orders) or "无（所列结算基金未支付）"
    return _answer(request, f"已记录违规认定 {finding.finding_no}，追回单：{numbers}")


@require_POST
@officer_required
def agency_recovery_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    order = recovery.recovery_cancel(
        actor=request.user, order_id=order_id, reason=request.POST.get("reason", "")
    )
    return _answer(request, f"已撤销追回单 {order.order_no}")


@require_GET
@staff_required
def institution_recoveries(request: HttpRequest) -> HttpResponse:
    """The institution's own orders, read only [HB art. 21–22]."""
    institution = request.user.institution
    return TemplateResponse(
        request,
        "settlement/institution_recoveries.html",
        {
            "institution": institution,
            "orders": _orders(request),
            "statuses": RecoveryStatus.choices,
            "status": request.GET.get("status", ""),
            "citation": recovery_citation(institution),
        },
    )
