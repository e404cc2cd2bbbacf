"""Durable jobs: written with the business transaction, run once, retried with back-off."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, connections, transaction

from dualchannel.core import jobs
from dualchannel.core.models import Job, JobStatus, ScheduledTask

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)

# What the test handlers did, by job id (reset per test).
RUNS: Counter = Counter()
FAILURES: list[tuple[int, str, bool]] = []


@pytest.fixture(autouse=True)
def _reset():
    RUNS.clear()
    FAILURES.clear()
    IN_TRANSACTION.clear()
    yield


def _failed(job, exc, dead):
    FAILURES.append((job.pk, type(exc).__name__, dead))


@jobs.job_handler("test.ok")
def _ok(job):
    RUNS[job.pk] += 1


@jobs.job_handler("test.boom", on_failure=_failed)
def _boom(job):
    RUNS[job.pk] += 1
    # The handler's own writes roll back with the failed attempt.
    Job.objects.filter(pk=job.pk).update(payload={"written": True})
    raise ValueError("420102199003071234 must never reach a log")


IN_TRANSACTION: list[bool] = []


@jobs.job_handler("test.network", on_failure=_failed, atomic=False)
def _network(job):
    """A handler that calls another system: it keeps its own short transactions."""
    IN_TRANSACTION.append(connection.in_atomic_block)
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(payload={"claimed": True})
    if job.payload.get("fail"):
        raise ConnectionError("platform down")
    RUNS[job.pk] += 1


@jobs.job_handler("test.permanent", on_failure=_failed)
def _permanent(job):
    raise jobs.PermanentJobError("not_subscribed")


def _hourly(job):
    RUNS[job.pk] += 1


def _daily(job):
    RUNS[job.pk] += 1


def _queue(kind="test.ok", **kw):
    with transaction.atomic():
        return jobs.enqueue(kind, {"id": 1}, run_after=kw.pop("run_after", T0), **kw)


@pytest.fixture
def no_periodic(monkeypatch):
    """Only the periodic tasks a test registers itself (none by default)."""
    monkeypatch.setattr(jobs, "_periodic", {})
    monkeypatch.setattr(jobs, "_handlers", dict(jobs._handlers))


@pytest.fixture
def hourly(no_periodic):
    jobs.periodic("test.every_hour", every=timedelta(hours=1))(_hourly)


@pytest.fixture
def daily(no_periodic):
    jobs.periodic("test.daily", at=time(0, 5))(_daily)


def test_enqueue_rolls_back_with_the_business_transaction():
    with pytest.raises(RuntimeError, match="business failed"), transaction.atomic():
        jobs.enqueue("test.ok", {"id": 1})
        raise RuntimeError("business failed")

    assert Job.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_enqueue_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError):
        jobs.enqueue("test.ok", {"id": 1})
    assert Job.objects.count() == 0


def test_duplicate_key_returns_the_existing_job():
    first = _queue(key="application:7:submitted")
    second = _queue(key="application:7:submitted")

    assert second.pk == first.pk
    assert Job.objects.count() == 1


def test_due_job_runs_once_and_is_done(no_periodic):
    job = _queue()

    ran = jobs.run_once("w1", now=T0)
    again = jobs.run_once("w1", now=T0 + timedelta(hours=1))

    job.refresh_from_db()
    assert (ran, again) == (1, 0)
    assert RUNS[job.pk] == 1
    assert job.status == JobStatus.DONE
    assert job.attempts == 1
    assert job.finished_at == T0
    assert (job.locked_by, job.locked_until) == ("", None)


def test_job_waits_for_run_after(no_periodic):
    job = _queue(run_after=T0 + timedelta(minutes=10))

    assert jobs.run_once("w1", now=T0) == 0
    assert jobs.run_once("w1", now=T0 + timedelta(minutes=10)) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.DONE


def test_failure_backs_off_exponentially_with_jitter_and_rolls_back_the_handler(
    no_periodic, caplog
):
    job = _queue("test.boom", max_attempts=5)

    jobs.run_once("w1", now=T0)
    job.refresh_from_db()
    assert job.status == JobStatus.RETRY
    assert job.attempts == 1
    assert job.payload == {"id": 1}  # the handler's write rolled back
    assert job.last_error == "ValueError"
    assert T0 + timedelta(seconds=8) <= job.run_after <= T0 + timedelta(seconds=12)
    assert [(job.pk, "ValueError", False)] == FAILURES

    # Not due before its back-off ends.
    assert jobs.run_once("w1", now=T0 + timedelta(seconds=7)) == 0

    second_try = job.run_after
    jobs.run_once("w1", now=second_try)
    job.refresh_from_db()
    assert job.attempts == 2
    delay = job.run_after - second_try
    assert timedelta(seconds=16) <= delay <= timedelta(seconds=24)
    assert "420102199003071234" not in caplog.text


def test_backoff_is_capped_at_one_hour():
    assert jobs.backoff_delay(30) <= timedelta(hours=1, minutes=12)
    assert jobs.backoff_delay(30) >= timedelta(minutes=48)


def test_job_is_dead_after_max_attempts(no_periodic):
    job = _queue("test.boom", max_attempts=3)
    now = T0
    for _ in range(3):
        jobs.run_once("w1", now=now)
        now += timedelta(hours=2)

    job.refresh_from_db()
    assert job.status == JobStatus.DEAD
    assert job.attempts == 3
    assert job.finished_at is not None
    assert RUNS[job.pk] == 3
    assert [dead for _, _, dead in FAILURES] == [False, False, True]
    assert jobs.run_once("w1", now=now + timedelta(days=1)) == 0


def test_permanent_error_is_dead_without_retrying(no_periodic):
    job = _queue("test.permanent")

    jobs.run_once("w1", now=T0)

    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.DEAD, 1)
    assert job.last_error == "PermanentJobError: not_subscribed"
    assert [(job.pk, "PermanentJobError", True)] == FAILURES


def test_unknown_kind_is_dead(no_periodic):
    job = _queue("test.nobody_handles_this")

    jobs.run_once("w1", now=T0)

    job.refresh_from_db()
    assert job.status == JobStatus.DEAD
    assert job.last_error == "PermanentJobError: unknown_kind"


def test_expired_lease_is_claimed_again(no_periodic):
    job = _queue()
    # Worker w1 claims the job and dies before running it.
    [claimed] = jobs.claim("w1", 10, now=T0, lease=timedelta(minutes=5))
    assert claimed.pk == job.pk

    assert jobs.run_once("w2", now=T0 + timedelta(minutes=4)) == 0  # lease still held
    assert jobs.run_once("w2", now=T0 + timedelta(minutes=6)) == 1

    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.attempts == 2
    assert RUNS[job.pk] == 1


def test_late_finish_after_losing_the_lease_rolls_back(no_periodic):
    job = _queue()
    [stale] = jobs.claim("w1", 10, now=T0, lease=timedelta(minutes=5))
    [fresh] = jobs.claim("w2", 10, now=T0 + timedelta(minutes=6))

    assert jobs.run_job(stale, "w1") == JobStatus.RUNNING  # w1 lost its lease
    assert jobs.run_job(fresh, "w2") == JobStatus.DONE

    job.refresh_from_db()
    assert job.status == JobStatus.DONE


def test_crashed_last_attempt_is_dead_when_reclaimed(no_periodic):
    job = _queue(max_attempts=1)
    jobs.claim("w1", 10, now=T0)

    assert jobs.run_once("w2", now=T0 + timedelta(hours=1)) == 0

    job.refresh_from_db()
    assert job.status == JobStatus.DEAD
    assert job.last_error == "LeaseExpired"


@pytest.mark.django_db(transaction=True)
def test_a_network_handler_runs_outside_any_transaction_and_keeps_its_own_commits(no_periodic):
    ok = _queue("test.network")
    with transaction.atomic():
        failing = jobs.enqueue("test.network", {"fail": True}, run_after=T0)

    assert jobs.run_once("w1", now=T0) == 2

    ok.refresh_from_db()
    failing.refresh_from_db()
    assert IN_TRANSACTION == [False, False]  # no row lock can be held over its network call
    assert ok.status == JobStatus.DONE and RUNS[ok.pk] == 1
    # A failure does not roll back what the handler committed (its claim); it is retried.
    assert failing.status == JobStatus.RETRY
    assert failing.payload == {"claimed": True}
    assert [(failing.pk, "ConnectionError", False)] == FAILURES


def test_periodic_every_is_enqueued_once_per_slot(hourly):

    first = jobs.schedule_due(now=T0)
    again = jobs.schedule_due(now=T0 + timedelta(minutes=30))
    next_slot = jobs.schedule_due(now=T0 + timedelta(hours=1, minutes=1))

    assert len(first) == 1 and again == [] and len(next_slot) == 1
    assert Job.objects.filter(kind="test.every_hour").count() == 2
    task = ScheduledTask.objects.get(name="test.every_hour")
    assert task.next_run_at == T0 + timedelta(hours=2)
    assert first[0].idempotency_key == f"periodic:test.every_hour:{T0.astimezone(UTC).isoformat()}"


def test_periodic_skips_missed_slots_instead_of_replaying_them(hourly):
    jobs.schedule_due(now=T0)

    jobs.schedule_due(now=T0 + timedelta(hours=5, minutes=30))

    assert Job.objects.filter(kind="test.every_hour").count() == 2
    task = ScheduledTask.objects.get(name="test.every_hour")
    assert task.next_run_at == T0 + timedelta(hours=6)


def test_periodic_daily_runs_at_shanghai_time_and_two_workers_do_not_double_it(daily):
    jobs.schedule_due(now=T0)  # 09:00: first slot is tomorrow 00:05
    task = ScheduledTask.objects.get(name="test.daily")
    assert task.next_run_at == datetime(2026, 3, 3, 0, 5, tzinfo=SHANGHAI)

    at_slot = datetime(2026, 3, 3, 0, 6, tzinfo=SHANGHAI)
    jobs.run_once("w1", now=at_slot)
    jobs.run_once("w2", now=at_slot)
    # A second worker that read the old schedule still cannot queue the slot twice.
    ScheduledTask.objects.filter(name="test.daily").update(next_run_at=task.next_run_at)
    jobs.run_once("w2", now=at_slot)

    [job] = Job.objects.filter(kind="test.daily")
    assert job.status == JobStatus.DONE
    assert job.payload == {"slot": task.next_run_at.astimezone(UTC).isoformat()}
    assert RUNS[job.pk] == 1
    task.refresh_from_db()
    assert task.next_run_at == datetime(2026, 3, 4, 0, 5, tzinfo=SHANGHAI)


def test_periodic_needs_exactly_one_schedule(no_periodic):

    with pytest.raises(ImproperlyConfigured):
        jobs.periodic("test.bad")
    with pytest.raises(ImproperlyConfigured):
        jobs.periodic("test.bad", every=timedelta(hours=1), at=time(1, 0))


def test_a_kind_has_one_handler(no_periodic):

    with pytest.raises(ImproperlyConfigured):

        @jobs.job_handler("test.ok")
        def another(job):
            pass


def test_run_worker_command_once(no_periodic, monkeypatch):
    monkeypatch.setattr(jobs.timezone, "now", lambda: T0)
    job = _queue()

    call_command("run_worker", "--once")

    job.refresh_from_db()
    assert job.status == JobStatus.DONE


def test_run_worker_command_stops_after_max_jobs(no_periodic, monkeypatch):
    monkeypatch.setattr(jobs.timezone, "now", lambda: T0)
    for _ in range(3):
        _queue()

    call_command("run_worker", "--max-jobs", "2", "--sleep", "0")

    statuses = sorted(Job.objects.values_list("status", flat=True))
    assert statuses == [JobStatus.DONE, JobStatus.DONE, JobStatus.QUEUED]


@jobs.job_handler("test.count_concurrent")
def _count_concurrent(job):
    with _lock:
        RUNS[job.pk] += 1


_lock = threading.Lock()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_run_fifty_jobs_each_exactly_once(no_periodic):
    with transaction.atomic():
        ids = [jobs.enqueue("test.count_concurrent", {"n": n}).pk for n in range(50)]
    start = threading.Barrier(2)
    ran_by: dict[str, int] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            start.wait()
            total = 0
            while True:
                ran = jobs.run_once(name, limit=3)
                if ran == 0:
                    break
                total += ran
            ran_by[name] = total
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(RUNS) == sorted(ids)
    assert set(RUNS.values()) == {1}
    assert sum(ran_by.values()) == 50
    assert Job.objects.filter(status=JobStatus.DONE).count() == 50
    assert connection.vendor == "postgresql"


SEEN_RESUMED: list[bool] = []


@jobs.job_handler("test.resumed", atomic=False)
def _resumed(job):
    SEEN_RESUMED.append(job.resumed)


def test_a_run_after_its_workers_death_is_told_resumed_a_run_after_back_off_is_not():
    SEEN_RESUMED.clear()
    with transaction.atomic():
        job = jobs.enqueue("test.resumed", run_after=T0)
    (claimed,) = jobs.claim("w1", 1, now=T0, lease=timedelta(seconds=5))
    assert claimed.resumed is False  # its first run
    # the worker dies: the lease runs out, another worker takes it
    jobs.run_once("w2", now=T0 + timedelta(seconds=6))
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RETRY, run_after=T0)
    jobs.run_once("w3", now=T0 + timedelta(seconds=7))
    assert SEEN_RESUMED == [True, False]


def test_enqueue_chain_returns_a_waiting_job_and_queues_a_dead_one_again():
    with transaction.atomic():
        first = jobs.enqueue_chain("test.ok", {"row_id": 7}, key="row:7")
        again = jobs.enqueue_chain("test.ok", {"row_id": 7}, key="row:7:2")
        other = jobs.enqueue_chain("test.ok", {"row_id": 8})
    assert again.pk == first.pk and other.pk != first.pk
    Job.objects.filter(pk=first.pk).update(status=JobStatus.DEAD, attempts=8, last_error="x")

    with transaction.atomic():
        revived = jobs.enqueue_chain("test.ok", {"row_id": 7}, run_after=T0)

    revived.refresh_from_db()
    assert revived.pk == first.pk
    assert (revived.status, revived.attempts, revived.last_error) == (JobStatus.QUEUED, 0, "")
    assert Job.objects.filter(kind="test.ok").count() == 2
    Job.objects.filter(pk=first.pk).update(status=JobStatus.DONE)
    with transaction.atomic():
        fresh = jobs.enqueue_chain("test.ok", {"row_id": 7})
    assert fresh.pk not in (first.pk, other.pk)  # a done job is not revived


def test_settle_dead_jobs_marks_only_that_rows_dead_jobs_done():
    with transaction.atomic():
        mine = jobs.enqueue("test.ok", {"row_id": 7})
        waiting = jobs.enqueue("test.ok", {"row_id": 7})
        theirs = jobs.enqueue("test.ok", {"row_id": 8})
    Job.objects.filter(pk__in=[mine.pk, theirs.pk]).update(status=JobStatus.DEAD)

    assert jobs.settle_dead_jobs("test.ok", {"row_id": 7}) == 1

    statuses = dict(Job.objects.values_list("pk", "status"))
    assert statuses == {
        mine.pk: JobStatus.DONE,
        waiting.pk: JobStatus.QUEUED,
        theirs.pk: JobStatus.DEAD,
    }
