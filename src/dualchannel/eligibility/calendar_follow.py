"""Deadlines computed while a year's holidays were known only provisionally (from the law, with
the State Council's swaps unknown: ``core.calendar``) are computed again when the agency loads
the year's notice: the review clock [HB art. 10], the materials deadline [HB art. 7(2)], a
re-evaluation's completion date [HB art. 10] and the hospital's limit on a patient's own
request [HB art. 10]. Each changed date gets its audit event; a case that
moved on meanwhile is left alone (conditional update, no lock taken)."""

from __future__ import annotations

from datetime import date

from django.dispatch import receiver
from django.utils import timezone

from dualchannel.core.audit import record
from dualchannel.core.calendar import add_working_days, calendar_year_loaded
from dualchannel.registry.profiles import profile_of

from .models import (
    OPEN_FILING_REQUESTS,
    Application,
    ApplicationStatus,
    PatientFilingRequest,
    Reevaluation,
)
from .services.filing_requests import hospital_due_on
from .workflow import MATERIALS_DEADLINE_WORKING_DAYS, review_deadline_days


def _touches(year: int, start: date, due: date | None) -> bool:
    return due is not None and start.year <= year <= due.year


def _moved(subject, field: str, before: date, after: date, **filters) -> bool:
    if before == after:
        return False
    if not type(subject).objects.filter(pk=subject.pk, **filters).update(**{field: after}):
        return False
    record(
        actor=None,
        action="calendar.deadline_recomputed",
        subject=subject,
        before={field: before.isoformat()},
        after={field: after.isoformat()},
        summary={"field": field, "from": before.isoformat(), "to": after.isoformat()},
    )
    return True


@receiver(calendar_year_loaded, dispatch_uid="eligibility-deadlines")
def recompute_deadlines(sender, year: int, **kwargs) -> dict[str, int]:
    counts = {"review_due": 0, "materials_deadline": 0, "reevaluation_complete_by": 0}
    reviewing = Application.objects.filter(
        status=ApplicationStatus.UNDER_REVIEW, complete_on__isnull=False, review_due__isnull=False
    ).select_related("hospital")
    for application in reviewing:
        if not _touches(year, application.complete_on, application.review_due):
            continue
        due = add_working_days(application.complete_on, review_deadline_days(application))
        counts["review_due"] += _moved(
            application, "review_due", application.review_due, due, status=application.status
        )
    waiting = Application.objects.filter(
        status=ApplicationStatus.MATERIALS_REQUESTED,
        materials_requested_at__isnull=False,
        materials_deadline__isnull=False,
    )
    for application in waiting:
        asked = timezone.localdate(application.materials_requested_at)
        if not _touches(year, asked, application.materials_deadline):
            continue
        due = add_working_days(asked, MATERIALS_DEADLINE_WORKING_DAYS)
        counts["materials_deadline"] += _moved(
            application,
            "materials_deadline",
            application.materials_deadline,
            due,
            status=application.status,
        )
    running = Reevaluation.objects.filter(
        completed_at__isnull=True, complete_by__isnull=False
    ).select_related("eligibility__hospital")
    for reevaluation in running:
        started = timezone.localdate(reevaluation.started_at)
        if not _touches(year, started, reevaluation.complete_by):
            continue
        profile = profile_of(reevaluation.eligibility.hospital)
        days = (profile.review_deadline_working_days if profile else None) or 7
        due = add_working_days(started, days)
        counts["reevaluation_complete_by"] += _moved(
            reevaluation,
            "complete_by",
            reevaluation.complete_by,
            due,
            completed_at__isnull=True,
        )
    return counts


@receiver(calendar_year_loaded, dispatch_uid="eligibility-filing-request-deadlines")
def recompute_filing_requests(sender, year: int, **kwargs) -> dict[str, int]:
    """HB art. 10: the hospital's limit on a patient's open request, counted from the request."""
    moved = 0
    for request in PatientFilingRequest.objects.filter(
        status__in=OPEN_FILING_REQUESTS
    ).select_related("hospital"):
        asked = timezone.localdate(request.submitted_at)
        if not _touches(year, asked, request.due_on):
            continue
        due = hospital_due_on(request.hospital, asked)
        moved += _moved(request, "due_on", request.due_on, due, status__in=OPEN_FILING_REQUESTS)
    return {"filing_request_due_on": moved}
