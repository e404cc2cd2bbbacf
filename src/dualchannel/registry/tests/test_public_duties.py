"""Public duties on the query page and API [HB art. 16, CX art. 16, 20]: responsible physicians
per hospital, the designation conditions, process and time limits of the region's profile."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.registry.models import DesignationStatus, PolicyProfile
from dualchannel.registry.profiles import DEFAULT_COMPLAINT_REPLY_WORKING_DAYS
from dualchannel.registry.tests.factories import (
    DesignationFactory,
    PhysicianFactory,
    designate,
    load_seed_profiles,
    qualified_hospital,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def published_hospital(db):
    load_seed_profiles()
    hospital = qualified_hospital(name="武汉公示医院", region_code="420102")
    designate(hospital)
    responsible = PhysicianFactory(hospital=hospital, name="责任医师甲", department="肿瘤科")
    DesignationFactory(institution=None, physician=responsible, status=DesignationStatus.ACTIVE)
    # filed but not yet designated: not published
    pending = PhysicianFactory(hospital=hospital, name="待审医师乙")
    DesignationFactory(institution=None, physician=pending, status=DesignationStatus.APPLIED)
    return hospital


def test_the_api_lists_a_hospitals_responsible_physicians_only(client, published_hospital):
    response = client.get(f"/api/v1/public/institutions/{published_hospital.pk}")

    physicians = response.json()["physicians"]
    assert physicians == [{"name": "责任医师甲", "department": "肿瘤科", "title": "副主任医师"}]


def test_the_page_shows_physicians_and_the_citys_designation_terms(client, published_hospital):
    response = client.get(reverse("public-query"), {"province": "420000", "city": "420100"})

    text = response.content.decode()
    assert "责任医师甲" in text and "待审医师乙" not in text
    assert 'id="designation-terms"' in text
    # Hubei's conditions, with Hubei's articles [HB art. 18-19, 21-22]
    # citations in the region's own words (registry.citation_words), never "HB art."
    assert "具备病理或基因检测能力" in text and "鄂医保发〔2023〕35号 第十八条第（一）项" in text
    assert "24 个月内不再纳入" in text
    assert "公示中" in text  # the process
    assert "按统筹地区经办规程办理" in text and "鄂医保发〔2023〕35号 第十六条" in text
    assert "HB art." not in text
    assert f"{DEFAULT_COMPLAINT_REPLY_WORKING_DAYS} 个工作日内答复" in text
    assert reverse("complaint-new") in text


def test_the_terms_endpoint_reads_the_regions_profile(client, published_hospital):
    PolicyProfile.objects.filter(region_id="420000").update(
        designation_time_limit_working_days=20, complaint_reply_working_days=10
    )

    body = client.get("/api/v1/public/regions/420102/designation").json()
    anhui = client.get("/api/v1/public/regions/340000/designation").json()

    assert body["time_limit_working_days"] == 20 and body["time_limit"] == "20 个工作日"
    assert body["complaint_reply_working_days"] == 10
    assert {"text": "药店：经营范围含生物制品", "basis": body["conditions"][2]["basis"]} in body[
        "conditions"
    ]
    assert all("鄂医保发" in c["basis"] for c in body["conditions"])
    # Anhui's page cites Anhui, never Hubei
    assert anhui["conditions"] and not any("鄂" in c["basis"] for c in anhui["conditions"])
    assert all("皖医保" in c["basis"] for c in anhui["conditions"])


def test_a_region_without_a_profile_is_not_found(client, db):
    response = client.get("/api/v1/public/regions/999999/designation")

    assert response.status_code == 404
    assert response.json()["error"]["message"]
