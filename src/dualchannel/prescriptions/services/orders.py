"""Online orders of a routed prescription [CX art. 22]: 网订店取 (a pick-up code and a window,
the boxes held until the window ends; the personal part paid at the counter, or on the phone
first if the patient chooses, ``online_payment``) or 网订店送 (a saved address inside the
pharmacy's area, its fee; cold-chain drugs only where the pharmacy keeps the chain [HB art. 29]).

The pharmacist dispenses the order at the counter (``counter_dispense`` takes the held boxes and
the order's way to the patient, ``order_on_dispensed``), ships it (``order_ship``) and the patient
confirms receipt (``order_confirm_received``) or the pharmacist records the hand-over
(``delivery_advance``, which moves the order with its delivery). An order whose time runs out
expires and gives its boxes back (``orders_expire``, a periodic job).

A refusal writes nothing and is logged with its code only (no personal data).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import DomainError, NotFound, PermissionDenied
from dualchannel.core.jobs import enqueue
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.inventory.holds import (
    stock_hold_consume,
    stock_hold_extend,
    stock_hold_place,
    stock_hold_release,
    stock_holds_lock,
)
from dualchannel.notifications.services import notify
from dualchannel.payments.models import PaymentOrder, PaymentStatus
from dualchannel.payments.services import payment_refund
from dualchannel.registry.models import Region

from .. import error_codes as codes
from ..models import (
    HOLDING_ORDER,
    OPEN_ORDER,
    DeliveryMode,
    DeliveryStatus,
    Dispensing,
    OnlineOrder,
    OrderStatus,
    PatientAddress,
    PharmacyDeliverySettings,
    Prescription,
    PrescriptionStatus,
)
from ..workflow import drug_names, sale_reference
from .common import day_or_today, locked_prescription
from .counter_checks import PHONE
from .delivery import delivery_advance, delivery_receive
from .online_payment import (
    amount_due,
    dispense_check,
    online_payment_available,
    order_quote,
    pays_personal_online,
    ship_settle,
)

logger = logging.getLogger(__name__)
OS = OrderStatus
M = DeliveryMode

ORDER_EXPIRE_JOB = "prescriptions.order_expire"
WINDOW_HOURS = 2  # a pick-up window is two hours of the pharmacy's opening hours
WINDOW_DAYS = 3  # windows from today to the day after tomorrow
DELIVERY_HOLD_HOURS = 48  # a delivery order's boxes are held while the pharmacy prepares it
# an online payment is made within this (a pick-up order's not beyond its window), the boxes
# held meanwhile
PAY_TIME = timedelta(minutes=30)
PROGRESS = {
    OS.PENDING_PAYMENT: "已提交，请在30分钟内完成支付，逾期订单将自动取消",
    OS.READY: "已预留，请凭取药码{code}于{window}到{pharmacy}取药",
    OS.PREPARING: "已提交，{pharmacy}正在备药",
    OS.SHIPPED: "已由{pharmacy}发出（{carrier} 运单号{tracking_no}）",
    OS.PICKED_UP: "已在{pharmacy}取药",
    OS.DELIVERED: "已送达并签收",
    OS.CANCELLED: "已取消，预留的药品已释放",
    OS.EXPIRED: "已超过保留时间未取，订单已过期，预留的药品已释放",
}
# 网订店取 paid online: the code is given when the order is placed, before it is paid
PICKUP_PAY_PROGRESS = (
    "已提交，请于{pay_by}前在线支付个人自付部分，逾期订单将自动取消；"
    "支付后请凭取药码{code}于{window}到{pharmacy}取药"
)
PICKUP_PAID_PROGRESS = (
    "已在线支付，药品已为您预留，请凭取药码（见下单时的消息）于{window}到{pharmacy}取药"
)


def _refuse(error: DomainError) -> DomainError:
    """Log a refusal by its code only (no name, number or address), then raise it."""
    logger.info("online order refused: %s", error.code)
    return error


def code_digest(pharmacy_id: int, code: str) -> str:
    """The pick-up code as a keyed hash per pharmacy (the code itself is not kept)."""
    message = f"dualchannel.orders.pickup:{pharmacy_id}:{code.strip()}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


# --- reads the pages share ---------------------------------------------------------------------


def settings_of(pharmacy_id: int) -> PharmacyDeliverySettings:
    """The pharmacy's online-order settings (the defaults where it saved none)."""
    found = PharmacyDeliverySettings.objects.filter(pharmacy_id=pharmacy_id).first()
    return found or PharmacyDeliverySettings(pharmacy_id=pharmacy_id)


def pickup_windows(
    pharmacy_id: int, now: datetime | None = None
) -> list[tuple[datetime, datetime]]:
    """The two-hour windows of the pharmacy's opening hours still to come, over three days."""
    now = timezone.localtime(now or timezone.now())
    hours = settings_of(pharmacy_id)
    windows = []
    for offset in range(WINDOW_DAYS):
        day = now.date() + timedelta(days=offset)
        start = timezone.make_aware(datetime.combine(day, _time(hours.opens_at)))
        close = timezone.make_aware(datetime.combine(day, _time(hours.closes_at)))
        while start < close:
            end = min(start + timedelta(hours=WINDOW_HOURS), close)
            if end > now:
                windows.append((start, end))
            start = end
    return windows


def _time(value):
    return time.fromisoformat(value) if isinstance(value, str) else value


def in_area(pharmacy_settings: PharmacyDeliverySettings, region_code: str) -> bool:
    """A region is delivered to when it is one of the area's regions or lies under one."""
    if pharmacy_settings.pk is None:
        return False
    return any(region_code.startswith(r.code_prefix) for r in pharmacy_settings.area.all())


def needs_cold_chain(prescription: Prescription) -> bool:
    return any(i.drug.is_injectable or i.drug.needs_cold_chain for i in prescription.items.all())


# --- placing an order --------------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    order: OnlineOrder
    pickup_code: str = ""  # shown to the patient once (网订店取)


def _own_orderable(actor: User, prescription_id: int, today: date | None) -> Prescription:
    """The caller's own routed prescription, locked; another person's is not found."""
    if not (actor and actor.is_authenticated and actor.has_role(Role.PATIENT)):
        raise _refuse(PermissionDenied(message="请以参保人本人账号下单"))
    prescription = locked_prescription(prescription_id)
    if prescription.patient_id != actor.insured_person_id:
        raise _refuse(NotFound(codes.RX_NOT_FOUND, "处方不存在"))
    if (
        prescription.status != PrescriptionStatus.ROUTED
        or prescription.pharmacy_id is None
        or prescription.valid_until < day_or_today(today)
    ):
        raise _refuse(
            DomainError(codes.ORDER_NOT_ORDERABLE, "处方未流转至药店或已失效，不能网上下单")
        )
    if prescription.online_orders.filter(status__in=OPEN_ORDER).exists():
        raise _refuse(DomainError(codes.ORDER_NOT_ORDERABLE, "该处方已有进行中的网上订单"))
    return prescription


def _new_order_no(now: datetime) -> str:
    return f"WD{timezone.localtime(now):%Y%m%d}{secrets.randbelow(10**10):010d}"


def _new_pickup_code(pharmacy_id: int) -> tuple[str, str]:
    """An eight-digit code never given before at this pharmacy (its digest is unique there)."""
    for _attempt in range(10):
        code = f"{secrets.randbelow(10**8):08d}"
        digest = code_digest(pharmacy_id, code)
        if not OnlineOrder.objects.filter(pharmacy_id=pharmacy_id, pickup_code_digest=digest):
            return code, digest
    raise RuntimeError("no free pick-up code")  # 10^8 codes: not reached in practice


def _hold_and_save(actor: User, prescription: Prescription, order: OnlineOrder) -> OnlineOrder:
    wanted: dict[int, int] = {}
    for item in prescription.items.all():
        wanted[item.drug_id] = wanted.get(item.drug_id, 0) + item.packages
    stock_hold_place(
        actor=actor,
        pharmacy_id=prescription.pharmacy_id,
        wanted=wanted,
        reference=sale_reference(prescription),
        expires_at=order.hold_until,
        person=prescription.patient,
    )
    order.save()
    order.history.create(from_status="", to_status=order.status, actor=actor)
    _queue_expiry(order, key=f"order-expire:{order.pk}", new_key=True)
    return order


def _queue_expiry(order: OnlineOrder, *, key: str, new_key: bool = False) -> None:
    """The order expires the moment its hold runs out (the job checks it is still due)."""
    enqueue(
        ORDER_EXPIRE_JOB,
        {"order_id": order.pk},
        run_after=order.hold_until,
        key=key,
        new_key=new_key,
        institution_id=order.pharmacy_id,
    )


def order_place_pickup(
    *,
    actor: User,
    prescription_id: int,
    window_start: datetime,
    pay_online: bool = False,
    today: date | None = None,
) -> Placed:
    """网订店取: hold the boxes until the chosen window ends; the patient gets a pick-up code.
    ``pay_online`` (在线支付): the held boxes are pre-settled and the personal part paid on the
    phone first (待支付, the boxes held for the payment's time, not beyond the window), then the
    order waits for its window (待取药); else (到店支付) it is paid at the counter."""
    if pay_online and not online_payment_available():
        raise _refuse(
            DomainError(codes.ORDER_PAYMENT_UNAVAILABLE, "暂不支持在线支付，请选择到店支付")
        )
    with transaction.atomic():
        prescription = _own_orderable(actor, prescription_id, today)
        if needs_cold_chain(prescription):
            raise _refuse(
                DomainError(
                    codes.ORDER_MODE_INVALID,
                    "注射剂或冷链药品须由药店冷链配送至就诊医疗机构，请选择网订店送",
                )
            )
        window = next(
            (w for w in pickup_windows(prescription.pharmacy_id) if w[0] == window_start), None
        )
        if window is None:
            raise _refuse(
                DomainError(
                    codes.ORDER_WINDOW_INVALID,
                    "请选择药店营业时间内的取药时段",
                    fields={"window": ["无效"]},
                )
            )
        code, digest = _new_pickup_code(prescription.pharmacy_id)
        now = timezone.now()
        order = OnlineOrder(
            order_no=_new_order_no(now),
            prescription=prescription,
            pharmacy_id=prescription.pharmacy_id,
            mode=M.ONLINE_PICKUP,
            status=OS.PENDING_PAYMENT if pay_online else OS.READY,
            pickup_code_digest=digest,
            window_start=window[0],
            window_end=window[1],
            hold_until=min(now + PAY_TIME, window[1]) if pay_online else window[1],
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        _hold_and_save(actor, prescription, order)
        if pay_online:
            _price_online(actor, order)
        _record(actor, order, "order_placed")
        order_notify(actor, order, code=code)
    return Placed(order, code)


def _delivery_terms(prescription: Prescription, address: PatientAddress) -> tuple[str, Decimal]:
    """The delivery mode and fee, or the refusal: the pharmacy's area, fee and cold chain."""
    pharmacy = prescription.pharmacy
    if needs_cold_chain(prescription):
        # HB art. 29: only a pharmacy that keeps the chain delivers, free, to the hospital
        if not pharmacy.has_cold_chain:
            raise _refuse(
                DomainError(
                    codes.ORDER_COLD_CHAIN_UNAVAILABLE,
                    "该药店不具备冷链储存配送条件，不能配送注射剂或冷链药品",
                )
            )
        return M.COLD_CHAIN_TO_HOSPITAL, Decimal(0)
    terms = settings_of(pharmacy.pk)
    if not terms.delivers:
        raise _refuse(DomainError(codes.ORDER_NO_DELIVERY, "该药店暂不提供网订店送"))
    if not in_area(terms, address.region_id):
        raise _refuse(
            DomainError(
                codes.ORDER_OUTSIDE_AREA,
                "收货地址不在该药店的配送范围内",
                fields={"address": ["超出配送范围"]},
            )
        )
    return M.HOME_DELIVERY, terms.fee


def order_place_delivery(
    *, actor: User, prescription_id: int, address_id: int, today: date | None = None
) -> Placed:
    """网订店送: to a saved address inside the pharmacy's area, for its fee."""
    with transaction.atomic():
        prescription = _own_orderable(actor, prescription_id, today)
        address = PatientAddress.objects.filter(
            pk=address_id, person_id=actor.insured_person_id
        ).first()
        if address is None:
            raise _refuse(
                DomainError(
                    codes.ORDER_ADDRESS_INVALID, "请选择收货地址", fields={"address": ["无效"]}
                )
            )
        mode, fee = _delivery_terms(prescription, address)
        now = timezone.now()
        # a fee (and the personal part, ``online_payment``) is paid online first
        # (``order_payment_open``), the boxes held meanwhile
        pay_first = fee > 0 or pays_personal_online(mode)
        order = OnlineOrder(
            order_no=_new_order_no(now),
            prescription=prescription,
            pharmacy_id=prescription.pharmacy_id,
            mode=mode,
            status=OS.PENDING_PAYMENT if pay_first else OS.PREPARING,
            region_id=address.region_id,
            address=f"{address.region.name}{address.detail}"[:200],
            recipient_name=address.recipient_name,
            recipient_phone=address.recipient_phone,
            fee=fee,
            hold_until=now + (PAY_TIME if pay_first else timedelta(hours=DELIVERY_HOLD_HOURS)),
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        _hold_and_save(actor, prescription, order)
        if pays_personal_online(mode):
            _price_online(actor, order)
        _record(actor, order, "order_placed")
        order_notify(actor, order)
    return Placed(order)


def _record(actor: User | None, order: OnlineOrder, what: str) -> None:
    audit.record(
        actor=actor,
        action=f"prescriptions.{what}",
        subject=order,
        after=order,
        patient=order.prescription.patient,
        summary={
            "order_no": order.order_no,
            "prescription_no": order.prescription.prescription_no,
            "mode": order.mode,
            "fee": str(order.fee),
        },
    )


def _price_online(actor: User, order: OnlineOrder) -> None:
    """In the placing transaction: the held boxes pre-settled, the personal part (and any fee)
    to pay now; with nothing due (the fund pays all, no fee) the order moves on at once, to the
    pharmacy (delivery) or to wait for its window (pick-up)."""
    order_quote(actor, order)
    if amount_due(order) == 0:
        order_paid_advance(None, order, reason="无需线上支付", actor=actor, placed_here=True)


def order_paid_advance(
    payment: PaymentOrder | None,
    order: OnlineOrder,
    *,
    reason: str,
    actor: User | None = None,
    placed_here: bool = False,
) -> None:
    """Paid online (or nothing was due), in the payment's (or the placing) transaction: a
    delivery order goes to the pharmacy, its boxes held while it prepares; a pick-up order waits
    for its window, its boxes held until the window ends (its own expiry job then)."""
    if order.mode == M.ONLINE_PICKUP:
        to, until = OS.READY, order.window_end
    else:
        to, until = OS.PREPARING, timezone.now() + timedelta(hours=DELIVERY_HOLD_HOURS)
    stock_hold_extend(
        reference=sale_reference(order.prescription), expires_at=until, placed_here=placed_here
    )
    changes: dict[str, object] = {"hold_until": until}
    if payment is not None:
        changes["payment"] = payment
    transition(order, to, actor=actor, reason=reason, changes=changes)
    if to == OS.READY:
        _queue_expiry(order, key=f"order-expire:{order.pk}:ready")


def order_notify(actor: User | None, order: OnlineOrder, *, code: str = "") -> None:
    prescription = order.prescription
    window = ""
    if order.window_start:
        start, end = timezone.localtime(order.window_start), timezone.localtime(order.window_end)
        window = f"{start:%m月%d日 %H:%M}–{end:%H:%M}"
    progress = PROGRESS[order.status]
    if order.mode == M.ONLINE_PICKUP and order.personal_due is not None:
        if order.status == OS.PENDING_PAYMENT:
            progress = PICKUP_PAY_PROGRESS
        elif order.status == OS.READY and not code:
            progress = PICKUP_PAID_PROGRESS
    notify(
        template="prescriptions.order",
        context={
            "drug_name": drug_names(prescription),
            "order_no": order.order_no,
            "prescription_no": prescription.prescription_no,
            "status": OS(order.status).label,
            "progress": progress.format(
                code=code,
                window=window,
                pay_by=f"{timezone.localtime(order.hold_until):%m月%d日 %H:%M}",
                pharmacy=order.pharmacy.name,
                carrier=order.carrier,
                tracking_no=order.tracking_no,
            ),
        },
        person=prescription.patient,
        actor=actor,
    )


# --- the order's way after placing -------------------------------------------------------------


def locked_order(order_id: int) -> OnlineOrder:
    order = (
        OnlineOrder.objects.select_for_update(of=("self",))
        .select_related("prescription", "prescription__patient", "pharmacy")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise _refuse(NotFound(codes.ORDER_NOT_FOUND, "订单不存在"))
    return order


def _is_pharmacist_of(actor: User, pharmacy_id: int) -> bool:
    return bool(actor and actor.is_authenticated and actor.has_role(Role.PHARMACIST)) and (
        actor.institution_id == pharmacy_id
    )


def end_order(actor: User | None, order: OnlineOrder, to: str, reason: str) -> OnlineOrder:
    """Cancelled or expired: the held boxes go back to sale; the patient is told."""
    changes = {"cancel_reason": reason[:200]} if to == OS.CANCELLED else {}
    stock_hold_release(  # core.locks: the holds before the audit chain's head
        actor=actor,
        reference=sale_reference(order.prescription),
        reason=reason,
        person=order.prescription.patient,
    )
    transition(order, to, actor=actor, reason=reason, changes=changes)
    order_notify(actor, order)
    return order


def order_cancel(*, actor: User, order_id: int, reason: str = "") -> OnlineOrder:
    """The patient (own order) or the pharmacy cancels an order not yet dispensed."""
    with transaction.atomic():
        order = locked_order(order_id)
        own = (
            actor.has_role(Role.PATIENT)
            and actor.insured_person_id == order.prescription.patient_id
        )
        if not (own or _is_pharmacist_of(actor, order.pharmacy_id)):
            raise _refuse(NotFound(codes.ORDER_NOT_FOUND, "订单不存在"))
        if order.status not in HOLDING_ORDER or order.dispensing_id is not None:
            raise _refuse(DomainError(codes.ORDER_TRANSITION, "订单已发药，不能取消"))
        reason = (reason or "").strip() or ("参保人取消" if own else "药店取消")
        # core.locks: the holds, then the payment (its refund), then the holds released
        stock_holds_lock(sale_reference(order.prescription))
        refund_if_paid(actor=actor, order=order, reason=f"取消网上订单：{reason}")
        return end_order(actor, order, OS.CANCELLED, reason)


def refund_if_paid(*, actor: User | None, order: OnlineOrder, reason: str) -> None:
    """What was paid (the fee, the personal part) goes back when the order ends before it is
    dispensed (nothing was settled with the fund yet)."""
    if order.payment_id is None:
        return
    payment = PaymentOrder.objects.get(pk=order.payment_id)
    if payment.status in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED):
        left = payment.paid_amount - payment.refunded_amount
        payment_refund(payment, left, reason[:80], f"online-order-end:{order.pk}", actor=actor)


def order_redeem_code(*, actor: User, code: str) -> OnlineOrder:
    """The pharmacist enters the patient's pick-up code: its order, once; used twice refused."""
    if not _is_pharmacist_of(actor, actor.institution_id if actor else None):
        raise _refuse(PermissionDenied(message="仅本店药师可核销取药码"))
    code = (code or "").strip()
    if not (code.isdigit() and len(code) == 8):
        raise _refuse(
            DomainError(codes.ORDER_CODE_INVALID, "取药码为8位数字", fields={"code": ["无效"]})
        )
    digest = code_digest(actor.institution_id, code)
    with transaction.atomic():
        found = OnlineOrder.objects.filter(
            pharmacy_id=actor.institution_id, pickup_code_digest=digest
        ).values_list("pk", flat=True)
        if not found:
            raise _refuse(DomainError(codes.ORDER_CODE_INVALID, "取药码无效"))
        order = locked_order(found[0])
        if order.pickup_code_used_at is not None:
            raise _refuse(DomainError(codes.ORDER_CODE_USED, "该取药码已使用，不能重复取药"))
        if order.status == OS.PENDING_PAYMENT:
            raise _refuse(
                DomainError(
                    codes.ORDER_NOT_PAID,
                    "该订单选择了在线支付但尚未支付，请参保人先完成支付，或取消订单后到店购药",
                )
            )
        if order.status != OS.READY or order.hold_until <= timezone.now():
            raise _refuse(DomainError(codes.ORDER_CODE_INVALID, "订单已取消或已过期，取药码不可用"))
        order.pickup_code_used_at = timezone.now()
        order.save(update_fields=["pickup_code_used_at", "updated_at"])
        audit.record(
            actor=actor,
            action="prescriptions.order_code_used",
            subject=order,
            patient=order.prescription.patient,
            summary={"order_no": order.order_no},
        )
    return order


def holding_order_id(prescription: OuterRef | int) -> Subquery:
    """The id of a prescription's newest order holding stock, as a subquery (``prescription``:
    ``OuterRef("pk")`` in a read of prescriptions): the counter's locked read carries it."""
    return Subquery(
        OnlineOrder.objects.filter(prescription_id=prescription, status__in=HOLDING_ORDER)
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )


def open_order(order_id: int | None) -> OnlineOrder | None:
    """The order waiting at the pharmacy (stock held; its id from ``holding_order_id``), locked;
    None if none."""
    return None if order_id is None else locked_order(order_id)


def order_delivery_fields(order: OnlineOrder) -> dict[str, object]:
    """What the counter's delivery row takes from the order (mode, address, fee)."""
    return {
        "mode": order.mode,
        "address": order.address,
        "recipient_name": order.recipient_name,
        "recipient_phone": order.recipient_phone,
        "fee": order.fee,
    }


def order_take_holds(*, actor: User, order: OnlineOrder) -> None:
    """In the counter's transaction, before its sale locks the batches: a pick-up order is
    dispensed only after its code was entered; its holds are locked now (before the batches),
    ended as sold after the sale (``order_on_dispensed``)."""
    if order.mode == M.ONLINE_PICKUP and order.pickup_code_used_at is None:
        raise _refuse(
            DomainError(codes.ORDER_CODE_REQUIRED, "网订店取订单须先核验取药码，再审核发药")
        )
    if order.status == OS.PENDING_PAYMENT:
        raise _refuse(DomainError(codes.ORDER_NOT_PAID, "订单尚未在线支付，暂不能发药"))
    stock_holds_lock(sale_reference(order.prescription))


def order_on_dispensed(
    *, actor: User, order: OnlineOrder, dispensing: Dispensing, received_by: str
) -> None:
    """In the counter's transaction, after the sale: the order names its dispensing; a pick-up
    order is handed over at once (who received it, when), a delivery order waits to be shipped.
    An order paid online is dispensed only if the dispensed boxes ask what was paid (while it is
    not dispensed it may still be cancelled, refunded in full)."""
    dispense_check(actor, order)
    stock_hold_consume(
        actor=actor, reference=sale_reference(order.prescription), person=order.prescription.patient
    )
    order.dispensing = dispensing
    order.save(update_fields=["dispensing", "updated_at"])

    if order.mode == M.ONLINE_PICKUP:
        # the patient (or the agent) is at the counter: handed over now [CX art. 22]
        delivery_advance(
            actor=actor,
            dispensing_id=dispensing.pk,
            to_status=DeliveryStatus.PICKED_UP,
            received_by=received_by,
        )


def order_ship(*, actor: User, order_id: int, carrier: str, tracking_no: str) -> OnlineOrder:
    """The pharmacy sends a dispensed delivery order (carrier and tracking number)."""
    carrier, tracking_no = (carrier or "").strip()[:50], (tracking_no or "").strip()[:50]
    missing = {
        k: ["必填"] for k, v in (("carrier", carrier), ("tracking_no", tracking_no)) if not v
    }
    if missing:
        raise _refuse(
            DomainError(codes.ORDER_SHIPMENT_INVALID, "请填写承运方和运单号", fields=missing)
        )
    with transaction.atomic():
        # the personal part paid online: settled with the fund now, as the goods leave (2102)
        ship_settle(actor, order_id)
        order = locked_order(order_id)
        if not _is_pharmacist_of(actor, order.pharmacy_id):
            raise _refuse(NotFound(codes.ORDER_NOT_FOUND, "订单不存在"))
        if order.status != OS.PREPARING or order.dispensing_id is None:
            raise _refuse(
                DomainError(codes.ORDER_TRANSITION, "订单须先在柜台审核发药、结算后才能发货")
            )
        order.carrier, order.tracking_no = carrier, tracking_no
        order.save(update_fields=["carrier", "tracking_no", "updated_at"])
        delivery_advance(
            actor=actor, dispensing_id=order.dispensing_id, to_status=DeliveryStatus.IN_TRANSIT
        )
        order.refresh_from_db()
    return order


def order_confirm_received(*, actor: User, order_id: int) -> OnlineOrder:
    """The patient confirms the parcel arrived: signed for by the patient, now."""
    with transaction.atomic():
        order = locked_order(order_id)
        patient = order.prescription.patient
        if not (actor.has_role(Role.PATIENT) and actor.insured_person_id == patient.pk):
            raise _refuse(NotFound(codes.ORDER_NOT_FOUND, "订单不存在"))
        if order.status != OS.SHIPPED or order.mode != M.HOME_DELIVERY:
            raise _refuse(DomainError(codes.ORDER_TRANSITION, "订单尚未发货，不能确认收货"))
        delivery_receive(
            actor=actor,
            dispensing_id=order.dispensing_id,
            received_by=f"{patient.name}（本人确认）",
        )
        order.refresh_from_db()
    return order


def order_expire(*, order_id: int, now: datetime | None = None) -> bool:
    """The order's hold ran out before dispensing: it expires and gives its boxes back (the
    job queued for ``hold_until`` when it was placed); False when it is no longer due."""
    now = now or timezone.now()
    with transaction.atomic():
        order = locked_order(order_id)
        # a dispensed order waits to be shipped: its boxes are sold, nothing is held
        if order.status not in HOLDING_ORDER or order.hold_until > now or order.dispensing_id:
            return False
        # core.locks: the holds, then the payment (a paid order not dispensed in time is
        # refunded), then the holds released
        stock_holds_lock(sale_reference(order.prescription))
        refund_if_paid(actor=None, order=order, reason="订单超时未发药，自动退款")
        end_order(None, order, OS.EXPIRED, "超过保留时间未取药")
    return True


def orders_expire(*, now: datetime | None = None) -> int:
    """Every order due to expire at ``now`` (the nightly sweep behind the per-order jobs)."""
    now = now or timezone.now()
    due = OnlineOrder.objects.filter(
        status__in=HOLDING_ORDER, hold_until__lte=now, dispensing__isnull=True
    )
    return sum(
        order_expire(order_id=pk, now=now) for pk in due.values_list("pk", flat=True).order_by("pk")
    )


# --- the pharmacy's settings and the patient's addresses ---------------------------------------


def delivery_settings_save(
    *,
    actor: User,
    opens_at,
    closes_at,
    delivers: bool,
    fee: Decimal,
    area_codes: list[str],
) -> PharmacyDeliverySettings:
    """The pharmacy's own staff set its hours, delivery area and fee."""
    if not _is_pharmacist_of(actor, actor.institution_id if actor else None):
        raise PermissionDenied(message="仅本店药师可修改网订设置")
    codes_ = sorted({c.strip() for c in area_codes if c.strip()})
    regions = list(Region.objects.filter(code__in=codes_))
    errors: dict[str, list[str]] = {}
    if len(regions) != len(codes_):
        errors["area"] = ["配送范围中有无法识别的地区，请重新选择"]
    if delivers and not regions:
        errors["area"] = ["请选择配送范围"]
    if fee is None or fee < 0:
        errors["fee"] = ["配送费须为不小于0的金额"]
    if not (opens_at and closes_at and opens_at < closes_at):
        errors["hours"] = ["营业结束须晚于营业开始"]
    if errors:
        raise DomainError(codes.ORDER_SETTINGS_INVALID, "网订设置有误", fields=errors)
    with transaction.atomic():
        terms, _new = PharmacyDeliverySettings.objects.select_for_update().get_or_create(
            pharmacy_id=actor.institution_id
        )
        before = snapshot(terms)
        terms.opens_at, terms.closes_at, terms.delivers = opens_at, closes_at, delivers
        terms.fee, terms.updated_at = fee.quantize(Decimal("0.01")), timezone.now()
        terms.save()
        terms.area.set(regions)
        audit.record(
            actor=actor,
            action="prescriptions.delivery_settings_saved",
            subject=terms,
            before=before,
            after=terms,
            summary={"area": codes_, "fee": str(terms.fee), "delivers": delivers},
        )
    return terms


def address_add(
    *, actor: User, region_code: str, detail: str, recipient_name: str, recipient_phone: str
) -> PatientAddress:
    """The patient saves a delivery address (a county-level region and the street detail)."""
    if not (actor and actor.is_authenticated and actor.insured_person_id):
        raise PermissionDenied(message="请先绑定参保人身份")
    detail, name = (detail or "").strip()[:150], (recipient_name or "").strip()[:50]
    phone = (recipient_phone or "").strip()
    phone = phone if PHONE.match(phone) else None
    region = Region.objects.filter(code=(region_code or "").strip()).first()
    errors = {
        field: [message]
        for field, bad, message in (
            ("region", region is None, "请选择所在区县"),
            ("detail", not detail, "必填"),
            ("recipient_name", not name, "必填"),
            ("recipient_phone", phone is None, "请填写11位手机号"),
        )
        if bad
    }
    if errors:
        raise _refuse(DomainError(codes.ORDER_ADDRESS_INVALID, "收货地址有误", fields=errors))
    with transaction.atomic():
        address = PatientAddress.objects.create(
            person_id=actor.insured_person_id,
            region=region,
            detail=detail,
            recipient_name=name,
            recipient_phone=phone,
        )
        audit.record(
            actor=actor,
            action="prescriptions.address_added",
            subject=address,
            patient=actor.insured_person,
            summary={"region": region.code},
        )
    return address
