"""Network first, then lock: the e-prescription-centre job holds no transaction (so no row lock)
while the centre answers, and a person's cancel made meanwhile is kept and undone after it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dualchannel.core import jobs
from dualchannel.core.jobs import run_once
from dualchannel.core.models import AuditEvent, Job, JobStatus
from dualchannel.integration.rxcentre import wire
from dualchannel.integration.tests.watch import lock_from_another_connection, watch_rx_centre
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import RxCentreStatus, RxCentreSubmission
from dualchannel.simulators.models import SimRx

from .helpers import dispense, special

R = RxCentreStatus
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def only_queued_jobs(monkeypatch):
    """The worker runs the jobs a test queues, not the project's nightly tasks."""
    monkeypatch.setattr(jobs, "_periodic", {})


@pytest.fixture
def routed_to_centre(connected, eligibility, physician_user, bound_pharmacy, stock):
    """Today's prescription routed to the connected pharmacy: its upload job is queued."""
    prescription = special(physician_user, eligibility, today=timezone.localdate())
    services.prescription_route(
        actor=physician_user,
        prescription_id=prescription.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=timezone.localdate(),
    )
    return prescription


def _submission(prescription) -> RxCentreSubmission:
    return RxCentreSubmission.objects.get(prescription=prescription)


def _rx_jobs(submission) -> list[Job]:
    return list(
        Job.objects.filter(kind="prescriptions.rx_centre", payload={"submission_id": submission.pk})
    )


def test_the_worker_calls_the_centre_with_no_transaction_open(
    routed_to_centre, pharmacist, pharmacist_user, stock, monkeypatch
):
    centre = watch_rx_centre(monkeypatch)

    # when: the worker uploads, then reports the dispensing and confirms its result
    run_once("w1")
    assert _submission(routed_to_centre).status == R.UPLOADED
    dispense(pharmacist_user, routed_to_centre, stock[0], today=timezone.localdate())
    run_once("w1")

    # then: every request to the centre went out with no transaction open
    apis = [api for api, _ in centre.calls]
    for api in (wire.UPLOAD_CHECK, wire.UPLOAD, wire.DISPENSE_UPLOAD, wire.SETTLEMENT_QUERY):
        assert api in apis
    assert [inside for _, inside in centre.calls] == [False] * len(centre.calls)
    submission = _submission(routed_to_centre)
    assert submission.dispense_reported and submission.result_confirmed_at is not None
    assert submission.claimed_until is None  # the claim was given back


@pytest.mark.postgres
def test_another_connection_can_lock_the_submission_while_the_centre_answers(
    routed_to_centre, monkeypatch
):
    submission = _submission(routed_to_centre)
    lock = lambda: lock_from_another_connection(RxCentreSubmission, submission.pk)  # noqa: E731
    centre = watch_rx_centre(monkeypatch, during={wire.UPLOAD: lock})

    run_once("w1")

    assert centre.seen[wire.UPLOAD] == "locked"  # FOR UPDATE NOWAIT did not find it held
    assert _submission(routed_to_centre).status == R.UPLOADED


def test_a_cancel_while_the_upload_runs_is_kept_and_the_undo_follows(
    routed_to_centre, physician_user, monkeypatch
):
    # given: the physician cancels the prescription while the centre is taking its upload
    centre = watch_rx_centre(
        monkeypatch,
        during={
            wire.UPLOAD: lambda: services.prescription_cancel(
                actor=physician_user, prescription_id=routed_to_centre.pk, reason="患者病情变化"
            )
        },
    )

    # when: the upload run records its outcome
    run_once("w1")

    # then: the upload is recorded and the cancel is kept, with another run queued for the undo
    submission = _submission(routed_to_centre)
    assert submission.status == R.UPLOADED and submission.hi_rxno and submission.uploaded_at
    assert submission.withdraw_requested and submission.withdraw_reason == "患者病情变化"
    assert [j.status for j in _rx_jobs(submission)].count(JobStatus.QUEUED) == 1

    # when: the worker runs that job, the prescription is undone at the centre
    run_once("w1")
    submission.refresh_from_db()
    assert submission.status == R.WITHDRAWN
    assert SimRx.objects.get(hi_rxno=submission.hi_rxno).status == "cancelled"
    actions = list(
        AuditEvent.objects.filter(action__startswith="prescriptions.rx_centre_")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["prescriptions.rx_centre_uploaded", "prescriptions.rx_centre_withdrawn"]
    assert all(not inside for _, inside in centre.calls)


def test_a_run_while_another_holds_the_submission_waits_until_its_claim_expires(
    routed_to_centre, monkeypatch
):
    # given: another run holds the submission (it is at the centre right now)
    submission = _submission(routed_to_centre)
    held_until = timezone.now() + timedelta(minutes=5)
    RxCentreSubmission.objects.filter(pk=submission.pk).update(
        claimed_by="job:999999", claimed_until=held_until
    )
    centre = watch_rx_centre(monkeypatch)

    # when: the upload job runs
    run_once("w1")

    # then: it calls nothing, changes nothing and looks again after a back-off
    (job,) = _rx_jobs(submission)
    assert job.status == JobStatus.RETRY and job.last_error == "SubmissionBusy: rx_centre_busy"
    submission.refresh_from_db()
    assert submission.status == R.PENDING and submission.attempts == 0
    assert centre.calls == []

    # when: that claim has expired (its run died) and the job looks again
    RxCentreSubmission.objects.filter(pk=submission.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    run_once("w1", now=job.run_after + timedelta(seconds=1))

    # then: it takes the submission over and uploads it
    submission.refresh_from_db()
    assert submission.status == R.UPLOADED and submission.attempts == 1
    assert submission.claimed_until is None
