"""Settlement on the counter's result page: the pre-settled breakdown, one click to settle, and
the reversal (HB art. 32: the person pays their part, the fund's part is settled with the agency).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.months import previous_month
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.prescriptions.models import DeliveryMode, OnlineOrder
from dualchannel.registry.profiles import profile_or_none
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from . import services
from .models import (
    BatchStatus,
    ClaimStatus,
    ManualClaim,
    Settlement,
    SettlementBatch,
    SettlementStatus,
    StayCharge,
)
from .payable import BREAKDOWN_LABELS, REASON_LABELS
from .platform import platform_pre_settle
from .services import batches

pharmacist_required = role_required(Role.PHARMACIST)
REVERSAL_REASONS = ["患者退药", "结算类别有误，需重新结算", "结算信息有误，需重新结算"]


def _rows(source) -> list[tuple[str, Any]]:
    return [(label, getattr(source, name)) for name, label in BREAKDOWN_LABELS]


def counter_settlement_context(request: HttpRequest, prescription) -> dict[str, Any]:
    """What the counter's result page shows about settlement (the dispensing exists)."""
    live = (
        Settlement.objects.filter(prescription=prescription, status=SettlementStatus.SETTLED)
        .prefetch_related("lines")
        .first()
    )
    if live is not None:
        return {
            "settlement": live,
            "settled_out_of_area": (live.parameters or {}).get("out_of_area"),
            "settlement_rows": _rows(live),
            "reversal_reasons": REVERSAL_REASONS,
            "reversal_key": uuid.uuid4().hex,
        }
    if Settlement.objects.filter(prescription=prescription, goods_returned=True).exists():
        return {"settlement_closed": True}
    charge = (
        StayCharge.objects.filter(dispensing__prescription=prescription)
        .select_related("stay")
        .first()
    )
    if charge is not None:
        return {"stay_charge": charge}
    online = OnlineOrder.objects.filter(
        prescription=prescription, personal_due__isnull=False, dispensing__isnull=False
    ).first()
    if online is not None and not Settlement.objects.filter(prescription=prescription).exists():
        # the personal part was paid on the phone: a delivery is settled when the order ships, a
        # pick-up order by the counter's settle without collecting (services.online)
        return {
            "paid_online_order": online,
            "paid_online_pickup": online.mode == DeliveryMode.ONLINE_PICKUP,
            "settle_key": uuid.uuid4().hex,
        }
    try:
        priced = services.settlement_preview(actor=request.user, prescription_id=prescription.pk)
    except DomainError as exc:
        return {"settlement_error": exc}
    reasons = sorted({REASON_LABELS.get(r.self_pay_reason, "") for r in priced.breakdown.lines})

    area = priced.out_of_area
    if area is not None and not area.direct:
        # HB art. 41, AH §2(5): not settled with the fund here; the patient pays all, claims home
        return {"preview": priced, "out_of_area": area, "self_pay": True}
    return {
        "preview": priced,
        "out_of_area": area if area is not None and area.is_out_of_area else None,
        "platform_check": platform_pre_settle(priced),
        "preview_rows": _rows(priced.breakdown),
        "self_pay_reasons": [r for r in reasons if r],
        "settle_key": uuid.uuid4().hex,  # a fresh key per page: a double click settles once
    }


def _back(prescription_id: int) -> HttpResponse:
    return redirect("prescriptions-counter-result", prescription_id)


@require_POST
@pharmacist_required
def counter_settle(request: HttpRequest, prescription_id: int) -> HttpResponse:
    if request.POST.get("bill_to_stay") == "1":
        return _bill_to_stay(request, prescription_id)
    try:
        # a pick-up order whose personal part was paid on the phone: settled without collecting
        settlement = services.settlement_settle_at_counter(
            actor=request.user,
            prescription_id=prescription_id,
            idempotency_key=request.POST.get("idempotency_key", ""),
            inpatient_admission_no=request.POST.get("inpatient_admission_no", ""),
        )
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back(prescription_id)
    if settlement.online_payment_id is not None:
        messages.success(
            request,
            f"已结算 {settlement.settlement_no}：个人自付 {settlement.personal} 元"
            "已由参保人线上支付，无需收费",
        )
    else:
        messages.success(
            request, f"已结算 {settlement.settlement_no}：个人支付 {settlement.personal} 元"
        )
    return _back(prescription_id)


def _bill_to_stay(request: HttpRequest, prescription_id: int) -> HttpResponse:
    """CX art. 19: the inpatient's purchase billed to the stay, settled by the hospital."""
    try:
        charge = services.stay_charge_record(
            actor=request.user,
            prescription_id=prescription_id,
            inpatient_admission_no=request.POST.get("inpatient_admission_no", ""),
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
    except NotFound as exc:
        if exc.code != codes.STAY_NOT_FOUND:
            raise
        messages.error(request, exc.message)
        return _back(prescription_id)
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back(prescription_id)
    messages.success(request, f"已计入住院费用：{charge.total} 元，由医院随住院费用结算")
    return _back(prescription_id)


@require_POST
@pharmacist_required
def counter_reverse(request: HttpRequest, settlement_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    found = Settlement.objects.filter(pk=settlement_id).values_list("prescription_id", flat=True)
    prescription_id = found.first()
    try:
        if reason not in REVERSAL_REASONS:
            raise DomainError("settlement.reason_required", "请选择冲销原因")
        settlement = services.settlement_reverse(
            actor=request.user,
            settlement_id=settlement_id,
            reason=reason,
            return_goods=reason == REVERSAL_REASONS[0],
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
    except NotFound:
        raise
    except DomainError as exc:
        if prescription_id is None:
            raise
        messages.error(request, exc.message)
        return _back(prescription_id)
    messages.success(request, f"已冲销 {settlement.settlement_no}")
    return _back(settlement.prescription_id)


# --- the agency's console: monthly batches, budget lines, manual claims -------------------------


def _month_param(request: HttpRequest):

    raw = request.GET.get("month", "")
    try:
        year, month = (int(x) for x in raw.split("-")[:2])
        return date(year, month, 1)
    except (ValueError, TypeError):
        today = timezone.localdate()
        return today.replace(day=1)


def month_choices(today: date, count: int = 24) -> list[tuple[str, str]]:
    """The months an officer picks from, newest first, in Chinese (``2026年12月``)."""
    first = today.replace(day=1)
    months = []
    for _ in range(count):
        months.append((f"{first:%Y-%m}", f"{first.year}年{first.month}月"))
        first = previous_month(first)
    return months


def budget_basis(region) -> dict[str, Any]:
    """What the region's profile says of the pharmacies' budget line, with its citation
    [AH §2(6), CX art. 18]; the table shows the lines this says (issue 12, point 7)."""
    profile = profile_or_none(region)
    if profile is None:
        return {"separate": False, "text": "", "citation": ""}
    separate = bool(profile.pharmacy_spend_outside_hospital_budget)
    cited = profile.citations_in_words.get("pharmacy_spend_outside_hospital_budget", "")
    if separate:
        text = "定点药店发生的双通道药品费用单列预算，不纳入医疗机构总额。"
    else:
        text = (
            "本统筹区政策未规定药店双通道药品费用单列预算：药店与医疗机构的费用同列总额预算口径。"
        )
    return {"separate": separate, "text": text, "citation": cited or profile.source_document}


def _agency_context(request: HttpRequest) -> dict[str, Any]:

    region = officer_region(request.user)
    month = _month_param(request)
    basis = budget_basis(region)
    if region is None:  # an administrator without an agency: every region
        batch_qs = SettlementBatch.objects.all()
        claims_qs = ManualClaim.objects.all()
        report = None
    else:
        batch_qs = SettlementBatch.objects.filter(
            institution__region__code__startswith=region.code_prefix
        )
        claims_qs = ManualClaim.objects.filter(
            person__enrolment_region__code__startswith=region.code_prefix
        )
        report = batches.budget_report(actor=request.user, region_code=region.code, month=month)
    order = {BatchStatus.APPLIED: 0, BatchStatus.REJECTED: 1, BatchStatus.DRAFT: 2}
    rows = sorted(
        batch_qs.select_related("institution").order_by("-month", "institution__name")[:200],
        key=lambda b: order.get(b.status, 3),
    )
    return {
        "month": month,
        "months": month_choices(timezone.localdate()),
        "region": region,
        "report": report,
        # the pharmacies' own line only where the profile keeps one (or it holds spending)
        "report_lines": [
            line
            for line in (report.lines if report else ())
            if basis["separate"] or line.institutions
        ],
        "basis": basis,
        "batches": rows,
        "claims": list(
            claims_qs.filter(status=ClaimStatus.SUBMITTED)
            .select_related("institution")
            .order_by("submitted_at")[:200]
        ),
    }


@require_GET
@role_required(Role.AGENCY_OFFICER)
def agency_settlement(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(request, "settlement/agency_settlement.html", _agency_context(request))


@require_POST
@role_required(Role.AGENCY_OFFICER)
def agency_batch_review(request: HttpRequest, batch_id: int) -> HttpResponse:

    batch = batches.batch_review(
        actor=request.user,
        batch_id=batch_id,
        approve=request.POST.get("decision") == "approve",
        note=request.POST.get("note", ""),
    )
    if not request.headers.get("HX-Request"):
        messages.success(request, f"已{batch.get_status_display()}")
        return redirect("agency-settlement")
    return TemplateResponse(request, "settlement/_batch_row.html", {"batch": batch})
