"""The notification outbox: one row per recipient and channel, written with the business change."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Channel(models.TextChoices):
    IN_APP = "in_app", "站内消息"
    SMS = "sms", "短信"
    WECHAT = "wechat", "微信模板消息"


class NotificationState(models.TextChoices):
    PENDING = "pending", "待发送"  # queued for the worker
    SENT = "sent", "已发送"  # accepted by the channel (in-app: visible in the inbox)
    FAILED = "failed", "发送失败待重试"  # a retryable failure; the job backs off
    DEAD = "dead", "发送失败"  # permanent failure or attempts used up
    SKIPPED = "skipped", "未发送"  # the channel cannot reach the person (no phone, no openid)


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="接收用户",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    # A patient may have no account yet; the row shows in their inbox once they bind one.
    person = models.ForeignKey(
        "registry.InsuredPerson",
        verbose_name="接收参保人",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    channel = models.CharField("渠道", max_length=10, choices=Channel.choices)
    template_code = models.CharField("模板", max_length=60)
    # The placeholders' display texts, already masked (ID and phone numbers).
    context = models.JSONField("内容参数", default=dict, blank=True)
    title = models.CharField("标题", max_length=120)
    body = models.TextField("正文")
    state = models.CharField(
        "状态", max_length=10, choices=NotificationState.choices, default=NotificationState.PENDING
    )
    attempts = models.PositiveIntegerField("发送次数", default=0)
    provider_message_id = models.CharField("渠道消息号", max_length=100, blank=True)
    last_error = models.CharField("最近错误", max_length=200, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="触发人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)
    read_at = models.DateTimeField("阅读时间", null=True, blank=True)

    class Meta:
        verbose_name = "通知"
        verbose_name_plural = "通知"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(recipient__isnull=False) | Q(person__isnull=False),
                name="notification_has_recipient",
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "channel", "-created_at"]),
            models.Index(fields=["person", "channel", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.template_code} · {self.get_channel_display()} · {self.state}"


class WeChatAccessToken(models.Model):
    """The official account's access token, shared by every worker (each fetch invalidates the
    previous token after a grace period, so workers must not fetch their own)."""

    app_id = models.CharField(max_length=64, unique=True)
    token = models.CharField(max_length=512)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "微信接口令牌"
        verbose_name_plural = "微信接口令牌"

    def __str__(self) -> str:
        return f"{self.app_id} until {self.expires_at:%Y-%m-%d %H:%M}"
