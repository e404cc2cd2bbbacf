"""Filings queued as jobs are sent by the worker and retried while the platform fails."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from dualchannel.core.job_failures import describe
from dualchannel.core.jobs import run_once
from dualchannel.core.models import Job
from dualchannel.integration.models import FilingStatus, PlatformFiling
from dualchannel.integration.services.filing import filing_submit
from dualchannel.simulators.platform import simulator_fail_next

from .conftest import FILING_INPUT

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_filing(connected_hospital, filed_person, reviewer_user):
    with transaction.atomic():
        return filing_submit(
            actor=reviewer_user,
            subject=("eligibility", "1"),
            person=filed_person,
            institution=connected_hospital,
            input=FILING_INPUT,
            queue=True,
        )


def _queue(filing):
    job = Job.objects.get(kind="integration.filing")
    assert job.payload == {"filing_id": filing.pk}
    assert filing.status == FilingStatus.PENDING
    return job


def test_worker_sends_a_queued_filing(pending_filing):
    job = _queue(pending_filing)

    assert run_once("w1") == 1

    pending_filing.refresh_from_db()
    job.refresh_from_db()
    assert pending_filing.status == FilingStatus.ACCEPTED
    assert pending_filing.trt_dcla_detl_sn
    assert job.status == "done"


def test_a_failing_platform_makes_the_job_back_off_and_the_retry_succeed(pending_filing):
    simulator_fail_next(1, mode="timeout", infno="2503")
    job = _queue(pending_filing)

    run_once("w1")
    job.refresh_from_db()
    pending_filing.refresh_from_db()
    assert pending_filing.status == FilingStatus.FAILED  # the attempt is recorded, not lost
    assert job.status == "done"
    retry = Job.objects.exclude(pk=job.pk).get(kind="integration.filing")
    assert retry.run_after > timezone.now()

    assert run_once("w1") == 0  # not due yet
    run_once("w1", now=retry.run_after + timedelta(seconds=1))
    pending_filing.refresh_from_db()
    assert pending_filing.status == FilingStatus.ACCEPTED
    assert PlatformFiling.objects.filter(kind="2503").count() == 1  # filed once, not twice


def test_the_job_carries_the_filings_institution_and_is_described_in_words(
    pending_filing, connected_hospital
):
    job = _queue(pending_filing)

    row = describe(job)
    assert job.institution_id == connected_hospital.pk
    assert row.what == "医保平台备案" and pending_filing.person.name in row.document
