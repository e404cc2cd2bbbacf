"""Patient-portal login: one-time SMS codes and the phone-keyed patient accounts.

Phones are kept only as keyed hashes (HMAC-SHA256 with SECRET_KEY, see ``hashing.py``): the
portal must recognise a returning phone, never read it back.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class PhoneLoginCode(models.Model):
    """One SMS code sent to one phone; only the latest code of a phone can be used."""

    phone_hash = models.CharField("手机号摘要", max_length=64, db_index=True)
    code_hash = models.CharField("验证码摘要", max_length=64)
    created_at = models.DateTimeField("发送时间", default=timezone.now)
    expires_at = models.DateTimeField("失效时间")
    attempts = models.PositiveSmallIntegerField("错误次数", default=0)
    consumed_at = models.DateTimeField("使用时间", null=True, blank=True)

    class Meta:
        verbose_name = "登录验证码"
        verbose_name_plural = "登录验证码"
        indexes = [models.Index(fields=["phone_hash", "created_at"], name="portal_code_phone_idx")]

    def __str__(self) -> str:
        return f"login code #{self.pk}"


class PatientAccount(models.Model):
    """The phone a patient logs in with, as a keyed hash; one account per phone."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="patient_account",
        verbose_name="用户",
    )
    phone_hash = models.CharField("手机号摘要", max_length=64, unique=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "患者账号"
        verbose_name_plural = "患者账号"

    def __str__(self) -> str:
        return f"patient account of {self.user}"


class BindingAttempt(models.Model):
    """A refused identity binding, counted against the daily limit (stops registry probing)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name="用户"
    )
    at = models.DateTimeField("时间", default=timezone.now)
    code = models.CharField("拒绝原因代码", max_length=40)

    class Meta:
        verbose_name = "实名绑定失败记录"
        verbose_name_plural = "实名绑定失败记录"
        indexes = [models.Index(fields=["user", "at"], name="portal_bind_attempt_idx")]

    def __str__(self) -> str:
        return f"{self.code} at {self.at:%Y-%m-%d %H:%M}"
