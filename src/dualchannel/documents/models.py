"""Physicians' signing keys and the signed documents (forms, prescriptions) they issue."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from dualchannel.core.statemachine import StateMachine


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "使用中"  # signs new documents; one per physician
    RETIRED = "retired", "已停用"  # kept (public half only) so that old documents still verify


class SigningKey(models.Model):
    """A physician's SM2 key pair. The private half is stored only wrapped (Fernet)."""

    physician = models.ForeignKey(
        "registry.Physician",
        on_delete=models.PROTECT,
        related_name="signing_keys",
        verbose_name="医师",
    )
    algorithm = models.CharField("算法", max_length=10, default="SM2", editable=False)
    public_key = models.CharField("公钥（x||y，十六进制）", max_length=128)
    fingerprint = models.CharField("公钥指纹（SM3）", max_length=64, unique=True)
    # Fernet token of the private key; emptied when the key is retired (it never signs again).
    encrypted_private_key = models.TextField("加密私钥", blank=True)
    # Which key-encryption key wrapped it (crypto.key_encryption_key_id), to tell a changed
    # DOCUMENT_KEY_ENCRYPTION_KEY / SECRET_KEY from a damaged row.
    kek_id = models.CharField("密钥加密密钥标识", max_length=16, blank=True)
    status = models.CharField(
        "状态", max_length=10, choices=KeyStatus.choices, default=KeyStatus.ACTIVE
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    retired_at = models.DateTimeField("停用时间", null=True, blank=True)
    retired_reason = models.CharField("停用原因", max_length=200, blank=True)

    class Meta:
        verbose_name = "医师签名密钥"
        verbose_name_plural = "医师签名密钥"
        ordering = ["physician_id", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["physician"],
                condition=Q(status="active"),
                name="uniq_active_signing_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} {self.short_fingerprint}（{self.get_status_display()}）"

    @property
    def short_fingerprint(self) -> str:
        """The first 128 bits of the fingerprint in groups of four, as printed on forms."""
        head = self.fingerprint[:32].upper()
        return " ".join(head[i : i + 4] for i in range(0, 32, 4))


# A key is retired once (``services``); no history table: the audit event is the record.
KEY_MACHINE = StateMachine(
    KeyStatus,
    {KeyStatus.ACTIVE: {KeyStatus.RETIRED}},
    error_code="documents.key_transition",
    model=SigningKey,
    audit_action="documents.key_{to}",
    role=lambda actor: "",
    summary=lambda key, from_status, to_status: {
        "from": from_status,
        "to": to_status,
        "reason": key.retired_reason,
    },
    save_fields=(),
)


class DocumentKind(models.TextChoices):
    APPLICATION_FORM = "application_form", "单独支付药品用药申请表"  # HB annex 1
    TREATMENT_PLAN = "treatment_plan", "治疗用药方案"
    AH_FILING_FORM = "ah_filing_form", "“双通道”药品外购备案表"  # AH annex
    REEVALUATION_FORM = "reevaluation_form", "单独支付药品复查评估表"  # HB annex 2
    PRESCRIPTION = "prescription", "双通道处方"


def _document_path(instance: SignedDocument, filename: str) -> str:
    # Under MEDIA_ROOT (outside the web root); never served directly, only through the API.
    return f"documents/{timezone.localdate():%Y/%m}/{filename}"


class SignedDocument(models.Model):
    """A form or prescription as issued: the signed data, its PDF and its public check token.

    Rows are written once by ``services.document_sign``; only revocation changes them later.
    """

    kind = models.CharField("文书类型", max_length=30, choices=DocumentKind.choices)
    # Points at the row the document belongs to (an application, a prescription…), by label/pk.
    subject_type = models.CharField("关联对象类型", max_length=80)
    subject_id = models.CharField("关联对象标识", max_length=64)
    signer = models.ForeignKey(
        "registry.Physician",
        on_delete=models.PROTECT,
        related_name="signed_documents",
        verbose_name="签名医师",
    )
    key = models.ForeignKey(
        SigningKey, on_delete=models.PROTECT, related_name="documents", verbose_name="签名密钥"
    )
    data = models.JSONField("文书内容")
    data_digest = models.CharField("内容摘要（SM3）", max_length=64)
    # SM2 signature over the canonical envelope (kind, subject, signer, key, digest, token, time).
    signature = models.CharField("签名", max_length=128)
    verification_token = models.CharField("核验令牌", max_length=64, unique=True)
    pdf = models.FileField("PDF", upload_to=_document_path, max_length=200)
    pdf_sha256 = models.CharField("PDF SHA-256", max_length=64)
    # SM2 signature over (token, pdf_sha256): the stored checksum cannot be swapped unnoticed.
    pdf_signature = models.CharField("PDF 签名", max_length=128)
    created_at = models.DateTimeField("签署时间", default=timezone.now)
    revoked_at = models.DateTimeField("作废时间", null=True, blank=True)
    revocation_reason = models.CharField("作废原因", max_length=200, blank=True)
    revoked_by = models.ForeignKey(
        "core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = "电子签名文书"
        verbose_name_plural = "电子签名文书"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subject_type", "subject_id"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | ~Q(revocation_reason=""),
                name="signed_document_revocation_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
