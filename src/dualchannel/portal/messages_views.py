"""The patient's messages in the portal's own layout (issue 12, point 6): each links to what it
is about — the application, the prescription, or the portal's home for the eligibility."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.notifications import selectors as inbox_selectors
from dualchannel.notifications.models import Notification
from dualchannel.notifications.services import notification_mark_read

from .selectors import message_link
from .views import patient_required

PAGE_SIZE = 20


@dataclass(frozen=True)
class PortalMessage:
    notification: Notification
    link: str  # the page the message is about ("" when there is none)
    link_label: str


@require_GET
@patient_required
def portal_messages(request: HttpRequest) -> HttpResponse:
    page = Paginator(inbox_selectors.inbox(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    person_id = request.user.insured_person_id
    rows = [PortalMessage(n, *message_link(n, person_id)) for n in page]
    return TemplateResponse(
        request,
        "portal/messages.html",
        {"page": page, "rows": rows, "unread": inbox_selectors.unread_count(request.user)},
    )


@require_POST
@patient_required
def portal_message_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    notification_mark_read(actor=request.user, notification_id=notification_id)
    return redirect("portal-messages")
