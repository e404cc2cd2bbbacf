"""The hospital insurance office's page [P §1.2.2]: its own business per month and its open
monitoring alerts, read-only."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import office

MONTHS = 12


@require_GET
@role_required(Role.REVIEWER)
def hospital_office(request: HttpRequest) -> HttpResponse:
    hospital = office.office_hospital(request.user)
    since = (timezone.localdate() - timedelta(days=31 * (MONTHS - 1))).replace(day=1)
    months = office.office_months(hospital, since)
    outcomes = [
        (
            row,
            [
                (office.OUTCOME_LABELS[status], n)
                for status, n in sorted(row.outcomes.items())
                if status in office.OUTCOME_LABELS
            ],
        )
        for row in months
    ]
    return TemplateResponse(
        request,
        "settlement/hospital_office.html",
        {
            "hospital": hospital,
            "months": outcomes,
            "alerts": office.office_alerts(hospital)[:100],
        },
    )
