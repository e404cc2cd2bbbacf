"""Filings API: scoping, detail with history, retry permissions."""

from __future__ import annotations

import pytest

from dualchannel.integration.models import PlatformCall
from dualchannel.integration.services.filing import filing_submit
from dualchannel.simulators.platform import simulator_fail_next

from .conftest import FILING_INPUT

BASE = "/api/v1/integration/filings"


@pytest.fixture
def failed_filing(reviewer_user, connected_hospital, filed_person):
    simulator_fail_next(1, infno="2503")
    return filing_submit(
        actor=reviewer_user,
        subject=("eligibility.Eligibility", "7"),
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )


def test_list_by_subject_for_staff_and_officer(
    api_client, failed_filing, physician_user, agency_user
):
    for user in (physician_user, agency_user):
        response = api_client.as_user(user).get(
            BASE, {"subject_type": "eligibility.Eligibility", "subject_id": "7"}
        )
        assert response.status_code == 200
        (row,) = response.json()
        assert row["id"] == failed_filing.pk and row["status"] == "failed"

    other = api_client.as_user(agency_user).get(BASE, {"subject_id": "8"})
    assert other.json() == []


@pytest.mark.parametrize("who", ["outsider_reviewer", "outsider_agency", "patient_user"])
def test_outsiders_see_nothing(api_client, failed_filing, request, who):
    user = request.getfixturevalue(who)

    listed = api_client.as_user(user).get(BASE)
    detail = api_client.as_user(user).get(f"{BASE}/{failed_filing.pk}")
    retry = api_client.as_user(user).post_json(f"{BASE}/{failed_filing.pk}/retry")

    assert listed.json() == []
    assert detail.status_code == 404 and retry.status_code == 404
    failed_filing.refresh_from_db()
    assert failed_filing.status == "failed" and failed_filing.attempts == 1


def test_detail_has_history_and_masks_the_phone(api_client, failed_filing, reviewer_user):
    response = api_client.as_user(reviewer_user).get(f"{BASE}/{failed_filing.pk}")

    body = response.json()
    assert response.status_code == 200
    assert [h["to_status"] for h in body["history"]] == ["pending", "sent", "failed"]
    assert body["can_retry"] is True and "繁忙" in body["last_error"]
    assert body["input"]["tel"] == "139****0001" and body["input"]["addr"] == "***"


def test_reviewer_retries_a_failed_filing(api_client, failed_filing, reviewer_user):
    response = api_client.as_user(reviewer_user).post_json(f"{BASE}/{failed_filing.pk}/retry")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "accepted" and body["trt_dcla_detl_sn"]
    assert body["attempts"] == 2 and body["can_retry"] is False


def test_officer_retries_and_accepted_retry_is_refused(api_client, failed_filing, agency_user):
    first = api_client.as_user(agency_user).post_json(f"{BASE}/{failed_filing.pk}/retry")
    calls = PlatformCall.objects.count()
    again = api_client.as_user(agency_user).post_json(f"{BASE}/{failed_filing.pk}/retry")

    assert first.status_code == 200
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "integration.filing_not_retryable"
    assert PlatformCall.objects.count() == calls


def test_physician_may_see_but_not_retry(api_client, failed_filing, physician_user):
    response = api_client.as_user(physician_user).post_json(f"{BASE}/{failed_filing.pk}/retry")

    assert response.status_code == 403
    failed_filing.refresh_from_db()
    assert failed_filing.status == "failed"


def test_anonymous_is_refused(client, failed_filing):
    assert client.get(BASE).status_code == 401
