"""JSON API of eligibilities and their re-evaluations [HB art. 8–9] (mounted beside ``api.py`` at
/api/v1/eligibility). Reads are scoped by ``selectors``; the services check roles."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.responses import Status

from dualchannel.core.auth import api_auth
from dualchannel.core.masking import mask_id_number, mask_name

from . import selectors
from .api import sees_full_id
from .models import Eligibility, Reevaluation
from .services import reevaluation as services

router = Router(tags=["eligibility"])


class CompleteIn(Schema):
    result: str
    assessment: str
    evaluation_cycle_days: int | None = None
    dose: str = ""
    frequency: str = ""
    route: str = ""
    total_quantity: Decimal | None = None
    quantity_unit: str = ""
    period_start: date | None = None
    period_end: date | None = None
    stop_reason: str = ""


class EligibilityQuery(Schema):
    status: str | None = None
    drug_id: int | None = None


class ReevaluationOut(Schema):
    id: int
    eligibility_id: int
    due_date: date
    window_opens: date | None
    late: bool
    started_at: datetime
    physician_name: str
    result: str
    result_label: str
    assessment: str
    dose: str
    frequency: str
    route: str
    total_quantity: Decimal | None
    quantity_unit: str
    period_start: date | None
    period_end: date | None
    evaluation_cycle_days: int | None
    stop_reason: str
    next_due: date | None
    form_id: int | None
    cancel_filing_id: int | None
    filing_note: str
    completed_at: datetime | None
    completed_on: date | None


class EligibilityHistoryOut(Schema):
    from_status: str
    to_status: str
    reason: str
    at: datetime


class EligibilityOut(Schema):
    id: int
    application_id: int
    application_no: str
    status: str
    status_label: str
    benefits_active: bool
    patient_name: str
    patient_id_number: str
    drug_id: int
    drug_name: str
    hospital_id: int
    hospital_name: str
    physician_name: str
    pharmacy_name: str
    effective_from: date
    next_reevaluation_due: date | None
    plan_total_quantity: Decimal
    plan_used_quantity: Decimal
    filing_id: int | None
    filing_note: str


class EligibilityDetailOut(EligibilityOut):
    plan: dict
    reevaluations: list[ReevaluationOut]
    history: list[EligibilityHistoryOut]


def _eligibility(actor, eligibility: Eligibility) -> dict:
    full = sees_full_id(actor, eligibility)
    person = eligibility.patient
    return {
        "id": eligibility.pk,
        "application_id": eligibility.application_id,
        "application_no": eligibility.application.application_no,
        "status": eligibility.status,
        "status_label": eligibility.get_status_display(),
        "benefits_active": selectors.eligibility_benefits_active(eligibility),
        "patient_name": person.name if full else mask_name(person.name),
        "patient_id_number": mask_id_number(person.id_number),  # full: the application's
        "drug_id": eligibility.drug_id,
        "drug_name": eligibility.drug.generic_name,
        "hospital_id": eligibility.hospital_id,
        "hospital_name": eligibility.hospital.name,
        "physician_name": eligibility.physician.name,
        "pharmacy_name": eligibility.pharmacy.name if eligibility.pharmacy else "",
        "effective_from": eligibility.effective_from,
        "next_reevaluation_due": eligibility.next_reevaluation_due,
        "plan_total_quantity": eligibility.plan_total_quantity,
        "plan_used_quantity": eligibility.plan_used_quantity,
        "filing_id": eligibility.filing_id,
        "filing_note": eligibility.filing_note,
    }


def _reevaluation(r: Reevaluation) -> dict:
    return {
        "id": r.pk,
        "eligibility_id": r.eligibility_id,
        "due_date": r.due_date,
        "window_opens": r.window_opens,
        "late": r.late,
        "started_at": r.started_at,
        "physician_name": r.physician.name,
        "result": r.result,
        "result_label": r.get_result_display() if r.result else "",
        "assessment": r.assessment,
        "dose": r.dose,
        "frequency": r.frequency,
        "route": r.route,
        "total_quantity": r.total_quantity,
        "quantity_unit": r.quantity_unit,
        "period_start": r.period_start,
        "period_end": r.period_end,
        "evaluation_cycle_days": r.evaluation_cycle_days,
        "stop_reason": r.stop_reason,
        "next_due": r.next_due,
        "form_id": r.form_id,
        "cancel_filing_id": r.cancel_filing_id,
        "filing_note": r.filing_note,
        "completed_at": r.completed_at,
        "completed_on": r.completed_on,
    }


def _detail(request: HttpRequest, eligibility_id: int) -> dict:
    eligibility = selectors.eligibility_get(request.auth, eligibility_id)
    plan = selectors.current_plan(eligibility)
    return {
        **_eligibility(request.auth, eligibility),
        "plan": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in plan.items()},
        "reevaluations": [
            _reevaluation(r)
            for r in eligibility.reevaluations.select_related("physician").order_by(
                "-started_at", "-id"
            )
        ],
        "history": [
            {"from_status": h.from_status, "to_status": h.to_status, "reason": h.reason, "at": h.at}
            for h in eligibility.history.order_by("pk")
        ],
    }


@router.get("/eligibilities", response=list[EligibilityOut], auth=api_auth, summary="用药资格列表")
def eligibility_list(request: HttpRequest, query: Query[EligibilityQuery]):
    qs = selectors.eligibility_list(request.auth, status=query.status, drug_id=query.drug_id)
    return [_eligibility(request.auth, e) for e in qs[:500]]


@router.get(
    "/eligibilities/{int:eligibility_id}",
    response=EligibilityDetailOut,
    auth=api_auth,
    summary="用药资格详情（含复查评估与状态变更）",
)
def eligibility_detail(request: HttpRequest, eligibility_id: int):
    return _detail(request, eligibility_id)


@router.post(
    "/eligibilities/{int:eligibility_id}/reevaluations",
    response={201: ReevaluationOut},
    auth=api_auth,
    summary="责任医师开始复查评估",
)
def reevaluation_start(request: HttpRequest, eligibility_id: int):
    reevaluation = services.reevaluation_start(actor=request.auth, eligibility_id=eligibility_id)
    return Status(201, _reevaluation(reevaluation))


@router.post(
    "/reevaluations/{int:reevaluation_id}/complete",
    response=ReevaluationOut,
    auth=api_auth,
    summary="完成复查评估（签署复查评估表）",
)
def reevaluation_complete(request: HttpRequest, reevaluation_id: int, payload: CompleteIn):
    reevaluation = services.reevaluation_complete(
        actor=request.auth, reevaluation_id=reevaluation_id, **payload.dict()
    )
    return _reevaluation(reevaluation)
