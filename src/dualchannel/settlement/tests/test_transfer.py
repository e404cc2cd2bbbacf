"""An eligibility moves with the person's insurance relation within the province, and the new
region's rules apply from the transfer date [HB art. 50]; a transfer to a region without a
profile or to another province is refused, nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import AuditEvent
from dualchannel.eligibility.models import EligibilityStatus
from dualchannel.eligibility.services import eligibility_transfer_with_person
from dualchannel.registry.models import (
    EnrolmentChange,
    InsuredPerson,
    PolicyProfile,
    Region,
    RegionLevel,
)
from dualchannel.registry.selectors import enrolment_region_on
from dualchannel.registry.tests.factories import region
from dualchannel.settlement import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def yichang(db):
    return Region.objects.create(
        code="420500", name="宜昌市", level=RegionLevel.CITY, parent=region("420000")
    )


def transfer(officer, person, to, **over):
    return eligibility_transfer_with_person(
        actor=officer, person_id=person.pk, to_region=to, **over
    )


def state(person):
    return (
        InsuredPerson.objects.filter(pk=person.pk).values_list("enrolment_region_id").get(),
        EnrolmentChange.objects.count(),
        AuditEvent.objects.count(),
        person.eligibilities.get().history.count(),
    )


def test_the_eligibility_moves_with_the_person_and_keeps_going(eligibility, agency_user, yichang):
    """HB art. 50: the insurance relation moves within the province; the eligibility goes with
    it, unchanged, with a history row and an audit event."""
    person = eligibility.patient
    old = person.enrolment_region
    today = timezone.localdate()

    done = transfer(agency_user, person, "420500", reason="工作调动")

    person.refresh_from_db()
    eligibility.refresh_from_db()
    assert person.enrolment_region_id == "420500"
    assert done.change.from_region == old and done.change.effective_on == today
    assert done.eligibilities == [eligibility]
    assert eligibility.status == EligibilityStatus.ACTIVE
    last = eligibility.history.order_by("-at", "-id").first()
    assert last.from_status == last.to_status == "active" and "宜昌市" in last.reason
    assert AuditEvent.objects.filter(action="eligibility.transferred").count() == 1
    event = AuditEvent.objects.get(action="registry.insured_person_transferred")
    assert event.summary == {"from": old.code, "to": "420500", "effective_on": today.isoformat()}


def test_the_region_in_force_on_a_day_follows_the_transfer_date(eligibility, agency_user, yichang):
    """HB art. 50: the day before the transfer the person is still the old region's; from the
    transfer date the new one's (a claim for an earlier purchase keeps the old region's rules)."""
    person = eligibility.patient
    old = person.enrolment_region_id
    today = timezone.localdate()

    transfer(agency_user, person, "420500")

    person.refresh_from_db()
    assert enrolment_region_on(person, today - timedelta(days=1)).code == old
    assert enrolment_region_on(person, today).code == "420500"


def test_settlement_uses_the_region_in_force_on_the_day(
    dispensed, agency_user, yichang, pharmacist_user
):
    """HB art. 50: after the transfer the counter prices with the new region's rules; Yichang
    has none configured here, so the settlement is refused rather than paid on Wuhan's."""
    person = dispensed.prescription.patient
    assert (
        services.settlement_preview(
            actor=pharmacist_user, prescription_id=dispensed.prescription_id
        ).breakdown.fund
        > 0
    )

    transfer(agency_user, person, "420500")

    with pytest.raises(DomainError) as refused:
        services.settlement_preview(
            actor=pharmacist_user, prescription_id=dispensed.prescription_id
        )
    assert refused.value.code == "settlement.no_benefit_rule"


def test_a_transfer_across_provinces_is_refused_and_nothing_written(eligibility, agency_user):
    """HB art. 50 (bad input): only within the province."""
    region("340100")
    before = state(eligibility.patient)

    with pytest.raises(DomainError) as refused:
        transfer(agency_user, eligibility.patient, "340100")

    assert refused.value.code == "registry.transfer_across_provinces"
    assert state(eligibility.patient) == before


def test_a_transfer_to_a_region_without_a_profile_is_refused(eligibility, agency_user, yichang):
    """HB art. 50 (bad input): the region joined must have its dual-channel profile."""
    PolicyProfile.objects.filter(region_id="420000").delete()
    before = state(eligibility.patient)

    with pytest.raises(DomainError) as refused:
        transfer(agency_user, eligibility.patient, "420500")

    assert refused.value.code == "registry.transfer_no_profile"
    assert "未配置双通道政策参数" in refused.value.message
    assert state(eligibility.patient) == before


def test_a_future_date_the_same_region_and_another_regions_officer_are_refused(
    eligibility, agency_user, outsider_agency, yichang
):
    """HB art. 50 (bad input): a date not yet come, no move at all, an officer of elsewhere."""
    person = eligibility.patient
    before = state(person)
    with pytest.raises(DomainError) as refused:
        transfer(
            agency_user, person, "420500", effective_on=timezone.localdate() + timedelta(days=1)
        )
    assert refused.value.code == "registry.transfer_invalid_date"
    with pytest.raises(DomainError) as refused:
        transfer(agency_user, person, person.enrolment_region_id)
    assert refused.value.code == "registry.transfer_same_region"
    with pytest.raises(NotFound):
        transfer(outsider_agency, person, "420500")
    assert state(person) == before


def test_the_officer_page_and_the_api_transfer(
    eligibility, agency_user, client, api_client, yichang
):
    """HB art. 50: the officer finds the person (masked), transfers; the API answers the same."""
    person = eligibility.patient
    client.force_login(agency_user)
    url = reverse("agency-eligibility-transfer")
    page = client.get(url, {"id_number": person.id_number})
    text = page.content.decode()
    assert page.status_code == 200 and eligibility.drug.generic_name in text
    assert person.id_number not in text

    refused = api_client.as_user(agency_user).post_json(
        "/api/v1/eligibility/transfers",
        {"person_id_number": person.id_number, "to_region": "340100"},
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "registry.transfer_across_provinces"
    answer = client.post(url, {"person_id": person.pk, "to_region": "420500"})
    assert answer.status_code == 302
    person.refresh_from_db()
    assert person.enrolment_region_id == "420500"


def test_the_page_offers_the_provinces_regions_by_name_and_shows_the_person_after(
    eligibility, agency_user, client, yichang
):
    """HB art. 50 (issue 12): the region joined is picked by name among the province's (no code
    to type); after the transfer the page shows the person again, found by the record's key
    (no ID number in the address), with the move in the record."""
    region("420106")
    person = eligibility.patient
    client.force_login(agency_user)
    url = reverse("agency-eligibility-transfer")
    text = client.get(url, {"id_number": person.id_number}).content.decode()
    assert '<option value="420106">武汉市 武昌区</option>' in text
    assert '<option value="420500">宜昌市</option>' in text
    assert "340100" not in text and "区划代码" not in text

    answer = client.post(url, {"person_id": person.pk, "to_region": "420106", "reason": "迁居"})

    assert answer.status_code == 302 and answer.url == f"{url}?person={person.pk}"
    page = client.get(answer.url).content.decode()
    assert "已办理参保关系转移" in page and "现参保地：武昌区" in page
    assert "迁居" in page and person.id_number not in page
