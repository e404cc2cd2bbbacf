"""The pharmacy's 网上订单 queue [CX art. 22]: the pick-up code entered at the counter, orders to
prepare (dispensed at the counter), to ship, on the way (the hand-over recorded), holds about to
run out; and the pharmacy's hours, delivery area and fee."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.masking import mask_name
from dualchannel.registry.models import Region
from dualchannel.registry.regions import ancestors
from dualchannel.registry.selectors import public_regions

from . import error_codes as codes
from . import services
from .models import DeliveryStatus, OnlineOrder, OrderStatus
from .services.delivery import delivery_advance
from .views import pharmacist_required

OS = OrderStatus
EXPIRING_SOON = timedelta(hours=2)  # a hold ending within this is flagged


def _queue(request: HttpRequest):
    return (
        OnlineOrder.objects.filter(pharmacy_id=request.user.institution_id)
        .select_related("prescription", "prescription__patient", "dispensing")
        .prefetch_related("prescription__items__drug")
    )


def _rows(orders) -> list[dict]:
    return [
        {
            "order": o,
            "patient": mask_name(o.prescription.patient.name),
            "drugs": "、".join(
                f"{i.drug.generic_name}×{i.packages}" for i in o.prescription.items.all()
            ),
        }
        for o in orders
    ]


@require_GET
@pharmacist_required
def pharmacy_orders(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    queue = _queue(request)
    holding = queue.filter(status__in=(OS.READY, OS.PREPARING))
    context = {
        "to_prepare": _rows(
            holding.filter(status=OS.PREPARING, dispensing__isnull=True).order_by("created_at")
        ),
        "to_ship": _rows(
            holding.filter(status=OS.PREPARING, dispensing__isnull=False).order_by("created_at")
        ),
        "ready": _rows(queue.filter(status=OS.READY).order_by("window_start")),
        # boxes held for a patient still at the cashier: not to be sold to another meanwhile
        "awaiting_payment": _rows(queue.filter(status=OS.PENDING_PAYMENT).order_by("hold_until")),
        "shipped": _rows(queue.filter(status=OS.SHIPPED).order_by("updated_at")),
        "expiring": _rows(
            holding.filter(hold_until__lte=now + EXPIRING_SOON).order_by("hold_until")
        ),
        "terms": services.settings_of(request.user.institution_id),
    }
    return TemplateResponse(request, "prescriptions/pharmacy_orders.html", context)


@require_POST
@pharmacist_required
def pharmacy_order_code(request: HttpRequest) -> HttpResponse:
    """The patient's pick-up code: its order, once; then the counter's check → dispense."""
    try:
        order = services.order_redeem_code(actor=request.user, code=request.POST.get("code", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("prescriptions-pharmacy-orders")
    paid = (
        f"个人自付 {order.personal_due} 元已线上支付，无需收费；"
        if order.personal_due is not None
        else ""
    )
    messages.success(request, f"取药码有效：订单{order.order_no}，{paid}请核验身份后发药")
    return redirect("prescriptions-counter-rx", prescription_id=order.prescription_id)


def _own(request: HttpRequest, order_id: int) -> OnlineOrder:
    order = _queue(request).filter(pk=order_id).first()
    if order is None:
        raise NotFound(codes.ORDER_NOT_FOUND, "订单不存在")
    return order


@require_POST
@pharmacist_required
def pharmacy_order_ship(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _own(request, order_id)
    try:
        services.order_ship(
            actor=request.user,
            order_id=order.pk,
            carrier=request.POST.get("carrier", ""),
            tracking_no=request.POST.get("tracking_no", ""),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"订单{order.order_no}已发货")
    return redirect("prescriptions-pharmacy-orders")


@require_POST
@pharmacist_required
def pharmacy_order_handover(request: HttpRequest, order_id: int) -> HttpResponse:
    """The parcel handed over: who received it (and when, now)."""
    order = _own(request, order_id)
    to = DeliveryStatus.HANDED_OVER if order.mode == "cold_chain" else DeliveryStatus.DELIVERED
    try:
        if order.dispensing_id is None:
            raise DomainError(codes.ORDER_TRANSITION, "订单尚未发药")
        delivery_advance(
            actor=request.user,
            dispensing_id=order.dispensing_id,
            to_status=to,
            handed_over_by=request.POST.get("handed_over_by", ""),
            received_by=request.POST.get("received_by", ""),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"订单{order.order_no}已登记签收")
    return redirect("prescriptions-pharmacy-orders")


@require_POST
@pharmacist_required
def pharmacy_order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _own(request, order_id)
    try:
        services.order_cancel(
            actor=request.user, order_id=order.pk, reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        refunded = "，线上已付款项将全额原路退回" if order.payment_id else ""
        messages.success(request, f"订单{order.order_no}已取消，预留药品已释放{refunded}")
    return redirect("prescriptions-pharmacy-orders")


def _clock(value: str) -> time | None:
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        return None


# Names a region path leaves out (a city's "市辖区" grouping and the like).
UNNAMED = ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划")


def _region_label(region: Region) -> str:
    """The region by name from its province down (湖北省 武汉市 江岸区), never its code."""
    return " ".join(r.name for r in reversed(ancestors(region)) if r.name not in UNNAMED)


def _picked(post) -> str:
    """The region chosen in the picker: a county, else the whole city (a province alone is only
    the way to its cities, never an area)."""
    return (post.get("county") or post.get("city") or "").strip()


def _area_codes(request: HttpRequest, terms) -> list[str]:
    if request.method != "POST":
        return [r.code for r in terms.area.all()] if terms.pk else []
    codes_ = [c.strip() for c in request.POST.getlist("area") if c.strip()]
    picked = _picked(request.POST)
    return list(dict.fromkeys([*codes_, picked] if picked else codes_))


def _form_values(request: HttpRequest, terms) -> dict:
    if request.method != "POST":
        return {
            # a time, or the model's default ("08:00") where the pharmacy saved none
            "opens_at": str(terms.opens_at or "")[:5],
            "closes_at": str(terms.closes_at or "")[:5],
            "delivers": terms.delivers,
            "fee": terms.fee,
        }
    post = request.POST
    return {
        "opens_at": post.get("opens_at", ""),
        "closes_at": post.get("closes_at", ""),
        "delivers": post.get("delivers") == "1",
        "fee": post.get("fee", ""),
    }


def _settings_save(request: HttpRequest, area: list[str]) -> DomainError | None:
    # the form names the pharmacy it was shown for: a page left open under another pharmacy's
    # login saves nothing
    if request.POST.get("pharmacy_id") != str(request.user.institution_id):
        raise NotFound(codes.ORDER_NOT_FOUND, "药店不存在")
    try:
        fee = Decimal(request.POST.get("fee", "0") or "0")
    except InvalidOperation:
        fee = Decimal(-1)
    try:
        services.delivery_settings_save(
            actor=request.user,
            opens_at=_clock(request.POST.get("opens_at", "")),
            closes_at=_clock(request.POST.get("closes_at", "")),
            delivers=request.POST.get("delivers") == "1",
            fee=fee,
            area_codes=area,
        )
    except DomainError as exc:
        return exc
    return None


def _picker(request: HttpRequest) -> dict:
    """The province → city → county selects, opened at the pharmacy's own province."""
    region = request.user.institution.region
    province = ancestors(region)[-1] if region is not None else None
    return {
        "provinces": public_regions(),
        "province": province.code if province else "",
        "cities": public_regions(province.code) if province else [],
    }


@require_http_methods(["GET", "POST"])
@pharmacist_required
def pharmacy_order_settings(request: HttpRequest) -> HttpResponse:
    """The pharmacy's hours (pick-up windows), delivery area (chosen by name) and fee."""
    terms = services.settings_of(request.user.institution_id)
    area, error, adding = _area_codes(request, terms), None, "add" in request.POST
    if request.method == "POST" and not adding:
        error = _settings_save(request, area)
        if error is None:
            messages.success(request, "网订设置已保存")
            return redirect("prescriptions-pharmacy-order-settings")
    regions = Region.objects.filter(code__in=area).select_related("parent")
    context = {
        "form": _form_values(request, terms),
        "area": [(r.code, _region_label(r)) for r in sorted(regions, key=lambda r: r.code)],
        "added": adding and bool(_picked(request.POST)),
        "error": error,
        **_picker(request),
    }
    status = error.status if error else 200
    return TemplateResponse(
        request, "prescriptions/pharmacy_order_settings.html", context, status=status
    )
