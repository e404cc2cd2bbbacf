"""Writing notifications: the outbox rows and their delivery jobs, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from dualchannel.core import jobs
from dualchannel.core.errors import DomainError
from dualchannel.core.models import User
from dualchannel.core.queries import insert_new

from .models import Channel, Notification, NotificationState
from .selectors import inbox_item
from .templates import get_template

DELIVER = "notifications.deliver"
DELIVERY_MAX_ATTEMPTS = 8  # about 21 minutes of back-off in all before a message is dead


def recipient_phone(notification: Notification) -> str:
    """Read at delivery time from the registry, so no phone number is stored in the outbox."""
    person = notification.person
    if person is None and notification.recipient is not None:
        person = notification.recipient.insured_person
    return (person.phone if person is not None else "") or ""


def recipient_openid(notification: Notification) -> str:
    user = notification.recipient
    if user is None and notification.person is not None:
        user = User.objects.filter(insured_person=notification.person).first()
    return (user.wechat_openid if user is not None else "") or ""


def _reachable(channel: str, user: User | None, person) -> bool:
    if channel == Channel.IN_APP:
        return True
    if channel == Channel.SMS:
        return bool(person is not None and person.phone)
    if channel == Channel.WECHAT:
        return bool(settings.WECHAT_ENABLED and user is not None and user.wechat_openid)
    return False


def _user_of(person) -> User | None:
    """The account bound to the insured person: from memory when the caller read it with the
    person (``select_related("patient__user")``, the counter's dispensing), else one statement."""
    bound = type(person).user  # the reverse side of User.insured_person
    if bound.is_cached(person):
        return bound.related.get_cached_value(person)
    return User.objects.filter(insured_person=person).first()


def notify(
    *,
    template: str,
    context: Mapping[str, Any],
    user: User | None = None,
    person=None,
    channels: Iterable[str] | None = None,
    actor: User | None = None,
) -> list[Notification]:
    """Queue one message to a user and/or insured person, inside the business transaction.

    Default channels: in-app always; SMS when the person has a phone; WeChat when the user has
    an openid and WeChat is enabled. A channel asked for explicitly that cannot reach the person
    is recorded as skipped. In-app rows are sent at once (the inbox shows them once committed);
    the others get a ``notifications.deliver`` job each.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("notify must run inside the business transaction")
    tpl = get_template(template)
    rendered = tpl.render(context)
    if user is None and person is None:
        raise DomainError("notifications.no_recipient", "通知缺少接收人")
    if person is None and user is not None and user.insured_person_id:
        person = user.insured_person
    if user is None and person is not None:
        user = _user_of(person)
    if channels is None:
        wanted = [c for c in Channel.values if _reachable(c, user, person)]
    else:
        wanted = list(dict.fromkeys(channels))
        unknown = [c for c in wanted if c not in Channel.values]
        if unknown:
            raise DomainError(
                "notifications.unknown_channel", f"未知的通知渠道：{'、'.join(unknown)}"
            )
    now = timezone.now()
    rows = []
    for channel in wanted:
        reachable = _reachable(channel, user, person)
        in_app = channel == Channel.IN_APP
        notification = Notification(
            recipient=user,
            person=person,
            channel=channel,
            template_code=tpl.code,
            context=rendered.values,
            title=rendered.title,
            body=rendered.body,
            state=(
                NotificationState.SENT
                if in_app
                else NotificationState.PENDING
                if reachable
                else NotificationState.SKIPPED
            ),
            sent_at=now if in_app else None,
            triggered_by=actor,
            created_at=now,
        )
        rows.append(notification)
    # one INSERT for every channel (the counter's dispensing notifies on its hot path)
    insert_new(rows)
    for notification in rows:
        if notification.state == NotificationState.PENDING:
            jobs.enqueue(
                DELIVER,
                {"notification_id": notification.pk},
                key=f"notification:{notification.pk}",
                max_attempts=DELIVERY_MAX_ATTEMPTS,
                new_key=True,  # the notification row was created just above
            )
    return rows


def notification_mark_read(*, actor: User, notification_id: int) -> Notification:
    """Mark one of the caller's in-app messages read (idempotent)."""
    with transaction.atomic():
        notification = inbox_item(actor, notification_id)
        notification = Notification.objects.select_for_update().get(pk=notification.pk)
        if notification.read_at is None:
            notification.read_at = timezone.now()
            notification.save(update_fields=["read_at"])
        return notification
