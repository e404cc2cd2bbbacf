"""Smart-monitoring detectors of the review clock [HB art. 9–10, 48]: a hospital overrunning the
working-day review of a complete application, and re-evaluations not completed in time. Handed
down to ``monitoring.engine`` by ``apps.EligibilityConfig.ready``; evidence holds ids only."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from dualchannel.core.calendar import MAX_WORKING_DAYS, add_working_days
from dualchannel.monitoring.engine import Finding, Scope, monitoring_follow

from .models import Application, Reevaluation

# Rules the review clock can trip, run again (queued) after a decision commits.
REVIEW_RULES = ("review_overdue", "reevaluation_overdue")


def _day(moment) -> date | None:
    return timezone.localtime(moment).date() if moment else None


def review_overdue(scope: Scope) -> list[Finding]:
    """A complete application not decided within ``working_days`` working days [HB art. 10]:
    decided late in the period, or still undecided after the deadline at the period's end."""
    days = min(int(scope.params.get("working_days", 7)), MAX_WORKING_DAYS)
    rows = Application.objects.filter(
        hospital__region__code__startswith=scope.prefix,
        complete_on__isnull=False,
        complete_on__lte=scope.end,
    ).exclude(decided_at__date__lt=scope.start)
    findings = []
    for application in rows.order_by("pk"):
        due = add_working_days(application.complete_on, days)
        decided = _day(application.decided_at)
        late = decided > due if decided else due < scope.end
        if not late or (decided and decided > scope.end):
            continue
        findings.append(
            Finding(
                application.hospital_id,
                ("eligibility.Application", application.pk),
                {
                    "application_no": application.application_no,
                    "complete_on": application.complete_on.isoformat(),
                    "due": due.isoformat(),
                    "decided_on": decided.isoformat() if decided else "",
                },
            )
        )
    return findings


def reevaluation_overdue(scope: Scope) -> list[Finding]:
    """A re-evaluation not completed by its date plus ``grace_days`` [HB art. 9, 48]."""
    grace = timedelta(days=int(scope.params.get("grace_days", 0)))
    rows = (
        Reevaluation.objects.filter(
            eligibility__hospital__region__code__startswith=scope.prefix,
            complete_by__isnull=False,
            complete_by__lt=scope.end - grace,
        )
        .exclude(completed_at__date__lt=scope.start)
        .select_related("eligibility")
    )
    findings = []
    for reevaluation in rows.order_by("pk"):
        limit = reevaluation.complete_by + grace
        completed = _day(reevaluation.completed_at)
        if completed is not None and completed <= limit:
            continue
        findings.append(
            Finding(
                reevaluation.eligibility.hospital_id,
                ("eligibility.Reevaluation", reevaluation.pk),
                {
                    "eligibility": reevaluation.eligibility_id,
                    "started_on": _day(reevaluation.started_at).isoformat(),
                    "complete_by": reevaluation.complete_by.isoformat(),
                    "completed_on": completed.isoformat() if completed else "",
                },
            )
        )
    return findings


def application_follow(application: Application, day: date) -> None:
    """Queue the review-clock rules over ``day``'s month once a decision commits."""
    monitoring_follow(
        region_code=application.hospital.region_id,
        keys=list(REVIEW_RULES),
        day=day,
        event=f"application:{application.pk}:{application.status}",
    )


DETECTORS = {"review_overdue": review_overdue, "reevaluation_overdue": reevaluation_overdue}
