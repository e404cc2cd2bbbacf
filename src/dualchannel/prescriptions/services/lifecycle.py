"""Cancelling and expiring prescriptions, and marking one dispensed (DESIGN §5.2).

One transaction per action with its audit event and the patient's notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from django.db import transaction

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.documents.services import document_revoke
from dualchannel.notifications.services import notify

from .. import error_codes as codes
from ..models import (
    OPEN_PRESCRIPTION,
    Prescription,
    PrescriptionStatus,
)
from ..workflow import drug_names
from .circulation import rx_centre_withdraw
from .common import day_or_today, locked_prescription

S = PrescriptionStatus


# --- cancelling and expiry -------------------------------------------------------------------


def prescription_cancel(*, actor: User, prescription_id: int, reason: str) -> Prescription:
    """A physician of the issuing hospital cancels a prescription not yet dispensed."""
    require_role(actor, Role.PHYSICIAN)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(codes.REASON_REQUIRED, "请填写撤销原因", fields={"reason": ["必填"]})
    with transaction.atomic():
        prescription = locked_prescription(prescription_id)
        if not actor.is_superuser and prescription.hospital_id != actor.institution_id:
            raise NotFound(codes.RX_NOT_FOUND, "处方不存在")
        transition(
            prescription,
            S.CANCELLED,
            actor=actor,
            reason=reason,
            changes={"cancel_reason": reason[:200]},
        )
        notify(
            template="prescriptions.cancelled",
            context={
                "drug_name": drug_names(prescription),
                "prescription_no": prescription.prescription_no,
                "reason": reason,
            },
            person=prescription.patient,
            actor=actor,
        )
        for document_id in (prescription.document_id, prescription.filing_form_id):
            if document_id:
                document_revoke(actor=None, document_id=document_id, reason=reason)
        _after_close(prescription)
    return prescription


def prescriptions_expire(today: date | None = None) -> int:
    """Daily job: open prescriptions past their validity become expired (one transaction each)."""
    today = day_or_today(today)
    expired = 0
    due = Prescription.objects.filter(status__in=OPEN_PRESCRIPTION, valid_until__lt=today)
    for prescription_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            prescription = locked_prescription(prescription_id)
            if prescription.status not in OPEN_PRESCRIPTION or prescription.valid_until >= today:
                continue
            transition(
                prescription,
                S.EXPIRED,
                actor=None,
                reason="超过处方有效期未取药",
                valid_until=prescription.valid_until.isoformat(),
            )
            notify(
                template="prescriptions.expired",
                context={
                    "drug_name": drug_names(prescription),
                    "prescription_no": prescription.prescription_no,
                    "valid_until": prescription.valid_until,
                },
                person=prescription.patient,
                actor=None,
            )
            _after_close(prescription)
            expired += 1
    return expired


def _after_close(prescription: Prescription) -> None:
    """A prescription known to the e-prescription centre is withdrawn there too."""

    rx_centre_withdraw(prescription)


# --- dispensed: at a pharmacy counter, or at the issuing hospital's desk ---------------------


def prescription_mark_dispensed(
    *,
    actor: User,
    prescription_id: int,
    dispensed_at: datetime,
    reason: str,
    dispensed_by: str,
    delivery: str,
    facts: Mapping[str, Any] | None = None,
    locked: Prescription | None = None,
) -> Prescription:
    """The prescription was handed over: it moves to dispensed (a pharmacy counter's ROUTED one,
    ``counter``; the issuing hospital's own ISSUED one, ``settlement.hospital``) with its
    history row, the ``prescriptions.prescription_dispensed`` audit event (``facts`` added to its
    summary: the dispensing or settlement, the plan quantity used) and the patient's notice
    naming who dispensed it (``dispensed_by``) and how it reaches them (``delivery``).

    Runs inside the caller's transaction, which checked everything else under the prescription's
    row lock: ``locked`` is the caller's locked row (the counter's, read with its items), else the
    lock is taken again here (a no-op when held); the edge is checked either way. With ``locked``
    there is no savepoint: a refusal rolls the caller's whole action back."""
    with transaction.atomic(savepoint=locked is None):
        if locked is not None and locked.pk == prescription_id:
            prescription = locked
        else:
            prescription = locked_prescription(prescription_id)
        transition(
            prescription,
            S.DISPENSED,
            actor=actor,
            reason=reason,
            changes={"dispensed_at": dispensed_at},
            **(facts or {}),
        )
        notify(
            template="prescriptions.dispensed",
            context={
                "drug_name": drug_names(prescription),
                "prescription_no": prescription.prescription_no,
                "pharmacy_name": dispensed_by,
                "delivery": delivery,
            },
            person=prescription.patient,
            actor=actor,
        )
    return prescription
