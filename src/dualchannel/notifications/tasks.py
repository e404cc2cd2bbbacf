"""The delivery job: send one outbox row through its channel."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from dualchannel.core import jobs
from dualchannel.core.models import Job

from .channels import (
    PermanentDeliveryError,
    WeChatClient,
    get_sms_provider,
)
from .links import notification_url
from .models import Channel, Notification, NotificationState
from .services import DELIVER, recipient_openid, recipient_phone
from .templates import Rendered, get_template


def _delivery_failed(job: Job, exc: BaseException, dead: bool) -> None:
    """Runs in the transaction that records the failed attempt (the send's writes rolled back)."""
    Notification.objects.filter(pk=job.payload.get("notification_id")).exclude(
        state__in=[NotificationState.SENT, NotificationState.SKIPPED]
    ).update(
        state=NotificationState.DEAD if dead else NotificationState.FAILED,
        attempts=job.attempts,
        last_error=job.last_error,
    )


@jobs.job_handler(DELIVER, on_failure=_delivery_failed)
def deliver(job: Job) -> None:
    notification = (
        # of=self: PostgreSQL cannot lock the nullable side of the outer joins.
        Notification.objects.select_for_update(of=("self",))
        .select_related("person", "recipient")
        .get(pk=job.payload["notification_id"])
    )
    if notification.state in (NotificationState.SENT, NotificationState.SKIPPED):
        return  # already delivered (a retried job after a lost acknowledgement) or not needed
    template = get_template(notification.template_code)
    rendered = Rendered(notification.title, notification.body, dict(notification.context))
    notification.attempts = job.attempts
    try:
        if notification.channel == Channel.SMS:
            message_id = _send_sms(notification, template, rendered)
        elif notification.channel == Channel.WECHAT:
            message_id = _send_wechat(notification, template, rendered)
        else:
            raise jobs.PermanentJobError("notifications.channel_not_delivered_by_job")
    except PermanentDeliveryError as exc:
        raise jobs.PermanentJobError(exc.code) from exc
    if message_id is None:
        notification.state = NotificationState.SKIPPED
    else:
        notification.state = NotificationState.SENT
        notification.sent_at = timezone.now()
        notification.provider_message_id = message_id[:100]
        notification.last_error = ""
    notification.save(
        update_fields=["state", "attempts", "sent_at", "provider_message_id", "last_error"]
    )


def _send_sms(notification: Notification, template, rendered: Rendered) -> str | None:
    phone = recipient_phone(notification)
    if not phone:
        return None  # the number was removed since the message was queued
    return get_sms_provider().send(phone, template.sms_id, template.sms_payload(rendered))


def _send_wechat(notification: Notification, template, rendered: Rendered) -> str | None:
    openid = recipient_openid(notification)
    if not openid or not settings.WECHAT_ENABLED:
        return None
    client = WeChatClient.from_settings()
    try:
        return client.send_template(
            openid=openid,
            template_id=template.wechat_id,
            data=template.wechat_data(rendered),
            url=notification_url(notification),  # the page the message is about
        )
    finally:
        client.close()
