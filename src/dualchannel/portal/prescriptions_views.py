"""The patient's prescriptions on the phone: choose a pharmacy, seeing its stock, and consent to
the prescription's circulation [CX art. 21]; then follow it to the counter and the delivery."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.masking import mask_name
from dualchannel.prescriptions import error_codes as rx_codes
from dualchannel.prescriptions import services as rx_services
from dualchannel.prescriptions.models import (
    OPEN_ORDER,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
    StockStatus,
)
from dualchannel.registry.profiles import profile_citation, profile_or_none

from .views import patient_required

S = PrescriptionStatus
# The reviewed prescription circulates to a designated pharmacy once the patient agrees; the
# article that says so is the patient's region's (its profile's citation), never another's.
CONSENT_TEXT = "本人同意将本处方流转至所选定点零售药店，由药店审核、调剂并办理医保结算。"
CONSENT_CITATION = "prescription_circulation"


def consent_basis(prescription: Prescription) -> str:
    """The citation of the patient's enrolment region's profile; "" where none is configured."""
    return profile_citation(
        profile_or_none(prescription.patient.enrolment_region), CONSENT_CITATION
    )


NEXT_STEPS = {
    S.ISSUED: "请选择购药药店并同意处方流转",
    S.ROUTED: "请在有效期内携带医保电子凭证、身份证或社保卡到药店取药",
    S.DISPENSED: "药店已发药",
    S.CANCELLED: "处方已被医师撤销",
    S.EXPIRED: "处方已过期，如需继续用药请联系医师重新开具",
}


def _own_prescriptions(request: HttpRequest) -> QuerySet[Prescription]:
    """The caller's own prescriptions (the prescriptions selectors are written elsewhere)."""
    return (
        Prescription.objects.filter(patient_id=request.user.insured_person_id)
        .select_related(
            "patient",
            "hospital",
            "physician",
            "pharmacy",
            "eligibility",
            "dispensing",
            "dispensing__pharmacy",
            "dispensing__delivery",
        )
        .prefetch_related(
            Prefetch("items", queryset=PrescriptionItem.objects.select_related("drug"))
        )
    )


def _own_prescription(request: HttpRequest, prescription_id: int) -> Prescription:
    prescription = _own_prescriptions(request).filter(pk=prescription_id).first()
    if prescription is None:
        raise NotFound(rx_codes.RX_NOT_FOUND, "处方不存在")
    return prescription


def _dispensing(prescription: Prescription) -> tuple[Any, Any]:
    try:
        dispensing = prescription.dispensing
    except Prescription.dispensing.RelatedObjectDoesNotExist:
        return None, None
    try:
        return dispensing, dispensing.delivery
    except type(dispensing).delivery.RelatedObjectDoesNotExist:
        return dispensing, None


@require_GET
@patient_required
def portal_prescriptions(request: HttpRequest) -> HttpResponse:
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    rows = []
    for prescription in _own_prescriptions(request)[:50]:
        _, delivery = _dispensing(prescription)
        rows.append(
            {
                "prescription": prescription,
                "drugs": "、".join(i.drug.generic_name for i in prescription.items.all()),
                "next_step": NEXT_STEPS.get(prescription.status, ""),
                "delivery": delivery,
            }
        )
    return TemplateResponse(request, "portal/prescriptions.html", {"rows": rows})


def _prescription_page(
    request: HttpRequest,
    prescription: Prescription,
    *,
    error: DomainError | None = None,
    chosen: str = "",
    status: int = 200,
) -> HttpResponse:
    options = []
    if prescription.status == S.ISSUED:
        options = rx_services.pharmacy_options(actor=request.user, prescription_id=prescription.pk)
    dispensing, delivery = _dispensing(prescription)
    labels = dict(S.choices)
    context = {
        "prescription": prescription,
        "items": list(prescription.items.all()),
        "patient_name": mask_name(prescription.patient.name),
        "next_step": NEXT_STEPS.get(prescription.status, ""),
        "options": options,
        # the bound pharmacy (three-fixed) or the first with stock is chosen for the patient
        "chosen": chosen or (str(options[0].pharmacy.pk) if options else ""),
        "three_fixed": bool(prescription.eligibility_id and prescription.eligibility.pharmacy_id),
        "stock_labels": dict(StockStatus.choices),
        "consent_text": CONSENT_TEXT,
        "consent_basis": consent_basis(prescription),
        "dispensing": dispensing,
        "delivery": delivery,
        # online orders [CX art. 22]: one open order at a time
        "orders": list(prescription.online_orders.order_by("-created_at")),
        "may_order": prescription.status == S.ROUTED
        and not prescription.online_orders.filter(status__in=OPEN_ORDER).exists(),
        # what the fund paid and what the patient paid [CX art. 17], with the receipt
        "settlements": list(
            prescription.settlements.filter(status="settled").order_by("-settled_at")
        ),
        "timeline": [
            (h.at, labels.get(h.to_status, h.to_status))
            for h in prescription.history.order_by("at", "pk")
        ],
        "error": error,
    }
    return TemplateResponse(request, "portal/prescription.html", context, status=status)


@require_GET
@patient_required
def portal_prescription(request: HttpRequest, prescription_id: int) -> HttpResponse:
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    return _prescription_page(request, _own_prescription(request, prescription_id))


@require_POST
@patient_required
def portal_prescription_route(request: HttpRequest, prescription_id: int) -> HttpResponse:
    """The patient's choice and consent; a refusal is shown on the page with nothing written."""
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    prescription = _own_prescription(request, prescription_id)
    chosen = request.POST.get("pharmacy_id", "").strip()
    try:
        routed = rx_services.prescription_route(
            actor=request.user,
            prescription_id=prescription.pk,
            pharmacy_id=int(chosen) if chosen.isdigit() else 0,
            consent=request.POST.get("consent") == "1",
        )
    except NotFound:
        raise
    except DomainError as exc:
        return _prescription_page(
            request, prescription, error=exc, chosen=chosen, status=exc.status
        )
    day = routed.valid_until
    messages.success(
        request,
        f"处方已流转至{routed.pharmacy.name}，请于{day.year}年{day.month}月{day.day}日前取药",
    )
    return redirect("portal-prescription", prescription_id=prescription.pk)
