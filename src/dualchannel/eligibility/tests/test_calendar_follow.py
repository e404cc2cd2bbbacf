"""A deadline that runs into a year whose holiday notice is not loaded yet is counted from the law
(放假办法 art. 2, 6) and computed again when the notice is loaded [HB art. 7(2), art. 10]."""

from __future__ import annotations

from datetime import date

import pytest

from dualchannel.core.calendar import calendar_year_load
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.core.tests.files import PDF
from dualchannel.eligibility import services
from dualchannel.eligibility.models import ApplicationStatus

pytestmark = pytest.mark.django_db

# An invented notice (tests must not depend on the real 2027 one): Mon 4 January off as well.
NOTICE_2027 = [(date(2027, 1, 1), False, "元旦"), (date(2027, 1, 4), False, "元旦")]


def test_hb_art10_review_clock_over_new_year_follows_the_notice_when_loaded(
    make_draft, zhang, physician_user, admin_user
):
    # given a complete case submitted on Mon 28 December 2026, before the 2027 notice
    application = make_draft(zhang)
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 12, 28)
    )
    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW
    # 12-29, 12-30, 12-31, (元旦 off by law), 1-4, 1-5, 1-6, 1-7: the 7th working day
    assert application.review_due == date(2027, 1, 7)

    # when the agency loads the notice that also gives 4 January off
    calendar_year_load(actor=admin_user, year=2027, days=NOTICE_2027, document_no="测试〔2026〕9号")

    # then the clock is counted again, and the change is on the record
    application.refresh_from_db()
    assert application.review_due == date(2027, 1, 8)
    moved = AuditEvent.objects.get(action="calendar.deadline_recomputed")
    assert moved.summary == {"field": "review_due", "from": "2027-01-07", "to": "2027-01-08"}
    loaded = AuditEvent.objects.get(action="calendar.year_loaded")
    assert loaded.summary["recomputed"]["review_due"] == 1


def test_hb_art7_materials_deadline_follows_the_notice_and_a_decided_case_is_left_alone(
    make_draft, insured_person, physician_user, admin_user
):
    # given a case waiting for materials since 28 December
    waiting = make_draft(insured_person)
    services.application_submit(
        actor=physician_user, application_id=waiting.pk, today=date(2026, 12, 28)
    )
    waiting.refresh_from_db()
    assert waiting.status == ApplicationStatus.MATERIALS_REQUESTED
    assert waiting.materials_deadline == date(2027, 1, 12)  # 10 working days, 元旦 off

    calendar_year_load(actor=admin_user, year=2027, days=NOTICE_2027, document_no="测试〔2026〕9号")

    waiting.refresh_from_db()
    assert waiting.materials_deadline == date(2027, 1, 13)
    # loading the same notice again changes nothing more
    calendar_year_load(actor=admin_user, year=2027, days=NOTICE_2027, document_no="测试〔2026〕9号")
    assert AuditEvent.objects.filter(action="calendar.deadline_recomputed").count() == 1


def test_hb_art10_the_hospitals_limit_on_a_patients_request_follows_the_notice(
    zhang, physician, lung_drug, hospital, admin_user, media_root
):
    # given 张伟's own request on Mon 28 December 2026, before the 2027 notice
    patient = UserFactory(username="zhangwei", insured_person=zhang, roles=[Role.PATIENT])
    request = services.filing_request_submit(
        actor=patient,
        drug_id=lung_drug.pk,
        hospital_id=hospital.pk,
        files=[services.PatientFile("pathology", "病理.pdf", PDF, "application/pdf")],
        today=date(2026, 12, 28),
    )
    assert request.due_on == date(2027, 1, 7)

    calendar_year_load(actor=admin_user, year=2027, days=NOTICE_2027, document_no="测试〔2026〕9号")

    request.refresh_from_db()
    assert request.due_on == date(2027, 1, 8)
    loaded = AuditEvent.objects.get(action="calendar.year_loaded")
    assert loaded.summary["recomputed"]["filing_request_due_on"] == 1
