"""The page a message is about, for the deep link (``url``) of a WeChat template message.

Notifications sit below the apps whose pages the messages are about, so the patient portal
hands its resolver down at start-up (``PortalConfig.ready``), as eligibility does for the
physicians' messages (``EligibilityConfig.ready``); the staff inbox links each message to its
page the same way. Without one, or when it knows no page, the link is the staff inbox.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.urls import reverse

from .models import Notification

LinkResolver = Callable[[Notification], str]
_resolvers: list[LinkResolver] = []


def register_link_resolver(resolver: LinkResolver) -> None:
    """``resolver(notification)`` answers a path on this site, or "" when it has none."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def linked_path(notification: Notification) -> str:
    """The page the message is about, as the first resolver that knows it answers; "" if none."""
    for resolver in _resolvers:
        path = resolver(notification)
        if path:
            return path
    return ""


def notification_path(notification: Notification) -> str:
    return linked_path(notification) or reverse("notification-inbox")


def notification_url(notification: Notification) -> str:
    """The absolute address (``PUBLIC_BASE_URL`` + path) a template message opens."""
    return f"{settings.PUBLIC_BASE_URL}{notification_path(notification)}"
