"""The public verification page and API, and staff scoping of the PDF download."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dualchannel.documents.models import SignedDocument
from dualchannel.documents.services import document_revoke, document_sign
from dualchannel.documents.tests.factories import application_form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(physician_user, physician):
    return document_sign(
        actor=physician_user,
        signer=physician,
        kind="application_form",
        subject_type="eligibility.Application",
        subject_id="7",
        data=application_form_data(physician.name),
    )


def issued_pdf(document) -> bytes:
    with document.pdf.open("rb") as handle:
        return handle.read()


def test_public_page_shows_the_verdict_masks_the_name_and_hides_the_id_number(client, document):
    response = client.get(reverse("document-verify", args=[document.verification_token]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "真实有效且未被篡改" in body
    assert "张**" in body and "张三丰" not in body
    assert document.data["id_number"] not in body and "420102" not in body
    assert document.data["phone"] not in body
    assert "武汉演示第一医院" in body and "李医生" in body
    assert response["Cache-Control"] == "no-store"


def test_public_page_reports_altered_revoked_and_unknown(client, document, physician_user):
    url = reverse("document-verify", args=[document.verification_token])
    SignedDocument.objects.filter(pk=document.pk).update(data={**document.data, "age": 30})
    assert "内容已被篡改" in client.get(url).content.decode()

    SignedDocument.objects.filter(pk=document.pk).update(data=document.data)
    document_revoke(actor=physician_user, document_id=document.pk, reason="申请撤回")
    assert "已作废" in client.get(url).content.decode()

    unknown = client.get(reverse("document-verify", args=["nope"]))
    assert unknown.status_code == 404 and "无此文书" in unknown.content.decode()


def test_public_page_compares_an_uploaded_pdf(client, document):
    url = reverse("document-verify", args=[document.verification_token])
    original = issued_pdf(document)

    same = client.post(url, {"file": SimpleUploadedFile("a.pdf", original)})
    changed = client.post(url, {"file": SimpleUploadedFile("a.pdf", original + b"\n%x")})

    assert 'data-pdf="identical"' in same.content.decode()
    assert 'data-pdf="different"' in changed.content.decode()


def test_api_verify_is_public_and_carries_no_personal_data(client, document):
    response = client.get(f"/api/v1/documents/verify/{document.verification_token}")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "authentic" and body["label"] == "真实有效且未被篡改"
    assert body["patient_name_masked"] == "张**"
    assert "420102197005170011" not in response.content.decode()
    assert client.get("/api/v1/documents/verify/unknown").json()["status"] == "unknown"


def test_api_verify_pdf_upload(client, document):
    response = client.post(
        f"/api/v1/documents/verify/{document.verification_token}/pdf",
        {"file": SimpleUploadedFile("a.pdf", b"%PDF-forged")},
    )
    assert response.status_code == 200
    assert response.json()["pdf_identical"] is False


@pytest.mark.parametrize(
    ("user_fixture", "status"),
    [
        ("physician_user", 200),
        ("reviewer_user", 200),
        ("agency_user", 200),
        ("admin_user", 200),
        ("outsider_reviewer", 404),
        ("outsider_physician", 404),
        ("outsider_agency", 404),
        ("pharmacist_user", 404),
        ("patient_user", 404),
    ],
)
def test_pdf_download_is_scoped_to_the_hospital_and_its_agency(
    request, api_client, document, user_fixture, status
):
    user = request.getfixturevalue(user_fixture)

    response = api_client.as_user(user).get(f"/api/v1/documents/{document.pk}/pdf")

    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "application/pdf"
        assert response.content == issued_pdf(document)
    else:
        assert response.json()["error"]["code"] == "not_found"


def test_pdf_download_needs_authentication(client, document):
    assert client.get(f"/api/v1/documents/{document.pk}/pdf").status_code == 401


def test_document_detail_for_staff(api_client, reviewer_user, document):
    response = api_client.as_user(reviewer_user).get(f"/api/v1/documents/{document.pk}")
    assert response.status_code == 200
    assert response.json()["verify_url"].endswith(f"/verify/{document.verification_token}/")


def test_document_detail_leaves_out_the_digest_of_the_full_identifiers(
    api_client, reviewer_user, document
):
    """Every page masks an identifier (here the phone) the signed data holds in full: the digest
    beside the page would let a reader confirm guesses of the hidden digits."""
    body = api_client.as_user(reviewer_user).get(f"/api/v1/documents/{document.pk}").content
    assert document.data["phone"] and document.data_digest.encode() not in body
