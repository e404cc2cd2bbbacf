"""Reads of prescriptions and their dispensing, scoped to the actor.

Physicians and reviewers see their hospital's prescriptions (issued there, under an eligibility
held there, or delivered there by cold chain); pharmacists those routed to or dispensed at their
pharmacy; patients their own; agency officers those of hospitals and pharmacies in their region;
admins all; everyone else nothing. Anything outside the scope is ``NotFound``.

``dispensing_results`` is what goes back to the hospital (DESIGN §5.2 step 6): for each
prescription its dispensing — pharmacy, time, batches, expiry, packages — and the eligibility's
plan total, used and left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet

from dualchannel.core.errors import NotFound
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.selectors import current_plan, visible_eligibilities
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from .models import Dispensing, DispensingLine, Prescription, PrescriptionItem

_NOTHING = Q(pk__in=[])


def prescription_scope(actor: User | None) -> Q | None:
    """The filter of the prescriptions ``actor`` may see; None means all (admins)."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return _NOTHING
    if actor.is_superuser:
        return None
    q = _NOTHING
    roles = actor.role_set
    institution = actor.institution_id
    if institution and roles.intersection({Role.PHYSICIAN, Role.REVIEWER}):
        q |= (
            Q(hospital_id=institution)
            | Q(eligibility__hospital_id=institution)
            | Q(eligibility__application__treating_hospital_id=institution)
            | Q(dispensing__delivery__destination_id=institution)
        )
    if institution and Role.PHARMACIST in roles:
        q |= Q(pharmacy_id=institution) | Q(dispensing__pharmacy_id=institution)
    if actor.insured_person_id and Role.PATIENT in roles:
        q |= Q(patient_id=actor.insured_person_id)
    region = officer_region(actor)
    if region is not None:
        q |= Q(hospital__region__code__startswith=region.code_prefix) | Q(
            pharmacy__region__code__startswith=region.code_prefix
        )
    return q


def visible_prescriptions(actor: User | None) -> QuerySet[Prescription]:
    qs = Prescription.objects.select_related(
        "patient", "hospital", "physician", "pharmacy", "eligibility"
    ).prefetch_related(Prefetch("items", queryset=PrescriptionItem.objects.select_related("drug")))
    scope = prescription_scope(actor)
    return qs if scope is None else qs.filter(scope)


def prescription_get(actor: User | None, prescription_id: int) -> Prescription:
    found = visible_prescriptions(actor).filter(pk=prescription_id).first()
    if found is None:
        raise NotFound(codes.RX_NOT_FOUND, "处方不存在")
    return found


def prescription_list(
    actor: User | None, *, status: str | None = None, eligibility_id: int | None = None
) -> QuerySet[Prescription]:
    qs = visible_prescriptions(actor)
    if status:
        qs = qs.filter(status=status)
    if eligibility_id:
        qs = qs.filter(eligibility_id=eligibility_id)
    return qs.order_by("-issued_at", "-id")


def _dispensings() -> QuerySet[Dispensing]:
    return Dispensing.objects.select_related(
        "prescription", "pharmacy", "pharmacist", "delivery", "delivery__destination"
    ).prefetch_related(
        Prefetch("lines", queryset=DispensingLine.objects.select_related("drug", "item")),
        "delivery__history",
    )


def dispensing_of(prescription: Prescription) -> Dispensing | None:
    """The prescription's dispensing with its lines and delivery (the caller scoped it)."""
    return _dispensings().filter(prescription_id=prescription.pk).first()


def dispensing_get(actor: User | None, dispensing_id: int) -> Dispensing:
    """A dispensing whose prescription the actor may see."""
    # the scope in the same statement (a subquery of the prescriptions the actor may see)
    found = (
        _dispensings()
        .filter(pk=dispensing_id, prescription__in=visible_prescriptions(actor).values("pk"))
        .first()
    )
    if found is None:
        raise NotFound(codes.DISPENSING_NOT_FOUND, "发药记录不存在")
    return found


# --- back to the hospital ----------------------------------------------------------------------


@dataclass(frozen=True)
class DispensedBatch:
    drug_id: int
    drug_name: str
    batch_no: str
    expiry_date: date
    packages: int
    package_unit: str
    quantity: Decimal  # in the plan's unit
    unit: str


@dataclass(frozen=True)
class DispensingResult:
    prescription: Prescription
    dispensing: Dispensing | None
    plan_quantity: Decimal  # what the prescription takes from the plan (0 without eligibility)
    batches: list[DispensedBatch]

    @property
    def pharmacy_name(self) -> str:
        return self.dispensing.pharmacy.name if self.dispensing else ""

    @property
    def dispensed_at(self) -> datetime | None:
        return self.dispensing.dispensed_at if self.dispensing else None


@dataclass(frozen=True)
class PlanProgress:
    eligibility_id: int
    total: Decimal
    used: Decimal
    left: Decimal
    unit: str


@dataclass(frozen=True)
class DispensingResults:
    plan: PlanProgress | None  # None for prescriptions without an eligibility
    results: list[DispensingResult]


def plan_progress(eligibility: Eligibility) -> PlanProgress:
    return PlanProgress(
        eligibility_id=eligibility.pk,
        total=eligibility.plan_total_quantity,
        used=eligibility.plan_used_quantity,
        left=eligibility.plan_total_quantity - eligibility.plan_used_quantity,
        unit=current_plan(eligibility)["quantity_unit"],
    )


def _result(prescription: Prescription) -> DispensingResult:
    dispensing = dispensing_of(prescription)
    items = list(prescription.items.all())
    plan_drug = prescription.eligibility.drug_id if prescription.eligibility_id else None
    batches = []
    if dispensing is not None:
        batches = [
            DispensedBatch(
                drug_id=line.drug_id,
                drug_name=line.drug.generic_name,
                batch_no=line.batch_no,
                expiry_date=line.expiry_date,
                packages=line.packages,
                package_unit=line.item.package_unit,
                quantity=line.quantity,
                unit=line.item.unit,
            )
            for line in dispensing.lines.all()
        ]
    plan_quantity = sum((i.quantity for i in items if i.drug_id == plan_drug), Decimal(0))
    return DispensingResult(prescription, dispensing, plan_quantity, batches)


def dispensing_results(
    actor: User | None, eligibility_or_prescription: Eligibility | Prescription
) -> DispensingResults:
    """The dispensing of each prescription of an eligibility (or of one prescription) that the
    actor may see, newest first, with the plan. An eligibility or prescription outside the
    actor's scope is not found."""

    subject = eligibility_or_prescription
    if isinstance(subject, Eligibility):
        eligibility = visible_eligibilities(actor).filter(pk=subject.pk).first()
        if eligibility is None:
            raise NotFound()
        prescriptions = list(prescription_list(actor, eligibility_id=eligibility.pk))
    else:
        prescriptions = [prescription_get(actor, subject.pk)]
        found = prescriptions[0].eligibility_id
        eligibility = Eligibility.objects.filter(pk=found).first() if found else None
    return DispensingResults(
        plan=plan_progress(eligibility) if eligibility is not None else None,
        results=[_result(p) for p in prescriptions],
    )
