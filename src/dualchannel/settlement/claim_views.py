"""Manual (零星) claims from the agency's pages [HB art. 37, AH §2(5), CX art. 17]: one officer
enters the purchase with its receipts, another decides it (four eyes: the one who entered it
cannot); ``services.claims`` and ``services.claim_decisions`` check and write."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dualchannel.catalog.models import Drug
from dualchannel.core.errors import DomainError
from dualchannel.core.masking import mask_id_number
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.registry.models import EquippedDrug, Institution
from dualchannel.registry.selectors import officer_region

from . import selectors, services
from .models import BenefitCategory, ClaimReason, ClaimStatus
from .services.claims import PURCHASE_INSTITUTIONS

officer_required = role_required(Role.AGENCY_OFFICER)
# A receipt stored before its type was recorded: the type its (checked) extension stands for.
RECEIPT_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
}
FORM_FIELDS = (
    "id_number",
    "institution",
    "reason",
    "category",
    "purchased_on",
    "drug",
    "quantity",
    "unit_price",
    "specification",
    "pack_size",
)
# The services name a field by its path in the claim; the form shows the message beside its own.
FIELD_OF = {
    "lines.0.drug_id": "drug",
    "lines.0.quantity": "quantity",
    "lines.0.unit_price": "unit_price",
    "lines.0.specification": "specification",
    "lines.0.pack_size": "pack_size",
    "lines": "drug",
    "purchased_on": "purchased_on",
    "reason": "reason",
    "category": "category",
}


def _institutions(request: HttpRequest) -> list[Institution]:
    """Where the purchase was made: the province of the officer's region (a purchase elsewhere
    in the province is claimed at home [AH §2(5), CX art. 17])."""
    region = officer_region(request.user)
    qs = Institution.objects.filter(kind__in=PURCHASE_INSTITUTIONS).select_related("region")
    if region is not None:
        qs = qs.filter(region__code__startswith=region.code[:2])
    return list(qs.order_by("region_id", "name")[:300])


def _drugs(institutions: list[Institution]) -> list[Drug]:
    ids = EquippedDrug.objects.filter(institution__in=institutions).values("drug_id")
    return list(Drug.objects.filter(pk__in=ids).order_by("generic_name")[:500])


def _int(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


def _claims(request: HttpRequest):
    qs = selectors.visible_claims(request.user).select_related("submitted_by", "decided_by")
    status = request.GET.get("status", "")
    if status in ClaimStatus.values:
        qs = qs.filter(status=status)
    return list(qs.order_by("-submitted_at", "-id")[:200])


def _form_context(request: HttpRequest, entered: dict[str, str], errors: dict) -> dict[str, Any]:
    institutions = _institutions(request)
    return {
        "claims": _claims(request),
        "status": request.GET.get("status", ""),
        "statuses": ClaimStatus.choices,
        "institutions": institutions,
        "drugs": _drugs(institutions),
        "reasons": ClaimReason.choices,
        "categories": BenefitCategory.choices,
        "entered": entered,
        "errors": errors,
    }


def _submit(request: HttpRequest, entered: dict[str, str]):
    line = {
        "drug_id": _int(entered["drug"]),
        "quantity": entered["quantity"],
        "unit_price": entered["unit_price"],
        "specification": entered["specification"],
    }
    if entered["pack_size"]:
        line["pack_size"] = entered["pack_size"]
    receipts = [(f.name, f.read(), f.content_type) for f in request.FILES.getlist("receipts")[:21]]
    return services.claim_submit(
        actor=request.user,
        person_id_number=entered["id_number"],
        institution_id=_int(entered["institution"]),
        reason=entered["reason"],
        category=entered["category"],
        purchased_on=entered["purchased_on"],
        lines=[line],
        receipts=receipts,
    )


@require_http_methods(["GET", "POST"])
@officer_required
def agency_claims(request: HttpRequest) -> HttpResponse:
    """The region's claims, newest first, and the form that enters one."""
    if request.method == "GET":
        return TemplateResponse(
            request, "settlement/agency_claims.html", _form_context(request, {}, {})
        )
    entered = {name: request.POST.get(name, "").strip() for name in FORM_FIELDS}
    try:
        claim = _submit(request, entered)
    except DomainError as exc:
        errors = {FIELD_OF[f]: exc.message for f in exc.fields if f in FIELD_OF}
        errors = errors or {"form": exc.message}
        context = {**_form_context(request, entered, errors), "error": exc}
        return TemplateResponse(request, "settlement/agency_claims.html", context, status=400)
    messages.success(
        request, f"已录入手工报销 {claim.claim_no}，请由另一位经办人员审核（录入人不能审核）"
    )
    return redirect("agency-claim", claim.pk)


def _lines(claim) -> list[dict[str, Any]]:
    return [
        {
            "drug_name": line.get("drug_name", ""),
            "specification": line.get("specification", ""),
            "quantity": line.get("quantity"),
            "package_unit": line.get("package_unit", "盒"),
            "unit_price": line.get("unit_price"),
        }
        for line in claim.lines or []
    ]


@require_GET
@officer_required
def agency_claim(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim = selectors.claim_get(request.user, claim_id)
    history = [
        {
            "at": t.at,
            "actor": t.actor,
            "to": ClaimStatus(t.to_status).label,
            "reason": t.reason,
        }
        for t in claim.history.select_related("actor").order_by("at", "id")
    ]
    entered_by_me = claim.submitted_by_id == request.user.pk and not request.user.is_superuser
    return TemplateResponse(
        request,
        "settlement/agency_claim.html",
        {
            "claim": claim,
            "id_number": mask_id_number(claim.person.id_number),
            "lines": _lines(claim),
            "history": history,
            "may_decide": claim.status == ClaimStatus.SUBMITTED and not entered_by_me,
            "entered_by_me": entered_by_me,
        },
    )


@require_POST
@officer_required
def agency_claim_decide(request: HttpRequest, claim_id: int) -> HttpResponse:
    decision = request.POST.get("decision", "")
    if decision not in ("approve", "reject"):
        raise DomainError("settlement.claim_decision_required", "请选择同意报销或不予报销")
    claim = services.claim_decide(
        actor=request.user,
        claim_id=claim_id,
        approve=decision == "approve",
        note=request.POST.get("note", ""),
    )
    if claim.status == ClaimStatus.APPROVED and claim.settlement is not None:
        s = claim.settlement
        text = f"已同意报销 {claim.claim_no}：基金支付 {s.fund} 元，个人负担 {s.personal} 元"
    else:
        text = f"已不予报销 {claim.claim_no}"
    messages.success(request, text)
    if request.headers.get("HX-Request"):  # htmx follows to the claim's page
        return HttpResponse(headers={"HX-Redirect": reverse("agency-claim", args=[claim.pk])})
    return redirect("agency-claim", claim.pk)


@require_GET
@officer_required
def agency_claim_receipt(request: HttpRequest, claim_id: int, number: int) -> HttpResponse:
    """One of the claim's receipts (1-based), inline, for the officers of the person's region
    (the claim's scope: 404 elsewhere); each opening is audited (``claim_receipt_open``). The
    file was checked on upload (PDF, JPEG or PNG)."""
    entry = services.claim_receipt_open(actor=request.user, claim_id=claim_id, number=number)
    extension = entry["path"].rsplit(".", 1)[-1].lower()
    mime = entry.get("mime_type") or RECEIPT_TYPES.get(extension, "application/octet-stream")
    with default_storage.open(entry["path"], "rb") as handle:
        content = handle.read()
    response = HttpResponse(content, content_type=mime)
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, no-store"
    return response
