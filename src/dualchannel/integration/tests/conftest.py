from __future__ import annotations

import pytest

from dualchannel.registry.tests.factories import InsuredPersonFactory

HOSPITAL_CODE = "H42010200001"
OTHER_CODE = "H34010200001"


@pytest.fixture
def connected_hospital(hospital):
    hospital.platform_code = HOSPITAL_CODE
    hospital.save(update_fields=["platform_code"])
    return hospital


@pytest.fixture
def connected_other_hospital(other_hospital):
    other_hospital.platform_code = OTHER_CODE
    other_hospital.save(update_fields=["platform_code"])
    return other_hospital


@pytest.fixture
def filed_person(db):
    return InsuredPersonFactory(
        name="张伟", phone="13900000001", address="武汉市江岸区演示小区", region_code="420102"
    )


FILING_INPUT = {
    "opsp_dise_code": "C34.100x004",
    "opsp_dise_name": "右肺上叶恶性肿瘤（洛拉替尼片）",
    "diag_dr_codg": "D420102000001",
    "diag_dr_name": "李医生",
    "begndate": "2026-03-02",
    "enddate": "2026-05-31",
}
