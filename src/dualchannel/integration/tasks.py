"""Background sending of platform filings: the worker retries them with back-off.

The handler runs outside any transaction (``atomic=False``): ``filing_process`` claims the
filing in one short transaction, calls the platform holding no lock, and records the outcome
in another, queueing the next attempt after a back-off when the platform failed; the filing
goes ``dead`` after its own attempt limit (``integration.services.filing``), which ends the
chain. It raises only while another sender holds the filing (``FilingInFlight``): the job looks
again after its back-off. A rerun after its worker died sends the job's own unrecorded attempt
again with the same key, and leaves a recorded one alone.

For the failed-jobs page (``core.job_failures``) the job carries the filing's institution and is
described in words. A platform failure is still recorded on the filing (its own retry button)
and the job logged done: the per-job token above (``job:<id>``, "a rerun leaves a recorded
attempt alone") would stop a job that backs off itself from sending again, so the filing keeps
its one-job-per-attempt chain for now.
"""

from __future__ import annotations

from typing import Any

from dualchannel.core.jobs import JobDescription, job_handler
from dualchannel.integration.models import PlatformFiling
from dualchannel.integration.services.filing import filing_process


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


@job_handler(
    "integration.filing",
    atomic=False,
    label="医保平台备案",
    institution_of=_institution_of,
    describe=_describe,
)
def send_filing(job) -> None:
    filing_process(job.payload["filing_id"], job=job, retry=bool(job.payload.get("retry")))
