"""Background upload of movements: the worker retries them with back-off.

Like ``integration.tasks``: the handler never raises for a platform failure (that would roll
back the recorded attempt); it commits the outcome and queues the next attempt itself. A
movement goes ``dead`` after ``upload.MAX_ATTEMPTS``, which ends the chain.
"""

from __future__ import annotations

from django.utils import timezone

from dualchannel.core.jobs import backoff_delay, enqueue, job_handler

from .models import UploadStatus
from .service_helpers import UPLOAD_JOB
from .upload import movement_upload_process


@job_handler(UPLOAD_JOB)
def upload_movement(job) -> None:
    movement = movement_upload_process(job.payload["movement_id"])
    if movement.upload_status == UploadStatus.FAILED:
        enqueue(
            UPLOAD_JOB,
            {"movement_id": movement.pk},
            run_after=timezone.now() + backoff_delay(movement.upload_attempts),
            key=f"{UPLOAD_JOB}:{movement.pk}:attempt:{movement.upload_attempts + 1}",
        )
