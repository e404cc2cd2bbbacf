"""The patient's messages in the portal's own layout (issue 12, point 6): each links to what it
is about — the application, the prescription, or the portal's home for the eligibility."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.eligibility.models import Application
from dualchannel.notifications import selectors as inbox_selectors
from dualchannel.notifications.models import Notification
from dualchannel.notifications.services import notification_mark_read
from dualchannel.prescriptions.models import Prescription

from .views import patient_required

PAGE_SIZE = 20


@dataclass(frozen=True)
class PortalMessage:
    notification: Notification
    link: str  # the page the message is about ("" when there is none)
    link_label: str


def _about(notification: Notification, person_id: int | None) -> tuple[str, str]:
    """The page a message is about, found by the numbers it names — only the patient's own."""
    values = notification.context or {}
    code = notification.template_code
    if values.get("prescription_no"):
        found = Prescription.objects.filter(
            prescription_no=values["prescription_no"], patient_id=person_id
        ).values_list("pk", flat=True)
        if found.first() is not None:
            return reverse("portal-prescription", args=[found.first()]), "查看处方"
    if values.get("application_no"):
        found = Application.objects.filter(
            application_no=values["application_no"], patient_id=person_id
        ).values_list("pk", flat=True)
        if found.first() is not None:
            return reverse("portal-application", args=[found.first()]), "查看申请"
    if code.startswith("eligibility."):
        return reverse("portal-home"), "查看用药资格"
    if code.startswith("prescriptions."):
        return reverse("portal-prescriptions"), "查看我的处方"
    return "", ""


@require_GET
@patient_required
def portal_messages(request: HttpRequest) -> HttpResponse:
    page = Paginator(inbox_selectors.inbox(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    person_id = request.user.insured_person_id
    rows = [PortalMessage(n, *_about(n, person_id)) for n in page]
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
