"""Reads: public verification of a document by its token, and the staff's scoped PDF access."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Q

from dualchannel.core.errors import NotFound
from dualchannel.core.masking import mask_name
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.registry.selectors import HOSPITAL_ROLES, officer_region, staff_institution_id

from . import crypto
from .models import SignedDocument
from .services import data_digest, pdf_envelope, signing_envelope

MAX_TOKEN_LENGTH = 64


class VerdictStatus(models.TextChoices):
    AUTHENTIC = "authentic", "真实有效且未被篡改"  # signature verifies, not revoked
    ALTERED = "altered", "内容已被篡改"  # data, signature, key or checksum do not match
    REVOKED = "revoked", "已作废"  # genuine, but voided by the issuer
    UNKNOWN = "unknown", "无此文书"  # no document carries this token


@dataclass(frozen=True)
class Verdict:
    """What the public may learn about a document: no ID number, the patient's name masked."""

    status: str
    kind: str = ""
    kind_label: str = ""
    hospital_name: str = ""
    physician_name: str = ""
    signed_at: datetime | None = None
    patient_name_masked: str = ""
    key_fingerprint: str = ""
    revoked_at: datetime | None = None
    revocation_reason: str = ""
    # Only for document_verify_pdf: is the uploaded file byte-identical to the issued PDF?
    pdf_identical: bool | None = None

    @property
    def label(self) -> str:
        return VerdictStatus(self.status).label

    @property
    def is_authentic(self) -> bool:
        return self.status == VerdictStatus.AUTHENTIC

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "label": self.label,
            "kind": self.kind,
            "kind_label": self.kind_label,
            "hospital_name": self.hospital_name,
            "physician_name": self.physician_name,
            "signed_at": self.signed_at,
            "patient_name_masked": self.patient_name_masked,
            "key_fingerprint": self.key_fingerprint,
            "revoked_at": self.revoked_at,
            "revocation_reason": self.revocation_reason,
            "pdf_identical": self.pdf_identical,
        }


def _integrity_ok(document: SignedDocument) -> bool:
    """Recompute the digest from the stored data and check both signatures with the stored key."""
    key = document.key
    if key.physician_id != document.signer_id:
        return False
    if crypto.public_key_fingerprint(key.public_key) != key.fingerprint:
        return False
    if key.retired_at is not None and document.created_at > key.retired_at:
        return False  # a key cannot have signed after it was retired
    if not isinstance(document.data, dict):
        return False
    digest = data_digest(document.data)
    if digest != document.data_digest:
        return False
    if not crypto.verify(
        key.public_key, signing_envelope(document, digest=digest), document.signature
    ):
        return False
    return crypto.verify(key.public_key, pdf_envelope(document), document.pdf_signature)


def _find(token: str) -> SignedDocument | None:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return (
        SignedDocument.objects.select_related("key", "signer", "signer__hospital")
        .filter(verification_token=token)
        .first()
    )


def _verdict(document: SignedDocument | None) -> Verdict:
    if document is None:
        return Verdict(status=VerdictStatus.UNKNOWN)
    common = {
        "kind": document.kind,
        "kind_label": document.get_kind_display(),
        "hospital_name": document.signer.hospital.name,
        "physician_name": document.signer.name,
        "signed_at": document.created_at,
        "key_fingerprint": document.key.short_fingerprint,
    }
    if not _integrity_ok(document):
        # Altered data cannot be trusted, so nothing from it (not even a masked name) is shown.
        return Verdict(status=VerdictStatus.ALTERED, **common)
    name = document.data.get("name")
    common["patient_name_masked"] = mask_name(name) if isinstance(name, str) else ""
    if document.revoked_at is not None:
        return Verdict(
            status=VerdictStatus.REVOKED,
            revoked_at=document.revoked_at,
            revocation_reason=document.revocation_reason,
            **common,
        )
    return Verdict(status=VerdictStatus.AUTHENTIC, **common)


def document_verify(token: str) -> Verdict:
    """authentic / altered / revoked / unknown for the document carrying ``token``."""
    return _verdict(_find(token))


def document_verify_pdf(token: str, pdf_bytes: bytes) -> Verdict:
    """The verdict plus whether ``pdf_bytes`` is byte-identical (SHA-256) to the issued PDF."""
    document = _find(token)
    verdict = _verdict(document)
    if document is None:
        return verdict
    identical = hashlib.sha256(pdf_bytes).hexdigest() == document.pdf_sha256
    return replace(verdict, pdf_identical=identical)


# --- staff access ----------------------------------------------------------------------------


def visible_documents(actor: User | None) -> models.QuerySet[SignedDocument]:
    """Documents the actor may open in full: staff of the signer's hospital (physicians,
    reviewers), agency officers of the hospital's region subtree, admins."""
    qs = SignedDocument.objects.select_related("signer", "signer__hospital", "key")
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return qs.none()
    if actor.is_superuser:
        return qs
    scope = Q(pk__in=[])
    hospital_id = staff_institution_id(actor, HOSPITAL_ROLES)
    if hospital_id is not None:
        scope |= Q(signer__hospital_id=hospital_id)
    region = officer_region(actor)
    if region is not None:
        scope |= Q(signer__hospital__region__code__startswith=region.code_prefix)
    return qs.filter(scope)


def document_get(*, actor: User | None, document_id: int) -> SignedDocument:
    document = visible_documents(actor).filter(pk=document_id).first()
    if document is None:
        raise NotFound()
    return document


def document_pdf(*, actor: User | None, document_id: int) -> tuple[SignedDocument, bytes]:
    """The issued PDF bytes for an authorised member of staff; anyone else gets NotFound."""
    document = document_get(actor=actor, document_id=document_id)
    with document.pdf.open("rb") as handle:
        content = handle.read()
    return document, content


def signed_form_get(*, actor: User | None, document_id: int) -> SignedDocument:
    """A signed form for the people who signed it or review it (issue 12, point 3): its signer,
    and the reviewers of the signer's hospital; anyone else gets NotFound."""
    document = visible_documents(actor).filter(pk=document_id).first()
    if document is None or actor is None:
        raise NotFound()
    if actor.is_superuser:
        return document
    if document.signer.user_id is not None and document.signer.user_id == actor.pk:
        return document
    if actor.has_role(Role.REVIEWER) and actor.institution_id == document.signer.hospital_id:
        return document
    raise NotFound()


def documents_for_subject(
    *, actor: User | None, subject_type: str, subject_id: str
) -> models.QuerySet[SignedDocument]:
    """The documents issued for one subject (e.g. an application), newest first."""
    return visible_documents(actor).filter(subject_type=subject_type, subject_id=str(subject_id))
