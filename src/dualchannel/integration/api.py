"""Filings to the agency: list by subject, detail with history, manual retry; an insured person
fetched from the national platform (1101)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from dualchannel.core.auth import api_auth
from dualchannel.core.errors import PermissionDenied
from dualchannel.core.masking import mask_id_number, mask_name, mask_phone

from . import selectors
from .models import PlatformFiling
from .services.filing import can_send, filing_retry, may_retry
from .services.person import insured_person_fetch

router = Router(tags=["integration"])


class FilingTransitionOut(Schema):
    from_status: str
    to_status: str
    reason: str
    at: datetime


class FilingOut(Schema):
    id: int
    kind: str
    kind_label: str
    subject_type: str
    subject_id: str
    person_id: int
    institution_id: int
    institution_name: str
    target_id: int | None
    status: str
    status_label: str
    trt_dcla_detl_sn: str
    attempts: int
    last_error: str
    last_infcode: str
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None


class FilingDetail(FilingOut):
    input: dict
    history: list[FilingTransitionOut]
    can_retry: bool


def _masked_input(values: dict) -> dict:
    shown = dict(values)
    if shown.get("tel"):
        shown["tel"] = mask_phone(shown["tel"])
    if shown.get("addr"):
        shown["addr"] = "***"
    return shown


def _out(f: PlatformFiling) -> dict:
    return {
        "id": f.pk,
        "kind": f.kind,
        "kind_label": f.get_kind_display(),
        "subject_type": f.subject_type,
        "subject_id": f.subject_id,
        "person_id": f.person_id,
        "institution_id": f.institution_id,
        "institution_name": f.institution.name,
        "target_id": f.target_id,
        "status": f.status,
        "status_label": f.get_status_display(),
        "trt_dcla_detl_sn": f.trt_dcla_detl_sn,
        "attempts": f.attempts,
        "last_error": f.last_error,
        "last_infcode": f.last_infcode,
        "created_at": f.created_at,
        "updated_at": f.updated_at,
        "accepted_at": f.accepted_at,
    }


def _detail(f: PlatformFiling, user) -> dict:
    return {
        **_out(f),
        "input": _masked_input(f.input),
        "history": [
            {"from_status": h.from_status, "to_status": h.to_status, "reason": h.reason, "at": h.at}
            for h in f.history.all()
        ],
        "can_retry": may_retry(f) and can_send(user, f.institution),
    }


@router.get("/filings", response=list[FilingOut], auth=api_auth, summary="医保平台备案列表")
def filings_list(request: HttpRequest, subject_type: str = "", subject_id: str = ""):
    rows = selectors.filing_list(request.user, subject_type=subject_type, subject_id=subject_id)
    return [_out(f) for f in rows[:500]]


@router.get(
    "/filings/{filing_id}", response=FilingDetail, auth=api_auth, summary="备案详情（含状态历史）"
)
def filings_detail(request: HttpRequest, filing_id: int):
    return _detail(selectors.filing_get(request.user, filing_id), request.user)


@router.post(
    "/filings/{filing_id}/retry", response=FilingDetail, auth=api_auth, summary="重新发送备案"
)
def filings_retry(request: HttpRequest, filing_id: int):
    filing = selectors.filing_get(request.user, filing_id)
    if request.user is None or not can_send(request.user, filing.institution):
        raise PermissionDenied()
    filing = filing_retry(filing, actor=request.user)
    return _detail(selectors.filing_get(request.user, filing.pk), request.user)


# --- an insured person from the national platform [national 1101] ------------------------------


class PersonFetchIn(Schema):
    id_number: str
    name: str


class PersonFetchOut(Schema):
    """The person as registered from the platform's answer; name and ID number masked."""

    id: int
    created: bool
    name: str
    id_number: str
    person_no: str
    insurance_type: str
    insurance_type_label: str
    enrolment_region: str
    benefit_status: str
    benefit_status_label: str


@router.post(
    "/persons/fetch",
    response=PersonFetchOut,
    auth=api_auth,
    summary="从医保平台查询参保人（1101）并登记",
)
def persons_fetch(request: HttpRequest, payload: PersonFetchIn):
    fetched = insured_person_fetch(
        actor=request.user, id_number=payload.id_number, name=payload.name
    )
    person = fetched.person
    return {
        "id": person.pk,
        "created": fetched.created,
        "name": mask_name(person.name),
        "id_number": mask_id_number(person.id_number),
        "person_no": person.person_no,
        "insurance_type": person.insurance_type,
        "insurance_type_label": person.get_insurance_type_display(),
        "enrolment_region": person.enrolment_region_id,
        "benefit_status": person.benefit_status,
        "benefit_status_label": person.get_benefit_status_display(),
    }
