"""JSON API of signed documents: the public verdict, and the PDF for authorised staff."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from ninja import File, Router, Schema
from ninja.files import UploadedFile

from dualchannel.core.auth import api_auth
from dualchannel.core.errors import DomainError

from . import selectors
from .services import verify_url

router = Router(tags=["documents"])

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class VerdictOut(Schema):
    status: str
    label: str
    kind: str
    kind_label: str
    hospital_name: str
    physician_name: str
    signed_at: datetime | None
    patient_name_masked: str
    key_fingerprint: str
    revoked_at: datetime | None
    revocation_reason: str
    pdf_identical: bool | None


class DocumentOut(Schema):
    id: int
    kind: str
    kind_label: str
    subject_type: str
    subject_id: str
    signer_name: str
    hospital_name: str
    created_at: datetime
    key_fingerprint: str
    pdf_sha256: str
    verify_url: str
    revoked_at: datetime | None
    revocation_reason: str


def read_upload(upload) -> bytes:
    """The uploaded PDF's bytes, refusing oversized files."""
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise DomainError(
            "documents.upload_too_large", "文件过大", fields={"file": ["文件不得超过 20 MB"]}
        )
    return upload.read()


@router.get("/verify/{token}", response=VerdictOut, auth=None)
def verify(request: HttpRequest, token: str):
    """Public: is the document behind this token authentic and unchanged?"""
    return selectors.document_verify(token).as_dict()


@router.post("/verify/{token}/pdf", response=VerdictOut, auth=None)
def verify_pdf(request: HttpRequest, token: str, file: UploadedFile = File(...)):  # noqa: B008
    """Public: the verdict plus whether the uploaded PDF is byte-identical to the issued one."""
    return selectors.document_verify_pdf(token, read_upload(file)).as_dict()


@router.get("/{int:document_id}", response=DocumentOut, auth=api_auth)
def document_detail(request: HttpRequest, document_id: int):
    """What was signed, by whom and when. Not the SM3 of the data: it covers the full
    identifiers every page prints masked, so a reader could test guesses of the hidden digits."""

    document = selectors.document_get(actor=request.auth, document_id=document_id)
    return {
        "id": document.pk,
        "kind": document.kind,
        "kind_label": document.get_kind_display(),
        "subject_type": document.subject_type,
        "subject_id": document.subject_id,
        "signer_name": document.signer.name,
        "hospital_name": document.signer.hospital.name,
        "created_at": document.created_at,
        "key_fingerprint": document.key.fingerprint,
        "pdf_sha256": document.pdf_sha256,
        "verify_url": verify_url(document.verification_token),
        "revoked_at": document.revoked_at,
        "revocation_reason": document.revocation_reason,
    }


@router.get("/{int:document_id}/pdf", auth=api_auth)
def document_pdf(request: HttpRequest, document_id: int):
    """The issued PDF, for staff of the signer's hospital and agency officers of its region."""
    document, content = selectors.document_pdf(actor=request.auth, document_id=document_id)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.kind}-{document.pk}.pdf"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
