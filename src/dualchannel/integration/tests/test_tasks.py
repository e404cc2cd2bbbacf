"""Filings queued as jobs are sent by the worker and retried while the platform fails."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.db import transaction
from django.utils import timezone

from dualchannel.core import jobs
from dualchannel.core.errors import PermissionDenied
from dualchannel.core.job_failures import describe, failed_jobs_for, job_retry
from dualchannel.core.jobs import run_once
from dualchannel.core.models import Job, JobStatus
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.integration.models import (
    FilingStatus,
    PlatformCall,
    PlatformFiling,
    PlatformFilingTransition,
)
from dualchannel.integration.services import filing as filing_module
from dualchannel.integration.services.filing import filing_retry, filing_submit
from dualchannel.simulators.models import SimFiling
from dualchannel.simulators.platform import simulator_fail_next

from .conftest import FILING_INPUT

pytestmark = pytest.mark.django_db
BACKFILL = importlib.import_module("dualchannel.core.migrations.0010_job_institution_backfill")


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


def _history(filing):
    rows = PlatformFilingTransition.objects.filter(filing=filing).order_by("id")
    return list(rows.values_list("from_status", "to_status", "reason"))


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


def test_a_failing_platform_makes_the_job_back_off_and_the_retry_succeed(
    pending_filing, reviewer_user
):
    simulator_fail_next(1, mode="timeout", infno="2503")
    job = _queue(pending_filing)

    run_once("w1")
    job.refresh_from_db()
    pending_filing.refresh_from_db()
    assert pending_filing.status == FilingStatus.FAILED  # the attempt is recorded, not lost
    # the job is not logged done: it backs off itself (no second job beside it)
    assert (
        job.status == JobStatus.RETRY
        and job.last_error == "AttemptFailed: integration.filing_failed"
    )
    assert job.run_after > timezone.now()
    assert Job.objects.filter(kind="integration.filing").count() == 1
    assert [row.job for row in failed_jobs_for(reviewer_user)] == [job]

    assert run_once("w1") == 0  # not due yet
    run_once("w1", now=job.run_after + timedelta(seconds=1))
    pending_filing.refresh_from_db()
    job.refresh_from_db()
    assert pending_filing.status == FilingStatus.ACCEPTED and pending_filing.attempts == 2
    assert job.status == JobStatus.DONE and job.attempts == 2
    assert PlatformFiling.objects.filter(kind="2503").count() == 1  # filed once, not twice
    keys = set(PlatformCall.objects.filter(infno="2503").values_list("idempotency_key", flat=True))
    assert keys == {pending_filing.idempotency_key}


def test_a_filing_refused_for_good_makes_its_job_dead_on_the_failed_jobs_page(
    pending_filing, reviewer_user
):
    PlatformFiling.objects.filter(pk=pending_filing.pk).update(
        input={**pending_filing.input, "psn_no": "UNKNOWN0001"}
    )
    job = _queue(pending_filing)

    run_once("w1")

    job.refresh_from_db()
    pending_filing.refresh_from_db()
    assert pending_filing.status == FilingStatus.DEAD
    assert (
        job.status == JobStatus.DEAD and job.last_error == "AttemptFailed: integration.filing_dead"
    )
    (row,) = failed_jobs_for(reviewer_user)
    assert row.job == job and row.dead and row.error == pending_filing.last_error


def test_filing_attempts_run_out_while_the_job_backs_off_then_the_job_is_dead(
    pending_filing, monkeypatch
):
    monkeypatch.setattr(filing_module, "MAX_ATTEMPTS", 2)
    simulator_fail_next(2, mode="timeout", infno="2503")
    job = _queue(pending_filing)

    run_once("w1")
    job.refresh_from_db()
    assert job.status == JobStatus.RETRY
    run_once("w1", now=job.run_after + timedelta(seconds=1))

    job.refresh_from_db()
    pending_filing.refresh_from_db()
    assert pending_filing.status == FilingStatus.DEAD and pending_filing.attempts == 2
    assert job.status == JobStatus.DEAD and job.attempts == 2


def test_the_failed_jobs_page_retry_sends_a_dead_filing_again_in_the_same_job(
    pending_filing, reviewer_user, monkeypatch
):
    monkeypatch.setattr(filing_module, "MAX_ATTEMPTS", 1)  # busy once: dead at once
    simulator_fail_next(1, infno="2503")
    job = _queue(pending_filing)
    run_once("w1")
    pending_filing.refresh_from_db()
    assert pending_filing.status == FilingStatus.DEAD

    job_retry(actor=reviewer_user, job_id=job.pk)

    pending_filing.refresh_from_db()
    assert pending_filing.status == FilingStatus.FAILED  # ready for the job to send
    assert _history(pending_filing)[-1] == ("dead", "failed", "人工重新排队")
    run_once("w1")
    pending_filing.refresh_from_db()
    job.refresh_from_db()
    assert pending_filing.status == FilingStatus.ACCEPTED
    assert job.status == JobStatus.DONE
    assert Job.objects.filter(kind="integration.filing").count() == 1


def test_a_pharmacist_cannot_requeue_a_filing_job(pending_filing, hospital, monkeypatch):
    pharmacist = UserFactory(username="ph2", institution=hospital, roles=[Role.PHARMACIST])
    monkeypatch.setattr(filing_module, "MAX_ATTEMPTS", 1)  # busy once: dead at once
    simulator_fail_next(1, infno="2503")
    job = _queue(pending_filing)
    run_once("w1")

    with pytest.raises(PermissionDenied):
        job_retry(actor=pharmacist, job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.DEAD


def test_the_filings_retry_button_continues_the_jobs_chain_not_a_second_one(
    pending_filing, reviewer_user
):
    # given: the job backed off after a timeout
    simulator_fail_next(1, mode="timeout", infno="2503")
    job = _queue(pending_filing)
    run_once("w1")
    assert Job.objects.get(pk=job.pk).status == JobStatus.RETRY

    # when: a person presses the filing's retry button and the platform times out again
    simulator_fail_next(1, mode="timeout", infno="2503")
    retried = filing_retry(pending_filing, actor=reviewer_user)

    # then: still one job for it, backing off; its next run sends the filing, filed once
    assert retried.status == FilingStatus.FAILED and retried.attempts == 2
    assert Job.objects.filter(kind="integration.filing").count() == 1
    job.refresh_from_db()
    run_once("w1", now=job.run_after + timedelta(seconds=1))
    pending_filing.refresh_from_db()
    assert pending_filing.status == FilingStatus.ACCEPTED and pending_filing.attempts == 3
    assert SimFiling.objects.count() == 1


def test_an_accepted_retry_by_button_takes_the_dead_job_off_the_failed_jobs_page(
    pending_filing, reviewer_user, monkeypatch
):
    monkeypatch.setattr(filing_module, "MAX_ATTEMPTS", 1)  # busy once: dead at once
    simulator_fail_next(1, infno="2503")
    job = _queue(pending_filing)
    run_once("w1")
    assert Job.objects.get(pk=job.pk).status == JobStatus.DEAD

    retried = filing_retry(pending_filing, actor=reviewer_user)

    assert retried.status == FilingStatus.ACCEPTED
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert failed_jobs_for(reviewer_user) == []


def test_the_job_carries_the_filings_institution_and_is_described_in_words(
    pending_filing, connected_hospital
):
    job = _queue(pending_filing)

    row = describe(job)
    assert job.institution_id == connected_hospital.pk
    assert row.what == "医保平台备案" and pending_filing.person.name in row.document


def test_jobs_queued_before_they_carried_an_institution_get_it_from_their_filing(
    pending_filing, connected_hospital
):
    job = _queue(pending_filing)
    with transaction.atomic():
        done = jobs.enqueue("integration.filing", {"filing_id": pending_filing.pk})
    Job.objects.filter(pk=done.pk).update(status=JobStatus.DONE)
    Job.objects.update(institution=None)  # as queued before core 0009

    BACKFILL.backfill(django_apps, None)

    job.refresh_from_db()
    done.refresh_from_db()
    assert job.institution_id == connected_hospital.pk
    assert done.institution_id is None  # done jobs are left as they are


def test_a_failed_retry_by_button_queues_the_filings_dead_job_again_not_a_new_one(
    pending_filing, reviewer_user
):
    # given: the job used its only attempt on a timeout; the filing may still be retried
    Job.objects.filter(kind="integration.filing").update(max_attempts=1)
    simulator_fail_next(2, mode="timeout", infno="2503")
    job = _queue(pending_filing)
    run_once("w1")
    job.refresh_from_db()
    assert job.status == JobStatus.DEAD
    pending_filing.refresh_from_db()
    assert pending_filing.status == FilingStatus.FAILED

    # when: the button's send times out too
    retried = filing_retry(pending_filing, actor=reviewer_user)

    # then: the same job is queued again after a back-off (the status's 将重试 holds)
    assert retried.status == FilingStatus.FAILED
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
    assert job.run_after > timezone.now()
    assert Job.objects.filter(kind="integration.filing").count() == 1
