"""Materials: the reviewer's scan of a paper report the patient brought to the counter
(DESIGN §4 Material source "reviewer scan"): verified at once, and completing a case like a
patient's upload [HB art. 7(2), 10]."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dualchannel.core.calendar import add_working_days
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.core.tests.files import PDF, PNG
from dualchannel.eligibility import services
from dualchannel.eligibility.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    EligibilityStatus,
    Material,
    MaterialSource,
    VerificationState,
)
from dualchannel.eligibility.services import materials
from dualchannel.notifications.models import Channel, Notification

from .factories import REQUIRED_KINDS

S = ApplicationStatus
BASE = "/api/v1/eligibility"


@pytest.fixture
def awaiting(make_draft, insured_person, physician_user):
    """A case the hospital system cannot fill: every required kind asked of the patient."""
    application = make_draft(insured_person)
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    application.refresh_from_db()
    assert application.status == S.MATERIALS_REQUESTED
    assert application.requested_material_kinds == REQUIRED_KINDS
    return application


def scan(reviewer, application, kind, content=PDF, **kwargs):
    return materials.material_scan(
        actor=reviewer,
        application_id=application.pk,
        kind=kind,
        content=content,
        filename=kwargs.pop("filename", "scan0001.pdf"),
        title=kwargs.pop("title", ""),
        **kwargs,
    )


def test_reviewer_scan_is_verified_at_once_and_completes_the_requested_materials(
    awaiting, insured_person, patient_user, reviewer_user
):
    # given the patient uploaded two of the three requested reports on the phone
    for kind in ("pathology", "gene_test"):
        materials.material_upload(
            actor=patient_user,
            application_id=awaiting.pk,
            kind=kind,
            filename=f"{kind}.pdf",
            content=PDF,
        )
    awaiting.refresh_from_db()
    assert awaiting.status == S.MATERIALS_REQUESTED

    # when the reviewer scans the paper diagnosis certificate brought to the counter
    material = scan(
        reviewer_user,
        awaiting,
        "diagnosis_certificate",
        content=PNG,
        filename="scan0001.png",
        title="外院诊断证明",
        issuer="武汉协和医院",
        today=date(2026, 3, 5),
    )

    # then it is recorded as the reviewer's scan, verified by them
    material.refresh_from_db()
    assert material.source == MaterialSource.REVIEWER_SCAN
    assert material.verification_state == VerificationState.VERIFIED
    assert material.verified_by == reviewer_user
    assert material.verified_at is not None
    assert material.uploaded_by == reviewer_user
    assert (material.title, material.issuer) == ("外院诊断证明", "武汉协和医院")
    assert material.mime_type == "image/png"
    assert material.file.read() == PNG
    assert "scan0001" not in material.file.name
    event = AuditEvent.objects.get(action="eligibility.material_scanned")
    assert event.summary["kind"] == "diagnosis_certificate"
    assert event.summary["verified"] is True
    assert event.summary["size"] == len(PNG)

    # and the case moves to review exactly as the patient's last upload would move it
    awaiting.refresh_from_db()
    assert awaiting.status == S.UNDER_REVIEW
    assert awaiting.complete_on == date(2026, 3, 5)
    assert awaiting.review_due == add_working_days(date(2026, 3, 5), 7)
    assert awaiting.requested_material_kinds == []
    last = awaiting.history.order_by("pk").last()
    assert (last.from_status, last.to_status, last.actor) == (
        S.MATERIALS_REQUESTED,
        S.UNDER_REVIEW,
        reviewer_user,
    )
    notices = Notification.objects.filter(
        template_code="eligibility.under_review", person=insured_person, channel=Channel.IN_APP
    )
    assert notices.count() == 1


def test_scanned_evidence_needs_no_further_verification_to_approve(awaiting, reviewer_user):
    # given every requested report scanned by the reviewer (the patient brought paper)
    for kind in REQUIRED_KINDS:
        scan(reviewer_user, awaiting, kind)

    # when the reviewer approves at once
    eligibility = services.application_approve(actor=reviewer_user, application_id=awaiting.pk)

    # then it goes through: nothing is waiting for verification
    assert eligibility.status == EligibilityStatus.ACTIVE
    assert awaiting.materials.filter(source=MaterialSource.REVIEWER_SCAN).count() == 3


def test_scan_under_review_adds_evidence_without_moving_the_case(
    make_draft, zhang, physician_user, reviewer_user
):
    # given a complete case (everything pulled from the hospital system)
    application = make_draft(zhang)
    services.application_submit(actor=physician_user, application_id=application.pk)
    history = ApplicationTransition.objects.filter(application=application).count()

    # when the reviewer scans an outside pathology report, titled by its file name
    material = scan(reviewer_user, application, "pathology", title=" ", filename="C:\\扫描\\p.pdf")

    # then it is added as verified evidence; the case stays where it was
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW
    assert ApplicationTransition.objects.filter(application=application).count() == history
    assert material.title == "p.pdf"
    assert material.verification_state == VerificationState.VERIFIED


def _outsider(ctx):
    return ctx["outsider_reviewer"], NotFound, "not_found"


def _physician(ctx):
    return ctx["physician_user"], PermissionDenied, "permission_denied"


def _patient(ctx):
    return ctx["patient_user"], PermissionDenied, "permission_denied"


@pytest.mark.parametrize(
    ("who", "kwargs"),
    [
        (_outsider, {}),
        (_physician, {}),
        (_patient, {}),
    ],
    ids=["other-hospitals-reviewer", "physician", "patient"],
)
def test_only_the_hospitals_reviewer_may_scan_and_refusals_write_nothing(
    request, awaiting, who, kwargs
):
    ctx = {
        name: request.getfixturevalue(name)
        for name in ("outsider_reviewer", "physician_user", "patient_user")
    }
    actor, error, code = who(ctx)
    before = _state(awaiting)

    with pytest.raises(error) as refused:
        scan(actor, awaiting, "pathology")

    assert refused.value.code == code
    assert _state(awaiting) == before


@pytest.mark.parametrize(
    ("kind", "content", "extra", "code"),
    [
        ("pathology", b"GIF89a" + b"\0" * 20, {}, "eligibility.bad_file_type"),
        ("pathology", b"MZ\x90\0" + b"\0" * 20, {}, "eligibility.bad_file_type"),
        ("pathology", b"", {}, "eligibility.empty_file"),
        ("pathology", b"%PDF" + b"\0" * (10 * 1024 * 1024), {}, "eligibility.file_too_large"),
        ("x_ray", PDF, {}, "eligibility.unknown_material_kind"),
        # neither required by the criteria set nor requested
        ("imaging", PDF, {}, "eligibility.material_not_requested"),
        ("pathology", PDF, {"title": "报" * 201}, "eligibility.text_too_long"),
        ("pathology", PDF, {"issuer": "院" * 201}, "eligibility.text_too_long"),
    ],
    ids=["gif", "exe", "empty", "too-large", "unknown-kind", "not-needed", "title", "issuer"],
)
def test_bad_scans_are_refused_and_write_nothing(
    awaiting, reviewer_user, media_root, kind, content, extra, code
):
    before = _state(awaiting)

    with pytest.raises(DomainError) as refused:
        scan(reviewer_user, awaiting, kind, content=content, **extra)

    assert refused.value.code == code
    assert _state(awaiting) == before
    assert not (media_root / "materials").exists()


@pytest.mark.parametrize("status", [S.DRAFT, S.APPROVED, S.REJECTED, S.WITHDRAWN])
def test_scan_outside_the_review_window_is_refused(
    make_draft, insured_person, reviewer_user, status
):
    application = make_draft(insured_person)
    Application.objects.filter(pk=application.pk).update(status=status)
    before = _state(application)

    with pytest.raises(Conflict) as refused:
        scan(reviewer_user, application, "pathology")

    assert refused.value.code == "eligibility.wrong_status"
    assert _state(application) == before


def _state(application) -> tuple:
    application = Application.objects.get(pk=application.pk)
    return (
        application.status,
        list(application.requested_material_kinds),
        Material.objects.count(),
        ApplicationTransition.objects.count(),
        AuditEvent.objects.count(),
    )


# --- the reviewer's page and the API ---------------------------------------------------------


def test_reviewer_scans_on_the_case_page(client, awaiting, reviewer_user):
    client.force_login(reviewer_user)
    page = reverse("eligibility-review-case", args=[awaiting.pk])

    # the form offers the set's required kinds (all requested here), not every kind
    body = client.get(page).content.decode()
    assert reverse("eligibility-review-scan", args=[awaiting.pk]) in body
    assert '<option value="pathology">' in body
    assert '<option value="imaging">' not in body

    for kind in REQUIRED_KINDS:
        response = client.post(
            reverse("eligibility-review-scan", args=[awaiting.pk]),
            {
                "kind": kind,
                "title": "纸质报告",
                "file": SimpleUploadedFile("scan.pdf", PDF, "application/pdf"),
            },
        )
        assert response.status_code == 302
        assert response.url == page

    awaiting.refresh_from_db()
    assert awaiting.status == S.UNDER_REVIEW
    body = client.get(page).content.decode()
    assert "审核员扫描" in body
    assert "材料已齐全，开始审核" in body


def test_a_refused_scan_on_the_page_says_why_and_writes_nothing(client, awaiting, reviewer_user):
    client.force_login(reviewer_user)
    page = reverse("eligibility-review-case", args=[awaiting.pk])

    response = client.post(
        reverse("eligibility-review-scan", args=[awaiting.pk]),
        {"kind": "pathology", "file": SimpleUploadedFile("a.gif", b"GIF89a....")},
        HTTP_REFERER=page,
    )

    assert response.status_code == 302
    assert "仅支持 PDF、JPEG、PNG 文件" in client.get(page).content.decode()
    assert not Material.objects.exists()


def test_another_hospitals_reviewer_gets_404_on_the_scan_page(client, awaiting, outsider_reviewer):
    client.force_login(outsider_reviewer)

    response = client.post(
        reverse("eligibility-review-scan", args=[awaiting.pk]),
        {"kind": "pathology", "file": SimpleUploadedFile("a.pdf", PDF, "application/pdf")},
    )

    assert response.status_code == 404
    assert not Material.objects.exists()


def test_the_scan_form_is_gone_once_decided(
    client, make_draft, zhang, physician_user, reviewer_user
):
    application = make_draft(zhang)
    services.application_submit(actor=physician_user, application_id=application.pk)
    services.application_approve(actor=reviewer_user, application_id=application.pk)

    client.force_login(reviewer_user)
    body = client.get(reverse("eligibility-review-case", args=[application.pk])).content.decode()

    assert reverse("eligibility-review-scan", args=[application.pk]) not in body


def test_scan_through_the_api(api_client, awaiting, reviewer_user, patient_user):
    url = f"{BASE}/applications/{awaiting.pk}/materials/scan"

    refused = api_client.as_user(patient_user).post(
        url, {"kind": "pathology", "file": SimpleUploadedFile("a.pdf", PDF, "application/pdf")}
    )
    assert refused.status_code == 403
    assert not Material.objects.exists()

    created = api_client.as_user(reviewer_user).post(
        url,
        {
            "kind": "pathology",
            "title": "外院病理诊断报告",
            "issuer": "武汉协和医院病理科",
            "file": SimpleUploadedFile("scan.pdf", PDF, "application/pdf"),
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["source"] == "reviewer_scan"
    assert body["verification_state"] == "verified"
    assert (body["title"], body["issuer"]) == ("外院病理诊断报告", "武汉协和医院病理科")
