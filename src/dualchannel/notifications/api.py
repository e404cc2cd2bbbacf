"""The caller's in-app inbox."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.pagination import paginate

from dualchannel.core.auth import api_auth

from . import selectors, services
from .models import Notification

router = Router(tags=["notifications"], auth=api_auth)


class NotificationOut(Schema):
    id: int
    template_code: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None
    unread: bool


def _out(notification: Notification) -> NotificationOut:
    return NotificationOut(
        id=notification.pk,
        template_code=notification.template_code,
        title=notification.title,
        body=notification.body,
        created_at=notification.created_at,
        read_at=notification.read_at,
        unread=notification.read_at is None,
    )


@router.get("", response=list[NotificationOut], summary="我的站内消息（最新在前）")
@paginate
def notification_list(request: HttpRequest):
    return [_out(n) for n in selectors.inbox(request.auth)]


@router.post("/{notification_id}/read", response=NotificationOut, summary="标记消息为已读")
def notification_read(request: HttpRequest, notification_id: int):
    return _out(
        services.notification_mark_read(actor=request.auth, notification_id=notification_id)
    )
