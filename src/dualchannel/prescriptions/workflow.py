"""What the prescription services share. The prescription's state machine is beside its model
(``PRESCRIPTION_MACHINE``); ``core.statemachine.transition`` moves it."""

from __future__ import annotations

from .models import Prescription


def drug_names(prescription: Prescription) -> str:
    return "、".join(item.drug.generic_name for item in prescription.items.all())
