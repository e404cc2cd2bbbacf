"""The re-evaluation's deadlines, run daily by the worker (HB art. 9): the reminder when the window
opens, the suspension the day after a missed deadline, and the alert for a re-evaluation left
unfinished. One transaction per eligibility."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import DomainError
from dualchannel.core.statemachine import transition
from dualchannel.monitoring.services import alert_raise
from dualchannel.notifications.services import notify

from ..models import (
    Eligibility,
    EligibilityStatus,
    Reevaluation,
    ReevaluationReminder,
)
from .common import day_or_today
from .reevaluation import window_opens

logger = logging.getLogger("dualchannel.eligibility")

E = EligibilityStatus

OVERDUE_REASON = "未在复查评估期限内完成复查评估"


# --- reads -------------------------------------------------------------------------------------


# --- scheduled work ----------------------------------------------------------------------------


def send_reevaluation_reminders(today: date | None = None) -> int:
    """Remind, once per due date, each active eligibility whose window has opened [HB art. 9].

    Each eligibility in its own transaction: a year without calendar data skips that one
    (logged by id) and the run goes on. Returns the number of reminders sent.
    """
    today = day_or_today(today)
    candidates = Eligibility.objects.filter(
        status=E.ACTIVE, next_reevaluation_due__gte=today
    ).values_list("pk", flat=True)
    sent = 0
    for eligibility_id in list(candidates):
        try:
            sent += _remind(eligibility_id, today)
        except DomainError as exc:
            logger.warning(
                "reevaluation reminder skipped: eligibility=%s code=%s", eligibility_id, exc.code
            )
    return sent


def _remind(eligibility_id: int, today: date) -> int:
    with transaction.atomic():
        eligibility = (
            Eligibility.objects.select_for_update(of=("self",))
            .select_related("drug", "hospital", "patient")
            .get(pk=eligibility_id)
        )
        due = eligibility.next_reevaluation_due
        if eligibility.status != E.ACTIVE or due is None or due < today:
            return 0
        if ReevaluationReminder.objects.filter(eligibility=eligibility, due_date=due).exists():
            return 0
        opens = window_opens(eligibility, due)
        if today < opens:
            return 0
        ReevaluationReminder.objects.create(
            eligibility=eligibility, due_date=due, window_opens=opens
        )
        notify(
            template="eligibility.reevaluation_window_open",
            context={
                "drug_name": eligibility.drug.generic_name,
                "deadline": due,
                "hospital_name": eligibility.hospital.name,
            },
            person=eligibility.patient,
        )
        audit.record(
            actor=None,
            action="eligibility.reevaluation_reminded",
            subject=eligibility,
            patient=eligibility.patient,
            summary={"due": due.isoformat(), "window_opens": opens.isoformat()},
        )
    return 1


def suspend_overdue(today: date | None = None) -> int:
    """Suspend every active eligibility whose deadline has passed without a re-evaluation:
    benefits stop the day after the deadline [HB art. 9]. No working-day arithmetic."""
    today = day_or_today(today)
    overdue = Eligibility.objects.filter(
        status=E.ACTIVE, next_reevaluation_due__lt=today
    ).values_list("pk", flat=True)
    suspended = 0
    for eligibility_id in list(overdue):
        with transaction.atomic():
            eligibility = (
                Eligibility.objects.select_for_update(of=("self",))
                .select_related("drug", "patient")
                .get(pk=eligibility_id)
            )
            due = eligibility.next_reevaluation_due
            if eligibility.status != E.ACTIVE or due is None or due >= today:
                continue
            # A completed re-evaluation moves the deadline on; this guards a stale row only.
            if eligibility.reevaluations.filter(due_date=due, completed_at__isnull=False).exists():
                continue
            suspended_on = due + timedelta(days=1)
            transition(
                eligibility,
                E.SUSPENDED,
                actor=None,
                reason=OVERDUE_REASON,
                due=due.isoformat(),
                suspended_on=suspended_on.isoformat(),
            )
            notify(
                template="eligibility.suspended",
                context={
                    "drug_name": eligibility.drug.generic_name,
                    "suspended_on": suspended_on,
                    "reason": OVERDUE_REASON,
                },
                person=eligibility.patient,
                actor=None,
            )
            suspended += 1
    return suspended


OVERDUE_RULE = "reevaluation_overdue"


def flag_overdue_reevaluations(today: date | None = None) -> int:
    """Daily: a started re-evaluation not completed in time raises an alert for the agency.

    Benefits continue meanwhile (HB art. 9): the patient presented in time, the delay is the
    hospital's; the alert is how the agency sees it (HB art. 48 spot checks).
    """

    today = day_or_today(today)
    overdue = Reevaluation.objects.filter(
        completed_at__isnull=True,
        complete_by__lt=today,
        eligibility__status=E.IN_REEVALUATION,
    ).select_related("eligibility")
    raised = 0
    for reevaluation in overdue:
        alert_raise(
            rule=OVERDUE_RULE,
            severity="warning",
            institution=reevaluation.eligibility.hospital_id,
            subject=reevaluation,
            evidence={
                "eligibility": reevaluation.eligibility_id,
                "started_on": timezone.localtime(reevaluation.started_at).date().isoformat(),
                "complete_by": reevaluation.complete_by.isoformat(),
            },
        )
        raised += 1
    return raised
