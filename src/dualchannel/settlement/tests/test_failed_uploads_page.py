"""Failures are visible (issue 12, point 8): a settlement the platform did not accept is a failed
job of its pharmacy, never a done one; its staff see it in words and put it back in the queue."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.core.jobs import run_once
from dualchannel.core.models import AuditEvent, Job
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.settlement import services
from dualchannel.settlement.models import UploadStatus
from dualchannel.simulators.models import SimSettlement
from dualchannel.simulators.platform import simulator_fail_next

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed(bound_pharmacy, dispensed, pharmacist_user):
    """A settlement whose upload (2102) the platform did not answer: its job is dead."""
    bound_pharmacy.platform_code = "P42010200001"
    bound_pharmacy.save(update_fields=["platform_code"])
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    Job.objects.filter(kind="settlement.upload").update(max_attempts=1)
    simulator_fail_next(1, mode="timeout", infno="2102")
    run_once("w1")
    settled.refresh_from_db()
    return settled


def test_a_failed_upload_is_a_dead_job_of_its_pharmacy(failed, bound_pharmacy):
    job = Job.objects.get(kind="settlement.upload")

    assert failed.upload_status == UploadStatus.DEAD  # no automatic attempt left
    assert failed.get_upload_status_display() == "上传失败（需人工处理）"
    assert (job.status, job.institution_id) == ("dead", bound_pharmacy.pk)


def test_an_upload_that_will_be_retried_stays_failed(bound_pharmacy, dispensed, pharmacist_user):
    bound_pharmacy.platform_code = "P42010200001"
    bound_pharmacy.save(update_fields=["platform_code"])
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-2"
    )
    simulator_fail_next(1, mode="timeout", infno="2102")

    run_once("w1")

    settled.refresh_from_db()
    assert Job.objects.get(kind="settlement.upload").status == "retry"
    assert settled.upload_status == UploadStatus.FAILED


def test_the_pharmacists_queue_lists_a_dead_upload_as_needing_a_person(
    client, failed, pharmacist_user
):
    client.force_login(pharmacist_user)

    body = client.get(reverse("pharmacy-home")).content.decode()

    uploads = body.split('id="uploads"')[1]
    assert failed.settlement_no in uploads and "上传失败（需人工处理）" in uploads


def test_the_page_shows_it_in_words_to_the_pharmacy_only(
    client, failed, pharmacist_user, other_pharmacy, physician_user
):
    client.force_login(pharmacist_user)

    body = client.get(reverse("core-failed-jobs")).content.decode()

    assert "结算上传医保平台" in body and failed.settlement_no in body
    assert "医保平台多次未受理本次结算上传" in body
    assert "settlement.upload" not in body.split("技术支持信息")[0]
    job = Job.objects.get(kind="settlement.upload")
    outsider = UserFactory(username="outsider", institution=other_pharmacy, roles=[Role.PHARMACIST])
    for other in (outsider, physician_user):
        client.force_login(other)
        assert failed.settlement_no not in client.get(reverse("core-failed-jobs")).content.decode()
        assert client.post(reverse("core-failed-job-retry", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.status == "dead"


def test_a_retry_requeues_with_its_audit_event_and_the_upload_goes_through(
    client, failed, pharmacist_user
):
    job = Job.objects.get(kind="settlement.upload")
    client.force_login(pharmacist_user)

    response = client.post(reverse("core-failed-job-retry", args=[job.pk]))

    assert response.status_code == 302
    job.refresh_from_db()
    failed.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 0)
    assert failed.upload_status == UploadStatus.FAILED  # back to be sent by the job
    event = AuditEvent.objects.get(action="core.job_retried")
    assert (event.actor, event.summary["from"], event.summary["kind"]) == (
        pharmacist_user,
        "dead",
        "settlement.upload",
    )
    run_once("w1")
    job.refresh_from_db()
    failed.refresh_from_db()
    assert (job.status, failed.upload_status) == ("done", UploadStatus.ACCEPTED)
    assert SimSettlement.objects.filter(fixmedins_setl_id=failed.settlement_no).count() == 1
    assert "没有失败的后台任务" in client.get(reverse("core-failed-jobs")).content.decode()
