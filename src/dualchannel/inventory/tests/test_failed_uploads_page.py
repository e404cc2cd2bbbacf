"""Failures are visible (issue 12, point 8): a failed upload's job is never logged done; the
pharmacy's staff see it on the failed-jobs page in words and put it back in the queue."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.job_failures import failed_job_count, job_retry
from dualchannel.core.models import AuditEvent, Job
from dualchannel.inventory.models import StockMovement, UploadStatus
from dualchannel.simulators.models import SimInventoryRecord
from dualchannel.simulators.platform import simulator_fail_next

from .conftest import receive
from .factories import drain

pytestmark = pytest.mark.django_db
U = UploadStatus


def dead_upload(pharmacist_user, drug):
    """A receipt whose 3503 the platform refused for good: its drug lost its national code."""
    received, _ = receive(pharmacist_user, drug, 1)
    code = drug.national_code
    drug.national_code = ""
    drug.save()
    drain()
    drug.national_code = code
    drug.save()
    return StockMovement.objects.get(pk=received.movement.pk)


def test_a_drug_without_national_code_is_refused_at_receipt(
    scanning_pharmacy, pharmacist_user, drug
):
    drug.national_code = ""
    drug.save()

    with pytest.raises(DomainError) as refused:
        receive(pharmacist_user, drug, 1)

    assert refused.value.code == "inventory.drug_without_national_code"
    assert "医疗目录编码" in refused.value.message
    assert not StockMovement.objects.exists()
    assert not Job.objects.exists()


def test_a_dead_upload_is_a_dead_job_of_the_pharmacy(scanning_pharmacy, pharmacist_user, drug):
    movement = dead_upload(pharmacist_user, drug)

    job = Job.objects.get(kind="inventory.upload")
    assert movement.upload_status == U.DEAD
    assert (job.status, job.institution_id) == ("dead", scanning_pharmacy.pk)
    assert failed_job_count(pharmacist_user) == 1


def test_the_page_shows_the_pharmacys_failures_in_words(
    client, scanning_pharmacy, pharmacist_user, drug
):
    movement = dead_upload(pharmacist_user, drug)
    client.force_login(pharmacist_user)

    body = client.get(reverse("core-failed-jobs")).content.decode()

    assert "进销存上传医保平台" in body
    assert "采购入库" in body and movement.fixmedins_bchno in body
    assert "必填字段为空：医疗目录编码" in body
    assert "已放弃" in body and "1 次" in body
    assert "inventory.upload" not in body.split("技术支持信息")[0]  # the kind never shown


def test_other_institutions_do_not_see_it_and_admins_do(
    client,
    scanning_pharmacy,
    pharmacist_user,
    outsider_pharmacist,
    physician_user,
    admin_user,
    drug,
):
    movement = dead_upload(pharmacist_user, drug)
    job = Job.objects.get()

    for outsider in (outsider_pharmacist, physician_user):
        client.force_login(outsider)
        assert (
            movement.fixmedins_bchno not in client.get(reverse("core-failed-jobs")).content.decode()
        )
        response = client.post(reverse("core-failed-job-retry", args=[job.pk]))
        assert response.status_code == 404
    client.force_login(admin_user)
    body = client.get(reverse("core-failed-jobs")).content.decode()
    assert movement.fixmedins_bchno in body and scanning_pharmacy.name in body
    job.refresh_from_db()
    assert job.status == "dead"


def test_a_retry_requeues_with_its_audit_event_and_the_upload_goes_through(
    client, scanning_pharmacy, pharmacist_user, drug
):
    movement = dead_upload(pharmacist_user, drug)
    job = Job.objects.get()
    client.force_login(pharmacist_user)

    response = client.post(reverse("core-failed-job-retry", args=[job.pk]))

    assert response.status_code == 302
    job.refresh_from_db()
    movement.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 0)
    assert movement.upload_status == U.FAILED
    event = AuditEvent.objects.get(action="core.job_retried")
    assert (event.actor, event.summary["from"], event.summary["attempts"]) == (
        pharmacist_user,
        "dead",
        1,
    )
    drain()
    job.refresh_from_db()
    movement.refresh_from_db()
    assert (job.status, movement.upload_status) == ("done", U.UPLOADED)
    assert SimInventoryRecord.objects.filter(infno="3503").count() == 1
    assert "没有失败的后台任务" in client.get(reverse("core-failed-jobs")).content.decode()


def test_a_retry_while_the_cause_remains_is_refused_and_changes_nothing(
    scanning_pharmacy, pharmacist_user, drug
):
    movement = dead_upload(pharmacist_user, drug)
    drug.national_code = ""
    drug.save()
    job = Job.objects.get()

    with pytest.raises(Conflict) as refused:
        job_retry(actor=pharmacist_user, job_id=job.pk)

    assert refused.value.code == "inventory.drug_without_national_code"
    job.refresh_from_db()
    movement.refresh_from_db()
    assert (job.status, movement.upload_status) == ("dead", U.DEAD)
    assert not AuditEvent.objects.filter(action="core.job_retried").exists()


def test_a_passing_failure_backs_off_as_a_failed_job_not_a_done_one(
    scanning_pharmacy, pharmacist_user, drug
):
    simulator_fail_next(1, mode="timeout", infno="3503")
    receive(pharmacist_user, drug, 1)

    drain()

    job = Job.objects.get()
    assert (job.status, job.attempts) == ("retry", 1)
    assert Job.objects.count() == 1  # the job backs off itself: no second job queued
