"""Background sending of platform filings: the worker retries them with back-off.

The handler never raises for a platform failure: raising would roll back what the attempt
recorded (the filing's ``failed`` status, its attempt count and the call log). It commits the
outcome and queues the next attempt itself; the filing goes ``dead`` after its own attempt
limit (``integration.filing``), which ends the chain.
"""

from __future__ import annotations

from dualchannel.core.jobs import job_handler
from dualchannel.integration.filing import filing_process, queue_next_attempt


@job_handler("integration.filing")
def send_filing(job) -> None:
    queue_next_attempt(filing_process(job.payload["filing_id"]))
