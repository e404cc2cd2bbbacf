"""The pharmacy's own pages above the counter [issue 12, points 1 and 4]: the home page as a work
queue (prescriptions routed here, deliveries to hand over, stock running low or expiring, uploads
that failed), the day's settlements with their totals, and the monthly 申报 (prepare, reconcile,
apply). Every write is a settlement service's (``batches``, ``reconcile``); these pages read and
call them.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.masking import mask_name
from dualchannel.core.months import previous_month
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.inventory.selectors import stock_attention, uploads_failed
from dualchannel.prescriptions.models import Delivery, DeliveryStatus, Prescription
from dualchannel.prescriptions.models import PrescriptionStatus as RxStatus

from . import error_codes as codes
from .models import BatchStatus, Settlement, SettlementBatch, SettlementStatus
from .models import UploadStatus as SettlementUpload
from .services import batches, reconcile

pharmacist_required = role_required(Role.PHARMACIST)
AMOUNTS = [
    ("total", "医疗费总额"),
    ("fund", "统筹基金支付"),
    ("critical_illness", "大病保险支付"),
    ("assistance", "医疗救助支付"),
    ("commercial", "惠民保支付"),
    ("personal", "个人现金支付"),
]
OPEN_DELIVERIES = [DeliveryStatus.PREPARING, DeliveryStatus.READY, DeliveryStatus.IN_TRANSIT]
QUEUE_ROWS = 20  # rows shown per queue section; the count says how many there are


def _pharmacy_id(request: HttpRequest) -> int:
    if request.user.institution_id is None:
        raise NotFound("settlement.pharmacy_not_found", "您的账号未关联药店")
    return request.user.institution_id


# --- the home page: a work queue ---------------------------------------------------------------


@require_GET
@pharmacist_required
def pharmacy_home(request: HttpRequest) -> HttpResponse:
    """What waits for the pharmacy today, each with its count and the oldest first."""
    pharmacy_id = _pharmacy_id(request)
    today = timezone.localdate()
    routed = (
        Prescription.objects.filter(pharmacy_id=pharmacy_id, status=RxStatus.ROUTED)
        .select_related("patient", "hospital")
        .order_by("routed_at", "pk")
    )
    deliveries = (
        Delivery.objects.filter(dispensing__pharmacy_id=pharmacy_id, status__in=OPEN_DELIVERIES)
        .select_related("dispensing__prescription", "destination")
        .order_by("dispensing__dispensed_at", "pk")
    )
    low, expiring = stock_attention(pharmacy_id, today)
    failed_moves = uploads_failed(pharmacy_id)
    failed_settlements = Settlement.objects.filter(
        institution_id=pharmacy_id,
        upload_status__in=[SettlementUpload.FAILED, SettlementUpload.DEAD],
    ).order_by("settled_at", "pk")
    context = {
        "today": today,
        "routed": [(rx, mask_name(rx.patient.name)) for rx in routed[:QUEUE_ROWS]],
        "routed_count": routed.count(),
        "deliveries": list(deliveries[:QUEUE_ROWS]),
        "deliveries_count": deliveries.count(),
        "low": low[:QUEUE_ROWS],
        "low_count": len(low),
        "expiring": expiring[:QUEUE_ROWS],
        "expiring_count": len(expiring),
        "failed_moves": list(failed_moves[:QUEUE_ROWS]),
        "failed_settlements": list(failed_settlements[:QUEUE_ROWS]),
        "failed_count": failed_moves.count() + failed_settlements.count(),
    }
    return TemplateResponse(request, "settlement/pharmacy_home.html", context)


# --- the day's settlements ---------------------------------------------------------------------


def _day(request: HttpRequest) -> date:
    raw = request.GET.get("day", "").strip()
    try:
        return date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        return timezone.localdate()


def _sums(rows: list[Settlement]) -> dict[str, Decimal]:
    return {name: sum((getattr(s, name) for s in rows), Decimal("0.00")) for name, _ in AMOUNTS}


@require_GET
@pharmacist_required
def pharmacy_settlements(request: HttpRequest) -> HttpResponse:
    """The settlements of one day at this pharmacy, with their totals (reversed ones apart)."""
    pharmacy_id = _pharmacy_id(request)
    day = _day(request)
    rows = list(
        Settlement.objects.filter(institution_id=pharmacy_id, settled_on=day)
        .select_related("person", "prescription")
        .order_by("settled_at", "pk")
    )
    live = [s for s in rows if s.status == SettlementStatus.SETTLED]
    sums = _sums(live)
    context = {
        "day": day,
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1) if day < timezone.localdate() else None,
        "rows": [(s, mask_name(s.person.name) if s.person_id else "") for s in rows],
        "live_count": len(live),
        "reversed_count": len(rows) - len(live),
        "totals": [(label, sums[name]) for name, label in AMOUNTS],
        "amount_names": AMOUNTS,
    }
    return TemplateResponse(request, "settlement/pharmacy_settlements.html", context)


# --- the monthly 申报 -----------------------------------------------------------------------------


def _months(today: date, count: int = 12) -> list[date]:
    first = today.replace(day=1)
    months = [first]
    while len(months) < count:
        months.append(previous_month(months[-1]))
    return months


def _month(raw: str, today: date) -> date | None:
    try:
        year, month = (int(x) for x in raw.split("-")[:2])
        chosen = date(year, month, 1)
    except (ValueError, TypeError):
        return None
    return chosen if chosen in _months(today, 24) else None


def _declare(request: HttpRequest, pharmacy_id: int, month: date) -> SettlementBatch:
    """One action of the declaration form; the service refuses what may not be done."""
    action = request.POST.get("action", "")
    if action == "prepare":
        if not (
            batches.month_settlements(request.user.institution, month)
            .filter(status=SettlementStatus.SETTLED)
            .exists()
            or SettlementBatch.objects.filter(institution_id=pharmacy_id, month=month).exists()
        ):
            raise DomainError(codes.BATCH_EMPTY, "本月没有结算记录，无需申报")
        batch = batches.batch_prepare(actor=request.user, institution_id=pharmacy_id, month=month)
        messages.success(
            request, f"已汇总{month.year}年{month.month}月结算：{batch.settlement_count}笔"
        )
        return batch
    batch = _batch_of(request, pharmacy_id, month)
    if action == "reconcile":
        batch = reconcile.batch_reconcile(actor=request.user, batch_id=batch.pk)
        if batch.reconciliation_matched:
            messages.success(request, "对账一致，可以申报")
        else:
            messages.warning(request, f"对账存在{len(batch.mismatches)}条差异，请核对")
        return batch
    if action == "apply":
        batch = batches.batch_apply(
            actor=request.user,
            batch_id=batch.pk,
            acknowledge_mismatches=request.POST.get("acknowledge") == "1",
            note=request.POST.get("note", ""),
        )
        messages.success(request, f"已向经办机构申报{month.year}年{month.month}月结算")
        return batch
    raise DomainError("settlement.action_invalid", "请选择要办理的申报步骤")


def _batch_of(request: HttpRequest, pharmacy_id: int, month: date) -> SettlementBatch:
    batch = SettlementBatch.objects.filter(
        institution_id=pharmacy_id, month=month, pk=request.POST.get("batch_id") or 0
    ).first()
    if batch is None:
        raise DomainError("settlement.batch_required", "请先汇总本月结算")
    return batch


@require_http_methods(["GET", "POST"])
@pharmacist_required
def pharmacy_declaration(request: HttpRequest) -> HttpResponse:
    """Prepare the month's batch, reconcile it with the platform, apply to the agency."""
    pharmacy_id = _pharmacy_id(request)
    today = timezone.localdate()
    raw = request.POST.get("month") or request.GET.get("month", "")
    month = _month(raw, today) if raw else today.replace(day=1)
    error = None
    if month is None:
        error = DomainError("settlement.invalid_month", "请从列表中选择结算月份")
        month = today.replace(day=1)
    elif request.method == "POST":
        try:
            _declare(request, pharmacy_id, month)
        except NotFound:
            raise
        except DomainError as exc:
            error = exc
        else:
            return redirect(f"{reverse('pharmacy-declaration')}?month={month:%Y-%m}")
    month_rows = list(
        Settlement.objects.filter(
            institution_id=pharmacy_id,
            settled_on__gte=month,
            settled_on__lte=batches.month_bounds(month)[1],
            status=SettlementStatus.SETTLED,
        )
    )
    sums = _sums(month_rows)
    context = {
        "month": month,
        "months": _months(today),
        "batches": list(
            SettlementBatch.objects.filter(institution_id=pharmacy_id, month=month).order_by("pk")
        ),
        "month_count": len(month_rows),
        "month_totals": [(label, sums[name]) for name, label in AMOUNTS],
        "frozen": [BatchStatus.APPLIED, BatchStatus.APPROVED],
        "error": error,
    }
    status = error.status if error is not None else 200
    return TemplateResponse(request, "settlement/pharmacy_declaration.html", context, status=status)
