"""JSON API of the patient's own filing request [HB art. 7(1)(3)] (mounted at /api/v1/eligibility).

The patient submits (drug, treating hospital, the files they have), lists their own requests and
withdraws one; the hospital's responsible physicians list their queue, take a request, decline it
with a reason or complete it into an application. The services check roles and standing; the
selectors scope every read (another person's or another hospital's request is a 404).
"""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpRequest
from ninja import Field, File, Form, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from dualchannel.core.auth import api_auth
from dualchannel.core.errors import DomainError, NotFound, PermissionDenied
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role

from . import error_codes as codes
from . import selectors, services
from .models import PatientFilingRequest
from .services.filing_requests import MAX_FILES, MAX_REASON, PatientFile, request_no
from .services.materials import MAX_UPLOAD_BYTES

router = Router(tags=["eligibility"], auth=api_auth)


class FilingOptionOut(Schema):
    id: int
    name: str


class FilingOptionsOut(Schema):
    drugs: list[FilingOptionOut] = Field(..., description="本地双通道药品（有在用认定条件）")
    hospitals: list[FilingOptionOut] = Field(..., description="可推送的定点医院（有责任医师）")


class FilingUploadOut(Schema):
    id: int
    kind: str
    kind_label: str
    title: str
    size: int


class FilingRequestOut(Schema):
    id: int
    request_no: str = Field(..., description="备案申请编号（HS + 8 位）")
    status: str
    status_label: str
    drug_id: int
    drug_name: str
    hospital_id: int
    hospital_name: str
    note: str
    submitted_at: datetime
    due_on: date = Field(..., description="医院应办结日期（鄂医保发〔2023〕35号 第十条）")
    taken_by: str = Field(..., description="受理医师（未受理为空）")
    decline_reason: str
    application_id: int | None
    application_no: str
    uploads: list[FilingUploadOut]


class FilingQueueItemOut(Schema):
    id: int
    request_no: str
    status: str
    status_label: str
    patient_name: str = Field(..., description="患者姓名（脱敏）")
    patient_id_number: str = Field(..., description="身份证号（脱敏）")
    drug_name: str
    submitted_at: datetime
    due_on: date
    taken_by_me: bool


class FilingDeclineIn(Schema):
    reason: str = Field(..., max_length=MAX_REASON)


class FilingCompleteIn(Schema):
    diagnosis_code: str = Field(..., max_length=30)
    diagnosis_name: str = Field(..., max_length=200)
    pharmacy_id: int | None = None


class FilingCompletedOut(Schema):
    request: FilingRequestOut
    application_id: int
    application_no: str


def _out(filing: PatientFilingRequest) -> dict:
    return {
        "id": filing.pk,
        "request_no": request_no(filing),
        "status": filing.status,
        "status_label": filing.get_status_display(),
        "drug_id": filing.drug_id,
        "drug_name": filing.drug.generic_name,
        "hospital_id": filing.hospital_id,
        "hospital_name": filing.hospital.name,
        "note": filing.note,
        "submitted_at": filing.submitted_at,
        "due_on": filing.due_on,
        "taken_by": filing.taken_by.name if filing.taken_by_id else "",
        "decline_reason": filing.decline_reason,
        "application_id": filing.application_id,
        "application_no": filing.application.application_no if filing.application_id else "",
        "uploads": [
            {
                "id": u.pk,
                "kind": u.kind,
                "kind_label": u.get_kind_display(),
                "title": u.title,
                "size": u.size,
            }
            for u in filing.uploads.order_by("pk")
        ],
    }


def _bound_patient(actor: User) -> None:
    require_role(actor, Role.PATIENT)
    if not actor.insured_person_id:
        raise PermissionDenied(codes.FILING_NOT_BOUND, "请先完成实名绑定")


def _own(actor: User, request_id: int) -> PatientFilingRequest:
    """The patient's own request (another person's: 404, as if it did not exist)."""
    _bound_patient(actor)
    found = selectors.filing_request_get(actor, request_id)
    if found.patient_id != actor.insured_person_id:
        raise NotFound()
    return found


def _hospitals(actor: User, request_id: int) -> PatientFilingRequest:
    """A request pushed to the physician's own hospital (else 404)."""
    require_role(actor, Role.PHYSICIAN)
    found = selectors.filing_request_get(actor, request_id)
    if not actor.is_superuser and found.hospital_id != actor.institution_id:
        raise NotFound()
    return found


def _fresh(request_id: int) -> dict:
    found = PatientFilingRequest.objects.select_related(
        "drug", "hospital", "taken_by", "application"
    ).get(pk=request_id)
    return _out(found)


# --- the patient ---------------------------------------------------------------------------------


@router.get(
    "/filing-requests/options",
    response=FilingOptionsOut,
    summary=(
        "患者发起备案：可选的药品与就诊定点医院"
        "（鄂医保发〔2023〕35号 第七条第（一）项、第（三）项）"
    ),
)
def filing_request_options(request: HttpRequest):
    _bound_patient(request.auth)
    person = request.auth.insured_person
    return {
        "drugs": [{"id": d.pk, "name": d.generic_name} for d in selectors.filing_drugs(person)],
        "hospitals": [{"id": h.pk, "name": h.name} for h in selectors.filing_hospitals(person)],
    }


@router.post(
    "/filing-requests",
    response={201: FilingRequestOut},
    summary=(
        "患者提交备案申请，推送至医院双通道责任医师"
        "（鄂医保发〔2023〕35号 第七条第（一）项、第（三）项）"
    ),
)
def filing_request_submit(
    request: HttpRequest,
    drug_id: Form[int],
    hospital_id: Form[int],
    kinds: Form[list[str]],
    note: Form[str] = "",
    files: list[UploadedFile] = File(...),  # noqa: B008
):
    if len(kinds) != len(files):
        raise DomainError(
            codes.FILING_KINDS_MISMATCH,
            "请为每份材料选择一种材料类型",
            fields={"kinds": ["材料类型与文件数量不一致"]},
        )
    if len(files) > MAX_FILES:
        raise DomainError(
            codes.FILING_TOO_MANY_FILES,
            f"一次最多上传 {MAX_FILES} 份材料",
            fields={"files": ["材料过多"]},
        )
    filing = services.filing_request_submit(
        actor=request.auth,
        drug_id=drug_id,
        hospital_id=hospital_id,
        note=note,
        files=[
            PatientFile(
                kind=kind,
                filename=upload.name or "",
                content_type=upload.content_type or "",
                content=upload.read(MAX_UPLOAD_BYTES + 1),  # one past: the service refuses it
            )
            for kind, upload in zip(kinds, files, strict=False)
        ],
    )
    return Status(201, _fresh(filing.pk))


@router.get(
    "/filing-requests/mine",
    response=list[FilingRequestOut],
    summary="患者本人的备案申请（新的在前）",
)
def filing_request_mine(request: HttpRequest):
    _bound_patient(request.auth)
    qs = (
        selectors.visible_filing_requests(request.auth)
        .filter(patient_id=request.auth.insured_person_id)
        .prefetch_related("uploads")
        .order_by("-submitted_at", "-pk")
    )
    return [_out(f) for f in qs[:100]]


@router.post(
    "/filing-requests/{int:request_id}/withdraw",
    response=FilingRequestOut,
    summary="患者撤回尚未办结的备案申请",
)
def filing_request_withdraw(request: HttpRequest, request_id: int):
    _own(request.auth, request_id)
    services.filing_request_withdraw(actor=request.auth, request_id=request_id)
    return _fresh(request_id)


# --- the hospital's responsible physician ---------------------------------------------------


@router.get(
    "/filing-requests/queue",
    response=list[FilingQueueItemOut],
    summary="责任医师：本院待受理与本人办理中的患者备案申请（应办结日期近的在前）",
)
def filing_request_queue(request: HttpRequest):
    require_role(request.auth, Role.PHYSICIAN)
    return [
        {
            "id": f.pk,
            "request_no": request_no(f),
            "status": f.status,
            "status_label": f.get_status_display(),
            "patient_name": mask_name(f.patient.name),
            "patient_id_number": mask_id_number(f.patient.id_number),
            "drug_name": f.drug.generic_name,
            "submitted_at": f.submitted_at,
            "due_on": f.due_on,
            "taken_by_me": bool(f.taken_by_id and f.taken_by.user_id == request.auth.pk),
        }
        for f in selectors.physician_filing_queue(request.auth)
    ]


@router.get(
    "/filing-requests/{int:request_id}",
    response=FilingRequestOut,
    summary="一件备案申请（患者本人或受理医院的责任医师）",
)
def filing_request_detail(request: HttpRequest, request_id: int):
    actor = request.auth
    found = selectors.filing_request_get(actor, request_id)
    mine = actor.insured_person_id and found.patient_id == actor.insured_person_id
    hospitals = Role.PHYSICIAN in actor.role_set and found.hospital_id == actor.institution_id
    if not (mine or hospitals or actor.is_superuser):
        raise NotFound()
    return _out(found)


@router.post(
    "/filing-requests/{int:request_id}/take",
    response=FilingRequestOut,
    summary="责任医师受理（只有一位医师能受理）",
)
def filing_request_take(request: HttpRequest, request_id: int):
    _hospitals(request.auth, request_id)
    services.filing_request_take(actor=request.auth, request_id=request_id)
    return _fresh(request_id)


@router.post(
    "/filing-requests/{int:request_id}/decline",
    response=FilingRequestOut,
    summary="医院不予受理，写明原因（患者可见）",
)
def filing_request_decline(request: HttpRequest, request_id: int, payload: FilingDeclineIn):
    _hospitals(request.auth, request_id)
    services.filing_request_decline(
        actor=request.auth, request_id=request_id, reason=payload.reason
    )
    return _fresh(request_id)


@router.post(
    "/filing-requests/{int:request_id}/complete",
    response={201: FilingCompletedOut},
    summary=(
        "受理医师办结：建立用药资格申请，患者上传的材料一并转入"
        "（鄂医保发〔2023〕35号 第七条第（二）项、第十条）"
    ),
)
def filing_request_complete(request: HttpRequest, request_id: int, payload: FilingCompleteIn):
    _hospitals(request.auth, request_id)
    application = services.filing_request_complete(
        actor=request.auth,
        request_id=request_id,
        diagnosis_code=payload.diagnosis_code,
        diagnosis_name=payload.diagnosis_name,
        pharmacy_id=payload.pharmacy_id,
    )
    return Status(
        201,
        {
            "request": _fresh(request_id),
            "application_id": application.pk,
            "application_no": application.application_no,
        },
    )
