"""Network first, then lock: no transaction (so no row lock) is open while the platform answers a
2503/2504; a filing claimed by a sender that died is sent again with its key, filed once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from dualchannel.core import jobs
from dualchannel.core.jobs import DEFAULT_LEASE, run_once
from dualchannel.core.models import Job, JobStatus
from dualchannel.integration.models import (
    FilingKind,
    FilingStatus,
    PlatformCall,
    PlatformFiling,
    PlatformFilingTransition,
)
from dualchannel.integration.services import filing as filing_module
from dualchannel.integration.services.filing import (
    RESEND_AFTER,
    filing_retry,
    filing_submit,
    filing_withdraw,
    may_retry,
)
from dualchannel.simulators.models import SimFiling
from dualchannel.simulators.platform import simulator_fail_next

from .conftest import FILING_INPUT
from .watch import WorkerDied, lock_from_another_connection, watch_platform

S = FilingStatus
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def only_queued_jobs(monkeypatch):
    """The worker runs the jobs a test queues, not the project's nightly tasks."""
    monkeypatch.setattr(jobs, "_periodic", {})


def _submit(reviewer_user, connected_hospital, filed_person, **kwargs) -> PlatformFiling:
    return filing_submit(
        actor=reviewer_user,
        subject=("eligibility.Eligibility", "1"),
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
        **kwargs,
    )


@pytest.fixture
def queued_filing(connected_hospital, filed_person, reviewer_user):
    with transaction.atomic():
        return _submit(reviewer_user, connected_hospital, filed_person, queue=True)


def _history(filing):
    return list(
        PlatformFilingTransition.objects.filter(filing=filing)
        .order_by("id")
        .values_list("from_status", "to_status")
    )


def _keys_sent(infno: str) -> set[str]:
    return set(PlatformCall.objects.filter(infno=infno).values_list("idempotency_key", flat=True))


def test_the_worker_calls_the_platform_with_no_transaction_open(queued_filing, monkeypatch):
    platform = watch_platform(monkeypatch)

    run_once("w1")

    queued_filing.refresh_from_db()
    assert queued_filing.status == S.ACCEPTED and queued_filing.trt_dcla_detl_sn
    assert [infno for infno, _ in platform.calls][-1] == "2503"
    assert [inside for _, inside in platform.calls] == [False] * len(platform.calls)
    assert _history(queued_filing) == [("", "pending"), ("pending", "sent"), ("sent", "accepted")]


@pytest.mark.postgres
def test_another_connection_can_lock_the_filing_while_the_platform_answers(
    queued_filing, monkeypatch
):
    platform = watch_platform(
        monkeypatch,
        during={"2503": lambda: lock_from_another_connection(PlatformFiling, queued_filing.pk)},
    )

    run_once("w1")

    assert platform.seen["2503"] == "locked"  # FOR UPDATE NOWAIT did not find it held
    queued_filing.refresh_from_db()
    assert queued_filing.status == S.ACCEPTED


def test_a_filing_left_sent_by_a_dead_worker_is_sent_again_with_its_key_and_filed_once(
    queued_filing, monkeypatch
):
    # given: the worker dies after the platform took the 2503, before its answer was recorded
    watch_platform(monkeypatch, die_after="2503")
    with pytest.raises(WorkerDied):
        run_once("w1")
    queued_filing.refresh_from_db()
    job = Job.objects.get(kind="integration.filing")
    assert queued_filing.status == S.SENT and queued_filing.attempts == 1  # the claim committed
    assert job.status == JobStatus.RUNNING
    assert SimFiling.objects.count() == 1  # the platform has it

    # when: the job's lease runs out and another worker runs it again
    assert run_once("w2", now=timezone.now() + DEFAULT_LEASE + timedelta(seconds=1)) == 1

    # then: sent again with the same key, accepted with the platform's serial number, filed once
    queued_filing.refresh_from_db()
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert queued_filing.status == S.ACCEPTED and queued_filing.attempts == 2
    assert queued_filing.trt_dcla_detl_sn == SimFiling.objects.get().trt_dcla_detl_sn
    assert _keys_sent("2503") == {queued_filing.idempotency_key}
    assert _history(queued_filing) == [
        ("", "pending"),
        ("pending", "sent"),
        ("sent", "sent"),
        ("sent", "accepted"),
    ]
    resent = PlatformFilingTransition.objects.get(
        filing=queued_filing, from_status="sent", to_status="sent"
    )
    assert resent.reason == "上次发送未记录结果，重新发送"


def test_a_rerun_of_a_job_whose_attempt_was_recorded_sends_nothing(queued_filing, monkeypatch):
    # given: the platform times out; the job's run records the failure, then its worker dies
    # before the job could back off
    simulator_fail_next(1, mode="timeout", infno="2503")
    now = timezone.now()
    (job,) = jobs.claim("w1", 1, now=now, lease=timedelta(seconds=1))
    with pytest.raises(jobs.AttemptFailed):
        jobs.handler_for(job.kind).func(job)
    queued_filing.refresh_from_db()
    assert queued_filing.status == S.FAILED and queued_filing.attempts == 1
    assert queued_filing.claimed_by == f"job:{job.pk}:1"
    calls = PlatformCall.objects.count()

    # when: the job runs again after its (short) lease ran out
    assert run_once("w2", now=now + timedelta(seconds=2)) == 1

    # then: its recorded attempt is not made twice; the job backs off, no second job
    queued_filing.refresh_from_db()
    job.refresh_from_db()
    assert job.status == JobStatus.RETRY and job.attempts == 2
    assert queued_filing.status == S.FAILED and queued_filing.attempts == 1
    assert PlatformCall.objects.count() == calls
    assert Job.objects.filter(kind="integration.filing").count() == 1

    # when: its back-off is over, the same job sends again (same key), filed once
    run_once("w2", now=job.run_after + timedelta(seconds=1))
    queued_filing.refresh_from_db()
    job.refresh_from_db()
    assert queued_filing.status == S.ACCEPTED and queued_filing.attempts == 2
    assert job.status == JobStatus.DONE
    assert _keys_sent("2503") == {queued_filing.idempotency_key}
    assert SimFiling.objects.count() == 1


def test_a_job_that_backed_off_sends_again_on_its_next_run_even_after_a_person_reset_it(
    queued_filing, monkeypatch
):
    # given: the job's first run failed and it backed off; it was then put back by a person
    # (its attempts start over, so its next run's token repeats the recorded one's number)
    simulator_fail_next(2, mode="timeout", infno="2503")
    run_once("w1")
    job = Job.objects.get(kind="integration.filing")
    assert job.status == JobStatus.RETRY
    Job.objects.filter(pk=job.pk).update(attempts=0, run_after=timezone.now())

    # when: it runs again (not a rerun after a death)
    run_once("w1")

    # then: it sent again: a second attempt, recorded
    queued_filing.refresh_from_db()
    assert queued_filing.attempts == 2 and queued_filing.status == S.FAILED
    assert PlatformCall.objects.filter(infno="2503").count() == 2


def test_a_filing_whose_sender_was_lost_is_left_alone_while_fresh_then_sent_again(
    reviewer_user, connected_hospital, filed_person, monkeypatch
):
    # given: a person's send died after its claim (the request's process ended)
    watch_platform(monkeypatch, die_after="2503")
    with pytest.raises(WorkerDied):
        _submit(reviewer_user, connected_hospital, filed_person)
    filing = PlatformFiling.objects.get()
    assert filing.status == S.SENT and not may_retry(filing)

    # when: a job for it comes while that claim is fresh
    with transaction.atomic():
        job = jobs.enqueue("integration.filing", {"filing_id": filing.pk})
    run_once("w1")

    # then: it sends nothing and looks again after a back-off
    job.refresh_from_db()
    assert job.status == JobStatus.RETRY and job.last_error == "FilingInFlight: filing_in_flight"
    filing.refresh_from_db()
    assert filing.status == S.SENT and filing.attempts == 1

    # when: the claim has been silent for RESEND_AFTER (a person may now retry it, too)
    PlatformFiling.objects.filter(pk=filing.pk).update(updated_at=F("updated_at") - RESEND_AFTER)
    filing.refresh_from_db()
    assert may_retry(filing)
    run_once("w1", now=job.run_after + timedelta(seconds=1))

    # then: the job sends it again with its key; filed once
    filing.refresh_from_db()
    assert filing.status == S.ACCEPTED and filing.attempts == 2
    assert SimFiling.objects.count() == 1
    assert _keys_sent("2503") == {filing.idempotency_key}


def test_a_persons_send_calls_the_platform_with_no_transaction_open(
    reviewer_user, connected_hospital, filed_person, monkeypatch
):
    platform = watch_platform(monkeypatch)

    filing = _submit(reviewer_user, connected_hospital, filed_person)

    assert filing.status == S.ACCEPTED
    assert platform.calls and all(not inside for _, inside in platform.calls)


def test_a_send_asked_inside_another_business_transaction_is_queued_for_the_worker(
    reviewer_user, connected_hospital, filed_person, monkeypatch
):
    platform = watch_platform(monkeypatch)

    # when: a business action files inside its own transaction (not asking for the queue)
    with transaction.atomic():
        filing = _submit(reviewer_user, connected_hospital, filed_person)

    # then: nothing reached the platform inside it; the worker sends the filing afterwards
    assert filing.status == S.PENDING and platform.calls == []
    assert Job.objects.filter(kind="integration.filing", payload={"filing_id": filing.pk}).exists()
    run_once("w1")
    filing.refresh_from_db()
    assert filing.status == S.ACCEPTED
    assert platform.calls and all(not inside for _, inside in platform.calls)


def test_a_retry_asked_inside_another_transaction_is_sent_by_the_worker_even_when_dead(
    reviewer_user, agency_user, connected_hospital, filed_person, monkeypatch
):
    # given: a dead filing (the platform was busy on its only attempt)
    monkeypatch.setattr(filing_module, "MAX_ATTEMPTS", 1)
    simulator_fail_next(1, infno="2503")
    filing = _submit(reviewer_user, connected_hospital, filed_person)
    assert filing.status == S.DEAD
    platform = watch_platform(monkeypatch)

    # when: a retry is asked inside another transaction
    with transaction.atomic():
        returned = filing_retry(filing, actor=agency_user)

    # then: the platform was not called inside it (the filing is failed again, queued for the
    # worker, its dead job queued again); the worker sends it, accepted
    assert returned.status == S.FAILED and platform.calls == []
    assert Job.objects.filter(kind="integration.filing").count() == 1
    run_once("w1")
    filing.refresh_from_db()
    assert filing.status == S.ACCEPTED and filing.attempts == 2
    assert platform.calls and all(not inside for _, inside in platform.calls)


def test_a_withdraw_while_the_platform_answers_is_kept_and_the_2504_follows(
    queued_filing, reviewer_user, monkeypatch
):
    # given: the subject ends while the worker's 2503 is at the platform
    platform = watch_platform(
        monkeypatch,
        during={
            "2503": lambda: filing_withdraw(
                actor=reviewer_user, filing=queued_filing, reason="患者转院"
            )
        },
    )

    # when: the worker sends the 2503
    run_once("w1")

    # then: the withdraw was not blocked and not overwritten by the outcome
    cancel, note = platform.seen["2503"]
    assert cancel is None and note == "备案状态为「发送中」，受理后将自动撤销（2504）"
    queued_filing.refresh_from_db()
    assert queued_filing.status == S.ACCEPTED and queued_filing.cancel_reason == "患者转院"
    cancel = PlatformFiling.objects.get(kind=FilingKind.CANCEL, target=queued_filing)
    assert cancel.status == S.PENDING and cancel.input["memo"] == "患者转院"

    # when: the worker runs again, the 2504 is accepted and the 2503 cancelled
    run_once("w1")
    cancel.refresh_from_db()
    queued_filing.refresh_from_db()
    assert cancel.status == S.ACCEPTED and queued_filing.status == S.CANCELLED
    assert all(not inside for _, inside in platform.calls)
