"""Pages of complaints (投诉举报): the public form and lookup, the officers' queue and handling."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.registry.profiles import profile_citation, profile_or_none
from dualchannel.registry.selectors import officer_region, public_regions_cached

from . import error_codes as codes
from . import selectors, services
from .models import ComplaintCategory, ComplaintResult, ComplaintStatus
from .throttle import check_rate

officer_required = role_required(Role.AGENCY_OFFICER)
QUEUE_LIMIT = 200
STATUS_LABELS = dict(ComplaintStatus.choices)


def _institution_id(raw: str) -> int | None:
    raw = (raw or "").strip()
    if raw and not raw.isdigit():
        raise DomainError(codes.INVALID_COMPLAINT, "被投诉机构不存在")
    return int(raw) if raw else None


def _upload(request: HttpRequest) -> services.Upload | None:
    file = request.FILES.get("attachment")
    if file is None:
        return None
    if file.size > services.ATTACHMENT_MAX_BYTES:
        raise DomainError(codes.INVALID_ATTACHMENT, "附件不超过 5 MB")
    return services.Upload(file.read(), file.name or "", file.content_type or "")


def _form_context(data: Any) -> dict[str, Any]:
    """The form, with what the visitor chose kept after a refusal (the cities of the chosen
    province and the counties of the chosen city listed again)."""
    chosen = (data.get("institution") or "").strip()
    province, city = data.get("province") or "", data.get("city") or ""
    return {
        "categories": ComplaintCategory.choices,
        "provinces": public_regions_cached(),
        "cities": public_regions_cached(province) if province.isdigit() else [],
        "counties": public_regions_cached(city) if city.isdigit() else [],
        "data": data,
        "institution_name": selectors.public_institution_name(chosen) if chosen else "",
    }


@require_http_methods(["GET", "POST"])
def complaint_new(request: HttpRequest) -> HttpResponse:
    """The public form: anonymous allowed, a phone or e-mail required [HB art. 26, CX art. 30]."""
    if request.method == "GET":
        data = {"institution": request.GET.get("institution", "")}
        return TemplateResponse(request, "complaints/new.html", _form_context(data))
    post = request.POST
    try:
        check_rate(request)
        complaint = services.complaint_submit(
            category=post.get("category", ""),
            text=post.get("text", ""),
            contact_phone=post.get("contact_phone", ""),
            contact_email=post.get("contact_email", ""),
            contact_name=post.get("contact_name", ""),
            region_code=post.get("county") or post.get("city") or "",
            institution_id=_institution_id(post.get("institution", "")),
            attachment=_upload(request),
        )
    except DomainError as error:
        context = {**_form_context(post), "error": error}
        return TemplateResponse(request, "complaints/new.html", context, status=error.status)
    return TemplateResponse(
        request,
        "complaints/submitted.html",
        {"complaint": complaint, "contact": complaint.masked_contact},
    )


@require_GET
def complaint_track(request: HttpRequest) -> HttpResponse:
    """Lookup by tracking number + contact: only the status and the public reply."""
    tracking_no = request.GET.get("no", "")
    context: dict[str, Any] = {"no": tracking_no}
    status = 200
    if tracking_no:
        try:
            context["complaint"] = selectors.complaint_lookup(
                tracking_no, request.GET.get("contact", "")
            )
        except DomainError as error:
            context["error"] = error
            status = error.status
    return TemplateResponse(request, "complaints/track.html", context, status=status)


@require_GET
@officer_required
def agency_complaints(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in ComplaintStatus.values and status != "all":
        status = ""
    qs = selectors.complaint_queue(
        request.user,
        status="" if status == "all" else status,
        region=request.GET.get("region", ""),
        open_only=status != "all",
    )
    rows = [{"c": c, "contact": c.masked_contact} for c in qs[:QUEUE_LIMIT]]
    region = officer_region(request.user)
    return TemplateResponse(
        request,
        "complaints/agency_list.html",
        {
            "rows": rows,
            "status": status,
            "statuses": ComplaintStatus.choices,
            "region": region,
            "basis": profile_citation(profile_or_none(region), "complaint_reply_working_days"),
            "waiting": selectors.waiting_complaints(request.user).count(),
        },
    )


@require_GET
@officer_required
def agency_complaint(request: HttpRequest, complaint_id: int) -> HttpResponse:
    return _detail(request, complaint_id)


def _detail(request: HttpRequest, complaint_id: int) -> HttpResponse:
    complaint = selectors.complaint_get(request.user, complaint_id)
    return TemplateResponse(
        request,
        "complaints/agency_detail.html",
        {
            "c": complaint,
            "contact": complaint.masked_contact,
            "history": [
                (h, STATUS_LABELS.get(h.to_status, ""))
                for h in complaint.history.select_related("actor").order_by("at", "id")
            ],
            "results": ComplaintResult.choices,
            "has_attachment": hasattr(complaint, "attachment"),
        },
    )


@require_POST
@officer_required
def agency_complaint_act(request: HttpRequest, complaint_id: int, action: str) -> HttpResponse:
    post = request.POST
    if action == "accept":
        services.complaint_accept(actor=request.user, complaint_id=complaint_id)
    elif action == "reply":
        services.complaint_reply(
            actor=request.user, complaint_id=complaint_id, reply=post.get("reply", "")
        )
    elif action == "close":
        services.complaint_close(
            actor=request.user,
            complaint_id=complaint_id,
            result=post.get("result", ""),
            note=post.get("note", ""),
            reply=post.get("reply", ""),
        )
    else:
        raise NotFound(codes.NOT_FOUND, "页面不存在")
    if request.headers.get("HX-Request"):
        return _detail(request, complaint_id)
    return redirect(reverse("agency-complaint", args=[complaint_id]))


@require_GET
@officer_required
def agency_complaint_attachment(request: HttpRequest, complaint_id: int) -> HttpResponse:
    complaint = selectors.complaint_get(request.user, complaint_id)
    if not hasattr(complaint, "attachment"):
        raise NotFound(codes.NOT_FOUND, "没有附件")
    file = complaint.attachment
    response = HttpResponse(bytes(file.content), content_type=file.content_type)
    response["Content-Disposition"] = f'inline; filename="{complaint.tracking_no}.{file.extension}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
