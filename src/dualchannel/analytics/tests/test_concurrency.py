"""Two officers of a city submit the same month at once: one submission, the other refused
(PostgreSQL, real threads)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from dualchannel.analytics import rollups
from dualchannel.analytics.models import (
    CirculationRollup,
    MonthlySubmission,
    RollupState,
    SettlementRollup,
    SubmissionTransition,
)
from dualchannel.analytics.services import sd_monthly_submit
from dualchannel.core.errors import DomainError
from dualchannel.prescriptions.models import Prescription

from .factories import AFTER_MARCH, officer
from .rollup_world import reverse


def at_once(work: list) -> list[BaseException]:
    """Run each of ``work`` in a thread of its own, all released at once; what they raised."""
    barrier = threading.Barrier(len(work))
    errors: list[BaseException] = []

    def run(one) -> None:
        try:
            barrier.wait()
            one()
        except BaseException as exc:  # returned to the caller's assertion
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(one,)) for one in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_submissions_at_once_make_one(sd_world):
    officers = [sd_world["jinan_officer"], officer(sd_world["jinan"], "济南市医保中心")]

    def submit(actor) -> None:
        sd_monthly_submit(actor=actor, city_code="370100", month="2026-03", today=AFTER_MARCH)

    refused = at_once([lambda actor=actor: submit(actor) for actor in officers])

    # one went through, the other was refused as already submitted
    assert len(refused) == 1 and isinstance(refused[0], DomainError)
    assert refused[0].code == "analytics.already_submitted"
    assert MonthlySubmission.objects.count() == 1
    assert SubmissionTransition.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("limit", [1, 2, 5000])
def test_refreshers_at_once_count_each_settlement_once(stats_world, limit):
    """Four refreshers and a reversal at once: every settlement is rolled up once, the reversal
    subtracted once, and the rollups equal detail to the fen."""
    work = [lambda: rollups.refresh_all(limit=limit)] * 4 + [lambda: reverse(stats_world["s3"])]
    assert at_once(work) == []
    rollups.refresh_all()
    assert rollups.rollup_differences() == []
    march = SettlementRollup.objects.filter(month=date(2026, 3, 1)).aggregate(t=Sum("total_fen"))
    assert march["t"] == 100000  # S1 700.00 + S2 300.00; S3 reversed
    assert RollupState.objects.get().settlements_rolled == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_prescription_being_dispensed_is_not_waited_for_and_is_taken_next_time(stats_world):
    """A counter holds a prescription (routed, being dispensed): the refresh skips it instead of
    waiting, takes the others, and takes it once it is free; then routers and refreshers at
    once count each prescription once."""
    held_rx = stats_world["s1"].prescription
    Prescription.objects.filter(pk=held_rx.pk).update(routed_at=held_rx.issued_at)
    holding, release = threading.Event(), threading.Event()

    def counter() -> None:
        try:
            with transaction.atomic():
                Prescription.objects.select_for_update(no_key=True).get(pk=held_rx.pk)
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=counter)
    thread.start()
    try:
        assert holding.wait(10)
        first = rollups.refresh(limit=100)  # would block here if it waited for the row
        assert (first.issued, first.routed) == (1, 0)  # S3's; S1's is held
    finally:
        release.set()
        thread.join()
    second = rollups.refresh(limit=100)
    assert (second.issued, second.routed) == (1, 1)
    totals = CirculationRollup.objects.aggregate(i=Sum("issued"), r=Sum("routed"))
    assert (totals["i"], totals["r"]) == (2, 1)
    assert rollups.rollup_differences() == []

    # S3's prescription routed while four refreshers run: counted as routed once
    s3_rx = stats_world["s3"].prescription

    def route() -> None:
        with transaction.atomic():
            Prescription.objects.select_for_update(no_key=True).get(pk=s3_rx.pk)
            Prescription.objects.filter(pk=s3_rx.pk).update(routed_at=s3_rx.issued_at)

    assert at_once([lambda: rollups.refresh_all(limit=1)] * 4 + [route]) == []
    rollups.refresh_all()
    totals = CirculationRollup.objects.aggregate(i=Sum("issued"), r=Sum("routed"))
    assert (totals["i"], totals["r"]) == (2, 2)
    assert rollups.rollup_differences() == []
