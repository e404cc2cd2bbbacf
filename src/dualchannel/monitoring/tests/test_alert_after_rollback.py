"""An alert raised by a refused action survives the refusal's rollback on SQLite too (issue 12,
point 8): written in the caller's transaction, and again once that has ended if it was lost."""

from __future__ import annotations

import contextlib
import os

import pytest
from django.db import transaction
from django.test import RequestFactory

from dualchannel.core import jobs
from dualchannel.core.after_rollback import run_pending
from dualchannel.core.errors import DomainError
from dualchannel.core.middleware import DomainErrorMiddleware
from dualchannel.core.models import AuditEvent, Job
from dualchannel.monitoring.models import Alert
from dualchannel.monitoring.services import alert_raise_independent

pytestmark = [
    pytest.mark.django_db,
    # On PostgreSQL the alert is committed apart on its own connection (test_alerts); these
    # are the SQLite path, where a second writer would wait for the caller.
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the SQLite path of alert_raise_independent",
    ),
]


def resold(pharmacy, code="9") -> None:
    alert_raise_independent(
        rule="trace_code_resold",
        severity="high",
        institution=pharmacy,
        subject=("inventory.TraceCode", code),
        evidence={"trace_code": code},
    )


def refused_action(pharmacy) -> None:
    """A business transaction that raises the alert, then is refused (rolled back)."""
    with transaction.atomic():
        resold(pharmacy)
        raise DomainError("inventory.trace_code_sold", "该追溯码已售出")


def test_the_alert_of_a_refused_action_is_kept_once_the_rollback_is_done(pharmacy):
    with pytest.raises(DomainError):
        refused_action(pharmacy)
    assert not Alert.objects.exists()  # the rollback took it away ...

    assert run_pending() == 1  # ... the end of the request writes it again

    alert = Alert.objects.get()
    assert (alert.rule, alert.occurrences, alert.institution_id) == (
        "trace_code_resold",
        1,
        pharmacy.pk,
    )
    assert alert.history.count() == 1
    assert AuditEvent.objects.filter(action="monitoring.alert_raised").count() == 1


def test_an_alert_whose_caller_committed_is_not_written_twice(pharmacy):
    with transaction.atomic():
        resold(pharmacy)

    run_pending()

    assert Alert.objects.get().occurrences == 1


def test_a_second_refusal_counts_one_more_occurrence(pharmacy):
    resold(pharmacy)  # outside any transaction: the open alert

    with pytest.raises(DomainError):
        refused_action(pharmacy)
    run_pending()

    assert Alert.objects.get().occurrences == 2


def test_every_request_ends_by_writing_what_a_rollback_took_away(pharmacy):
    def view(request):
        with contextlib.suppress(DomainError):
            refused_action(pharmacy)
        return "answer"

    answer = DomainErrorMiddleware(view)(RequestFactory().get("/"))

    assert answer == "answer"
    assert Alert.objects.get().rule == "trace_code_resold"


def test_a_job_refused_after_raising_the_alert_keeps_it(pharmacy):
    @jobs.job_handler("tests.refused_with_alert")
    def refuse(job):
        resold(pharmacy, code=str(job.pk))
        raise DomainError("inventory.trace_code_sold", "该追溯码已售出")

    with transaction.atomic():
        job = jobs.enqueue("tests.refused_with_alert", {}, max_attempts=1)
    [claimed] = jobs.claim("w", 1, now=job.run_after)

    assert jobs.run_job(claimed, "w") == "dead"

    assert Alert.objects.get().subject_id == str(job.pk)
    assert Job.objects.get().status == "dead"
