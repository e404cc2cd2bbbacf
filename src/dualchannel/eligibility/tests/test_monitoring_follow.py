"""The review clock feeds smart monitoring [HB art. 10, 47]: a decision queues the review rules
once it commits, and a decision after the seventh working day raises the hospital's alert."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from dualchannel.core.jobs import run_once
from dualchannel.core.models import Job
from dualchannel.eligibility import services
from dualchannel.eligibility.models import Application
from dualchannel.monitoring.engine import FOLLOW_WINDOW, INCREMENTAL_JOB
from dualchannel.monitoring.models import Alert
from dualchannel.monitoring.tests.factories import at

pytestmark = pytest.mark.django_db


def decide_on(make_draft, zhang, physician_user, reviewer_user, day: date, capture):
    application = make_draft(zhang)
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    with capture(execute=True):
        services.application_approve(actor=reviewer_user, application_id=application.pk, today=day)
    application.refresh_from_db()
    return application


def test_a_late_decision_queues_the_follow_up_which_raises_the_alert(
    make_draft, zhang, physician_user, reviewer_user, django_capture_on_commit_callbacks
):
    application = decide_on(
        make_draft,
        zhang,
        physician_user,
        reviewer_user,
        date(2026, 3, 20),
        django_capture_on_commit_callbacks,
    )
    assert application.complete_on == date(2026, 3, 2)

    job = Job.objects.get(kind=INCREMENTAL_JOB)
    assert job.payload["keys"] == ["reevaluation_overdue", "review_overdue"]
    assert job.payload["day"] == "2026-03-20"
    # the service stamps the decision with the clock; the test's clock is that day's
    Application.objects.filter(pk=application.pk).update(decided_at=at(date(2026, 3, 20)))
    while run_once("test-worker", now=timezone.now() + FOLLOW_WINDOW):
        pass

    alert = Alert.objects.get(rule="review_overdue")
    assert (alert.subject_id, alert.institution_id) == (
        str(application.pk),
        application.hospital_id,
    )
    assert alert.evidence["due"] == "2026-03-11"


def test_a_decision_in_time_raises_nothing(
    make_draft, zhang, physician_user, reviewer_user, django_capture_on_commit_callbacks
):
    application = decide_on(
        make_draft,
        zhang,
        physician_user,
        reviewer_user,
        date(2026, 3, 4),
        django_capture_on_commit_callbacks,
    )
    Application.objects.filter(pk=application.pk).update(decided_at=at(date(2026, 3, 4)))

    while run_once("test-worker", now=timezone.now() + FOLLOW_WINDOW):
        pass

    assert Job.objects.filter(kind=INCREMENTAL_JOB).count() == 1
    assert not Alert.objects.filter(rule="review_overdue").exists()
