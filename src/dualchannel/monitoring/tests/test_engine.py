"""The rule engine: the nightly run over the month, the follow-up queued after a commit, the
region's thresholds and switches, re-runs that neither count a finding again nor reopen a
dismissed alert, and confirming an alert into a violation finding with its recovery order."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.jobs import periodic_tasks, run_once
from dualchannel.core.models import Job
from dualchannel.monitoring.engine import (
    FOLLOW_WINDOW,
    INCREMENTAL_JOB,
    follow_window,
    forget_followed,
    monitoring_follow,
    rules_run,
)
from dualchannel.monitoring.models import Alert, AlertState
from dualchannel.monitoring.selectors import alert_list
from dualchannel.monitoring.services import alert_review, rule_update
from dualchannel.monitoring.tasks import monitoring_nightly
from dualchannel.monitoring.tests.factories import settle
from dualchannel.registry.models import BenefitStatus, InstitutionKind
from dualchannel.registry.tests.factories import (
    InstitutionFactory,
    InsuredPersonFactory,
    region,
)
from dualchannel.settlement.models import RecoveryOrder, ViolationFinding

pytestmark = pytest.mark.django_db
RULE = "benefit_status_purchase"


@pytest.fixture
def suspended_purchase(pharmacy, pharmacist_user):
    person = InsuredPersonFactory(benefit_status=BenefitStatus.SUSPENDED)
    return settle(pharmacy, person, pharmacist_user, DrugFactory(), date(2026, 3, 5))


class SlotJob:
    """A periodic job as the worker hands it over (its slot in the payload)."""

    def __init__(self, slot: datetime):
        self.payload = {"slot": slot.isoformat()}


def test_the_nightly_job_runs_the_month_so_far_and_raises_one_alert(suspended_purchase, pharmacy):
    assert "monitoring.nightly" in periodic_tasks()

    # the night of 1 April runs 1–31 March
    monitoring_nightly(SlotJob(datetime(2026, 4, 1, 1, 30, tzinfo=ZoneInfo("Asia/Shanghai"))))

    alert = Alert.objects.get(rule=RULE)
    assert (alert.institution_id, alert.severity, alert.state) == (pharmacy.pk, "high", "open")
    assert alert.evidence["settlement_ids"] == [suspended_purchase.pk]
    assert alert.evidence["period"] == ["2026-03-01", "2026-03-31"]


def test_a_rerun_neither_counts_the_same_finding_again_nor_reopens_a_dismissed_one(
    suspended_purchase, agency_user, pharmacy, pharmacist_user
):
    city = region("420100")
    rules_run(city, date(2026, 3, 1), date(2026, 3, 31))
    rules_run(city, date(2026, 3, 1), date(2026, 3, 31))
    alert = Alert.objects.get(rule=RULE)
    assert alert.occurrences == 1

    alert_review(actor=agency_user, alert_id=alert.pk, confirm=False, note="已停保前购药，核实无误")
    rules_run(city, date(2026, 3, 1), date(2026, 3, 31))
    assert list(Alert.objects.filter(rule=RULE).values_list("state", flat=True)) == ["dismissed"]

    # new evidence (a second purchase) is a new alert
    settle(pharmacy, suspended_purchase.person, pharmacist_user, DrugFactory(), date(2026, 3, 9))
    rules_run(city, date(2026, 3, 1), date(2026, 3, 31))
    assert Alert.objects.filter(rule=RULE, state=AlertState.OPEN).count() == 1


def test_the_regions_threshold_and_switch_decide(suspended_purchase, agency_user):
    city = region("420100")
    rule_update(actor=agency_user, key=RULE, region_code="420100", params={"min_settlements": 2})
    rules_run(city, date(2026, 3, 1), date(2026, 3, 31))
    assert not Alert.objects.filter(rule=RULE).exists()  # one settlement < 2

    rule_update(
        actor=agency_user,
        key=RULE,
        region_code="420100",
        params={"min_settlements": 1},
        enabled=False,
    )
    rules_run(city, date(2026, 3, 1), date(2026, 3, 31))
    assert not Alert.objects.filter(rule=RULE).exists()  # switched off in Wuhan


def test_the_follow_up_is_queued_only_after_commit_and_runs_the_named_rules(
    suspended_purchase, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            for event in ("settlement:1", "settlement:2"):  # a busy counter: one window
                monitoring_follow(
                    region_code="420102", keys=[RULE], day=date(2026, 3, 5), event=event
                )
        assert not Job.objects.filter(kind=INCREMENTAL_JOB).exists()
    for callback in callbacks:
        callback()

    job = Job.objects.get(kind=INCREMENTAL_JOB)
    assert job.payload == {"region": "420100", "keys": [RULE], "day": "2026-03-05"}
    # it runs when the window closes, so it sees every event of the window
    assert job.created_at < job.run_after <= job.created_at + FOLLOW_WINDOW
    assert follow_window(job.run_after - timedelta(seconds=1)) == job.run_after
    while run_once("test-worker", now=timezone.now() + FOLLOW_WINDOW):
        pass
    assert Alert.objects.get(rule=RULE).evidence["period"] == ["2026-03-01", "2026-03-05"]
    assert not Alert.objects.exclude(rule=RULE).exists()  # only the named rules ran


def test_a_window_already_followed_needs_no_statement_in_this_process(
    django_capture_on_commit_callbacks,
):
    # given the follow-up of a region, rules, day and window queued by this process
    def settled(event: str) -> list:
        with (
            django_capture_on_commit_callbacks(execute=True) as callbacks,
            transaction.atomic(),
        ):
            monitoring_follow(region_code="420102", keys=[RULE], day=date(2026, 3, 5), event=event)
        return callbacks

    region("420102")
    settled("settlement:1")
    assert Job.objects.filter(kind=INCREMENTAL_JOB).count() == 1

    # when the next settlement of the window commits, its follow-up reads and writes nothing
    with CaptureQueriesContext(connection) as sent:
        settled("settlement:2")
    assert [q["sql"] for q in sent.captured_queries if "core_job" in q["sql"]] == []

    # and a process that forgot it (a fresh worker) finds the same job rather than a second one
    forget_followed()
    with CaptureQueriesContext(connection) as sent:
        settled("settlement:3")
    assert any("core_job" in q["sql"] for q in sent.captured_queries)
    assert Job.objects.filter(kind=INCREMENTAL_JOB).count() == 1


def test_confirming_with_a_finding_records_it_and_raises_the_recovery(
    suspended_purchase, agency_user, pharmacy
):
    rules_run(region("420100"), date(2026, 3, 1), date(2026, 3, 31))
    alert = Alert.objects.get(rule=RULE)

    alert_review(
        actor=agency_user,
        alert_id=alert.pk,
        confirm=True,
        note="停保期间冒用待遇购药",
        finding_kind="fake_treatment",
    )

    alert.refresh_from_db()
    finding = ViolationFinding.objects.get()
    assert (alert.state, alert.finding_no) == ("confirmed", finding.finding_no)
    assert list(finding.settlements.values_list("pk", flat=True)) == [suspended_purchase.pk]
    order = RecoveryOrder.objects.get()
    assert (order.institution_id, order.finding_id) == (pharmacy.pk, finding.pk)
    assert order.amount == suspended_purchase.fund  # the fund's part comes back


def test_a_finding_needs_settlements_in_the_evidence_and_nothing_is_written(
    agency_user, hospital, reviewer_user
):
    alert = Alert.objects.create(
        rule="review_overdue",
        severity="warning",
        institution=hospital,
        subject_type="eligibility.Application",
        subject_id="1",
        evidence={"application_no": "SQ1"},
    )

    with pytest.raises(DomainError) as refused:
        alert_review(
            actor=agency_user,
            alert_id=alert.pk,
            confirm=True,
            note="",
            finding_kind="fake_treatment",
        )

    assert refused.value.code == "monitoring.finding_needs_settlements"
    alert.refresh_from_db()
    assert (alert.state, ViolationFinding.objects.count()) == ("open", 0)


def test_another_regions_officer_neither_sees_nor_reviews_the_alert(
    suspended_purchase, outsider_agency
):
    rules_run(region("420100"), date(2026, 3, 1), date(2026, 3, 31))
    alert = Alert.objects.get(rule=RULE)

    assert list(alert_list(outsider_agency)) == []
    with pytest.raises(NotFound):
        alert_review(actor=outsider_agency, alert_id=alert.pk, confirm=False, note="不是本区")
    alert.refresh_from_db()
    assert alert.state == "open"


def test_an_open_alert_takes_the_grown_evidence_once(suspended_purchase, pharmacy, pharmacist_user):
    city = region("420100")
    rules_run(city, date(2026, 3, 1), date(2026, 3, 31))
    later = settle(
        pharmacy, suspended_purchase.person, pharmacist_user, DrugFactory(), date(2026, 3, 9)
    )

    rules_run(city, date(2026, 3, 1), date(2026, 3, 31))
    rules_run(city, date(2026, 3, 1), date(2026, 3, 31))

    alert = Alert.objects.get(rule=RULE)
    assert alert.occurrences == 2  # the first run, then once for the grown evidence
    assert alert.evidence["settlement_ids"] == [suspended_purchase.pk, later.pk]


@pytest.mark.django_db(transaction=True)
def test_the_follow_up_is_queued_by_a_real_commit_outside_any_transaction(caplog):
    # given a business transaction that really commits (no test transaction around it)
    region("420102")
    with transaction.atomic():
        monitoring_follow(region_code="420102", keys=[RULE], day=date(2026, 3, 5), event="x:1")

    # then the callback, run after the commit with nothing open, queued its job
    assert Job.objects.filter(kind=INCREMENTAL_JOB).count() == 1
    assert "could not be queued" not in caplog.text


@pytest.fixture
def suspended_in_two_counties(suspended_purchase, pharmacist_user):
    """One suspended person's purchase in 江岸区 (the fixture) and another's in 武昌区."""
    wuchang = InstitutionFactory(
        kind=InstitutionKind.PHARMACY, region_code="420106", hospital_level=None
    )
    person = InsuredPersonFactory(benefit_status=BenefitStatus.SUSPENDED)
    settle(wuchang, person, pharmacist_user, DrugFactory(), date(2026, 3, 6))
    return suspended_purchase.institution, wuchang


def test_a_county_override_wins_over_its_citys_in_the_nightly_run(
    suspended_in_two_counties, agency_user, county_officer
):
    jiangan, _wuchang = suspended_in_two_counties
    rule_update(actor=agency_user, key=RULE, region_code="420100", params={"min_settlements": 2})
    # 江岸区 keeps one settlement enough, and rates it a warning
    rule_update(
        actor=county_officer,
        key=RULE,
        region_code="420102",
        params={"min_settlements": 1},
        severity="warning",
    )

    monitoring_nightly(SlotJob(datetime(2026, 4, 1, 1, 30, tzinfo=ZoneInfo("Asia/Shanghai"))))

    # 武昌区 follows Wuhan's two settlements; 江岸区 its own one
    assert list(Alert.objects.filter(rule=RULE).values_list("institution_id", "severity")) == [
        (jiangan.pk, "warning")
    ]


def test_a_county_that_switched_the_rule_off_has_no_alert_in_the_follow_up_run(
    suspended_in_two_counties, county_officer, django_capture_on_commit_callbacks
):
    _jiangan, wuchang = suspended_in_two_counties
    rule_update(actor=county_officer, key=RULE, region_code="420102", params={}, enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        monitoring_follow(region_code="420102", keys=[RULE], day=date(2026, 3, 6), event="s:1")
    assert Job.objects.get(kind=INCREMENTAL_JOB).payload["region"] == "420100"
    while run_once("test-worker", now=timezone.now() + FOLLOW_WINDOW):
        pass

    assert list(Alert.objects.filter(rule=RULE).values_list("institution_id", flat=True)) == [
        wuchang.pk
    ]


def test_a_countys_override_starts_from_its_citys_not_the_national_values(
    agency_user, county_officer
):
    rule_update(
        actor=agency_user,
        key="multi_pharmacy_purchase",
        region_code="420100",
        params={"window_days": 20},
        severity="high",
    )
    row = rule_update(
        actor=county_officer,
        key="multi_pharmacy_purchase",
        region_code="420102",
        params={"min_pharmacies": 4},
    )
    assert (row.params, row.severity) == ({"window_days": 20, "min_pharmacies": 4}, "high")
