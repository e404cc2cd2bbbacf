"""JSON API of prescriptions (/api/v1/prescriptions): issuing, reading, cancelling, the patient's
choice of pharmacy, and the dispensing result back to the hospital (DESIGN §5.2). The counter and
delivery are in ``counter_api``, which shapes its answers with the payload functions here.

Reads are scoped by ``selectors``; services check roles. ID numbers are always masked: the roles
whose job needs the full one ask ``POST /{id}/id-number``, which records each view
(``core.reveal``); phones are masked except for the delivering pharmacy and the patient.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from dualchannel.core import reveal
from dualchannel.core.auth import api_auth
from dualchannel.core.errors import PermissionDenied
from dualchannel.core.masking import mask_id_number, mask_name, mask_phone
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.eligibility.api import sees_full_id
from dualchannel.eligibility.models import Eligibility
from dualchannel.inventory.selectors import STOCK_STATUS_CODES

from . import error_codes as codes
from . import selectors, services
from .models import (
    CertificateType,
    Delivery,
    Dispensing,
    Prescription,
    RxCentreStatus,
    StockStatus,
)
from .services import delivery as deliveries

router = Router(tags=["prescriptions"], auth=api_auth)


# --- input -------------------------------------------------------------------------------------


class ItemIn(Schema):
    drug_id: int
    quantity: Decimal = Field(..., description="数量（治疗方案单位，如 粒）")
    unit: str
    single_dose: Decimal
    dose_unit: str
    frequency: str
    route: str
    days: int
    pack_size: Decimal = Decimal(1)
    package_unit: str = "盒"
    specification: str = ""


class IssueIn(Schema):
    patient_id_number: str
    benefit_type: str
    items: list[ItemIn]
    eligibility_id: int | None = None
    diagnosis_code: str = ""
    diagnosis_name: str = ""
    long_prescription: bool = False
    # AH §2(4) (filing-form profiles only): the pharmacy the patient chose, named on the form
    pharmacy_id: int | None = None


class PrescriptionListQuery(Schema):
    status: str | None = None
    eligibility_id: int | None = None


class PrescriptionReasonIn(Schema):
    reason: str


class RouteIn(Schema):
    pharmacy_id: int
    consent: bool


# --- output ------------------------------------------------------------------------------------


class PrescriptionOut(Schema):
    id: int
    prescription_no: str
    status: str
    status_label: str
    benefit_type: str
    benefit_type_label: str
    patient_name: str
    patient_id_number: str
    hospital_id: int
    hospital_name: str
    physician_name: str
    eligibility_id: int | None
    diagnosis_code: str
    diagnosis_name: str
    drug_names: str
    issued_at: datetime
    valid_until: date
    long_prescription: bool
    pharmacy_id: int | None
    pharmacy_name: str
    dispensed_at: datetime | None


class ItemOut(Schema):
    id: int
    position: int
    drug_id: int
    drug_name: str
    specification: str
    quantity: Decimal
    unit: str
    pack_size: Decimal
    package_unit: str
    packages: int
    single_dose: Decimal
    dose_unit: str
    frequency: str
    route: str
    usage: str
    days: int


class PrescriptionHistoryOut(Schema):
    from_status: str
    to_status: str
    reason: str
    at: datetime


class CirculationOut(Schema):
    pharmacy_id: int | None
    pharmacy_name: str
    consented_at: datetime | None
    routed_at: datetime | None
    stock_status_at_choice: str
    stock_status_label: str
    stock_code: str  # rxSetlStockQuery: 1 all, 0 partly, -1 none ("" before the choice)
    rx_centre_status: str
    rx_centre_status_label: str
    rx_centre_uploaded_at: datetime | None
    rx_centre_dispense_reported: bool


class PrescriptionLineOut(Schema):
    drug_id: int
    drug_name: str
    batch_no: str
    expiry_date: date
    packages: int
    package_unit: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    trace_codes: list[str]


class DeliveryOut(Schema):
    dispensing_id: int
    mode: str
    mode_label: str
    status: str
    status_label: str
    next_statuses: list[str]
    address: str
    recipient_name: str
    recipient_phone: str
    destination_id: int | None
    destination_name: str
    cold_chain: bool
    fee: Decimal
    handed_over_by: str
    received_by: str
    handed_over_at: datetime | None
    history: list[PrescriptionHistoryOut]


class PrescriptionWarningOut(Schema):
    code: str
    message: str


class DispensingOut(Schema):
    id: int
    prescription_id: int
    prescription_no: str
    pharmacy_id: int
    pharmacy_name: str
    pharmacist_name: str
    dispensed_at: datetime
    certificate_type: str
    certificate_label: str
    certificate_masked: str
    agent_name: str
    agent_id_number: str
    agent_phone: str
    agent_relation: str
    agent_relation_label: str
    agent_signed: bool
    warnings: list[PrescriptionWarningOut]
    lines: list[PrescriptionLineOut]
    delivery: DeliveryOut | None


class PlanOut(Schema):
    eligibility_id: int
    total: Decimal
    used: Decimal
    left: Decimal
    unit: str


class PrescriptionDetailOut(PrescriptionOut):
    department: str
    valid_days: int
    cancel_reason: str
    document_id: int | None
    filing_form_id: int | None
    filing_pharmacy_name: str
    items: list[ItemOut]
    history: list[PrescriptionHistoryOut]
    circulation: CirculationOut
    plan_quantity: Decimal
    plan: PlanOut | None
    dispensing: DispensingOut | None


class PharmacyOptionOut(Schema):
    pharmacy_id: int
    name: str
    address: str
    phone: str
    region_code: str
    stock: str
    stock_label: str
    stock_code: str
    # HB art. 40–41: local / in_province / cross_province_filed (direct) or not settled directly
    area: str = "local"
    area_label: str = ""
    direct_settlement: bool = True
    area_note: str = ""


class PrescriptionBatchOut(Schema):
    drug_id: int
    drug_name: str
    batch_no: str
    expiry_date: date
    packages: int
    package_unit: str
    quantity: Decimal
    unit: str


class DispensingResultOut(Schema):
    prescription_id: int
    prescription_no: str
    status: str
    status_label: str
    issued_at: datetime
    plan_quantity: Decimal
    dispensing_id: int | None
    pharmacy_name: str
    dispensed_at: datetime | None
    delivery_status: str
    delivery_status_label: str
    batches: list[PrescriptionBatchOut]


class DispensingResultsOut(Schema):
    plan: PlanOut | None
    results: list[DispensingResultOut]


# --- shaping and masking -----------------------------------------------------------------------


def _pharmacist_of(actor: User, pharmacy_id: int | None) -> bool:
    return (
        actor.has_role(Role.PHARMACIST)
        and pharmacy_id is not None
        and (actor.institution_id == pharmacy_id)
    )


def _sees_name(actor: User, prescription: Prescription) -> bool:
    """The pharmacy the prescription is routed to calls the patient by name at the counter (and
    may ask for the full ID number for the real-name check, like the case's hospital roles)."""
    return sees_full_id(actor, prescription) or _pharmacist_of(actor, prescription.pharmacy_id)


def _sees_contact(actor: User, dispensing: Dispensing) -> bool:
    """The delivering pharmacy and the patient see the delivery address and phone."""
    return (
        actor.is_superuser
        or _pharmacist_of(actor, dispensing.pharmacy_id)
        or actor.insured_person_id == dispensing.prescription.patient_id
    )


def prescription_payload(actor: User, p: Prescription) -> dict:
    person = p.patient
    return {
        "id": p.pk,
        "prescription_no": p.prescription_no,
        "status": p.status,
        "status_label": p.get_status_display(),
        "benefit_type": p.benefit_type,
        "benefit_type_label": p.get_benefit_type_display(),
        "patient_name": person.name if _sees_name(actor, p) else mask_name(person.name),
        "patient_id_number": mask_id_number(person.id_number),  # full: POST /{id}/id-number
        "hospital_id": p.hospital_id,
        "hospital_name": p.hospital.name,
        "physician_name": p.physician.name,
        "eligibility_id": p.eligibility_id,
        "diagnosis_code": p.diagnosis_code,
        "diagnosis_name": p.diagnosis_name,
        "drug_names": "、".join(i.drug.generic_name for i in p.items.all()),
        "issued_at": p.issued_at,
        "valid_until": p.valid_until,
        "long_prescription": p.long_prescription,
        "pharmacy_id": p.pharmacy_id,
        "pharmacy_name": p.pharmacy.name if p.pharmacy else "",
        "dispensed_at": p.dispensed_at,
    }


def _history(rows) -> list[dict]:
    return [
        {"from_status": h.from_status, "to_status": h.to_status, "reason": h.reason, "at": h.at}
        for h in rows
    ]


def _item(item) -> dict:
    return {
        "id": item.pk,
        "position": item.position,
        "drug_id": item.drug_id,
        "drug_name": item.drug.generic_name,
        "specification": item.specification,
        "quantity": item.quantity,
        "unit": item.unit,
        "pack_size": item.pack_size,
        "package_unit": item.package_unit,
        "packages": item.packages,
        "single_dose": item.single_dose,
        "dose_unit": item.dose_unit,
        "frequency": item.frequency,
        "route": item.route,
        "usage": item.usage,
        "days": item.days,
    }


def _circulation(p: Prescription) -> dict:
    submission = getattr(p, "rx_centre", None)
    stock = p.stock_status_at_choice
    return {
        "pharmacy_id": p.pharmacy_id,
        "pharmacy_name": p.pharmacy.name if p.pharmacy else "",
        "consented_at": p.consented_at,
        "routed_at": p.routed_at,
        "stock_status_at_choice": stock,
        "stock_status_label": StockStatus(stock).label if stock else "",
        "stock_code": STOCK_STATUS_CODES.get(stock, ""),
        "rx_centre_status": submission.status if submission else "",
        "rx_centre_status_label": (
            RxCentreStatus(submission.status).label if submission else "未流转"
        ),
        "rx_centre_uploaded_at": submission.uploaded_at if submission else None,
        "rx_centre_dispense_reported": bool(submission and submission.dispense_reported),
    }


def delivery_payload(actor: User, row: Delivery, dispensing: Dispensing) -> dict:
    contact = _sees_contact(actor, dispensing)
    return {
        "dispensing_id": dispensing.pk,
        "mode": row.mode,
        "mode_label": row.get_mode_display(),
        "status": row.status,
        "status_label": row.get_status_display(),
        "next_statuses": deliveries.next_statuses(row),
        "address": row.address if contact else "",
        "recipient_name": row.recipient_name if contact else mask_name(row.recipient_name),
        "recipient_phone": row.recipient_phone if contact else mask_phone(row.recipient_phone),
        "destination_id": row.destination_id,
        "destination_name": row.destination.name if row.destination else "",
        "cold_chain": row.cold_chain,
        "fee": row.fee,
        "handed_over_by": row.handed_over_by,
        # the cold chain's receiver is hospital staff; a home delivery's may be family
        "received_by": (
            row.received_by if contact or row.cold_chain else mask_name(row.received_by)
        ),
        "handed_over_at": row.handed_over_at,
        "history": _history(row.history.all()),
    }


def dispensing_payload(actor: User, d: Dispensing) -> dict:
    contact = _sees_contact(actor, d)
    row = getattr(d, "delivery", None)
    return {
        "id": d.pk,
        "prescription_id": d.prescription_id,
        "prescription_no": d.prescription.prescription_no,
        "pharmacy_id": d.pharmacy_id,
        "pharmacy_name": d.pharmacy.name,
        "pharmacist_name": d.pharmacist.name,
        "dispensed_at": d.dispensed_at,
        "certificate_type": d.certificate_type,
        "certificate_label": CertificateType(d.certificate_type).label,
        "certificate_masked": d.certificate_masked,
        # HB art. 24: the agent's numbers are kept for inquiries, never shown in full here
        "agent_name": d.agent_name if contact else mask_name(d.agent_name),
        "agent_id_number": mask_id_number(d.agent_id_number),
        "agent_phone": mask_phone(d.agent_phone),
        "agent_relation": d.agent_relation,  # blank: in person, or recorded before it was asked
        "agent_relation_label": d.get_agent_relation_display(),
        "agent_signed": bool(d.agent_signature_sha256),
        "warnings": [
            {"code": w.get("code", ""), "message": w.get("message", "")} for w in d.warnings
        ],
        "lines": [
            {
                "drug_id": line.drug_id,
                "drug_name": line.drug.generic_name,
                "batch_no": line.batch_no,
                "expiry_date": line.expiry_date,
                "packages": line.packages,
                "package_unit": line.item.package_unit,
                "quantity": line.quantity,
                "unit": line.item.unit,
                "unit_price": line.unit_price,
                "trace_codes": line.trace_codes,
            }
            for line in d.lines.all()
        ],
        "delivery": delivery_payload(actor, row, d) if row is not None else None,
    }


def plan_payload(plan: selectors.PlanProgress | None) -> dict | None:
    return None if plan is None else plan.__dict__


def _detail(actor: User, prescription_id: int) -> dict:
    p = selectors.prescription_get(actor, prescription_id)
    found = selectors.dispensing_results(actor, p)
    (result,) = found.results
    dispensing = result.dispensing
    return {
        **prescription_payload(actor, p),
        "department": p.department,
        "valid_days": p.valid_days,
        "cancel_reason": p.cancel_reason,
        "document_id": p.document_id,
        "filing_form_id": p.filing_form_id,
        "filing_pharmacy_name": p.filing_pharmacy.name if p.filing_pharmacy_id else "",
        "items": [_item(i) for i in p.items.all()],
        "history": _history(p.history.all()),
        "circulation": _circulation(p),
        "plan_quantity": result.plan_quantity,
        "plan": plan_payload(found.plan),
        "dispensing": dispensing_payload(actor, dispensing) if dispensing is not None else None,
    }


# --- the physician and the patient -------------------------------------------------------------


@router.post("/", response={201: PrescriptionDetailOut}, summary="责任医师开具双通道处方")
def prescription_issue(request: HttpRequest, payload: IssueIn):
    data = payload.model_dump()
    prescription = services.prescription_issue(actor=request.auth, **data)
    return Status(201, _detail(request.auth, prescription.pk))


@router.get("/", response=list[PrescriptionOut], summary="处方列表（按角色范围）")
def prescription_list(request: HttpRequest, query: Query[PrescriptionListQuery]):
    rows = selectors.prescription_list(
        request.auth, status=query.status, eligibility_id=query.eligibility_id
    )
    return [prescription_payload(request.auth, p) for p in rows[:500]]


@router.get(
    "/{int:prescription_id}",
    response=PrescriptionDetailOut,
    summary="处方详情（明细、状态记录、流转与取药结果）",
)
def prescription_detail(request: HttpRequest, prescription_id: int):
    return _detail(request.auth, prescription_id)


class PrescriptionIdNumberOut(Schema):
    id_number: str


@router.post(
    "/{int:prescription_id}/id-number",
    response=PrescriptionIdNumberOut,
    summary="查看患者完整身份证号（每次查看记入审计日志）",
)
def prescription_id_number(request: HttpRequest, prescription_id: int):
    p = selectors.prescription_get(request.auth, prescription_id)
    if not _sees_name(request.auth, p):
        raise PermissionDenied(codes.ID_NUMBER_NOT_ALLOWED, "无权查看完整证件号")
    value = reveal.reveal_id_number(
        actor=request.auth, person=p.patient, subject=p, via=reveal.VIA_API
    )
    return {"id_number": value}


@router.post(
    "/{int:prescription_id}/cancel", response=PrescriptionDetailOut, summary="医师撤销未取药处方"
)
def prescription_cancel(request: HttpRequest, prescription_id: int, payload: PrescriptionReasonIn):
    services.prescription_cancel(
        actor=request.auth, prescription_id=prescription_id, reason=payload.reason
    )
    return _detail(request.auth, prescription_id)


@router.get(
    "/{int:prescription_id}/pharmacies",
    response=list[PharmacyOptionOut],
    summary="可选定点药店及库存（有货 1 / 部分有货 0 / 无货 -1）",
)
def pharmacy_options(request: HttpRequest, prescription_id: int):
    options = services.pharmacy_options(actor=request.auth, prescription_id=prescription_id)
    return [
        {
            "pharmacy_id": o.pharmacy.pk,
            "name": o.pharmacy.name,
            "address": o.pharmacy.address,
            "phone": o.pharmacy.phone,
            "region_code": o.pharmacy.region_id,
            "stock": o.stock,
            "stock_label": StockStatus(o.stock).label,
            "stock_code": STOCK_STATUS_CODES[o.stock],
            "area": o.area.kind,
            "area_label": o.area.label,
            "direct_settlement": o.area.direct,
            "area_note": o.area.rules_note,
        }
        for o in options
    ]


@router.post(
    "/{int:prescription_id}/route",
    response=PrescriptionDetailOut,
    summary="参保人选择药店并同意处方流转",
)
def prescription_route(request: HttpRequest, prescription_id: int, payload: RouteIn):
    services.prescription_route(
        actor=request.auth,
        prescription_id=prescription_id,
        pharmacy_id=payload.pharmacy_id,
        consent=payload.consent,
    )
    return _detail(request.auth, prescription_id)


@router.get(
    "/eligibilities/{int:eligibility_id}/dispensing-results",
    response=DispensingResultsOut,
    summary="用药资格下各处方的取药结果与方案剩余药量（回传医院）",
)
def eligibility_dispensing_results(request: HttpRequest, eligibility_id: int):
    found = selectors.dispensing_results(request.auth, Eligibility(pk=eligibility_id))
    results = []
    for r in found.results:
        row = getattr(r.dispensing, "delivery", None) if r.dispensing else None
        results.append(
            {
                "prescription_id": r.prescription.pk,
                "prescription_no": r.prescription.prescription_no,
                "status": r.prescription.status,
                "status_label": r.prescription.get_status_display(),
                "issued_at": r.prescription.issued_at,
                "plan_quantity": r.plan_quantity,
                "dispensing_id": r.dispensing.pk if r.dispensing else None,
                "pharmacy_name": r.pharmacy_name,
                "dispensed_at": r.dispensed_at,
                "delivery_status": row.status if row else "",
                "delivery_status_label": row.get_status_display() if row else "",
                "batches": [b.__dict__ for b in r.batches],
            }
        )
    return {"plan": plan_payload(found.plan), "results": results}
