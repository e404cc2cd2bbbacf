"""The inbox page: the caller's in-app messages, newest first, with a mark-read button."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.roles import Role

from . import selectors, services
from .links import linked_path
from .models import Notification

PAGE_SIZE = 20


@dataclass(frozen=True)
class MessageRow:
    """One row of the list include (``notifications/_list.html``), linked to its page."""

    notification: Notification
    link: str = ""
    link_label: str = ""


def _row(notification: Notification) -> MessageRow:
    path = linked_path(notification)
    return MessageRow(notification, path, "查看详情" if path else "")


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    if request.user.role_set == {Role.PATIENT}:
        return redirect("portal-messages")  # a patient reads them in the portal's own layout
    page = Paginator(selectors.inbox(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return TemplateResponse(
        request,
        "notifications/inbox.html",
        {
            "page": page,
            "rows": [_row(n) for n in page],
            "unread": selectors.unread_count(request.user),
        },
    )


@login_required
@require_POST
def mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = services.notification_mark_read(actor=request.user, notification_id=pk)
    if request.headers.get("HX-Request"):
        return TemplateResponse(
            request,
            "notifications/_item.html",
            {"n": notification, "unread": selectors.unread_count(request.user), "oob": True},
        )
    return redirect("notification-inbox")
