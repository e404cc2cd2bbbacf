"""The reviewer opens a piece of evidence in place (issue 12, point 2): a HIS report as text,
an uploaded PDF in a frame, an image as an image; the file itself comes from a view that checks
the reviewer's hospital. Opening is recorded: 核验通过 needs the item read first."""

from __future__ import annotations

from csp.decorators import csp_replace
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import selectors
from .models import Material, MaterialSource, VerificationState
from .services import materials
from .views import own_hospital_application

reviewer_required = role_required(Role.REVIEWER)
MAX_TEXT_CHARS = 200_000
TEXT_TYPES = ("text/", "application/json", "application/fhir+json")


def _reviewer_material(request: HttpRequest, material_id: int) -> Material:
    """The material, if of a case of the reviewer's hospital (else 404)."""
    material = selectors.material_get(request.user, material_id)
    own_hospital_application(request, material.application_id)
    return material


def _text_of(material: Material) -> str:
    with material.file.open("rb") as handle:
        content = handle.read(MAX_TEXT_CHARS * 4)
    return content.decode("utf-8", errors="replace")[:MAX_TEXT_CHARS]


def viewer_context(request: HttpRequest, material: Material) -> dict:
    """What the viewer shows: text inline, a PDF in a frame, an image as an image."""
    mime = material.mime_type or ""
    shown = "text" if mime.startswith(TEXT_TYPES) else ""
    if not shown:
        shown = "pdf" if mime == "application/pdf" else "image" if mime.startswith("image/") else ""
    return {
        "material": material,
        "shown": shown or "download",
        "text": _text_of(material) if shown == "text" else "",
        "file_url": reverse("eligibility-review-material-file", args=[material.pk]),
        "from_his": material.source == MaterialSource.HIS,
        "verifiable": (
            material.verification_state == VerificationState.UNVERIFIED
            and material.application.status in materials.EVIDENCE_OPEN
        ),
    }


@require_GET
@reviewer_required
def review_material(request: HttpRequest, material_id: int) -> HttpResponse:
    """The viewer (a fragment for htmx, else a page); the opening is recorded."""
    material = _reviewer_material(request, material_id)
    material = materials.material_open(actor=request.user, material_id=material.pk)
    context = viewer_context(request, material)
    template = "eligibility/_viewer.html" if request.headers.get("HX-Request") else None
    return TemplateResponse(request, template or "eligibility/review_material.html", context)


@require_GET
@reviewer_required
@xframe_options_sameorigin
@csp_replace({"frame-ancestors": ["'self'"]})
def review_material_file(request: HttpRequest, material_id: int) -> HttpResponse:
    """The stored file, inline, for the viewer's frame (same origin only)."""
    material = _reviewer_material(request, material_id)
    with material.file.open("rb") as handle:
        content = handle.read()
    response = HttpResponse(content, content_type=material.mime_type or "application/octet-stream")
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, no-store"
    return response
