"""Uploading settlements (2102) and their reversals (2103) to the national platform, by the worker.

The counter answers from our own calculation at once; the platform gets the settlement from a
durable job so that a slow or failing platform never blocks the patient. Like the filings, a job
never raises for a platform failure (that would roll back what the attempt recorded): it commits
the outcome and queues the next attempt with back-off. A reversal waits for its settlement's
``setl_id``.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from dualchannel.core.jobs import backoff_delay, enqueue, job_handler
from dualchannel.integration.nhsa import PlatformClient, PlatformError
from dualchannel.integration.nhsa import settlement as wire

from .models import Settlement, SettlementKind, SettlementStatus, UploadStatus

MAX_ATTEMPTS = 8
CHANNEL = {
    SettlementKind.PHARMACY: wire.Channel.PHARMACY,
    SettlementKind.HOSPITAL: wire.Channel.HOSPITAL,
}


def _connected(settlement: Settlement) -> bool:
    """An institution without its 12-character platform code cannot upload (claimed by hand)."""
    return len(settlement.institution.platform_code or "") == 12


def _request(settlement: Settlement) -> wire.SettlementRequest:
    person = settlement.person
    dispensing = settlement.dispensing
    lines = []
    for line in settlement.lines.select_related("drug", "dispensing_line").order_by("position"):
        lot = line.dispensing_line.batch_no if line.dispensing_line else ""
        codes = tuple(line.dispensing_line.trace_codes) if line.dispensing_line else ()
        lines.append(
            wire.SettlementLine(
                feedetl_sn=f"{settlement.settlement_no}-{line.position:02d}",
                med_list_codg=line.drug.national_code or f"DRUG{line.drug_id:019d}",
                fixmedins_hilist_id=str(line.drug_id),
                fixmedins_hilist_name=line.drug.generic_name,
                cnt=line.quantity,
                pric=line.unit_price,
                det_item_fee_sumamt=line.amount,
                fulamt_ownpay_amt=line.full_self_pay,
                overlmt_amt=line.over_standard,
                preselfpay_amt=line.first_self_pay,
                inscp_scp_amt=line.in_policy,
                rxno=settlement.prescription.prescription_no if settlement.prescription else "",
                manu_lotnum=lot,
                drug_trac_codg=codes,
            )
        )
    return wire.SettlementRequest(
        channel=CHANNEL[settlement.kind],
        fixmedins_setl_id=settlement.settlement_no,
        psn_no=person.person_no,
        insuplc_admdvs=person.enrolment_region_id,
        mdtrt_cert_type=dispensing.certificate_type if dispensing else "02",
        mdtrt_cert_no=person.id_number,
        insutype=settlement.insurance_type,
        med_type=settlement.med_type,
        begntime=settlement.settled_at,
        amounts=wire.SettlementAmounts.from_breakdown(settlement),
        lines=lines,
        chrg_bchno=settlement.settlement_no,
        ipt_otp_no=settlement.settlement_no,
    )


def _again(kind: str, settlement: Settlement, attempt: int) -> None:
    if attempt >= MAX_ATTEMPTS:
        return  # left failed for people to see; the monthly reconciliation lists it
    enqueue(
        kind,
        {"settlement_id": settlement.pk, "attempt": attempt + 1},
        run_after=timezone.now() + backoff_delay(attempt),
        key=f"{kind}:{settlement.pk}:{attempt + 1}",
    )


@job_handler("settlement.upload")
def upload_settlement(job) -> None:
    attempt = job.payload.get("attempt", 1)
    with transaction.atomic():
        settlement = (
            Settlement.objects.select_for_update(of=("self",))
            .select_related("institution", "person", "dispensing", "prescription")
            .get(pk=job.payload["settlement_id"])
        )
        if settlement.upload_status == UploadStatus.ACCEPTED:
            return
        if not _connected(settlement):
            settlement.upload_status = UploadStatus.NOT_CONNECTED
            settlement.save(update_fields=["upload_status"])
            return
        try:
            result = wire.settle(PlatformClient(settlement.institution), _request(settlement))
        except PlatformError:
            settlement.upload_status = UploadStatus.FAILED
            settlement.save(update_fields=["upload_status"])
            _again("settlement.upload", settlement, attempt)
            return
        settlement.setl_id, settlement.mdtrt_id = result.setl_id, result.mdtrt_id
        settlement.upload_status = UploadStatus.ACCEPTED
        settlement.save(update_fields=["setl_id", "mdtrt_id", "upload_status"])


@job_handler("settlement.upload_reversal")
def upload_reversal(job) -> None:
    attempt = job.payload.get("attempt", 1)
    with transaction.atomic():
        settlement = (
            Settlement.objects.select_for_update(of=("self",))
            .select_related("institution", "person")
            .get(pk=job.payload["settlement_id"])
        )
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
        request = wire.ReversalRequest(
            channel=CHANNEL[settlement.kind],
            setl_id=settlement.setl_id,
            mdtrt_id=settlement.mdtrt_id,
            psn_no=settlement.person.person_no,
            insuplc_admdvs=settlement.person.enrolment_region_id,
            fixmedins_setl_id=settlement.settlement_no,
        )
        try:
            wire.reverse(PlatformClient(settlement.institution), request)
        except PlatformError as exc:
            if not wire.is_already_reversed(exc):
                settlement.reversal_upload_status = UploadStatus.FAILED
                settlement.save(update_fields=["reversal_upload_status"])
                _again("settlement.upload_reversal", settlement, attempt)
                return
        settlement.reversal_upload_status = UploadStatus.ACCEPTED
        settlement.save(update_fields=["reversal_upload_status"])
