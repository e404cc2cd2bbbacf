from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal

import pytest

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.calendar import add_working_days, working_days_between
from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import AuditEvent, Job
from dualchannel.core.tests.files import JPEG, PDF, PNG
from dualchannel.documents.models import DocumentKind, SignedDocument
from dualchannel.eligibility import selectors, services
from dualchannel.eligibility.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    CriterionOutcome,
    Eligibility,
    EligibilityStatus,
    Material,
    MaterialSource,
    VerificationState,
)
from dualchannel.eligibility.selectors import review_queue
from dualchannel.eligibility.services import materials
from dualchannel.integration.models import FilingStatus, PlatformFiling
from dualchannel.notifications.models import Channel, Notification

from .factories import REQUIRED_KINDS, drug_with_criteria, liu_fang, zhang_wei

S = ApplicationStatus


def in_app(template: str, person) -> list[Notification]:
    return list(
        Notification.objects.filter(
            template_code=template, person=person, channel=Channel.IN_APP
        ).order_by("pk")
    )


def statuses(application: Application) -> list[str]:
    return list(application.history.values_list("to_status", flat=True))


# --- the paper's happy path [HB art. 7–10] ---------------------------------------------------


def test_complete_case_goes_to_review_and_is_approved_without_typing(
    make_draft, zhang, physician_user, reviewer_user, hospital
):
    # given a connected hospital and a patient whose evidence is all in the hospital's system
    hospital.platform_code = "H42010200001"
    hospital.save(update_fields=["platform_code"])
    application = make_draft(zhang)
    today = date(2026, 3, 2)

    # when the physician submits
    services.application_submit(actor=physician_user, application_id=application.pk, today=today)

    # then the HIS reports are pulled, verified, and the review clock runs [HB art. 10]
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW
    assert statuses(application) == [S.DRAFT, S.SUBMITTED, S.UNDER_REVIEW]
    assert application.complete_on == today
    assert application.review_due == add_working_days(today, 7)
    pulled = list(application.materials.all())
    assert {m.kind for m in pulled} >= set(REQUIRED_KINDS)
    assert all(m.source == MaterialSource.HIS for m in pulled)
    assert all(m.verification_state == VerificationState.VERIFIED for m in pulled)
    for material in pulled:
        material.file.open("rb")
        content = material.file.read()
        material.file.close()
        assert len(content) == material.size

        assert hashlib.sha256(content).hexdigest() == material.sha256
    # the forms are signed by the physician
    kinds = set(
        SignedDocument.objects.filter(subject_id=str(application.pk)).values_list("kind", flat=True)
    )
    assert kinds == {DocumentKind.APPLICATION_FORM, DocumentKind.TREATMENT_PLAN}
    form = application.application_form
    assert form.data["address"] == "武汉市江岸区演示小区1栋"
    assert form.data["pharmacy_name"] == application.pharmacy.name
    # the outcomes are kept as they stood
    outcomes = dict(
        CriterionOutcome.objects.filter(application=application).values_list("code", "outcome")
    )
    assert outcomes["nsclc"] == "met" and outcomes["alk"] == "met"
    assert len(in_app("eligibility.under_review", zhang)) == 1

    # when the reviewer approves without typing anything
    eligibility = services.application_approve(
        actor=reviewer_user, application_id=application.pk, today=date(2026, 3, 4)
    )

    # then the eligibility is active from the approval date [HB art. 8]
    application.refresh_from_db()
    assert application.status == S.APPROVED
    assert eligibility.status == EligibilityStatus.ACTIVE
    assert eligibility.effective_from == date(2026, 3, 4)
    assert eligibility.next_reevaluation_due == date(2026, 3, 4) + timedelta(days=90)
    assert eligibility.plan_total_quantity == Decimal("180.00")
    assert eligibility.pharmacy == application.pharmacy
    assert list(eligibility.history.values_list("to_status", flat=True)) == ["active"]
    # the 2503 filing is queued for the worker
    filing = PlatformFiling.objects.get(pk=eligibility.filing_id)
    assert filing.status == FilingStatus.PENDING
    assert filing.input["opsp_dise_code"] == "C34.100x004"
    assert filing.input["diag_dr_name"] == "李医生"
    assert Job.objects.filter(kind="integration.filing", payload={"filing_id": filing.pk}).exists()
    # the patient is told the next step
    approved = in_app("eligibility.approved", zhang)
    assert len(approved) == 1
    assert application.pharmacy.name in approved[0].body
    assert AuditEvent.objects.filter(action="eligibility.granted").count() == 1
    assert AuditEvent.objects.filter(action="eligibility.application_approved").count() == 1


def test_approval_without_platform_code_records_a_note(
    make_draft, zhang, physician_user, reviewer_user
):
    # given a complete application at a hospital with no platform code
    application = make_draft(zhang)
    services.application_submit(actor=physician_user, application_id=application.pk)

    # when approved
    eligibility = services.application_approve(actor=reviewer_user, application_id=application.pk)

    # then nothing is filed and the reason is kept
    assert eligibility.filing is None
    assert "未登记" in eligibility.filing_note
    assert not PlatformFiling.objects.exists()


# --- missing evidence: told once, completely [HB art. 7(2)] ----------------------------------


def test_missing_evidence_is_asked_once_then_uploaded_verified_and_approved(
    make_draft, insured_person, patient_user, physician_user, reviewer_user
):
    # given a patient the hospital's system does not know (nothing can be pulled)
    application = make_draft(insured_person)

    # when the physician submits
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )

    # then the application waits for materials, and one notice lists every missing kind
    application.refresh_from_db()
    assert application.status == S.MATERIALS_REQUESTED
    assert application.requested_material_kinds == REQUIRED_KINDS
    notices = in_app("eligibility.materials_requested", insured_person)
    assert len(notices) == 1
    for label in ("病理诊断报告", "基因检测报告", "诊断证明"):
        assert label in notices[0].body
    assert application.complete_on is None

    # when the patient uploads all but the last, the case is still incomplete
    materials.material_upload(
        actor=patient_user,
        application_id=application.pk,
        kind="pathology",
        filename="病理.pdf",
        content=PDF,
    )
    materials.material_upload(
        actor=patient_user,
        application_id=application.pk,
        kind="gene_test",
        filename="基因.png",
        content=PNG,
    )
    application.refresh_from_db()
    assert application.status == S.MATERIALS_REQUESTED

    # when the last one arrives
    last = materials.material_upload(
        actor=patient_user,
        application_id=application.pk,
        kind="diagnosis_certificate",
        filename="诊断证明.jpg",
        content=JPEG,
        today=date(2026, 3, 5),
    )

    # then the review clock starts on that day
    application.refresh_from_db()
    assert last.mime_type == "image/jpeg"
    assert last.verification_state == VerificationState.UNVERIFIED
    assert application.status == S.UNDER_REVIEW
    assert application.complete_on == date(2026, 3, 5)
    assert application.review_due == add_working_days(date(2026, 3, 5), 7)
    assert len(in_app("eligibility.under_review", insured_person)) == 1
    assert len(in_app("eligibility.materials_requested", insured_person)) == 1

    # and approval waits until the reviewer has verified every upload
    with pytest.raises(Conflict) as refused:
        services.application_approve(actor=reviewer_user, application_id=application.pk)
    assert refused.value.code == "eligibility.unverified_materials"
    for material in application.materials.all():
        # the reviewer opens each one first: 核验通过 needs it read (issue 12)
        materials.material_open(actor=reviewer_user, material_id=material.pk)
        materials.material_verify(actor=reviewer_user, material_id=material.pk, verified=True)
    eligibility = services.application_approve(actor=reviewer_user, application_id=application.pk)
    assert eligibility.status == EligibilityStatus.ACTIVE
    assert (
        Material.objects.filter(
            application=application, verification_state=VerificationState.VERIFIED
        ).count()
        == 3
    )


def test_reviewer_asks_for_named_materials_and_upload_returns_to_review(
    make_draft, insured_person, patient_user, physician_user, reviewer_user
):
    # given an application under review
    application = make_draft(insured_person)
    services.application_submit(actor=physician_user, application_id=application.pk)
    for kind, content in zip(REQUIRED_KINDS, (PDF, PNG, JPEG), strict=True):
        materials.material_upload(
            actor=patient_user,
            application_id=application.pk,
            kind=kind,
            filename="x",
            content=content,
        )
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW

    # when the reviewer names two materials
    services.application_request_materials(
        actor=reviewer_user,
        application_id=application.pk,
        kinds=["imaging", "immunohistochemistry"],
        note="请补充影像与免疫组化报告",
    )

    # then the patient gets one notice listing both, and uploading both returns to review
    application.refresh_from_db()
    assert application.status == S.MATERIALS_REQUESTED
    notice = in_app("eligibility.materials_requested", insured_person)[-1]
    assert "影像报告" in notice.body and "免疫组化报告" in notice.body
    materials.material_upload(
        actor=patient_user,
        application_id=application.pk,
        kind="imaging",
        filename="ct.pdf",
        content=PDF,
    )
    materials.material_upload(
        actor=patient_user,
        application_id=application.pk,
        kind="immunohistochemistry",
        filename="ihc.pdf",
        content=PDF,
    )
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW


# --- refusals --------------------------------------------------------------------------------


def test_ineligible_submit_is_refused_naming_the_criterion_and_changes_nothing(
    make_draft, physician_user
):
    # given a breast-cancer patient applying for a lung-cancer drug
    person = liu_fang()
    application = make_draft(person, code="C50.900", name="乳房恶性肿瘤")
    events = AuditEvent.objects.count()

    # when the physician submits
    with pytest.raises(DomainError) as refused:
        services.application_submit(actor=physician_user, application_id=application.pk)

    # then the failing criterion's policy text is named and nothing changed
    assert refused.value.code == "eligibility.ineligible"
    assert "非小细胞肺癌" in refused.value.message
    application.refresh_from_db()
    assert application.status == S.DRAFT
    assert statuses(application) == [S.DRAFT]
    assert not application.materials.exists()
    assert not SignedDocument.objects.exists()
    assert not Notification.objects.exists()
    assert AuditEvent.objects.count() == events


def test_unanswered_attestation_is_refused(make_draft, zhang, physician_user):
    # given a draft whose alternative indications were never answered
    application = make_draft(zhang)
    application.answers.all().delete()

    # when submitted
    with pytest.raises(DomainError) as refused:
        services.application_submit(actor=physician_user, application_id=application.pk)

    # then it names the attestations
    assert refused.value.code == "eligibility.unanswered"
    assert "晚期" in refused.value.message
    application.refresh_from_db()
    assert application.status == S.DRAFT


def test_submit_without_plan_is_refused(make_draft, zhang, physician_user):
    application = make_draft(zhang, plan=False)
    with pytest.raises(DomainError) as refused:
        services.application_submit(actor=physician_user, application_id=application.pk)
    assert refused.value.code == "eligibility.plan_required"


def test_answer_to_unknown_criterion_is_refused(make_draft, zhang, physician_user):
    # given a draft
    application = make_draft(zhang)

    # when the physician answers a condition criterion and an invented one
    with pytest.raises(DomainError) as refused:
        services.application_answer(
            actor=physician_user,
            application_id=application.pk,
            answers={"alk": True, "invented": True, "advanced": False},
        )

    # then both are named and no answer changed
    assert refused.value.code == "eligibility.unknown_criterion"
    assert set(refused.value.fields) == {"alk", "invented"}
    assert dict(application.answers.values_list("code", "answer")) == {"advanced": True}


def test_drug_without_criteria_is_refused(physician, bound_pharmacy, zhang, physician_user):
    drug = DrugFactory()
    with pytest.raises(DomainError) as refused:
        services.application_create(
            actor=physician_user,
            patient_id_number=zhang.id_number,
            drug_id=drug.pk,
            diagnosis_code="C34.100x004",
            diagnosis_name="右肺上叶恶性肿瘤",
            pharmacy_id=bound_pharmacy.pk,
        )
    assert refused.value.code == "eligibility.no_criteria"
    assert not Application.objects.exists()


def test_patient_not_in_registry_is_refused(physician, bound_pharmacy, lung_drug, physician_user):
    with pytest.raises(NotFound) as refused:
        services.application_create(
            actor=physician_user,
            patient_id_number="420102196203140011",
            drug_id=lung_drug.pk,
            diagnosis_code="C34.100x004",
            diagnosis_name="右肺上叶恶性肿瘤",
            pharmacy_id=bound_pharmacy.pk,
        )
    assert refused.value.code == "eligibility.patient_not_found"
    assert not Application.objects.exists()


@pytest.mark.parametrize("code", ["U99.900", "C3X.100", "c34100"])
def test_diagnosis_outside_icd10_yb2_is_refused(
    physician, bound_pharmacy, lung_drug, zhang, physician_user, code
):
    with pytest.raises(DomainError) as refused:
        services.application_create(
            actor=physician_user,
            patient_id_number=zhang.id_number,
            drug_id=lung_drug.pk,
            diagnosis_code=code,
            diagnosis_name="随便写的诊断",
            pharmacy_id=bound_pharmacy.pk,
        )
    assert refused.value.code in {"eligibility.unknown_diagnosis", "eligibility.invalid_diagnosis"}
    assert "diagnosis_code" in refused.value.fields
    assert not Application.objects.exists()


def test_known_diagnosis_code_carries_its_official_name(
    physician, bound_pharmacy, lung_drug, zhang, physician_user
):
    application = services.application_create(
        actor=physician_user,
        patient_id_number=zhang.id_number,
        drug_id=lung_drug.pk,
        diagnosis_code="c34.100X004",
        diagnosis_name="右上肺癌",
        pharmacy_id=bound_pharmacy.pk,
    )
    assert application.diagnosis_code == "C34.100x004"
    assert application.diagnosis_name == "右肺上叶恶性肿瘤"


def test_three_fixed_needs_a_designated_pharmacy(
    physician, pharmacy, lung_drug, zhang, physician_user
):
    # HB art. 6: hospital, pharmacy and physician are bound
    base = {
        "actor": physician_user,
        "patient_id_number": zhang.id_number,
        "drug_id": lung_drug.pk,
        "diagnosis_code": "C34.100x004",
        "diagnosis_name": "右肺上叶恶性肿瘤",
    }
    with pytest.raises(DomainError) as missing:
        services.application_create(**base)
    assert missing.value.code == "eligibility.pharmacy_required"
    with pytest.raises(DomainError) as undesignated:
        services.application_create(**base, pharmacy_id=pharmacy.pk)
    assert undesignated.value.code == "eligibility.pharmacy_not_designated"
    assert not Application.objects.exists()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"GIF89a" + b"\0" * 20, "eligibility.bad_file_type"),
        (b"MZ\x90\0" + b"\0" * 20, "eligibility.bad_file_type"),
        (b"%PDF" + b"\0" * (10 * 1024 * 1024), "eligibility.file_too_large"),
    ],
    ids=["gif", "exe", "too-large"],
)
def test_bad_uploads_are_refused(
    make_draft, insured_person, patient_user, physician_user, content, code
):
    application = make_draft(insured_person)
    services.application_submit(actor=physician_user, application_id=application.pk)
    with pytest.raises(DomainError) as refused:
        materials.material_upload(
            actor=patient_user,
            application_id=application.pk,
            kind="pathology",
            filename="report.pdf",
            content=content,
        )
    assert refused.value.code == code
    assert not application.materials.exists()


def test_upload_of_a_kind_not_requested_is_refused(
    make_draft, insured_person, patient_user, physician_user
):
    application = make_draft(insured_person)
    services.application_submit(actor=physician_user, application_id=application.pk)
    with pytest.raises(DomainError) as refused:
        materials.material_upload(
            actor=patient_user,
            application_id=application.pk,
            kind="imaging",
            filename="ct.pdf",
            content=PDF,
        )
    assert refused.value.code == "eligibility.material_not_requested"


def _approve(app, reviewer, patient, physician):
    services.application_approve(actor=reviewer, application_id=app.pk)


def _reject(app, reviewer, patient, physician):
    services.application_reject(actor=reviewer, application_id=app.pk, reason="不符合")


def _request(app, reviewer, patient, physician):
    services.application_request_materials(
        actor=reviewer, application_id=app.pk, kinds=["imaging"], note="补充影像"
    )


def _submit(app, reviewer, patient, physician):
    services.application_submit(actor=physician, application_id=app.pk)


def _withdraw(app, reviewer, patient, physician):
    services.application_withdraw(actor=physician, application_id=app.pk, reason="患者放弃")


def _upload(app, reviewer, patient, physician):
    materials.material_upload(
        actor=patient, application_id=app.pk, kind="imaging", filename="a.pdf", content=PDF
    )


@pytest.mark.parametrize(
    ("status", "action", "code"),
    [
        (S.DRAFT, _approve, "eligibility.transition"),
        (S.DRAFT, _reject, "eligibility.transition"),
        (S.DRAFT, _request, "eligibility.transition"),
        (S.SUBMITTED, _approve, "eligibility.transition"),
        (S.MATERIALS_REQUESTED, _approve, "eligibility.transition"),
        (S.UNDER_REVIEW, _submit, "eligibility.transition"),
        (S.APPROVED, _withdraw, "eligibility.transition"),
        (S.REJECTED, _request, "eligibility.transition"),
        (S.WITHDRAWN, _submit, "eligibility.transition"),
        (S.DRAFT, _upload, "eligibility.wrong_status"),
        (S.UNDER_REVIEW, _upload, "eligibility.wrong_status"),
    ],
)
def test_transition_from_the_wrong_state_is_refused(
    make_draft,
    insured_person,
    patient_user,
    physician_user,
    reviewer_user,
    status,
    action,
    code,
):
    # given an application in ``status`` (set directly: the setup, not the rule under test)
    application = make_draft(insured_person)
    Application.objects.filter(pk=application.pk).update(
        status=status, requested_material_kinds=["imaging"]
    )
    history = ApplicationTransition.objects.count()

    # when the action is attempted
    with pytest.raises(Conflict) as refused:
        action(application, reviewer_user, patient_user, physician_user)

    # then it is refused and nothing changed
    assert refused.value.code == code
    application.refresh_from_db()
    assert application.status == status
    assert ApplicationTransition.objects.count() == history
    assert not Eligibility.objects.exists()


def test_another_hospitals_reviewer_sees_nothing_and_changes_nothing(
    make_draft, zhang, physician_user, outsider_reviewer
):
    # given a complete application at the first hospital
    application = make_draft(zhang)
    services.application_submit(actor=physician_user, application_id=application.pk)
    material = application.materials.first()

    # when another hospital's reviewer acts on it
    for attempt in (
        lambda: services.application_approve(
            actor=outsider_reviewer, application_id=application.pk
        ),
        lambda: services.application_reject(
            actor=outsider_reviewer, application_id=application.pk, reason="x"
        ),
        lambda: materials.material_verify(
            actor=outsider_reviewer, material_id=material.pk, verified=False, note="x"
        ),
        lambda: selectors.application_get(outsider_reviewer, application.pk),
    ):
        with pytest.raises(NotFound):
            attempt()

    # then nothing changed and their queue is empty
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW
    assert not Eligibility.objects.exists()
    assert selectors.review_queue(outsider_reviewer) == []
    assert list(selectors.application_list(outsider_reviewer)) == []


def test_withdraw_by_the_patient(make_draft, insured_person, patient_user, physician_user):
    application = make_draft(insured_person)
    services.application_submit(actor=physician_user, application_id=application.pk)
    services.application_withdraw(
        actor=patient_user, application_id=application.pk, reason="改去其他医院"
    )
    application.refresh_from_db()
    assert application.status == S.WITHDRAWN
    assert application.history.last().reason == "改去其他医院"


def test_withdraw_by_the_physician_tells_the_patient(make_draft, zhang, physician_user):
    application = make_draft(zhang)
    services.application_submit(actor=physician_user, application_id=application.pk)

    services.application_withdraw(
        actor=physician_user, application_id=application.pk, reason="患者转院治疗"
    )

    application.refresh_from_db()
    assert application.status == S.WITHDRAWN
    [notice] = in_app("eligibility.withdrawn", zhang)
    assert application.application_no in notice.body and "患者转院治疗" in notice.body


def test_a_refused_upload_tells_the_patient_why(
    make_draft, insured_person, patient_user, physician_user, reviewer_user
):
    application = make_draft(insured_person)
    services.application_submit(actor=physician_user, application_id=application.pk)
    for kind, name in (("pathology", "病理.pdf"), ("gene_test", "基因.pdf")):
        materials.material_upload(
            actor=patient_user, application_id=application.pk, kind=kind, filename=name, content=PDF
        )
    upload = materials.material_upload(
        actor=patient_user,
        application_id=application.pk,
        kind="diagnosis_certificate",
        filename="诊断证明.pdf",
        content=PDF,
    )

    materials.material_verify(
        actor=reviewer_user, material_id=upload.pk, verified=False, note="诊断证明未加盖医院公章"
    )

    [notice] = in_app("eligibility.material_refused", insured_person)
    assert "诊断证明" in notice.body and "未加盖医院公章" in notice.body
    assert insured_person.id_number not in notice.body


def test_a_second_open_application_for_the_same_drug_is_refused(
    make_draft, zhang, physician, bound_pharmacy, lung_drug, physician_user
):
    # HB art. 8: adding or changing a drug is a new application; the same drug twice is not
    make_draft(zhang)
    before = Application.objects.count()

    with pytest.raises(Conflict) as refused:
        services.application_create(
            actor=physician_user,
            patient_id_number=zhang.id_number,
            drug_id=lung_drug.pk,
            diagnosis_code="C34.100x004",
            diagnosis_name="右肺上叶恶性肿瘤",
            pharmacy_id=bound_pharmacy.pk,
        )

    assert refused.value.code == "eligibility.duplicate"
    assert Application.objects.count() == before


def test_reject_needs_a_reason_and_notifies(make_draft, zhang, physician_user, reviewer_user):
    application = make_draft(zhang)
    services.application_submit(actor=physician_user, application_id=application.pk)
    with pytest.raises(DomainError) as refused:
        services.application_reject(actor=reviewer_user, application_id=application.pk, reason=" ")
    assert refused.value.code == "eligibility.reason_required"
    services.application_reject(
        actor=reviewer_user, application_id=application.pk, reason="病理诊断与申请诊断不一致"
    )
    application.refresh_from_db()
    assert application.status == S.REJECTED
    assert "病理诊断与申请诊断不一致" in in_app("eligibility.rejected", zhang)[0].body


# --- the queue [HB art. 10] ------------------------------------------------------------------


def test_queue_orders_by_working_days_left_across_national_day_2026(
    make_draft, physician_user, reviewer_user, profiles
):
    # given three complete applications: an old one, one before and one after National Day

    person = zhang_wei()
    submitted = {}
    for label, day in (
        ("old", date(2026, 9, 14)),
        ("before_holiday", date(2026, 9, 29)),
        ("after_holiday", date(2026, 10, 9)),
    ):
        drug, _ = drug_with_criteria()
        application = make_draft(person, drug=drug)
        services.application_submit(actor=physician_user, application_id=application.pk, today=day)
        application.refresh_from_db()
        submitted[label] = application

    # then the deadline of the one before the holiday skips 1–7 October
    before = submitted["before_holiday"]
    assert before.review_due == add_working_days(date(2026, 9, 29), 7)
    assert before.review_due > date(2026, 10, 8)

    # when the reviewer opens the queue on 9 October
    today = date(2026, 10, 9)
    queue = selectors.review_queue(reviewer_user, today=today)

    # then the overdue case is first and flagged, then by working days left
    assert [item.application.pk for item in queue] == [
        submitted["old"].pk,
        submitted["before_holiday"].pk,
        submitted["after_holiday"].pk,
    ]
    assert queue[0].overdue and queue[0].working_days_left < 0
    assert not queue[1].overdue
    assert queue[1].working_days_left == working_days_between(today, before.review_due)
    assert queue[2].working_days_left == 7


def test_queue_still_orders_and_flags_when_a_years_calendar_is_missing(
    make_draft, zhang, reviewer_user
):

    application = make_draft(zhang)
    Application.objects.filter(pk=application.pk).update(
        status="under_review", review_due=date(2027, 1, 8)
    )

    # 2027 without its notice: counted from the law (12-30, 12-31, 1-4 … 1-8; 元旦 off)
    (item,) = review_queue(reviewer_user, today=date(2026, 12, 29))
    assert item.working_days_left == 7

    # a year no calendar answers: the count is left open, not guessed, and lateness still shows
    Application.objects.filter(pk=application.pk).update(review_due=date(2100, 1, 8))
    (item,) = review_queue(reviewer_user, today=date(2099, 12, 29))
    assert item.working_days_left is None
    assert not item.overdue
    (late,) = review_queue(reviewer_user, today=date(2100, 1, 11))
    assert late.overdue
