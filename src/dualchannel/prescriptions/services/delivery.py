"""How dispensed drugs reach the patient: ``delivery_advance`` moves a delivery one step.

Each mode has its own path through ``DeliveryStatus`` (``models.DELIVERY_PATHS``, one machine
each; the counter writes the first status):

- 到店自取: picked up at the counter (no further step);
- 网订店取: ready → picked up (identity was checked at dispensing);
- 网订店送: preparing → in transit → delivered;
- 冷链配送: preparing → in transit → handed over to the treating hospital [HB art. 29], with the
  hand-over record (who handed over, who received, when).

The dispensing pharmacy's pharmacists move a delivery; for the cold-chain hand-over a reviewer or
physician of the destination hospital may also confirm receipt.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.notifications.services import notify

from .. import error_codes as codes
from ..models import (
    DELIVERY_MACHINES,
    DELIVERY_PATHS,
    Delivery,
    DeliveryMode,
    DeliveryStatus,
    OnlineOrder,
    OrderStatus,
)
from ..workflow import drug_names

D = DeliveryStatus
M = DeliveryMode

# What the patient is told at each step.
PROGRESS = {
    D.PICKED_UP: "已在{pharmacy}取药",
    D.IN_TRANSIT: "已由{pharmacy}发出，正在配送",
    D.DELIVERED: "已送达",
    D.HANDED_OVER: "已冷链配送至{destination}并完成交接，请按约定到院用药",
}
# A hand-over time more than this ahead of the server clock is a typo, not a clock skew.
CLOCK_TOLERANCE = timedelta(minutes=5)


def next_statuses(delivery: Delivery) -> list[str]:
    """The statuses this delivery may move to next (for screens)."""
    return sorted(DELIVERY_MACHINES[delivery.mode].allowed_from(delivery.status))


def _locked(dispensing_id: int) -> Delivery:
    delivery = (
        Delivery.objects.select_for_update(of=("self",))
        .select_related(
            "dispensing",
            "dispensing__pharmacy",
            "dispensing__prescription",
            "dispensing__prescription__patient",
            "destination",
        )
        .filter(dispensing_id=dispensing_id)
        .first()
    )
    if delivery is None:
        raise NotFound(codes.DISPENSING_NOT_FOUND, "发药记录不存在")
    return delivery


def _is_pharmacist_of(actor: User, delivery: Delivery) -> bool:
    return (
        actor.has_role(Role.PHARMACIST) and actor.institution_id == delivery.dispensing.pharmacy_id
    )


def _is_receiving_hospital(actor: User, delivery: Delivery) -> bool:
    return (
        delivery.mode == M.COLD_CHAIN_TO_HOSPITAL
        and delivery.destination_id is not None
        and actor.institution_id == delivery.destination_id
        and bool(actor.role_set.intersection({Role.PHYSICIAN, Role.REVIEWER}))
    )


def _check_actor(actor: User, delivery: Delivery, to_status: str) -> None:
    """The pharmacy moves it; the destination hospital only confirms the hand-over."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise PermissionDenied("unauthenticated", "请先登录")
    if actor.is_superuser or _is_pharmacist_of(actor, delivery):
        return
    if _is_receiving_hospital(actor, delivery):
        if to_status == D.HANDED_OVER:
            return
        raise PermissionDenied(message="接收医院只能确认冷链药品交接，其他配送环节由药店操作")
    patient = delivery.dispensing.prescription.patient_id
    if actor.has_role(Role.PATIENT) and actor.insured_person_id == patient:
        raise PermissionDenied(message="配送状态由药店更新")
    raise NotFound(codes.DISPENSING_NOT_FOUND, "发药记录不存在")


def _check_mode(delivery: Delivery, to_status: str) -> None:
    if to_status not in D.values:
        raise DomainError(
            codes.DELIVERY_STATUS_INVALID, "请选择配送状态", fields={"to_status": ["无效"]}
        )
    if to_status not in DELIVERY_PATHS[delivery.mode]:
        raise Conflict(
            codes.DELIVERY_WRONG_MODE,
            f"取药方式为「{delivery.get_mode_display()}」，没有「{D(to_status).label}」环节",
        )


# The online order's status each delivery step moves it to [CX art. 22].
ORDER_STEP = {
    D.IN_TRANSIT: OrderStatus.SHIPPED,
    D.PICKED_UP: OrderStatus.PICKED_UP,
    D.DELIVERED: OrderStatus.DELIVERED,
    D.HANDED_OVER: OrderStatus.DELIVERED,
}


def _order_of(delivery: Delivery) -> OnlineOrder | None:
    """The online order the delivery carries out, locked before anything is written (its row
    sits with the prescription's in core.locks order, before the audit chain's head)."""
    found = OnlineOrder.objects.filter(dispensing_id=delivery.dispensing_id)
    order_id = found.values_list("pk", flat=True).first()
    if order_id is None:
        return None
    # by its key: the counter or ``order_ship`` may hold it already
    return OnlineOrder.objects.select_for_update(of=("self",)).get(pk=order_id)


def _order_follows(
    actor: User, order: OnlineOrder | None, to_status: str, reason: str, record: dict[str, object]
) -> None:
    """An online order walks with its delivery; the hand-over (who received it, when) is kept
    on the order too. The patient's notice is the delivery's."""
    if order is None or to_status not in ORDER_STEP:
        return
    changes = {}
    if record:
        changes = {"received_by": record["received_by"], "received_at": record["handed_over_at"]}
    transition(order, ORDER_STEP[to_status], actor=actor, reason=reason, changes=changes)


def delivery_receive(*, actor: User, dispensing_id: int, received_by: str) -> Delivery:
    """The patient confirms a home delivery arrived (signed for now, by the patient)."""
    with transaction.atomic():
        delivery = _locked(dispensing_id)
        order = _order_of(delivery)
        patient = delivery.dispensing.prescription.patient_id
        if not (actor.has_role(Role.PATIENT) and actor.insured_person_id == patient):
            raise NotFound(codes.DISPENSING_NOT_FOUND, "发药记录不存在")
        if delivery.mode != M.HOME_DELIVERY:
            raise Conflict(codes.DELIVERY_WRONG_MODE, "仅送药上门可由本人确认收货")
        DELIVERY_MACHINES[delivery.mode].check(delivery.status, D.DELIVERED)
        now = timezone.now()
        record = {"handed_over_by": "", "received_by": received_by[:50], "handed_over_at": now}
        transition(
            delivery, D.DELIVERED, actor=actor, reason="本人确认收货", changes=record, at=now
        )
        _order_follows(actor, order, D.DELIVERED, "本人确认收货", record)
        prescription = delivery.dispensing.prescription
        notify(
            template="prescriptions.delivery",
            context={
                "drug_name": drug_names(prescription),
                "prescription_no": prescription.prescription_no,
                "status": D.DELIVERED.label,
                "progress": PROGRESS[D.DELIVERED],
            },
            person=prescription.patient,
            actor=actor,
        )
    return delivery


def _hand_over_record(
    actor: User, delivery: Delivery, handed_over_by: str, received_by: str, at: datetime | None
) -> tuple[str, str, datetime]:
    """HB art. 29: the cold-chain hand-over names who handed over, who received, and when."""
    handed_over_by = (handed_over_by or "").strip()[:50]
    received_by = (received_by or "").strip()[:50]
    if not received_by and _is_receiving_hospital(actor, delivery):
        received_by = str(actor)[:50]  # the receiving staff confirm with their own name
    if delivery.mode == M.COLD_CHAIN_TO_HOSPITAL:
        missing = {
            name: ["必填"]
            for name, value in (("handed_over_by", handed_over_by), ("received_by", received_by))
            if not value
        }
        if missing:
            raise DomainError(
                codes.HANDOVER_RECORD_REQUIRED,
                "冷链药品交接须登记交付人和接收人",
                fields=missing,
            )
    now = timezone.now()
    at = at or now
    if timezone.is_naive(at):
        raise DomainError(
            codes.HANDOVER_TIME_INVALID, "交接时间须带时区", fields={"at": ["须带时区"]}
        )
    if at > now + CLOCK_TOLERANCE or at < delivery.dispensing.dispensed_at:
        raise DomainError(
            codes.HANDOVER_TIME_INVALID,
            "交接时间应在发药之后且不晚于当前时间",
            fields={"at": ["时间不合理"]},
        )
    return handed_over_by, received_by, at


def delivery_advance(
    *,
    actor: User,
    dispensing_id: int,
    to_status: str,
    handed_over_by: str = "",
    received_by: str = "",
    at: datetime | None = None,
) -> Delivery:
    """Move a dispensing's delivery one step along its mode's path; the patient is told."""
    with transaction.atomic():
        delivery = _locked(dispensing_id)
        order = _order_of(delivery)
        _check_actor(actor, delivery, to_status)
        _check_mode(delivery, to_status)
        DELIVERY_MACHINES[delivery.mode].check(delivery.status, to_status)
        moment = timezone.now()
        record: dict[str, object] = {}
        reason = ""
        if to_status in (D.DELIVERED, D.HANDED_OVER, D.PICKED_UP):  # who received it, when
            handed_over_by, received_by, moment = _hand_over_record(
                actor, delivery, handed_over_by, received_by, at
            )
            record = {
                "handed_over_by": handed_over_by,
                "received_by": received_by,
                "handed_over_at": moment,
            }
            reason = f"交付人：{handed_over_by or '—'}；接收人：{received_by or '—'}"
        transition(delivery, to_status, actor=actor, reason=reason, changes=record, at=moment)
        _order_follows(actor, order, to_status, reason, record)
        prescription = delivery.dispensing.prescription
        notify(
            template="prescriptions.delivery",
            context={
                "drug_name": drug_names(prescription),
                "prescription_no": prescription.prescription_no,
                "status": D(to_status).label,
                "progress": PROGRESS[to_status].format(
                    pharmacy=delivery.dispensing.pharmacy.name,
                    destination=delivery.destination.name if delivery.destination else "",
                ),
            },
            person=prescription.patient,
            actor=actor,
        )
    return delivery
