"""Complaints API: the public submits and looks up (no login); officers list and handle theirs."""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status

from dualchannel.core.auth import api_auth

from . import selectors, services
from .models import Complaint
from .throttle import check_rate

router = Router(tags=["complaints"], auth=api_auth)
public_router = Router(tags=["public"], auth=None)


class ComplaintIn(Schema):
    category: str
    text: str
    contact_phone: str = ""
    contact_email: str = ""
    contact_name: str = ""
    region: str = ""
    institution_id: int | None = None


class ComplaintReceipt(Schema):
    tracking_no: str
    due_on: date
    status: str
    status_label: str


class ComplaintPublicOut(ComplaintReceipt):
    public_reply: str


class ComplaintOut(ComplaintPublicOut):
    id: int
    region: str
    region_name: str
    institution_id: int | None
    category: str
    category_label: str
    text: str
    contact: str
    overdue: bool
    assignee_id: int | None
    result: str


class AcceptIn(Schema):
    assignee_id: int | None = None


class ReplyIn(Schema):
    reply: str


class CloseIn(Schema):
    result: str
    note: str = ""
    reply: str = ""


def _receipt(c: Complaint) -> dict:
    return {
        "tracking_no": c.tracking_no,
        "due_on": c.due_on,
        "status": c.status,
        "status_label": c.get_status_display(),
        "public_reply": c.public_reply,
    }


def _out(c: Complaint) -> dict:
    return {
        **_receipt(c),
        "id": c.pk,
        "region": c.region_id,
        "region_name": c.region.name,
        "institution_id": c.institution_id,
        "category": c.category,
        "category_label": c.get_category_display(),
        "text": c.text,
        "contact": c.masked_contact,  # masked for officers too: they answer through the page
        "overdue": c.is_overdue,
        "assignee_id": c.assignee_id,
        "result": c.result,
    }


@public_router.post("/complaints", response={201: ComplaintReceipt}, summary="提交投诉举报")
def complaint_create(request: HttpRequest, payload: ComplaintIn):
    check_rate(request)
    complaint = services.complaint_submit(
        category=payload.category,
        text=payload.text,
        contact_phone=payload.contact_phone,
        contact_email=payload.contact_email,
        contact_name=payload.contact_name,
        region_code=payload.region,
        institution_id=payload.institution_id,
    )
    return Status(201, _receipt(complaint))


@public_router.get(
    "/complaints/{tracking_no}", response=ComplaintPublicOut, summary="查询投诉举报办理进度"
)
def complaint_track(request: HttpRequest, tracking_no: str, contact: str = ""):
    return _receipt(selectors.complaint_lookup(tracking_no, contact))


@router.get("/", response=list[ComplaintOut], summary="本统筹区投诉举报（按期限）")
def complaints_list(request: HttpRequest, status: str = "", region: str = ""):
    rows = selectors.complaint_queue(request.user, status=status, region=region)
    return [_out(c) for c in rows[:500]]


@router.get("/{complaint_id}", response=ComplaintOut, summary="投诉举报详情")
def complaints_get(request: HttpRequest, complaint_id: int):
    return _out(selectors.complaint_get(request.user, complaint_id))


@router.post("/{complaint_id}/accept", response=ComplaintOut, summary="受理并指定承办人")
def complaints_accept(request: HttpRequest, complaint_id: int, payload: AcceptIn):
    services.complaint_accept(
        actor=request.user, complaint_id=complaint_id, assignee_id=payload.assignee_id
    )
    return _out(selectors.complaint_get(request.user, complaint_id))


@router.post("/{complaint_id}/reply", response=ComplaintOut, summary="答复投诉人")
def complaints_reply(request: HttpRequest, complaint_id: int, payload: ReplyIn):
    services.complaint_reply(actor=request.user, complaint_id=complaint_id, reply=payload.reply)
    return _out(selectors.complaint_get(request.user, complaint_id))


@router.post("/{complaint_id}/close", response=ComplaintOut, summary="办结")
def complaints_close(request: HttpRequest, complaint_id: int, payload: CloseIn):
    services.complaint_close(
        actor=request.user,
        complaint_id=complaint_id,
        result=payload.result,
        note=payload.note,
        reply=payload.reply,
    )
    return _out(selectors.complaint_get(request.user, complaint_id))
