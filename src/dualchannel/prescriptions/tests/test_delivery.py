"""Delivery after the counter: pickup, home delivery, and the free cold chain to the treating
hospital with its hand-over record [HB art. 29]."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.notifications.models import Channel, Notification
from dualchannel.prescriptions.models import (
    Delivery,
    DeliveryMode,
    DeliveryStatus,
    DeliveryTransition,
)
from dualchannel.prescriptions.services import counter
from dualchannel.prescriptions.services.delivery import delivery_advance, next_statuses

from .helpers import dispense

D = DeliveryStatus
pytestmark = pytest.mark.django_db


def dispensed(pharmacist_user, routed, stock, mode, **kw):
    return dispense(
        pharmacist_user, routed, stock[0], delivery=counter.DeliveryInput(mode=mode, **kw)
    )


@pytest.fixture
def cold_chain(routed, pharmacist, pharmacist_user, stock, lung_drug):
    lung_drug.is_injectable = True
    lung_drug.save(update_fields=["is_injectable"])
    return dispensed(pharmacist_user, routed, stock, DeliveryMode.COLD_CHAIN_TO_HOSPITAL)


def state(dispensing):
    """What a refused move must leave untouched."""
    delivery = Delivery.objects.get(dispensing=dispensing)
    return (
        delivery.status,
        delivery.handed_over_by,
        delivery.received_by,
        delivery.handed_over_at,
        DeliveryTransition.objects.count(),
        AuditEvent.objects.filter(action__startswith="prescriptions.delivery_").count(),
        Notification.objects.filter(template_code="prescriptions.delivery").count(),
    )


def test_cold_chain_goes_out_and_the_hospital_confirms_the_hand_over(
    cold_chain, pharmacist_user, reviewer_user
):
    reviewer_user.display_name = "医保办赵审核"
    reviewer_user.save(update_fields=["display_name"])
    assert next_statuses(cold_chain.delivery) == [D.IN_TRANSIT]

    delivery_advance(actor=pharmacist_user, dispensing_id=cold_chain.pk, to_status=D.IN_TRANSIT)
    delivered = delivery_advance(
        actor=reviewer_user,
        dispensing_id=cold_chain.pk,
        to_status=D.HANDED_OVER,
        handed_over_by="冷链配送员李四",
    )

    assert delivered.status == D.HANDED_OVER
    assert (delivered.handed_over_by, delivered.received_by) == ("冷链配送员李四", "医保办赵审核")
    assert delivered.handed_over_at is not None
    history = list(delivered.history.order_by("pk").values_list("to_status", "actor"))
    assert history == [
        (D.PREPARING, pharmacist_user.pk),
        (D.IN_TRANSIT, pharmacist_user.pk),
        (D.HANDED_OVER, reviewer_user.pk),
    ]
    handed = AuditEvent.objects.get(action="prescriptions.delivery_handed_over")
    assert handed.summary["from"] == D.IN_TRANSIT and handed.actor == reviewer_user
    notice = Notification.objects.filter(
        template_code="prescriptions.delivery", channel=Channel.IN_APP
    ).latest("pk")
    assert "已交接" in notice.title
    assert cold_chain.delivery.destination.name in notice.body


def test_the_hand_over_needs_who_handed_over_and_who_received(cold_chain, pharmacist_user):
    delivery_advance(actor=pharmacist_user, dispensing_id=cold_chain.pk, to_status=D.IN_TRANSIT)
    before = state(cold_chain)

    with pytest.raises(DomainError) as refused:
        delivery_advance(
            actor=pharmacist_user, dispensing_id=cold_chain.pk, to_status=D.HANDED_OVER
        )

    assert refused.value.code == "counter.handover_record_required"
    assert set(refused.value.fields) == {"handed_over_by", "received_by"}
    assert state(cold_chain) == before


def test_a_hand_over_time_in_the_future_is_refused(cold_chain, pharmacist_user):
    delivery_advance(actor=pharmacist_user, dispensing_id=cold_chain.pk, to_status=D.IN_TRANSIT)
    before = state(cold_chain)

    with pytest.raises(DomainError) as refused:
        delivery_advance(
            actor=pharmacist_user,
            dispensing_id=cold_chain.pk,
            to_status=D.HANDED_OVER,
            handed_over_by="李四",
            received_by="王五",
            at=timezone.now() + timedelta(hours=2),
        )

    assert refused.value.code == "counter.handover_time_invalid"
    assert state(cold_chain) == before


def test_steps_cannot_be_skipped(cold_chain, pharmacist_user):
    before = state(cold_chain)

    with pytest.raises(Conflict) as refused:
        delivery_advance(
            actor=pharmacist_user,
            dispensing_id=cold_chain.pk,
            to_status=D.HANDED_OVER,
            handed_over_by="李四",
            received_by="王五",
        )

    assert refused.value.code == "counter.delivery_transition"
    assert state(cold_chain) == before


@pytest.mark.parametrize(
    ("mode", "to_status"),
    [
        (DeliveryMode.PICKUP, D.IN_TRANSIT),
        (DeliveryMode.ONLINE_PICKUP, D.DELIVERED),
        (DeliveryMode.COLD_CHAIN_TO_HOSPITAL, D.DELIVERED),
    ],
)
def test_a_step_the_mode_does_not_have_is_refused(
    routed,
    pharmacist,
    pharmacist_user,
    stock,
    lung_drug,
    mode,
    to_status,
):
    if mode == DeliveryMode.COLD_CHAIN_TO_HOSPITAL:
        lung_drug.is_injectable = True
        lung_drug.save(update_fields=["is_injectable"])
    dispensing = dispensed(pharmacist_user, routed, stock, mode)
    before = state(dispensing)

    with pytest.raises(Conflict) as refused:
        delivery_advance(actor=pharmacist_user, dispensing_id=dispensing.pk, to_status=to_status)

    assert refused.value.code == "counter.delivery_wrong_mode"
    assert state(dispensing) == before


def test_home_delivery_is_sent_and_delivered(routed, pharmacist, pharmacist_user, stock):
    dispensing = dispensed(
        pharmacist_user,
        routed,
        stock,
        DeliveryMode.HOME_DELIVERY,
        address="江岸区解放大道1号",
        recipient_name="张伟",
        recipient_phone="13900000001",
    )

    delivery_advance(actor=pharmacist_user, dispensing_id=dispensing.pk, to_status=D.IN_TRANSIT)
    delivered = delivery_advance(
        actor=pharmacist_user, dispensing_id=dispensing.pk, to_status=D.DELIVERED
    )

    assert delivered.status == D.DELIVERED
    assert delivered.handed_over_at is not None
    assert next_statuses(delivered) == []
    assert Notification.objects.filter(template_code="prescriptions.delivery").count() >= 2


def test_online_order_is_collected(routed, pharmacist, pharmacist_user, stock):
    dispensing = dispensed(pharmacist_user, routed, stock, DeliveryMode.ONLINE_PICKUP)
    assert dispensing.delivery.status == D.READY

    collected = delivery_advance(
        actor=pharmacist_user, dispensing_id=dispensing.pk, to_status=D.PICKED_UP
    )

    assert collected.status == D.PICKED_UP
    assert AuditEvent.objects.filter(action="prescriptions.delivery_picked_up").exists()


def test_the_receiving_hospital_only_confirms_the_hand_over(cold_chain, physician_user):
    before = state(cold_chain)

    with pytest.raises(PermissionDenied):
        delivery_advance(actor=physician_user, dispensing_id=cold_chain.pk, to_status=D.IN_TRANSIT)

    assert state(cold_chain) == before


def test_the_patient_cannot_move_it_and_outsiders_do_not_find_it(
    cold_chain, patient_user, outsider_pharmacist, outsider_reviewer
):
    before = state(cold_chain)

    with pytest.raises(PermissionDenied):
        delivery_advance(actor=patient_user, dispensing_id=cold_chain.pk, to_status=D.IN_TRANSIT)
    for outsider in (outsider_pharmacist, outsider_reviewer):
        with pytest.raises(NotFound) as refused:
            delivery_advance(
                actor=outsider,
                dispensing_id=cold_chain.pk,
                to_status=D.HANDED_OVER,
                handed_over_by="李四",
                received_by="王五",
            )
        assert refused.value.code == "counter.dispensing_not_found"

    assert state(cold_chain) == before


# --- races on PostgreSQL -------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_desks_sending_the_same_delivery_move_it_once(cold_chain, pharmacist_user):

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def desk() -> None:
        try:
            barrier.wait()
            delivery_advance(
                actor=pharmacist_user, dispensing_id=cold_chain.pk, to_status=D.IN_TRANSIT
            )
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=desk) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["counter.delivery_transition", "ok"]
    history = DeliveryTransition.objects.filter(delivery__dispensing=cold_chain)
    assert list(history.order_by("pk").values_list("to_status", flat=True)) == [
        D.PREPARING,
        D.IN_TRANSIT,
    ]
