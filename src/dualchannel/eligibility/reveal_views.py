"""The full ID number of a case's patient, on the physician's or reviewer's explicit request.

The pages show it masked; the reviewer comparing it with the signed application form or a
material (and the physician checking the patient in front of them) asks for it with a button,
and each view is one audit event (``core.reveal``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from dualchannel.core import reveal
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from .views import own_hospital_application


@require_POST
@role_required(Role.PHYSICIAN, Role.REVIEWER)
def application_id_number(request: HttpRequest, application_id: int) -> HttpResponse:
    application = own_hospital_application(request, application_id)
    value = reveal.reveal_id_number(
        actor=request.user,
        person=application.patient,
        subject=application,
        via=reveal.VIA_PAGE,
    )
    response = TemplateResponse(request, "core/_id_revealed.html", {"value": value})
    response["Cache-Control"] = "no-store"
    return response
