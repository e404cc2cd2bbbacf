from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from dualchannel.core.tests.files import HTML_AS_PDF, PDF, PNG
from dualchannel.eligibility import services
from dualchannel.eligibility.models import Application, ApplicationStatus

BASE = "/api/v1/eligibility"


def test_physician_drafts_checks_and_submits_then_reviewer_approves(
    api_client, physician, bound_pharmacy, lung_drug, zhang, physician_user, reviewer_user
):
    # given a physician with a token
    client = api_client.as_user(physician_user)

    # when they draft, check, answer, plan and submit
    created = client.post_json(
        f"{BASE}/applications",
        {
            "patient_id_number": zhang.id_number,
            "drug_id": lung_drug.pk,
            "diagnosis_code": "C34.100x004",
            "diagnosis_name": "右肺上叶恶性肿瘤",
            "pharmacy_id": bound_pharmacy.pk,
        },
    )
    assert created.status_code == 201, created.content
    app_id = created.json()["id"]
    assert created.json()["application_no"].startswith("SQ")

    check = client.get(f"{BASE}/applications/{app_id}/check").json()
    outcomes = {i["code"]: i for i in check["items"]}
    assert outcomes["alk"]["outcome"] == "met"
    assert outcomes["alk"]["text"] == "ALK阳性"
    assert outcomes["alk"]["evidence"]["data"]["genes"] == {"ALK": "positive"}
    assert outcomes["advanced"]["outcome"] == "unknown"

    answered = client.post_json(
        f"{BASE}/applications/{app_id}/answers", {"answers": {"advanced": True}}
    )
    assert answered.status_code == 200
    plan = client.put_json(
        f"{BASE}/applications/{app_id}/plan",
        {
            "dose": "250mg",
            "frequency": "每日两次",
            "route": "口服",
            "total_quantity": "180",
            "quantity_unit": "粒",
            "period_start": "2026-03-02",
            "period_end": "2026-05-31",
        },
    )
    assert plan.status_code == 200, plan.content
    submitted = client.post_json(f"{BASE}/applications/{app_id}/submit")
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == ApplicationStatus.UNDER_REVIEW

    # then the reviewer sees it in the queue and approves it without typing
    reviewer = api_client.as_user(reviewer_user)
    queue = reviewer.get(f"{BASE}/applications/review-queue").json()
    assert [item["application"]["id"] for item in queue] == [app_id]
    approved = reviewer.post_json(f"{BASE}/applications/{app_id}/approve")
    assert approved.status_code == 200, approved.content
    assert approved.json()["eligibility"]["status"] == "active"


def test_other_hospitals_reviewer_gets_404_and_nothing_changes(
    api_client, make_draft, zhang, physician_user, outsider_reviewer
):

    application = make_draft(zhang)
    services.application_submit(actor=physician_user, application_id=application.pk)
    client = api_client.as_user(outsider_reviewer)

    for response in (
        client.get(f"{BASE}/applications/{application.pk}"),
        client.post_json(f"{BASE}/applications/{application.pk}/approve"),
        client.post_json(f"{BASE}/applications/{application.pk}/reject", {"reason": "x"}),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert client.get(f"{BASE}/applications").json() == []
    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW


def test_patient_upload_is_checked_by_content_not_name(
    api_client, make_draft, insured_person, patient_user, physician_user
):

    application = make_draft(insured_person)
    services.application_submit(actor=physician_user, application_id=application.pk)
    client = api_client.as_user(patient_user)
    url = f"{BASE}/applications/{application.pk}/materials"

    fake = client.post(
        url,
        {"kind": "pathology", "file": SimpleUploadedFile("report.pdf", b"GIF89a....")},
    )
    assert fake.status_code == 400
    assert fake.json()["error"]["code"] == "eligibility.bad_file_type"

    real = client.post(
        url,
        {"kind": "pathology", "file": SimpleUploadedFile("病理.pdf", PDF, "application/pdf")},
    )
    assert real.status_code == 201, real.content
    assert real.json()["mime_type"] == "application/pdf"
    assert real.json()["verification_state"] == "unverified"
    mine = client.get(f"{BASE}/applications").json()
    assert [a["id"] for a in mine] == [application.pk]
    assert Application.objects.get(pk=application.pk).materials.count() == 1


def test_patient_upload_must_open_and_agree_with_its_declared_type(
    api_client, make_draft, insured_person, patient_user, physician_user
):

    application = make_draft(insured_person)
    services.application_submit(actor=physician_user, application_id=application.pk)
    client = api_client.as_user(patient_user)
    url = f"{BASE}/applications/{application.pk}/materials"

    html = client.post(
        url,
        {
            "kind": "pathology",
            "file": SimpleUploadedFile("report.pdf", HTML_AS_PDF, "application/pdf"),
        },
    )
    renamed = client.post(
        url, {"kind": "pathology", "file": SimpleUploadedFile("scan.pdf", PNG, "application/pdf")}
    )

    for refused in (html, renamed):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "eligibility.bad_file_type"
    assert Application.objects.get(pk=application.pk).materials.count() == 0
