"""Uploading movements to the national platform (simulator): the job, back-off, idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from dualchannel.core.errors import Conflict, NotFound
from dualchannel.core.jobs import run_once
from dualchannel.core.models import AuditEvent, Job
from dualchannel.integration.models import PlatformCall
from dualchannel.integration.nhsa.client import PlatformClient
from dualchannel.integration.tests.platform_watch import Seen, watch_platform
from dualchannel.inventory.models import StockMovement, UploadStatus
from dualchannel.inventory.services import (
    SaleLine,
    sale_record,
    sale_return,
    stock_return_to_supplier,
    stocktake_adjust,
)
from dualchannel.inventory.upload import (
    MAX_ATTEMPTS,
    delete_input,
    inventory_upload_retry,
    upload_input,
    upload_key,
)
from dualchannel.registry.tests.factories import PharmacistFactory
from dualchannel.simulators.models import SimInventoryRecord
from dualchannel.simulators.platform import simulator_fail_next

from .conftest import PHARMACY_CODE, receive
from .factories import drain

pytestmark = pytest.mark.django_db

U = UploadStatus


def upload_jobs():
    return Job.objects.filter(kind="inventory.upload")


def test_the_worker_uploads_a_purchase_and_a_sale_with_its_codes(
    scanning_pharmacy, pharmacist_user, insured_person, drug
):
    # given: a pharmacist with a practising certificate, a receipt and a sale
    PharmacistFactory(
        user=pharmacist_user,
        pharmacy=scanning_pharmacy,
        name="王药师",
        practising_certificate_no="ZY4201020001",
    )
    received, codes = receive(pharmacist_user, drug, 3)
    sold = sale_record(
        actor=pharmacist_user,
        pharmacy=scanning_pharmacy,
        lines=[SaleLine(received.movement.stock_item_id, 2, codes[:2])],
        reference="dispensing:42",
        idempotency_key="d42",
        person=insured_person,
        platform_fields={"setl_id": "SETL0001", "mdtrt_sn": "MD1", "rxno": "RX42"},
    )

    # when
    drain()

    # then: both uploaded once, with the platform's msgid kept
    for movement in (received.movement, sold.movement):
        movement.refresh_from_db()
        assert movement.upload_status == U.UPLOADED
        assert movement.upload_attempts == 1
        assert movement.upload_msgid.startswith(PHARMACY_CODE)
        assert movement.uploaded_at is not None
        assert list(movement.upload_history.values_list("to_status", flat=True)) == [
            U.PENDING,
            U.UPLOADED,
        ]
    purchase = SimInventoryRecord.objects.get(infno="3503")
    assert purchase.trace_codes == codes
    assert purchase.fixmedins_bchno == received.movement.fixmedins_bchno
    assert purchase.data["purc_retn_cnt"] == 3
    assert purchase.data["aprvno"] == "国药准字H20170001"
    sale = SimInventoryRecord.objects.get(infno="3505")
    line = sale.data
    assert sale.trace_codes == codes[:2]
    assert line["drugtracinfo"] == [{"drug_trac_codg": c} for c in codes[:2]]
    assert line["med_list_codg"] == drug.national_code
    assert (line["psn_no"], line["psn_cert_type"], line["certno"]) == (
        insured_person.person_no,
        "01",
        insured_person.id_number,
    )
    assert (line["setl_id"], line["mdtrt_sn"], line["rxno"]) == ("SETL0001", "MD1", "RX42")
    assert (line["phar_name"], line["phar_prac_cert_no"]) == ("王药师", "ZY4201020001")
    assert (line["manu_lotnum"], line["sel_retn_cnt"], line["mdtrt_setl_type"]) == ("L2401", 2, "1")
    assert line["rtal_docno"] == "dispensing:42"
    assert set(upload_jobs().values_list("status", flat=True)) == {"done"}


def test_the_worker_uploads_a_stocktake_with_the_codes_of_the_missing_packages(
    scanning_pharmacy, pharmacist_user, drug
):
    # given: five packages received, two of them missing at the stocktake
    received, codes = receive(pharmacist_user, drug, 5)
    taken = stocktake_adjust(
        actor=pharmacist_user,
        stock_item_id=received.movement.stock_item_id,
        counted_quantity=3,
        trace_codes=codes[3:],
        reason="月末盘点",
        idempotency_key="st-1",
    ).movement

    # when
    drain()

    # then: the platform holds the 3501 record with the count and the missing codes
    taken.refresh_from_db()
    assert (taken.upload_status, taken.upload_attempts) == (U.UPLOADED, 1)
    record = SimInventoryRecord.objects.get(infno="3501")
    assert (record.inv_data_type, record.fixmedins_bchno) == ("1", taken.fixmedins_bchno)
    assert record.count == 3
    assert record.trace_codes == codes[3:]
    line = record.data
    assert line["drugtracinfo"] == [{"drug_trac_codg": c} for c in codes[3:]]
    assert (line["med_list_codg"], line["manu_lotnum"], line["inv_cnt"]) == (
        drug.national_code,
        "L2401",
        3,
    )
    assert line["invdate"] == timezone.localdate().isoformat()
    assert line["memo"] == "月末盘点"


def test_the_worker_uploads_a_return_to_the_supplier_with_its_codes(
    scanning_pharmacy, pharmacist_user, drug
):
    # given: two of three packages sent back to the supplier
    received, codes = receive(pharmacist_user, drug, 3)
    returned = stock_return_to_supplier(
        actor=pharmacist_user,
        stock_item_id=received.movement.stock_item_id,
        quantity=2,
        trace_codes=codes[:2],
        reason="近效期退货",
        supplier_name="国药控股湖北",
        idempotency_key="r-1",
    ).movement

    # when
    drain()

    # then: 3504 is a purchase-type record of its own serial, with the returned codes
    returned.refresh_from_db()
    assert (returned.upload_status, returned.upload_attempts) == (U.UPLOADED, 1)
    record = SimInventoryRecord.objects.get(infno="3504")
    assert (record.inv_data_type, record.fixmedins_bchno) == ("3", returned.fixmedins_bchno)
    assert record.count == 2
    assert record.trace_codes == sorted(codes[:2])
    line = record.data
    assert line["drugtracinfo"] == [{"drug_trac_codg": c} for c in sorted(codes[:2])]
    assert (line["spler_name"], line["purc_retn_cnt"], line["memo"]) == (
        "国药控股湖北",
        2,
        "近效期退货",
    )
    assert (line["manu_lotnum"], line["aprvno"]) == ("L2401", "国药准字H20170001")
    assert "prod_geay_flag" not in line  # a purchase's field only
    assert SimInventoryRecord.objects.filter(infno="3503").count() == 1


def test_the_worker_uploads_a_sale_return_naming_its_sale(
    scanning_pharmacy, pharmacist_user, insured_person, drug
):
    # given: a settled sale of two packages, one of them brought back
    received, codes = receive(pharmacist_user, drug, 3)
    sold = sale_record(
        actor=pharmacist_user,
        pharmacy=scanning_pharmacy,
        lines=[SaleLine(received.movement.stock_item_id, 2, codes[:2])],
        reference="dispensing:7",
        idempotency_key="d7",
        person=insured_person,
        platform_fields={"setl_id": "SETL0007", "mdtrt_sn": "MD7", "rxno": "RX7"},
    ).movement
    back = sale_return(
        actor=pharmacist_user,
        movement_id=sold.pk,
        quantity=1,
        trace_codes=codes[1:2],
        reason="患者停药退回（包装完好）",
        idempotency_key="ret-7",
    ).movement

    # when
    drain()

    # then: 3506 is a sale-type record naming the sale's serial, with the returned code
    back.refresh_from_db()
    assert (back.upload_status, back.upload_attempts) == (U.UPLOADED, 1)
    record = SimInventoryRecord.objects.get(infno="3506")
    assert (record.inv_data_type, record.fixmedins_bchno) == ("4", back.fixmedins_bchno)
    assert record.count == 1
    assert record.trace_codes == codes[1:2]
    line = record.data
    assert line["drugtracinfo"] == [{"drug_trac_codg": codes[1]}]
    assert line["medins_prod_sel_no"] == sold.fixmedins_bchno
    assert (line["psn_no"], line["certno"]) == (insured_person.person_no, insured_person.id_number)
    assert (line["setl_id"], line["mdtrt_sn"], line["rxno"]) == ("SETL0007", "MD7", "RX7")
    assert (line["sel_retn_cnt"], line["memo"], line["finl_trns_pric"]) == (
        1,
        "患者停药退回（包装完好）",
        "1280.50",
    )
    assert "phar_name" not in line  # a sale's field only
    assert SimInventoryRecord.objects.filter(infno="3505").count() == 1


def test_a_platform_fault_backs_off_and_the_retry_uploads_once(
    scanning_pharmacy, pharmacist_user, drug
):
    simulator_fail_next(1, mode="timeout", infno="3503")
    received, _ = receive(pharmacist_user, drug, 1)
    movement = received.movement

    drain()
    movement.refresh_from_db()
    assert movement.upload_status == U.FAILED
    assert movement.upload_attempts == 1
    assert "超时" in movement.upload_error
    retry = upload_jobs().get(status="retry")  # the job backs off, never done
    assert retry.run_after > timezone.now()
    assert run_once("test-worker") == 0  # not due yet

    drain(now=retry.run_after + timedelta(seconds=1))

    movement.refresh_from_db()
    assert movement.upload_status == U.UPLOADED
    assert movement.upload_attempts == 2
    assert SimInventoryRecord.objects.filter(infno="3503").count() == 1
    assert list(movement.upload_history.values_list("to_status", flat=True)) == [
        U.PENDING,
        U.FAILED,
        U.UPLOADED,
    ]


def test_an_upload_the_platform_already_accepted_is_not_sent_again(
    scanning_pharmacy, pharmacist_user, drug
):
    # given: the platform accepted the movement, but the worker died before recording it
    received, _ = receive(pharmacist_user, drug, 1)
    movement = StockMovement.objects.get(pk=received.movement.pk)
    with transaction.atomic():
        PlatformClient(scanning_pharmacy, None).call(
            "3503", upload_input(movement), key=upload_key(movement)
        )
    calls = PlatformCall.objects.filter(infno="3503").count()

    # when: the job runs
    drain()

    # then: the stored answer is used, no second call, one record at the platform
    movement.refresh_from_db()
    assert movement.upload_status == U.UPLOADED
    assert PlatformCall.objects.filter(infno="3503").count() == calls
    assert SimInventoryRecord.objects.filter(infno="3503").count() == 1


def test_the_platform_keeps_one_record_per_serial(scanning_pharmacy, pharmacist_user, drug):
    received, _ = receive(pharmacist_user, drug, 1)
    movement = StockMovement.objects.get(pk=received.movement.pk)
    client = PlatformClient(scanning_pharmacy, None)

    with transaction.atomic():
        client.call("3503", upload_input(movement), key="a")
        client.call("3503", upload_input(movement), key="b")  # another key, same record

    assert SimInventoryRecord.objects.filter(infno="3503").count() == 1


def test_the_platform_deletes_a_record_with_3507(scanning_pharmacy, pharmacist_user, drug):
    received, _ = receive(pharmacist_user, drug, 1)
    drain()
    movement = StockMovement.objects.get(pk=received.movement.pk)

    with transaction.atomic():
        PlatformClient(scanning_pharmacy, None).call("3507", delete_input(movement))

    assert SimInventoryRecord.objects.get(infno="3503").deleted_at is not None


def test_after_the_last_attempt_the_upload_is_dead_until_a_person_retries(
    scanning_pharmacy, pharmacist_user, drug
):
    simulator_fail_next(MAX_ATTEMPTS, infno="3503")
    received, _ = receive(pharmacist_user, drug, 1)
    movement = received.movement

    later = timezone.now()
    for _ in range(MAX_ATTEMPTS):
        later += timedelta(hours=2)
        drain(now=later)

    movement.refresh_from_db()
    assert movement.upload_status == U.DEAD
    assert movement.upload_attempts == MAX_ATTEMPTS
    assert not upload_jobs().filter(status="queued").exists()

    retried = inventory_upload_retry(actor=pharmacist_user, movement_id=movement.pk)

    assert retried.upload_status == U.UPLOADED
    assert retried.upload_history.last().actor == pharmacist_user
    assert SimInventoryRecord.objects.filter(infno="3503").count() == 1


def test_a_refusal_for_good_is_dead_at_once(scanning_pharmacy, pharmacist_user, drug):
    # given: a drug whose national code, which the platform requires, was removed after receipt
    received, _ = receive(pharmacist_user, drug, 1)
    drug.national_code = ""
    drug.save()

    drain()

    movement = StockMovement.objects.get(pk=received.movement.pk)
    assert movement.upload_status == U.DEAD
    assert movement.upload_attempts == 1
    assert "医疗目录编码" in movement.upload_error
    assert movement.upload_infcode == "-1"
    job = upload_jobs().get()
    assert (job.status, job.attempts) == ("dead", 1)  # never logged done


def test_only_failed_uploads_of_ones_own_pharmacy_can_be_retried(
    scanning_pharmacy, pharmacist_user, outsider_pharmacist, drug
):
    simulator_fail_next(1, infno="3503")
    received, _ = receive(pharmacist_user, drug, 1)
    drain()
    movement = received.movement

    with pytest.raises(NotFound):
        inventory_upload_retry(actor=outsider_pharmacist, movement_id=movement.pk)
    inventory_upload_retry(actor=pharmacist_user, movement_id=movement.pk)
    with pytest.raises(Conflict) as refused:
        inventory_upload_retry(actor=pharmacist_user, movement_id=movement.pk)

    assert refused.value.code == "inventory.upload_not_retryable"
    assert SimInventoryRecord.objects.filter(infno="3503").count() == 1


def _free() -> bool | None:
    """What ``Seen.lockable`` is when nothing holds the row: True on PostgreSQL, None on SQLite."""

    return True if connection.vendor == "postgresql" else None


@pytest.mark.django_db(transaction=True)
def test_the_worker_holds_no_transaction_while_the_platform_takes_a_movement(
    scanning_pharmacy, pharmacist_user, drug, monkeypatch
):
    # given: a receipt whose upload (3503) is queued
    received, _ = receive(pharmacist_user, drug, 1)
    movement = received.movement
    seen = watch_platform(monkeypatch, StockMovement, movement.pk, infnos=("3503",))

    # when
    drain()

    # then: no transaction was open during the call, so the movement could be locked elsewhere
    assert seen == [Seen("3503", in_transaction=False, lockable=_free())]
    movement.refresh_from_db()
    assert (movement.upload_status, movement.upload_attempts) == (U.UPLOADED, 1)
    assert set(upload_jobs().values_list("status", flat=True)) == {"done"}


@pytest.mark.django_db(transaction=True)
def test_a_pharmacists_retry_holds_no_transaction_while_the_platform_answers(
    scanning_pharmacy, pharmacist_user, drug, monkeypatch
):
    # given: a receipt whose first upload failed
    simulator_fail_next(1, infno="3503")
    received, _ = receive(pharmacist_user, drug, 1)
    drain()
    movement = received.movement
    seen = watch_platform(monkeypatch, StockMovement, movement.pk, infnos=("3503",))

    # when: the pharmacist uploads it again at once
    retried = inventory_upload_retry(actor=pharmacist_user, movement_id=movement.pk)

    # then: the answer says how it went, and no lock was held meanwhile
    assert seen == [Seen("3503", in_transaction=False, lockable=_free())]
    assert (retried.upload_status, retried.upload_attempts) == (U.UPLOADED, 2)
    assert retried.upload_history.last().actor == pharmacist_user


@pytest.mark.django_db(transaction=True)
def test_an_upload_a_pharmacist_recorded_while_the_worker_was_sending_stands(
    scanning_pharmacy, pharmacist_user, drug, monkeypatch
):
    # given: a failed upload whose retry job is due
    simulator_fail_next(1, infno="3503")
    received, _ = receive(pharmacist_user, drug, 1)
    drain()
    movement = received.movement
    retry = upload_jobs().get(status="retry")  # the job backs off, never done

    def pharmacist_retries(infno):
        inventory_upload_retry(actor=pharmacist_user, movement_id=movement.pk)

    seen = watch_platform(
        monkeypatch, StockMovement, movement.pk, infnos=("3503",), during=pharmacist_retries
    )

    # when: the pharmacist's retry is recorded while the worker's attempt is on its way
    drain(now=retry.run_after + timedelta(seconds=1))

    # then: the worker's answer (the same upload, by its key) does not record it a second time
    assert seen == [Seen("3503", in_transaction=False, lockable=_free())]
    movement.refresh_from_db()
    assert (movement.upload_status, movement.upload_attempts) == (U.UPLOADED, 3)
    assert list(movement.upload_history.values_list("to_status", "actor")) == [
        (U.PENDING, pharmacist_user.pk),
        (U.FAILED, None),
        (U.UPLOADED, pharmacist_user.pk),
    ]
    assert AuditEvent.objects.filter(action="inventory.upload_uploaded").count() == 1
    assert SimInventoryRecord.objects.filter(infno="3503").count() == 1
    assert set(upload_jobs().values_list("status", flat=True)) == {"done"}
