"""A prescription moves to dispensed only through prescriptions' own service (issue 10): the
pharmacy counter and the hospital's outpatient desk call it inside their transactions."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.notifications.models import Channel, Notification
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import Prescription, PrescriptionStatus

from .today import in_force_today, issue, route

S = PrescriptionStatus
pytestmark = pytest.mark.django_db
AT = timezone.make_aware(datetime(2026, 3, 10, 9, 30))


@pytest.fixture
def routed(eligibility, physician_user, patient_user, bound_pharmacy) -> Prescription:
    return route(patient_user, issue(physician_user, in_force_today(eligibility)), bound_pharmacy)


def mark(actor, prescription, **kw) -> Prescription:
    return services.prescription_mark_dispensed(
        actor=actor,
        prescription_id=prescription.pk,
        dispensed_at=AT,
        reason="药店审核发药",
        dispensed_by="江岸演示大药房",
        delivery="到店自取",
        facts={"dispensing": 7, "plan_used": "50"},
        **kw,
    )


def test_a_routed_prescription_is_dispensed_with_history_audit_and_notice(routed, pharmacist_user):
    # when the counter, inside its own transaction, marks it dispensed
    with transaction.atomic():
        done = mark(pharmacist_user, routed)

    # then it is dispensed at that moment, with its history row, audit event and the notice
    routed.refresh_from_db()
    assert (routed.status, routed.dispensed_at) == (S.DISPENSED, AT) == (done.status, AT)
    last = routed.history.order_by("pk").last()
    assert (last.from_status, last.to_status, last.actor, last.reason) == (
        S.ROUTED,
        S.DISPENSED,
        pharmacist_user,
        "药店审核发药",
    )
    event = AuditEvent.objects.get(action="prescriptions.prescription_dispensed")
    assert event.summary == {
        "prescription_no": routed.prescription_no,
        "from": S.ROUTED,
        "to": S.DISPENSED,
        "dispensing": 7,
        "plan_used": "50",
    }
    notice = Notification.objects.get(
        template_code="prescriptions.dispensed", channel=Channel.IN_APP
    )
    assert notice.context["pharmacy_name"] == "江岸演示大药房"
    assert notice.context["delivery"] == "到店自取"


def test_a_cancelled_prescription_is_refused_and_nothing_changes(
    routed, physician_user, pharmacist_user
):
    services.prescription_cancel(actor=physician_user, prescription_id=routed.pk, reason="停药")
    history = routed.history.count()

    with pytest.raises(DomainError) as refused:
        mark(pharmacist_user, routed)

    assert refused.value.code == "prescriptions.transition"
    routed.refresh_from_db()
    assert (routed.status, routed.dispensed_at) == (S.CANCELLED, None)
    assert routed.history.count() == history
    assert not AuditEvent.objects.filter(action="prescriptions.prescription_dispensed").exists()
    assert not Notification.objects.filter(template_code="prescriptions.dispensed").exists()
