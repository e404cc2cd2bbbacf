"""Writes of the documents app: signing keys, signing a document, revoking it."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import canonical_json, snapshot
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.registry.models import InsuredPerson, Physician

from . import crypto, kinds, pdf
from .models import DocumentKind, KeyStatus, SignedDocument, SigningKey

logger = logging.getLogger("dualchannel.documents")

SIGNATURE_VERSION = 1


# --- what is signed --------------------------------------------------------------------------


def normalise(data: dict[str, Any]) -> dict[str, Any]:
    """The data as it will read back from the JSON column (dates, decimals as strings)."""
    return json.loads(canonical_json(data))


def data_digest(data: dict[str, Any]) -> str:
    """SM3 of the canonical JSON of the data."""
    return crypto.sm3_hex(canonical_json(data).encode())


def _signed_at_text(value) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signing_envelope(document: SignedDocument, *, digest: str | None = None) -> bytes:
    """The exact bytes the physician's key signs: the data digest bound to who, what and when.

    Binding kind, subject, signer, key, token and time means a signature cannot be moved to
    another document, another patient's case or another date without failing verification.
    """
    envelope = {
        "v": SIGNATURE_VERSION,
        "kind": document.kind,
        "subject_type": document.subject_type,
        "subject_id": document.subject_id,
        "signer_id": document.signer_id,
        "key_fingerprint": document.key.fingerprint,
        "data_sm3": digest if digest is not None else document.data_digest,
        "token": document.verification_token,
        "signed_at": _signed_at_text(document.created_at),
    }
    return canonical_json(envelope).encode()


def pdf_envelope(document: SignedDocument) -> bytes:
    return canonical_json(
        {"v": SIGNATURE_VERSION, "token": document.verification_token, "pdf": document.pdf_sha256}
    ).encode()


def verify_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("document-verify", args=[token])


# --- keys ------------------------------------------------------------------------------------


def _is_self_or_admin(actor: User | None, physician: Physician) -> bool:
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    return physician.user_id == actor.pk and actor.has_role(Role.PHYSICIAN)


def _create_key(physician: Physician, actor: User | None, reason: str) -> SigningKey:
    private_hex, public_hex = crypto.generate_keypair()
    wrapped, kek_id = crypto.encrypt_private_key(private_hex)
    key = SigningKey.objects.create(
        physician=physician,
        public_key=public_hex,
        fingerprint=crypto.public_key_fingerprint(public_hex),
        encrypted_private_key=wrapped,
        kek_id=kek_id,
        status=KeyStatus.ACTIVE,
    )
    audit.record(
        actor=actor,
        action="documents.key_created",
        subject=key,
        after=key,
        summary={"physician_id": physician.pk, "fingerprint": key.fingerprint, "reason": reason},
    )
    return key


def _retire(key: SigningKey, actor: User | None, reason: str) -> None:
    """Retire a locked key: it never signs again, so its private half is dropped; the public half
    stays for checking the documents it signed."""
    transition(
        key,
        KeyStatus.RETIRED,
        actor=actor,
        changes={
            "retired_at": timezone.now(),
            "retired_reason": reason[:200],
            "encrypted_private_key": "",
        },
    )


def _active_key_locked(physician: Physician, actor: User | None) -> tuple[SigningKey, str]:
    """The physician's active key and its private half; the physician row must be locked."""
    key = (
        SigningKey.objects.select_for_update()
        .filter(physician=physician, status=KeyStatus.ACTIVE)
        .first()
    )
    if key is not None:
        try:
            return key, crypto.decrypt_private_key(key.encrypted_private_key)
        except crypto.PrivateKeyUnavailable:
            # The key-encryption key changed (or the row was damaged): this private key is lost
            # for good. Retire it (old documents keep verifying) and issue a new one, audited.
            logger.warning("signing key %s cannot be unwrapped; rotating", key.pk)
            _retire(key, actor, "密钥加密密钥已变更，原私钥无法解密")
    key = _create_key(physician, actor, "first_use" if key is None else "unwrap_failed")
    return key, crypto.decrypt_private_key(key.encrypted_private_key)


def _lock_physician(physician: Physician) -> Physician:
    return Physician.objects.select_for_update().select_related("hospital").get(pk=physician.pk)


def signing_key_for(physician: Physician, *, actor: User | None = None) -> SigningKey:
    """The physician's active signing key, created (and audited) on first use."""
    with transaction.atomic():
        locked = _lock_physician(physician)
        key, _ = _active_key_locked(locked, actor)
        return key


def signing_key_rotate(*, actor: User, physician: Physician, reason: str) -> SigningKey:
    """Retire the physician's active key (if any) and create a new one.

    Only the physician's own user or an admin may rotate. Documents signed with the retired key
    keep verifying with its stored public key.
    """
    if not _is_self_or_admin(actor, physician):
        raise PermissionDenied("documents.not_own_key", "只能轮换本人的签名密钥")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            "documents.reason_required", "请填写轮换原因", fields={"reason": ["必填"]}
        )
    with transaction.atomic():
        locked = _lock_physician(physician)
        current = (
            SigningKey.objects.select_for_update()
            .filter(physician=locked, status=KeyStatus.ACTIVE)
            .first()
        )
        if current is not None:
            _retire(current, actor, reason)
        return _create_key(locked, actor, "rotation")


# --- documents -------------------------------------------------------------------------------


def document_sign(
    *,
    actor: User,
    signer: Physician,
    kind: str,
    subject_type: str,
    subject_id: str,
    data: dict[str, Any],
    patient: InsuredPerson | None = None,
) -> SignedDocument:
    """Sign ``data`` as ``signer``, render the PDF and issue the public verification token.

    Only the signer's own user (holding the physician role) or an admin signs as that physician.
    ``data`` must hold exactly the fields of ``kinds.SPECS[kind]``; ``physician_name`` must be the
    signer's name. ``patient`` only labels the audit event.
    """
    c = _clean_signing(actor, signer, kind, subject_type, subject_id, data)
    with transaction.atomic():
        locked = _lock_physician(signer)
        key, private_hex = _active_key_locked(locked, actor)
        document = _write_document(actor, c, locked, key, private_hex, patient)
    logger.info("signed document %s kind=%s", document.pk, kind)
    return document


@dataclass(frozen=True)
class _Signing:
    """A document's checked input: its kind's spec and the normalised data."""

    kind: str
    spec: kinds.KindSpec
    subject_type: str
    subject_id: str
    data: dict[str, Any]


def _clean_signing(
    actor: User, signer: Physician, kind: str, subject_type: str, subject_id: str, data: Any
) -> _Signing:
    if not _is_self_or_admin(actor, signer):
        raise PermissionDenied("documents.not_own_signature", "只能以本人身份签署文书")
    if kind not in DocumentKind.values:
        kinds.spec_for(kind)  # raises documents.unknown_kind
    subject_type, subject_id = (subject_type or "").strip(), str(subject_id or "").strip()
    if not subject_type or not subject_id:
        raise DomainError(
            "documents.subject_required",
            "缺少文书关联对象",
            fields={"subject_type" if not subject_type else "subject_id": ["必填"]},
        )
    spec = kinds.spec_for(kind)
    kinds.validate(kind, data)
    data = normalise(data)
    if data["physician_name"] != signer.name:
        raise DomainError(
            "documents.physician_mismatch",
            "责任医师姓名与签名医师不一致",
            fields={"physician_name": ["应为签名医师本人姓名"]},
        )
    return _Signing(
        kind=kind, spec=spec, subject_type=subject_type, subject_id=subject_id, data=data
    )


def _write_document(
    actor: User,
    c: _Signing,
    locked: Physician,
    key: SigningKey,
    private_hex: str,
    patient: InsuredPerson | None,
) -> SignedDocument:
    """Sign the data, render and sign the PDF, store it, save the row and its audit event."""
    document = SignedDocument(
        kind=c.kind,
        subject_type=c.subject_type,
        subject_id=c.subject_id,
        signer=locked,
        key=key,
        data=c.data,
        data_digest=data_digest(c.data),
        verification_token=secrets.token_urlsafe(24),  # 192 bits
        created_at=timezone.now().replace(microsecond=0),
    )
    document.signature = crypto.sign(private_hex, key.public_key, signing_envelope(document))
    pdf_bytes = pdf.render(
        c.spec,
        c.data,
        pdf.SignatureInfo(
            physician_name=locked.name,
            hospital_name=locked.hospital.name,
            key_fingerprint=key.short_fingerprint,
            data_digest=document.data_digest,
            signed_at=document.created_at,
            verify_url=verify_url(document.verification_token),
        ),
    )
    document.pdf_sha256 = hashlib.sha256(pdf_bytes).hexdigest()
    document.pdf_signature = crypto.sign(private_hex, key.public_key, pdf_envelope(document))
    name = f"{c.kind}-{document.created_at:%Y%m%d}-{secrets.token_hex(8)}.pdf"
    document.pdf.save(name, ContentFile(pdf_bytes), save=False)
    try:
        document.save(force_insert=True)
        audit.record(
            actor=actor,
            action="documents.signed",
            subject=document,
            after=document,
            patient=patient,
            summary={
                "kind": c.kind,
                "subject_type": c.subject_type,
                "subject_id": c.subject_id,
                "key_fingerprint": key.fingerprint,
                "data_sm3": document.data_digest,
                "pdf_sha256": document.pdf_sha256,
            },
        )
    except BaseException:
        # The transaction rolls back; do not leave an orphaned PDF behind.
        document.pdf.delete(save=False)
        raise
    return document


def _may_revoke(actor: User | None, document: SignedDocument) -> bool:
    if actor is None:
        return True  # a background job of the platform (e.g. the prescriptions app's expiry)
    if not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser or (
        document.signer.user_id == actor.pk and actor.has_role(Role.PHYSICIAN)
    ):
        return True
    # The hospital's insurance office (医保办) may void its own hospital's documents.
    return actor.has_role(Role.REVIEWER) and actor.institution_id == document.signer.hospital_id


def document_revoke(*, actor: User | None, document_id: int, reason: str) -> SignedDocument:
    """Mark a document void (e.g. a cancelled prescription); its page then says 已作废.

    Allowed for the signer, a reviewer of the signer's hospital, an admin, or the platform itself
    (``actor=None``, for background jobs). Others get ``NotFound``.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            "documents.reason_required", "请填写作废原因", fields={"reason": ["必填"]}
        )
    with transaction.atomic():
        document = (
            SignedDocument.objects.select_for_update()
            .select_related("signer")
            .filter(pk=document_id)
            .first()
        )
        if document is None or not _may_revoke(actor, document):
            raise NotFound()
        if document.revoked_at is not None:
            raise Conflict("documents.already_revoked", "该文书已作废")
        before = snapshot(document)
        document.revoked_at = timezone.now()
        document.revocation_reason = reason[:200]
        document.revoked_by = actor
        document.save(update_fields=["revoked_at", "revocation_reason", "revoked_by"])
        audit.record(
            actor=actor,
            action="documents.revoked",
            subject=document,
            before=before,
            after=document,
            summary={"kind": document.kind, "from": "issued", "to": "revoked"},
        )
    return document
