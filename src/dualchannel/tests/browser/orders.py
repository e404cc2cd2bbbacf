"""A routed prescription of the demo's patient and the phone's way to its order form, shared by
the online-order browser tests."""

from __future__ import annotations

import re

from dualchannel.core.models import User
from dualchannel.prescriptions import services as rx
from dualchannel.prescriptions.models import BenefitType, Prescription


def routed_prescription():
    """A diabetes prescription of 张伟 (门诊慢特病, the demo's metformin), routed by him to
    江岸演示大药房; answers it, its pharmacy and its drug."""
    demo = Prescription.objects.filter(patient__name="李秀英").first()
    drug, pharmacy = demo.items.get().drug, demo.pharmacy
    patient = User.objects.get(username="patient")
    prescription = rx.prescription_issue(
        actor=User.objects.get(username="doctor"),
        patient_id_number=patient.insured_person.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="E11.900",
        items=[
            {
                "drug_id": drug.pk,
                "quantity": "1",
                "unit": "盒",
                "package_unit": "盒",
                "single_dose": "1",
                "dose_unit": "片",
                "frequency": "每日一次",
                "route": "口服",
                "days": 28,
            }
        ],
    )
    rx.prescription_route(
        actor=patient, prescription_id=prescription.pk, pharmacy_id=pharmacy.pk, consent=True
    )
    return prescription, pharmacy, drug


def open_order_form(phone, base: str, prescription) -> None:
    phone.goto(f"{base}/portal/prescriptions/{prescription.pk}/")
    phone.click("#order-online")
    phone.wait_for_url(re.compile(r"/portal/prescriptions/\d+/order/$"))
