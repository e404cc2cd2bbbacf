"""The patient's own filing request on the phone [HB art. 7(1)]: pick the drug and the treating
hospital, upload the records one has, submit; then follow it until the hospital's responsible
physician makes it an application (followed on the application's page) or declines it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dualchannel.catalog.models import MaterialKind
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.eligibility import selectors as eligibility_selectors
from dualchannel.eligibility.models import FilingRequestStatus
from dualchannel.eligibility.services import (
    PatientFile,
    filing_request_submit,
    filing_request_withdraw,
)
from dualchannel.eligibility.services.filing_requests import MAX_FILES, request_no
from dualchannel.eligibility.services.materials import MAX_UPLOAD_BYTES

from .selectors import FILING_NEXT_STEPS
from .views import UPLOAD_ACCEPT, patient_required

FILE_ROWS = 3  # file inputs on the form (each with its kind); more in a second request
# What a patient usually has to hand first [HB art. 7(1): 病历资料或检查资料].
KIND_ORDER = (
    MaterialKind.OUTPATIENT_RECORD,
    MaterialKind.DIAGNOSIS_CERTIFICATE,
    MaterialKind.PATHOLOGY,
    MaterialKind.GENE_TEST,
    MaterialKind.IMAGING,
    MaterialKind.IMMUNOHISTOCHEMISTRY,
    MaterialKind.SPECIAL_LAB,
    MaterialKind.DISCHARGE_SUMMARY,
    MaterialKind.IDENTITY_DOCUMENT,
)


def _posted_files(request: HttpRequest) -> list[PatientFile]:
    """The files of the form's rows, each with the kind chosen beside it."""
    files = []
    for index in range(MAX_FILES):
        for upload in request.FILES.getlist(f"file_{index}"):
            files.append(
                PatientFile(
                    kind=request.POST.get(f"kind_{index}", ""),
                    filename=upload.name or "",
                    content_type=upload.content_type or "",
                    # one byte past the limit: the service refuses anything longer
                    content=upload.read(MAX_UPLOAD_BYTES + 1),
                )
            )
    return files


def _number(value: str) -> int:
    return int(value) if value.isdigit() else 0


@require_http_methods(["GET", "POST"])
@patient_required
def portal_filing_new(request: HttpRequest) -> HttpResponse:
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    person = request.user.insured_person
    error = None
    values = {"drug_id": "", "hospital_id": "", "note": ""}
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in values}
        try:
            filing = filing_request_submit(
                actor=request.user,
                drug_id=_number(values["drug_id"]),
                hospital_id=_number(values["hospital_id"]),
                note=values["note"],
                files=_posted_files(request),
            )
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, f"已提交，医院应于{filing.due_on:%Y年%-m月%-d日}前办结")
            return redirect("portal-filing-request", request_id=filing.pk)
    return TemplateResponse(
        request,
        "portal/filing_new.html",
        {
            "drugs": eligibility_selectors.filing_drugs(person),
            "hospitals": eligibility_selectors.filing_hospitals(person),
            "kinds": [(k.value, k.label) for k in KIND_ORDER],
            "rows": range(FILE_ROWS),
            "upload_accept": UPLOAD_ACCEPT,
            "values": values,
            "error": error,
        },
        status=error.status if error is not None else 200,
    )


@require_GET
@patient_required
def portal_filing_request(request: HttpRequest, request_id: int) -> HttpResponse:
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    filing = eligibility_selectors.filing_request_get(request.user, request_id)
    if filing.patient_id != request.user.insured_person_id:
        raise NotFound()  # another person's request: the same 404 as a missing one
    labels = dict(FilingRequestStatus.choices)
    open_statuses = (FilingRequestStatus.SUBMITTED, FilingRequestStatus.TAKEN)
    return TemplateResponse(
        request,
        "portal/filing_request.html",
        {
            "filing": filing,
            "number": request_no(filing),
            "next_step": FILING_NEXT_STEPS[filing.status],
            "can_withdraw": filing.status in open_statuses,
            "uploads": list(filing.uploads.order_by("pk")),
            "timeline": [
                (h.at, labels.get(h.to_status, "")) for h in filing.history.order_by("at", "pk")
            ],
        },
    )


@require_POST
@patient_required
def portal_filing_withdraw(request: HttpRequest, request_id: int) -> HttpResponse:
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    filing_request_withdraw(actor=request.user, request_id=request_id)
    messages.success(request, "备案申请已撤回")
    return redirect("portal-filing-request", request_id=request_id)
