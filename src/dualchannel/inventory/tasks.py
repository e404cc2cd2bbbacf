"""Background upload of movements: the worker retries them with back-off.

Like ``integration.tasks``: the handler never raises for a platform failure; it commits the
outcome and queues the next attempt itself (``upload.movement_upload_process``). A movement goes
``dead`` after ``upload.MAX_ATTEMPTS``, which ends the chain. The handler runs outside a
transaction (``atomic=False``) and keeps its own short ones, so that no lock is held while the
platform answers; a run repeated after a worker died is safe (same idempotency key).
"""

from __future__ import annotations

from dualchannel.core.jobs import job_handler

from .service_helpers import UPLOAD_JOB
from .upload import movement_upload_process


@job_handler(UPLOAD_JOB, atomic=False)
def upload_movement(job) -> None:
    movement_upload_process(job.payload["movement_id"])
