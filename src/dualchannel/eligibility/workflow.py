"""What the application's services share: the row lock and guards, the moves into review and
into a materials request, evaluation against the hospital system, material pulls, the signed
forms' data, notifications. The application's and the eligibility's state machines are beside
their models (``APPLICATION_MACHINE``, ``ELIGIBILITY_MACHINE``); ``core.statemachine.transition``
moves them."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.utils import timezone

from dualchannel.catalog.criteria import MET, CriteriaResult, evaluate_criteria
from dualchannel.catalog.models import CriterionKind, MaterialKind
from dualchannel.core.calendar import add_working_days
from dualchannel.core.errors import Conflict, NotFound
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.integration.his import HisAdapter, HisPatient, get_his_adapter
from dualchannel.notifications.services import notify
from dualchannel.registry.models import InsuranceType, Sex
from dualchannel.registry.profiles import profile_of

from . import error_codes as codes
from . import selectors
from .models import (
    Application,
    ApplicationStatus,
    Material,
    MaterialSource,
    VerificationState,
)

S = ApplicationStatus

DEFAULT_REVIEW_WORKING_DAYS = 7  # HB art. 10, when a profile sets no deadline
# How long the patient is given to hand in what is missing. No seed sets it: a platform default
# shown in the notice, not a rule that closes the case.
MATERIALS_DEADLINE_WORKING_DAYS = 10
SETTING = "outpatient"  # dual-channel drugs are used in outpatient care or bought at pharmacies
KIND_LABELS = dict(MaterialKind.choices)


def review_deadline_days(application: Application) -> int:
    profile = profile_of(application.hospital)
    return (profile.review_deadline_working_days if profile else None) or (
        DEFAULT_REVIEW_WORKING_DAYS
    )


def kind_labels(kinds: list[str]) -> list[str]:
    return [KIND_LABELS.get(k, k) for k in kinds]


# --- the row lock and the guards -------------------------------------------------------------


def lock_application(actor: User, application_id: int) -> Application:
    """The application, if in ``actor``'s scope (else NotFound), locked for this transaction."""
    selectors.application_get(actor, application_id)
    return (
        Application.objects.select_for_update(of=("self",))
        .select_related("criteria_set")
        .get(pk=application_id)
    )


def require_reviewer(actor: User, application: Application) -> None:
    """A reviewer of the application's hospital; another hospital's reviewer sees nothing."""
    require_role(actor, Role.REVIEWER)
    if not actor.is_superuser and application.hospital_id != actor.institution_id:
        raise NotFound()


def require_status(application: Application, *statuses: str) -> None:
    if application.status not in statuses:
        raise Conflict(
            codes.WRONG_STATUS,
            f"申请当前为「{application.get_status_display()}」，不能办理此操作",
        )


# --- moving the application (``core.statemachine.transition``) ---------------------------------


def notify_patient(application: Application, template: str, actor: User | None, **extra) -> None:
    context = {
        "drug_name": application.drug.generic_name,
        "application_no": application.application_no,
        "hospital_name": application.hospital.name,
        **extra,
    }
    notify(template=template, context=context, person=application.patient, actor=actor)


def enter_review(application: Application, *, actor: User | None, today: date) -> None:
    """Complete: start the review clock [HB art. 10] and tell the patient."""
    application.complete_on = today
    application.review_due = _add_working_days(today, review_deadline_days(application))
    application.requested_material_kinds = []
    transition(
        application,
        S.UNDER_REVIEW,
        actor=actor,
        complete_on=today.isoformat(),
        review_due=application.review_due.isoformat(),
    )
    notify_patient(
        application, "eligibility.under_review", actor, review_due=application.review_due
    )


def request_materials(
    application: Application, kinds: list[str], *, actor: User | None, today: date, note: str = ""
) -> None:
    """Tell the patient once, completely, every material still needed [HB art. 7(2)]."""
    application.requested_material_kinds = list(dict.fromkeys(kinds))
    # the day the patient is told: the materials clock starts from it (and restarts from it
    # when a provisional calendar year is replaced by the notice: calendar_follow)
    now = timezone.now()
    application.materials_requested_at = (
        now
        if today == timezone.localdate(now)
        else timezone.make_aware(datetime.combine(today, timezone.localtime(now).time()))
    )
    application.materials_note = note
    application.materials_deadline = _add_working_days(today, MATERIALS_DEADLINE_WORKING_DAYS)
    transition(
        application,
        S.MATERIALS_REQUESTED,
        actor=actor,
        reason=note,
        kinds=application.requested_material_kinds,
    )
    notify_patient(
        application,
        "eligibility.materials_requested",
        actor,
        materials=kind_labels(application.requested_material_kinds),
        deadline=application.materials_deadline,
    )


def _add_working_days(start: date, days: int) -> date:

    return add_working_days(start, days)


# --- evaluation ------------------------------------------------------------------------------


def his_adapter(application: Application) -> HisAdapter:
    """The system of the hospital that applies (another hospital's system is never read)."""
    return get_his_adapter(application.hospital)


@dataclass
class HisAnswers:
    """What the hospital system answered for one application, fetched before any lock is taken
    (the adapter speaks HTTP with a 15 s timeout: no row may wait on it). It answers the adapter
    calls ``evaluate`` and ``pull_his_materials`` make; a call with other arguments than the ones
    fetched means the application changed in between, and raises ``Conflict``."""

    source_system: str
    id_number: str
    found: HisPatient | None
    context_args: tuple
    context: dict[str, Any] | None
    kinds: tuple[str, ...]
    fetched_reports: list = field(default_factory=list)

    def _stale(self) -> Conflict:
        return Conflict(codes.HIS_CHANGED, "调取院内资料期间申请信息已变更，请重新提交")

    def find_patient(self, id_number: str) -> HisPatient | None:
        if id_number != self.id_number:
            raise self._stale()
        return self.found

    def patient_context(self, found, *, insurance_type, setting, today) -> dict[str, Any]:
        if self.context is None or (insurance_type, setting, today) != self.context_args:
            raise self._stale()
        return copy.deepcopy(self.context)

    def reports(self, found, kinds=None) -> list:
        if tuple(kinds or ()) != self.kinds:
            raise self._stale()
        return list(self.fetched_reports)


def his_fetch(application: Application, today: date) -> HisAnswers:
    """Every answer ``application_submit`` needs from the hospital system; call it outside any
    transaction, then lock the application and evaluate with the answers."""
    his = his_adapter(application)
    person = application.patient
    found = his.find_patient(person.id_number)
    args = (person.insurance_type, SETTING, today)
    context = (
        his.patient_context(found, insurance_type=args[0], setting=args[1], today=args[2])
        if found is not None
        else None
    )
    kinds = tuple(dict.fromkeys(application.criteria_set.required_material_kinds or []))
    reports = list(his.reports(found, kinds=list(kinds))) if found is not None and kinds else []
    return HisAnswers(his.source_system, person.id_number, found, args, context, kinds, reports)


def his_patient(application: Application, his: HisAdapter) -> HisPatient | None:
    return his.find_patient(application.patient.id_number)


def patient_context(
    application: Application, his: HisAdapter, found: HisPatient | None, today: date
) -> dict[str, Any]:
    """The criteria context from the hospital system, or from the registry when it has no record.

    The diagnosis the physician enters (and signs on the form) counts as a diagnosis even when
    the hospital system has not recorded it yet.
    """
    person = application.patient
    if found is not None:
        context = his.patient_context(
            found, insurance_type=person.insurance_type, setting=SETTING, today=today
        )
    else:
        context = {
            "patient": {"age": age(person.birth_date, today), "sex": person.sex},
            "diagnoses": [],
            "labs": {},
            "genes": {},
            "prior_therapies": [],
            "insurance_type": person.insurance_type,
            "setting": SETTING,
        }
    if application.diagnosis_code not in context.setdefault("diagnoses", []):
        context["diagnoses"].append(application.diagnosis_code)
    return context


def age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def answers_of(application: Application) -> dict[str, bool]:
    return {a.code: a.answer for a in application.answers.all()}


def evaluate(
    application: Application,
    *,
    today: date | None = None,
    his: HisAdapter | HisAnswers | None = None,
) -> tuple[CriteriaResult, dict[str, dict[str, Any]], HisAdapter | HisAnswers, HisPatient | None]:
    """Evaluate the application's criteria now; returns the result and each item's evidence.
    ``his``: answers fetched beforehand (``his_fetch``), else the adapter is asked now."""
    today = today or timezone.localdate()
    his = his if his is not None else his_adapter(application)
    found = his_patient(application, his)
    context = patient_context(application, his, found, today)
    answers = {a.code: a for a in application.answers.all()}
    result = evaluate_criteria(
        application.criteria_set, context, {code: a.answer for code, a in answers.items()}
    )
    expressions = {c.code: c.expression for c in application.criteria_set.items.all()}
    evidence: dict[str, dict[str, Any]] = {}
    for item in result.items:
        if item.kind == CriterionKind.ATTESTATION:
            answer = answers.get(item.code)
            evidence[item.code] = {
                "source": "physician_attestation",
                "answer": None if answer is None else answer.answer,
                "answered_by": None if answer is None else answer.answered_by_id,
                "answered_at": None if answer is None else answer.answered_at.isoformat(),
                "reason": item.reason,
            }
        else:
            evidence[item.code] = {
                "source": his.source_system if found is not None else "registry",
                "data": _referenced(expressions.get(item.code, ""), context),
                "reason": item.reason,
            }
    return result, evidence, his, found


def _referenced(expression: str, context: dict[str, Any]) -> dict[str, Any]:
    """The parts of the context an expression reads (shown beside the criterion as evidence)."""
    data: dict[str, Any] = {}
    for name, value in context.items():
        if not re.search(rf"\b{re.escape(name)}\b", expression):
            continue
        if isinstance(value, dict):
            keys = re.findall(rf'{re.escape(name)}\s*\[\s*"([^"]+)"\s*\]', expression)
            keys += re.findall(rf"{re.escape(name)}\.(\w+)", expression)
            data[name] = {k: value[k] for k in keys if k in value} if keys else value
        else:
            data[name] = value
    return data


# --- materials -------------------------------------------------------------------------------


def pull_his_materials(
    application: Application,
    his: HisAdapter | HisAnswers,
    found: HisPatient | None,
    kinds: list[str],
) -> list[Material]:
    """Every report of ``kinds`` the hospital system holds, stored with its checksum.

    They come from the hospital's own system, so they are verified on pull.
    """
    if found is None or not kinds:
        return []
    already = set(
        application.materials.filter(source=MaterialSource.HIS).values_list(
            "source_system", "source_id"
        )
    )
    now = timezone.now()
    pulled = []
    for report in his.reports(found, kinds=kinds):
        if (report.source_system, report.source_id) in already:
            continue
        material = Material(
            application=application,
            kind=report.kind,
            source=MaterialSource.HIS,
            title=report.title[:200],
            issuer=report.issuer[:200],
            issued_at=report.issued_at,
            source_system=report.source_system[:100],
            source_id=report.source_id[:100],
            mime_type=report.mime_type,
            size=len(report.content),
            sha256=report.checksum,
            received_at=now,
            verification_state=VerificationState.VERIFIED,
            verified_at=now,
            verification_note="调取自本院信息系统",
        )
        extension = "txt" if report.mime_type.startswith("text/") else "bin"
        material.file.save(
            f"{application.application_no}-{report.checksum[:16]}.{extension}",
            ContentFile(report.content),
            save=False,
        )
        material.save()
        pulled.append(material)
    return pulled


def present_kinds(application: Application, *, since=None) -> set[str]:
    qs = application.materials.exclude(verification_state=VerificationState.REJECTED)
    if since is not None:
        qs = qs.filter(received_at__gte=since)
    return set(qs.values_list("kind", flat=True))


def missing_kinds(application: Application) -> list[str]:
    required = list(application.criteria_set.required_material_kinds or [])
    have = present_kinds(application)
    return [k for k in dict.fromkeys(required) if k not in have]


def outstanding_requested(application: Application) -> list[str]:
    """Requested kinds without a (non-rejected) material received since the request."""
    have = present_kinds(application, since=application.materials_requested_at)
    return [k for k in application.requested_material_kinds if k not in have]


# --- the signed forms ------------------------------------------------------------------------


def _patient_part(application: Application, today: date) -> dict[str, Any]:
    person = application.patient
    return {
        "name": person.name,
        "sex": "男" if person.sex == Sex.MALE else "女",
        "age": age(person.birth_date, today),
        "id_number": person.id_number,
    }


def _quantity_text(application: Application) -> str:
    value = application.total_quantity.normalize() if application.total_quantity else 0
    return f"{value:f}{application.quantity_unit}"


def _plan_text(application: Application) -> str:
    return (
        f"{application.dose}，{application.route}，{application.frequency}；"
        f"总量{_quantity_text(application)}；"
        f"{application.period_start.isoformat()}至{application.period_end.isoformat()}"
    )


def _specification(application: Application) -> str:
    spec = (
        application.drug.payment_standards.exclude(specification="")
        .order_by("-effective_from")
        .values_list("specification", flat=True)
        .first()
    )
    return spec or application.drug.dosage_form or "见国家医保药品目录"


def application_form_data(
    application: Application, result: CriteriaResult, today: date
) -> dict[str, Any]:
    """HB annex 1, filled from the application; what the physician does not enter (address,
    phone, insured region) comes from the registry."""
    person = application.patient
    met = [item.text for item in result.items if item.outcome == MET]
    basis = "；".join(met) if met else "见所附病历资料及检查资料"
    cycle = application.evaluation_cycle_days
    return {
        "application_date": today.isoformat(),
        **_patient_part(application, today),
        "insured_region": person.enrolment_region.name,
        "insurance_category": (
            "employee" if person.insurance_type == InsuranceType.EMPLOYEE else "resident"
        ),
        "address": person.address or "未登记",
        "phone": person.phone or "未登记",
        "hospital_name": application.hospital.name,
        "pharmacy_name": application.pharmacy.name if application.pharmacy else "由患者选定",
        "diagnosis": f"{application.diagnosis_name}（{application.diagnosis_code}）",
        "drug_name": application.drug.generic_name,
        "basis": basis[:2000],
        # Submit refuses an application that breaks a criterion.
        "within_restriction": True,
        "treatment_plan": _plan_text(application),
        "evaluation_cycle": f"{cycle}天",
        "next_evaluation_date": (today + timedelta(days=cycle)).isoformat(),
        "physician_name": application.physician.name,
    }


def treatment_plan_data(application: Application, today: date) -> dict[str, Any]:
    return {
        "plan_date": today.isoformat(),
        **_patient_part(application, today),
        "hospital_name": application.hospital.name,
        "department": application.physician.department,
        "diagnosis": f"{application.diagnosis_name}（{application.diagnosis_code}）",
        "drug_name": application.drug.generic_name,
        "specification": _specification(application),
        "dose": application.dose,
        "frequency": application.frequency,
        "route": application.route,
        "total_quantity": _quantity_text(application),
        "period_start": application.period_start.isoformat(),
        "period_end": application.period_end.isoformat(),
        "evaluation_cycle": f"{application.evaluation_cycle_days}天",
        "physician_name": application.physician.name,
    }
