"""The prescription state machine and the one function that moves it."""

from __future__ import annotations

from typing import Any

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role
from dualchannel.core.statemachine import StateMachine
from dualchannel.notifications.services import notify

from . import error_codes as codes
from .models import Prescription, PrescriptionStatus, PrescriptionTransition

S = PrescriptionStatus

PRESCRIPTION_MACHINE = StateMachine(
    PrescriptionStatus,
    {
        # ISSUED → DISPENSED: dispensed at the issuing hospital's own outpatient pharmacy
        # (特药门诊, settlement.hospital), never routed to a pharmacy; a pharmacy counter
        # dispenses only ROUTED prescriptions.
        S.ISSUED: {S.ROUTED, S.CANCELLED, S.EXPIRED, S.DISPENSED},
        S.ROUTED: {S.DISPENSED, S.CANCELLED, S.EXPIRED},
    },
    error_code=codes.TRANSITION,
)


def move(
    prescription: Prescription,
    to_status: str,
    *,
    actor: User | None,
    reason: str = "",
    notice: tuple[str, dict[str, Any]] | None = None,
    **facts: Any,
) -> None:
    """Check the edge, write the history row and the audit event, queue the patient's notice.

    The caller holds the prescription's row lock inside its transaction.
    """
    PRESCRIPTION_MACHINE.check(prescription.status, to_status)
    before = snapshot(prescription)
    from_status = prescription.status
    prescription.status = to_status
    prescription.save()
    PrescriptionTransition.objects.create(
        prescription=prescription,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        reason=reason[:2000],
    )
    audit.record(
        actor=actor,
        action=f"prescriptions.prescription_{to_status}",
        subject=prescription,
        before=before,
        after=prescription,
        patient=prescription.patient,
        role=actor_role(actor),
        summary={
            "prescription_no": prescription.prescription_no,
            "from": from_status,
            "to": to_status,
            **facts,
        },
    )
    if notice is not None:
        template, context = notice
        notify(template=template, context=context, person=prescription.patient, actor=actor)


def drug_names(prescription: Prescription) -> str:
    return "、".join(item.drug.generic_name for item in prescription.items.all())
