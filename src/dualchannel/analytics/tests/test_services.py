"""The county's progress text, the city's submission and the refusals [SD §10]: refused with a
code and a Chinese message, nothing written."""

from __future__ import annotations

import pytest

from dualchannel.analytics.models import (
    CountyProgress,
    MonthlySubmission,
    SubmissionStatus,
    SubmissionTransition,
)
from dualchannel.analytics.sd_monthly import MonthlyTable, build_table
from dualchannel.analytics.services import county_progress_save, sd_monthly_submit
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import AuditEvent

from .factories import AFTER_MARCH, EXPECTED_TOTAL, MARCH, at, pharmacy

pytestmark = pytest.mark.django_db


def _save(world, actor_key="lixia_officer", county="370102", text="进展", month="2026-03"):
    return county_progress_save(
        actor=world[actor_key], county_code=county, month=month, text=text, today=AFTER_MARCH
    )


def _nothing_written(events_before: int) -> None:
    assert not CountyProgress.objects.exists()
    assert not MonthlySubmission.objects.exists()
    assert AuditEvent.objects.count() == events_before


def test_county_enters_its_progress_with_an_audit_event(sd_world):
    row = _save(sd_world, text="字" * 600)

    assert (row.county_id, row.month, len(row.text)) == ("370102", MARCH, 600)
    event = AuditEvent.objects.get(action="analytics.county_progress_save")
    assert event.summary["county"] == "370102" and event.summary["chars"] == 600


def test_progress_over_600_characters_is_refused(sd_world):
    before = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        _save(sd_world, text="字" * 601)

    assert refused.value.code == "analytics.progress_too_long"
    assert "600字以内" in refused.value.message
    _nothing_written(before)


def test_a_future_month_is_refused(sd_world):
    before = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        _save(sd_world, month="2026-05")

    assert refused.value.code == "analytics.future_month"
    assert "尚未到来" in refused.value.message
    _nothing_written(before)


def test_a_malformed_month_is_refused(sd_world):
    with pytest.raises(DomainError) as refused:
        _save(sd_world, month="2026-13")

    assert refused.value.code == "analytics.invalid_month"


@pytest.mark.parametrize(
    ("actor", "county"),
    [
        ("lixia_officer", "370124"),  # another county of the same city
        ("qingdao_officer", "370102"),  # another city
    ],
)
def test_a_county_outside_ones_scope_is_refused(sd_world, actor, county):
    before = AuditEvent.objects.count()

    with pytest.raises(NotFound) as refused:
        _save(sd_world, actor_key=actor, county=county)

    assert refused.value.code == "analytics.region_not_found"
    assert "管辖范围" in refused.value.message
    _nothing_written(before)


def test_another_provinces_officer_is_refused(sd_world, agency_user):
    before = AuditEvent.objects.count()

    with pytest.raises(NotFound):
        county_progress_save(
            actor=agency_user, county_code="370102", month="2026-03", text="x", today=AFTER_MARCH
        )
    with pytest.raises(NotFound):
        sd_monthly_submit(actor=agency_user, city_code="370100", month="2026-03", today=AFTER_MARCH)

    _nothing_written(before)


def test_the_city_may_correct_a_countys_text(sd_world):
    _save(sd_world, text="县里填的")

    row = _save(sd_world, actor_key="jinan_officer", text="市里更正")

    assert CountyProgress.objects.get().text == "市里更正"
    assert row.entered_by == sd_world["jinan_officer"]


def test_the_city_submits_and_the_figures_are_frozen(sd_world):
    _save(sd_world, text="已开通")

    submission = sd_monthly_submit(
        actor=sd_world["jinan_officer"],
        city_code="370100",
        month="2026-03",
        contact_phone="0531-12345678",
        today=AFTER_MARCH,
    )

    assert submission.status == SubmissionStatus.SUBMITTED
    assert submission.table["total"]["pharmacies"] == EXPECTED_TOTAL[2]
    assert submission.table["rows"][0]["progress"] == "已开通"
    history = SubmissionTransition.objects.get(submission=submission)
    assert (history.from_status, history.to_status) == ("pending", "submitted")
    assert AuditEvent.objects.filter(action="analytics.sd_submission_submitted").count() == 1
    # a pharmacy designated afterwards changes the live table, not the submitted one
    pharmacy(sd_world["lixia"], [(at(2026, 3, 20, 9), "active")])
    submission.refresh_from_db()
    assert submission.table["total"]["pharmacies"] == EXPECTED_TOTAL[2]


def test_after_submission_the_countys_text_is_locked(sd_world):
    sd_monthly_submit(
        actor=sd_world["jinan_officer"], city_code="370100", month="2026-03", today=AFTER_MARCH
    )
    before = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        _save(sd_world, text="迟到的进展")

    assert refused.value.code == "analytics.already_submitted"
    assert not CountyProgress.objects.exists()
    assert AuditEvent.objects.count() == before


def test_a_month_is_submitted_once(sd_world):
    sd_monthly_submit(
        actor=sd_world["jinan_officer"], city_code="370100", month="2026-03", today=AFTER_MARCH
    )

    with pytest.raises(DomainError) as refused:
        sd_monthly_submit(
            actor=sd_world["jinan_officer"], city_code="370100", month="2026-03", today=AFTER_MARCH
        )

    assert refused.value.code == "analytics.already_submitted"
    assert SubmissionTransition.objects.count() == 1


def test_the_month_in_progress_cannot_be_submitted(sd_world):
    with pytest.raises(DomainError) as refused:
        sd_monthly_submit(
            actor=sd_world["jinan_officer"],
            city_code="370100",
            month="2026-04",
            today=AFTER_MARCH,
        )

    assert refused.value.code == "analytics.future_month"
    assert not MonthlySubmission.objects.exists()


def test_a_county_officer_cannot_submit_the_citys_table(sd_world):
    with pytest.raises(NotFound):
        sd_monthly_submit(
            actor=sd_world["lixia_officer"], city_code="370100", month="2026-03", today=AFTER_MARCH
        )
    assert not MonthlySubmission.objects.exists()


def test_the_province_sees_the_submitted_figures(sd_world):
    sd_monthly_submit(
        actor=sd_world["jinan_officer"], city_code="370100", month="2026-03", today=AFTER_MARCH
    )

    live = build_table(sd_world["jinan"], MARCH, today=AFTER_MARCH)

    frozen = MonthlySubmission.objects.get().table
    assert frozen == live.as_dict()
    assert MonthlyTable.from_dict(frozen) == live
