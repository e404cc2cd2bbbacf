"""The notifications.deliver job: sent, retried with back-off, or dead, per channel."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from dualchannel.core import jobs
from dualchannel.core.models import Job, JobStatus
from dualchannel.notifications.channels import (
    PermanentDeliveryError,
    RetryableDeliveryError,
    SmsProvider,
    register_sms_provider,
)
from dualchannel.notifications.models import Channel, Notification, NotificationState
from dualchannel.notifications.services import DELIVERY_MAX_ATTEMPTS, notify
from dualchannel.notifications.templates import check_configured_ids
from dualchannel.portal.wechat import wechat_unbind

pytestmark = pytest.mark.django_db

CONTEXT = {
    "drug_name": "甲磺酸奥希替尼片",
    "application_no": "SQ20260302001",
    "effective_date": date(2026, 3, 2),
    "next_step": "请持处方到定点药店购药",
}


class RecordingSmsProvider(SmsProvider):
    """An SMS gateway for tests: answers from a script of outcomes, records what it was sent."""

    script: list[str] = []  # "ok", "retry" or "permanent", in order; "ok" when empty
    sent: list[tuple[str, str, dict]] = []

    def send(self, phone, template_code, params):
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome == "retry":
            raise RetryableDeliveryError("sms.gateway_busy")
        if outcome == "permanent":
            raise PermanentDeliveryError("sms.invalid_number")
        self.sent.append((phone, template_code, params))
        return f"sms-{len(self.sent)}"


register_sms_provider("test-recording", RecordingSmsProvider)


@pytest.fixture(autouse=True)
def sms(settings, monkeypatch):
    settings.SMS_PROVIDER = "test-recording"
    RecordingSmsProvider.script = []
    RecordingSmsProvider.sent = []
    monkeypatch.setattr(jobs, "_periodic", {})
    return RecordingSmsProvider


def _soon():
    """A moment after the jobs just queued became due (they are due at once)."""
    return timezone.now() + timedelta(seconds=1)


def _notify(user, channels=None):
    with transaction.atomic():
        rows = notify(
            template="eligibility.approved", context=CONTEXT, user=user, channels=channels
        )
    return {n.channel: n for n in rows}


def test_sms_is_delivered_with_the_provider_template_and_masked_params(patient_user, sms):
    sms_row = _notify(patient_user)[Channel.SMS]

    assert jobs.run_once("w1", now=_soon()) == 1

    sms_row.refresh_from_db()
    assert sms_row.state == NotificationState.SENT
    assert (sms_row.attempts, sms_row.provider_message_id) == (1, "sms-1")
    [(phone, template_code, params)] = sms.sent
    assert phone == patient_user.insured_person.phone
    assert template_code == "DC_APPROVED"
    assert params == {"drug_name": "甲磺酸奥希替尼片", "effective_date": "2026年3月2日"}
    assert Job.objects.get().status == JobStatus.DONE


def test_sms_uses_the_operator_template_id_from_settings(patient_user, sms, settings):
    settings.SMS_TEMPLATE_IDS = {"eligibility.approved": "SMS_2950001"}
    _notify(patient_user)

    jobs.run_once("w1", now=_soon())

    [(_, template_code, _)] = sms.sent
    assert template_code == "SMS_2950001"


def test_a_template_id_setting_for_an_unknown_template_stops_start_up(settings):

    settings.WECHAT_TEMPLATE_IDS = {"eligibility.aproved": "tmpl-typo"}
    with pytest.raises(ImproperlyConfigured, match=r"eligibility\.aproved"):
        check_configured_ids()


def test_sms_retryable_failure_backs_off_then_succeeds(patient_user, sms):
    sms.script = ["retry"]
    sms_row = _notify(patient_user)[Channel.SMS]

    jobs.run_once("w1", now=_soon())

    sms_row.refresh_from_db()
    job = Job.objects.get()
    assert sms_row.state == NotificationState.FAILED
    assert sms_row.attempts == 1
    assert sms_row.last_error == "RetryableDeliveryError: sms.gateway_busy"
    assert job.status == JobStatus.RETRY and job.run_after > timezone.now()

    jobs.run_once("w1", now=job.run_after)

    sms_row.refresh_from_db()
    assert sms_row.state == NotificationState.SENT
    assert sms_row.attempts == 2
    assert len(sms.sent) == 1


def test_sms_dead_after_max_attempts(patient_user, sms):
    sms.script = ["retry"] * DELIVERY_MAX_ATTEMPTS
    sms_row = _notify(patient_user)[Channel.SMS]
    now = _soon()
    for _ in range(DELIVERY_MAX_ATTEMPTS):
        jobs.run_once("w1", now=now)
        now += timedelta(hours=2)

    sms_row.refresh_from_db()
    assert sms_row.state == NotificationState.DEAD
    assert sms_row.attempts == DELIVERY_MAX_ATTEMPTS
    assert Job.objects.get().status == JobStatus.DEAD
    assert sms.sent == []


def test_sms_permanent_failure_is_dead_without_retrying(patient_user, sms):
    sms.script = ["permanent"]
    sms_row = _notify(patient_user)[Channel.SMS]

    jobs.run_once("w1", now=_soon())

    sms_row.refresh_from_db()
    assert sms_row.state == NotificationState.DEAD
    assert sms_row.attempts == 1
    assert sms_row.last_error == "PermanentJobError: sms.invalid_number"
    assert Job.objects.get().status == JobStatus.DEAD


def test_sms_skipped_when_the_phone_was_removed_before_delivery(patient_user, sms):
    sms_row = _notify(patient_user)[Channel.SMS]
    person = patient_user.insured_person
    person.phone = ""
    person.save()

    jobs.run_once("w1", now=_soon())

    sms_row.refresh_from_db()
    assert sms_row.state == NotificationState.SKIPPED
    assert sms.sent == []


def test_sms_with_the_log_provider_in_tests(patient_user, settings, sms):
    settings.SMS_PROVIDER = "log"
    sms_row = _notify(patient_user)[Channel.SMS]

    jobs.run_once("w1", now=_soon())

    sms_row.refresh_from_db()
    assert sms_row.state == NotificationState.SENT
    assert sms_row.provider_message_id.startswith("log-")


@pytest.fixture
def wechat_patient(patient_user, wechat_settings):
    patient_user.wechat_openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    patient_user.save()
    return patient_user


def test_wechat_is_delivered_in_the_official_format(wechat_patient, wechat_stub):
    row = _notify(wechat_patient, channels=[Channel.WECHAT])[Channel.WECHAT]

    jobs.run_once("w1", now=_soon())

    row.refresh_from_db()
    assert row.state == NotificationState.SENT
    assert wechat_stub.problems == []
    [sent] = wechat_stub.sends
    assert sent["body"]["touser"] == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert sent["body"]["template_id"] == "DC_APPROVED"
    # The patient's message opens the portal page it is about (the eligibility: portal home).
    assert sent["body"]["url"] == f"{settings.PUBLIC_BASE_URL}/portal/"
    assert sent["body"]["data"] == {
        "thing1": {"value": "甲磺酸奥希替尼片"},
        "time2": {"value": "2026年3月2日"},
        "thing3": {"value": "请持处方到定点药店购药"},
    }


def test_wechat_is_not_sent_once_the_patient_unbound(wechat_patient, wechat_stub):
    row = _notify(wechat_patient, channels=[Channel.WECHAT])[Channel.WECHAT]
    with transaction.atomic():
        wechat_unbind(actor=wechat_patient)  # after the message was queued, before delivery

    jobs.run_once("w1", now=_soon())

    row.refresh_from_db()
    assert row.state == NotificationState.SKIPPED
    assert wechat_stub.sends == [] and wechat_stub.token_requests == []


def test_wechat_is_not_a_default_channel_without_a_bound_openid(
    patient_user, wechat_settings, wechat_stub
):
    rows = _notify(patient_user)

    assert Channel.WECHAT not in rows and Channel.IN_APP in rows
    patient_user.wechat_openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    patient_user.save(update_fields=["wechat_openid"])
    assert Channel.WECHAT in _notify(patient_user)


def test_wechat_to_staff_links_to_their_inbox(physician_user, wechat_settings, wechat_stub):
    physician_user.wechat_openid = "oStaffOpenid0001"
    physician_user.save(update_fields=["wechat_openid"])
    with transaction.atomic():
        notify(
            template="generic",
            context={"title": "通知", "body": "内容"},
            user=physician_user,
            channels=[Channel.WECHAT],
        )

    jobs.run_once("w1", now=_soon())

    [sent] = wechat_stub.sends
    assert sent["body"]["url"] == f"{settings.PUBLIC_BASE_URL}/notifications/"


def test_wechat_not_subscribed_is_dead_at_once(wechat_patient, wechat_stub):
    wechat_stub.send_errcodes = [43004]
    row = _notify(wechat_patient, channels=[Channel.WECHAT])[Channel.WECHAT]

    jobs.run_once("w1", now=_soon())

    row.refresh_from_db()
    assert row.state == NotificationState.DEAD
    assert row.last_error == "PermanentJobError: wechat.errcode_43004"
    assert Job.objects.get().status == JobStatus.DEAD


def test_wechat_busy_retries_later(wechat_patient, wechat_stub):
    wechat_stub.send_errcodes = [45009]
    row = _notify(wechat_patient, channels=[Channel.WECHAT])[Channel.WECHAT]

    jobs.run_once("w1", now=_soon())
    row.refresh_from_db()
    assert row.state == NotificationState.FAILED

    jobs.run_once("w1", now=Job.objects.get().run_after)
    row.refresh_from_db()
    assert row.state == NotificationState.SENT
    assert row.attempts == 2


def test_in_app_rows_need_no_job(patient_user, sms):
    rows = _notify(patient_user, channels=[Channel.IN_APP])

    assert rows[Channel.IN_APP].state == NotificationState.SENT
    assert Job.objects.count() == 0
    assert Notification.objects.count() == 1
