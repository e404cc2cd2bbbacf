"""The prescription at the e-prescription centre (nhsa-interface.md, "E-prescription centre").

Routing queues the hospital-side upload (pre-check → signature → upload); a cancelled or expired
prescription is undone there; a dispensing is reported by the pharmacy side. All of it runs in the
``prescriptions.rx_centre`` job after the business transaction commits, retried with back-off:
the counter and the physician never wait on the centre. Each step stores its answer, so a retry
resumes at the next step.

The job holds no transaction or row lock while the centre answers (docs/conventions.md, "network
first, then lock"): it claims the submission (attempt counted, a lease, committed), runs the
steps on that unlocked copy, then locks again and writes only the fields the steps own; what a
person changed meanwhile stays (a cancel during the upload queues another run for the undo).

A job whose run left the submission failed raises ``AttemptFailed`` (dead: permanently), so the
job backs off itself or is dead, never logged done (issue 12, point 8); it is listed on the
failed-jobs page of the pharmacy that dispensed it, or else of the hospital
(``core.job_failures``), where a person re-queues a dead one (``rx_centre_requeue``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from dualchannel.catalog.usage import FREQUENCY_CODES, ROUTE_CODES
from dualchannel.core.jobs import (
    DEFAULT_LEASE,
    AttemptFailed,
    JobDescription,
    backoff_delay,
    enqueue,
    job_handler,
)
from dualchannel.core.locks import in_transaction
from dualchannel.core.statemachine import transition
from dualchannel.integration.nhsa.envelope import platform_connected
from dualchannel.integration.rxcentre.client import RxCentreClient
from dualchannel.integration.rxcentre.errors import RxCentreError
from dualchannel.registry.profiles import profile_of

from ..models import Dispensing, Prescription, RxCentreStatus, RxCentreSubmission

logger = logging.getLogger("dualchannel.prescriptions")
MAX_ATTEMPTS = 6
R = RxCentreStatus


def _queue(submission: RxCentreSubmission, *, delay_attempts: int = 0) -> None:
    run_after = timezone.now() + backoff_delay(delay_attempts) if delay_attempts else None
    enqueue(
        "prescriptions.rx_centre",
        {"submission_id": submission.pk},
        key=f"rx-centre:{submission.pk}:{submission.attempts}",
        run_after=run_after,
    )


def rx_centre_submit(prescription: Prescription) -> RxCentreSubmission:
    """Called in the routing transaction: the upload is sent once it commits.

    A hospital without a 12-character designated-institution code is not connected to the
    centre: the prescription circulates inside the platform only, and that is recorded.
    """
    connected = platform_connected(prescription.hospital)
    submission, _ = RxCentreSubmission.objects.get_or_create(
        prescription=prescription,
        defaults={"status": R.PENDING if connected else R.NOT_CONNECTED},
    )
    if connected:
        _queue(submission)
    return submission


def rx_centre_withdraw(prescription: Prescription) -> None:
    """Called when a prescription is cancelled or expires: undo it at the centre if it is there."""
    submission = (
        RxCentreSubmission.objects.select_for_update().filter(prescription=prescription).first()
    )
    if submission is None or submission.status in (R.WITHDRAWN, R.NOT_CONNECTED):
        return
    submission.withdraw_requested = True
    submission.withdraw_reason = (prescription.cancel_reason or "处方已过期")[:200]
    submission.save(update_fields=["withdraw_requested", "withdraw_reason"])
    _queue(submission)


def rx_centre_dispensed(dispensing) -> None:
    """Called in the dispensing transaction: the pharmacy reports the dispensing to the centre."""
    try:
        submission = dispensing.prescription.rx_centre  # read with the prescription by the counter
    except RxCentreSubmission.DoesNotExist:
        submission = None
    if submission is not None and submission.status != R.NOT_CONNECTED:
        _queue(submission)


# --- the job ---------------------------------------------------------------------------------


def _check_payload(prescription: Prescription) -> dict:
    """uploadChk input: the prescription, its lines (rxdrugdetail), visit and diagnosis."""
    patient = prescription.patient
    physician = prescription.physician
    items = list(prescription.items.select_related("drug"))
    med_type = (
        profile.special_drug_med_type if (profile := profile_of(prescription.hospital)) else ""
    ) or "15"
    return {
        "mdtrtCertType": "02",
        "mdtrtCertNo": patient.id_number,
        "bizTypeCode": "01",
        "rxExraAttrCode": prescription.rx_extra_attr_code,
        "hospRxno": prescription.prescription_no,
        "rxTypeCode": "1",
        "prscTime": timezone.localtime(prescription.issued_at).strftime("%Y-%m-%d %H:%M:%S"),
        "rxDrugCnt": len(items),
        "valiDays": prescription.valid_days,
        "valiEndTime": f"{prescription.valid_until.isoformat()} 23:59:59",
        "longRxFlag": "1" if prescription.long_prescription else "0",
        "rxdrugdetail": [
            {
                "medListCodg": item.drug.national_code or f"LOCAL{item.drug_id}",
                "rxItemTypeCode": "11",
                "drugGenname": item.drug.generic_name,
                "drugDosform": item.drug.dosage_form or "—",
                "drugSpec": item.specification or "—",
                "drugCnt": str(item.packages),
                "drugDosunt": item.package_unit,
                "medcDays": item.days,
                "medcWayCodg": ROUTE_CODES[item.route],
                "sinDoscnt": f"{item.single_dose.normalize():f}",
                "sinDosunt": item.dose_unit,
                "usedFrquCodg": FREQUENCY_CODES[item.frequency],
            }
            for item in items
        ],
        "mdtrtinfo": {
            # 110202 特药门诊 in the Hubei profile; 15 (special drug) otherwise
            "medType": med_type if prescription.eligibility_id else "11",
            "patnName": patient.name,
            "psnCertType": "01",
            "certno": patient.id_number,
            "psnNo": patient.person_no,
            "insuplcAdmdvs": patient.enrolment_region_id,
            "prscDeptName": prescription.department or physician.department,
            "drCode": physician.staff_code,
            "prscDrName": physician.name,
        },
        "diseinfo": [
            {
                "diagType": "1",  # Western medicine diagnosis
                "maindiagFlag": "1",
                "diagCode": prescription.diagnosis_code,
                "diagName": prescription.diagnosis_name,
            }
        ],
    }


def _hospital_steps(submission: RxCentreSubmission, client) -> None:
    """Pre-check → signature → upload, resuming after the last step that succeeded."""
    prescription = submission.prescription
    payload = _check_payload(prescription)
    if not submission.rx_trace_code:
        answer = client.upload_check(payload, key=f"chk:{submission.pk}")
        submission.rx_trace_code = answer["rxTraceCode"]
        submission.hi_rxno = answer["hiRxno"]
    pdf = b""
    if prescription.document_id and prescription.document.pdf:
        with prescription.document.pdf.open("rb") as handle:
            pdf = handle.read()
    # the same key answers the same signature again when an upload is retried
    signed = client.sign(
        payload,
        original_rx_file=base64.b64encode(pdf).decode() if pdf else "",
        key=f"sign:{submission.pk}",
    )
    submission.sign_digest = signed["signDigest"]
    submission.rx_file_sha256 = hashlib.sha256(signed["rxFile"].encode()).hexdigest()
    uploaded = client.upload(
        submission.rx_trace_code,
        signed["rxFile"],
        signed["signDigest"],
        hi_rxno=submission.hi_rxno,
        key=f"upload:{submission.pk}",
    )
    submission.hi_rxno = uploaded["hiRxno"]


def _pharmacy_steps(submission: RxCentreSubmission, client, dispensing) -> None:
    """The pharmacist's review, then the dispensing with batches and traceability codes."""
    pharmacist = dispensing.pharmacist
    if not submission.review_reported:
        client.pharmacy_review_upload(
            submission.hi_rxno,
            pharmacist.name,
            pharmacist.practising_certificate_no,
            "1",
            "审核通过",
            key=f"review:{submission.pk}",
        )
        submission.review_reported = True
    client.pharmacy_dispense_upload(
        submission.hi_rxno,
        [
            {
                "medListCodg": line.drug.national_code or f"LOCAL{line.drug_id}",
                "bchno": str(line.stock_item_id),
                "manuLotnum": line.batch_no,
                "expyEnd": line.expiry_date.isoformat(),
                "cnt": str(line.packages),
                "aprvno": line.stock_item.approval_no,
                "prdrName": line.stock_item.manufacturer,
                "drugtracinfo": [{"drug_trac_codg": code} for code in line.trace_codes],
            }
            for line in dispensing.lines.select_related("drug", "stock_item")
        ],
        key=f"dispense:{submission.pk}",
    )
    submission.dispense_reported = True


def _confirm_result(submission: RxCentreSubmission, client, dispensing) -> None:
    """The hospital asks the centre for the dispensing result (rxSetlInfoQuery): used, with one
    line per dispensed batch. A centre that has not recorded it yet is asked again later."""

    answer = client.settlement_result(submission.hi_rxno, key=f"result:{submission.pk}")
    lines = answer.get("seltdelts") or []
    if answer.get("rxUsedStasCodg") != "1" or len(lines) != dispensing.lines.count():
        raise RxCentreError(-1, "电子处方中心尚未登记本次取药结果", retryable=True)
    submission.result_confirmed_at = timezone.now()
    submission.result_lines = len(lines)


# What a run owns: the answers of its steps, and its outcome (the status, moved by ``transition``).
# Everything else (``withdraw_requested`` set by a person meanwhile) is kept as it is in the row
# when the run records.
STEP_FIELDS = (
    "rx_trace_code",
    "hi_rxno",
    "sign_digest",
    "rx_file_sha256",
    "uploaded_at",
    "review_reported",
    "dispense_reported",
    "result_confirmed_at",
    "result_lines",
    "last_error",
)
# A claim not recorded after this long belongs to a run that died: another run may take it.
CLAIM_LEASE = DEFAULT_LEASE


class SubmissionBusy(Exception):
    """Another run is calling the centre for this submission: the job looks again later."""

    code = "rx_centre_busy"


def _locked(submission_id: int) -> RxCentreSubmission:
    return (
        RxCentreSubmission.objects.select_for_update(of=("self",))
        .select_related("prescription", "prescription__hospital", "prescription__patient")
        .get(pk=submission_id)
    )


def _claim(submission_id: int, token: str, *, job) -> tuple[RxCentreSubmission, bool]:
    """Lock, count the attempt and mark the run as the submission's holder; commit."""
    with transaction.atomic():
        submission = _locked(submission_id)
        if submission.status in (R.WITHDRAWN, R.DEAD, R.NOT_CONNECTED):
            return submission, False
        now = timezone.now()
        held = (
            submission.claimed_until is not None
            and submission.claimed_until > now
            and submission.claimed_by != token  # a rerun of the same job takes it back
        )
        if held:
            if job is not None:
                raise SubmissionBusy()
            return submission, False
        submission.attempts += 1
        submission.claimed_by = token
        submission.claimed_until = now + CLAIM_LEASE
        submission.save(update_fields=["attempts", "claimed_by", "claimed_until"])
    return submission, True


def _run_steps(submission: RxCentreSubmission, factory) -> str:
    """The network steps on an unlocked copy, outside any transaction: the copy takes the answers
    (and ``last_error``); returns the outcome, the status the submission moves to."""

    prescription = submission.prescription
    dispensing = Dispensing.objects.filter(prescription=prescription).first()
    try:
        if submission.withdraw_requested:
            if submission.uploaded_at is not None:
                client = factory(prescription.hospital)
                reason = submission.withdraw_reason
                client.undo(submission.hi_rxno, reason, key=f"undo:{submission.pk}")
            outcome = R.WITHDRAWN
        else:
            if submission.uploaded_at is None:
                _hospital_steps(submission, factory(prescription.hospital))
                submission.uploaded_at = timezone.now()
            outcome = R.UPLOADED
            if dispensing is not None and not submission.dispense_reported:
                if platform_connected(dispensing.pharmacy):
                    client = factory(dispensing.pharmacy, dispensing.actor)
                    _pharmacy_steps(submission, client, dispensing)
                else:
                    submission.last_error = "发药药店未登记定点机构编码，未向电子处方中心上报"
            if submission.dispense_reported and submission.result_confirmed_at is None:
                _confirm_result(submission, factory(prescription.hospital), dispensing)
    except RxCentreError as exc:
        submission.last_error = str(exc.message)[:2000]
        again = exc.retryable and submission.attempts < MAX_ATTEMPTS
        outcome = R.FAILED if again else R.DEAD
        logger.info("rx centre step failed submission=%s code=%s", submission.pk, exc.code)
    else:
        if not submission.last_error.startswith("发药药店未登记"):
            submission.last_error = ""
    return outcome


def _record(
    run: RxCentreSubmission, token: str, outcome: str, *, queue_next: bool = True
) -> RxCentreSubmission:
    """Lock again and write what the run owns, keeping what others changed meanwhile.

    ``queue_next=False`` (the job's own run): a failure queues nothing; the job backs off."""
    with transaction.atomic():
        submission = _locked(run.pk)
        if submission.claimed_by != token or submission.attempts != run.attempts:
            return submission  # the claim expired and another run took over; its outcome counts
        for field in STEP_FIELDS:
            setattr(submission, field, getattr(run, field))
        submission.claimed_until = None
        submission.updated_at = timezone.now()
        submission.save(update_fields=[*STEP_FIELDS, "claimed_until", "updated_at"])
        if outcome != submission.status:
            transition(submission, outcome, actor=None)
        if submission.status == R.FAILED and queue_next:
            _queue(submission, delay_attempts=submission.attempts)
        elif submission.withdraw_requested and submission.status == R.UPLOADED:
            # A person cancelled while this run was at the centre: the undo follows.
            _queue(submission)
    return submission


def _release(run: RxCentreSubmission, token: str) -> None:
    """An unexpected error: give the claim back so that the job's retry can run at once."""
    with transaction.atomic():
        RxCentreSubmission.objects.filter(pk=run.pk, claimed_by=token).update(claimed_until=None)


def rx_centre_process(submission_id: int, *, client_factory=None, job=None) -> RxCentreSubmission:
    """Walk the submission forward at the centre, holding no transaction or row lock while the
    centre answers: claim (committed), the steps on an unlocked copy, then record.

    Raises ``SubmissionBusy`` (for a job) while another run holds the submission.
    """

    if in_transaction():
        raise RuntimeError("the rx centre is called outside any transaction (network first)")
    token = f"job:{job.pk}" if job is not None else f"call:{uuid.uuid4().hex[:16]}"
    run, claimed = _claim(submission_id, token, job=job)
    if not claimed:
        return run
    try:
        outcome = _run_steps(run, client_factory or RxCentreClient)
    except BaseException:
        _release(run, token)
        raise
    return _record(run, token, outcome, queue_next=job is None)


def rx_centre_requeue(job, actor) -> None:
    """A person re-queues a dead submission (the failed-jobs page, in that page's transaction):
    it is ``failed`` again, so the job's next run resumes it at its next step."""
    submission = _locked(job.payload["submission_id"])
    if submission.status == R.DEAD:
        transition(submission, R.FAILED, actor=actor, reason="人工重新排队")


def _institution_of(payload: dict[str, Any]) -> int | None:
    """The dispensing pharmacy once there is one (its report), else the prescribing hospital."""
    submission = (
        RxCentreSubmission.objects.select_related("prescription")
        .filter(pk=payload.get("submission_id"))
        .first()
    )
    if submission is None:
        return None
    pharmacy = Dispensing.objects.filter(prescription_id=submission.prescription_id)
    found = pharmacy.values_list("pharmacy_id", flat=True).first()
    return found or submission.prescription.hospital_id


def _describe(job) -> JobDescription:
    submission = (
        RxCentreSubmission.objects.select_related("prescription")
        .filter(pk=job.payload.get("submission_id"))
        .first()
    )
    if submission is None:
        return JobDescription(document="处方记录已不存在")
    number = submission.prescription.prescription_no
    state = submission.get_status_display()
    return JobDescription(document=f"处方 {number}（{state}）", error=submission.last_error)


@job_handler(
    "prescriptions.rx_centre",
    atomic=False,
    label="电子处方中心上传",
    institution_of=_institution_of,
    describe=_describe,
    on_retry=rx_centre_requeue,
)
def send_to_rx_centre(job) -> None:
    submission = rx_centre_process(job.payload["submission_id"], job=job)
    if submission.claimed_by != f"job:{job.pk}":
        return  # not this job's run (e.g. already dead from another job's): nothing recorded here
    if submission.status == R.FAILED:
        raise AttemptFailed("prescriptions.rx_centre_failed")
    if submission.status == R.DEAD:
        raise AttemptFailed("prescriptions.rx_centre_dead", permanent=True)
