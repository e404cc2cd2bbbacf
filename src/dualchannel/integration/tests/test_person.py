"""An insured person from the national platform [national 1101], through the client and the
simulator: asked outside any transaction, then created or updated in one transaction with its
audit event; the platform down or the person unknown refuses in Chinese and writes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from dualchannel.core.errors import DomainError, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.integration.models import PlatformCall
from dualchannel.integration.services import insured_person_fetch
from dualchannel.integration.services.person import benefit_status, platform_person
from dualchannel.registry.models import BenefitStatus, InsuredPerson
from dualchannel.registry.tests.factories import InsuredPersonFactory, region
from dualchannel.simulators.models import FaultMode
from dualchannel.simulators.persons import PLATFORM_ONLY
from dualchannel.simulators.platform import simulator_fail_next

pytestmark = pytest.mark.django_db

ZHAO, QIAN = PLATFORM_ONLY  # known to the platform, not to the registry
UNKNOWN_ID = "420102199001010313"  # valid check digit, known to nobody


@pytest.fixture
def regions(db):
    for code in ("420102", "420106"):
        region(code)


@pytest.fixture
def connected_agency(agency):
    agency.platform_code = "A42010000001"
    agency.save(update_fields=["platform_code"])
    return agency


def _fetched_events():
    return AuditEvent.objects.filter(action="registry.insured_person_fetched")


def test_1101_a_person_not_in_the_registry_is_created_from_the_platform(
    physician_user, connected_hospital, regions
):
    """national 1101: name, ID number, person number, insurance type, enrolment region and
    benefit status come from the platform, nothing typed but the ID number and the name."""
    assert not InsuredPerson.objects.filter(id_number=ZHAO.id_number).exists()

    fetched = insured_person_fetch(actor=physician_user, id_number=ZHAO.id_number, name="赵敏")

    person = fetched.person
    assert fetched.created
    assert (person.name, person.id_number, person.person_no) == (
        "赵敏",
        ZHAO.id_number,
        ZHAO.psn_no,
    )
    assert person.insurance_type == "310" and person.enrolment_region_id == "420102"
    assert person.benefit_status == BenefitStatus.NORMAL
    assert person.sex == "2" and person.birth_date == date(1969, 5, 18)
    event = _fetched_events().get()
    assert event.summary["created"] is True and event.summary["source"] == "1101"
    assert event.actor_role == "physician"
    assert PlatformCall.objects.filter(infno="1101", infcode="0").count() == 1


def test_1101_hb_art2_a_paused_insurance_is_recorded_as_suspended_benefits(
    agency_user, connected_agency, regions
):
    """national 1101, HB art. 2, CX art. 5: psn_insu_stas 2 (暂停参保) is not 正常享受; the officer
    fetches the person and the registry records the suspension."""
    fetched = insured_person_fetch(actor=agency_user, id_number=QIAN.id_number, name="钱进")

    assert fetched.person.benefit_status == BenefitStatus.SUSPENDED
    assert fetched.person.insurance_type == "390"
    assert fetched.person.enrolment_region_id == "420106"
    assert _fetched_events().get().actor_role == "agency_officer"


def test_1101_a_person_already_registered_is_brought_up_to_date(
    reviewer_user, connected_hospital, regions
):
    """national 1101: a person in the registry is updated from the platform (the platform's
    answer for them comes from the registry's simulator copy), with the changed fields audited."""
    person = InsuredPersonFactory(name="张伟", region_code="420102")

    fetched = insured_person_fetch(actor=reviewer_user, id_number=person.id_number, name="张伟")

    assert not fetched.created and fetched.person.pk == person.pk
    event = _fetched_events().get()
    assert event.summary["created"] is False and event.summary["fields"] == []


def test_1101_platform_down_refuses_in_chinese_and_writes_nothing(
    physician_user, connected_hospital, regions
):
    """national 1101: the platform busy (a failure injected into the simulator) is a clear
    refusal; no person, no audit event."""
    simulator_fail_next(1, mode=FaultMode.ERROR, infno="1101")

    with pytest.raises(DomainError) as refused:
        insured_person_fetch(actor=physician_user, id_number=ZHAO.id_number, name="赵敏")

    assert refused.value.code == "integration.platform_unreachable"
    assert "医保信息平台暂时无法访问" in refused.value.message
    assert not InsuredPerson.objects.filter(id_number=ZHAO.id_number).exists()
    assert not _fetched_events().exists()


def test_1101_platform_silent_refuses_too(physician_user, connected_hospital, regions):
    """national 1101: no answer at all (timeout) is the same refusal, nothing written."""
    simulator_fail_next(1, mode=FaultMode.TIMEOUT, infno="1101")

    with pytest.raises(DomainError) as refused:
        insured_person_fetch(actor=physician_user, id_number=ZHAO.id_number, name="赵敏")

    assert refused.value.code == "integration.platform_unreachable"
    assert not InsuredPerson.objects.filter(id_number=ZHAO.id_number).exists()


def test_1101_unknown_person_refuses_and_writes_nothing(
    physician_user, connected_hospital, regions
):
    """national 1101: a person the platform does not know is refused with its answer."""
    with pytest.raises(DomainError) as refused:
        insured_person_fetch(actor=physician_user, id_number=UNKNOWN_ID, name="无名")

    assert refused.value.code == "integration.person_not_found"
    assert "未查询到该人员参保信息" in refused.value.message
    assert not InsuredPerson.objects.exists()
    assert not _fetched_events().exists()


def test_1101_a_name_that_does_not_match_is_refused(physician_user, connected_hospital, regions):
    """national 1101: the platform checks psn_name against the certificate; nothing written."""
    with pytest.raises(DomainError) as refused:
        insured_person_fetch(actor=physician_user, id_number=ZHAO.id_number, name="赵明")

    assert refused.value.code == "integration.person_not_found"
    assert "姓名与证件号码不匹配" in refused.value.message
    assert not InsuredPerson.objects.exists()


def test_1101_bad_id_number_is_refused_before_any_call(physician_user, connected_hospital):
    """national 1101: a wrong check digit never reaches the platform."""
    with pytest.raises(DomainError) as refused:
        insured_person_fetch(actor=physician_user, id_number="420102199001010039", name="某")

    assert refused.value.code == "registry.invalid_id_number"
    assert not PlatformCall.objects.exists()


def test_1101_an_institution_without_platform_code_cannot_ask(agency_user, regions):
    """national 1101: the query goes through the actor's institution's platform connection."""
    with pytest.raises(DomainError) as refused:
        insured_person_fetch(actor=agency_user, id_number=ZHAO.id_number, name="赵敏")

    assert refused.value.code == "integration.institution_not_connected"
    assert not PlatformCall.objects.exists()


def test_1101_a_pharmacist_or_patient_may_not_fetch(pharmacist_user, patient_user):
    """national 1101: hospitals and officers fetch persons; other roles are refused."""
    for actor in (pharmacist_user, patient_user):
        with pytest.raises(PermissionDenied):
            insured_person_fetch(actor=actor, id_number=ZHAO.id_number, name="赵敏")


def test_1101_benefit_status_reads_the_status_and_the_pause_date():
    """national 1101, HB art. 2: 正常参保 with a pause date reached is paused; 4 is an end."""
    today = date(2026, 3, 10)
    assert benefit_status({"psn_insu_stas": "1"}, today=today) == BenefitStatus.NORMAL
    assert (
        benefit_status({"psn_insu_stas": "1", "paus_insu_date": "2026-03-10"}, today=today)
        == BenefitStatus.SUSPENDED
    )
    assert (
        benefit_status({"psn_insu_stas": "1", "paus_insu_date": "2026-04-01"}, today=today)
        == BenefitStatus.NORMAL
    )
    assert benefit_status({"psn_insu_stas": "4"}, today=today) == BenefitStatus.TERMINATED


def test_1101_only_basic_medical_insurance_is_taken():
    """national 1101: of several insurances the basic one (310/390) is kept; a person with
    none (e.g. only 410 long-term care) is refused."""
    base = {"psn_no": "X1", "certno": ZHAO.id_number, "psn_name": "赵敏"}
    insu = [
        {"insutype": "330", "psn_insu_stas": "1", "insuplc_admdvs": "420102"},
        {"insutype": "310", "psn_insu_stas": "1", "insuplc_admdvs": "420102"},
    ]
    data = platform_person(
        {"baseinfo": base, "insuinfo": insu}, id_number=ZHAO.id_number, name="赵敏"
    )
    assert data.insurance_type == "310"

    with pytest.raises(DomainError) as refused:
        platform_person(
            {"baseinfo": base, "insuinfo": [{"insutype": "410", "psn_insu_stas": "1"}]},
            id_number=ZHAO.id_number,
            name="赵敏",
        )
    assert refused.value.code == "integration.person_not_insured"


# --- the officer's person page ---------------------------------------------------------------


def test_1101_officer_page_finds_nobody_then_fetches_from_the_platform(
    client, agency_user, connected_agency, regions
):
    """national 1101: the officer's person page offers 从医保平台查询 when the registry holds
    nobody; the fetched person is registered and shown masked."""
    client.force_login(agency_user)
    page = client.get(reverse("agency-persons"), {"id_number": ZHAO.id_number}).content.decode()
    assert "本辖区未登记" in page and "从医保平台查询" in page

    response = client.post(
        reverse("agency-person-fetch"), {"id_number": ZHAO.id_number, "name": "赵敏"}
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "已从医保信息平台登记参保信息" in body and "赵*" in body and "赵敏" not in body
    assert "1101" not in body  # the interface's number is not the officer's word
    assert InsuredPerson.objects.filter(id_number=ZHAO.id_number).exists()
    again = client.get(reverse("agency-persons"), {"id_number": ZHAO.id_number}).content.decode()
    assert "赵*" in again and "本辖区未登记" not in again


def test_1101_officer_page_platform_down_writes_nothing(
    client, agency_user, connected_agency, regions
):
    """national 1101: the platform down is a Chinese message, nothing registered."""
    simulator_fail_next(1, mode=FaultMode.ERROR, infno="1101")
    client.force_login(agency_user)

    response = client.post(
        reverse("agency-person-fetch"),
        {"id_number": QIAN.id_number, "name": "钱进"},
        HTTP_HX_REQUEST="true",
    )

    assert "医保信息平台暂时无法访问" in response.content.decode()
    assert not InsuredPerson.objects.exists()


def test_1101_api_fetches_and_answers_masked(
    api_client, reviewer_user, connected_hospital, regions
):
    """national 1101: the API registers the person and answers with name and ID masked."""
    response = api_client.as_user(reviewer_user).post_json(
        "/api/v1/integration/persons/fetch", {"id_number": ZHAO.id_number, "name": "赵敏"}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["created"] is True and body["name"] == "赵*"
    assert body["id_number"] != ZHAO.id_number and body["benefit_status"] == "normal"


def test_1101_api_platform_down_is_an_error_and_writes_nothing(
    api_client, reviewer_user, connected_hospital, regions
):
    """national 1101: the platform down answers the error shape, nothing registered."""
    simulator_fail_next(1, mode=FaultMode.ERROR, infno="1101")

    response = api_client.as_user(reviewer_user).post_json(
        "/api/v1/integration/persons/fetch", {"id_number": ZHAO.id_number, "name": "赵敏"}
    )

    assert response.json()["error"]["code"] == "integration.platform_unreachable"
    assert not InsuredPerson.objects.exists()


def test_1101_another_regions_officer_cannot_rewrite_a_registered_person(outsider_agency, regions):
    """national 1101: a Hefei officer may register a person the registry lacks, but does not
    rewrite a person Wuhan registered; refused, nothing written."""
    person = InsuredPersonFactory(name="张伟", region_code="420102")
    agency = outsider_agency.institution
    agency.platform_code = "A34010000001"
    agency.save(update_fields=["platform_code"])

    with pytest.raises(DomainError) as refused:
        insured_person_fetch(actor=outsider_agency, id_number=person.id_number, name="张伟")

    assert refused.value.code == "registry.region_out_of_scope"
    assert not _fetched_events().exists()
