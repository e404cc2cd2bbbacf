from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.urls import Resolver404, resolve
from django.utils import timezone

from dualchannel.core.calendar import add_working_days, is_working_day, subtract_working_days
from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.jobs import periodic_tasks, run_once
from dualchannel.core.models import AuditEvent, Job
from dualchannel.documents.models import DocumentKind
from dualchannel.eligibility import services
from dualchannel.eligibility.models import (
    ELIGIBILITY_MACHINE,
    Eligibility,
    EligibilityStatus,
    Reevaluation,
    ReevaluationReminder,
)
from dualchannel.eligibility.selectors import current_plan, eligibility_benefits_active
from dualchannel.eligibility.services import reevaluation as rv
from dualchannel.eligibility.services import reevaluation_deadlines as deadlines
from dualchannel.integration.models import FilingKind, FilingStatus, PlatformFiling
from dualchannel.integration.services.filing import filing_process
from dualchannel.monitoring.models import Alert
from dualchannel.notifications.models import Channel, Notification
from dualchannel.registry.services import physician_assess
from dualchannel.simulators.platform import simulator_fail_next

from .factories import designated_physician

E = EligibilityStatus
APPROVED_ON = date(2026, 3, 4)
DUE = APPROVED_ON + timedelta(days=90)  # 2026-06-02, the criteria set's 90-day cycle


def in_app(template: str, person) -> list[Notification]:
    return list(
        Notification.objects.filter(
            template_code=template, person=person, channel=Channel.IN_APP
        ).order_by("pk")
    )


def statuses(eligibility: Eligibility) -> list[str]:
    return list(eligibility.history.order_by("pk").values_list("to_status", flat=True))


@pytest.fixture
def connected(hospital):
    hospital.platform_code = "H42010200001"
    hospital.save(update_fields=["platform_code"])
    return hospital


@pytest.fixture
def approved(make_draft, zhang, physician_user, reviewer_user, connected):
    """An eligibility granted on 2026-03-04, its 2503 filing accepted by the simulator."""
    application = make_draft(zhang)
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    eligibility = services.application_approve(
        actor=reviewer_user, application_id=application.pk, today=APPROVED_ON
    )
    assert filing_process(eligibility.filing_id).status == FilingStatus.ACCEPTED
    eligibility.refresh_from_db()
    return eligibility


def window(due: date = DUE) -> date:
    return subtract_working_days(due, 7)


def start(actor, eligibility, today=None) -> Reevaluation:
    return rv.reevaluation_start(
        actor=actor, eligibility_id=eligibility.pk, today=today or window()
    )


# --- the window [HB art. 9] --------------------------------------------------------------------


def test_window_opens_seven_working_days_before_the_deadline_on_the_statutory_calendar(approved):
    # given a deadline just after the National Day holiday
    approved.next_reevaluation_due = date(2026, 10, 14)

    # when the window is computed
    opens = rv.window_opens(approved)

    # then it counts 7 working days back, skipping the holiday (not 7 calendar days)
    assert opens == subtract_working_days(date(2026, 10, 14), 7)
    assert opens < date(2026, 10, 14) - timedelta(days=7)
    days = [opens + timedelta(days=i) for i in range((date(2026, 10, 14) - opens).days)]
    assert sum(is_working_day(d) for d in days) == 7


def test_start_before_the_window_is_refused_naming_the_opening_date(approved, physician_user):
    opens = window()

    with pytest.raises(DomainError) as caught:
        start(physician_user, approved, today=opens - timedelta(days=1))

    assert caught.value.code == "eligibility.reevaluation_not_open"
    assert opens.isoformat() in caught.value.message
    approved.refresh_from_db()
    assert approved.status == E.ACTIVE
    assert not Reevaluation.objects.exists()


# --- results -----------------------------------------------------------------------------------


def test_continue_sets_the_new_due_date_and_signs_the_form(approved, physician_user, zhang):
    # given a re-evaluation started on the window's first day
    reevaluation = start(physician_user, approved)
    approved.refresh_from_db()
    assert approved.status == E.IN_REEVALUATION
    on = DUE - timedelta(days=1)

    # when the physician continues the plan
    done = rv.reevaluation_complete(
        actor=physician_user,
        reevaluation_id=reevaluation.pk,
        result="continue",
        assessment="病灶稳定，无明显不良反应",
        today=on,
    )

    # then the eligibility is active with a new deadline = result date + cycle
    approved.refresh_from_db()
    assert approved.status == E.ACTIVE
    assert approved.next_reevaluation_due == on + timedelta(days=90)
    assert done.next_due == approved.next_reevaluation_due
    assert done.form.kind == DocumentKind.REEVALUATION_FORM
    assert done.form.data["result"] == "continue"
    assert done.form.data["next_evaluation_date"] == approved.next_reevaluation_due.isoformat()
    assert statuses(approved) == [E.ACTIVE, E.IN_REEVALUATION, E.ACTIVE]
    assert AuditEvent.objects.filter(action="eligibility.reevaluation_completed").count() == 1
    (notice,) = in_app("eligibility.reevaluation_completed", zhang)
    assert "继续原方案" in notice.body
    assert f"{approved.next_reevaluation_due.month}月{approved.next_reevaluation_due.day}日" in (
        notice.body
    )


def test_adjust_updates_the_plan_and_the_cycle(approved, physician_user):
    reevaluation = start(physician_user, approved)
    on = window() + timedelta(days=2)

    rv.reevaluation_complete(
        actor=physician_user,
        reevaluation_id=reevaluation.pk,
        result="adjust",
        assessment="疗效好，调整剂量",
        evaluation_cycle_days=60,
        dose="150mg",
        frequency="每日一次",
        route="口服",
        total_quantity=Decimal("120"),
        quantity_unit="粒",
        period_start=on,
        period_end=on + timedelta(days=60),
        today=on,
    )

    approved.refresh_from_db()
    assert approved.status == E.ACTIVE
    assert approved.plan_total_quantity == Decimal("120")
    assert approved.next_reevaluation_due == on + timedelta(days=60)
    plan = current_plan(approved)
    assert plan["dose"] == "150mg" and plan["frequency"] == "每日一次"
    reevaluation.refresh_from_db()
    assert "150mg" in reevaluation.form.data["adjusted_plan"]


def test_adjust_without_a_plan_is_refused_and_nothing_changes(approved, physician_user):
    reevaluation = start(physician_user, approved)

    with pytest.raises(DomainError) as caught:
        rv.reevaluation_complete(
            actor=physician_user,
            reevaluation_id=reevaluation.pk,
            result="adjust",
            assessment="调整",
            today=window(),
        )

    assert caught.value.code == "eligibility.invalid_plan"
    reevaluation.refresh_from_db()
    approved.refresh_from_db()
    assert reevaluation.completed_at is None
    assert approved.status == E.IN_REEVALUATION


def test_stop_ends_the_benefit_and_cancels_the_filing_with_a_2504(approved, physician_user):
    reevaluation = start(physician_user, approved)

    done = rv.reevaluation_complete(
        actor=physician_user,
        reevaluation_id=reevaluation.pk,
        result="stop",
        assessment="疾病进展",
        stop_reason="疾病进展，不再符合用药条件",
        today=window(),
    )

    approved.refresh_from_db()
    assert approved.status == E.STOPPED
    assert not eligibility_benefits_active(approved, on=window())
    # the stop does not wait on the platform: its 2504 is queued for the worker
    cancel = PlatformFiling.objects.get(kind=FilingKind.CANCEL, target_id=approved.filing_id)
    assert cancel.status == FilingStatus.PENDING and cancel.attempts == 0
    assert done.cancel_filing_id == cancel.pk
    assert (
        done.filing_note
        == approved.filing_note
        == ("已提交撤销备案（2504），待发送；平台受理后备案即撤销")
    )
    assert Job.objects.filter(kind="integration.filing", payload={"filing_id": cancel.pk}).exists()

    # when the worker runs, the 2504 is accepted and the 2503 cancelled
    run_once("w1")
    cancel.refresh_from_db()
    assert cancel.status == FilingStatus.ACCEPTED
    assert PlatformFiling.objects.get(pk=approved.filing_id).status == FilingStatus.CANCELLED
    assert done.form.data["stop_reason"] == "疾病进展，不再符合用药条件"
    (notice,) = in_app("eligibility.stopped", approved.patient)
    assert "疾病进展，不再符合用药条件" in notice.body


def test_a_2504_the_platform_cannot_take_now_is_retried_by_the_worker(approved, physician_user):
    # given the platform times out on the next 2504
    simulator_fail_next(1, mode="timeout", infno="2504")

    # when the physician stops the eligibility and the worker sends its 2504
    rv.eligibility_stop(actor=physician_user, eligibility_id=approved.pk, reason="患者转院")
    run_once("w1")

    # then the failed 2504 is kept and its job backs off to send it again (one job, not two)
    cancel = PlatformFiling.objects.get(kind=FilingKind.CANCEL, target_id=approved.filing_id)
    assert cancel.status == FilingStatus.FAILED and cancel.attempts == 1
    retry = Job.objects.get(kind="integration.filing", payload={"filing_id": cancel.pk})
    assert retry.status == "retry"
    assert retry.run_after > timezone.now()

    # when the worker runs after the back-off, the 2504 is accepted and the 2503 cancelled
    run_once("w1", now=retry.run_after + timedelta(seconds=1))
    cancel.refresh_from_db()
    assert cancel.status == FilingStatus.ACCEPTED and cancel.attempts == 2
    assert PlatformFiling.objects.get(pk=approved.filing_id).status == FilingStatus.CANCELLED
    assert PlatformFiling.objects.filter(kind=FilingKind.CANCEL).count() == 1


def test_stop_without_an_accepted_filing_records_that_none_was_needed(
    make_draft, zhang, physician_user, reviewer_user
):
    # given a hospital without a platform code: no filing was made
    application = make_draft(zhang)
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    eligibility = services.application_approve(
        actor=reviewer_user, application_id=application.pk, today=APPROVED_ON
    )

    rv.eligibility_stop(actor=physician_user, eligibility_id=eligibility.pk, reason="患者转院")

    eligibility.refresh_from_db()
    assert eligibility.status == E.STOPPED
    assert eligibility.filing_note == "无已受理的备案，无需撤销"
    assert not PlatformFiling.objects.filter(kind=FilingKind.CANCEL).exists()


@pytest.fixture
def approved_filing_queued(make_draft, zhang, physician_user, reviewer_user, connected):
    """An eligibility whose 2503 filing is still queued (the worker has not run)."""
    application = make_draft(zhang)
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    return services.application_approve(
        actor=reviewer_user, application_id=application.pk, today=APPROVED_ON
    )


def test_stop_before_the_filing_was_sent_withdraws_it_and_nothing_reaches_the_platform(
    approved_filing_queued, physician_user
):
    eligibility = approved_filing_queued

    rv.eligibility_stop(actor=physician_user, eligibility_id=eligibility.pk, reason="患者转院")

    filing = PlatformFiling.objects.get(pk=eligibility.filing_id)
    assert filing.status == FilingStatus.CANCELLED
    assert filing.attempts == 0
    eligibility.refresh_from_db()
    assert eligibility.filing_note == "备案尚未发送，已撤回"
    # the queued job finds nothing to send
    assert filing_process(filing.pk).status == FilingStatus.CANCELLED
    assert not PlatformFiling.objects.filter(kind=FilingKind.CANCEL).exists()


def test_stop_while_the_filing_is_failing_cancels_it_once_the_platform_accepts_it(
    approved_filing_queued, physician_user
):

    eligibility = approved_filing_queued
    simulator_fail_next(1, infno="2503")
    assert filing_process(eligibility.filing_id).status == FilingStatus.FAILED

    rv.eligibility_stop(actor=physician_user, eligibility_id=eligibility.pk, reason="患者转院")

    eligibility.refresh_from_db()
    assert "受理后将自动撤销" in eligibility.filing_note
    # when the retry is accepted, a 2504 follows by itself
    filing = filing_process(eligibility.filing_id)
    assert filing.status == FilingStatus.ACCEPTED
    cancel = PlatformFiling.objects.get(kind=FilingKind.CANCEL, target=filing)
    assert cancel.input["memo"] == "患者转院"
    assert filing_process(cancel.pk).status == FilingStatus.ACCEPTED
    filing.refresh_from_db()
    assert filing.status == FilingStatus.CANCELLED


def test_the_patient_is_told_when_a_reevaluation_starts_and_by_when(approved, physician_user):
    reevaluation = start(physician_user, approved)

    (notice,) = in_app("eligibility.reevaluation_started", approved.patient)
    by = reevaluation.complete_by
    assert f"{by.year}年{by.month}月{by.day}日" in notice.body and "待遇继续" in notice.body


def test_benefits_continue_during_a_reevaluation_past_the_deadline(approved, physician_user):
    start(physician_user, approved)
    approved.refresh_from_db()

    # the deadline passes while the re-evaluation is in progress [HB art. 9]
    assert eligibility_benefits_active(approved, on=DUE + timedelta(days=3))
    assert deadlines.suspend_overdue(today=DUE + timedelta(days=1)) == 0
    approved.refresh_from_db()
    assert approved.status == E.IN_REEVALUATION


# --- scheduled jobs ----------------------------------------------------------------------------


def test_reminder_is_sent_once_per_due_date(approved, zhang):
    # before the window: nothing
    assert deadlines.send_reevaluation_reminders(today=window() - timedelta(days=1)) == 0

    # when the job runs on the window's first day, twice
    assert deadlines.send_reevaluation_reminders(today=window()) == 1
    assert deadlines.send_reevaluation_reminders(today=window() + timedelta(days=1)) == 0

    # then the patient has one reminder, naming the deadline
    reminders = in_app("eligibility.reevaluation_window_open", zhang)
    assert len(reminders) == 1
    assert ReevaluationReminder.objects.get().due_date == DUE


def test_reminder_job_skips_an_eligibility_without_calendar_data(approved, zhang, caplog):
    # given a deadline in a year no calendar can answer (beyond the holiday law's reach)
    approved.next_reevaluation_due = date(2100, 1, 20)
    approved.save(update_fields=["next_reevaluation_due"])

    # when the job runs
    with caplog.at_level("WARNING", logger="dualchannel.eligibility"):
        sent = deadlines.send_reevaluation_reminders(today=date(2100, 1, 12))

    # then it does not crash and logs the id only
    assert sent == 0
    assert f"eligibility={approved.pk}" in caplog.text
    assert zhang.name not in caplog.text and zhang.id_number not in caplog.text


def test_suspension_the_day_after_the_deadline_not_on_it(approved, zhang):
    # on the deadline day: still active
    assert deadlines.suspend_overdue(today=DUE) == 0
    approved.refresh_from_db()
    assert approved.status == E.ACTIVE
    assert eligibility_benefits_active(approved, on=DUE)

    # the day after: suspended, the patient told
    assert deadlines.suspend_overdue(today=DUE + timedelta(days=1)) == 1
    approved.refresh_from_db()
    assert approved.status == E.SUSPENDED
    assert not eligibility_benefits_active(approved, on=DUE + timedelta(days=1))
    notices = in_app("eligibility.suspended", zhang)
    assert len(notices) == 1
    assert "2026年6月3日" in notices[0].body
    assert approved.history.order_by("pk").last().actor is None


def test_late_reevaluation_restores_a_suspended_eligibility(approved, physician_user):
    deadlines.suspend_overdue(today=DUE + timedelta(days=1))
    late_day = DUE + timedelta(days=10)

    reevaluation = start(physician_user, approved, today=late_day)
    assert reevaluation.late
    rv.reevaluation_complete(
        actor=physician_user,
        reevaluation_id=reevaluation.pk,
        result="continue",
        assessment="按期复查",
        today=late_day,
    )

    approved.refresh_from_db()
    assert approved.status == E.ACTIVE
    assert approved.next_reevaluation_due == late_day + timedelta(days=90)
    assert statuses(approved) == [E.ACTIVE, E.SUSPENDED, E.IN_REEVALUATION, E.ACTIVE]


def test_tasks_are_registered_as_daily_jobs():

    tasks = periodic_tasks()
    assert tasks["eligibility.reevaluation_reminders"].at == time(8, 0)
    assert tasks["eligibility.suspend_overdue"].at == time(0, 5)


# --- refusals ----------------------------------------------------------------------------------


def test_outsider_physician_of_another_hospital_sees_nothing(approved, outsider_physician):
    designated_physician(outsider_physician)

    with pytest.raises(NotFound):
        start(outsider_physician, approved)

    approved.refresh_from_db()
    assert approved.status == E.ACTIVE
    assert not Reevaluation.objects.exists()


def test_outsider_cannot_complete_a_reevaluation(approved, physician_user, outsider_physician):
    reevaluation = start(physician_user, approved)

    with pytest.raises(NotFound):
        rv.reevaluation_complete(
            actor=outsider_physician,
            reevaluation_id=reevaluation.pk,
            result="stop",
            assessment="x",
            stop_reason="x",
            today=window(),
        )

    reevaluation.refresh_from_db()
    assert reevaluation.completed_at is None


@pytest.mark.parametrize(
    "status",
    [E.IN_REEVALUATION, E.STOPPED],
)
def test_start_from_a_wrong_state_is_refused(approved, physician_user, status):
    Eligibility.objects.filter(pk=approved.pk).update(status=status)

    with pytest.raises(Conflict) as caught:
        start(physician_user, approved)

    assert caught.value.code == "eligibility.transition"
    assert not Reevaluation.objects.exists()


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (E.STOPPED, E.ACTIVE),
        (E.STOPPED, E.SUSPENDED),
        (E.SUSPENDED, E.ACTIVE),
        (E.IN_REEVALUATION, E.SUSPENDED),
        (E.ACTIVE, E.ACTIVE),
    ],
)
def test_machine_refuses_wrong_transitions(source, target):
    assert not ELIGIBILITY_MACHINE.can(source, target)
    with pytest.raises(Conflict):
        ELIGIBILITY_MACHINE.check(source, target)


def test_completing_twice_is_refused(approved, physician_user):
    reevaluation = start(physician_user, approved)
    rv.reevaluation_complete(
        actor=physician_user,
        reevaluation_id=reevaluation.pk,
        result="continue",
        assessment="稳定",
        today=window(),
    )

    with pytest.raises(Conflict) as caught:
        rv.reevaluation_complete(
            actor=physician_user,
            reevaluation_id=reevaluation.pk,
            result="stop",
            assessment="x",
            stop_reason="x",
            today=window(),
        )

    assert caught.value.code == "eligibility.reevaluation_closed"
    approved.refresh_from_db()
    assert approved.status == E.ACTIVE


def test_a_reviewer_cannot_start_a_reevaluation(approved, reviewer_user):
    with pytest.raises(DomainError):
        start(reviewer_user, approved)

    approved.refresh_from_db()
    assert approved.status == E.ACTIVE


# --- API (once the lead mounts ``reevaluation_api.router`` at /api/v1/eligibility) -------------


def _mounted() -> bool:

    try:
        resolve("/api/v1/eligibility/eligibilities")
    except Resolver404:
        return False
    return True


def test_api_lists_starts_and_completes(
    approved, api_client, physician_user, outsider_physician, patient_user
):
    if not _mounted():
        pytest.skip("reevaluation_api.router is not mounted yet")
    base = "/api/v1/eligibility"
    client = api_client.as_user(physician_user)

    listed = client.get(f"{base}/eligibilities")
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()] == [approved.pk]

    Eligibility.objects.filter(pk=approved.pk).update(next_reevaluation_due=date.today())
    started = client.post_json(f"{base}/eligibilities/{approved.pk}/reevaluations")
    assert started.status_code == 201, started.content
    done = client.post_json(
        f"{base}/reevaluations/{started.json()['id']}/complete",
        {"result": "continue", "assessment": "稳定"},
    )
    assert done.status_code == 200, done.content
    detail = client.get(f"{base}/eligibilities/{approved.pk}").json()
    assert detail["status"] == E.ACTIVE
    assert len(detail["reevaluations"]) == 1
    assert [h["to_status"] for h in detail["history"]] == [E.ACTIVE, E.IN_REEVALUATION, E.ACTIVE]

    outsider = api_client.as_user(outsider_physician)
    assert outsider.get(f"{base}/eligibilities/{approved.pk}").status_code == 404


def test_a_reevaluation_not_completed_within_seven_working_days_raises_an_alert(
    approved, physician_user
):

    reevaluation = start(physician_user, approved)
    assert reevaluation.complete_by == add_working_days(window(), 7)

    assert deadlines.flag_overdue_reevaluations(today=reevaluation.complete_by) == 0
    assert (
        deadlines.flag_overdue_reevaluations(today=reevaluation.complete_by + timedelta(days=1))
        == 1
    )
    # the same day again counts once more on the open alert, it does not open another
    deadlines.flag_overdue_reevaluations(today=reevaluation.complete_by + timedelta(days=2))

    alert = Alert.objects.get(rule="reevaluation_overdue")
    assert alert.institution_id == approved.hospital_id
    assert alert.subject_id == str(reevaluation.pk)
    # benefits continue: the patient presented in time
    approved.refresh_from_db()
    assert eligibility_benefits_active(approved, on=reevaluation.complete_by + timedelta(days=2))


# --- who re-evaluates [HB art. 9, CX art. 20] --------------------------------------------------


def test_hb_art9_cx_art20_reevaluation_needs_a_responsible_physician_in_standing(
    approved, physician_user, reviewer_user
):
    """HB art. 9: the responsible physician re-evaluates; CX art. 20: a failed annual assessment
    suspends that standing, so the re-evaluation is refused and nothing is started."""
    physician_assess(actor=reviewer_user, physician=approved.physician, year=2025, result="failed")

    with pytest.raises(DomainError) as refused:
        start(physician_user, approved)

    assert refused.value.code == "eligibility.physician_suspended"
    assert not Reevaluation.objects.exists()
    approved.refresh_from_db()
    assert approved.status == E.ACTIVE
