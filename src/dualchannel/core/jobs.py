"""Durable background jobs in the database (DESIGN §8): no broker; scale by running more workers.

- ``enqueue(kind, payload)`` inside the business transaction: the job exists iff the change commits.
- ``@job_handler(kind)`` registers the function that runs a kind; apps put handlers in
  ``tasks.py``, imported by ``CoreConfig.ready``.
- ``run_once(worker_id)`` claims due jobs with a lease (``SELECT … FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, a compare-and-set update elsewhere), runs each handler in its own transaction and
  marks the job done in that same transaction; a failure backs off exponentially with jitter and
  the job is dead after ``max_attempts``. A job whose lease expired (its worker died) is claimed
  again.
- ``@job_handler(kind, atomic=False)`` is for a handler that talks to another system: it runs
  outside any transaction and keeps its own short ones (claim the row, commit; call the network
  holding no lock; lock again, re-check and record the outcome), so that no row lock is held
  while a platform answers (docs/conventions.md, "network first, then lock"). Such a handler must
  be idempotent: if its worker dies after it committed and before the job is marked done, the job
  runs again.
- A non-atomic handler that recorded a failed attempt on its business row raises
  ``AttemptFailed`` (``permanent=True`` when no automatic attempt is left): the job backs off or
  is dead, never logged done. Failed and dead jobs are listed per institution for people to
  retry (``core.job_failures``).
- A run whose previous run's worker died (its lease expired) has ``job.resumed`` set, so a
  non-atomic handler can tell a rerun from a run after its back-off. ``enqueue_chain`` keeps one
  job per business row (a waiting one is reused, a dead one queued again); ``settle_dead_jobs``
  closes a row's dead jobs once the work got done another way.
- ``@periodic(name, every=… | at=…)`` schedules a function; a worker enqueues each due slot once
  (idempotency key ``periodic:<name>:<slot>``) and moves the schedule on.

Logs carry kind, id and attempt only, never payloads or exception text.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from . import after_rollback
from .models import Job, JobStatus, ScheduledTask
from .queries import insert_new

logger = logging.getLogger("dualchannel.jobs")

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_LEASE = timedelta(minutes=5)
BACKOFF_BASE_SECONDS = 10
BACKOFF_CAP_SECONDS = 3600
JITTER = 0.2  # ± 20 %, so jobs that failed together do not retry together

Handler = Callable[[Job], None]
FailureHook = Callable[[Job, BaseException, bool], None]
InstitutionOf = Callable[[dict[str, Any]], int | None]
Describe = Callable[[Job], "JobDescription"]
RetryHook = Callable[[Job, Any], None]


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help: the job goes dead at once.

    ``code`` is a short non-personal reason kept in ``Job.last_error``.
    """

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class AttemptFailed(Exception):
    """Raised by a handler that recorded a failed attempt on its business row: the job is not
    done. ``permanent`` (no automatic attempt left) makes it dead, otherwise it backs off.

    ``code`` is a short non-personal reason kept in ``Job.last_error``.
    """

    def __init__(self, code: str, *, permanent: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.permanent = permanent


@dataclass(frozen=True)
class JobDescription:
    """What a person reads about a job on the failed-jobs page, in words (no codes)."""

    document: str = ""  # which document it concerns, e.g. "入库 DC000000000012 · 药品 批号"
    error: str = ""  # the error in Chinese, when the business row knows it
    link: str = ""  # a page about the document, if there is one


class LeaseLost(Exception):
    """The job's lease expired and another worker claimed it; this run's effects roll back."""


@dataclass(frozen=True)
class RegisteredHandler:
    kind: str
    func: Handler
    on_failure: FailureHook | None
    atomic: bool = True
    label: str = ""  # what the job does, in Chinese, for people
    institution_of: InstitutionOf | None = None  # whose job it is, from its payload
    describe: Describe | None = None  # which document and what went wrong, in words
    on_retry: RetryHook | None = None  # a person re-queues it: make the business row ready


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every: timedelta | None
    at: time | None

    def first_run(self, now: datetime) -> datetime:
        return now if self.every is not None else self._next_daily(now)

    def next_run(self, previous_slot: datetime, now: datetime) -> datetime:
        """The first slot after ``now``; missed slots are skipped, not replayed."""
        if self.every is not None:
            missed = (now - previous_slot) // self.every
            return previous_slot + self.every * (max(missed, 0) + 1)
        return self._next_daily(now)

    def _next_daily(self, now: datetime) -> datetime:
        local = now.astimezone(SHANGHAI)
        slot = datetime.combine(local.date(), self.at, tzinfo=SHANGHAI)
        if slot <= now:
            slot = datetime.combine(local.date() + timedelta(days=1), self.at, tzinfo=SHANGHAI)
        return slot


_handlers: dict[str, RegisteredHandler] = {}
_periodic: dict[str, PeriodicTask] = {}


def _qualname(func: Callable) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def job_handler(
    kind: str,
    *,
    on_failure: FailureHook | None = None,
    atomic: bool = True,
    label: str = "",
    institution_of: InstitutionOf | None = None,
    describe: Describe | None = None,
    on_retry: RetryHook | None = None,
) -> Callable[[Handler], Handler]:
    """Register ``func(job)`` as the handler of ``kind``.

    For the failed-jobs page (``core.job_failures``): ``label`` says what the job does in
    Chinese; ``institution_of(payload)`` names the institution whose staff see it when it fails
    (stored on the job at ``enqueue``); ``describe(job)`` names its document and error in words;
    ``on_retry(job, actor)`` runs in the person's retry transaction to make the business row
    ready to be sent again (it may refuse with a ``DomainError``).

    ``on_failure(job, exc, dead)`` runs in the transaction that records a failed attempt (the
    handler's own writes are rolled back, for an atomic handler), e.g. to mark the business row
    failed or dead. ``atomic=False``: the handler runs outside a transaction and commits its own
    steps (for network calls; see the module's docstring).
    """

    def register(func: Handler) -> Handler:
        existing = _handlers.get(kind)
        if existing is not None and _qualname(existing.func) != _qualname(func):
            raise ImproperlyConfigured(f"job kind {kind!r} already has a handler")
        _handlers[kind] = RegisteredHandler(
            kind, func, on_failure, atomic, label, institution_of, describe, on_retry
        )
        return func

    return register


def periodic(
    name: str, *, every: timedelta | None = None, at: time | None = None
) -> Callable[[Handler], Handler]:
    """Run ``func(job)`` every ``every`` or daily at ``at`` (Asia/Shanghai wall-clock time).

    The function is also the job handler of kind ``name``; ``job.payload["slot"]`` is the slot's
    time in ISO format (UTC).
    """
    if (every is None) == (at is None):
        raise ImproperlyConfigured("periodic task needs exactly one of every= or at=")
    if every is not None and every <= timedelta(0):
        raise ImproperlyConfigured("periodic every= must be positive")

    def register(func: Handler) -> Handler:
        job_handler(name)(func)
        _periodic[name] = PeriodicTask(name, every, at)
        return func

    return register


def handler_for(kind: str) -> RegisteredHandler | None:
    return _handlers.get(kind)


def periodic_tasks() -> dict[str, PeriodicTask]:
    return dict(_periodic)


def enqueue(
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_after: datetime | None = None,
    key: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    new_key: bool = False,
    institution_id: int | None = None,
) -> Job:
    """Queue a job in the caller's transaction; a known ``key`` returns the existing job.

    ``new_key``: the key names a row this transaction has just created (``notification:<id>``),
    so no other job can hold it: inserted without looking it up or a savepoint.
    ``institution_id``: whose job it is, when the caller knows (else the kind's
    ``institution_of`` reads it from the payload)."""
    if not connection.in_atomic_block:
        raise RuntimeError("enqueue must run inside the business transaction")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if key is not None and not new_key:
        existing = Job.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
    registered = _handlers.get(kind)
    job = Job(
        kind=kind,
        payload=payload or {},
        run_after=run_after or timezone.now(),
        idempotency_key=key,
        max_attempts=max_attempts,
        institution_id=(
            institution_id
            if institution_id is not None
            else registered.institution_of(payload or {})
            if registered is not None and registered.institution_of is not None
            else None
        ),
    )
    if key is None or new_key:
        insert_new([job])  # nothing to race on: no savepoint
        return job
    try:
        # A savepoint, so that losing a race on the key leaves the caller's transaction usable.
        with transaction.atomic():
            job.save(force_insert=True)
    except IntegrityError:
        return Job.objects.get(idempotency_key=key)
    return job


LIVE = (JobStatus.QUEUED, JobStatus.RETRY, JobStatus.RUNNING)


def _jobs_about(kind: str, about: dict[str, Any]):
    return Job.objects.filter(kind=kind, **{f"payload__{k}": v for k, v in about.items()})


def enqueue_chain(
    kind: str,
    about: dict[str, Any],
    *,
    run_after: datetime | None = None,
    key: str | None = None,
) -> Job:
    """One chain of jobs per business row: queue ``kind`` for the row named by ``about`` (payload
    values, e.g. ``{"filing_id": 7}``) unless a job for it is queued, backing off or running (that
    one is returned); a dead one is queued again (its attempts start over) rather than a second
    job added beside it. In the caller's transaction, which may hold the business row's lock: a
    dead job another transaction holds (a person's retry on the failed-jobs page, which locks the
    job before the row) is left to it, not waited for."""
    if not connection.in_atomic_block:
        raise RuntimeError("enqueue_chain must run inside the business transaction")
    jobs = _jobs_about(kind, about).order_by("-id")
    live = jobs.filter(status__in=LIVE).first()
    if live is not None:
        return live
    dead = jobs.filter(status=JobStatus.DEAD).first()
    if dead is None:
        return enqueue(kind, dict(about), run_after=run_after, key=key)
    mine = Job.objects.filter(pk=dead.pk, status=JobStatus.DEAD).select_for_update(skip_locked=True)
    if mine.first() is None:
        return dead  # being retried (or taken) by another transaction right now
    dead.status = JobStatus.QUEUED
    dead.attempts = 0
    dead.run_after = run_after or timezone.now()
    dead.finished_at = None
    dead.last_error = ""
    dead.save(update_fields=["status", "attempts", "run_after", "finished_at", "last_error"])
    return dead


def settle_dead_jobs(kind: str, about: dict[str, Any]) -> int:
    """The row named by ``about`` got done by other means (a person's own send was accepted):
    its dead jobs of ``kind`` have nothing left to do and leave the failed-jobs page. Call it
    holding no business row lock (it waits for a job a person is retrying)."""
    with transaction.atomic():
        return (
            _jobs_about(kind, about)
            .filter(status=JobStatus.DEAD)
            .update(status=JobStatus.DONE, finished_at=timezone.now(), last_error="")
        )


def backoff_delay(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """10 s · 2^(attempts−1), capped at one hour, ± 20 % jitter."""
    base = min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS)
    factor = 1 + (rng or random).uniform(-JITTER, JITTER)
    return timedelta(seconds=base * factor)


def safe_error(exc: BaseException) -> str:
    """The exception type and, for our own errors, their code: exception text may be personal."""
    code = getattr(exc, "code", None)
    text = type(exc).__name__ + (f": {code}" if isinstance(code, str | int) else "")
    return text[:200]


def _due(now: datetime) -> Q:
    waiting = Q(status__in=[JobStatus.QUEUED, JobStatus.RETRY], run_after__lte=now)
    abandoned = Q(status=JobStatus.RUNNING, locked_until__lt=now)
    return waiting | abandoned


def claim(
    worker_id: str, limit: int, *, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> list[Job]:
    """Take up to ``limit`` due jobs for ``worker_id``: each attempt is counted when it starts."""
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            candidates = list(
                Job.objects.select_for_update(skip_locked=True)
                .filter(_due(now))
                .order_by("run_after", "id")[:limit]
            )
            return [job for job in candidates if _take(job, worker_id, now, lease)]
    # SQLite: no row locks; each take is a compare-and-set in its own short write.
    candidates = list(Job.objects.filter(_due(now)).order_by("run_after", "id")[:limit])
    return [job for job in candidates if _take(job, worker_id, now, lease)]


def _take(job: Job, worker_id: str, now: datetime, lease: timedelta) -> bool:
    unchanged = Job.objects.filter(
        pk=job.pk, status=job.status, attempts=job.attempts, locked_until=job.locked_until
    )
    if job.attempts >= job.max_attempts:
        # Only a job whose worker died mid-run gets here: it used up its last attempt.
        done = unchanged.update(
            status=JobStatus.DEAD,
            locked_by="",
            locked_until=None,
            last_error="LeaseExpired",
            finished_at=now,
        )
        if done:
            logger.warning(
                "job %s id=%s attempt=%s dead (lease expired)", job.kind, job.pk, job.attempts
            )
        return False
    taken = unchanged.update(
        status=JobStatus.RUNNING,
        attempts=job.attempts + 1,
        locked_by=worker_id,
        locked_until=now + lease,
    )
    if not taken:
        return False
    job.resumed = job.status == JobStatus.RUNNING  # its previous run's worker died
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.locked_by = worker_id
    job.locked_until = now + lease
    return True


def run_once(
    worker_id: str,
    limit: int = 10,
    *,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> int:
    """Enqueue due periodic slots, then claim and run up to ``limit`` jobs; returns jobs run."""
    now = now or timezone.now()
    schedule_due(now=now)
    jobs = claim(worker_id, limit, now=now, lease=lease)
    for job in jobs:
        run_job(job, worker_id, now=now)
    return len(jobs)


def run_job(job: Job, worker_id: str, *, now: datetime | None = None) -> str:
    """Run one claimed job; returns its new status."""
    registered = _handlers.get(job.kind)
    try:
        if registered is not None and not registered.atomic:
            # Commits its own steps and holds no lock over the network (a test's outer
            # transaction, if any, still wraps it).
            registered.func(job)
        with transaction.atomic():
            if registered is None:
                raise PermanentJobError("unknown_kind")
            if registered.atomic:
                registered.func(job)
            finished = Job.objects.filter(pk=job.pk, locked_by=worker_id, status=JobStatus.RUNNING)
            if not finished.update(
                status=JobStatus.DONE,
                locked_by="",
                locked_until=None,
                last_error="",
                finished_at=now or timezone.now(),
            ):
                raise LeaseLost()
    except LeaseLost:
        logger.warning("job %s id=%s attempt=%s lease lost", job.kind, job.pk, job.attempts)
        return JobStatus.RUNNING
    except Exception as exc:
        status = _record_failure(job, registered, exc, worker_id, now=now or timezone.now())
        after_rollback.run_pending()  # e.g. an alert the handler's rollback took away (SQLite)
        return status
    job.status = JobStatus.DONE
    logger.info("job %s id=%s attempt=%s done", job.kind, job.pk, job.attempts)
    return JobStatus.DONE


def _record_failure(
    job: Job,
    registered: RegisteredHandler | None,
    exc: Exception,
    worker_id: str,
    *,
    now: datetime,
) -> str:
    permanent = isinstance(exc, PermanentJobError) or getattr(exc, "permanent", False)
    dead = permanent or job.attempts >= job.max_attempts
    job.status = JobStatus.DEAD if dead else JobStatus.RETRY
    job.last_error = safe_error(exc)
    with transaction.atomic():
        mine = Job.objects.select_for_update().filter(
            pk=job.pk, locked_by=worker_id, status=JobStatus.RUNNING
        )
        if not mine.exists():
            logger.warning("job %s id=%s attempt=%s lease lost", job.kind, job.pk, job.attempts)
            return JobStatus.RUNNING
        changes: dict[str, Any] = {
            "status": job.status,
            "locked_by": "",
            "locked_until": None,
            "last_error": job.last_error,
        }
        if dead:
            changes["finished_at"] = now
        else:
            job.run_after = now + backoff_delay(job.attempts)
            changes["run_after"] = job.run_after
        mine.update(**changes)
        if registered is not None and registered.on_failure is not None:
            registered.on_failure(job, exc, dead)
    logger.warning(
        "job %s id=%s attempt=%s %s (%s)",
        job.kind,
        job.pk,
        job.attempts,
        "dead" if dead else "will retry",
        type(exc).__name__,
    )
    return job.status


def schedule_due(*, now: datetime | None = None) -> list[Job]:
    """Enqueue every registered periodic task whose slot has come; returns the jobs."""
    now = now or timezone.now()
    queued: list[Job] = []
    for task in _periodic.values():
        with transaction.atomic():
            ScheduledTask.objects.get_or_create(
                name=task.name, defaults={"next_run_at": task.first_run(now)}
            )
            row = ScheduledTask.objects.select_for_update().get(name=task.name)
            if row.next_run_at > now:
                continue
            slot = row.next_run_at
            slot_iso = slot.astimezone(UTC).isoformat()  # one spelling for every worker
            queued.append(
                enqueue(
                    task.name,
                    {"slot": slot_iso},
                    run_after=now,
                    key=f"periodic:{task.name}:{slot_iso}",
                )
            )
            row.last_run_at = now
            row.next_run_at = task.next_run(slot, now)
            row.save(update_fields=["last_run_at", "next_run_at"])
    return queued


def slot_date(job) -> date:
    """The Shanghai date a periodic job's slot was scheduled for (else today)."""
    slot = (getattr(job, "payload", None) or {}).get("slot")
    if slot:
        try:
            return datetime.fromisoformat(slot).astimezone(SHANGHAI).date()
        except ValueError:
            pass
    return timezone.localdate()
