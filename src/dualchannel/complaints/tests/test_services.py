"""Complaints [HB art. 26, SD §4, CX art. 30]: submit, time limit, state machine, scope."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from dualchannel.complaints import services
from dualchannel.complaints.models import (
    DEFAULT_REPLY_WORKING_DAYS,
    Complaint,
    ComplaintStatus,
    ComplaintTransition,
)
from dualchannel.complaints.selectors import complaint_lookup, complaint_queue, visible_complaints
from dualchannel.core.calendar import add_working_days
from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import AuditEvent
from dualchannel.registry.models import PolicyProfile
from dualchannel.registry.tests.factories import region

from .factories import submit

pytestmark = pytest.mark.django_db


def test_a_complaint_about_a_hospital_goes_to_its_region_with_a_tracking_number(hospital):
    complaint = submit(institution_id=hospital.pk)

    today = timezone.localdate()
    assert complaint.region_id == "420102"
    assert complaint.tracking_no == f"TS{today:%Y%m%d}0001"
    assert complaint.status == ComplaintStatus.RECEIVED
    assert complaint.due_on == add_working_days(today, DEFAULT_REPLY_WORKING_DAYS)
    event = AuditEvent.objects.get(action="complaints.complaint_received")
    assert event.summary["tracking_no"] == complaint.tracking_no
    assert "13812345678" not in str(event.summary)


def test_serials_count_up_within_the_day(db):
    region("420100")
    first = submit(region_code="420100")
    second = submit(region_code="420100", contact_phone="", contact_email="a@example.com")

    assert int(second.tracking_no[-4:]) == int(first.tracking_no[-4:]) + 1


def test_the_region_profile_sets_the_reply_time_limit(db):
    wuhan = region("420100")
    region("420102")
    PolicyProfile.objects.create(region=wuhan, name="武汉", complaint_reply_working_days=5)

    complaint = submit(region_code="420102")

    assert complaint.due_on == add_working_days(timezone.localdate(), 5)


@pytest.mark.parametrize(
    ("phone", "email", "code"),
    [
        ("", "", "complaints.contact_required"),
        ("12345", "", "complaints.invalid_contact"),
        ("", "not-an-email", "complaints.invalid_contact"),
    ],
)
def test_a_complaint_without_a_usable_contact_is_refused_and_nothing_written(
    hospital, phone, email, code
):
    with pytest.raises(DomainError) as refused:
        submit(institution_id=hospital.pk, contact_phone=phone, contact_email=email)

    assert refused.value.code == code
    assert refused.value.message  # Chinese, for the form
    assert not Complaint.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="complaints.").exists()


def test_without_institution_a_known_region_is_required(db):
    with pytest.raises(DomainError) as refused:
        submit(region_code="999999")

    assert refused.value.code == "complaints.invalid_complaint"
    assert not Complaint.objects.exists()


def test_an_attachment_that_is_not_a_document_is_refused(hospital):
    upload = services.Upload(b"<html><script>x</script></html>", "a.pdf", "application/pdf")

    with pytest.raises(DomainError) as refused:
        submit(institution_id=hospital.pk, attachment=upload)

    assert refused.value.code == "complaints.invalid_attachment"
    assert not Complaint.objects.exists()


def test_accept_reply_close_write_history_and_audit(hospital, agency_user):
    complaint = submit(institution_id=hospital.pk)

    services.complaint_accept(actor=agency_user, complaint_id=complaint.pk)
    services.complaint_reply(actor=agency_user, complaint_id=complaint.pk, reply="已约谈医院整改。")
    services.complaint_close(
        actor=agency_user, complaint_id=complaint.pk, result="substantiated", note="约谈"
    )

    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.CLOSED
    assert complaint.assignee == agency_user
    assert complaint.public_reply == "已约谈医院整改。"
    assert complaint.result == "substantiated"
    assert complaint.replied_at is not None and complaint.closed_at is not None
    moves = list(
        ComplaintTransition.objects.filter(complaint=complaint).values_list(
            "from_status", "to_status"
        )
    )
    assert moves == [("received", "accepted"), ("accepted", "replied"), ("replied", "closed")]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"complaints.complaint_accepted", "complaints.complaint_closed"} <= actions


def test_reply_before_accepting_is_refused(hospital, agency_user):
    complaint = submit(institution_id=hospital.pk)

    with pytest.raises(Conflict):
        services.complaint_reply(actor=agency_user, complaint_id=complaint.pk, reply="答复")

    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.RECEIVED
    assert not ComplaintTransition.objects.exists()


def test_closing_unanswered_needs_the_public_reply(hospital, agency_user):
    complaint = submit(institution_id=hospital.pk)

    with pytest.raises(DomainError) as refused:
        services.complaint_close(
            actor=agency_user, complaint_id=complaint.pk, result="not_accepted"
        )

    assert refused.value.code == "complaints.reply_required"
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.RECEIVED


def test_officers_see_their_own_region_only(
    hospital, agency_user, county_officer, province_officer, yichang_officer, outsider_agency
):
    complaint = submit(institution_id=hospital.pk)  # 江岸区, 武汉市, 湖北省

    assert list(visible_complaints(county_officer)) == [complaint]
    assert list(visible_complaints(agency_user)) == [complaint]
    assert list(visible_complaints(province_officer)) == [complaint]
    assert not visible_complaints(yichang_officer).exists()
    assert not visible_complaints(outsider_agency).exists()  # another province
    with pytest.raises(NotFound):
        services.complaint_accept(actor=outsider_agency, complaint_id=complaint.pk)
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.RECEIVED


def test_a_queue_filter_outside_the_officers_region_is_refused(agency_user):
    region("420500")

    with pytest.raises(DomainError) as refused:
        list(complaint_queue(agency_user, region="420500"))

    assert refused.value.code == "complaints.region_out_of_scope"


def test_assigning_an_officer_of_another_city_is_refused(hospital, agency_user, yichang_officer):
    complaint = submit(institution_id=hospital.pk)

    with pytest.raises(DomainError) as refused:
        services.complaint_accept(
            actor=agency_user, complaint_id=complaint.pk, assignee_id=yichang_officer.pk
        )

    assert refused.value.code == "complaints.invalid_complaint"
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.RECEIVED


def test_the_queue_is_ordered_by_deadline_and_flags_overdue(hospital, agency_user):
    late = submit(institution_id=hospital.pk)
    Complaint.objects.filter(pk=late.pk).update(due_on=date(2020, 1, 2))
    fresh = submit(institution_id=hospital.pk)

    queue = list(complaint_queue(agency_user))

    assert queue == [Complaint.objects.get(pk=late.pk), fresh]
    assert queue[0].is_overdue and not queue[1].is_overdue


def test_lookup_needs_the_tracking_number_and_the_contact(hospital):
    complaint = submit(institution_id=hospital.pk, contact_email="Li@Example.com")

    assert complaint_lookup(complaint.tracking_no.lower(), "13812345678") == complaint
    assert complaint_lookup(complaint.tracking_no, "li@example.com") == complaint
    with pytest.raises(NotFound):
        complaint_lookup(complaint.tracking_no, "13900000000")
    with pytest.raises(NotFound):
        complaint_lookup(complaint.tracking_no, "")
