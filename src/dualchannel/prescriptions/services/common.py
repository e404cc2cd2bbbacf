"""What the prescription services share: the business day and the locked prescription."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from dualchannel.core.errors import NotFound

from .. import error_codes as codes
from ..models import Prescription


def day_or_today(today: date | None) -> date:
    """The given business day, else today (local)."""
    return today or timezone.localdate()


def locked_prescription(prescription_id: int) -> Prescription:
    """The prescription under its row lock, with who it concerns; ``NotFound`` if it is absent."""
    prescription = (
        Prescription.objects.select_for_update(of=("self",))
        .select_related("patient", "hospital", "pharmacy", "physician")
        .filter(pk=prescription_id)
        .first()
    )
    if prescription is None:
        raise NotFound(codes.RX_NOT_FOUND, "处方不存在")
    return prescription
