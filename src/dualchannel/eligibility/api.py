"""JSON API of first-time eligibility: the physician's workbench, the patient's uploads, the
reviewer's queue, scans and decisions. Every call is scoped by ``selectors``; services check
roles."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.http import HttpRequest
from ninja import File, Form, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from dualchannel.core import reveal
from dualchannel.core.auth import api_auth
from dualchannel.core.errors import DomainError, PermissionDenied
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.roles import Role

from . import error_codes as codes
from . import selectors, services
from .models import Application, Eligibility, Material
from .services import materials

router = Router(tags=["eligibility"])


class CreateIn(Schema):
    patient_id_number: str
    drug_id: int
    diagnosis_code: str
    diagnosis_name: str
    pharmacy_id: int | None = None
    treating_hospital_id: int | None = None
    treating_physician_id: int | None = None


class AnswerIn(Schema):
    answers: dict[str, bool]


class PlanIn(Schema):
    dose: str
    frequency: str
    route: str
    total_quantity: Decimal
    quantity_unit: str = ""
    period_start: date
    period_end: date
    evaluation_cycle_days: int | None = None


class VerifyIn(Schema):
    verified: bool
    note: str = ""


class RequestMaterialsIn(Schema):
    kinds: list[str]
    note: str


class ApplicationReasonIn(Schema):
    reason: str


class ApplicationListQuery(Schema):
    status: str | None = None
    drug_id: int | None = None


class MaterialOut(Schema):
    id: int
    kind: str
    kind_label: str
    source: str
    title: str
    issuer: str
    issued_at: datetime | None
    mime_type: str
    size: int
    sha256: str
    received_at: datetime
    verification_state: str
    verification_note: str


class OutcomeOut(Schema):
    code: str
    kind: str
    group: str
    text: str
    outcome: str
    evidence: dict


class ApplicationEligibilityOut(Schema):
    id: int
    status: str
    effective_from: date
    next_reevaluation_due: date | None
    plan_total_quantity: Decimal
    plan_used_quantity: Decimal
    filing_id: int | None
    filing_note: str


class ApplicationOut(Schema):
    id: int
    application_no: str
    status: str
    status_label: str
    patient_name: str
    patient_id_number: str
    drug_id: int
    drug_name: str
    diagnosis_code: str
    diagnosis_name: str
    binding_mode: str
    hospital_id: int
    hospital_name: str
    physician_id: int
    physician_name: str
    pharmacy_id: int | None
    pharmacy_name: str
    treating_hospital_id: int | None
    treating_physician_id: int | None
    criteria_set_id: int
    submitted_at: datetime | None
    complete_on: date | None
    review_due: date | None
    decided_at: datetime | None
    decision_reason: str
    requested_material_kinds: list[str]
    materials_deadline: date | None
    dose: str
    frequency: str
    route: str
    total_quantity: Decimal | None
    quantity_unit: str
    period_start: date | None
    period_end: date | None
    evaluation_cycle_days: int | None
    application_form_id: int | None
    treatment_plan_document_id: int | None


class ApplicationDetailOut(ApplicationOut):
    outcomes: list[OutcomeOut]
    materials: list[MaterialOut]
    eligibility: ApplicationEligibilityOut | None


class CheckItemOut(Schema):
    code: str
    kind: str
    group: str
    text: str
    outcome: str
    outcome_label: str
    reason: str
    evidence: dict


class EligibilityCheckOut(Schema):
    verdict: str
    verdict_label: str
    items: list[CheckItemOut]


class QueueItemOut(Schema):
    application: ApplicationOut
    working_days_left: int | None  # None: that year's holiday table is not loaded
    overdue: bool


class ApplicationIdNumberOut(Schema):
    id_number: str


def sees_full_id(actor, case: Application | Eligibility) -> bool:
    """The physician and reviewer handle the case and the patient sees their own name; they may
    ask for the full ID number (``.../id-number``, audited). Payloads always mask the number."""
    if actor.is_superuser:
        return True
    return bool(
        actor.role_set.intersection({Role.PHYSICIAN, Role.REVIEWER})
        or actor.insured_person_id == case.patient_id
    )


def _application(actor, application: Application) -> dict:
    full = sees_full_id(actor, application)
    person = application.patient
    return {
        "id": application.pk,
        "application_no": application.application_no,
        "status": application.status,
        "status_label": application.get_status_display(),
        "patient_name": person.name if full else mask_name(person.name),
        "patient_id_number": mask_id_number(person.id_number),  # full: POST .../id-number
        "drug_id": application.drug_id,
        "drug_name": application.drug.generic_name,
        "diagnosis_code": application.diagnosis_code,
        "diagnosis_name": application.diagnosis_name,
        "binding_mode": application.binding_mode,
        "hospital_id": application.hospital_id,
        "hospital_name": application.hospital.name,
        "physician_id": application.physician_id,
        "physician_name": application.physician.name,
        "pharmacy_id": application.pharmacy_id,
        "pharmacy_name": application.pharmacy.name if application.pharmacy else "",
        "treating_hospital_id": application.treating_hospital_id,
        "treating_physician_id": application.treating_physician_id,
        "criteria_set_id": application.criteria_set_id,
        "submitted_at": application.submitted_at,
        "complete_on": application.complete_on,
        "review_due": application.review_due,
        "decided_at": application.decided_at,
        "decision_reason": application.decision_reason,
        "requested_material_kinds": application.requested_material_kinds,
        "materials_deadline": application.materials_deadline,
        "dose": application.dose,
        "frequency": application.frequency,
        "route": application.route,
        "total_quantity": application.total_quantity,
        "quantity_unit": application.quantity_unit,
        "period_start": application.period_start,
        "period_end": application.period_end,
        "evaluation_cycle_days": application.evaluation_cycle_days,
        "application_form_id": application.application_form_id,
        "treatment_plan_document_id": application.treatment_plan_document_id,
    }


def _material(material: Material) -> dict:
    return {
        "id": material.pk,
        "kind": material.kind,
        "kind_label": material.get_kind_display(),
        "source": material.source,
        "title": material.title,
        "issuer": material.issuer,
        "issued_at": material.issued_at,
        "mime_type": material.mime_type,
        "size": material.size,
        "sha256": material.sha256,
        "received_at": material.received_at,
        "verification_state": material.verification_state,
        "verification_note": material.verification_note,
    }


def _eligibility(eligibility: Eligibility | None) -> dict | None:
    if eligibility is None:
        return None
    return {
        "id": eligibility.pk,
        "status": eligibility.status,
        "effective_from": eligibility.effective_from,
        "next_reevaluation_due": eligibility.next_reevaluation_due,
        "plan_total_quantity": eligibility.plan_total_quantity,
        "plan_used_quantity": eligibility.plan_used_quantity,
        "filing_id": eligibility.filing_id,
        "filing_note": eligibility.filing_note,
    }


def _detail(request: HttpRequest, application_id: int) -> dict:
    application = selectors.application_get(request.auth, application_id)
    return {
        **_application(request.auth, application),
        "outcomes": [
            {
                "code": o.code,
                "kind": o.kind,
                "group": o.group,
                "text": o.text,
                "outcome": o.outcome,
                "evidence": o.evidence,
            }
            for o in application.outcomes.all()
        ],
        "materials": [_material(m) for m in application.materials.all()],
        "eligibility": _eligibility(selectors.eligibility_of(application)),
    }


@router.get("/applications", response=list[ApplicationOut], auth=api_auth, summary="申请列表")
def application_list(request: HttpRequest, query: Query[ApplicationListQuery]):
    qs = selectors.application_list(request.auth, status=query.status, drug_id=query.drug_id)
    return [_application(request.auth, a) for a in qs[:500]]


@router.post(
    "/applications",
    response={201: ApplicationDetailOut},
    auth=api_auth,
    summary="责任医师新建申请（草稿）",
)
def application_create(request: HttpRequest, payload: CreateIn):
    application = services.application_create(actor=request.auth, **payload.dict())
    return Status(201, _detail(request, application.pk))


@router.get(
    "/applications/review-queue",
    response=list[QueueItemOut],
    auth=api_auth,
    summary="审核队列（按剩余工作日排序）",
)
def review_queue(request: HttpRequest):
    return [
        {
            "application": _application(request.auth, item.application),
            "working_days_left": item.working_days_left,
            "overdue": item.overdue,
        }
        for item in selectors.review_queue(request.auth)
    ]


@router.get(
    "/applications/{int:application_id}",
    response=ApplicationDetailOut,
    auth=api_auth,
    summary="申请详情",
)
def application_detail(request: HttpRequest, application_id: int):
    return _detail(request, application_id)


@router.post(
    "/applications/{int:application_id}/id-number",
    response=ApplicationIdNumberOut,
    auth=api_auth,
    summary="查看患者完整身份证号（每次查看记入审计日志）",
)
def application_id_number(request: HttpRequest, application_id: int):
    application = selectors.application_get(request.auth, application_id)
    if not sees_full_id(request.auth, application):
        raise PermissionDenied(codes.ID_NUMBER_NOT_ALLOWED, "无权查看完整证件号")
    value = reveal.reveal_id_number(
        actor=request.auth, person=application.patient, subject=application, via=reveal.VIA_API
    )
    return {"id_number": value}


@router.post(
    "/applications/{int:application_id}/answers",
    response=ApplicationDetailOut,
    auth=api_auth,
    summary="医师确认条件",
)
def application_answer(request: HttpRequest, application_id: int, payload: AnswerIn):
    services.application_answer(
        actor=request.auth, application_id=application_id, answers=payload.answers
    )
    return _detail(request, application_id)


@router.get(
    "/applications/{int:application_id}/check",
    response=EligibilityCheckOut,
    auth=api_auth,
    summary="实时校验认定条件",
)
def application_check(request: HttpRequest, application_id: int):
    checked = services.application_check(actor=request.auth, application_id=application_id)
    return {
        "verdict": checked.result.verdict,
        "verdict_label": checked.result.verdict_label,
        "items": checked.items(),
    }


@router.put(
    "/applications/{int:application_id}/plan",
    response=ApplicationDetailOut,
    auth=api_auth,
    summary="治疗用药方案",
)
def application_plan(request: HttpRequest, application_id: int, payload: PlanIn):
    services.application_set_plan(
        actor=request.auth, application_id=application_id, **payload.dict()
    )
    return _detail(request, application_id)


@router.post(
    "/applications/{int:application_id}/submit",
    response=ApplicationDetailOut,
    auth=api_auth,
    summary="提交申请（签署申请表与治疗方案）",
)
def application_submit(request: HttpRequest, application_id: int):
    services.application_submit(actor=request.auth, application_id=application_id)
    return _detail(request, application_id)


@router.post(
    "/applications/{int:application_id}/materials",
    response={201: MaterialOut},
    auth=api_auth,
    summary="患者上传补充材料（PDF/JPEG/PNG，≤10 MB）",
)
def material_upload(
    request: HttpRequest,
    application_id: int,
    kind: Form[str],
    file: UploadedFile = File(...),  # noqa: B008
):
    material = materials.material_upload(
        actor=request.auth,
        application_id=application_id,
        kind=kind,
        filename=file.name or "",
        content=_read(file),
        content_type=file.content_type or "",
    )
    return Status(201, _material(material))


@router.post(
    "/applications/{int:application_id}/materials/scan",
    response={201: MaterialOut},
    auth=api_auth,
    summary="审核员扫描患者带来的纸质材料（核对原件，即为已核验）",
)
def material_scan(
    request: HttpRequest,
    application_id: int,
    kind: Form[str],
    title: Form[str] = "",
    issuer: Form[str] = "",
    file: UploadedFile = File(...),  # noqa: B008
):
    material = materials.material_scan(
        actor=request.auth,
        application_id=application_id,
        kind=kind,
        content=_read(file),
        filename=file.name or "",
        content_type=file.content_type or "",
        title=title,
        issuer=issuer,
    )
    return Status(201, _material(material))


def _read(file: UploadedFile) -> bytes:
    """The upload's bytes, one past the limit at most: the service refuses anything longer."""
    if file.size is not None and file.size > materials.MAX_UPLOAD_BYTES:
        raise DomainError(
            codes.FILE_TOO_LARGE, "文件不得超过 10 MB", fields={"file": ["文件不得超过 10 MB"]}
        )
    return file.read(materials.MAX_UPLOAD_BYTES + 1)


@router.post(
    "/materials/{int:material_id}/verify",
    response=MaterialOut,
    auth=api_auth,
    summary="审核员核验材料",
)
def material_verify(request: HttpRequest, material_id: int, payload: VerifyIn):
    material = materials.material_verify(
        actor=request.auth, material_id=material_id, verified=payload.verified, note=payload.note
    )
    return _material(material)


@router.post(
    "/applications/{int:application_id}/request-materials",
    response=ApplicationDetailOut,
    auth=api_auth,
    summary="审核员要求补充材料",
)
def application_request_materials(
    request: HttpRequest, application_id: int, payload: RequestMaterialsIn
):
    services.application_request_materials(
        actor=request.auth, application_id=application_id, kinds=payload.kinds, note=payload.note
    )
    return _detail(request, application_id)


@router.post(
    "/applications/{int:application_id}/approve",
    response=ApplicationDetailOut,
    auth=api_auth,
    summary="审核通过（资格自即日起生效）",
)
def application_approve(request: HttpRequest, application_id: int):
    services.application_approve(actor=request.auth, application_id=application_id)
    return _detail(request, application_id)


@router.post(
    "/applications/{int:application_id}/reject",
    response=ApplicationDetailOut,
    auth=api_auth,
    summary="审核不通过",
)
def application_reject(request: HttpRequest, application_id: int, payload: ApplicationReasonIn):
    services.application_reject(
        actor=request.auth, application_id=application_id, reason=payload.reason
    )
    return _detail(request, application_id)


@router.post(
    "/applications/{int:application_id}/withdraw",
    response=ApplicationDetailOut,
    auth=api_auth,
    summary="撤回申请",
)
def application_withdraw(request: HttpRequest, application_id: int, payload: ApplicationReasonIn):
    services.application_withdraw(
        actor=request.auth, application_id=application_id, reason=payload.reason
    )
    return _detail(request, application_id)
