"""The full ID number of a routed prescription's patient, on the pharmacist's explicit request.

The counter page shows it masked; for the real-name check against a presented ID card (HB art.
24) the pharmacist asks for it with a button, and each view is one audit event (``core.reveal``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from dualchannel.core import reveal

from .counter_views import routed_here
from .views import pharmacist_required


@require_POST
@pharmacist_required
def counter_id_number(request: HttpRequest, prescription_id: int) -> HttpResponse:
    prescription = routed_here(request, prescription_id)
    value = reveal.reveal_id_number(
        actor=request.user,
        person=prescription.patient,
        subject=prescription,
        via=reveal.VIA_PAGE,
    )
    response = TemplateResponse(request, "core/_id_revealed.html", {"value": value})
    response["Cache-Control"] = "no-store"
    return response
