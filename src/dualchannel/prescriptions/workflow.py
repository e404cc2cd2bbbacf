"""What the prescription services share. The prescription's state machine is beside its model
(``PRESCRIPTION_MACHINE``); ``core.statemachine.transition`` moves it."""

from __future__ import annotations

from .models import Prescription


def drug_names(prescription: Prescription) -> str:
    return "、".join(item.drug.generic_name for item in prescription.items.all())


def sale_reference(prescription: Prescription) -> str:
    """The counter's sale and an online order's stock holds name the prescription alike, so the
    sale may take the boxes held for it (``inventory.StockHold.reference``)."""
    return f"prescription:{prescription.prescription_no}"
