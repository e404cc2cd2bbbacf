"""The patient's own filing request [HB art. 7(1)(3)]: submitted on the phone, pushed to the
hospital's responsible physicians, taken by one, completed into an application (the usual path
after it: one-time complete notice, review clock) or declined with a reason."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection
from django.urls import reverse

from dualchannel.core.calendar import add_working_days
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.core.tests.files import HTML_AS_PDF, PDF, PNG
from dualchannel.eligibility import services
from dualchannel.eligibility.models import (
    FILING_REQUEST_MACHINE,
    ApplicationStatus,
    FilingRequestStatus,
    FilingRequestTransition,
    FilingUpload,
    Material,
    MaterialSource,
    PatientFilingRequest,
    VerificationState,
)
from dualchannel.eligibility.services import PatientFile
from dualchannel.eligibility.services import materials as material_services
from dualchannel.eligibility.services.filing_requests import request_no
from dualchannel.notifications.links import notification_path
from dualchannel.notifications.models import Channel, Notification
from dualchannel.registry.models import PhysicianAssessment

from .factories import PLAN, designated_physician, drug_with_criteria

F = FilingRequestStatus
DAY = date(2026, 3, 2)  # a Monday
FILES = [
    PatientFile("pathology", "病理报告.pdf", PDF, "application/pdf"),
    PatientFile("gene_test", "基因检测.png", PNG, "image/png"),
]


@pytest.fixture
def zhang_user(zhang):
    return UserFactory(username="zhangwei", insured_person=zhang, roles=[Role.PATIENT])


@pytest.fixture
def second_physician_user(hospital, profiles):
    user = UserFactory(username="physician2", institution=hospital, roles=[Role.PHYSICIAN])
    designated_physician(user, staff_code="Y420102002")
    return user


def submit(actor, drug, hospital, files=None, **kwargs):
    return services.filing_request_submit(
        actor=actor,
        drug_id=drug.pk,
        hospital_id=hospital.pk,
        files=FILES if files is None else files,
        note=kwargs.pop("note", "外院确诊，ALK阳性"),
        today=DAY,
        **kwargs,
    )


@pytest.fixture
def submitted(zhang_user, lung_drug, hospital, physician):
    return submit(zhang_user, lung_drug, hospital)


def inbox(template: str) -> Notification:
    return Notification.objects.get(template_code=template, channel=Channel.IN_APP)


def nothing_written():
    return (
        PatientFilingRequest.objects.count(),
        FilingUpload.objects.count(),
        FilingRequestTransition.objects.count(),
        AuditEvent.objects.filter(action__startswith="eligibility.filing_request").count(),
        Notification.objects.count(),
    )


def test_a_patients_request_lands_at_the_hospital_with_its_files_history_audit_and_notice(
    submitted, zhang, zhang_user, hospital
):
    request = submitted

    assert request.status == F.SUBMITTED and request.hospital == hospital
    # HB art. 10: the hospital's 7 working days run from the patient's request
    assert request.due_on == add_working_days(DAY, 7) == date(2026, 3, 11)
    uploads = list(request.uploads.order_by("pk"))
    assert [(u.kind, u.mime_type) for u in uploads] == [
        ("pathology", "application/pdf"),
        ("gene_test", "image/png"),
    ]
    assert uploads[0].file.read() == PDF
    history = list(request.history.values_list("from_status", "to_status", "actor"))
    assert history == [("", F.SUBMITTED, zhang_user.pk)]
    event = AuditEvent.objects.get(action="eligibility.filing_request_submitted")
    assert event.patient == zhang and event.actor_role == Role.PATIENT
    assert event.summary["files"] == 2
    notice = inbox("eligibility.filing_request_submitted")
    assert notice.person == zhang and "武汉演示第一医院" in notice.body


@pytest.mark.parametrize(
    "case, code",
    [
        ("drug_not_listed", "eligibility.filing_drug_not_listed"),
        ("hospital_not_designated", "eligibility.filing_hospital_not_designated"),
        ("file_too_big", "eligibility.file_too_large"),
        ("wrong_type", "eligibility.bad_file_type"),
        ("no_file", "eligibility.filing_files_required"),
        ("unknown_kind", "eligibility.unknown_material_kind"),
        ("note_too_long", "eligibility.filing_note_too_long"),
    ],
)
def test_bad_input_is_refused_with_its_code_and_nothing_written(
    case, code, zhang_user, lung_drug, hospital, other_hospital, physician
):
    drug, place, files, note = lung_drug, hospital, FILES, "说明"
    if case == "drug_not_listed":
        drug = drug_with_criteria(generic_name="另一药品")[0]
        drug.criteria_sets.update(status="draft")
    elif case == "hospital_not_designated":
        place = other_hospital
    elif case == "file_too_big":
        big = PDF + b"\0" * (material_services.MAX_UPLOAD_BYTES + 1)
        files = [PatientFile("pathology", "big.pdf", big, "application/pdf")]
    elif case == "wrong_type":
        files = [PatientFile("pathology", "x.pdf", HTML_AS_PDF, "application/pdf")]
    elif case == "no_file":
        files = []
    elif case == "unknown_kind":
        files = [PatientFile("x-ray", "x.pdf", PDF, "application/pdf")]
    elif case == "note_too_long":
        note = "长" * 501
    before = nothing_written()

    with pytest.raises(DomainError) as refused:
        submit(zhang_user, drug, place, files, note=note)

    assert refused.value.code == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.message)
    assert nothing_written() == before


def test_a_second_open_request_for_the_same_drug_is_refused(submitted, zhang_user, lung_drug):
    before = nothing_written()

    with pytest.raises(Conflict) as refused:
        submit(zhang_user, lung_drug, submitted.hospital)

    assert refused.value.code == "eligibility.filing_duplicate"
    assert nothing_written() == before


def test_staff_and_unbound_patients_cannot_file(physician_user, lung_drug, hospital, physician):
    unbound = UserFactory(username="nobody", roles=[Role.PATIENT])

    with pytest.raises(PermissionDenied):
        submit(physician_user, lung_drug, hospital)
    with pytest.raises(PermissionDenied) as refused:
        submit(unbound, lung_drug, hospital)
    assert refused.value.code == "eligibility.filing_not_bound"
    assert PatientFilingRequest.objects.count() == 0


def test_one_physician_takes_it_and_a_second_is_refused(
    submitted, physician_user, second_physician_user, physician
):
    services.filing_request_take(actor=physician_user, request_id=submitted.pk)

    with pytest.raises(Conflict) as refused:
        services.filing_request_take(actor=second_physician_user, request_id=submitted.pk)

    submitted.refresh_from_db()
    assert submitted.status == F.TAKEN and submitted.taken_by == physician
    assert refused.value.code == "eligibility.filing_taken"
    assert "李医生" in refused.value.message
    assert AuditEvent.objects.filter(action="eligibility.filing_request_taken").count() == 1
    assert Notification.objects.filter(template_code="eligibility.filing_request_taken").exists()


def test_another_hospitals_physician_and_another_patient_see_nothing(
    submitted, outsider_physician, patient_user
):
    from dualchannel.eligibility import selectors  # noqa: PLC0415 - the read under test

    with pytest.raises(NotFound):
        services.filing_request_take(actor=outsider_physician, request_id=submitted.pk)
    with pytest.raises(NotFound):
        selectors.filing_request_get(patient_user, submitted.pk)
    submitted.refresh_from_db()
    assert submitted.status == F.SUBMITTED


def test_a_decline_needs_a_reason_and_tells_the_patient(submitted, physician_user, zhang):
    with pytest.raises(DomainError) as refused:
        services.filing_request_decline(actor=physician_user, request_id=submitted.pk, reason=" ")
    assert refused.value.code == "eligibility.filing_reason_required"

    services.filing_request_decline(
        actor=physician_user, request_id=submitted.pk, reason="本院无该专业科室，请到其他医院就诊"
    )

    submitted.refresh_from_db()
    assert submitted.status == F.DECLINED and submitted.decided_at is not None
    assert submitted.history.last().reason == "本院无该专业科室，请到其他医院就诊"
    notice = inbox("eligibility.filing_request_declined")
    assert notice.person == zhang and "本院无该专业科室" in notice.body


def test_only_the_taker_declines_a_taken_request(submitted, physician_user, second_physician_user):
    services.filing_request_take(actor=physician_user, request_id=submitted.pk)

    with pytest.raises(PermissionDenied) as refused:
        services.filing_request_decline(
            actor=second_physician_user, request_id=submitted.pk, reason="不受理"
        )

    assert refused.value.code == "eligibility.filing_not_taker"
    submitted.refresh_from_db()
    assert submitted.status == F.TAKEN


def complete(actor, request, pharmacy):
    return services.filing_request_complete(
        actor=actor,
        request_id=request.pk,
        diagnosis_code="C34.100x004",
        diagnosis_name="右肺上叶恶性肿瘤",
        pharmacy_id=pharmacy.pk,
    )


def test_completing_makes_an_application_with_the_uploads_then_the_usual_path(
    submitted, physician_user, bound_pharmacy, zhang
):
    services.filing_request_take(actor=physician_user, request_id=submitted.pk)

    application = complete(physician_user, submitted, bound_pharmacy)

    submitted.refresh_from_db()
    assert submitted.status == F.COMPLETED and submitted.application == application
    assert application.status == ApplicationStatus.DRAFT and application.patient == zhang
    assert application.drug_id == submitted.drug_id
    materials = list(application.materials.order_by("pk"))
    assert [(m.kind, m.source, m.verification_state) for m in materials] == [
        ("pathology", MaterialSource.PATIENT_UPLOAD, VerificationState.UNVERIFIED),
        ("gene_test", MaterialSource.PATIENT_UPLOAD, VerificationState.UNVERIFIED),
    ]
    assert materials[0].file.read() == PDF
    notice = inbox("eligibility.filing_request_completed")
    assert application.application_no in notice.body
    # then the physician's usual steps: answers, plan, submit → the review clock [HB art. 10]
    services.application_answer(
        actor=physician_user, application_id=application.pk, answers={"advanced": True}
    )
    services.application_set_plan(actor=physician_user, application_id=application.pk, **PLAN)
    services.application_submit(actor=physician_user, application_id=application.pk, today=DAY)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW
    assert application.review_due == add_working_days(DAY, 7)
    assert Material.objects.filter(application=application).count() >= 2


def test_completing_needs_the_taker_and_a_refusal_writes_nothing(
    submitted, physician_user, second_physician_user, bound_pharmacy
):
    with pytest.raises(Conflict):  # not taken yet: the machine refuses
        complete(physician_user, submitted, bound_pharmacy)
    services.filing_request_take(actor=physician_user, request_id=submitted.pk)
    with pytest.raises(PermissionDenied) as refused:
        complete(second_physician_user, submitted, bound_pharmacy)
    assert refused.value.code == "eligibility.filing_not_taker"
    with pytest.raises(DomainError) as bad:
        services.filing_request_complete(
            actor=physician_user,
            request_id=submitted.pk,
            diagnosis_code="bad",
            diagnosis_name="",
            pharmacy_id=bound_pharmacy.pk,
        )
    assert bad.value.code == "eligibility.invalid_diagnosis"

    submitted.refresh_from_db()
    assert submitted.status == F.TAKEN and submitted.application is None
    assert Material.objects.count() == 0


def test_the_machine_moves_only_along_its_edges():
    assert FILING_REQUEST_MACHINE.can(F.SUBMITTED, F.TAKEN)
    assert FILING_REQUEST_MACHINE.can(F.TAKEN, F.COMPLETED)
    assert FILING_REQUEST_MACHINE.can(F.SUBMITTED, F.DECLINED)
    assert not FILING_REQUEST_MACHINE.can(F.SUBMITTED, F.COMPLETED)
    assert not FILING_REQUEST_MACHINE.can(F.TAKEN, F.TAKEN)
    for final in (F.COMPLETED, F.DECLINED, F.WITHDRAWN):
        assert FILING_REQUEST_MACHINE.allowed_from(final) == frozenset()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_physicians_taking_at_once_take_it_once(
    submitted, physician_user, second_physician_user
):
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def take(user) -> None:
        try:
            barrier.wait()
            services.filing_request_take(actor=user, request_id=submitted.pk)
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=take, args=(u,)) for u in (physician_user, second_physician_user)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["eligibility.filing_taken", "ok"]
    history = FilingRequestTransition.objects.filter(request=submitted)
    assert list(history.order_by("pk").values_list("to_status", flat=True)) == [
        F.SUBMITTED,
        F.TAKEN,
    ]


def test_the_patient_withdraws_an_open_request_and_may_file_again(
    submitted, zhang_user, patient_user, lung_drug, hospital
):
    with pytest.raises(NotFound):  # another person's request
        services.filing_request_withdraw(actor=patient_user, request_id=submitted.pk)

    services.filing_request_withdraw(actor=zhang_user, request_id=submitted.pk)

    submitted.refresh_from_db()
    assert submitted.status == F.WITHDRAWN
    assert AuditEvent.objects.filter(action="eligibility.filing_request_withdrawn").count() == 1
    with pytest.raises(Conflict):  # withdrawn is final
        services.filing_request_withdraw(actor=zhang_user, request_id=submitted.pk)
    again = submit(zhang_user, lung_drug, hospital)
    assert again.status == F.SUBMITTED and again.pk != submitted.pk


def test_the_hospitals_responsible_physicians_are_told_in_their_inbox_with_a_link(
    client, zhang_user, lung_drug, hospital, physician, physician_user, second_physician_user
):
    # a third physician of the hospital whose latest annual assessment failed [CX art. 20], and
    # a designated physician of another hospital: neither is told
    failed_user = UserFactory(username="physician3", institution=hospital, roles=[Role.PHYSICIAN])
    failed = designated_physician(failed_user, staff_code="Y420102003")
    PhysicianAssessment.objects.create(physician=failed, year=2025, result="failed")

    request = submit(zhang_user, lung_drug, hospital)

    told = Notification.objects.filter(template_code="eligibility.filing_request_arrived")
    assert sorted(told.values_list("recipient__username", flat=True)) == [
        "physician",
        "physician2",
    ]
    assert {n.channel for n in told} == {Channel.IN_APP} and not told.filter(person__isnull=False)
    notice = told.get(recipient=physician_user)
    assert request_no(request) in notice.body and "张" not in notice.body
    # the staff inbox links the message to the request in the physicians' queue
    page = reverse("eligibility-doctor-filing-request", args=[request.pk])
    client.force_login(physician_user)
    inbox_page = client.get(reverse("notification-inbox")).content.decode()
    assert f'href="{page}"' in inbox_page
    assert client.get(page).status_code == 200
    assert notification_path(notice) == page


def test_the_link_is_not_given_to_whom_the_request_is_not_visible(
    submitted, physician_user, outsider_physician
):
    notice = Notification.objects.get(
        template_code="eligibility.filing_request_arrived", recipient=physician_user
    )
    assert notification_path(notice).endswith(f"/{submitted.pk}/")
    notice.recipient = outsider_physician  # as if it had reached another hospital's physician

    assert notification_path(notice) == reverse("notification-inbox")
