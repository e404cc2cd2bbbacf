"""Two officers of a city submit the same month at once: one submission, the other refused
(PostgreSQL, real threads)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from dualchannel.analytics.models import MonthlySubmission, SubmissionTransition
from dualchannel.analytics.services import sd_monthly_submit
from dualchannel.core.errors import DomainError

from .factories import AFTER_MARCH, officer


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_submissions_at_once_make_one(sd_world):
    officers = [sd_world["jinan_officer"], officer(sd_world["jinan"], "济南市医保中心")]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(actor) -> None:
        try:
            barrier.wait()
            sd_monthly_submit(actor=actor, city_code="370100", month="2026-03", today=AFTER_MARCH)
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(actor,)) for actor in officers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["analytics.already_submitted", "ok"]
    assert MonthlySubmission.objects.count() == 1
    assert SubmissionTransition.objects.count() == 1
