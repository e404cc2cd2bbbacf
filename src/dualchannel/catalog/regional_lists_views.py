"""Agency console pages for the regional drug lists [SD §1, CX art. 3, 4, 6]: the lists in force
for the officer's region, and the import of a new list with a dry run (htmx)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.registry.profiles import profile_or_none
from dualchannel.registry.regions import region_subtree

from . import selectors
from .models import RegionalListKind
from .regional_lists import RegionalListFileError, regional_list_import

officer_required = role_required(Role.AGENCY_OFFICER)
MAX_SHOWN_ENTRIES = 200


def _form_defaults(request: HttpRequest) -> dict:
    region = selectors.officer_region(request.user)
    return {"region": region.code if region is not None else ""}


def publishing_regions(request: HttpRequest) -> list:
    """The officer's region and the regions inside it, by name: where a list may be published."""
    region = selectors.officer_region(request.user)
    return [] if region is None else list(region_subtree(region).order_by("code"))


@require_GET
@officer_required
def regional_lists(request: HttpRequest) -> HttpResponse:
    region = selectors.officer_region(request.user)
    context = {
        "lists": selectors.regional_lists_visible(request.user),
        "kinds": RegionalListKind.choices,
        "regions": publishing_regions(request),
        "form": _form_defaults(request),
        "profile": profile_or_none(region),
    }
    return TemplateResponse(request, "catalog/regional_lists.html", context)


@require_GET
@officer_required
def regional_list_detail(request: HttpRequest, list_id: int) -> HttpResponse:
    listing = selectors.regional_list_get(list_id, request.user)
    entries = listing.entries.select_related("drug").order_by("row")
    context = {
        "listing": listing,
        "entries": entries[:MAX_SHOWN_ENTRIES],
        "limit": MAX_SHOWN_ENTRIES,
    }
    return TemplateResponse(request, "catalog/regional_list_detail.html", context)


@require_POST
@officer_required
def regional_list_import_view(request: HttpRequest) -> HttpResponse:
    """「校验（不导入）」 runs a dry run; 「导入」 writes. The file is an upload, or pasted CSV."""
    data = request.POST
    upload = request.FILES.get("file")
    if upload is not None:
        raw, filename = upload.read(), upload.name
    else:
        raw, filename = data.get("content", "").encode("utf-8"), "pasted.csv"
    context: dict = {"form": data}
    try:
        report = regional_list_import(
            actor=request.user,
            region_code=data.get("region", ""),
            kind=data.get("kind", ""),
            title=data.get("title", ""),
            document_no=data.get("document_no", ""),
            valid_from=data.get("valid_from", ""),
            valid_to=data.get("valid_to", ""),
            raw=raw,
            filename=filename,
            dry_run=data.get("action") != "import",
        )
    except RegionalListFileError as exc:
        context["errors"] = exc.errors
        context["error"] = exc
    else:
        context["report"] = report
    return TemplateResponse(request, "catalog/_regional_import_result.html", context)
