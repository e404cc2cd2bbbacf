"""Workbench pages (DESIGN §5.1): the physician's checklist and the reviewer's case view (htmx).

Every write goes through ``services``; every read through ``selectors`` (out of scope: 404).
The physician types only the patient's ID number and the plan's numbers; the reviewer approves
a complete case with one click.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dualchannel.catalog.models import CriterionKind, MaterialKind
from dualchannel.catalog.selectors import drug_search, published_criteria
from dualchannel.core.errors import DomainError, NotFound, field_error
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.integration.his import get_his_adapter
from dualchannel.integration.models import PlatformFiling
from dualchannel.integration.services import insured_person_fetch
from dualchannel.integration.services.filing import can_send, filing_retry, may_retry
from dualchannel.registry.models import (
    BindingMode,
    DesignationStatus,
    InstitutionKind,
    Physician,
)
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.selectors import person_card, public_institutions

from . import selectors, services
from .filing_requests_views import filing_queue
from .models import Application, ApplicationStatus, MaterialSource, VerificationState
from .reevaluation_views import reevaluations_due
from .services import materials
from .suggestions import suggested_drugs
from .words import FACT_LABELS, case_history, fact_text, is_empty_fact

S = ApplicationStatus
SUGGESTION_LIMIT = 10
DOSE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(.*)$")
DOSE_UNITS = ["mg", "g", "μg", "ml", "IU", "万IU", "粒", "片", "支"]
FREQUENCIES = [
    "每日一次",
    "每日两次",
    "每日三次",
    "隔日一次",
    "每周一次",
    "每两周一次",
    "每三周一次",
    "每四周一次",
]
ROUTES = ["口服", "静脉滴注", "静脉注射", "皮下注射", "肌内注射", "吸入", "外用"]
QUANTITY_UNITS = ["粒", "片", "支", "瓶", "盒", "袋", "ml"]
# Which reports back up the data a criterion reads (shown beside the outcome).
EVIDENCE_REPORT_KINDS = {
    "diagnoses": ["pathology", "diagnosis_certificate"],
    "genes": ["gene_test"],
    "labs": ["special_lab"],
}
physician_required = role_required(Role.PHYSICIAN)
reviewer_required = role_required(Role.REVIEWER)


def _is_htmx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request"))


def own_hospital_application(request: HttpRequest, application_id: int) -> Application:
    """The application, if in scope and of the user's hospital (else 404)."""
    application = selectors.application_get(request.user, application_id)
    if not request.user.is_superuser and application.hospital_id != request.user.institution_id:
        raise NotFound()
    return application


def _his_facts(application: Application) -> tuple[dict[str, str], dict[str, list]]:
    """Diagnosis names and reports by kind from the hospital system (for the evidence lines)."""
    try:
        his = get_his_adapter(application.hospital)
        found = his.find_patient(application.patient.id_number)
        if found is None:
            return {}, {}
        names = {d.code: d.name for d in his.diagnoses(found)}
        reports: dict[str, list] = {}
        for report in his.reports(found):
            reports.setdefault(report.kind, []).append(report)
        return names, reports
    except DomainError:
        return {}, {}


def _evidence_lines(evidence: dict[str, Any], names: dict, reports: dict) -> list[str]:
    """Human lines such as ``C34.100x004 右肺上叶恶性肿瘤 · 病理诊断报告 2025-11-18``."""
    lines: list[str] = []
    for variable, value in (evidence.get("data") or {}).items():
        backing = ""
        for kind in EVIDENCE_REPORT_KINDS.get(variable, []):
            if reports.get(kind):
                latest = reports[kind][-1]
                day = f" {latest.issued_at:%Y-%m-%d}" if latest.issued_at else ""
                backing = f" · {MaterialKind(kind).label}{day}"
                break
        if variable == "diagnoses" and isinstance(value, list) and value:
            for code in value:
                lines.append(f"{code} {names.get(code, '')}".strip() + backing)
        else:
            label = FACT_LABELS.get(variable, "其他")
            lines.append(f"{label} {fact_text(variable, value)}{backing}")
    source = evidence.get("source")
    if source and lines:
        lines.append(
            "来源：" + ("参保登记（院内系统无记录）" if source == "registry" else "院内系统")
        )
    return lines


def no_record(evidence: dict[str, Any]) -> bool:
    """The criterion read data that the systems do not hold: shown as 无记录, never 符合."""
    data = (evidence or {}).get("data") or {}
    return bool(data) and all(is_empty_fact(v) for v in data.values())


def _checklist_context(request: HttpRequest, application: Application) -> dict[str, Any]:
    checked = services.application_check(actor=request.user, application_id=application.pk)
    items = checked.items()
    names, reports = _his_facts(application)
    for item in items:
        item["attestation"] = item["kind"] == CriterionKind.ATTESTATION
        item["answer"] = item["evidence"].get("answer") if item["attestation"] else None
        item["lines"] = (
            [] if item["attestation"] else _evidence_lines(item["evidence"], names, reports)
        )
        item["no_record"] = not item["attestation"] and no_record(item["evidence"])
    broken, unanswered = services.submission_blockers(checked.result)
    blockers = []
    if broken:
        blockers.append("不符合认定条件：" + "；".join(f"「{i.text}」" for i in broken))
    if unanswered:
        blockers.append("请先确认：" + "；".join(f"「{i.text}」" for i in unanswered))
    if not application.has_plan:
        blockers.append("请先填写并保存治疗用药方案")
    return {
        "application": application,
        "items": items,
        "verdict_label": checked.result.verdict_label,
        "verdict": checked.result.verdict,
        "broken_codes": {i.code for i in broken},
        "blockers": blockers,
        "can_submit": not blockers and application.status == S.DRAFT,
    }


def _documents(application: Application) -> list:
    return [d for d in (application.application_form, application.treatment_plan_document) if d]


# --- the physician's workbench ---------------------------------------------------------------


@require_GET
@physician_required
def doctor_home(request: HttpRequest) -> HttpResponse:
    """The physician's work queue: drafts, materials requested, re-evaluations due (oldest
    first, with counts); then 新建申请 and the hospital's applications."""
    applications = selectors.application_list(request.user)
    if not request.user.is_superuser:
        applications = applications.filter(hospital_id=request.user.institution_id)
    mine = applications.filter(physician__user=request.user)
    drafts = [
        (a, mask_name(a.patient.name))
        for a in mine.filter(status=S.DRAFT).order_by("created_at", "pk")
    ]
    requested = [
        (a, mask_name(a.patient.name))
        for a in mine.filter(status=S.MATERIALS_REQUESTED).order_by("materials_deadline", "pk")
    ]
    due = reevaluations_due(request.user)
    patient_requests = filing_queue(request.user, timezone.localdate())
    rows = [(a, mask_name(a.patient.name)) for a in applications[:200]]
    hospital = request.user.institution
    context = {
        "rows": rows,
        "drafts": drafts,
        "requested": requested,
        "due": due,
        "patient_requests": patient_requests,
        "counts": {
            "drafts": len(drafts),
            "requested": len(requested),
            "due": len(due),
            "patient_requests": len(patient_requests),
        },
        # Opened from the HIS with the patient in context (?patient=<ID number>): nothing typed.
        "launch": _patient_lookup(request, request.GET.get("patient", "")),
        "pharmacies": selectors.city_pharmacies(hospital) if hospital is not None else [],
        "pharmacy_rule": pharmacy_rule(hospital),
        "treating_physicians": _treating_physicians(hospital) if hospital is not None else None,
    }
    page = TemplateResponse(request, "eligibility/doctor_home.html", context)
    return _with_timing(page, context["launch"])


def pharmacy_rule(hospital) -> dict[str, Any]:
    """Whether the region's profile binds the patient to one pharmacy (三定), in its own words."""
    profile = profile_of(hospital) if hospital is not None else None
    if profile is None:
        return {"required": False, "label": "", "why": ""}
    citation = profile.citations_in_words.get("binding_mode", "")
    return {
        "required": profile.binding_mode == BindingMode.THREE_FIXED,
        "label": profile.get_binding_mode_display(),
        "why": citation.split("：", 1)[-1],
    }


def _treating_physicians(hospital) -> list | None:
    """Five-fixed [P §1.1]: designated physicians of the city's designated hospitals who may
    treat the patient; None where the pooling area does not split certifying and treating."""
    profile = profile_of(hospital)
    if profile is None or profile.binding_mode != BindingMode.FIVE_FIXED:
        return None
    city = (hospital.region_id or "")[:4]
    hospitals = public_institutions(kind=InstitutionKind.HOSPITAL).filter(
        region__code__startswith=city
    )
    return list(
        Physician.objects.filter(
            hospital__in=hospitals,
            designations__status=DesignationStatus.ACTIVE,
        )
        .select_related("hospital")
        .order_by("hospital__name", "department", "name")
        .distinct()
    )


@require_GET
@physician_required
def doctor_drug_search(request: HttpRequest) -> HttpResponse:
    """Suggestions by name or pinyin initials, limited to drugs with criteria in force here."""
    q = request.GET.get("drug_q", "").strip()
    hospital = request.user.institution
    found = []
    if q and hospital is not None:
        for drug in drug_search(q=q)[:200]:
            if published_criteria(drug, hospital.region) is not None:
                found.append(drug)
            if len(found) >= SUGGESTION_LIMIT:
                break
    return TemplateResponse(request, "eligibility/_drug_options.html", {"drugs": found, "q": q})


def _patient_lookup(request: HttpRequest, id_number: str) -> dict[str, Any]:
    """The patient behind an ID number, the HIS diagnoses and the drugs the data qualifies."""
    id_number = id_number.strip().upper()
    context: dict[str, Any] = {
        "id_number": id_number,
        "person": None,
        "diagnoses": [],
        "suggested": [],
    }
    if len(id_number) == 18:
        # Only a patient of this hospital (its own system, or an application here): anyone
        # else answers like an unknown number [issue 9].
        try:
            patient = selectors.hospital_patient_find(request.user, id_number=id_number)
        except NotFound:
            return context
        person, his, found = patient.person, patient.his, patient.found
        context["person"] = person
        context["masked_name"] = mask_name(person.name)
        context["masked_id"] = mask_id_number(person.id_number)
        context["diagnoses"] = his.diagnoses(found) if found is not None else []
        suggestions = suggested_drugs(
            hospital=request.user.institution,
            person=person,
            his=his,
            found=found,
            diagnoses=context["diagnoses"],
        )
        context["suggested"] = suggestions.drugs
        context["server_timing"] = suggestions.server_timing()
    return context


def _with_timing(response: TemplateResponse, lookup: dict[str, Any]) -> TemplateResponse:
    """How long the drug suggestions took, for the browser's tools and ``make bench-paper``."""
    if lookup.get("server_timing"):
        response["Server-Timing"] = lookup["server_timing"]
    return response


@require_GET
@physician_required
def doctor_patient_lookup(request: HttpRequest) -> HttpResponse:
    """The patient behind an ID number, with the diagnoses the hospital system has for them."""
    context = _patient_lookup(request, request.GET.get("patient_id_number", ""))
    return _with_timing(TemplateResponse(request, "eligibility/_patient.html", context), context)


@require_POST
@physician_required
def doctor_patient_platform(request: HttpRequest) -> HttpResponse:
    """从医保平台查询 [national 1101]: a person the registry does not hold yet, fetched from the
    national platform by ID number and name (asked outside any transaction, then recorded);
    then the usual lookup. Platform down or person unknown: the refusal in the message area."""
    id_number = request.POST.get("patient_id_number", "").strip().upper()
    fetched = insured_person_fetch(
        actor=request.user, id_number=id_number, name=request.POST.get("platform_name", "")
    )
    context = _patient_lookup(request, fetched.person.id_number)
    context["fetched"] = {"created": fetched.created, **person_card(fetched.person)}
    return TemplateResponse(request, "eligibility/_patient.html", context)


@require_POST
@physician_required
def doctor_create(request: HttpRequest) -> HttpResponse:
    diagnosis = request.POST.get("diagnosis", "")
    if "|" not in diagnosis:
        raise field_error("diagnosis", "eligibility.invalid_diagnosis", "请选择院内系统中的诊断")
    code, name = diagnosis.split("|", 1)
    drug_id = request.POST.get("drug_id", "")
    if not drug_id.isdigit():
        raise field_error("drug_id", "eligibility.drug_required", "请从检索结果中选择药品")
    pharmacy_id = request.POST.get("pharmacy_id", "")
    treating = request.POST.get("treating", "")  # "<hospital id>:<physician id>", or empty
    treating_hospital_id = treating_physician_id = None
    if treating:
        hospital_part, _, physician_part = treating.partition(":")
        if not (hospital_part.isdigit() and physician_part.isdigit()):
            raise field_error("treating", "eligibility.treating_invalid", "请从列表中选择治疗医师")
        treating_physician_id = int(physician_part)
        if int(hospital_part) != request.user.institution_id:
            treating_hospital_id = int(hospital_part)
    application = services.application_create(
        actor=request.user,
        patient_id_number=request.POST.get("patient_id_number", ""),
        drug_id=int(drug_id),
        diagnosis_code=code,
        diagnosis_name=name,
        pharmacy_id=int(pharmacy_id) if pharmacy_id.isdigit() else None,
        treating_hospital_id=treating_hospital_id,
        treating_physician_id=treating_physician_id,
    )
    url = reverse("eligibility-doctor-application", args=[application.pk])
    if _is_htmx(request):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    messages.success(request, f"已新建申请 {application.application_no}")
    return redirect(url)


def _choices(options: list[str], current: str) -> list[str]:
    return options if not current or current in options else [current, *options]


def _plan_defaults(application: Application) -> dict[str, Any]:
    """Everything but the numbers pre-filled: the period from today over the set's cycle."""
    start = application.period_start or timezone.localdate()
    cycle = application.evaluation_cycle_days or application.criteria_set.evaluation_cycle_days
    end = application.period_end or (start + timedelta(days=(cycle or 90) - 1))
    dose = DOSE.match(application.dose or "")
    dose_value, dose_unit = (dose.group(1), dose.group(2).strip()) if dose else ("", "mg")
    return {
        "period_start": start,
        "period_end": end,
        "cycle": cycle,
        "dose_value": dose_value,
        "dose_unit": dose_unit,
        "dose_units": _choices(DOSE_UNITS, dose_unit),
        "frequencies": _choices(FREQUENCIES, application.frequency),
        "routes": _choices(ROUTES, application.route),
        "units": _choices(QUANTITY_UNITS, application.quantity_unit),
        "unit": application.quantity_unit or _unit_of(application.drug),
    }


# The unit a plan counts in, by the drug's dosage form (片 for tablets, 粒 for capsules …).
FORM_UNITS = (("胶囊", "粒"), ("片", "片"), ("注射", "支"), ("颗粒", "袋"), ("散", "袋"))


def _unit_of(drug) -> str:
    form = drug.dosage_form or drug.generic_name
    return next((unit for key, unit in FORM_UNITS if key in form), "")


@require_GET
@physician_required
def doctor_application(request: HttpRequest, application_id: int) -> HttpResponse:
    application = own_hospital_application(request, application_id)
    context: dict[str, Any] = {
        "application": application,
        "masked_name": mask_name(application.patient.name),
        "masked_id": mask_id_number(application.patient.id_number),
        "documents": _documents(application),
        "materials": list(application.materials.all()),
        "history": case_history(application),
        "withdraw_reasons": WITHDRAW_REASONS if application.status in WITHDRAWABLE else [],
        "requested_labels": [
            MaterialKind(k).label
            for k in application.requested_material_kinds
            if k in MaterialKind.values
        ],
    }
    if application.status == S.DRAFT:
        context.update(_checklist_context(request, application))
        context["plan"] = plan = _plan_defaults(application)
        context.update({k: plan[k] for k in ("dose_units", "frequencies", "routes", "units")})
    else:
        context["outcomes"] = outcomes = list(application.outcomes.all())
        for outcome in outcomes:
            outcome.no_record = outcome.kind != CriterionKind.ATTESTATION and no_record(
                outcome.evidence or {}
            )
    return TemplateResponse(request, "eligibility/doctor_application.html", context)


@require_POST
@physician_required
def doctor_answer(request: HttpRequest, application_id: int) -> HttpResponse:
    application = own_hospital_application(request, application_id)
    code = request.POST.get("code", "")
    value = request.POST.get("answer", "")
    if value not in ("yes", "no"):
        raise field_error(code or "answer", "eligibility.invalid_answer", "回答应为是或否")
    services.application_answer(
        actor=request.user, application_id=application.pk, answers={code: value == "yes"}
    )
    application.refresh_from_db()
    return TemplateResponse(
        request, "eligibility/_checklist.html", _checklist_context(request, application)
    )


def _parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise field_error(field, "eligibility.invalid_plan", "日期格式应为 YYYY-MM-DD") from None


@require_POST
@physician_required
def doctor_plan(request: HttpRequest, application_id: int) -> HttpResponse:
    application = own_hospital_application(request, application_id)
    cycle = request.POST.get("evaluation_cycle_days", "").strip()
    services.application_set_plan(
        actor=request.user,
        application_id=application.pk,
        dose=request.POST.get("dose", "").strip()
        or (request.POST.get("dose_value", "").strip() + request.POST.get("dose_unit", "").strip()),
        frequency=request.POST.get("frequency", ""),
        route=request.POST.get("route", ""),
        total_quantity=request.POST.get("total_quantity", "").strip(),
        quantity_unit=request.POST.get("quantity_unit", ""),
        period_start=_parse_date(request.POST.get("period_start", ""), "period_start"),
        period_end=_parse_date(request.POST.get("period_end", ""), "period_end"),
        evaluation_cycle_days=int(cycle) if cycle.isdigit() else None,
    )
    application.refresh_from_db()
    if not _is_htmx(request):
        messages.success(request, "治疗用药方案已保存")
        return redirect("eligibility-doctor-application", application.pk)
    context = {**_checklist_context(request, application), "plan_saved": True}
    return TemplateResponse(request, "eligibility/_checklist.html", context)


@require_POST
@physician_required
def doctor_submit(request: HttpRequest, application_id: int) -> HttpResponse:
    application = own_hospital_application(request, application_id)
    services.application_submit(actor=request.user, application_id=application.pk)
    application.refresh_from_db()
    messages.success(request, f"已提交，当前状态：{application.get_status_display()}")
    url = reverse("eligibility-doctor-application", args=[application.pk])
    if _is_htmx(request):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


@require_POST
@physician_required
def doctor_pull(request: HttpRequest, application_id: int) -> HttpResponse:
    """Answer a materials request from the hospital system (the reports it now holds)."""
    application = own_hospital_application(request, application_id)
    pulled = materials.material_his_pull(actor=request.user, application_id=application.pk)
    application.refresh_from_db()
    message = "已从院内系统调取：" + "、".join(m.get_kind_display() for m in pulled)
    if application.status == S.UNDER_REVIEW:
        message += "；材料已齐全，进入审核"
    messages.success(request, message)
    url = reverse("eligibility-doctor-application", args=[application.pk])
    if _is_htmx(request):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


WITHDRAW_REASONS = ["患者要求撤回", "申请信息有误，需重新申请", "患者转院治疗", "患者病情变化"]
WITHDRAWABLE = {S.DRAFT, S.SUBMITTED, S.MATERIALS_REQUESTED, S.UNDER_REVIEW}


@require_POST
@physician_required
def doctor_withdraw(request: HttpRequest, application_id: int) -> HttpResponse:
    """Withdraw with a reason picked from the list (nothing to type) [HB art. 8: re-apply]."""
    application = own_hospital_application(request, application_id)
    reason = request.POST.get("reason", "").strip()
    if reason not in WITHDRAW_REASONS:
        raise field_error("reason", "eligibility.reason_required", "请选择撤回原因")
    services.application_withdraw(actor=request.user, application_id=application.pk, reason=reason)
    messages.success(request, f"申请 {application.application_no} 已撤回")
    url = reverse("eligibility-doctor-application", args=[application.pk])
    if _is_htmx(request):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


# --- the reviewer's workbench ----------------------------------------------------------------


@require_GET
@reviewer_required
def review_home(request: HttpRequest) -> HttpResponse:
    """The reviewer's work queue: complete cases by working days left (the deadline counts
    working days on the statutory calendar [HB art. 10]), then the cases waiting for evidence."""
    queue = selectors.review_queue(request.user)
    waiting = (
        selectors.application_list(request.user)
        .filter(status__in=[S.SUBMITTED, S.MATERIALS_REQUESTED])
        .order_by("materials_deadline", "submitted_at", "pk")
    )
    if not request.user.is_superuser:
        waiting = waiting.filter(hospital_id=request.user.institution_id)
    waiting_rows = [(a, mask_name(a.patient.name)) for a in waiting[:200]]
    context = {
        "queue": [(item, mask_name(item.application.patient.name)) for item in queue],
        "waiting": waiting_rows,
        "counts": {
            "queue": len(queue),
            "overdue": sum(1 for item in queue if item.overdue),
            "due_soon": sum(
                1
                for item in queue
                if not item.overdue
                and item.working_days_left is not None
                and item.working_days_left <= 2
            ),
            "waiting": waiting.count(),
        },
    }
    return TemplateResponse(request, "eligibility/review_home.html", context)


def _own_review_application(request: HttpRequest, application_id: int) -> Application:
    return own_hospital_application(request, application_id)


def _materials_context(application: Application) -> dict[str, Any]:
    rows = list(application.materials.all())
    for material in rows:
        material.from_his = material.source == MaterialSource.HIS
        material.verifiable = (
            material.verification_state == VerificationState.UNVERIFIED
            and application.status in materials.EVIDENCE_OPEN
        )
    unverified = any(
        m.source == MaterialSource.PATIENT_UPLOAD
        and m.verification_state == VerificationState.UNVERIFIED
        for m in rows
    )
    return {"application": application, "materials": rows, "has_unverified": unverified}


def _primary_action(application: Application, outcomes: list, has_unverified: bool) -> str:
    """The big button follows the case: 通过 only when nothing is pending (issue 12, point 2)."""
    # an alternative of a group that another member meets is not pending
    met_groups = {o.group for o in outcomes if o.group and o.outcome == "met"}
    pending = [
        o
        for o in outcomes
        if (o.outcome != "met" or o.no_record) and not (o.group and o.group in met_groups)
    ]
    if application.status in (S.SUBMITTED, S.UNDER_REVIEW) and (has_unverified or pending):
        return "request"
    if application.status == S.UNDER_REVIEW:
        return "approve"
    return ""


@require_GET
@reviewer_required
def review_case(request: HttpRequest, application_id: int) -> HttpResponse:
    application = _own_review_application(request, application_id)
    outcomes = list(application.outcomes.all())
    names, reports = _his_facts(application)
    for outcome in outcomes:
        attestation = outcome.kind == CriterionKind.ATTESTATION
        outcome.lines = (
            [] if attestation else _evidence_lines(outcome.evidence or {}, names, reports)
        )
        outcome.no_record = not attestation and no_record(outcome.evidence or {})
    materials_context = _materials_context(application)
    context = {
        **materials_context,
        "masked_name": mask_name(application.patient.name),
        "masked_id": mask_id_number(application.patient.id_number),
        "outcomes": outcomes,
        "documents": _documents(application),
        "material_kinds": MaterialKind.choices,
        "required_kinds": set(application.criteria_set.required_material_kinds or []),
        "can_decide": application.status == S.UNDER_REVIEW,
        "can_request": application.status in (S.SUBMITTED, S.UNDER_REVIEW),
        "primary": _primary_action(application, outcomes, materials_context["has_unverified"]),
        "scan_kinds": [
            (k, MaterialKind(k).label)
            for k in materials.scan_kinds(application)
            if k in MaterialKind.values
        ]
        if application.status in materials.EVIDENCE_OPEN
        else [],
        "history": case_history(application),
        **_filing_context(request, application),
    }
    return TemplateResponse(request, "eligibility/review_case.html", context)


def _case_filings(application: Application) -> tuple[Any, list[PlatformFiling]]:
    """A case's granted eligibility and its 2503 with the 2504s that cancel it, oldest first."""
    # No grant yet: the reverse one-to-one raises an AttributeError subclass, getattr's default.
    eligibility = getattr(application, "eligibility", None)
    if eligibility is None or eligibility.filing_id is None:
        return eligibility, []
    filing = eligibility.filing
    return eligibility, [filing, *filing.cancellations.order_by("created_at", "pk")]


def _filing_context(request: HttpRequest, application: Application) -> dict[str, Any]:
    eligibility, filings = _case_filings(application)
    sender = can_send(request.user, application.hospital)
    for filing in filings:
        filing.retryable = sender and may_retry(filing)
    return {"filings": filings, "filing_note": eligibility.filing_note if eligibility else ""}


def _back_to_case(request: HttpRequest, application_id: int, message: str) -> HttpResponse:
    messages.success(request, message)
    url = reverse("eligibility-review-case", args=[application_id])
    if _is_htmx(request):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


@require_POST
@reviewer_required
def review_approve(request: HttpRequest, application_id: int) -> HttpResponse:
    application = _own_review_application(request, application_id)
    services.application_approve(actor=request.user, application_id=application.pk)
    return _back_to_case(request, application.pk, "已通过，用药资格自今日起生效")


@require_POST
@reviewer_required
def review_filing_retry(request: HttpRequest, application_id: int, filing_id: int) -> HttpResponse:
    """Send a failed 2503/2504 of this case again (the same idempotency key: filed once)."""
    application = _own_review_application(request, application_id)
    _, filings = _case_filings(application)
    filing = next((f for f in filings if f.pk == filing_id), None)
    if filing is None:
        raise NotFound()
    filing = filing_retry(filing, actor=request.user)
    return _back_to_case(
        request,
        application.pk,
        f"已重新发送{filing.get_kind_display()}：{filing.get_status_display()}",
    )


@require_POST
@reviewer_required
def review_reject(request: HttpRequest, application_id: int) -> HttpResponse:
    application = _own_review_application(request, application_id)
    services.application_reject(
        actor=request.user, application_id=application.pk, reason=request.POST.get("reason", "")
    )
    return _back_to_case(request, application.pk, "已作不予通过处理，并已告知患者")


@require_POST
@reviewer_required
def review_request_materials(request: HttpRequest, application_id: int) -> HttpResponse:
    application = _own_review_application(request, application_id)
    note = request.POST.get("note", "").strip() or "请补充所列材料"
    services.application_request_materials(
        actor=request.user,
        application_id=application.pk,
        kinds=request.POST.getlist("kinds"),
        note=note,
    )
    return _back_to_case(request, application.pk, "已一次性告知患者需补充的材料")


@require_POST
@reviewer_required
def review_material_scan(request: HttpRequest, application_id: int) -> HttpResponse:
    """A paper report the patient brought, scanned at the counter (verified: original seen)."""
    application = _own_review_application(request, application_id)
    upload = request.FILES.get("file")
    if upload is None:
        raise field_error("file", "eligibility.empty_file", "请选择扫描件")
    material = materials.material_scan(
        actor=request.user,
        application_id=application.pk,
        kind=request.POST.get("kind", ""),
        # Read one byte past the limit: the service refuses anything longer.
        content=upload.read(materials.MAX_UPLOAD_BYTES + 1),
        filename=upload.name or "",
        content_type=upload.content_type or "",
        title=request.POST.get("title", ""),
        issuer=request.POST.get("issuer", ""),
    )
    was = application.status
    application.refresh_from_db()
    message = f"已录入「{material.get_kind_display()}」扫描件（已核验）"
    if was != application.status == S.UNDER_REVIEW:
        message += "，材料已齐全，开始审核"
    return _back_to_case(request, application.pk, message)


@require_POST
@reviewer_required
def review_material_verify(request: HttpRequest, material_id: int) -> HttpResponse:
    material = selectors.material_get(request.user, material_id)
    _own_review_application(request, material.application_id)
    materials.material_verify(
        actor=request.user,
        material_id=material.pk,
        verified=request.POST.get("verified") == "1",
        note=request.POST.get("note", ""),
    )
    application = _own_review_application(request, material.application_id)
    if not _is_htmx(request):
        return _back_to_case(request, application.pk, "核验结果已记录")
    return TemplateResponse(request, "eligibility/_materials.html", _materials_context(application))
