"""Settlement on the counter's result page: the pre-settled breakdown, one click to settle, and
the reversal (HB art. 32: the person pays their part, the fund's part is settled with the agency).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.roles import Role
from dualchannel.eligibility.views import role_required

from . import services
from .models import Settlement, SettlementStatus
from .payable import REASON_LABELS

pharmacist_required = role_required(Role.PHARMACIST)
REVERSAL_REASONS = ["患者退药", "结算类别有误，需重新结算", "结算信息有误，需重新结算"]
BREAKDOWN_ROWS = (
    ("total", "医疗费总额"),
    ("full_self_pay", "全自费"),
    ("over_standard", "超支付标准"),
    ("first_self_pay", "先行自付"),
    ("deductible", "起付线"),
    ("co_pay", "统筹段自付"),
    ("over_ceiling", "超限额"),
    ("fund", "统筹基金支付"),
    ("critical_illness", "大病保险"),
    ("assistance", "医疗救助"),
    ("commercial", "惠民保"),
    ("personal", "个人支付"),
)


def _rows(source) -> list[tuple[str, Any]]:
    return [(label, getattr(source, name)) for name, label in BREAKDOWN_ROWS]


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
            "settlement_rows": _rows(live),
            "reversal_reasons": REVERSAL_REASONS,
            "reversal_key": uuid.uuid4().hex,
        }
    if Settlement.objects.filter(prescription=prescription, goods_returned=True).exists():
        return {"settlement_closed": True}
    try:
        priced = services.settlement_preview(actor=request.user, prescription_id=prescription.pk)
    except DomainError as exc:
        return {"settlement_error": exc}
    reasons = sorted({REASON_LABELS.get(r.self_pay_reason, "") for r in priced.breakdown.lines})
    return {
        "preview": priced,
        "preview_rows": _rows(priced.breakdown),
        "self_pay_reasons": [r for r in reasons if r],
        "settle_key": uuid.uuid4().hex,  # a fresh key per page: a double click settles once
    }


def _back(prescription_id: int) -> HttpResponse:
    return redirect("prescriptions-counter-result", prescription_id)


@require_POST
@pharmacist_required
def counter_settle(request: HttpRequest, prescription_id: int) -> HttpResponse:
    try:
        settlement = services.settlement_settle(
            actor=request.user,
            prescription_id=prescription_id,
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, f"{exc.message}（{exc.code}）")
        return _back(prescription_id)
    messages.success(
        request, f"已结算 {settlement.settlement_no}：个人支付 {settlement.personal} 元"
    )
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
        messages.error(request, f"{exc.message}（{exc.code}）")
        return _back(prescription_id)
    messages.success(request, f"已冲销 {settlement.settlement_no}")
    return _back(settlement.prescription_id)
