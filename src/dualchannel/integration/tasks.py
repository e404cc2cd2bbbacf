"""Background sending of platform filings: the worker retries them with back-off.

The handler never raises for a platform failure: raising would roll back what the attempt
recorded (the filing's ``failed`` status, its attempt count and the call log). It commits the
outcome and queues the next attempt itself; the filing goes ``dead`` after its own attempt
limit (``integration.filing``), which ends the chain.
"""

from __future__ import annotations

from django.utils import timezone

from dualchannel.core.jobs import backoff_delay, enqueue, job_handler
from dualchannel.integration.filing import filing_process
from dualchannel.integration.models import FilingStatus


@job_handler("integration.filing")
def send_filing(job) -> None:
    filing = filing_process(job.payload["filing_id"])
    if filing.status == FilingStatus.FAILED:
        enqueue(
            "integration.filing",
            {"filing_id": filing.pk},
            run_after=timezone.now() + backoff_delay(filing.attempts),
            key=f"filing:{filing.pk}:attempt:{filing.attempts + 1}",
        )
