"""The pharmacy counter pages (DESIGN §5.2 steps 3–4): open a prescription by number or QR code,
verify the person and the batches, dispense with traceability codes, show the result.

Every check and write is ``counter``'s: the page only reads the form. The dispense form carries
an idempotency key made when the page was rendered, so a double click or a resubmitted page sends
the same key and dispenses once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.masking import mask_id_number, mask_name, mask_phone
from dualchannel.inventory.selectors import fefo_suggestion, stock_list

from . import error_codes as codes
from .counter_sections import result_sections
from .models import (
    HOLDING_ORDER,
    AgentRelation,
    CertificateType,
    DeliveryMode,
    Prescription,
    PrescriptionStatus,
)
from .services import counter
from .services.counter import Check, DeliveryInput, Identity
from .views import delivery_of, dispensing_of, pharmacist_required, pharmacy_prescriptions

S = PrescriptionStatus
MAX_LINES = 20
PNG_DATA_URL = "data:image/png;base64,"
# Longest data URL accepted from the signature pad (the service limits the PNG to 512 KB).
MAX_SIGNATURE_CHARS = 800_000


def routed_here(request: HttpRequest, prescription_id: int) -> Prescription:
    """A prescription routed to the user's pharmacy (else 404, like a missing one)."""
    prescription = (
        pharmacy_prescriptions(request)
        .select_related("eligibility", "document")
        .filter(pk=prescription_id)
        .first()
    )
    if prescription is None:
        raise NotFound(codes.RX_NOT_FOUND, "处方不存在")
    return prescription


# --- the scan box ----------------------------------------------------------------------------


@require_GET
@pharmacist_required
def counter_home(request: HttpRequest) -> HttpResponse:
    """Type or scan (the scanner types the QR code's URL, then Enter) a prescription; a walk-in
    whose prescription is not routed here also gives the patient's ID number."""
    reference = request.GET.get("q", "").strip()
    patient_id_number = request.GET.get("patient_id_number", "").strip()
    error = None
    if reference:
        try:
            prescription = counter.counter_open(
                actor=request.user, reference=reference, patient_id_number=patient_id_number
            )
            if prescription.pharmacy_id is None:
                raise DomainError(
                    codes.RX_NOT_ROUTED_HERE,
                    "处方尚未流转，请参保人先在手机上选择本店并同意处方流转",
                )
        except DomainError as exc:
            error = exc
        else:
            if prescription.status == S.DISPENSED:
                return redirect("prescriptions-counter-result", prescription.pk)
            return redirect("prescriptions-counter-rx", prescription.pk)
    waiting = pharmacy_prescriptions(request).filter(status=S.ROUTED).count()
    return TemplateResponse(
        request,
        "prescriptions/counter_home.html",
        {"reference": reference, "error": error, "waiting": waiting},
        status=error.status if error else 200,
    )


# --- the form: identity, batches with codes, delivery ---------------------------------------


@dataclass
class Row:
    """One dispensing line on the form: an item, a batch, how many packages, their codes."""

    index: int
    item: Any
    batches: list
    stock_item_id: int | None
    packages: Any
    codes: str = ""
    fefo: bool = False  # the batch was pre-selected first-expiry-first-out


@dataclass
class CounterForm:
    rows: list[Row]
    values: dict[str, str] = field(default_factory=dict)
    signature: str = ""  # the PNG data URL the pad produced


IDENTITY_FIELDS = (
    "certificate_type",
    "certificate_no",
    "card_sn",
    "agent_name",
    "agent_id_number",
    "agent_phone",
    "agent_relation",
    "delivery_mode",
    "address",
    "recipient_name",
    "recipient_phone",
    "idempotency_key",
)


def _batches(request: HttpRequest, pharmacy_id: int, drug_id: int) -> list:
    today = timezone.localdate()
    batches = list(stock_list(request.user, pharmacy_id=pharmacy_id, drug_id=drug_id))
    for batch in batches:
        batch.expired = batch.expiry_date < today
    return batches


def _fefo_rows(request: HttpRequest, prescription: Prescription) -> list[Row]:
    rows: list[Row] = []
    for item in prescription.items.select_related("drug"):
        batches = _batches(request, prescription.pharmacy_id, item.drug_id)
        picks = fefo_suggestion(prescription.pharmacy_id, item.drug_id, item.packages).picks
        for pick in picks or [None]:
            rows.append(
                Row(
                    index=len(rows),
                    item=item,
                    batches=batches,
                    stock_item_id=pick.stock_item.pk if pick else None,
                    packages=pick.quantity if pick else item.packages,
                    fefo=pick is not None,
                )
            )
    return rows


def _number(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


def _posted_rows(request: HttpRequest, prescription: Prescription) -> list[Row]:
    items = {i.pk: i for i in prescription.items.select_related("drug")}
    batches: dict[int, list] = {}
    rows: list[Row] = []
    count = min(_number(request.POST.get("line_count", "")) or 0, MAX_LINES)
    for n in range(count):
        item = items.get(_number(request.POST.get(f"line-{n}-item", "")) or 0)
        if item is None:
            continue
        if item.drug_id not in batches:
            batches[item.drug_id] = _batches(request, prescription.pharmacy_id, item.drug_id)
        rows.append(
            Row(
                index=len(rows),
                item=item,
                batches=batches[item.drug_id],
                stock_item_id=_number(request.POST.get(f"line-{n}-stock_item", "")),
                packages=request.POST.get(f"line-{n}-packages", "").strip(),
                codes=request.POST.get(f"line-{n}-codes", ""),
            )
        )
    return rows


def split_codes(text: str) -> list[str]:
    """One code a line (a scanner ends each with Enter); blanks and spaces are dropped."""
    return [code for code in (text or "").split() if code]


def dispense_lines(rows: list[Row]) -> list[dict[str, Any]]:
    """The lines for ``counter``; a row set to 0 packages without codes is left out."""
    lines = []
    for row in rows:
        packages = _number(str(row.packages))
        codes_ = split_codes(row.codes)
        if packages == 0 and not codes_:
            continue
        lines.append(
            {
                "item_id": row.item.pk,
                "stock_item_id": row.stock_item_id,
                "packages": packages if packages is not None else row.packages,
                "trace_codes": codes_,
            }
        )
    return lines


def signature_png(data_url: str) -> bytes | None:
    """The PNG the signature pad posted as a data URL (anything else: None, the service says
    a signature is missing)."""
    data_url = (data_url or "").strip()
    if not data_url.startswith(PNG_DATA_URL) or len(data_url) > MAX_SIGNATURE_CHARS:
        return None
    try:
        return base64.b64decode(data_url[len(PNG_DATA_URL) :], validate=True)
    except (binascii.Error, ValueError):
        return None


def identity_from(post: QueryDict) -> Identity:
    def text(name: str) -> str:
        return post.get(name, "").strip()

    return Identity(
        certificate_type=text("certificate_type"),
        certificate_no=text("certificate_no"),
        card_sn=text("card_sn"),
        agent_name=text("agent_name"),
        agent_id_number=text("agent_id_number"),
        agent_phone=text("agent_phone"),
        agent_signature=signature_png(post.get("agent_signature", "")),
        agent_relation=text("agent_relation"),
    )


def delivery_from(post: QueryDict) -> DeliveryInput:
    return DeliveryInput(
        mode=post.get("delivery_mode", "").strip(),
        address=post.get("address", "").strip(),
        recipient_name=post.get("recipient_name", "").strip(),
        recipient_phone=post.get("recipient_phone", "").strip(),
    )


def _cold_chain(prescription: Prescription) -> bool:
    return any(i.drug.is_injectable or i.drug.needs_cold_chain for i in prescription.items.all())


def _delivery_modes(prescription: Prescription) -> list[tuple[str, str]]:
    """HB art. 29: injectables (and cold-chain drugs) only by cold chain to the hospital."""
    if _cold_chain(prescription):
        return [(DeliveryMode.COLD_CHAIN_TO_HOSPITAL, DeliveryMode.COLD_CHAIN_TO_HOSPITAL.label)]
    return [
        (v, label) for v, label in DeliveryMode.choices if v != DeliveryMode.COLD_CHAIN_TO_HOSPITAL
    ]


def _summary(prescription: Prescription) -> dict[str, Any]:
    return {
        "patient_name": mask_name(prescription.patient.name),
        "patient_id": mask_id_number(prescription.patient.id_number),
        "items": list(prescription.items.select_related("drug")),
    }


def _counter_page(
    request: HttpRequest,
    prescription: Prescription,
    form: CounterForm,
    *,
    checks: list[Check] | None = None,
    error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    modes = _delivery_modes(prescription)
    values = form.values
    values.setdefault("certificate_type", CertificateType.E_CREDENTIAL)
    if values.get("delivery_mode") not in {m for m, _ in modes}:
        values["delivery_mode"] = modes[0][0]
    values.setdefault("idempotency_key", uuid.uuid4().hex)
    context = {
        "prescription": prescription,
        **_summary(prescription),
        "form": form,
        "values": values,
        "certificate_types": CertificateType.choices,
        "agent_relations": AgentRelation.choices,
        "delivery_modes": modes,
        "cold_chain": _cold_chain(prescription),
        "destination": _destination(prescription),
        # an online order's way to the patient replaces the form's [CX art. 22]
        "online_order": prescription.online_orders.filter(status__in=HOLDING_ORDER).first(),
        "checks": checks,
        "checks_ok": checks is not None and all(c.ok for c in checks),
        "error": error,
    }
    return TemplateResponse(request, "prescriptions/counter.html", context, status=status)


def _destination(prescription: Prescription):
    application = prescription.eligibility.application if prescription.eligibility_id else None
    return (application.treating_hospital if application else None) or prescription.hospital


def _posted_form(request: HttpRequest, prescription: Prescription) -> CounterForm:
    values = {name: request.POST.get(name, "").strip() for name in IDENTITY_FIELDS}
    values = {k: v for k, v in values.items() if v}
    signature = request.POST.get("agent_signature", "").strip()
    return CounterForm(
        rows=_posted_rows(request, prescription),
        values=values,
        signature=signature if signature_png(signature) is not None else "",
    )


@require_GET
@pharmacist_required
def counter_prescription(request: HttpRequest, prescription_id: int) -> HttpResponse:
    prescription = routed_here(request, prescription_id)
    if prescription.status == S.DISPENSED and dispensing_of(prescription) is not None:
        return redirect("prescriptions-counter-result", prescription.pk)
    return _counter_page(request, prescription, CounterForm(rows=_fefo_rows(request, prescription)))


@require_POST
@pharmacist_required
def counter_verify(request: HttpRequest, prescription_id: int) -> HttpResponse:
    """核验: every check with its reason, nothing written (htmx: only the check list)."""
    prescription = routed_here(request, prescription_id)
    form = _posted_form(request, prescription)
    error = None
    checks: list[Check] | None = None
    try:
        result = counter.counter_check(
            actor=request.user,
            prescription_id=prescription.pk,
            identity=identity_from(request.POST),
            lines=dispense_lines(form.rows),
            delivery=delivery_from(request.POST),
        )
        checks = result.checks
    except NotFound:
        raise
    except DomainError as exc:
        error = exc
    if request.headers.get("HX-Request"):
        return TemplateResponse(
            request,
            "prescriptions/_checks.html",
            {
                "checks": checks,
                "checks_ok": checks is not None and all(c.ok for c in checks),
                "error": error,
            },
        )
    return _counter_page(request, prescription, form, checks=checks, error=error)


@require_POST
@pharmacist_required
def counter_dispense_view(request: HttpRequest, prescription_id: int) -> HttpResponse:
    """发药: verify and dispense in one transaction; the same key twice dispenses once."""
    prescription = routed_here(request, prescription_id)
    form = _posted_form(request, prescription)
    try:
        counter.counter_dispense(
            actor=request.user,
            prescription_id=prescription.pk,
            identity=identity_from(request.POST),
            lines=dispense_lines(form.rows),
            idempotency_key=request.POST.get("idempotency_key", ""),
            delivery=delivery_from(request.POST),
        )
    except NotFound:
        raise
    except DomainError as exc:
        prescription.refresh_from_db()
        if prescription.status == S.DISPENSED:
            # Dispensed meanwhile (another counter, or this request's twin with another key).
            messages.warning(request, f"{exc.message}，本次未重复发药")
            return redirect("prescriptions-counter-result", prescription.pk)
        checks = None
        # the refusal above already says what is wrong when the form cannot even be checked
        with contextlib.suppress(DomainError):
            checks = counter.counter_check(
                actor=request.user,
                prescription_id=prescription.pk,
                identity=identity_from(request.POST),
                lines=dispense_lines(form.rows),
                delivery=delivery_from(request.POST),
            ).checks
        return _counter_page(
            request, prescription, form, checks=checks, error=exc, status=exc.status
        )
    messages.success(request, f"处方 {prescription.prescription_no} 已发药")
    return redirect("prescriptions-counter-result", prescription.pk)


# --- the result ------------------------------------------------------------------------------


@require_GET
@pharmacist_required
def counter_result(request: HttpRequest, prescription_id: int) -> HttpResponse:
    prescription = routed_here(request, prescription_id)
    dispensing = dispensing_of(prescription)
    if dispensing is None:
        return redirect("prescriptions-counter-rx", prescription.pk)
    delivery = delivery_of(dispensing)
    context = {
        "prescription": prescription,
        **_summary(prescription),
        "dispensing": dispensing,
        "lines": list(dispensing.lines.select_related("drug", "item")),
        "delivery": delivery,
        "agent_phone": mask_phone(dispensing.agent_phone),
        "agent_id": mask_id_number(dispensing.agent_id_number),
        "recipient_phone": mask_phone(delivery.recipient_phone) if delivery else "",
    }
    # Settlement and any other app above prescriptions add their part (counter_sections).
    sections = result_sections()
    for section in sections:
        context.update(section.context(request, prescription))
    context["result_sections"] = [section.template for section in sections]
    return TemplateResponse(request, "prescriptions/counter_result.html", context)
