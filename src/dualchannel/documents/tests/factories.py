"""Valid data for each kind of document, and a fixture-friendly physician with a user."""

from __future__ import annotations

from typing import Any

from dualchannel.registry.tests.factories import PhysicianFactory


def physician_for(user, **kwargs):
    """The Physician row of a physician user (same hospital)."""
    return PhysicianFactory(user=user, hospital=user.institution, name="李医生", **kwargs)


def patient_part(id_number: str = "420102197005170011") -> dict[str, Any]:
    return {"name": "张三丰", "sex": "男", "age": 55, "id_number": id_number}


def application_form_data(physician_name: str = "李医生", **overrides: Any) -> dict[str, Any]:
    data = {
        "application_date": "2026-03-05",
        **patient_part(),
        "insured_region": "武汉市江岸区",
        "insurance_category": "employee",
        "address": "武汉市江岸区沿江大道1号",
        "phone": "13900000001",
        "hospital_name": "武汉演示第一医院",
        "pharmacy_name": "江岸演示大药房",
        "diagnosis": "非小细胞肺癌（C34.900）",
        "drug_name": "甲磺酸奥希替尼片",
        "basis": "EGFR T790M 突变阳性（基因检测报告）",
        "within_restriction": True,
        "treatment_plan": "80mg 口服 每日一次",
        "evaluation_cycle": "3个月",
        "next_evaluation_date": "2026-06-05",
        "physician_name": physician_name,
    }
    data.update(overrides)
    return data


def treatment_plan_data(physician_name: str = "李医生") -> dict[str, Any]:
    return {
        "plan_date": "2026-03-05",
        **patient_part(),
        "hospital_name": "武汉演示第一医院",
        "department": "肿瘤科",
        "diagnosis": "非小细胞肺癌",
        "drug_name": "奥希替尼",
        "specification": "80mg*30片",
        "dose": "80mg",
        "frequency": "每日一次",
        "route": "口服",
        "total_quantity": "90片",
        "period_start": "2026-03-05",
        "period_end": "2026-06-04",
        "evaluation_cycle": "3个月",
        "physician_name": physician_name,
    }


def ah_filing_form_data(physician_name: str = "李医生") -> dict[str, Any]:
    return {
        **patient_part(),
        "address_or_employer": "合肥市瑶海区某单位",
        "phone": "13900000001",
        "insurance_category": "resident",
        "hospital_name": "合肥演示人民医院",
        "pharmacy_name": "瑶海演示药房",
        "application_date": "2026-03-05",
        "usage_type": "inpatient",
        "inpatient_diagnosis": "乳腺癌",
        "admission_date": "2026-03-01",
        "inpatient_no": "ZY2026000123",
        "drugs": [
            {"generic_name": "帕妥珠单抗", "specification": "420mg/14ml", "anticancer": True},
            {"generic_name": "曲妥珠单抗", "specification": "440mg", "anticancer": True},
        ],
        "payment_scope": "限HER2阳性的乳腺癌患者",
        "current_plan": "帕妥珠单抗 420mg 静滴 每3周一次；总药量 6 支",
        "plan_start": "2026-03-01",
        "plan_end": "2026-06-30",
        "used_quantity": "1支",
        "purchase_quantity": "1支",
        "physician_name": physician_name,
    }


def reevaluation_form_data(physician_name: str = "李医生", **overrides: Any) -> dict[str, Any]:
    data = {
        "evaluation_date": "2026-06-01",
        **patient_part(),
        "insured_region": "武汉市江岸区",
        "insurance_category": "employee",
        "phone": "13900000001",
        "hospital_name": "武汉演示第一医院",
        "pharmacy_name": "江岸演示大药房",
        "diagnosis": "非小细胞肺癌",
        "drug_name": "甲磺酸奥希替尼片",
        "eligibility_start_date": "2026-03-10",
        "current_plan": "80mg 口服 每日一次",
        "assessment": "病灶稳定，无明显不良反应",
        "result": "continue",
        "evaluation_cycle": "3个月",
        "next_evaluation_date": "2026-09-01",
        "physician_name": physician_name,
    }
    data.update(overrides)
    return data


def prescription_data(physician_name: str = "李医生") -> dict[str, Any]:
    return {
        "prescription_no": "RX20260305000001",
        "issue_date": "2026-03-05",
        **patient_part(),
        "insurance_category": "employee",
        "hospital_name": "武汉演示第一医院",
        "department": "肿瘤科",
        "diagnosis": "非小细胞肺癌",
        "items": [
            {
                "drug_name": "甲磺酸奥希替尼片",
                "specification": "80mg*30片",
                "quantity": "1",
                "unit": "盒",
                "usage": "80mg 口服 每日一次",
                "days": 30,
            }
        ],
        "valid_until": "2026-03-08",
        "long_prescription": False,
        "pharmacy_name": "江岸演示大药房",
        "physician_name": physician_name,
    }


DATA_BY_KIND = {
    "application_form": application_form_data,
    "treatment_plan": treatment_plan_data,
    "ah_filing_form": ah_filing_form_data,
    "reevaluation_form": reevaluation_form_data,
    "prescription": prescription_data,
}
