"""Signing, verification, revocation and keys: outcomes and side effects."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from dualchannel.core.canonical import canonical_json
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.documents import crypto, kinds
from dualchannel.documents.models import DocumentKind, KeyStatus, SignedDocument, SigningKey
from dualchannel.documents.selectors import (
    VerdictStatus,
    document_verify,
    document_verify_pdf,
)
from dualchannel.documents.services import (
    data_digest,
    document_revoke,
    document_sign,
    signing_key_for,
    signing_key_rotate,
)
from dualchannel.documents.tests.factories import (
    DATA_BY_KIND,
    ah_filing_form_data,
    application_form_data,
    physician_for,
    reevaluation_form_data,
)

pytestmark = pytest.mark.django_db


def sign(actor, physician, kind="application_form", data=None, subject_id="1"):
    return document_sign(
        actor=actor,
        signer=physician,
        kind=kind,
        subject_type="eligibility.Application",
        subject_id=subject_id,
        data=data if data is not None else DATA_BY_KIND[kind](physician.name),
    )


def pdf_text(document: SignedDocument) -> str:
    with document.pdf.open("rb") as handle:
        reader = PdfReader(io.BytesIO(handle.read()))
    return "".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize("kind", DocumentKind.values)
def test_signing_produces_a_verifiable_document_with_pdf(physician_user, physician, kind):
    # given a physician and valid data of the kind
    # when the physician signs
    document = sign(physician_user, physician, kind)

    # then the document verifies and the PDF carries the title, labels and verification URL
    assert document_verify(document.verification_token).status == VerdictStatus.AUTHENTIC
    assert len(document.verification_token) >= 22  # ≥ 128 bits, url-safe
    with document.pdf.open("rb") as handle:
        assert handle.read(5) == b"%PDF-"
    text = pdf_text(document)
    spec = kinds.SPECS[kind]
    assert spec.title.replace("　", "") in text.replace(" ", "").replace("　", "")
    assert f"https://dc.example.cn/verify/{document.verification_token}/" in text
    assert f"责任医师签章：{physician.name}（电子签名）" in text
    # every kind masks an identifier, so none prints the data digest (it would give the digits away)
    assert document.data_digest not in text
    # and the signing is in the audit ledger
    assert AuditEvent.objects.filter(
        action="documents.signed", subject_id=str(document.pk)
    ).exists()


def test_application_form_pdf_has_the_annex_1_labels_and_the_full_id_number(
    physician_user, physician
):
    document = sign(physician_user, physician)
    text = "".join(pdf_text(document).split())  # labels wrap inside narrow cells
    for label in (
        "申请日期",
        "身份证号",
        "参保属地",
        "双通道定点零售药店",
        "申请依据",
        "是否符合医保限定支付范围",
        "治疗方案（用法用量）",
        "下一次复查评估日期",
        "医院医保管理部门盖章",
    ):
        assert label in text
    # the form is the legal document: it carries the full ID number, but not the full phone
    assert "420102197005170011" in text
    assert "139****0001" in text and "13900000001" not in text
    assert "■职工医保" in text
    assert document.data_digest == crypto.sm3_hex(canonical_json(document.data).encode())


FULL_ID, MASKED_ID = "420102197005170011", "420102********0011"
FULL_PHONE, MASKED_PHONE = "13900000001", "139****0001"


@pytest.mark.parametrize(
    ("kind", "id_shown", "phone_shown"),
    [
        (DocumentKind.APPLICATION_FORM, FULL_ID, MASKED_PHONE),  # the filing document
        (DocumentKind.REEVALUATION_FORM, MASKED_ID, MASKED_PHONE),
        (DocumentKind.AH_FILING_FORM, MASKED_ID, MASKED_PHONE),
        (DocumentKind.TREATMENT_PLAN, MASKED_ID, None),
        (DocumentKind.PRESCRIPTION, MASKED_ID, None),
    ],
)
def test_each_pdf_kind_prints_identifiers_as_its_task_needs_while_the_signature_covers_them(
    physician_user, physician, kind, id_shown, phone_shown
):
    # given data holding the full ID number (and phone where the form has one)
    # when the physician signs
    document = sign(physician_user, physician, kind)

    # then the page shows the ID (and phone) in full only where the kind needs it
    text = "".join(pdf_text(document).split())
    assert id_shown in text
    if id_shown == MASKED_ID:
        assert FULL_ID not in text
    assert FULL_PHONE not in text
    if phone_shown:
        assert phone_shown in text
    assert document.data_digest not in text
    # and what is signed is the full data, which verifies
    assert document.data["id_number"] == FULL_ID
    assert document_verify(document.verification_token).status == VerdictStatus.AUTHENTIC


def test_altering_stored_data_is_reported_as_altered(physician_user, physician):
    document = sign(physician_user, physician)
    changed = {**document.data, "drug_name": "另一种药"}
    # an UPDATE behind the service's back
    SignedDocument.objects.filter(pk=document.pk).update(data=changed)

    verdict = document_verify(document.verification_token)

    assert verdict.status == VerdictStatus.ALTERED
    assert verdict.patient_name_masked == ""  # altered data is not shown at all


def test_altering_data_and_digest_together_is_still_altered(physician_user, physician):
    document = sign(physician_user, physician)
    changed = {**document.data, "within_restriction": False}

    SignedDocument.objects.filter(pk=document.pk).update(
        data=changed, data_digest=data_digest(changed)
    )

    assert document_verify(document.verification_token).status == VerdictStatus.ALTERED


def test_altering_the_signature_is_reported_as_altered(physician_user, physician):
    document = sign(physician_user, physician)
    flipped = ("1" if document.signature[0] != "1" else "2") + document.signature[1:]
    SignedDocument.objects.filter(pk=document.pk).update(signature=flipped)

    assert document_verify(document.verification_token).status == VerdictStatus.ALTERED


def test_swapping_the_stored_pdf_checksum_is_reported_as_altered(physician_user, physician):
    document = sign(physician_user, physician)
    SignedDocument.objects.filter(pk=document.pk).update(pdf_sha256="0" * 64)

    assert document_verify(document.verification_token).status == VerdictStatus.ALTERED


def test_uploaded_pdf_identical_or_modified(physician_user, physician):
    document = sign(physician_user, physician)
    with document.pdf.open("rb") as handle:
        original = handle.read()
    modified = original.replace(b"/Producer", b"/Producex", 1)
    assert modified != original

    same = document_verify_pdf(document.verification_token, original)
    other = document_verify_pdf(document.verification_token, modified)

    assert same.status == VerdictStatus.AUTHENTIC and same.pdf_identical is True
    assert other.status == VerdictStatus.AUTHENTIC and other.pdf_identical is False


def test_revoked_document_is_reported_revoked(physician_user, physician):
    document = sign(physician_user, physician, "prescription")

    document_revoke(actor=physician_user, document_id=document.pk, reason="处方已取消")

    verdict = document_verify(document.verification_token)
    assert verdict.status == VerdictStatus.REVOKED
    assert verdict.revocation_reason == "处方已取消"
    assert AuditEvent.objects.filter(action="documents.revoked").count() == 1
    with pytest.raises(Conflict):
        document_revoke(actor=physician_user, document_id=document.pk, reason="再次")


def test_reviewer_of_the_hospital_may_revoke_but_an_outsider_may_not(
    physician_user, physician, reviewer_user, outsider_reviewer
):
    document = sign(physician_user, physician)

    with pytest.raises(NotFound):
        document_revoke(actor=outsider_reviewer, document_id=document.pk, reason="越权")
    document.refresh_from_db()
    assert document.revoked_at is None

    document_revoke(actor=reviewer_user, document_id=document.pk, reason="申请撤回")
    document.refresh_from_db()
    assert document.revoked_by == reviewer_user


def test_unknown_token_is_reported_unknown(db):
    assert document_verify("no-such-token").status == VerdictStatus.UNKNOWN
    assert document_verify("x" * 500).status == VerdictStatus.UNKNOWN
    assert document_verify_pdf("no-such-token", b"%PDF-").pdf_identical is None


def test_a_second_physician_cannot_sign_as_the_first(physician_user, physician, outsider_physician):
    physician_for(outsider_physician, staff_code="D340102999999")
    events_before = AuditEvent.objects.count()

    with pytest.raises(PermissionDenied):
        sign(outsider_physician, physician)

    assert SignedDocument.objects.count() == 0
    assert SigningKey.objects.count() == 0
    assert AuditEvent.objects.count() == events_before


def test_an_admin_may_sign_for_a_physician(admin_user, physician):
    document = sign(admin_user, physician)
    assert document.signer == physician


def test_missing_required_field_is_a_field_error_and_nothing_is_written(
    physician_user, physician, media_root
):
    data = application_form_data(physician.name)
    del data["id_number"]
    data["within_restriction"] = "yes"

    with pytest.raises(DomainError) as caught:
        sign(physician_user, physician, data=data)

    assert caught.value.code == "documents.invalid_data"
    assert caught.value.fields == {"id_number": ["必填"], "within_restriction": ["应为是或否"]}
    assert SignedDocument.objects.count() == 0
    assert SigningKey.objects.count() == 0
    assert not media_root.exists() or not any(media_root.rglob("*.pdf"))


def test_unknown_fields_are_refused_so_that_everything_signed_is_printed(physician_user, physician):
    data = application_form_data(physician.name, secret_note="不会打印")
    with pytest.raises(DomainError) as caught:
        sign(physician_user, physician, data=data)
    assert caught.value.fields == {"secret_note": ["未知字段"]}


def test_ah_inpatient_needs_admission_details(physician_user, physician):
    # AH annex: 住院 usage carries 住院诊断, 入院时间 and 住院号
    data = ah_filing_form_data(physician.name)
    del data["inpatient_no"]
    data["drugs"][1]["anticancer"] = None
    with pytest.raises(DomainError) as caught:
        sign(physician_user, physician, "ah_filing_form", data=data)
    assert caught.value.fields == {"inpatient_no": ["必填"], "drugs.1.anticancer": ["必填"]}


def test_reevaluation_adjust_needs_the_adjusted_plan(physician_user, physician):
    # HB art. 9: the plan is adjusted according to the re-evaluation result
    data = reevaluation_form_data(physician.name, result="adjust")
    with pytest.raises(DomainError) as caught:
        sign(physician_user, physician, "reevaluation_form", data=data)
    assert caught.value.fields == {"adjusted_plan": ["必填"]}

    stop = reevaluation_form_data(physician.name, result="stop", stop_reason="疾病进展")
    del stop["next_evaluation_date"], stop["evaluation_cycle"]
    document = sign(physician_user, physician, "reevaluation_form", data=stop)
    assert "■停止使用" in pdf_text(document)


def test_physician_name_must_be_the_signer(physician_user, physician):
    with pytest.raises(DomainError) as caught:
        sign(physician_user, physician, data=application_form_data("王医生"))
    assert caught.value.code == "documents.physician_mismatch"


def test_private_key_is_never_stored_in_clear(physician):
    key = signing_key_for(physician)

    stored = SigningKey.objects.values_list("encrypted_private_key", flat=True).get(pk=key.pk)
    private_hex = crypto.decrypt_private_key(stored)
    assert private_hex not in stored
    assert len(private_hex) == 64
    # the decrypted key is the private half of the stored public key
    signature = crypto.sign(private_hex, key.public_key, b"check")
    assert crypto.verify(key.public_key, b"check", signature)
    assert key.fingerprint == crypto.public_key_fingerprint(key.public_key)
    # created once, then reused
    assert signing_key_for(physician).pk == key.pk
    assert AuditEvent.objects.filter(action="documents.key_created").count() == 1


def test_key_rotation_keeps_old_documents_verifiable(physician_user, physician):
    old_document = sign(physician_user, physician)
    old_key = old_document.key

    new_key = signing_key_rotate(actor=physician_user, physician=physician, reason="年度轮换")
    new_document = sign(physician_user, physician, subject_id="2")

    old_key.refresh_from_db()
    assert old_key.status == KeyStatus.RETIRED and old_key.encrypted_private_key == ""
    assert new_key.status == KeyStatus.ACTIVE and new_document.key == new_key
    assert document_verify(old_document.verification_token).status == VerdictStatus.AUTHENTIC
    assert document_verify(new_document.verification_token).status == VerdictStatus.AUTHENTIC
    assert SigningKey.objects.filter(physician=physician, status=KeyStatus.ACTIVE).count() == 1


def test_a_document_dated_after_its_key_was_retired_is_altered(physician_user, physician):
    document = sign(physician_user, physician)
    signing_key_rotate(actor=physician_user, physician=physician, reason="泄露")
    key = SigningKey.objects.get(pk=document.key_id)
    SigningKey.objects.filter(pk=key.pk).update(retired_at=document.created_at.replace(year=2000))

    assert document_verify(document.verification_token).status == VerdictStatus.ALTERED


def test_only_the_physician_rotates_their_key(physician, outsider_physician):
    with pytest.raises(PermissionDenied):
        signing_key_rotate(actor=outsider_physician, physician=physician, reason="x")


def test_changed_key_encryption_key_rotates_on_next_signing(physician_user, physician, settings):
    old_document = sign(physician_user, physician)
    settings.DOCUMENT_KEY_ENCRYPTION_KEY = "n" * 44

    new_document = sign(physician_user, physician, subject_id="2")

    assert new_document.key_id != old_document.key_id
    assert document_verify(old_document.verification_token).status == VerdictStatus.AUTHENTIC
    assert document_verify(new_document.verification_token).status == VerdictStatus.AUTHENTIC


def test_other_insurance_detail_only_with_other_and_printed_inline(physician_user, physician):
    wrong = application_form_data(physician.name, insurance_category_other="商业保险")
    with pytest.raises(DomainError) as caught:
        sign(physician_user, physician, data=wrong)
    assert caught.value.fields == {"insurance_category_other": ["仅在选择“其他”时填写"]}

    data = application_form_data(
        physician.name, insurance_category="other", insurance_category_other="离休干部"
    )
    document = sign(physician_user, physician, data=data)
    assert "■其他（离休干部）" in "".join(pdf_text(document).split())
