"""The worker reminds the cities on the 5th and flags the late ones on the 11th [SD §10: 每月10日
前报送省医保局] (calendar days)."""

from __future__ import annotations

from datetime import date

import pytest

from dualchannel.analytics.models import MonthlySubmission, SubmissionStatus, SubmissionTransition
from dualchannel.analytics.sd_report import status_label
from dualchannel.analytics.services import (
    flag_late_submissions,
    sd_monthly_submit,
    send_monthly_reminders,
)
from dualchannel.core.jobs import periodic_tasks
from dualchannel.core.models import AuditEvent
from dualchannel.notifications.models import Notification

pytestmark = pytest.mark.django_db


def _inbox(user, template):
    return list(Notification.objects.filter(recipient=user, template_code=template))


def test_both_jobs_are_scheduled_daily():
    tasks = periodic_tasks()

    assert tasks["analytics.sd_monthly_reminders"].at is not None
    assert tasks["analytics.sd_monthly_flag_late"].at is not None


@pytest.mark.parametrize("day", [4, 6, 10, 11])
def test_no_reminder_but_on_the_5th(sd_world, day):
    assert send_monthly_reminders(today=date(2026, 4, day)) == 0
    assert not Notification.objects.exists()


def test_on_the_5th_the_cities_not_submitted_are_reminded_once(sd_world, agency_user):
    sd_monthly_submit(
        actor=sd_world["qingdao_officer"],
        city_code="370200",
        month="2026-03",
        today=date(2026, 4, 2),
    )

    sent = send_monthly_reminders(today=date(2026, 4, 5))
    again = send_monthly_reminders(today=date(2026, 4, 5))

    assert (sent, again) == (1, 0)
    [notice] = _inbox(sd_world["jinan_officer"], "analytics.sd_monthly_reminder")
    assert "济南市2026年3月" in notice.body and "2026年4月10日前" in notice.body
    assert not _inbox(sd_world["qingdao_officer"], "analytics.sd_monthly_reminder")
    assert not _inbox(sd_world["lixia_officer"], "analytics.sd_monthly_reminder")
    assert not _inbox(agency_user, "analytics.sd_monthly_reminder")  # Hubei has no such table
    assert MonthlySubmission.objects.get(city_id="370100").reminded_on == date(2026, 4, 5)


@pytest.mark.parametrize("day", [5, 10, 12])
def test_no_late_flag_but_on_the_11th(sd_world, day):
    assert flag_late_submissions(today=date(2026, 4, day)) == 0
    assert not MonthlySubmission.objects.filter(status=SubmissionStatus.LATE).exists()


def test_on_the_11th_late_cities_are_flagged_and_the_officers_told(sd_world):
    sd_monthly_submit(
        actor=sd_world["qingdao_officer"],
        city_code="370200",
        month="2026-03",
        today=date(2026, 4, 10),
    )

    flagged = flag_late_submissions(today=date(2026, 4, 11))
    again = flag_late_submissions(today=date(2026, 4, 11))

    assert (flagged, again) == (1, 0)
    jinan = MonthlySubmission.objects.get(city_id="370100", month=date(2026, 3, 1))
    assert (jinan.status, jinan.flagged_late) == (SubmissionStatus.LATE, True)
    history = SubmissionTransition.objects.get(submission=jinan)
    assert (history.from_status, history.to_status) == ("pending", "late")
    assert AuditEvent.objects.filter(action="analytics.sd_submission_late").count() == 1
    assert len(_inbox(sd_world["jinan_officer"], "analytics.sd_monthly_late")) == 1
    [to_province] = _inbox(sd_world["province_officer"], "analytics.sd_monthly_late")
    assert "济南市2026年3月" in to_province.body and "逾期" in to_province.body
    assert not _inbox(sd_world["qingdao_officer"], "analytics.sd_monthly_late")
    qingdao = MonthlySubmission.objects.get(city_id="370200")
    assert (qingdao.status, qingdao.flagged_late) == (SubmissionStatus.SUBMITTED, False)


def test_a_late_city_may_still_submit_and_stays_marked_late(sd_world):
    flag_late_submissions(today=date(2026, 4, 11))

    submission = sd_monthly_submit(
        actor=sd_world["jinan_officer"],
        city_code="370100",
        month="2026-03",
        today=date(2026, 4, 12),
    )

    assert submission.status == SubmissionStatus.SUBMITTED
    assert status_label(submission, sd_world["jinan"], submission.month) == "逾期报送"
    assert [h.to_status for h in submission.history.order_by("at", "id")] == ["late", "submitted"]


def test_in_january_the_reminder_is_for_last_december(sd_world):
    send_monthly_reminders(today=date(2027, 1, 5))

    assert set(MonthlySubmission.objects.values_list("month", flat=True)) == {date(2026, 12, 1)}


@pytest.mark.parametrize(
    ("today", "label"),
    [
        (date(2026, 3, 31), "未到报送期"),
        (date(2026, 4, 1), "待报送"),
        (date(2026, 4, 10), "待报送"),
        (date(2026, 4, 11), "逾期未报送"),
    ],
)
def test_a_month_without_a_submission_reads_by_the_calendar(sd_world, today, label):
    assert status_label(None, sd_world["jinan"], date(2026, 3, 1), today=today) == label


def test_the_due_day_is_the_provinces_profile(sd_world):
    # SD §10 ships the 10th; a province that set the 12th flags late cities on the 13th.
    sd_world["province"].policy_profile.monthly_table_due_day = 12
    sd_world["province"].policy_profile.save()

    assert flag_late_submissions(today=date(2026, 4, 11)) == 0
    flagged = flag_late_submissions(today=date(2026, 4, 13))

    assert flagged == 2  # 济南, 青岛
    assert MonthlySubmission.objects.get(city_id="370100").status == SubmissionStatus.LATE
    send_monthly_reminders(today=date(2026, 5, 5))
    [notice] = _inbox(sd_world["jinan_officer"], "analytics.sd_monthly_reminder")
    assert "2026年5月12日前" in notice.body


def test_a_province_whose_profile_asks_for_no_table_is_not_reminded(sd_world):
    sd_world["province"].policy_profile.monthly_table_due_day = None
    sd_world["province"].policy_profile.save()

    assert send_monthly_reminders(today=date(2026, 4, 5)) == 0
    assert flag_late_submissions(today=date(2026, 4, 11)) == 0
    assert not MonthlySubmission.objects.exists()
