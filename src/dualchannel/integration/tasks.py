"""Background sending of platform filings: the worker retries them with back-off.

The handler runs outside any transaction (``atomic=False``): ``filing_process`` claims the
filing in one short transaction, calls the platform holding no lock, and records the outcome
in another. The job mirrors the outcome, like the settlement and inventory uploads: a filing
left ``failed`` raises ``AttemptFailed`` so that the job itself backs off and sends again on its
next run; ``dead`` (the filing's own attempt limit, or a refusal for good) makes the job dead at
once. A job whose filing failed is never logged done, so it shows on the failed-jobs page
(``core.job_failures``) for the filing's institution, where ``on_retry`` puts a dead filing back
to ``failed`` for the job to send. It raises ``FilingInFlight`` while another sender holds the
filing: the job looks again after its back-off.

Each run of a job claims with its own token (``job:<id>:<attempt>``): a rerun after its worker
died sends the job's own unrecorded attempt again with the filing's one key, and leaves an
attempt its previous run recorded alone (it backs off first); the accepted filing is never sent
again. A person's retry (the filing's button, or this page) continues the filing's one job chain
(``core.jobs.enqueue_chain``), never a second one beside it.
"""

from __future__ import annotations

from typing import Any

from dualchannel.core.jobs import AttemptFailed, JobDescription, job_handler
from dualchannel.integration.models import FilingStatus, PlatformFiling
from dualchannel.integration.services.filing import (
    FILING_JOB,
    filing_job_requeue,
    filing_process,
)


def _institution_of(payload: dict[str, Any]) -> int | None:
    found = PlatformFiling.objects.filter(pk=payload.get("filing_id"))
    return found.values_list("institution_id", flat=True).first()


def _describe(job) -> JobDescription:
    filing = (
        PlatformFiling.objects.select_related("person").filter(pk=job.payload.get("filing_id"))
    ).first()
    if filing is None:
        return JobDescription(document="备案记录已不存在")
    document = (
        f"{filing.get_kind_display()} · {filing.person.name}（{filing.get_status_display()}）"
    )
    return JobDescription(document=document, error=filing.last_error)


def _requeue(job, actor) -> None:
    filing_job_requeue(actor=actor, filing_id=job.payload["filing_id"])


@job_handler(
    FILING_JOB,
    atomic=False,
    label="医保平台备案",
    institution_of=_institution_of,
    describe=_describe,
    on_retry=_requeue,
)
def send_filing(job) -> None:
    retry = bool(job.payload.get("retry"))
    filing = filing_process(job.payload["filing_id"], job=job, retry=retry)
    if filing.status == FilingStatus.FAILED:
        raise AttemptFailed("integration.filing_failed")  # committed; the job backs off
    if filing.status == FilingStatus.DEAD:
        raise AttemptFailed("integration.filing_dead", permanent=True)
