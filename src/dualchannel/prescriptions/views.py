"""Prescription pages (DESIGN §5.2): the physician prescribes from an eligibility and sees the
dispensing result; the pharmacy's inbox. The counter itself is in ``counter_views``.

Every write goes through ``services``. The physician types only the quantity: the drug, unit and
usage come from the treatment plan, the package size from the specification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dualchannel.catalog.models import PaymentStandard
from dualchannel.catalog.usage import DOSE_UNITS, FREQUENCY_CODES, ROUTE_CODES
from dualchannel.core.errors import DomainError, NotFound, field_error
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.permissions import has_any_role, role_required
from dualchannel.core.roles import Role
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.selectors import (
    current_plan,
    eligibility_benefits_active,
    eligibility_get,
)
from dualchannel.inventory.models import StockItem
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.selectors import public_institutions

from . import error_codes as codes
from . import filing_form, rules, services
from .models import (
    OPEN_PRESCRIPTION,
    BenefitType,
    DispensingLine,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)

S = PrescriptionStatus
physician_required = role_required(Role.PHYSICIAN)
pharmacist_required = role_required(Role.PHARMACIST)
# HB art. 10 / DESIGN §5.2(6): the hospital's physicians and its insurance office see results
hospital_staff_required = role_required(Role.PHYSICIAN, Role.REVIEWER)

DOSE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(.*)$")
# "150mg*50粒", "0.25g×24片/瓶": the count of plan units in one package, and the package unit.
PACK = re.compile(r"[*×xX]\s*(\d+)\s*([^\d\s/*×xX]+?)\s*(?:/\s*([^\d\s/]+))?\s*$")
PACKAGE_UNITS = ["盒", "瓶", "支", "袋"]
CANCEL_REASONS = [
    "患者要求撤销",
    "处方信息有误，需重新开具",
    "患者病情变化，停止用药",
    "用药方案调整",
    "患者转院治疗",
]
LIST_LIMIT = 200


# --- scope (the prescriptions selectors module is written elsewhere; these stay private) ------


def _hospital_prescriptions(request: HttpRequest) -> QuerySet[Prescription]:
    """Prescriptions issued by the user's hospital (admins: all)."""
    qs = Prescription.objects.select_related("patient", "physician", "pharmacy", "eligibility")
    if request.user.is_superuser:
        return qs
    return qs.filter(hospital_id=request.user.institution_id)


def pharmacy_prescriptions(request: HttpRequest) -> QuerySet[Prescription]:
    """Prescriptions routed to the user's pharmacy (admins: all routed ones)."""
    qs = Prescription.objects.select_related("patient", "hospital", "physician", "pharmacy")
    if request.user.is_superuser:
        return qs.filter(pharmacy__isnull=False)
    return qs.filter(pharmacy_id=request.user.institution_id)


def with_results(qs: QuerySet[Prescription]) -> QuerySet[Prescription]:
    """Items with their drugs, and the dispensing with its lines and delivery (one query each)."""
    return qs.prefetch_related(
        Prefetch("items", queryset=PrescriptionItem.objects.select_related("drug")),
        Prefetch(
            "dispensing__lines",
            queryset=DispensingLine.objects.select_related("drug", "item"),
        ),
    ).select_related("dispensing", "dispensing__pharmacy", "dispensing__delivery")


def dispensing_of(prescription: Prescription):
    """The prescription's dispensing, or None."""
    try:
        return prescription.dispensing
    except Prescription.dispensing.RelatedObjectDoesNotExist:
        return None


def delivery_of(dispensing):
    if dispensing is None:
        return None
    try:
        return dispensing.delivery
    except type(dispensing).delivery.RelatedObjectDoesNotExist:
        return None


# --- the physician prescribes from an eligibility --------------------------------------------


def _own_eligibility(request: HttpRequest, eligibility_id: int) -> Eligibility:
    """An eligibility this hospital may prescribe against: certifying or treating (else 404)."""
    eligibility = eligibility_get(request.user, eligibility_id)
    if request.user.is_superuser:
        return eligibility
    allowed = {eligibility.hospital_id, eligibility.application.treating_hospital_id}
    if request.user.institution_id not in allowed:
        raise NotFound()
    return eligibility


def parse_pack(specification: str, unit: str) -> tuple[Decimal, str] | None:
    """Plan units per package and the package unit, when the specification says so."""
    found = PACK.search(specification or "")
    if found is None or (unit and found.group(2) != unit):
        return None
    size = Decimal(found.group(1))
    if size <= 0:
        return None
    return size, found.group(3) if found.group(3) in PACKAGE_UNITS else "盒"


def _specifications(eligibility: Eligibility) -> list[str]:
    """Specifications to choose from: the last prescription's, then what the pharmacies stock."""

    found: list[str] = []
    last = (
        PrescriptionItem.objects.filter(
            prescription__eligibility=eligibility, drug_id=eligibility.drug_id
        )
        .exclude(specification="")
        .order_by("-prescription__issued_at", "-pk")
        .values_list("specification", flat=True)
        .first()
    )
    if last:
        found.append(last)
    if eligibility.pharmacy_id:
        pharmacies: Any = [eligibility.pharmacy_id]
    else:
        city = (eligibility.hospital.region_id or "")[:4]
        pharmacies = public_institutions(kind=InstitutionKind.PHARMACY).filter(
            region__code__startswith=city
        )
    stocked = (
        StockItem.objects.filter(pharmacy__in=pharmacies, drug_id=eligibility.drug_id)
        .exclude(specification="")
        .order_by("-quantity")
        .values_list("specification", flat=True)
    )
    for spec in stocked[:50]:
        if spec not in found:
            found.append(spec)
    # then the drug's own specifications in the catalogue (its payment standards), those
    # that say their pack size
    listed = (
        PaymentStandard.objects.filter(drug_id=eligibility.drug_id)
        .exclude(specification="")
        .order_by("-effective_from", "pk")
        .values_list("specification", flat=True)
    )
    for spec in listed[:20]:
        if spec not in found and PACK.search(spec):
            found.append(spec)
    return found[:10]


def _choices(options: list[str], current: str) -> list[str]:
    return options if not current or current in options else [current, *options]


@dataclass(frozen=True)
class PlanFigures:
    unit: str
    total: Decimal
    used: Decimal
    reserved: Decimal
    left: Decimal  # what a new prescription may still take


def plan_figures(eligibility: Eligibility, unit: str) -> PlanFigures:
    reserved = services.reserved_quantity(eligibility)
    return PlanFigures(
        unit=unit,
        total=eligibility.plan_total_quantity,
        used=eligibility.plan_used_quantity,
        reserved=reserved,
        left=services.plan_left(eligibility) - reserved,
    )


def _default_days(plan: dict[str, Any], today: date) -> int:
    """30 days, or what remains of the plan's period when that is shorter."""
    end = plan.get("period_end")
    if end is not None and end >= today:
        return min(rules.ORDINARY_MAX_DAYS, (end - today).days + 1)
    return rules.ORDINARY_MAX_DAYS


def _prescribe_defaults(eligibility: Eligibility, plan: dict[str, Any]) -> dict[str, str]:
    dose = DOSE.match(plan.get("dose") or "")
    dose_value, dose_unit = (dose.group(1), dose.group(2).strip()) if dose else ("", "mg")
    specifications = _specifications(eligibility)
    unit = plan.get("quantity_unit") or ""
    specification, pack_size, package_unit = "", "", "盒"
    for spec in specifications:
        parsed = parse_pack(spec, unit)
        if parsed is not None:
            specification = spec
            pack_size, package_unit = f"{parsed[0].normalize():f}", parsed[1]
            break
    else:
        specification = specifications[0] if specifications else ""
    return {
        "quantity": "",
        "single_dose": dose_value,
        "dose_unit": dose_unit if dose_unit in DOSE_UNITS else "mg",
        "frequency": plan.get("frequency") or "",
        "route": plan.get("route") or "",
        "days": str(_default_days(plan, timezone.localdate())),
        "specification": specification,
        "pack_size": pack_size,
        "package_unit": package_unit,
        "long_prescription": "",
        "pharmacy_id": "",
    }


PRESCRIBE_FIELDS = (
    "quantity",
    "single_dose",
    "dose_unit",
    "frequency",
    "route",
    "days",
    "specification",
    "pack_size",
    "package_unit",
    "long_prescription",
    "pharmacy_id",
)


def _prescribe_page(
    request: HttpRequest,
    eligibility: Eligibility,
    values: dict[str, str] | None = None,
    *,
    error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    plan = current_plan(eligibility)
    unit = plan.get("quantity_unit") or ""
    form = values or _prescribe_defaults(eligibility, plan)
    # the pack size is asked only when the specification does not say it
    form["pack_known"] = "1" if parse_pack(form.get("specification", ""), unit) else ""
    profile = profile_of(eligibility.hospital)
    context = {
        "eligibility": eligibility,
        "application": eligibility.application,
        "masked_name": mask_name(eligibility.patient.name),
        "masked_id": mask_id_number(eligibility.patient.id_number),
        "plan": plan,
        "figures": plan_figures(eligibility, unit),
        "active": eligibility_benefits_active(eligibility),
        "form": form,
        "specifications": _specifications(eligibility),
        "dose_units": _choices(list(DOSE_UNITS), form["dose_unit"]),
        "frequencies": _choices(list(FREQUENCY_CODES), form["frequency"]),
        "routes": _choices(list(ROUTE_CODES), form["route"]),
        "package_units": _choices(PACKAGE_UNITS, form["package_unit"]),
        "long_max_days": rules.long_prescription_max_days(profile),
        # AH §2(4): the physician names the patient's pharmacy on the external-purchase form
        "filing_pharmacies": list(filing_form.region_pharmacies(eligibility.hospital))
        if filing_form.needs_filing_form(profile)
        else [],
        "open_prescriptions": list(
            eligibility.prescriptions.filter(status__in=OPEN_PRESCRIPTION).order_by("-issued_at")
        ),
        "error": error,
    }
    return TemplateResponse(request, "prescriptions/doctor_prescribe.html", context, status=status)


def _whole_number(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


@require_http_methods(["GET", "POST"])
@physician_required
def doctor_prescribe(request: HttpRequest, eligibility_id: int) -> HttpResponse:
    eligibility = _own_eligibility(request, eligibility_id)
    if request.method == "GET":
        return _prescribe_page(request, eligibility)
    values = {name: request.POST.get(name, "").strip() for name in PRESCRIBE_FIELDS}
    plan = current_plan(eligibility)
    parsed = parse_pack(values["specification"], plan.get("quantity_unit") or "")
    if parsed is not None:  # the specification says the pack size: it wins over a typed one
        values["pack_size"], values["package_unit"] = f"{parsed[0].normalize():f}", parsed[1]
    named = filing_form.needs_filing_form(profile_of(eligibility.hospital))
    try:
        prescription = services.prescription_issue(
            actor=request.user,
            patient_id_number=eligibility.patient.id_number,
            benefit_type=BenefitType.SPECIAL_DRUG,
            eligibility_id=eligibility.pk,
            long_prescription=values["long_prescription"] == "1",
            pharmacy_id=_whole_number(values["pharmacy_id"]) if named else None,
            items=[
                {
                    "drug_id": eligibility.drug_id,
                    "quantity": values["quantity"],
                    "unit": plan.get("quantity_unit") or "",
                    "single_dose": values["single_dose"],
                    "dose_unit": values["dose_unit"],
                    "frequency": values["frequency"],
                    "route": values["route"],
                    "days": _whole_number(values["days"]),
                    "pack_size": values["pack_size"],  # typed when the specification is not read
                    "package_unit": values["package_unit"],
                    "specification": values["specification"],
                }
            ],
        )
    except NotFound:
        raise
    except DomainError as exc:
        return _prescribe_page(request, eligibility, values, error=exc, status=exc.status)
    messages.success(
        request,
        f"已开具处方 {prescription.prescription_no}（有效期至"
        f"{prescription.valid_until:%Y-%m-%d}），请告知患者在手机上选择药店并同意流转",
    )
    return redirect("prescriptions-doctor-list")


# --- the hospital's prescriptions and what became of them -------------------------------------


@require_GET
@hospital_staff_required
def doctor_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    qs = _hospital_prescriptions(request)
    if status in S.values:
        qs = qs.filter(status=status)
    rows = []
    may_cancel = has_any_role(request.user, [Role.PHYSICIAN])
    for prescription in with_results(qs)[:LIST_LIMIT]:
        dispensing = dispensing_of(prescription)
        rows.append(
            {
                "prescription": prescription,
                "patient_name": mask_name(prescription.patient.name),
                "items": list(prescription.items.all()),
                "dispensing": dispensing,
                "lines": list(dispensing.lines.all()) if dispensing else [],
                "delivery": delivery_of(dispensing),
                "cancellable": may_cancel and prescription.status in OPEN_PRESCRIPTION,
            }
        )
    context = {
        "rows": rows,
        "status": status,
        "statuses": S.choices,
        "cancel_reasons": CANCEL_REASONS,
    }
    return TemplateResponse(request, "prescriptions/doctor_list.html", context)


@require_POST
@physician_required
def doctor_cancel(request: HttpRequest, prescription_id: int) -> HttpResponse:
    """Cancel with a reason picked from the list (nothing to type)."""
    prescription = _hospital_prescriptions(request).filter(pk=prescription_id).first()
    if prescription is None:
        raise NotFound(codes.RX_NOT_FOUND, "处方不存在")
    reason = request.POST.get("reason", "").strip()
    if reason not in CANCEL_REASONS:
        raise field_error("reason", codes.REASON_REQUIRED, "请选择撤销原因")
    services.prescription_cancel(actor=request.user, prescription_id=prescription.pk, reason=reason)
    messages.success(request, f"处方 {prescription.prescription_no} 已撤销，并已告知患者")
    return redirect("prescriptions-doctor-list")


# --- the pharmacy's inbox --------------------------------------------------------------------


@require_GET
@pharmacist_required
def pharmacy_inbox(request: HttpRequest) -> HttpResponse:
    """Routed prescriptions waiting at this pharmacy (oldest first), then the latest dispensed."""
    qs = pharmacy_prescriptions(request)
    waiting = with_results(qs.filter(status=S.ROUTED).order_by("routed_at", "pk"))[:LIST_LIMIT]
    done = with_results(qs.filter(status=S.DISPENSED).order_by("-dispensed_at", "-pk"))[:20]
    context = {
        "waiting": [(p, mask_name(p.patient.name), list(p.items.all())) for p in waiting],
        "done": [
            (p, mask_name(p.patient.name), list(p.items.all()), delivery_of(dispensing_of(p)))
            for p in done
        ],
        "today": timezone.localdate(),
    }
    return TemplateResponse(request, "prescriptions/pharmacy_inbox.html", context)
