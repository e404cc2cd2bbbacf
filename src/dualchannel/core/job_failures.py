"""Failed and dead background jobs, for people: who sees which, in words, and a person's retry.

Staff of an institution see the jobs of their own institution (``Job.institution``, set at
``enqueue`` by the kind's ``institution_of``); administrators see all. A retry re-queues the job
in one transaction with its audit event; the kind's ``on_retry`` hook makes its business row
ready to be sent again in that same transaction (or refuses, e.g. while the cause is not fixed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import audit
from .canonical import snapshot
from .errors import Conflict, NotFound
from .jobs import JobDescription, handler_for
from .models import Job, JobStatus, User
from .permissions import actor_role, require_role
from .roles import Role

FAILED = (JobStatus.RETRY, JobStatus.DEAD)
STAFF_ROLES = (Role.PHYSICIAN, Role.REVIEWER, Role.PHARMACIST, Role.AGENCY_OFFICER)
PAGE_LIMIT = 200

# The error, in words, for the reasons ``core.jobs`` itself records (``Job.last_error``).
GENERIC_ERRORS = {
    "LeaseExpired": "执行中断（处理进程意外退出），已达最多尝试次数",
    "PermanentJobError: unknown_kind": "系统不认识这类任务，请联系技术支持",
}
DEFAULT_ERROR = "执行出错，请稍后重试；多次失败请联系技术支持"


@dataclass(frozen=True)
class FailedJob:
    """One row of the page: what it was, which document, the error in Chinese, attempts, when."""

    job: Job
    what: str
    document: str
    error: str
    link: str
    support_code: str  # the recorded reason, shown only in a collapsed detail for support

    @property
    def attempts(self) -> int:
        return self.job.attempts

    @property
    def when(self) -> datetime:
        return self.job.finished_at or self.job.run_after

    @property
    def dead(self) -> bool:
        return self.job.status == JobStatus.DEAD


def failed_jobs_visible_to(actor: User) -> QuerySet[Job]:
    """Failed (will retry) and dead jobs the actor may see: their institution's, or all (admin)."""
    return failed_jobs_scope(actor).filter(status__in=FAILED).select_related("institution")


def failed_jobs_scope(actor: User) -> QuerySet[Job]:
    """Every job the actor may see on the page: their institution's, or all (admin)."""
    jobs = Job.objects.all()
    if actor.is_superuser:
        return jobs
    if actor.institution_id is None:
        return jobs.none()
    return jobs.filter(institution_id=actor.institution_id)


def failed_job_count(actor: User) -> int:
    """For a home page's work queue: how many of the actor's jobs failed."""
    return failed_jobs_visible_to(actor).count()


def describe(job: Job) -> FailedJob:
    registered = handler_for(job.kind)
    told = JobDescription()
    if registered is not None and registered.describe is not None:
        told = registered.describe(job)
    what = (registered.label if registered is not None else "") or "后台任务"
    error = told.error or GENERIC_ERRORS.get(job.last_error, DEFAULT_ERROR)
    return FailedJob(
        job=job,
        what=what,
        document=told.document,
        error=error,
        link=told.link,
        support_code=job.last_error,
    )


def failed_jobs_for(actor: User) -> list[FailedJob]:
    """The page's rows, dead ones first ("dead" sorts before "retry"), then the most recent."""
    jobs = failed_jobs_visible_to(actor).order_by("status", "-finished_at", "-run_after", "-id")
    return [describe(job) for job in jobs[:PAGE_LIMIT]]


def job_retry(*, actor: User, job_id: int) -> Job:
    """A person re-queues a failed or dead job of their institution (an admin: any) to run now."""
    require_role(actor, *STAFF_ROLES)
    with transaction.atomic():
        job = failed_jobs_visible_to(actor).select_for_update(of=("self",)).filter(pk=job_id)
        job = job.first()
        if job is None:
            busy = [JobStatus.QUEUED, JobStatus.RUNNING]
            if failed_jobs_scope(actor).filter(pk=job_id, status__in=busy).exists():
                raise Conflict("core.job_not_failed", "该任务已在排队或执行中，无需重试")
            raise NotFound("core.job_not_found", "任务不存在或不属于本机构")
        before = snapshot(job)
        registered = handler_for(job.kind)
        if registered is not None and registered.on_retry is not None:
            registered.on_retry(job, actor)
        previous = (job.status, job.attempts, job.last_error)
        job.status = JobStatus.QUEUED
        job.attempts = 0
        job.run_after = timezone.now()
        job.finished_at = None
        job.locked_by = ""
        job.locked_until = None
        job.last_error = ""
        job.save(
            update_fields=[
                "status",
                "attempts",
                "run_after",
                "finished_at",
                "locked_by",
                "locked_until",
                "last_error",
            ]
        )
        audit.record(
            actor=actor,
            action="core.job_retried",
            subject=job,
            before=before,
            after=job,
            role=actor_role(actor),
            summary={
                "kind": job.kind,
                "from": previous[0],
                "to": JobStatus.QUEUED,
                "attempts": previous[1],
                "last_error": previous[2],
            },
        )
    return job
