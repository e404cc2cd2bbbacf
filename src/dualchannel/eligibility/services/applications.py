"""Writes of the application's lifecycle (DESIGN §5.1, HB art. 6–11): draft, answers, plan,
submit, withdraw, and the reviewer's request, approval or rejection. One transaction and one
audit event per change, the application row locked, status moved only by
``core.statemachine.transition``; the evidence (uploads, scans, verification) is written by
``materials``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from dualchannel.catalog import icd10
from dualchannel.catalog.criteria import INELIGIBLE, MET, UNKNOWN, CriteriaResult
from dualchannel.catalog.models import CriterionKind, Drug
from dualchannel.catalog.selectors import published_criteria
from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.documents.models import DocumentKind
from dualchannel.documents.services import document_sign
from dualchannel.registry.designations import physician_standing
from dualchannel.registry.models import (
    BindingMode,
    Designation,
    DesignationStatus,
    Institution,
    InstitutionKind,
    InsuredPerson,
    Physician,
    PolicyProfile,
)
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.selectors import benefit_status_problem

from .. import error_codes as codes
from .. import selectors
from ..models import (
    APPLICATION_MACHINE,
    LIVE_ELIGIBILITY,
    OPEN_STATUSES,
    Application,
    ApplicationStatus,
    ApplicationTransition,
    CriterionAnswer,
    CriterionOutcome,
    Eligibility,
)
from ..workflow import (
    application_form_data,
    enter_review,
    evaluate,
    his_fetch,
    lock_application,
    missing_kinds,
    pull_his_materials,
    request_materials,
    require_status,
    treatment_plan_data,
)
from .common import day_or_today, next_application_no, required_text

S = ApplicationStatus
DIAGNOSIS_CODE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Za-z]{1,12})?$")


# --- helpers ---------------------------------------------------------------------------------


def _actor_physician(actor: User) -> Physician:
    """The registry physician behind a physician user, working at the user's hospital."""
    require_role(actor, Role.PHYSICIAN)
    physician = Physician.objects.select_related("hospital", "hospital__region").filter(user=actor)
    found = physician.first()
    if found is None or (not actor.is_superuser and found.hospital_id != actor.institution_id):
        raise PermissionDenied(codes.NOT_PHYSICIAN, "当前账号未登记为本院医师")
    return found


def _require_own_physician(actor: User, application: Application) -> None:
    require_role(actor, Role.PHYSICIAN)
    if actor.is_superuser:
        return
    if application.physician.user_id != actor.pk:
        raise PermissionDenied(codes.NOT_OWN_APPLICATION, "只有该申请的责任医师可以办理")


def _has_active_designation(*, institution=None, physician=None) -> bool:
    return Designation.objects.filter(
        institution=institution, physician=physician, status=DesignationStatus.ACTIVE
    ).exists()


def _require_standing(physician: Physician, profile: PolicyProfile | None) -> None:
    """The application is the responsible physician's [HB art. 7(3), 11; AH §2(2); CX art. 20]:
    designated, not suspended by a failed annual assessment [CX art. 20]."""
    standing = physician_standing(physician, profile)
    if standing.ok:
        return
    if standing.reason == "assessment_failed":
        raise DomainError(
            codes.PHYSICIAN_SUSPENDED,
            f"您{standing.failed_year}年度考核不合格，责任医师资格暂停，不能申请用药资格",
        )
    if standing.reason == "title_below_minimum":
        raise DomainError(codes.PHYSICIAN_NOT_DESIGNATED, standing.message)
    raise DomainError(codes.PHYSICIAN_NOT_DESIGNATED, "您尚未纳入双通道责任医师")


# --- creating a draft ------------------------------------------------------------------------


def _designated_pharmacy(pharmacy_id: int) -> Institution:
    pharmacy = Institution.objects.filter(pk=pharmacy_id, kind=InstitutionKind.PHARMACY).first()
    if pharmacy is None or not _has_active_designation(institution=pharmacy):
        raise DomainError(
            codes.PHARMACY_NOT_DESIGNATED,
            "所选药店不是双通道定点零售药店",
            fields={"pharmacy_id": ["应为已纳入的双通道定点零售药店"]},
        )
    return pharmacy


def _treating(
    hospital: Institution, treating_hospital_id: int | None, treating_physician_id: int | None
) -> tuple[Institution | None, Physician | None]:
    """Five-fixed [P §1.1]: the treating hospital and physician, if they differ."""
    treating_hospital = None
    if treating_hospital_id is not None:
        treating_hospital = Institution.objects.filter(
            pk=treating_hospital_id, kind=InstitutionKind.HOSPITAL
        ).first()
        if treating_hospital is None or not _has_active_designation(institution=treating_hospital):
            raise DomainError(
                codes.TREATING_INVALID,
                "治疗医疗机构不是双通道定点医疗机构",
                fields={"treating_hospital_id": ["应为已纳入的双通道定点医疗机构"]},
            )
    treating_physician = None
    if treating_physician_id is not None:
        where = treating_hospital or hospital
        treating_physician = Physician.objects.filter(
            pk=treating_physician_id, hospital=where
        ).first()
        if treating_physician is None or not physician_standing(treating_physician).ok:
            raise DomainError(
                codes.TREATING_INVALID,
                "治疗医师不是该医疗机构的双通道责任医师",
                fields={"treating_physician_id": ["应为治疗医疗机构已纳入的双通道责任医师"]},
            )
    return treating_hospital, treating_physician


@dataclass(frozen=True)
class _Draft:
    """A new application as validated before any lock is taken."""

    physician: Physician
    hospital: Institution
    code: str
    name: str
    mode: str
    pharmacy: Institution | None
    treating_hospital: Institution | None
    treating_physician: Physician | None
    drug: Drug
    criteria_set: Any
    id_number: str


def application_create(
    *,
    actor: User,
    patient_id_number: str,
    drug_id: int,
    diagnosis_code: str,
    diagnosis_name: str,
    pharmacy_id: int | None = None,
    treating_hospital_id: int | None = None,
    treating_physician_id: int | None = None,
) -> Application:
    """The physician opens a draft for a registered patient and a drug with criteria in force."""
    draft = _clean_draft(
        actor=actor,
        patient_id_number=patient_id_number,
        drug_id=drug_id,
        diagnosis_code=diagnosis_code,
        diagnosis_name=diagnosis_name,
        pharmacy_id=pharmacy_id,
        treating_hospital_id=treating_hospital_id,
        treating_physician_id=treating_physician_id,
    )
    with transaction.atomic():
        patient = _draft_patient_locked(draft)
        return _write_draft(actor, draft, patient)


def _clean_draft(
    *,
    actor: User,
    patient_id_number: str,
    drug_id: int,
    diagnosis_code: str,
    diagnosis_name: str,
    pharmacy_id: int | None,
    treating_hospital_id: int | None,
    treating_physician_id: int | None,
) -> _Draft:
    """Check a new draft's input in a fixed order (the first refusal wins)."""
    physician = _actor_physician(actor)
    hospital = physician.hospital
    code, name = _clean_diagnosis(diagnosis_code, diagnosis_name)
    if not _has_active_designation(institution=hospital):
        raise DomainError(codes.HOSPITAL_NOT_DESIGNATED, "本院不是双通道定点医疗机构")
    profile = profile_of(hospital)
    _require_standing(physician, profile)
    mode = profile.binding_mode if profile is not None else BindingMode.NONE
    pharmacy = _designated_pharmacy(pharmacy_id) if pharmacy_id is not None else None
    if pharmacy is None and mode == BindingMode.THREE_FIXED:
        # HB art. 6: three-fixed — hospital, pharmacy and responsible physician are all bound.
        raise DomainError(
            codes.PHARMACY_REQUIRED,
            "本统筹区实行“三定管理”，请选定双通道定点零售药店",
            fields={"pharmacy_id": ["必填"]},
        )
    if (treating_hospital_id or treating_physician_id) and mode != BindingMode.FIVE_FIXED:
        raise DomainError(
            codes.TREATING_NOT_ALLOWED, "本统筹区未实行“五定”，不能另设治疗医院或医师"
        )
    treating_hospital, treating_physician = _treating(
        hospital, treating_hospital_id, treating_physician_id
    )
    drug = Drug.objects.filter(pk=drug_id).first()
    if drug is None:
        raise NotFound(codes.DRUG_NOT_FOUND, "药品不存在")
    criteria_set = published_criteria(drug, hospital.region)
    if criteria_set is None:
        raise DomainError(
            codes.NO_CRITERIA, f"{drug.generic_name}在{hospital.region.name}尚无发布的认定条件"
        )
    return _Draft(
        physician=physician,
        hospital=hospital,
        code=code,
        name=name,
        mode=mode,
        pharmacy=pharmacy,
        treating_hospital=treating_hospital,
        treating_physician=treating_physician,
        drug=drug,
        criteria_set=criteria_set,
        id_number=(patient_id_number or "").strip().upper(),
    )


def _clean_diagnosis(diagnosis_code: str, diagnosis_name: str) -> tuple[str, str]:
    """The ICD-10 (医保版2.0) code, normalised, and its official (else the physician's) name."""
    code = (diagnosis_code or "").strip().upper().replace("X", "x")
    if not DIAGNOSIS_CODE.match(code.replace("x", "X")):
        raise DomainError(
            codes.INVALID_DIAGNOSIS,
            "诊断编码应为 ICD-10 医保版2.0 编码，如 C34.100x004",
            fields={"diagnosis_code": ["格式不正确"]},
        )
    if not icd10.category_known(code):
        raise DomainError(
            codes.UNKNOWN_DIAGNOSIS,
            f"诊断编码 {code} 不在 ICD-10 医保版2.0 疾病分类中",
            fields={"diagnosis_code": ["不存在的疾病分类"]},
        )
    # A code the shipped list knows carries its official name; otherwise the physician's (HIS) name.
    name = icd10.diagnosis_name(code) or required_text(
        diagnosis_name, "diagnosis_name", codes.INVALID_DIAGNOSIS, "请填写诊断名称", 200
    )
    return code, name


def _draft_patient_locked(draft: _Draft) -> InsuredPerson:
    """Lock the insured person; refuse a second open application or live eligibility."""
    patient = InsuredPerson.objects.select_for_update().filter(id_number=draft.id_number).first()
    if patient is None:
        raise NotFound(codes.PATIENT_NOT_FOUND, "参保登记中没有该身份证号的参保人")
    problem = benefit_status_problem(patient)  # HB art. 2, CX art. 5
    if problem:
        raise DomainError(codes.BENEFITS_NOT_IN_FORCE, problem)
    if (
        Application.objects.filter(
            patient=patient, drug=draft.drug, status__in=OPEN_STATUSES
        ).exists()
        or Eligibility.objects.filter(
            patient=patient, drug=draft.drug, status__in=LIVE_ELIGIBILITY
        ).exists()
    ):
        raise Conflict(codes.DUPLICATE, "该参保人已有该药品的在办申请或有效用药资格")
    return patient


def _write_draft(actor: User, draft: _Draft, patient: InsuredPerson) -> Application:
    """Number and create the draft, its first history row and its audit event."""
    today = timezone.localdate()
    criteria_set = draft.criteria_set
    application = Application.objects.create(
        application_no=next_application_no(today),
        patient=patient,
        drug=draft.drug,
        diagnosis_code=draft.code,
        diagnosis_name=draft.name,
        binding_mode=draft.mode,
        hospital=draft.hospital,
        physician=draft.physician,
        pharmacy=draft.pharmacy,
        treating_hospital=draft.treating_hospital,
        treating_physician=draft.treating_physician,
        criteria_set=criteria_set,
        evaluation_cycle_days=criteria_set.evaluation_cycle_days,
        created_by=actor,
    )
    ApplicationTransition.objects.create(
        application=application, from_status="", to_status=S.DRAFT, actor=actor
    )
    audit.record(
        actor=actor,
        action="eligibility.application_created",
        subject=application,
        after=application,
        patient=patient,
        role=actor_role(actor),
        summary={
            "application_no": application.application_no,
            "drug_id": draft.drug.pk,
            "criteria_set_id": criteria_set.pk,
            "binding_mode": draft.mode,
            "to": S.DRAFT,
        },
    )
    return application


# --- the physician's draft -------------------------------------------------------------------


def application_answer(
    *, actor: User, application_id: int, answers: dict[str, bool]
) -> Application:
    """Record yes/no answers to attestation criteria of the application's set (draft only)."""
    if not isinstance(answers, dict) or not answers:
        raise DomainError(codes.UNKNOWN_CRITERION, "请至少回答一项", fields={"answers": ["必填"]})
    with transaction.atomic():
        application = lock_application(actor, application_id)
        _require_own_physician(actor, application)
        require_status(application, S.DRAFT)
        attestations = set(
            application.criteria_set.items.filter(kind=CriterionKind.ATTESTATION).values_list(
                "code", flat=True
            )
        )
        unknown = sorted(code for code in answers if code not in attestations)
        if unknown:
            raise DomainError(
                codes.UNKNOWN_CRITERION,
                f"认定条件中没有需医师确认的条目：{'、'.join(unknown)}",
                fields={code: ["不是本药品需医师确认的条件"] for code in unknown},
            )
        bad = sorted(code for code, value in answers.items() if not isinstance(value, bool))
        if bad:
            raise DomainError(
                codes.UNKNOWN_CRITERION, "回答应为是或否", fields={c: ["应为是或否"] for c in bad}
            )
        now = timezone.now()
        for code, value in answers.items():
            CriterionAnswer.objects.update_or_create(
                application=application,
                code=code,
                defaults={"answer": value, "answered_by": actor, "answered_at": now},
            )
        audit.record(
            actor=actor,
            action="eligibility.criteria_answered",
            subject=application,
            patient=application.patient,
            role=actor_role(actor),
            summary={"application_no": application.application_no, "codes": sorted(answers)},
        )
    return application


@dataclass(frozen=True)
class CheckResult:
    result: CriteriaResult
    evidence: dict[str, dict[str, Any]]

    def items(self) -> list[dict[str, Any]]:
        return [
            {
                "code": i.code,
                "kind": i.kind,
                "group": i.group,
                "text": i.text,
                "outcome": i.outcome,
                "outcome_label": i.outcome_label,
                "reason": i.reason,
                "evidence": self.evidence.get(i.code, {}),
            }
            for i in self.result.items
        ]


def application_check(*, actor: User, application_id: int) -> CheckResult:
    """The realtime check: the criteria against the hospital system and the answers (no write)."""
    application = selectors.application_get(actor, application_id)
    require_role(actor, Role.PHYSICIAN, Role.REVIEWER)
    result, evidence, _, _ = evaluate(application)
    return CheckResult(result, evidence)


def _decimal(value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DomainError(
            codes.INVALID_PLAN, "总药量应为数字", fields={"total_quantity": ["应为数字"]}
        ) from None
    if not number.is_finite() or number <= 0 or number >= Decimal("1e10"):
        raise DomainError(
            codes.INVALID_PLAN, "总药量应为正数", fields={"total_quantity": ["应为正数"]}
        )
    return number.quantize(Decimal("0.01"))


# Plausible plans (issue 12, point 3): a period of at most a year and no more than this much
# a day on average (a typing slip such as 99,999,999 片 is refused, not saved).
MAX_PLAN_DAYS = 366
MAX_UNITS_PER_DAY = {"ml": Decimal(2000)}
DEFAULT_MAX_UNITS_PER_DAY = Decimal(100)


def plan_plausible(quantity: Decimal, unit: str, period_start: date, period_end: date) -> None:
    """Refuse a plan whose dates or total cannot be meant, with a message that says which."""
    if period_end < period_start:
        raise DomainError(
            codes.INVALID_PLAN,
            "方案结束日期不得早于开始日期",
            fields={"period_end": ["不得早于开始日期"]},
        )
    days = (period_end - period_start).days + 1
    if days > MAX_PLAN_DAYS:
        raise DomainError(
            codes.INVALID_PLAN,
            f"方案期限为 {days} 天，不得超过 {MAX_PLAN_DAYS} 天，请按复查评估周期分段制定",
            fields={"period_end": ["方案期限过长"]},
        )
    per_day = MAX_UNITS_PER_DAY.get(unit, DEFAULT_MAX_UNITS_PER_DAY)
    if quantity > per_day * days:
        shown = unit or "单位"
        raise DomainError(
            codes.INVALID_PLAN,
            f"总药量 {quantity.normalize():f}{unit} 不合理：方案期 {days} 天，"
            f"平均每日超过 {per_day}{shown}，请核对总药量",
            fields={"total_quantity": ["总药量过大"]},
        )


def application_set_plan(
    *,
    actor: User,
    application_id: int,
    dose: str,
    frequency: str,
    route: str,
    total_quantity: Decimal | str | int,
    period_start: date,
    period_end: date,
    quantity_unit: str = "",
    evaluation_cycle_days: int | None = None,
) -> Application:
    """The treatment plan; the re-evaluation cycle defaults to the criteria set's [HB art. 9]."""
    values = {
        "dose": required_text(dose, "dose", codes.INVALID_PLAN, "请填写单次剂量", 50),
        "frequency": required_text(
            frequency, "frequency", codes.INVALID_PLAN, "请填写用药频次", 50
        ),
        "route": required_text(route, "route", codes.INVALID_PLAN, "请填写给药途径", 50),
        "total_quantity": _decimal(total_quantity),
        "quantity_unit": (quantity_unit or "").strip()[:20],
    }
    plan_plausible(values["total_quantity"], values["quantity_unit"], period_start, period_end)
    with transaction.atomic():
        application = lock_application(actor, application_id)
        _require_own_physician(actor, application)
        require_status(application, S.DRAFT)
        cycle = evaluation_cycle_days or application.criteria_set.evaluation_cycle_days
        if not cycle or cycle <= 0:
            raise DomainError(
                codes.INVALID_PLAN,
                "请确定复查评估周期",
                fields={"evaluation_cycle_days": ["必填"]},
            )
        before = snapshot(application)
        for name, value in values.items():
            setattr(application, name, value)
        application.period_start = period_start
        application.period_end = period_end
        application.evaluation_cycle_days = cycle
        application.save()
        audit.record(
            actor=actor,
            action="eligibility.plan_set",
            subject=application,
            before=before,
            after=application,
            patient=application.patient,
            role=actor_role(actor),
            summary={"application_no": application.application_no},
        )
    return application


# --- submit ----------------------------------------------------------------------------------


def submission_blockers(result: CriteriaResult) -> tuple[list, list]:
    """(criteria broken, attestations still needed): required items, or whole groups.

    The one rule for submitting: ``application_submit`` enforces it, the workbench shows it.
    """
    groups: dict[str, list] = {}
    for item in result.items:
        if item.group:
            groups.setdefault(item.group, []).append(item)
    broken = [i for i in result.items if not i.group and i.outcome != MET and i.outcome != UNKNOWN]
    unanswered = [
        i
        for i in result.items
        if not i.group and i.kind == CriterionKind.ATTESTATION and i.outcome == UNKNOWN
    ]
    for members in groups.values():
        if any(m.outcome == MET for m in members):
            continue
        if all(m.outcome != MET and m.outcome != UNKNOWN for m in members):
            broken.extend(members)
        else:
            unanswered.extend(
                m for m in members if m.kind == CriterionKind.ATTESTATION and m.outcome == UNKNOWN
            )
    return broken, unanswered


def application_submit(
    *, actor: User, application_id: int, today: date | None = None
) -> Application:
    """Sign and file the application, pull its evidence, and either ask the patient once for
    everything missing [HB art. 7(2)] or start the review clock [HB art. 10]."""
    today = day_or_today(today)
    # Fetch first: the hospital system is asked before any row is locked (it may take 15 s).
    draft = selectors.application_get(actor, application_id)
    _require_own_physician(actor, draft)
    APPLICATION_MACHINE.check(draft.status, S.SUBMITTED)
    answers = his_fetch(draft, today)
    with transaction.atomic():
        # core.locks order: the signing physician (document_sign locks it), then the application
        Physician.objects.select_for_update().get(pk=draft.physician_id)
        application = lock_application(actor, application_id)
        _require_own_physician(actor, application)
        APPLICATION_MACHINE.check(application.status, S.SUBMITTED)  # again, under the lock
        if not application.has_plan:
            raise DomainError(codes.PLAN_REQUIRED, "请先填写治疗用药方案")
        # what was fetched must still fit the application (else answers raises Conflict)
        result, evidence, his, found = evaluate(application, today=today, his=answers)
        broken, unanswered = submission_blockers(result)
        if broken or result.verdict == INELIGIBLE:
            broken = broken or result.failing
            raise DomainError(
                codes.INELIGIBLE,
                "不符合认定条件：" + "；".join(f"「{i.text}」" for i in broken),
                fields={i.code: [i.text] for i in broken},
            )
        if unanswered:
            raise DomainError(
                codes.UNANSWERED,
                "请先确认以下条件：" + "；".join(f"「{i.text}」" for i in unanswered),
                fields={i.code: ["待医师确认"] for i in unanswered},
            )
        positions = {c.code: c.position for c in application.criteria_set.items.all()}
        application.outcomes.all().delete()
        CriterionOutcome.objects.bulk_create(
            CriterionOutcome(
                application=application,
                position=positions.get(i.code, 0),
                code=i.code,
                kind=i.kind,
                group=i.group,
                text=i.text,
                outcome=i.outcome,
                evidence=evidence.get(i.code, {}),
            )
            for i in result.items
        )
        application.submitted_at = timezone.now()
        transition(application, S.SUBMITTED, actor=actor, verdict=result.verdict)
        _sign_forms(actor, application, result, today)
        required = list(dict.fromkeys(application.criteria_set.required_material_kinds or []))
        pulled = pull_his_materials(application, his, found, required)
        missing = missing_kinds(application)
        audit.record(
            actor=actor,
            action="eligibility.materials_pulled",
            subject=application,
            patient=application.patient,
            role=actor_role(actor),
            summary={
                "application_no": application.application_no,
                "pulled": len(pulled),
                "missing": missing,
            },
        )
        if missing:
            request_materials(
                application, missing, actor=actor, today=today, note="本院信息系统中未能调取"
            )
        else:
            enter_review(application, actor=actor, today=today)
    return application


def _sign_forms(actor: User, application: Application, result: CriteriaResult, today: date) -> None:

    subject_type = Application._meta.label
    form = document_sign(
        actor=actor,
        signer=application.physician,
        kind=DocumentKind.APPLICATION_FORM,
        subject_type=subject_type,
        subject_id=str(application.pk),
        data=application_form_data(application, result, today),
        patient=application.patient,
    )
    plan = document_sign(
        actor=actor,
        signer=application.physician,
        kind=DocumentKind.TREATMENT_PLAN,
        subject_type=subject_type,
        subject_id=str(application.pk),
        data=treatment_plan_data(application, today),
        patient=application.patient,
    )
    application.application_form = form
    application.treatment_plan_document = plan
    application.save(update_fields=["application_form", "treatment_plan_document"])
