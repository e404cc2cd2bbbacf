"""The patient's online order on the phone [CX art. 22]: 网订店取 (a window of the pharmacy's
hours, a pick-up code) or 网订店送 (a saved address inside its area, its fee); then the order's
steps, cancel, and the receipt confirmed."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.masking import mask_name, mask_phone
from dualchannel.prescriptions import error_codes as rx_codes
from dualchannel.prescriptions import services as rx_services
from dualchannel.prescriptions.models import (
    DeliveryMode,
    OnlineOrder,
    OrderStatus,
    PatientAddress,
    Prescription,
    PrescriptionStatus,
)
from dualchannel.registry.models import Region, RegionLevel

from .views import patient_required

OS = OrderStatus
# What the patient is shown as the order's steps, per mode.
STEPS = {
    DeliveryMode.ONLINE_PICKUP: (OS.READY, OS.PICKED_UP),
    DeliveryMode.HOME_DELIVERY: (OS.PENDING_PAYMENT, OS.PREPARING, OS.SHIPPED, OS.DELIVERED),
    DeliveryMode.COLD_CHAIN_TO_HOSPITAL: (OS.PREPARING, OS.SHIPPED, OS.DELIVERED),
}

# The pre-settlement's lines shown on the phone (the fund's and the person's, as a receipt says).
SPLIT_LABELS = (
    ("total", "医疗费总额"),
    ("fund", "统筹基金支付"),
    ("critical_illness", "大病保险支付"),
    ("assistance", "医疗救助支付"),
    ("commercial", "惠民保支付"),
    ("personal", "个人自付"),
)
ALWAYS_SHOWN = ("total", "fund", "personal")


def _own_routed(request: HttpRequest, prescription_id: int) -> Prescription:
    found = (
        Prescription.objects.filter(
            pk=prescription_id,
            patient_id=request.user.insured_person_id,
            status=PrescriptionStatus.ROUTED,
        )
        .select_related("pharmacy")
        .prefetch_related("items__drug")
        .first()
    )
    if found is None:
        raise NotFound(rx_codes.RX_NOT_FOUND, "处方不存在")
    return found


def _own_order(request: HttpRequest, order_id: int) -> OnlineOrder:
    found = (
        OnlineOrder.objects.filter(
            pk=order_id, prescription__patient_id=request.user.insured_person_id
        )
        .select_related("prescription", "pharmacy", "dispensing__delivery", "payment")
        .first()
    )
    if found is None:
        raise NotFound(rx_codes.ORDER_NOT_FOUND, "订单不存在")
    return found


def _addresses(request: HttpRequest) -> list[dict]:
    rows = PatientAddress.objects.filter(person_id=request.user.insured_person_id)
    return [
        {
            "pk": a.pk,
            "text": f"{a.region.name}{a.detail}",
            "recipient": f"{mask_name(a.recipient_name)} {mask_phone(a.recipient_phone)}",
        }
        for a in rows.select_related("region")
    ]


def _order_form(
    request: HttpRequest, prescription: Prescription, *, error=None, status: int = 200
) -> HttpResponse:
    terms = rx_services.settings_of(prescription.pharmacy_id)
    context = {
        "prescription": prescription,
        "drugs": "、".join(i.drug.generic_name for i in prescription.items.all()),
        "windows": rx_services.pickup_windows(prescription.pharmacy_id),
        "addresses": _addresses(request),
        "terms": terms,
        "area": ", ".join(r.name for r in terms.area.all()) if terms.pk else "",
        # the counties of the pharmacy's city (where it may deliver)
        "counties": Region.objects.filter(
            level=RegionLevel.COUNTY, code__startswith=prescription.pharmacy.region_id[:4]
        ).order_by("code"),
        "error": error,
    }
    return TemplateResponse(request, "portal/order_new.html", context, status=status)


@require_http_methods(["GET", "POST"])
@patient_required
def portal_order_new(request: HttpRequest, prescription_id: int) -> HttpResponse:
    """Choose 网订店取 (a window) or 网订店送 (a saved address), then place the order."""
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    prescription = _own_routed(request, prescription_id)
    if request.method == "GET":
        return _order_form(request, prescription)
    try:
        if request.POST.get("mode") == DeliveryMode.HOME_DELIVERY:
            address = request.POST.get("address_id", "")
            placed = rx_services.order_place_delivery(
                actor=request.user,
                prescription_id=prescription.pk,
                address_id=int(address) if address.isdigit() else 0,
            )
        else:
            placed = rx_services.order_place_pickup(
                actor=request.user,
                prescription_id=prescription.pk,
                window_start=_window(request.POST.get("window", "")),
                # 在线支付: the personal part on the phone now; else (到店支付) at the counter
                pay_online=request.POST.get("pickup_pay") == "online",
            )
    except NotFound:
        raise
    except DomainError as exc:
        return _order_form(request, prescription, error=exc, status=exc.status)
    if placed.pickup_code and placed.order.status == OS.PENDING_PAYMENT:
        messages.success(
            request,
            f"药品已为您预留，取药码 {placed.pickup_code}（已同时发送至我的消息）；"
            "请核对医保预结算后在线支付，支付后凭取药码到店取药",
        )
    elif placed.pickup_code:
        messages.success(request, f"已预留，取药码 {placed.pickup_code}（已同时发送至我的消息）")
    elif placed.order.status == OS.PENDING_PAYMENT and placed.order.personal_due is not None:
        # the pre-settlement first: the patient sees what the fund pays and what is theirs
        messages.success(request, "订单已提交，药品已为您预留，请核对医保预结算后支付")
    elif placed.order.status == OS.PENDING_PAYMENT:
        return _to_cashier(request, placed.order)
    else:
        messages.success(request, "订单已提交，药店备药后将为您配送")
    return redirect("portal-order", order_id=placed.order.pk)


def _to_cashier(request: HttpRequest, order: OnlineOrder) -> HttpResponse:
    """The payment's cashier page (the provider's); back to the order if it cannot open."""
    try:
        payment = rx_services.order_payment_open(actor=request.user, order_id=order.pk)
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, f"{exc.message}（订单已保留，请稍后在订单页支付）")
        return redirect("portal-order", order_id=order.pk)
    return redirect(payment.pay_url)


@require_POST
@patient_required
def portal_order_pay(request: HttpRequest, order_id: int) -> HttpResponse:
    """Pay the personal part and the fee (or again, after leaving the cashier): the same
    payment reopens."""
    return _to_cashier(request, _own_order(request, order_id))


def _window(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return datetime.fromisoformat("2000-01-01T00:00:00+08:00")  # no window: refused


@require_POST
@patient_required
def portal_address_add(request: HttpRequest, prescription_id: int) -> HttpResponse:
    """Save a delivery address, back to the order form (a refusal is shown there)."""
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    prescription = _own_routed(request, prescription_id)
    try:
        rx_services.address_add(
            actor=request.user,
            region_code=request.POST.get("region", ""),
            detail=request.POST.get("detail", ""),
            recipient_name=request.POST.get("recipient_name", ""),
            recipient_phone=request.POST.get("recipient_phone", ""),
        )
    except DomainError as exc:
        return _order_form(request, prescription, error=exc, status=exc.status)
    messages.success(request, "收货地址已保存")
    return redirect("portal-order-new", prescription_id=prescription.pk)


@require_GET
@patient_required
def portal_order(request: HttpRequest, order_id: int) -> HttpResponse:
    """The order's steps, its window or address, and what the patient may do next."""
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    order = _own_order(request, order_id)
    done = {h.to_status: h.at for h in order.history.all()}
    shown = STEPS[order.mode]
    if order.mode == DeliveryMode.ONLINE_PICKUP and order.personal_due is not None:
        shown = (OS.PENDING_PAYMENT, *shown)  # 在线支付 chosen: paid first
    steps = [(OS(s).label, done.get(s)) for s in shown]
    context = {
        "order": order,
        "steps": steps,
        "ended": order.status in (OS.CANCELLED, OS.EXPIRED),
        "recipient": f"{mask_name(order.recipient_name)} {mask_phone(order.recipient_phone)}",
        "can_cancel": order.status in (OS.PENDING_PAYMENT, OS.READY, OS.PREPARING),
        "can_pay": order.status == OS.PENDING_PAYMENT,
        "pickup": order.mode == DeliveryMode.ONLINE_PICKUP,
        "paid_online": order.payment is not None and order.payment.paid_amount is not None,
        "can_confirm": order.status == OS.SHIPPED and order.mode == DeliveryMode.HOME_DELIVERY,
        "due": rx_services.amount_due(order),
        "split": [
            (label, order.presettlement[name])
            for name, label in SPLIT_LABELS
            if name in order.presettlement
            and (name in ALWAYS_SHOWN or order.presettlement[name] != "0.00")
        ],
    }
    return TemplateResponse(request, "portal/order.html", context)


@require_POST
@patient_required
def portal_order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _own_order(request, order_id)
    try:
        rx_services.order_cancel(actor=request.user, order_id=order.pk)
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("portal-order", order_id=order.pk)


@require_POST
@patient_required
def portal_order_received(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _own_order(request, order_id)
    try:
        rx_services.order_confirm_received(actor=request.user, order_id=order.pk)
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "已确认收货")
    return redirect("portal-order", order_id=order.pk)
