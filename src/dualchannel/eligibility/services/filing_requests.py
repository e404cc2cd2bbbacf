"""The patient's own filing request [HB art. 7(1)(3)]: the patient picks the drug and the treating
hospital and uploads what they have; the request is pushed to that hospital's responsible
physicians, one of whom takes it (row lock: only one can) and either completes it into an
application (which then follows the usual path: the one-time complete notice [HB art. 7(2)],
the review clock [HB art. 10], the review) or declines it with a reason the patient reads.

The clock: HB art. 10 gives the hospital its working-day limit (the profile's
``review_deadline_working_days``, 7 in Hubei) counted from the patient's request, so the
request carries that date (``due_on``) for the physicians' queue; no seed sets a separate
limit for the physician's part. The application made from it starts its own review clock
when complete, as every application does (``workflow.enter_review``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from hashlib import sha256

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from dualchannel.catalog.models import Drug, MaterialKind
from dualchannel.catalog.selectors import published_criteria
from dualchannel.core import audit
from dualchannel.core.calendar import add_working_days
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.notifications.models import Channel
from dualchannel.notifications.services import notify
from dualchannel.registry.designations import physician_standing
from dualchannel.registry.models import DesignationStatus, Institution, InsuredPerson, Physician
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.selectors import benefit_status_problem

from .. import error_codes as codes
from .. import selectors
from ..models import (
    FILING_REQUEST_MACHINE,
    LIVE_ELIGIBILITY,
    OPEN_FILING_REQUESTS,
    OPEN_STATUSES,
    Application,
    Eligibility,
    FilingRequestStatus,
    FilingRequestTransition,
    FilingUpload,
    Material,
    MaterialSource,
    PatientFilingRequest,
    VerificationState,
)
from ..workflow import DEFAULT_REVIEW_WORKING_DAYS
from .applications import application_create
from .common import day_or_today
from .materials import checked_material_file

F = FilingRequestStatus
MAX_FILES = 10
MAX_NOTE = 500
MAX_REASON = 500
# What a patient has to hand [HB art. 7(1): 病历资料或检查资料]; the physician may re-file it.
PATIENT_KINDS = tuple(MaterialKind.values)


@dataclass(frozen=True)
class PatientFile:
    """One file as the patient sent it."""

    kind: str
    filename: str
    content: bytes
    content_type: str = ""


@dataclass(frozen=True)
class _CheckedFile:
    kind: str
    title: str
    content: bytes
    mime: str
    extension: str
    checksum: str


# --- the patient submits -----------------------------------------------------------------------


def _bound_person(actor: User) -> InsuredPerson:
    require_role(actor, Role.PATIENT)
    if not actor.insured_person_id:
        raise PermissionDenied(codes.FILING_NOT_BOUND, "请先完成实名绑定")
    return actor.insured_person


def _listed_drug(person: InsuredPerson, drug_id: int) -> Drug:
    """A drug with a dual-channel criteria set in force in the person's region."""
    for drug in selectors.filing_drugs(person):
        if drug.pk == drug_id:
            return drug
    raise DomainError(
        codes.FILING_DRUG_NOT_LISTED,
        "所选药品不在本地双通道单独支付药品范围内",
        fields={"drug_id": ["请从列表中选择药品"]},
    )


def _designated_hospital(person: InsuredPerson, drug: Drug, hospital_id: int) -> Institution:
    """A designated hospital of the person's city with responsible physicians [HB art. 7(3)],
    where the drug has criteria in force."""
    hospital = selectors.filing_hospitals(person).filter(pk=hospital_id).first()
    if hospital is None:
        raise DomainError(
            codes.FILING_HOSPITAL_NOT_DESIGNATED,
            "所选医院不是本地双通道定点医疗机构，或尚无双通道责任医师",
            fields={"hospital_id": ["请从列表中选择医院"]},
        )
    if published_criteria(drug, hospital.region) is None:
        raise DomainError(
            codes.FILING_DRUG_NOT_LISTED,
            f"{drug.generic_name}在{hospital.region.name}尚无发布的认定条件",
            fields={"drug_id": ["该医院所在地尚无此药品的认定条件"]},
        )
    return hospital


def _checked_files(files: list[PatientFile]) -> list[_CheckedFile]:
    """Every file recognised by its content (the materials' own checks); the first refusal wins
    and names the file."""
    if not files:
        raise DomainError(
            codes.FILING_FILES_REQUIRED,
            "请上传至少一份病历资料或检查资料",
            fields={"files": ["必填"]},
        )
    if len(files) > MAX_FILES:
        raise DomainError(
            codes.FILING_TOO_MANY_FILES,
            f"一次最多上传 {MAX_FILES} 份材料",
            fields={"files": ["材料过多"]},
        )
    checked = []
    for item in files:
        if item.kind not in PATIENT_KINDS:
            raise DomainError(
                codes.UNKNOWN_MATERIAL_KIND, "未知的材料类型", fields={"kind": ["未知的材料类型"]}
            )
        mime, extension = checked_material_file(item.content, item.filename, item.content_type)
        title = (item.filename or "").strip().rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200]
        checked.append(
            _CheckedFile(
                kind=item.kind,
                title=title or MaterialKind(item.kind).label,
                content=item.content,
                mime=mime,
                extension=extension,
                checksum=sha256(item.content).hexdigest(),
            )
        )
    return checked


def _clean_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DomainError(
            codes.FILING_NOTE_TOO_LONG,
            f"说明不得超过 {MAX_NOTE} 字",
            fields={"note": ["内容过长"]},
        )
    return note


def _refuse_open(person: InsuredPerson, drug: Drug) -> None:
    """HB art. 8: one right per drug — a second open request, an open application or a live
    eligibility for the same drug is refused."""
    if PatientFilingRequest.objects.filter(
        patient=person, drug=drug, status__in=OPEN_FILING_REQUESTS
    ).exists():
        raise Conflict(codes.FILING_DUPLICATE, f"您已有{drug.generic_name}的在办备案申请")
    if (
        Application.objects.filter(patient=person, drug=drug, status__in=OPEN_STATUSES).exists()
        or Eligibility.objects.filter(
            patient=person, drug=drug, status__in=LIVE_ELIGIBILITY
        ).exists()
    ):
        raise Conflict(codes.FILING_DUPLICATE, f"您已有{drug.generic_name}的在办申请或有效用药资格")


def _moment_of(day: date) -> datetime:
    """Now, on ``day`` (the business day the clock counts from, and recomputes from)."""
    now = timezone.now()
    if day == timezone.localdate(now):
        return now
    return timezone.make_aware(datetime.combine(day, timezone.localtime(now).time()))


def hospital_due_on(hospital: Institution, submitted_on: date) -> date:
    """HB art. 10: the hospital finishes the filing within its working-day limit of the request."""
    profile = profile_of(hospital)
    days = (profile.review_deadline_working_days if profile else None) or (
        DEFAULT_REVIEW_WORKING_DAYS
    )
    return add_working_days(submitted_on, days)


def filing_request_submit(
    *,
    actor: User,
    drug_id: int,
    hospital_id: int,
    files: list[PatientFile],
    note: str = "",
    today: date | None = None,
) -> PatientFilingRequest:
    """The patient's own request [HB art. 7(1)], pushed to the hospital's responsible physicians
    [art. 7(3)]; refused with nothing written on any bad input."""
    today = day_or_today(today)
    person = _bound_person(actor)
    drug = _listed_drug(person, drug_id)
    hospital = _designated_hospital(person, drug, hospital_id)
    checked = _checked_files(files)
    note = _clean_note(note)
    due_on = hospital_due_on(hospital, today)
    with transaction.atomic():
        person = InsuredPerson.objects.select_for_update().get(pk=person.pk)
        problem = benefit_status_problem(person)  # HB art. 2, CX art. 5
        if problem:
            raise DomainError(codes.BENEFITS_NOT_IN_FORCE, problem)
        _refuse_open(person, drug)
        request = PatientFilingRequest.objects.create(
            patient=person,
            drug=drug,
            hospital=hospital,
            note=note,
            submitted_by=actor,
            submitted_at=_moment_of(today),
            due_on=due_on,
        )
        for item in checked:
            upload = FilingUpload(
                request=request,
                kind=item.kind,
                title=item.title,
                mime_type=item.mime,
                size=len(item.content),
                sha256=item.checksum,
            )
            name = f"HS{request.pk:08d}-{item.checksum[:16]}.{item.extension}"
            upload.file.save(name, ContentFile(item.content), save=True)
        FilingRequestTransition.objects.create(
            request=request, from_status="", to_status=F.SUBMITTED, actor=actor
        )
        audit.record(
            actor=actor,
            action="eligibility.filing_request_submitted",
            subject=request,
            after=request,
            patient=person,
            role=actor_role(actor, Role.PATIENT),
            summary={
                "request_id": request.pk,
                "drug_id": drug.pk,
                "hospital_id": hospital.pk,
                "files": len(checked),
                "due_on": due_on.isoformat(),
                "to": F.SUBMITTED,
            },
        )
        _notify(request, "eligibility.filing_request_submitted", actor, due_on=due_on)
        _tell_physicians(request, actor)
    return request


def responsible_physicians(hospital: Institution) -> list[Physician]:
    """The hospital's responsible physicians in good standing with an account [HB art. 7(3)]:
    those a request is pushed to (the designation is the hospital's, for every listed drug)."""
    profile = profile_of(hospital)
    found = (
        Physician.objects.select_related("hospital", "user")
        .filter(
            hospital=hospital,
            user__is_active=True,
            designations__status=DesignationStatus.ACTIVE,
        )
        .distinct()
        .order_by("pk")
    )
    return [p for p in found if physician_standing(p, profile).ok]


def _tell_physicians(request: PatientFilingRequest, actor: User) -> None:
    """Each responsible physician reads it in the staff inbox, linked to the request."""
    context = {
        "drug_name": request.drug.generic_name,
        "hospital_name": request.hospital.name,
        "request_no": request_no(request),
        "due_on": request.due_on,
    }
    for physician in responsible_physicians(request.hospital):
        notify(
            template="eligibility.filing_request_arrived",
            context=context,
            user=physician.user,
            channels=[Channel.IN_APP],
            actor=actor,
        )


def _notify(request: PatientFilingRequest, template: str, actor: User | None, **extra) -> None:
    context = {
        "drug_name": request.drug.generic_name,
        "hospital_name": request.hospital.name,
        "request_no": request_no(request),
        **extra,
    }
    notify(template=template, context=context, person=request.patient, actor=actor)


def request_no(request: PatientFilingRequest) -> str:
    """The number the patient and the physician both read (HS + 8 digits)."""
    return f"HS{request.pk:08d}"


def filing_request_withdraw(*, actor: User, request_id: int) -> PatientFilingRequest:
    """The patient withdraws their own request while the hospital has not completed it."""
    require_role(actor, Role.PATIENT)
    with transaction.atomic():
        request = _lock(actor, request_id)
        if request.patient_id != actor.insured_person_id:
            raise NotFound()  # another person's request: as if it did not exist
        transition(
            request,
            F.WITHDRAWN,
            actor=actor,
            role=Role.PATIENT,
            changes={"decided_at": timezone.now()},
        )
    return request


# --- the hospital's responsible physician --------------------------------------------------------


def _hospital_physician(actor: User, request: PatientFilingRequest) -> Physician:
    """A responsible physician in good standing at the request's hospital [HB art. 7(3)]."""
    require_role(actor, Role.PHYSICIAN)
    physician = Physician.objects.select_related("hospital").filter(user=actor).first()
    if physician is None or physician.hospital_id != request.hospital_id:
        raise NotFound()
    standing = physician_standing(physician, profile_of(physician.hospital))
    if not standing.ok:
        raise PermissionDenied(codes.PHYSICIAN_NOT_DESIGNATED, standing.message)
    return physician


def _lock(actor: User, request_id: int) -> PatientFilingRequest:
    """The request, if in ``actor``'s scope (else NotFound), locked for this transaction."""
    selectors.filing_request_get(actor, request_id)
    # No join under the lock: on PostgreSQL a row re-read after waiting for the lock keeps the
    # joined rows of the first read (a taker seen as None); the relations are read after.
    return PatientFilingRequest.objects.select_for_update(of=("self",)).get(pk=request_id)


def filing_request_take(*, actor: User, request_id: int) -> PatientFilingRequest:
    """One responsible physician takes the request; a second one is refused (row lock)."""
    with transaction.atomic():
        request = _lock(actor, request_id)
        physician = _hospital_physician(actor, request)
        if request.status == F.TAKEN:
            raise Conflict(codes.FILING_TAKEN, f"该申请已由{request.taken_by.name}医师受理")
        transition(
            request,
            F.TAKEN,
            actor=actor,
            role=Role.PHYSICIAN,
            changes={"taken_by": physician, "taken_at": timezone.now()},
            physician_id=physician.pk,
        )
        _notify(request, "eligibility.filing_request_taken", actor, physician_name=physician.name)
    return request


def filing_request_decline(*, actor: User, request_id: int, reason: str) -> PatientFilingRequest:
    """The hospital declines with a reason the patient reads (the taker, or anyone before it is
    taken)."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise DomainError(
            codes.FILING_REASON_REQUIRED,
            f"请填写未受理原因（不超过 {MAX_REASON} 字）",
            fields={"reason": ["必填" if not reason else "内容过长"]},
        )
    with transaction.atomic():
        request = _lock(actor, request_id)
        physician = _hospital_physician(actor, request)
        if request.status == F.TAKEN and request.taken_by_id != physician.pk:
            raise PermissionDenied(
                codes.FILING_NOT_TAKER, f"该申请已由{request.taken_by.name}医师受理"
            )
        transition(
            request,
            F.DECLINED,
            actor=actor,
            reason=reason,
            role=Role.PHYSICIAN,
            changes={"decline_reason": reason, "decided_at": timezone.now()},
        )
        _notify(request, "eligibility.filing_request_declined", actor, reason=reason)
    return request


def filing_request_complete(
    *,
    actor: User,
    request_id: int,
    diagnosis_code: str,
    diagnosis_name: str,
    pharmacy_id: int | None = None,
) -> Application:
    """The taker completes the request into an application: patient and drug from the request,
    the uploads attached as the patient's (unverified) materials. The application then follows
    the usual path: the physician answers, plans and submits; what is still missing is asked
    once [HB art. 7(2)]; the review clock starts when complete [HB art. 10]."""
    found = selectors.filing_request_get(actor, request_id)
    _hospital_physician(actor, found)
    with transaction.atomic():
        # core.locks order: the person (as application_create locks it), then the request
        InsuredPerson.objects.select_for_update().filter(id_number=found.patient.id_number).get()
        request = _lock(actor, request_id)
        physician = _hospital_physician(actor, request)
        FILING_REQUEST_MACHINE.check(request.status, F.COMPLETED)
        if request.taken_by_id != physician.pk:
            raise PermissionDenied(codes.FILING_NOT_TAKER, "请先受理该申请")
        # the request itself is not an open application: the draft checks the rest
        application = application_create(
            actor=actor,
            patient_id_number=request.patient.id_number,
            drug_id=request.drug_id,
            diagnosis_code=diagnosis_code,
            diagnosis_name=diagnosis_name,
            pharmacy_id=pharmacy_id,
        )
        attached = _attach_uploads(actor, request, application)
        transition(
            request,
            F.COMPLETED,
            actor=actor,
            role=Role.PHYSICIAN,
            changes={"application": application, "decided_at": timezone.now()},
            application_no=application.application_no,
            materials=attached,
        )
        _notify(
            request,
            "eligibility.filing_request_completed",
            actor,
            application_no=application.application_no,
        )
    return application


def _attach_uploads(actor: User, request: PatientFilingRequest, application: Application) -> int:
    """Each upload becomes a material of the application, from the patient, unverified."""
    count = 0
    for upload in request.uploads.order_by("pk"):
        with upload.file.open("rb") as handle:
            content = handle.read()
        material = Material(
            application=application,
            kind=upload.kind,
            source=MaterialSource.PATIENT_UPLOAD,
            title=upload.title,
            mime_type=upload.mime_type,
            size=upload.size,
            sha256=upload.sha256,
            received_at=upload.uploaded_at,
            uploaded_by=request.submitted_by,
            verification_state=VerificationState.UNVERIFIED,
        )
        extension = upload.file.name.rsplit(".", 1)[-1]
        material.file.save(
            f"{application.application_no}-{upload.sha256[:16]}.{extension}",
            ContentFile(content),
            save=True,
        )
        audit.record(
            actor=actor,
            action="eligibility.material_uploaded",
            subject=material,
            after=material,
            patient=application.patient,
            role=Role.PHYSICIAN,
            summary={
                "application_no": application.application_no,
                "kind": upload.kind,
                "sha256": upload.sha256,
                "size": upload.size,
                "from_request": request.pk,
            },
        )
        count += 1
    return count
