"""Background upload of movements: the worker retries them with back-off.

The handler commits the outcome of each attempt on the movement (``upload.
movement_upload_process``) and the job mirrors it: an upload that failed raises
``AttemptFailed``, so the job backs off and runs again (``failed``) or is dead when no automatic
attempt is left (``dead`` after ``upload.MAX_ATTEMPTS`` or a refusal for good); a job whose
upload failed is never logged done. The handler runs outside a transaction (``atomic=False``)
and keeps its own short ones, so that no lock is held while the platform answers; a run repeated
after a worker died is safe (same idempotency key).

Failed and dead uploads are listed on the failed-jobs page for the pharmacy's staff
(``core.job_failures``): ``describe`` names the movement and the platform's error in words,
``on_retry`` makes a dead movement ready to be sent again.
"""

from __future__ import annotations

from typing import Any

from dualchannel.core.jobs import AttemptFailed, JobDescription, job_handler

from .models import StockMovement, UploadStatus
from .service_helpers import UPLOAD_JOB
from .upload import movement_upload_process, upload_requeue


def _pharmacy_of(payload: dict[str, Any]) -> int | None:
    movement_id = payload.get("movement_id")
    found = StockMovement.objects.filter(pk=movement_id).values_list("pharmacy_id", flat=True)
    return found.first()


def _describe(job) -> JobDescription:
    movement = (
        StockMovement.objects.select_related("stock_item__drug")
        .filter(pk=job.payload.get("movement_id"))
        .first()
    )
    if movement is None:
        return JobDescription(document="进销存记录已不存在")
    item = movement.stock_item
    document = (
        f"{movement.get_kind_display()} {movement.fixmedins_bchno} · "
        f"{item.drug.generic_name} 批号{item.batch_no} · {abs(movement.quantity_delta)}{item.unit}"
    )
    return JobDescription(document=document, error=movement.upload_error)


def _requeue(job, actor) -> None:
    upload_requeue(actor=actor, movement_id=job.payload["movement_id"])


@job_handler(
    UPLOAD_JOB,
    atomic=False,
    label="进销存上传医保平台",
    institution_of=_pharmacy_of,
    describe=_describe,
    on_retry=_requeue,
)
def upload_movement(job) -> None:
    movement = movement_upload_process(job.payload["movement_id"], queue_next=False)
    if movement.upload_status == UploadStatus.FAILED:
        raise AttemptFailed("inventory.upload_failed")
    if movement.upload_status == UploadStatus.DEAD:
        raise AttemptFailed("inventory.upload_dead", permanent=True)
