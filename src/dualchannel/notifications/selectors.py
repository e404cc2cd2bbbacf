"""Reads of notifications, scoped to the caller."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from dualchannel.core.errors import NotFound
from dualchannel.core.models import User

from .models import Channel, Notification


def inbox(user: User) -> QuerySet[Notification]:
    """The caller's in-app messages, newest first: their own and their insured person's."""
    if user is None or not user.is_authenticated:
        return Notification.objects.none()
    mine = Q(recipient=user)
    if user.insured_person_id:
        mine |= Q(person_id=user.insured_person_id)
    return Notification.objects.filter(mine, channel=Channel.IN_APP).order_by("-created_at", "-id")


def unread_count(user: User) -> int:
    return inbox(user).filter(read_at__isnull=True).count()


def inbox_item(user: User, notification_id: int) -> Notification:
    found = inbox(user).filter(pk=notification_id).first()
    if found is None:
        raise NotFound()
    return found
