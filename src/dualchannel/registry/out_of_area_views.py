"""The filing page (异地就医备案) for whoever records it: an officer of the enrolment region or
the hospital's insurance office [HB art. 40–41, CX art. 17]. Lists the filings in scope and
records a new one; a refusal is shown in words, nothing written."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import selectors, services
from .models import OutOfAreaFilingKind, Region, RegionLevel
from .profiles import profile_of

recorder_required = role_required(Role.AGENCY_OFFICER, Role.REVIEWER)


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def treating_regions(institution) -> list[tuple[Region, list[Region]]]:
    """The other provinces, each with its cities: where a cross-province filing may point (the
    province or a city of it), picked by name [HB art. 41]."""
    own = institution.region_id[:2] if institution is not None else ""
    outside = Region.objects.filter(level__in=(RegionLevel.PROVINCE, RegionLevel.CITY)).exclude(
        code__startswith=own or "--"
    )
    provinces = [r for r in outside if r.level == RegionLevel.PROVINCE]
    cities = [r for r in outside if r.level == RegionLevel.CITY]
    return [(p, [c for c in cities if c.parent_id == p.code]) for p in provinces]


@require_GET
@recorder_required
def out_of_area_filings(request: HttpRequest) -> HttpResponse:
    rows = selectors.visible_filings(request.user).order_by("-recorded_at", "-pk")[:200]
    today = timezone.localdate()
    context = {
        "rows": [
            {
                "filing": f,
                "name": mask_name(f.person.name),
                "id_number": mask_id_number(f.person.id_number),
                "valid": f.covers_day(today),
                "cancellable": f.cancelled_on is None and f.valid_to >= today,
            }
            for f in rows
        ],
        "kinds": OutOfAreaFilingKind.choices,
        "treating_regions": treating_regions(request.user.institution),
        "today": today,
        "profile": profile_of(request.user.institution) if request.user.institution else None,
    }
    return TemplateResponse(request, "registry/out_of_area_filings.html", context)


@require_POST
@recorder_required
def out_of_area_filing_create(request: HttpRequest) -> HttpResponse:
    try:
        filing = services.out_of_area_filing_create(
            actor=request.user,
            person_id_number=request.POST.get("person_id_number", ""),
            treating_region=request.POST.get("treating_region", ""),
            kind=request.POST.get("kind", ""),
            valid_from=_day(request.POST.get("valid_from", "")),
            valid_to=_day(request.POST.get("valid_to", "")),
        )
    except NotFound:
        raise  # outside the actor's scope: the 404 page, nothing said about the person
    except DomainError as exc:
        messages.error(request, exc.message)  # in words; the code is for the API
        return redirect("registry-out-of-area-filings")
    messages.success(request, f"已办理异地就医备案 {filing.filing_no}")
    return redirect("registry-out-of-area-filings")


@require_POST
@recorder_required
def out_of_area_filing_cancel(request: HttpRequest, filing_id: int) -> HttpResponse:
    """撤销备案 with its reason [HB art. 41]; a refusal is shown in words."""
    try:
        filing = services.out_of_area_filing_cancel(
            actor=request.user,
            filing_id=filing_id,
            reason=request.POST.get("reason", ""),
            cancelled_on=_day(request.POST.get("cancelled_on", "")),
        )
    except NotFound:
        raise  # outside the actor's scope: the 404 page
    except DomainError as exc:
        messages.error(request, exc.message)  # in words; the code is for the API
        return redirect("registry-out-of-area-filings")
    messages.success(
        request,
        f"已撤销异地就医备案 {filing.filing_no}，自 {filing.cancelled_on:%Y-%m-%d} 起不再直接结算",
    )
    return redirect("registry-out-of-area-filings")
