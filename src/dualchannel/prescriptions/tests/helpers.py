"""What the prescriptions tests share besides fixtures (those are in ``conftest.py``): the day
they run on, the lung drug's pack and usage, a special-drug and an ordinary prescription issued,
the counter's identity and lines, and a dispensing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from dualchannel.inventory.models import TraceCode
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import BenefitType, Prescription
from dualchannel.prescriptions.services import counter

TODAY = date(2026, 3, 10)
PACK = Decimal(50)  # 塞瑞替尼胶囊 150mg×50粒/盒
USAGE = {"single_dose": "150", "dose_unit": "mg", "frequency": "每日两次", "route": "口服"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def special(actor, eligibility, *, quantity="50", days=25, **kw) -> Prescription:
    return services.prescription_issue(
        actor=actor,
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
                "days": days,
                "specification": "150mg*50粒",
            }
        ],
        today=kw.pop("today", TODAY),
        **kw,
    )


def statuses(prescription) -> list[str]:
    return list(prescription.history.order_by("pk").values_list("to_status", flat=True))


def me(prescription, **kw) -> counter.Identity:
    return counter.Identity(
        certificate_type=kw.pop("certificate_type", "02"),
        certificate_no=kw.pop("certificate_no", prescription.patient.id_number),
        **kw,
    )


def line(prescription, stock_item, codes=None, packages=1) -> dict:
    item = prescription.items.get()
    return {
        "item_id": item.pk,
        "stock_item_id": stock_item.pk,
        "packages": packages,
        "trace_codes": codes if codes is not None else [stock_codes(stock_item)[0]],
    }


def stock_codes(stock_item) -> list[str]:
    return sorted(
        TraceCode.objects.filter(stock_item=stock_item, status="in_stock").values_list(
            "code", flat=True
        )
    )


def dispense(actor, prescription, stock_item, *, key="k-1", identity=None, **kw):
    return counter.counter_dispense(
        actor=actor,
        prescription_id=prescription.pk,
        identity=identity or me(prescription),
        lines=kw.pop("lines", None) or [line(prescription, stock_item)],
        idempotency_key=key,
        today=kw.pop("today", TODAY),
        **kw,
    )


def ordinary(actor, patient, drug, *, boxes=1, today=TODAY):
    """An ordinary chronic-disease prescription: no eligibility, not three-fixed."""
    return services.prescription_issue(
        actor=actor,
        patient_id_number=patient.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[
            {
                "drug_id": drug.pk,
                "quantity": str(28 * boxes),
                "unit": "片",
                "pack_size": "28",
                **USAGE,
                "days": 28,
            }
        ],
        today=today,
    )
