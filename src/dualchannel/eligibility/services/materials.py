"""Writes of an application's evidence (DESIGN §4 Material; HB art. 7(2)): the patient's upload,
the reviewer's scan of a paper report, the reviewer's verification. Files are recognised by
their first bytes; the last requested material starts the review clock [HB art. 10]."""

from __future__ import annotations

from datetime import date
from hashlib import sha256

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from dualchannel.catalog.models import MaterialKind
from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError, PermissionDenied
from dualchannel.core.models import AuditEvent, User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.core.uploads import checked_upload

from .. import error_codes as codes
from .. import selectors
from ..models import Application, ApplicationStatus, Material, MaterialSource, VerificationState
from ..workflow import (
    HisAnswers,
    enter_review,
    his_adapter,
    lock_application,
    notify_patient,
    outstanding_requested,
    pull_his_materials,
    require_reviewer,
    require_status,
)

S = ApplicationStatus
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# The reviewer may verify or add evidence while the case is open at the hospital.
EVIDENCE_OPEN = (S.SUBMITTED, S.MATERIALS_REQUESTED, S.UNDER_REVIEW)


def _known_kind(kind: str) -> MaterialKind:
    if kind not in MaterialKind.values:
        raise DomainError(
            codes.UNKNOWN_MATERIAL_KIND, "未知的材料类型", fields={"kind": ["未知的材料类型"]}
        )
    return MaterialKind(kind)


def checked_material_file(content: bytes, filename: str, content_type: str) -> tuple[str, str]:
    """The file's type and extension, from its content (core.uploads: recognised by its first
    bytes, opened, agreeing with the declared type and name); empty or too large is refused."""
    if not content:
        raise DomainError(codes.EMPTY_FILE, "文件为空", fields={"file": ["文件为空"]})
    if len(content) > MAX_UPLOAD_BYTES:
        raise DomainError(
            codes.FILE_TOO_LARGE, "文件不得超过 10 MB", fields={"file": ["文件不得超过 10 MB"]}
        )
    return checked_upload(
        content, filename=filename, declared_type=content_type, code=codes.BAD_FILE_TYPE
    )


def _basename(filename: str) -> str:
    return (filename or "").strip().rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200]


def _store(material: Material, content: bytes, extension: str) -> None:
    """Attach and save the file; the stored name never carries the uploaded name (it may hold
    personal data)."""
    material.file.save(
        f"{material.application.application_no}-{material.sha256[:16]}.{extension}",
        ContentFile(content),
        save=False,
    )
    material.save()


def _review_if_complete(application: Application, *, actor: User, today: date) -> None:
    """The last requested material completes the case: the review clock starts [HB art. 10]."""
    if application.status == S.MATERIALS_REQUESTED and not outstanding_requested(application):
        enter_review(application, actor=actor, today=today)


def material_upload(
    *,
    actor: User,
    application_id: int,
    kind: str,
    filename: str,
    content: bytes,
    content_type: str = "",
    today: date | None = None,
) -> Material:
    """The patient hands in a requested material; the last one completes the application."""
    today = today or timezone.localdate()
    with transaction.atomic():
        application = lock_application(actor, application_id)
        require_role(actor, Role.PATIENT)
        if not actor.is_superuser and actor.insured_person_id != application.patient_id:
            raise PermissionDenied(codes.NOT_OWN_APPLICATION, "只能为本人的申请上传材料")
        require_status(application, S.MATERIALS_REQUESTED)
        _known_kind(kind)
        if kind not in application.requested_material_kinds:
            raise DomainError(
                codes.MATERIAL_NOT_REQUESTED,
                f"本申请未要求补充「{MaterialKind(kind).label}」",
                fields={"kind": ["未要求补充此类材料"]},
            )
        mime, extension = checked_material_file(content, filename, content_type)
        checksum = sha256(content).hexdigest()
        material = Material(
            application=application,
            kind=kind,
            source=MaterialSource.PATIENT_UPLOAD,
            title=_basename(filename) or MaterialKind(kind).label,
            mime_type=mime,
            size=len(content),
            sha256=checksum,
            uploaded_by=actor,
            verification_state=VerificationState.UNVERIFIED,
        )
        _store(material, content, extension)
        audit.record(
            actor=actor,
            action="eligibility.material_uploaded",
            subject=material,
            after=material,
            patient=application.patient,
            role=actor_role(actor),
            summary={
                "application_no": application.application_no,
                "kind": kind,
                "sha256": checksum,
                "size": len(content),
            },
        )
        _review_if_complete(application, actor=actor, today=today)
    return material


def _require_own_physician(actor: User, application: Application) -> None:
    require_role(actor, Role.PHYSICIAN)
    if not actor.is_superuser and application.physician.user_id != actor.pk:
        raise PermissionDenied(codes.NOT_OWN_APPLICATION, "只能办理本人负责的申请")


def material_his_pull(
    *, actor: User, application_id: int, today: date | None = None
) -> list[Material]:
    """The physician answers a materials request from the hospital system: every requested
    report it now holds is pulled (verified on pull); the last one completes the case
    [HB art. 10]. The hospital system is asked before any row is locked."""
    today = today or timezone.localdate()
    draft = selectors.application_get(actor, application_id)
    _require_own_physician(actor, draft)
    require_status(draft, S.MATERIALS_REQUESTED)
    kinds = tuple(outstanding_requested(draft))
    his = his_adapter(draft)
    found = his.find_patient(draft.patient.id_number)
    reports = list(his.reports(found, kinds=list(kinds))) if found is not None and kinds else []
    answers = HisAnswers(
        his.source_system, draft.patient.id_number, found, (), None, kinds, reports
    )
    with transaction.atomic():
        application = lock_application(actor, application_id)
        require_status(application, S.MATERIALS_REQUESTED)
        if tuple(outstanding_requested(application)) != kinds:
            raise Conflict(codes.HIS_CHANGED, "调取院内资料期间申请信息已变更，请重试")
        pulled = pull_his_materials(application, answers, found, list(kinds))
        if not pulled:
            labels = "、".join(MaterialKind(k).label for k in kinds if k in MaterialKind.values)
            raise DomainError(
                codes.NOTHING_TO_PULL,
                f"院内系统中仍没有所需的材料（{labels}），请告知患者补充",
            )
        audit.record(
            actor=actor,
            action="eligibility.materials_pulled",
            subject=application,
            patient=application.patient,
            role=actor_role(actor, Role.PHYSICIAN),
            summary={
                "application_no": application.application_no,
                "pulled": len(pulled),
                "missing": outstanding_requested(application),
            },
        )
        _review_if_complete(application, actor=actor, today=today)
    return pulled


def scan_kinds(application: Application) -> list[str]:
    """The kinds a reviewer may scan for a case: the set's required kinds, then those requested."""
    required = application.criteria_set.required_material_kinds or []
    return list(dict.fromkeys([*required, *application.requested_material_kinds]))


def _short_text(value: str | None, field: str, max_length: int = 200) -> str:
    value = (value or "").strip()
    if len(value) > max_length:
        raise DomainError(
            codes.TEXT_TOO_LONG, "内容过长", fields={field: [f"不得超过 {max_length} 字"]}
        )
    return value


def material_scan(
    *,
    actor: User,
    application_id: int,
    kind: str,
    content: bytes,
    filename: str,
    title: str,
    issuer: str = "",
    content_type: str = "",
    today: date | None = None,
) -> Material:
    """The hospital's reviewer scans a paper report the patient brought to the counter.

    The reviewer saw the original, so the scan is verified at once; like a patient's upload,
    the last requested material completes the case.
    """
    today = today or timezone.localdate()
    with transaction.atomic():
        application = lock_application(actor, application_id)
        require_reviewer(actor, application)
        require_status(application, *EVIDENCE_OPEN)
        title = _short_text(title, "title")
        issuer = _short_text(issuer, "issuer")
        label = _known_kind(kind).label
        if kind not in scan_kinds(application):
            raise DomainError(
                codes.MATERIAL_NOT_REQUESTED,
                f"本申请不需要「{label}」",
                fields={"kind": ["不是本申请所需或要求补充的材料"]},
            )
        mime, extension = checked_material_file(content, filename, content_type)
        checksum = sha256(content).hexdigest()
        now = timezone.now()
        material = Material(
            application=application,
            kind=kind,
            source=MaterialSource.REVIEWER_SCAN,
            title=title or _basename(filename) or label,
            issuer=issuer,
            mime_type=mime,
            size=len(content),
            sha256=checksum,
            received_at=now,
            uploaded_by=actor,
            verification_state=VerificationState.VERIFIED,
            verified_by=actor,
            verified_at=now,
            verification_note="审核员核对原件后扫描",
        )
        _store(material, content, extension)
        audit.record(
            actor=actor,
            action="eligibility.material_scanned",
            subject=material,
            after=material,
            patient=application.patient,
            role=actor_role(actor),
            summary={
                "application_no": application.application_no,
                "kind": kind,
                "sha256": checksum,
                "size": len(content),
                "verified": True,
            },
        )
        _review_if_complete(application, actor=actor, today=today)
    return material


MATERIAL_OPENED = "eligibility.material_opened"


def material_opened_by(actor: User, material: Material) -> bool:
    """Whether ``actor`` has opened the material's file (an audited reading)."""
    return AuditEvent.objects.filter(
        action=MATERIAL_OPENED,
        subject_type=Material._meta.label,
        subject_id=str(material.pk),
        actor=actor,
    ).exists()


def material_open(*, actor: User, material_id: int) -> Material:
    """The reviewer opens a material to read it: recorded, since 核验通过 needs it read first."""
    found = selectors.material_get(actor, material_id)
    with transaction.atomic():
        application = lock_application(actor, found.application_id)
        require_reviewer(actor, application)
        material = Material.objects.get(pk=found.pk)
        audit.record(
            actor=actor,
            action=MATERIAL_OPENED,
            subject=material,
            patient=application.patient,
            role=actor_role(actor, Role.REVIEWER),
            summary={"application_no": application.application_no, "kind": material.kind},
        )
    return material


def material_verify(*, actor: User, material_id: int, verified: bool, note: str = "") -> Material:
    """The reviewer accepts or refuses a material (a refusal says why); accepting it needs it
    opened first (``material_open``): nobody vouches for a file they have not read."""
    found = selectors.material_get(actor, material_id)
    note = (note or "").strip()
    if not verified and not note:
        raise DomainError(codes.NOTE_REQUIRED, "不予采信时请说明原因", fields={"note": ["必填"]})
    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=found.application_id)
        require_reviewer(actor, application)
        require_status(application, *EVIDENCE_OPEN)
        material = Material.objects.select_for_update().get(pk=found.pk)
        if material.verification_state != VerificationState.UNVERIFIED:
            raise Conflict(codes.MATERIAL_ALREADY_CHECKED, "该材料已核验")
        if verified and not material_opened_by(actor, material):
            raise Conflict(codes.MATERIAL_NOT_OPENED, "请先打开并查看该材料，再核验通过")
        before = snapshot(material)
        material.verification_state = (
            VerificationState.VERIFIED if verified else VerificationState.REJECTED
        )
        material.verified_by = actor
        material.verified_at = timezone.now()
        material.verification_note = note[:2000]
        material.save()
        audit.record(
            actor=actor,
            action=f"eligibility.material_{material.verification_state}",
            subject=material,
            before=before,
            after=material,
            patient=application.patient,
            role=actor_role(actor),
            summary={"application_no": application.application_no, "kind": material.kind},
        )
        if not verified:
            # The patient must know a report was refused, and why, to bring another.
            notify_patient(
                application,
                "eligibility.material_refused",
                actor,
                material_kind=MaterialKind(material.kind).label,
                note=material.verification_note,
            )
    return material
