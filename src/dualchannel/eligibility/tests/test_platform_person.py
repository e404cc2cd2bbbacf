"""从医保平台查询 on the physician's new application [national 1101]: a patient the hospital
system holds but the registry does not is fetched from the platform by ID number and name, then
the usual lookup offers the hospital's diagnoses; the platform down or the person unknown is a
Chinese refusal in the message area and nothing is registered."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.registry.models import InsuredPerson
from dualchannel.registry.tests.factories import region
from dualchannel.simulators.models import FaultMode
from dualchannel.simulators.persons import PLATFORM_ONLY
from dualchannel.simulators.platform import simulator_fail_next

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ZHAO = PLATFORM_ONLY[0]  # in the demo HIS, known to the platform, not to the registry


@pytest.fixture
def connected(physician, hospital):
    hospital.platform_code = "H42010200001"
    hospital.save(update_fields=["platform_code"])
    region("420102")
    return hospital


def _fetch(client, user, name="赵敏"):
    client.force_login(user)
    return client.post(
        reverse("eligibility-doctor-patient-platform"),
        {"patient_id_number": ZHAO.id_number, "platform_name": name},
        **HTMX,
    )


def test_1101_lookup_of_an_unregistered_patient_offers_the_platform(
    client, connected, physician_user
):
    """national 1101: when the search finds nobody, the page offers 从医保平台查询."""
    client.force_login(physician_user)
    body = client.get(
        reverse("eligibility-doctor-patient"), {"patient_id_number": ZHAO.id_number}, **HTMX
    ).content.decode()

    assert "未找到该患者" in body
    assert "从医保平台查询" in body and reverse("eligibility-doctor-patient-platform") in body


def test_1101_fetch_registers_the_patient_and_shows_the_his_diagnoses_masked(
    client, connected, physician_user
):
    """national 1101: the platform's answer is registered and shown masked; the hospital
    system's diagnoses follow as for any registered patient."""
    response = _fetch(client, physician_user)

    body = response.content.decode()
    assert response.status_code == 200
    assert InsuredPerson.objects.filter(id_number=ZHAO.id_number, name="赵敏").exists()
    assert "已从医保信息平台登记参保信息" in body
    assert "赵*" in body and "职工基本医疗保险" in body and "正常享受待遇" in body
    assert ZHAO.id_number not in body and "赵敏" not in body
    assert 'value="C34.100x004|右肺上叶恶性肿瘤"' in body


def test_1101_platform_down_is_a_chinese_message_and_nothing_is_written(
    client, connected, physician_user
):
    """national 1101: a failure injected into the simulator refuses in the message area."""
    simulator_fail_next(1, mode=FaultMode.ERROR, infno="1101")

    body = _fetch(client, physician_user).content.decode()

    assert 'role="alert"' in body and "医保信息平台暂时无法访问" in body
    assert not InsuredPerson.objects.filter(id_number=ZHAO.id_number).exists()


def test_1101_a_wrong_name_is_refused_and_nothing_is_written(client, connected, physician_user):
    """national 1101: the platform matches the name with the ID number."""
    body = _fetch(client, physician_user, name="赵明").content.decode()

    assert 'role="alert"' in body and "姓名与证件号码不匹配" in body
    assert not InsuredPerson.objects.filter(id_number=ZHAO.id_number).exists()


def test_1101_a_reviewer_or_pharmacist_cannot_use_the_physicians_fetch(
    client, connected, reviewer_user, pharmacist_user
):
    """national 1101: the physician's page is the physician's; others get 403."""
    for user in (reviewer_user, pharmacist_user):
        assert _fetch(client, user).status_code == 403
    assert not InsuredPerson.objects.filter(id_number=ZHAO.id_number).exists()
