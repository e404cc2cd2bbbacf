"""Uploading settlements (2102) and their reversals (2103) to the national platform, by the worker.

The counter answers from our own calculation at once; the platform gets the settlement from a
durable job so that a slow or failing platform never blocks the patient. A failed attempt is
committed on the settlement (``failed``) and the job raises ``AttemptFailed``: the job itself backs
off and runs again, and is dead after its last attempt, never logged done (issue 12, point 8);
when it goes dead the settlement's upload (or reversal upload) is ``dead`` too (``on_failure``, in
the transaction that records the job dead), 上传失败（需人工处理）. Failed and dead uploads are
listed on the failed-jobs page for the pharmacy's or hospital's staff (``core.job_failures``), who
put them back in the queue (``on_retry``: a dead upload is ``failed`` again, the job sends it).
A reversal waits for its settlement's ``setl_id`` (it queues its next look, which is not a
failure).

Network first, then lock (docs/conventions.md): each handler runs outside a transaction
(``atomic=False``) in three steps — a short transaction locks the settlement, checks it still
needs sending and builds the request from it; the platform is called with no transaction open;
a second short transaction locks the settlement again, re-checks and records the outcome in the
fields the upload owns only (a reversal at the counter in between is kept). A worker that dies
after the call sends again with the same idempotency key, which the client answers from its call
log (the platform itself is idempotent on ``fixmedins_setl_id`` and refuses a second reversal).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from dualchannel.core.jobs import AttemptFailed, JobDescription, backoff_delay, enqueue, job_handler
from dualchannel.core.models import JobStatus
from dualchannel.integration.nhsa import PlatformClient, PlatformError
from dualchannel.integration.nhsa import settlement as wire

from .models import Settlement, SettlementStatus, UploadStatus
from .platform import CHANNEL, WireLine, platform_connected, settlement_request
from .services.online_paid import ONLINE_REFUND_JOB, online_refund

MAX_ATTEMPTS = 8


def _request(settlement: Settlement) -> wire.SettlementRequest:
    dispensing = settlement.dispensing
    rows = settlement.lines.select_related("drug", "dispensing_line").order_by("position")
    return settlement_request(
        kind=settlement.kind,
        number=settlement.settlement_no,
        person=settlement.person,
        prescription=settlement.prescription,
        insutype=settlement.insurance_type,
        med_type=settlement.med_type,
        cert_type=dispensing.certificate_type if dispensing else "02",
        begntime=settlement.settled_at,
        amounts=settlement,
        lines=[
            WireLine(
                line.drug,
                line.quantity,
                line.unit_price,
                line,
                lot=line.dispensing_line.batch_no if line.dispensing_line else "",
                codes=tuple(line.dispensing_line.trace_codes) if line.dispensing_line else (),
            )
            for line in rows
        ],
        out_of_area=(settlement.parameters or {}).get("out_of_area"),
    )


UPLOAD_FAILED = "医保平台未受理本次结算上传（平台超时、中断或拒收），将自动重试"
UPLOAD_DEAD = "医保平台多次未受理本次结算上传，已停止自动重试；请确认平台恢复后重新排队"
REVERSAL_FAILED = "医保平台未受理本次冲销上传（平台超时、中断或拒收）"


def _institution_of(payload: dict[str, Any]) -> int | None:
    found = Settlement.objects.filter(pk=payload.get("settlement_id"))
    return found.values_list("institution_id", flat=True).first()


def _document(job) -> tuple[Settlement | None, str]:
    settlement = (
        Settlement.objects.select_related("person").filter(pk=job.payload.get("settlement_id"))
    ).first()
    if settlement is None:
        return None, "结算记录已不存在"
    document = (
        f"{settlement.get_kind_display()} {settlement.settlement_no} · "
        f"{settlement.person.name} · 合计 {settlement.total} 元"
    )
    return settlement, document


def _describe_upload(job) -> JobDescription:
    settlement, document = _document(job)
    if settlement is None or settlement.upload_status not in (
        UploadStatus.FAILED,
        UploadStatus.DEAD,
    ):
        return JobDescription(document=document)
    dead = job.status == JobStatus.DEAD
    return JobDescription(document=document, error=UPLOAD_DEAD if dead else UPLOAD_FAILED)


def _describe_reversal(job) -> JobDescription:
    settlement, document = _document(job)
    if settlement is None:
        return JobDescription(document=document)
    return JobDescription(document=f"冲销 · {document}", error=REVERSAL_FAILED)


def _mark_dead(field: str):
    """``on_failure``: a job that goes dead leaves its upload dead, for a person to retry."""

    def mark(job, exc, dead: bool) -> None:
        if not dead:
            return
        found = Settlement.objects.select_for_update(of=("self",))
        settlement = found.filter(pk=job.payload.get("settlement_id")).first()
        if settlement is not None and getattr(settlement, field) == UploadStatus.FAILED:
            setattr(settlement, field, UploadStatus.DEAD)
            settlement.save(update_fields=[field])

    return mark


def _requeue(field: str):
    """``on_retry`` (the failed-jobs page, in its transaction): a dead upload is failed again,
    so that the job's next run sends it."""

    def requeue(job, actor) -> None:
        found = Settlement.objects.select_for_update(of=("self",))
        settlement = found.filter(pk=job.payload.get("settlement_id")).first()
        if settlement is not None and getattr(settlement, field) == UploadStatus.DEAD:
            setattr(settlement, field, UploadStatus.FAILED)
            settlement.save(update_fields=[field])

    return requeue


def _again(kind: str, settlement: Settlement, attempt: int) -> None:
    """A reversal's next look while its settlement is not yet accepted (not a failure)."""
    if attempt >= MAX_ATTEMPTS:
        return  # left pending; the monthly reconciliation lists it
    enqueue(
        kind,
        {"settlement_id": settlement.pk, "attempt": attempt + 1},
        run_after=timezone.now() + backoff_delay(attempt),
        key=f"{kind}:{settlement.pk}:{attempt + 1}",
    )


def _locked(settlement_id: int, *related: str) -> Settlement:
    return (
        Settlement.objects.select_for_update(of=("self",))
        .select_related(*related)
        .get(pk=settlement_id)
    )


@job_handler(
    "settlement.upload",
    atomic=False,
    label="结算上传医保平台",
    institution_of=_institution_of,
    describe=_describe_upload,
    on_failure=_mark_dead("upload_status"),
    on_retry=_requeue("upload_status"),
)
def upload_settlement(job) -> None:
    settlement_id = job.payload["settlement_id"]
    # 1. Claim: does it still need sending? Build the request from the locked row.
    with transaction.atomic():
        settlement = _locked(settlement_id, "institution", "person", "dispensing", "prescription")
        if settlement.upload_status == UploadStatus.ACCEPTED:
            return
        if not platform_connected(settlement.institution):
            settlement.upload_status = UploadStatus.NOT_CONNECTED
            settlement.save(update_fields=["upload_status"])
            return
        institution = settlement.institution
        request = _request(settlement)
    # 2. The platform, holding no lock.
    try:
        result = wire.settle(PlatformClient(institution), request)
    except PlatformError:
        result = None
    # 3. Record: lock again; an outcome recorded meanwhile (another run of this job) stands, and
    # only the upload's own fields are written (the counter may have reversed it meanwhile).
    with transaction.atomic():
        settlement = _locked(settlement_id)
        if settlement.upload_status == UploadStatus.ACCEPTED:
            return
        if result is None:
            settlement.upload_status = UploadStatus.FAILED
            settlement.save(update_fields=["upload_status"])
        else:
            settlement.setl_id, settlement.mdtrt_id = result.setl_id, result.mdtrt_id
            settlement.upload_status = UploadStatus.ACCEPTED
            settlement.save(update_fields=["setl_id", "mdtrt_id", "upload_status"])
    if result is None:
        # committed above; the job backs off and runs again, or is dead after its last attempt
        raise AttemptFailed("settlement.upload_failed")


@job_handler(
    "settlement.upload_reversal",
    atomic=False,
    label="冲销上传医保平台",
    institution_of=_institution_of,
    describe=_describe_reversal,
    on_failure=_mark_dead("reversal_upload_status"),
    on_retry=_requeue("reversal_upload_status"),
)
def upload_reversal(job) -> None:
    attempt = job.payload.get("attempt", 1)
    settlement_id = job.payload["settlement_id"]
    # 1. Claim: is it reversed, not yet uploaded, and does the platform know the settlement?
    with transaction.atomic():
        settlement = _locked(settlement_id, "institution", "person")
        if settlement.status != SettlementStatus.REVERSED:
            return
        if settlement.reversal_upload_status == UploadStatus.ACCEPTED:
            return
        if settlement.upload_status == UploadStatus.NOT_CONNECTED:
            settlement.reversal_upload_status = UploadStatus.NOT_CONNECTED
            settlement.save(update_fields=["reversal_upload_status"])
            return
        if settlement.upload_status != UploadStatus.ACCEPTED:
            _again("settlement.upload_reversal", settlement, attempt)  # wait for its setl_id
            return
        institution = settlement.institution
        request = wire.ReversalRequest(
            channel=CHANNEL[settlement.kind],
            setl_id=settlement.setl_id,
            mdtrt_id=settlement.mdtrt_id,
            psn_no=settlement.person.person_no,
            insuplc_admdvs=settlement.person.enrolment_region_id,
            fixmedins_setl_id=settlement.settlement_no,
        )
    # 2. The platform, holding no lock.
    accepted = True
    try:
        wire.reverse(PlatformClient(institution), request)
    except PlatformError as exc:
        accepted = wire.is_already_reversed(exc)
    # 3. Record: lock again; an outcome recorded meanwhile stands.
    with transaction.atomic():
        settlement = _locked(settlement_id)
        if settlement.reversal_upload_status == UploadStatus.ACCEPTED:
            return
        settlement.reversal_upload_status = (
            UploadStatus.ACCEPTED if accepted else UploadStatus.FAILED
        )
        settlement.save(update_fields=["reversal_upload_status"])
    if not accepted:
        raise AttemptFailed("settlement.reversal_failed")  # the job backs off (or is dead)


@job_handler(ONLINE_REFUND_JOB, atomic=False, label="冲销结算退还线上支付的个人自付")
def refund_online_payment(job) -> None:
    """A reversed settlement's personal part paid online goes back (its own transaction)."""
    online_refund(job.payload["settlement_id"])
