"""Complaints (投诉举报): the public submits, officers of the region accept, reply and close.

[HB art. 26, SD §4, CX art. 30]. Each action is one transaction with its history row and audit
event (``COMPLAINT_MACHINE``); the submission is the public's, recorded without an actor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.calendar import add_working_days
from dualchannel.core.errors import DomainError, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.core.uploads import checked_upload
from dualchannel.registry.models import Institution, InstitutionKind, Region
from dualchannel.registry.profiles import profile_or_none
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from .models import (
    DEFAULT_REPLY_WORKING_DAYS,
    Complaint,
    ComplaintAttachment,
    ComplaintCategory,
    ComplaintResult,
    ComplaintSerial,
    ComplaintStatus,
)
from .selectors import complaint_get

PHONE = re.compile(r"^(1\d{10}|0\d{2,3}-?\d{7,8})$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}$")
TEXT_MAX = 2000
ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    content: bytes
    filename: str = ""
    content_type: str = ""


def reply_working_days(region: Region) -> int:
    """The region's time limit for answering (its profile), else the documented default."""
    profile = profile_or_none(region)
    days = profile.complaint_reply_working_days if profile is not None else None
    return days if days is not None else DEFAULT_REPLY_WORKING_DAYS


def _contact(phone: str, email: str) -> tuple[str, str]:
    phone, email = (phone or "").strip().replace(" ", ""), (email or "").strip()
    if not phone and not email:
        raise DomainError(
            codes.CONTACT_REQUIRED,
            "请至少留下联系电话或电子邮箱之一，以便答复（可匿名，不必留姓名）",
            fields={"contact_phone": ["请填写联系电话或电子邮箱"]},
        )
    if phone and not PHONE.match(phone):
        raise field_error("contact_phone", codes.INVALID_CONTACT, "联系电话格式不正确")
    if email and not EMAIL.match(email):
        raise field_error("contact_email", codes.INVALID_CONTACT, "电子邮箱格式不正确")
    return phone, email


def _where(region_code: str, institution_id: int | None) -> tuple[Region, Institution | None]:
    """The institution's region when one is named, else the region chosen."""
    if institution_id:
        institution = (
            Institution.objects.select_related("region")
            .filter(
                pk=institution_id,
                kind__in=[InstitutionKind.HOSPITAL, InstitutionKind.PHARMACY],
            )
            .first()
        )
        if institution is None:
            raise field_error("institution", codes.INVALID_COMPLAINT, "被投诉机构不存在")
        return institution.region, institution
    region = Region.objects.filter(code=(region_code or "").strip()).first()
    if region is None:
        raise field_error("region", codes.INVALID_COMPLAINT, "请选择受理的统筹区（地市或县区）")
    return region, None


def _checked(category: str, text: str, attachment: Upload | None) -> tuple[str, str]:
    if category not in ComplaintCategory.values:
        raise field_error("category", codes.INVALID_COMPLAINT, "请选择投诉举报类别")
    text = (text or "").strip()
    if not text:
        raise field_error("text", codes.INVALID_COMPLAINT, "请填写投诉举报内容")
    if len(text) > TEXT_MAX:
        raise field_error("text", codes.INVALID_COMPLAINT, f"内容不超过 {TEXT_MAX} 字")
    if attachment is not None and len(attachment.content) > ATTACHMENT_MAX_BYTES:
        raise field_error("attachment", codes.INVALID_ATTACHMENT, "附件不超过 5 MB")
    return category, text


def next_tracking_no() -> str:
    """TS + date + a 4-digit serial of the day, under the day's row lock (caller's transaction)."""
    today = timezone.localdate()
    ComplaintSerial.objects.get_or_create(day=today)
    serial = ComplaintSerial.objects.select_for_update().get(day=today)
    serial.last += 1
    serial.save(update_fields=["last"])
    return f"TS{today:%Y%m%d}{serial.last:04d}"


def complaint_submit(
    *,
    category: str,
    text: str,
    contact_phone: str = "",
    contact_email: str = "",
    contact_name: str = "",
    region_code: str = "",
    institution_id: int | None = None,
    attachment: Upload | None = None,
) -> Complaint:
    """Register a complaint from the public; refused (nothing written) without a contact."""
    phone, email = _contact(contact_phone, contact_email)
    category, text = _checked(category, text, attachment)
    region, institution = _where(region_code, institution_id)
    kind = None
    if attachment is not None:
        kind = checked_upload(
            attachment.content,
            filename=attachment.filename,
            declared_type=attachment.content_type,
            code=codes.INVALID_ATTACHMENT,
            field="attachment",
        )
    with transaction.atomic():
        complaint = Complaint.objects.create(
            tracking_no=next_tracking_no(),
            region=region,
            institution=institution,
            category=category,
            text=text,
            contact_name=(contact_name or "").strip()[:50],
            contact_phone=phone,
            contact_email=email,
            due_on=add_working_days(timezone.localdate(), reply_working_days(region)),
        )
        if kind is not None:
            ComplaintAttachment.objects.create(
                complaint=complaint,
                content=attachment.content,
                content_type=kind[0],
                extension=kind[1],
            )
        audit.record(
            actor=None,
            action="complaints.complaint_received",
            subject=complaint,
            after=complaint,
            summary={
                "tracking_no": complaint.tracking_no,
                "region": region.code,
                "institution": institution.pk if institution else None,
                "category": category,
                "due_on": complaint.due_on.isoformat(),
            },
        )
    return complaint


def _locked(actor: User, complaint_id: int) -> Complaint:
    require_role(actor, Role.AGENCY_OFFICER)
    complaint_get(actor, complaint_id)  # scope: 404 outside the officer's region
    return Complaint.objects.select_for_update().get(pk=complaint_id)


def _assignee(actor: User, complaint: Complaint, assignee_id: int | None) -> User:
    if not assignee_id or assignee_id == actor.pk:
        return actor
    assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
    region = officer_region(assignee) if assignee is not None else None
    if region is None or not complaint.region.code.startswith(region.code_prefix):
        raise field_error("assignee", codes.INVALID_COMPLAINT, "承办人须为该统筹区的经办人员")
    return assignee


def complaint_accept(
    *, actor: User, complaint_id: int, assignee_id: int | None = None
) -> Complaint:
    """An officer accepts the complaint and assigns it (to themselves by default)."""
    with transaction.atomic():
        complaint = _locked(actor, complaint_id)
        assignee = _assignee(actor, complaint, assignee_id)
        transition(
            complaint,
            ComplaintStatus.ACCEPTED,
            actor=actor,
            changes={"assignee": assignee},
            assignee=assignee.pk,
        )
    return complaint


def complaint_reply(*, actor: User, complaint_id: int, reply: str) -> Complaint:
    """The officer's public reply, shown to the complainant on the lookup page."""
    reply = (reply or "").strip()
    if not reply:
        raise field_error("reply", codes.REPLY_REQUIRED, "请填写答复内容")
    with transaction.atomic():
        complaint = _locked(actor, complaint_id)
        transition(complaint, ComplaintStatus.REPLIED, actor=actor, changes={"public_reply": reply})
    return complaint


def complaint_close(
    *, actor: User, complaint_id: int, result: str, note: str = "", reply: str = ""
) -> Complaint:
    """Close with a result; closing an unanswered complaint needs the public reply with it."""
    if result not in ComplaintResult.values:
        raise field_error("result", codes.INVALID_COMPLAINT, "请选择办理结果")
    with transaction.atomic():
        complaint = _locked(actor, complaint_id)
        changes: dict = {"result": result, "result_note": (note or "").strip()}
        reply = (reply or "").strip()
        if reply:
            changes["public_reply"] = reply
        elif not complaint.public_reply:
            raise field_error("reply", codes.REPLY_REQUIRED, "办结前须填写给投诉人的答复")
        transition(
            complaint,
            ComplaintStatus.CLOSED,
            actor=actor,
            reason=changes["result_note"],
            changes=changes,
            result=result,
        )
    return complaint
