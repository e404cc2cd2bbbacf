"""Setup for page tests: pages use today's date, so the conftest's eligibility (granted on
2026-03-04) is moved into force today, and prescriptions are issued and routed today."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from dualchannel.eligibility.models import Eligibility
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import BenefitType, Prescription

from .helpers import PACK, USAGE


def in_force_today(eligibility: Eligibility) -> Eligibility:
    """Granted a few days ago, re-evaluation due in twelve weeks."""
    today = timezone.localdate()
    Eligibility.objects.filter(pk=eligibility.pk).update(
        effective_from=today - timedelta(days=6),
        next_reevaluation_due=today + timedelta(days=84),
    )
    eligibility.refresh_from_db()
    return eligibility


def issue(physician_user, eligibility: Eligibility, quantity: str = "50") -> Prescription:
    return services.prescription_issue(
        actor=physician_user,
        patient_id_number=eligibility.patient.id_number,
        benefit_type=BenefitType.SPECIAL_DRUG,
        eligibility_id=eligibility.pk,
        items=[
            {
                "drug_id": eligibility.drug_id,
                "quantity": quantity,
                "unit": "粒",
                "pack_size": str(PACK),
                **USAGE,
                "days": 25,
                "specification": "150mg*50粒",
            }
        ],
    )


def bind(patient_user, person):
    patient_user.insured_person = person
    patient_user.save(update_fields=["insured_person"])
    return patient_user


def route(patient_user, prescription: Prescription, pharmacy) -> Prescription:
    bind(patient_user, prescription.patient)
    return services.prescription_route(
        actor=patient_user, prescription_id=prescription.pk, pharmacy_id=pharmacy.pk, consent=True
    )
