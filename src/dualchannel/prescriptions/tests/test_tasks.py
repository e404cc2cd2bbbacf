"""Scheduled work of the prescriptions app: the nightly expiry job and the rx-centre handler."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.db import transaction

from dualchannel.core import jobs
from dualchannel.notifications.models import Channel, Notification
from dualchannel.prescriptions import tasks
from dualchannel.prescriptions.models import PrescriptionStatus

from .helpers import special, statuses

S = PrescriptionStatus


def test_the_expiry_job_is_registered_as_a_nightly_job():
    task = jobs.periodic_tasks()["prescriptions.expire"]

    assert (task.at, task.every) == (time(0, 10), None)
    assert jobs.handler_for("prescriptions.expire").func is tasks.expire_prescriptions
    # routing and dispensing hand the e-prescription centre's steps to the worker
    assert jobs.handler_for("prescriptions.rx_centre") is not None


def _run_slot(slot: datetime) -> None:
    """What the worker does with the slot's job: look up the handler of its kind and run it."""
    with transaction.atomic():
        job = jobs.enqueue(
            "prescriptions.expire",
            {"slot": slot.astimezone(UTC).isoformat()},
            key=f"test:{slot.isoformat()}",
        )
    jobs.handler_for(job.kind).func(job)


@pytest.mark.django_db
def test_the_nightly_slot_expires_a_prescription_the_night_after_its_last_valid_day(
    eligibility, physician_user
):
    # given: a prescription issued on 2026-03-10, valid through 2026-03-12
    prescription = special(physician_user, eligibility)
    assert prescription.valid_until.isoformat() == "2026-03-12"
    task = jobs.periodic_tasks()["prescriptions.expire"]
    night_of_last_day = task.first_run(datetime(2026, 3, 11, 23, 0, tzinfo=jobs.SHANGHAI))
    assert night_of_last_day == datetime(2026, 3, 12, 0, 10, tzinfo=jobs.SHANGHAI)

    # when: the slot at 00:10 on its last valid day runs, nothing happens
    _run_slot(night_of_last_day)
    prescription.refresh_from_db()
    assert prescription.status == S.ISSUED

    # when: the next night's slot runs
    next_night = task.next_run(night_of_last_day, night_of_last_day)
    assert next_night == datetime(2026, 3, 13, 0, 10, tzinfo=jobs.SHANGHAI)
    _run_slot(next_night)

    # then: expired, with its history and the patient told
    prescription.refresh_from_db()
    assert prescription.status == S.EXPIRED
    assert statuses(prescription) == [S.ISSUED, S.EXPIRED]
    assert Notification.objects.filter(
        template_code="prescriptions.expired", channel=Channel.IN_APP
    ).exists()
