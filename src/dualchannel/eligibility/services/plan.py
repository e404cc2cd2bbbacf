"""The treatment plan's used quantity of an eligibility (DESIGN §4 TreatmentPlan, HB art. 8).

Only this app writes it. Other apps take from it and give back through these services: the
pharmacy counter when it dispenses (``prescriptions.services.counter``), the hospital's
outpatient desk when it dispenses and settles (``settlement.hospital``), and a reversal with the
goods returned (``settlement.services``).

Each runs inside the caller's transaction (a savepoint of it) and takes the eligibility's row
lock in ``core.locks`` order; a caller that checked the plan under that lock already holds it, and
taking it again costs nothing. The change is audited in the caller's event, where the quantity
appears as the ``plan_used`` fact (the prescription's ``prescriptions.prescription_dispensed``,
the ``settlement.settled`` of a hospital settlement), as it always was.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from dualchannel.core.errors import DomainError
from dualchannel.core.models import User

from .. import error_codes as codes
from ..models import Eligibility


def _lock(eligibility_id: int) -> Eligibility:
    return Eligibility.objects.select_for_update(no_key=True).get(pk=eligibility_id)


def _amount(quantity: Decimal) -> Decimal:
    if quantity < 0:
        raise DomainError(codes.PLAN_QUANTITY_INVALID, "药量不能为负数")
    return quantity


def eligibility_plan_use(
    *,
    actor: User | None,
    eligibility_id: int,
    quantity: Decimal,
    locked: Eligibility | None = None,
) -> Eligibility:
    """Take ``quantity`` (in the plan's unit) from the treatment plan; refused past its total.

    ``actor`` is the one dispensing (the caller audits the dispensing with the quantity).
    ``locked``: the row as the caller locked it (the counter's dispensing); then no savepoint
    either, a refusal rolls the caller's whole action back."""
    quantity = _amount(quantity)
    held = locked is not None and locked.pk == eligibility_id
    with transaction.atomic(savepoint=not held):
        eligibility = locked if held else _lock(eligibility_id)
        left = eligibility.plan_total_quantity - eligibility.plan_used_quantity
        if quantity > left:
            raise DomainError(
                codes.PLAN_EXCEEDED,
                f"本次{quantity.normalize():f}，治疗方案剩余{left.normalize():f}，"
                "超出治疗方案剩余药量",
            )
        eligibility.plan_used_quantity += quantity
        eligibility.save(update_fields=["plan_used_quantity"])
    return eligibility


def eligibility_plan_release(
    *, actor: User | None, eligibility_id: int, quantity: Decimal
) -> Eligibility:
    """Give ``quantity`` back to the treatment plan (goods returned); never below nothing used.

    ``actor`` is the one reversing (the caller audits the reversal)."""
    quantity = _amount(quantity)
    with transaction.atomic():
        eligibility = _lock(eligibility_id)
        eligibility.plan_used_quantity = max(eligibility.plan_used_quantity - quantity, Decimal(0))
        eligibility.save(update_fields=["plan_used_quantity"])
    return eligibility
