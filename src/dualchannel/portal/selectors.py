"""Reads for the patient's own pages and API, masked for display on a phone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.urls import reverse
from django.utils import timezone

from dualchannel.catalog.models import MaterialKind
from dualchannel.core.calendar import UnknownCalendarYear, working_days_between
from dualchannel.core.masking import mask_id_number, mask_name, mask_phone
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.eligibility.models import (
    Application,
    ApplicationStatus,
    Eligibility,
    EligibilityStatus,
    FilingRequestStatus,
    PatientFilingRequest,
    VerificationState,
)
from dualchannel.eligibility.selectors import (
    application_get,
    current_plan,
    visible_filing_requests,
)
from dualchannel.eligibility.services.filing_requests import request_no
from dualchannel.eligibility.workflow import present_kinds
from dualchannel.notifications.models import Notification
from dualchannel.prescriptions.models import OnlineOrder, Prescription


@dataclass(frozen=True)
class PortalProfile:
    bound: bool
    name: str | None  # 张*
    id_number: str | None  # 420102********1234
    phone: str | None  # 139****0001 (the phone on record in the registry)


def portal_profile(actor: User) -> PortalProfile:
    """The caller's bound insured person, masked; an unbound patient gets ``bound=False``."""
    require_role(actor, Role.PATIENT)
    person = actor.insured_person if actor.insured_person_id else None
    if person is None:
        return PortalProfile(bound=False, name=None, id_number=None, phone=None)
    return PortalProfile(
        bound=True,
        name=mask_name(person.name),
        id_number=mask_id_number(person.id_number),
        phone=mask_phone(person.phone) or None,
    )


# --- the patient's applications -------------------------------------------------------------

NEXT_STEPS = {
    ApplicationStatus.DRAFT: "责任医师正在填写申请",
    ApplicationStatus.SUBMITTED: "已提交，医院医保办正在调取检查报告",
    ApplicationStatus.MATERIALS_REQUESTED: "请上传缺少的材料",
    ApplicationStatus.UNDER_REVIEW: "医院医保办审核中",
    # No prescription is promised: the physician may or may not have written one yet.
    ApplicationStatus.APPROVED: "用药资格已生效",
    ApplicationStatus.REJECTED: "未通过",
    ApplicationStatus.WITHDRAWN: "已撤回",
}


def _working_days_left(due: date) -> int | None:
    """Working days from today to ``due`` (negative once overdue); None if a year is unloaded."""
    try:
        return working_days_between(timezone.localdate(), due)
    except UnknownCalendarYear:
        # Say so rather than guess from weekends; the agency loads the year's holidays.
        return None


# The status badge's colour: done well (success), waiting on the patient, or ended.
STATUS_BADGES = {
    ApplicationStatus.APPROVED: "badge-ok",
    ApplicationStatus.MATERIALS_REQUESTED: "badge-warn",
    ApplicationStatus.REJECTED: "badge-bad",
    ApplicationStatus.WITHDRAWN: "badge-bad",
}
ELIGIBILITY_BADGES = {
    EligibilityStatus.ACTIVE: "badge-ok",
    EligibilityStatus.IN_REEVALUATION: "badge-ok",
    EligibilityStatus.SUSPENDED: "badge-warn",
}
# After approval, what the patient does next, by the eligibility's status [HB art. 8–9, 12].
ELIGIBILITY_STEPS = {
    EligibilityStatus.IN_REEVALUATION: "复查评估中，期间待遇继续；请配合责任医师完成复评",
    EligibilityStatus.SUSPENDED: "用药资格已暂停，请预约责任医师完成复查评估后恢复",
    EligibilityStatus.STOPPED: "用药资格已终止，如需继续用药请由责任医师重新申请",
    EligibilityStatus.REVOKED: "用药资格已取消，如有疑问请咨询参保地医保经办机构",
}


@dataclass(frozen=True)
class EligibilityFacts:
    status: str  # in words
    badge: str
    effective_from: date
    valid_until: date | None  # benefits run until the re-evaluation is due [HB art. 9]
    plan_end: date | None  # the treatment plan's last day
    prescription_id: int | None  # the newest prescription written under it, if any


def _eligibility_facts(application: Application) -> EligibilityFacts | None:
    eligibility = Eligibility.objects.filter(application=application).first()
    if eligibility is None:
        return None
    newest = (
        Prescription.objects.filter(eligibility=eligibility)
        .order_by("-issued_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return EligibilityFacts(
        status=eligibility.get_status_display(),
        badge=ELIGIBILITY_BADGES.get(eligibility.status, "badge-bad"),
        effective_from=eligibility.effective_from,
        valid_until=eligibility.next_reevaluation_due,
        plan_end=current_plan(eligibility)["period_end"],
        prescription_id=newest,
    )


def _approved_step(application: Application, facts: EligibilityFacts | None) -> str:
    if facts is None:
        return NEXT_STEPS[ApplicationStatus.APPROVED]
    eligibility = application.eligibility
    if eligibility.status in ELIGIBILITY_STEPS:
        return ELIGIBILITY_STEPS[eligibility.status]
    if facts.prescription_id is None:
        return (
            f"请到{application.hospital.name}就诊，由责任医师开具处方；"
            "处方开具后会通知您，再在“我的处方”中选择药店"
        )
    return "处方已开具，请在“我的处方”中查看、选择药店并按时取药"


def progress_of(application: Application) -> dict:
    """What the patient needs to see: status, the working-day clock and the next step."""
    days_left = None
    calendar_missing = False
    if application.status == ApplicationStatus.UNDER_REVIEW and application.review_due:
        days_left = _working_days_left(application.review_due)
        calendar_missing = days_left is None
    next_step = NEXT_STEPS[application.status]
    if application.status == ApplicationStatus.REJECTED and application.decision_reason:
        next_step = f"未通过：{application.decision_reason}"
    eligibility = None
    if application.status == ApplicationStatus.APPROVED:
        eligibility = _eligibility_facts(application)
        next_step = _approved_step(application, eligibility)
    return {
        "id": application.pk,
        "application_no": application.application_no,
        "drug_name": application.drug.generic_name,
        "status": application.get_status_display(),
        "badge": STATUS_BADGES.get(application.status, ""),
        "eligibility": eligibility,
        "review_due": application.review_due,
        "days_left": days_left,
        "calendar_missing": calendar_missing,
        "next_step": next_step,
    }


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    status: str  # the Chinese label of the status entered; who moved it is staff business


@dataclass(frozen=True)
class RequestedKind:
    kind: str
    label: str
    received: bool  # a (not refused) material of this kind arrived since the request


@dataclass(frozen=True)
class MaterialLine:
    kind_label: str
    title: str
    source: str
    received_at: datetime
    state: str
    state_label: str
    note: str  # why a material was refused, for the patient to act on


@dataclass(frozen=True)
class PatientApplication:
    progress: dict
    applicant_name: str  # 张*
    applicant_id_number: str  # 420102********1234
    diagnosis_name: str
    hospital_name: str
    physician_name: str
    pharmacy_name: str
    timeline: list[TimelineEntry]
    awaiting_materials: bool
    requested: list[RequestedKind]  # the one complete list [HB art. 7(2)]
    materials_note: str
    materials_deadline: date | None
    materials_days_left: int | None
    materials: list[MaterialLine]


def patient_application(actor: User, application_id: int) -> PatientApplication:
    """One of the caller's own applications as the patient sees it; anyone else's is NotFound."""
    require_role(actor, Role.PATIENT)
    application = application_get(actor, application_id)
    labels = dict(ApplicationStatus.choices)
    awaiting = application.status == ApplicationStatus.MATERIALS_REQUESTED
    requested: list[RequestedKind] = []
    if awaiting:
        have = present_kinds(application, since=application.materials_requested_at)
        requested = [
            RequestedKind(kind, MaterialKind(kind).label, kind in have)
            for kind in application.requested_material_kinds
            if kind in MaterialKind.values
        ]
    deadline = application.materials_deadline if awaiting else None
    return PatientApplication(
        progress=progress_of(application),
        applicant_name=mask_name(application.patient.name),
        applicant_id_number=mask_id_number(application.patient.id_number),
        diagnosis_name=application.diagnosis_name,
        hospital_name=application.hospital.name,
        physician_name=application.physician.name,
        pharmacy_name=application.pharmacy.name if application.pharmacy_id else "",
        timeline=[
            TimelineEntry(h.at, labels.get(h.to_status, h.to_status))
            for h in application.history.order_by("at", "pk")
        ],
        awaiting_materials=awaiting,
        requested=requested,
        materials_note=application.materials_note if awaiting else "",
        materials_deadline=deadline,
        materials_days_left=_working_days_left(deadline) if deadline else None,
        materials=[
            MaterialLine(
                kind_label=m.get_kind_display(),
                title=m.title,
                source=m.get_source_display(),
                received_at=m.received_at,
                state=m.verification_state,
                state_label=m.get_verification_state_display(),
                note=(
                    m.verification_note
                    if m.verification_state == VerificationState.REJECTED
                    else ""
                ),
            )
            for m in application.materials.order_by("received_at", "pk")
        ],
    )


def message_link(notification: Notification, person_id: int | None) -> tuple[str, str]:
    """The page a message is about, found by the numbers it names — only the patient's own."""
    values = notification.context or {}
    code = notification.template_code
    if values.get("order_no"):
        found = OnlineOrder.objects.filter(
            order_no=values["order_no"], prescription__patient_id=person_id
        ).values_list("pk", flat=True)
        if found.first() is not None:
            return reverse("portal-order", args=[found.first()]), "查看订单"
    if values.get("prescription_no"):
        found = Prescription.objects.filter(
            prescription_no=values["prescription_no"], patient_id=person_id
        ).values_list("pk", flat=True)
        if found.first() is not None:
            return reverse("portal-prescription", args=[found.first()]), "查看处方"
    if values.get("application_no"):
        found = Application.objects.filter(
            application_no=values["application_no"], patient_id=person_id
        ).values_list("pk", flat=True)
        if found.first() is not None:
            return reverse("portal-application", args=[found.first()]), "查看申请"
    if values.get("request_no", "").startswith("HS") and values["request_no"][2:].isdigit():
        found = PatientFilingRequest.objects.filter(
            pk=int(values["request_no"][2:]), patient_id=person_id
        ).values_list("pk", flat=True)
        if found.first() is not None:
            return reverse("portal-filing-request", args=[found.first()]), "查看备案申请"
    if code.startswith("eligibility."):
        return reverse("portal-home"), "查看用药资格"
    if code.startswith("prescriptions."):
        return reverse("portal-prescriptions"), "查看我的处方"
    return "", ""


def patient_message_path(notification: Notification) -> str:
    """The portal page a patient's message deep-links to (its page, else 我的消息); "" for a
    message to staff (their inbox is the platform's)."""
    recipient = notification.recipient
    person_id = notification.person_id or (recipient.insured_person_id if recipient else None)
    if person_id is None:
        return ""
    return message_link(notification, person_id)[0] or reverse("portal-messages")


FILING_NEXT_STEPS = {
    FilingRequestStatus.SUBMITTED: "等待医院双通道责任医师受理",
    FilingRequestStatus.TAKEN: "责任医师正在办理，将为您建立用药资格申请",
    FilingRequestStatus.COMPLETED: "已建立用药资格申请，请在申请详情中查看审核进度",
    FilingRequestStatus.DECLINED: "医院未受理，可按原因补充后重新申请或选择其他医院",
    FilingRequestStatus.WITHDRAWN: "已撤回",
}


def patient_filing_rows(user: User) -> list[dict]:
    """The patient's requests still at the hospital or declined (a completed one is followed
    as its application)."""
    qs = visible_filing_requests(user).exclude(status=FilingRequestStatus.COMPLETED)
    return [
        {
            "id": r.pk,
            "number": request_no(r),
            "drug_name": r.drug.generic_name,
            "hospital_name": r.hospital.name,
            "status": r.get_status_display(),
            "next_step": FILING_NEXT_STEPS[r.status],
        }
        for r in qs.order_by("-submitted_at", "-pk")[:20]
    ]
