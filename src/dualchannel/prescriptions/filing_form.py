"""Anhui's external-purchase filing form (外购备案表) that travels with each purchase [AH §2(4)].

Where the profile's binding mode is ``filing_form``, the responsible physician issues the
prescription and fills the form naming the dual-channel pharmacy the patient chose; the patient
takes both to that pharmacy. Here the form is signed with the prescription, in the same
transaction, and the prescription may then be routed only to the pharmacy the form names.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from dualchannel.catalog.selectors import restriction_on
from dualchannel.core.errors import DomainError
from dualchannel.eligibility.selectors import current_plan
from dualchannel.registry.models import (
    BindingMode,
    InpatientStay,
    Institution,
    InstitutionKind,
    PolicyProfile,
)
from dualchannel.registry.selectors import public_institutions

from . import error_codes as codes
from .models import Prescription

INSURANCE_CATEGORY = {"310": "employee", "390": "resident"}
SEX_LABEL = {"1": "男", "2": "女"}


def patient_fields(person, today: date) -> dict[str, Any]:
    """The patient block every signed prescription form carries (name, sex, age, ID, insurance)."""
    birth = person.birth_date
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    category = INSURANCE_CATEGORY.get(person.insurance_type, "other")
    fields: dict[str, Any] = {
        "name": person.name,
        "sex": SEX_LABEL.get(person.sex, "男"),
        "age": age,
        "id_number": person.id_number,
        "insurance_category": category,
    }
    if category == "other":
        fields["insurance_category_other"] = person.get_insurance_type_display()
    return fields


def needs_filing_form(profile: PolicyProfile | None) -> bool:
    return profile is not None and profile.binding_mode == BindingMode.FILING_FORM


def region_pharmacies(hospital: Institution):
    """Designated dual-channel pharmacies the form may name: the hospital's province, its own
    pooling area and the other ones — bought across regions of the province, the purchase is
    claimed at home with the form and the receipts [AH §2(5)]."""
    province = (hospital.region_id or "")[:2]
    return public_institutions(kind=InstitutionKind.PHARMACY).filter(
        region__code__startswith=province
    )


def filing_pharmacy(hospital: Institution, pharmacy_id: int | None) -> Institution:
    """The pharmacy the form names: required, and designated for dual channel in the area."""
    if pharmacy_id is None:
        raise DomainError(
            codes.FILING_PHARMACY_REQUIRED,
            "本统筹区须填写《外购备案表》：请选择患者选定的双通道药店",
            fields={"pharmacy_id": ["必填"]},
        )
    pharmacy = region_pharmacies(hospital).filter(pk=pharmacy_id).first()
    if pharmacy is None:
        raise DomainError(
            codes.PHARMACY_NOT_ALLOWED,
            "所选药店不是本省的双通道定点药店",
            fields={"pharmacy_id": ["不是双通道定点药店"]},
        )
    return pharmacy


def _quantity(value: Decimal, unit: str) -> str:
    return f"{value.normalize():f}{unit}"


def filing_form_data(
    prescription: Prescription, today: date, *, stay: InpatientStay | None = None
) -> dict[str, Any]:
    """The fields of documents.kinds.AH_FILING_FORM for one prescription: the outpatient (门慢)
    version, or with ``stay`` the inpatient one (住院诊断, 入院时间, 住院号) [AH annex]."""
    person = prescription.patient
    items = list(prescription.items.select_related("drug").order_by("position"))
    restrictions = []
    for item in items:
        found = restriction_on(item.drug, today)
        restrictions.append(
            f"{item.drug.generic_name}：{found.text}"
            if found and found.text
            else item.drug.generic_name
        )
    eligibility = prescription.eligibility
    if eligibility is not None:
        plan = current_plan(eligibility)
        unit = plan["quantity_unit"]
        current = (
            f"{plan['dose']} {plan['frequency']} {plan['route']}，"
            f"总药量{_quantity(plan['total_quantity'], unit)}"
        )
        start, end = plan["period_start"], plan["period_end"]
        used = _quantity(eligibility.plan_used_quantity, unit)
    else:
        current = "；".join(
            f"{i.drug.generic_name} {i.usage}，{_quantity(i.quantity, i.unit)}" for i in items
        )
        start = prescription.issued_at.date()
        end = start + timedelta(days=max(i.days for i in items) - 1)
        used = "—"
    return {
        **patient_fields(person, today),
        "address_or_employer": person.address or "—",
        "phone": person.phone or "—",
        "hospital_name": prescription.hospital.name,
        "pharmacy_name": prescription.filing_pharmacy.name,
        "application_date": today.isoformat(),
        **_usage(prescription, stay),
        "drugs": [
            {
                "generic_name": i.drug.generic_name,
                "specification": i.specification or "—",
                "anticancer": i.drug.is_anti_cancer,
            }
            for i in items
        ],
        "payment_scope": "；".join(restrictions),
        "current_plan": current,
        "plan_start": start.isoformat(),
        "plan_end": end.isoformat(),
        "used_quantity": used,
        "purchase_quantity": "；".join(
            f"{i.drug.generic_name} {_quantity(i.quantity, i.unit)}" for i in items
        ),
        "physician_name": prescription.physician.name,
    }


def _usage(prescription: Prescription, stay: InpatientStay | None) -> dict[str, Any]:
    """The form's 药品使用 block: 住院 with the stay's diagnosis, admission date and number, or
    门慢 with the prescription's disease."""
    if stay is None:
        return {
            "usage_type": "chronic",
            "chronic_disease": f"{prescription.diagnosis_name}（{prescription.diagnosis_code}）",
        }
    return {
        "usage_type": "inpatient",
        "inpatient_diagnosis": f"{stay.diagnosis_name}（{stay.diagnosis_code}）",
        "admission_date": stay.admitted_on.isoformat(),
        "inpatient_no": stay.admission_no,
    }
