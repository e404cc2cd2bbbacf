"""The responsible physicians' pages of the patient's own filing requests [HB art. 7(3)]: the
queue on /doctor/ (患者申请), one request with the patient's uploads viewable in place, and the
three actions: take, complete into an application, decline with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from csp.decorators import csp_replace
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import NotFound, field_error
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.models import User
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.integration.his import get_his_adapter
from dualchannel.registry.models import BindingMode
from dualchannel.registry.profiles import profile_of

from . import selectors, services
from .models import FilingRequestStatus, PatientFilingRequest
from .services.filing_requests import request_no

physician_required = role_required(Role.PHYSICIAN)
F = FilingRequestStatus


@dataclass(frozen=True)
class QueueRow:
    request: PatientFilingRequest
    number: str
    name: str  # 张*
    id_number: str  # 420102********1234
    waited: int | None  # working days since the request (None: calendar not loaded)
    days_left: int | None  # working days to the hospital's limit [HB art. 10]


def _row(request: PatientFilingRequest, today: date) -> QueueRow:
    waited = selectors.waiting_working_days(request.submitted_at.date(), today)
    left = selectors.waiting_working_days(today, request.due_on)
    return QueueRow(
        request=request,
        number=request_no(request),
        name=mask_name(request.patient.name),
        id_number=mask_id_number(request.patient.id_number),
        waited=waited,
        days_left=left,
    )


def filing_queue(user: User, today: date) -> list[QueueRow]:
    """The hospital's open requests: those waiting for anyone, and those this physician took
    (another physician's taken request is theirs), the nearest limit first."""
    return [_row(r, today) for r in selectors.physician_filing_queue(user)]


def _hospital_request(request: HttpRequest, request_id: int) -> PatientFilingRequest:
    """The request if in scope and pushed to the user's hospital (else 404)."""
    found = selectors.filing_request_get(request.user, request_id)
    if not request.user.is_superuser and found.hospital_id != request.user.institution_id:
        raise NotFound()
    return found


def _diagnoses(filing: PatientFilingRequest) -> list:
    """The patient's diagnoses in the hospital's own system, if it knows them."""
    his = get_his_adapter(filing.hospital)
    found = his.find_patient(filing.patient.id_number)
    return his.diagnoses(found) if found is not None else []


@require_GET
@physician_required
def doctor_filing_request(request: HttpRequest, request_id: int) -> HttpResponse:
    filing = _hospital_request(request, request_id)
    mine = filing.taken_by is not None and filing.taken_by.user_id == request.user.pk
    labels = dict(FilingRequestStatus.choices)
    profile = profile_of(filing.hospital)
    citations = profile.citations_in_words if profile is not None else {}
    context = {
        "filing": filing,
        "row": _row(filing, timezone.localdate()),
        "uploads": list(filing.uploads.order_by("pk")),
        "history": [
            (h.at, labels.get(h.to_status, ""), h.reason)
            for h in filing.history.order_by("at", "pk")
        ],
        # the region's own words for the limit [HB art. 10], where its profile has them
        "limit_citation": citations.get("review_deadline_working_days", ""),
        "mine": mine,
        "can_take": filing.status == F.SUBMITTED,
        "can_decline": filing.status == F.SUBMITTED or (filing.status == F.TAKEN and mine),
        "can_complete": filing.status == F.TAKEN and mine,
    }
    if context["can_complete"]:
        context["diagnoses"] = _diagnoses(filing)
        context["pharmacies"] = selectors.city_pharmacies(filing.hospital)
        context["pharmacy_required"] = bool(
            profile and profile.binding_mode == BindingMode.THREE_FIXED
        )
    return TemplateResponse(request, "eligibility/doctor_filing_request.html", context)


@require_GET
@physician_required
@xframe_options_sameorigin
@csp_replace({"frame-ancestors": ["'self'"]})
def doctor_filing_upload_file(request: HttpRequest, upload_id: int) -> HttpResponse:
    """The stored upload, inline, for the page's frame (same origin only)."""
    upload = selectors.filing_upload_get(request.user, upload_id)
    if not request.user.is_superuser and upload.request.hospital_id != request.user.institution_id:
        raise NotFound()
    with upload.file.open("rb") as handle:
        content = handle.read()
    response = HttpResponse(content, content_type=upload.mime_type or "application/octet-stream")
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, no-store"
    return response


def _back(request_id: int) -> HttpResponse:
    return redirect(reverse("eligibility-doctor-filing-request", args=[request_id]))


@require_POST
@physician_required
def doctor_filing_take(request: HttpRequest, request_id: int) -> HttpResponse:
    filing = _hospital_request(request, request_id)
    services.filing_request_take(actor=request.user, request_id=filing.pk)
    messages.success(request, f"已受理患者申请 {request_no(filing)}")
    return _back(filing.pk)


@require_POST
@physician_required
def doctor_filing_decline(request: HttpRequest, request_id: int) -> HttpResponse:
    filing = _hospital_request(request, request_id)
    services.filing_request_decline(
        actor=request.user, request_id=filing.pk, reason=request.POST.get("reason", "")
    )
    messages.success(request, f"已告知患者未受理原因（{request_no(filing)}）")
    return _back(filing.pk)


@require_POST
@physician_required
def doctor_filing_complete(request: HttpRequest, request_id: int) -> HttpResponse:
    """A diagnosis from the hospital's system (or typed), the pharmacy where bound: the draft."""
    filing = _hospital_request(request, request_id)
    picked = request.POST.get("diagnosis", "")
    if "|" in picked:
        code, name = picked.split("|", 1)
    else:
        code, name = request.POST.get("diagnosis_code", ""), request.POST.get("diagnosis_name", "")
    if not code.strip():
        raise field_error("diagnosis", "eligibility.invalid_diagnosis", "请选择或填写诊断")
    pharmacy_id = request.POST.get("pharmacy_id", "")
    application = services.filing_request_complete(
        actor=request.user,
        request_id=filing.pk,
        diagnosis_code=code,
        diagnosis_name=name,
        pharmacy_id=int(pharmacy_id) if pharmacy_id.isdigit() else None,
    )
    messages.success(
        request,
        f"已建立申请 {application.application_no}，患者上传的材料已附入；"
        "请确认条件、填写方案后提交",
    )
    return redirect(reverse("eligibility-doctor-application", args=[application.pk]))
