"""The worker uploads settlements (2102) and reversals (2103) to the platform simulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse

from dualchannel.core.job_failures import job_retry
from dualchannel.core.jobs import run_once
from dualchannel.core.models import Job
from dualchannel.integration.models import PlatformCall
from dualchannel.integration.tests.platform_watch import Seen, watch_platform
from dualchannel.settlement import services
from dualchannel.settlement.models import Settlement, SettlementStatus, UploadStatus
from dualchannel.settlement.platform import NOT_CONNECTED, platform_pre_settle
from dualchannel.simulators.models import SimSettlement
from dualchannel.simulators.platform import simulator_fail_next

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(bound_pharmacy):
    bound_pharmacy.platform_code = "P42010200001"
    bound_pharmacy.save(update_fields=["platform_code"])
    return bound_pharmacy


def test_the_worker_uploads_the_settlement_then_its_reversal(connected, dispensed, pharmacist_user):
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )

    run_once("w1")
    settled.refresh_from_db()
    assert settled.upload_status == UploadStatus.ACCEPTED and settled.setl_id
    sim = SimSettlement.objects.get(setl_id=settled.setl_id)
    assert (sim.fixmedins_setl_id, sim.medfee_sumamt, sim.hifp_pay, sim.med_type) == (
        settled.settlement_no,
        settled.total,
        settled.fund,
        "110202",
    )

    services.settlement_reverse(
        actor=pharmacist_user, settlement_id=settled.pk, reason="患者退药", idempotency_key="r-1"
    )
    run_once("w1")
    settled.refresh_from_db()
    sim.refresh_from_db()
    assert settled.reversal_upload_status == UploadStatus.ACCEPTED
    assert sim.reversed_at is not None


def test_a_failing_platform_is_retried_with_back_off(connected, dispensed, pharmacist_user):
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    simulator_fail_next(1, mode="timeout", infno="2102")

    run_once("w1")
    settled.refresh_from_db()
    assert settled.upload_status == UploadStatus.FAILED
    retry = Job.objects.get(kind="settlement.upload")  # the job backs off itself, never "done"
    assert (retry.status, retry.attempts) == ("retry", 1)
    assert retry.run_after > settled.settled_at

    run_once("w1", now=retry.run_after + timedelta(seconds=1))
    settled.refresh_from_db()
    retry.refresh_from_db()
    assert settled.upload_status == UploadStatus.ACCEPTED
    assert (retry.status, retry.attempts) == ("done", 2)
    assert SimSettlement.objects.filter(fixmedins_setl_id=settled.settlement_no).count() == 1


def _free() -> bool | None:
    """What ``Seen.lockable`` is when nothing holds the row: True on PostgreSQL, None on SQLite."""

    return True if connection.vendor == "postgresql" else None


@pytest.mark.django_db(transaction=True)
def test_the_worker_holds_no_transaction_while_the_platform_settles(
    connected, dispensed, pharmacist_user, monkeypatch
):
    # given: a settlement whose upload (2102) is queued
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    seen = watch_platform(monkeypatch, Settlement, settled.pk, infnos=("2102",))

    # when: the worker uploads it
    run_once("w1")

    # then: no transaction was open during the call, so the counter could lock the settlement
    assert seen == [Seen("2102", in_transaction=False, lockable=_free())]
    settled.refresh_from_db()
    assert settled.upload_status == UploadStatus.ACCEPTED and settled.setl_id
    assert Job.objects.get(kind="settlement.upload").status == "done"


@pytest.mark.django_db(transaction=True)
def test_the_worker_holds_no_transaction_while_the_platform_reverses(
    connected, dispensed, pharmacist_user, monkeypatch
):
    # given: an uploaded settlement, reversed at the counter
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    run_once("w1")
    services.settlement_reverse(
        actor=pharmacist_user, settlement_id=settled.pk, reason="患者退药", idempotency_key="r-1"
    )
    seen = watch_platform(monkeypatch, Settlement, settled.pk, infnos=("2103",))

    # when: the worker uploads the reversal
    run_once("w1")

    # then
    assert seen == [Seen("2103", in_transaction=False, lockable=_free())]
    settled.refresh_from_db()
    assert settled.reversal_upload_status == UploadStatus.ACCEPTED
    assert SimSettlement.objects.get(setl_id=settled.setl_id).reversed_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_reversal_at_the_counter_while_2102_is_on_its_way_is_kept_and_uploaded_after(
    connected, dispensed, pharmacist_user, monkeypatch
):
    # given: a settlement whose upload is on its way when the patient brings the drugs back
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )

    def reverse_at_the_counter(infno):
        if infno == "2102":
            services.settlement_reverse(
                actor=pharmacist_user,
                settlement_id=settled.pk,
                reason="患者退药",
                idempotency_key="r-1",
            )

    seen = watch_platform(
        monkeypatch, Settlement, settled.pk, infnos=("2102",), during=reverse_at_the_counter
    )

    # when: the worker uploads the settlement, then (next round) its reversal
    run_once("w1")
    settled.refresh_from_db()
    assert (settled.status, settled.upload_status) == (
        SettlementStatus.REVERSED,  # the 2102 outcome did not overwrite the reversal
        UploadStatus.ACCEPTED,
    )
    assert settled.reversal_upload_status == UploadStatus.PENDING
    run_once("w1")

    # then: the platform has the settlement and its reversal; ours is reversed
    assert seen == [Seen("2102", in_transaction=False, lockable=_free())]
    settled.refresh_from_db()
    assert settled.status == SettlementStatus.REVERSED and settled.reversed_by == pharmacist_user
    assert settled.reversal_upload_status == UploadStatus.ACCEPTED
    sim = SimSettlement.objects.get(setl_id=settled.setl_id)
    assert sim.fixmedins_setl_id == settled.settlement_no and sim.reversed_at is not None
    uploads = Job.objects.filter(kind__startswith="settlement.")
    assert sorted(uploads.values_list("kind", "status")) == [
        ("settlement.upload", "done"),
        ("settlement.upload_reversal", "done"),
    ]


def test_a_pharmacy_without_a_platform_code_is_marked_not_connected(dispensed, pharmacist_user):
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )

    run_once("w1")

    settled.refresh_from_db()
    assert settled.upload_status == UploadStatus.NOT_CONNECTED
    assert not SimSettlement.objects.exists()


def test_the_preview_asks_the_platform_2101_and_says_whether_it_agrees(
    connected, dispensed, pharmacist_user
):

    priced = services.settlement_preview(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id
    )

    check = platform_pre_settle(priced)

    assert (check.checked, check.agrees) == (True, True) and "一致" in check.message
    assert PlatformCall.objects.filter(infno="2101").count() == 1
    assert not SimSettlement.objects.exists()  # a pre-settlement stores nothing


def test_a_platform_that_does_not_answer_the_preview_does_not_stop_the_counter(
    client, connected, dispensed, pharmacist_user
):

    simulator_fail_next(1, mode="timeout", infno="2101")
    client.force_login(pharmacist_user)

    page = client.get(
        reverse("prescriptions-counter-result", args=[dispensed.prescription_id])
    ).content.decode()

    assert "医保平台预结算未成功" in page and 'id="settle"' in page


def test_an_unconnected_pharmacy_is_told_the_preview_was_not_checked(dispensed, pharmacist_user):

    priced = services.settlement_preview(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id
    )

    assert platform_pre_settle(priced) == NOT_CONNECTED


def test_a_reversal_upload_whose_job_goes_dead_is_dead_and_a_retry_moves_it_back(
    connected, dispensed, pharmacist_user
):
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    run_once("w1")
    services.settlement_reverse(
        actor=pharmacist_user, settlement_id=settled.pk, reason="患者退药", idempotency_key="r-1"
    )
    Job.objects.filter(kind="settlement.upload_reversal").update(max_attempts=1)
    simulator_fail_next(1, mode="timeout", infno="2103")

    run_once("w1")

    settled.refresh_from_db()
    job = Job.objects.get(kind="settlement.upload_reversal")
    assert job.status == "dead"
    assert settled.reversal_upload_status == UploadStatus.DEAD
    assert settled.upload_status == UploadStatus.ACCEPTED  # the 2102 is not touched

    job_retry(actor=pharmacist_user, job_id=job.pk)
    settled.refresh_from_db()
    assert settled.reversal_upload_status == UploadStatus.FAILED
    run_once("w1")
    settled.refresh_from_db()
    assert settled.reversal_upload_status == UploadStatus.ACCEPTED
