"""我的医保电子凭证 (simulated): what the patient's national insurance app shows — a fresh e-voucher
QR code, valid a few minutes and for one dispensing — for the demo patient to show at the
counter. Only where the simulators are enabled (demo and tests); the real voucher lives in the
national app, not here."""

from __future__ import annotations

import segno
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from .platform import simulator_voucher_issue


@require_GET
@role_required(Role.PATIENT, login_url="portal-login")
def patient_voucher(request: HttpRequest) -> HttpResponse:
    """Each visit issues a fresh code, as the app refreshes its QR code."""
    person = request.user.insured_person
    if person is None:
        return redirect("portal-bind")
    voucher = simulator_voucher_issue(person.id_number)
    context = {
        "name": mask_name(person.name),
        "id_masked": mask_id_number(person.id_number),
        "token": voucher.token,
        "expires_at": timezone.localtime(voucher.expires_at),
        "qr_data_uri": segno.make(voucher.token, error="m").svg_data_uri(scale=6, border=2),
    }
    return TemplateResponse(request, "simulators/voucher.html", context)
