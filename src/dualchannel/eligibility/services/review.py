"""The reviewer's decision on an application (DESIGN §5.1, HB art. 7(2), 10–11): a request for
materials, approval (the eligibility and its filing), rejection; and the withdrawal. One
transaction and one audit event per change, the application row locked, status moved only by
``core.statemachine.transition``."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from dualchannel.catalog.models import MaterialKind
from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.integration.nhsa.envelope import platform_connected
from dualchannel.integration.services.filing import filing_submit
from dualchannel.registry.selectors import benefit_status_problem

from .. import error_codes as codes
from ..models import (
    APPLICATION_MACHINE,
    Application,
    ApplicationStatus,
    Eligibility,
    EligibilityStatus,
    EligibilityTransition,
    MaterialSource,
    VerificationState,
)
from ..surveillance import application_follow
from ..workflow import (
    lock_application,
    notify_patient,
    request_materials,
    require_reviewer,
)
from .common import day_or_today, required_text

S = ApplicationStatus


# --- the reviewer's decision -----------------------------------------------------------------


def application_request_materials(
    *, actor: User, application_id: int, kinds: list[str], note: str, today: date | None = None
) -> Application:
    """The reviewer names every material still needed, in one notice [HB art. 7(2)]."""
    today = day_or_today(today)
    kinds = list(dict.fromkeys(kinds or []))
    if not kinds:
        raise DomainError(codes.KINDS_REQUIRED, "请选择需补充的材料", fields={"kinds": ["必填"]})
    unknown = [k for k in kinds if k not in MaterialKind.values]
    if unknown:
        raise DomainError(
            codes.UNKNOWN_MATERIAL_KIND,
            "未知的材料类型",
            fields={"kinds": [f"未知的材料类型：{'、'.join(unknown)}"]},
        )
    note = required_text(note, "note", codes.NOTE_REQUIRED, "请说明需补充材料的原因", 2000)
    with transaction.atomic():
        application = lock_application(actor, application_id)
        require_reviewer(actor, application)
        APPLICATION_MACHINE.check(application.status, S.MATERIALS_REQUESTED)
        request_materials(application, kinds, actor=actor, today=today, note=note)
    return application


def _next_step(application: Application) -> str:
    if application.pharmacy is not None:
        return f"请凭医保电子凭证到绑定的双通道定点零售药店（{application.pharmacy.name}）购药"
    return "请在平台选择双通道定点零售药店，凭责任医师开具的处方购药"


def application_approve(
    *, actor: User, application_id: int, today: date | None = None
) -> Eligibility:
    """Grant the eligibility from today [HB art. 8], file it with the agency (2503, queued) and
    tell the patient the next step. A complete case needs no typing."""
    today = day_or_today(today)
    with transaction.atomic():
        application = lock_application(actor, application_id)
        require_reviewer(actor, application)
        APPLICATION_MACHINE.check(application.status, S.APPROVED)
        unverified = application.materials.filter(
            source=MaterialSource.PATIENT_UPLOAD, verification_state=VerificationState.UNVERIFIED
        ).count()
        verified_kinds = set(
            application.materials.filter(verification_state=VerificationState.VERIFIED).values_list(
                "kind", flat=True
            )
        )
        lacking = [
            k for k in application.criteria_set.required_material_kinds if k not in verified_kinds
        ]
        if unverified or lacking:
            labels = "、".join(MaterialKind(k).label for k in lacking if k in MaterialKind.values)
            message = "材料尚未全部核验" + (f"，缺少已核验的：{labels}" if labels else "")
            raise Conflict(codes.UNVERIFIED_MATERIALS, message)
        problem = benefit_status_problem(application.patient)  # HB art. 2, CX art. 5
        if problem:
            raise DomainError(codes.BENEFITS_NOT_IN_FORCE, problem)
        application.decided_at = timezone.now()
        application.decided_by = actor
        application.decision_reason = "符合认定条件，予以备案"
        transition(application, S.APPROVED, actor=actor)
        eligibility = Eligibility.objects.create(
            application=application,
            patient=application.patient,
            drug=application.drug,
            hospital=application.hospital,
            physician=application.physician,
            pharmacy=application.pharmacy,
            status=EligibilityStatus.ACTIVE,
            effective_from=today,
            next_reevaluation_due=today + timedelta(days=application.evaluation_cycle_days),
            plan_total_quantity=application.total_quantity,
        )
        EligibilityTransition.objects.create(
            eligibility=eligibility, from_status="", to_status=EligibilityStatus.ACTIVE, actor=actor
        )
        _file(actor, application, eligibility, today)
        audit.record(
            actor=actor,
            action="eligibility.granted",
            subject=eligibility,
            after=eligibility,
            patient=application.patient,
            role=actor_role(actor),
            summary={
                "application_no": application.application_no,
                "effective_from": today.isoformat(),
                "filing": eligibility.filing_id or eligibility.filing_note,
            },
        )
        notify_patient(
            application,
            "eligibility.approved",
            actor,
            effective_date=today,
            next_step=_next_step(application),
        )
        application_follow(application, today)  # the review clock's rules, after the commit
    return eligibility


def _file(actor: User, application: Application, eligibility: Eligibility, today: date) -> None:
    """Queue the 2503 filing [HB art. 7(3)]; a hospital without a platform code is noted."""
    hospital = application.hospital
    if not platform_connected(hospital):
        eligibility.filing_note = "医疗机构未登记医保定点机构编码，未向平台备案"
        eligibility.save(update_fields=["filing_note"])
        return
    filing = filing_submit(
        actor=actor,
        subject=eligibility,
        person=application.patient,
        institution=hospital,
        input={
            "opsp_dise_code": application.diagnosis_code,
            "opsp_dise_name": f"{application.diagnosis_name}（{application.drug.generic_name}）",
            "diag_dr_codg": application.physician.staff_code,
            "diag_dr_name": application.physician.name,
            "begndate": today,
            "enddate": application.period_end or "",
        },
        queue=True,
    )
    eligibility.filing = filing
    eligibility.save(update_fields=["filing"])


def application_reject(*, actor: User, application_id: int, reason: str) -> Application:
    reason = required_text(reason, "reason", codes.REASON_REQUIRED, "请填写不予通过的原因", 2000)
    with transaction.atomic():
        application = lock_application(actor, application_id)
        require_reviewer(actor, application)
        APPLICATION_MACHINE.check(application.status, S.REJECTED)
        application.decided_at = timezone.now()
        application.decided_by = actor
        application.decision_reason = reason
        transition(application, S.REJECTED, actor=actor, reason=reason)
        notify_patient(application, "eligibility.rejected", actor, reason=reason)
        # the review clock's rules, queued after the commit
        application_follow(application, timezone.localdate())
    return application


def application_withdraw(*, actor: User, application_id: int, reason: str) -> Application:
    """The physician (of the hospital) or the patient withdraws an open application."""
    reason = required_text(reason, "reason", codes.REASON_REQUIRED, "请填写撤回原因", 2000)
    with transaction.atomic():
        application = lock_application(actor, application_id)
        require_role(actor, Role.PHYSICIAN, Role.PATIENT)
        own_patient = actor.has_role(Role.PATIENT) and actor.insured_person_id == (
            application.patient_id
        )
        own_hospital = actor.has_role(Role.PHYSICIAN) and actor.institution_id == (
            application.hospital_id
        )
        if not (actor.is_superuser or own_patient or own_hospital):
            raise PermissionDenied()
        APPLICATION_MACHINE.check(application.status, S.WITHDRAWN)
        application.decided_at = timezone.now()
        application.decided_by = actor
        application.decision_reason = reason
        transition(application, S.WITHDRAWN, actor=actor, reason=reason)
        notify_patient(application, "eligibility.withdrawn", actor, reason=reason)
    return application
