"""Background sending of platform filings: the worker retries them with back-off.

The handler runs outside any transaction (``atomic=False``): ``filing_process`` claims the
filing in one short transaction, calls the platform holding no lock, and records the outcome
in another, queueing the next attempt after a back-off when the platform failed; the filing
goes ``dead`` after its own attempt limit (``integration.services.filing``), which ends the
chain. It raises only while another sender holds the filing (``FilingInFlight``): the job looks
again after its back-off. A rerun after its worker died sends the job's own unrecorded attempt
again with the same key, and leaves a recorded one alone.
"""

from __future__ import annotations

from dualchannel.core.jobs import job_handler
from dualchannel.integration.services.filing import filing_process


@job_handler("integration.filing", atomic=False)
def send_filing(job) -> None:
    filing_process(job.payload["filing_id"], job=job, retry=bool(job.payload.get("retry")))
