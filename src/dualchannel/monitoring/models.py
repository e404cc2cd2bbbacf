"""Smart-monitoring alerts (智能监控, DESIGN §4): a rule found something an officer should check.

An alert names its rule, the institution concerned and a subject (any row, by type and id); its
evidence holds ids and codes only, never personal data. Officers of the institution's region
confirm or dismiss it; each change is a history row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dualchannel.core.models import StatusHistory
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import StateMachine

from . import error_codes as codes


class AlertSeverity(models.TextChoices):
    INFO = "info", "提示"
    WARNING = "warning", "警告"
    HIGH = "high", "高风险"


class AlertState(models.TextChoices):
    OPEN = "open", "待核查"  # raised by a rule, waiting for an officer
    CONFIRMED = "confirmed", "已确认"  # an officer found a real irregularity
    DISMISSED = "dismissed", "已排除"  # an officer found it harmless; the note says why


class Alert(models.Model):
    rule = models.SlugField("规则", max_length=60)
    severity = models.CharField("严重程度", max_length=10, choices=AlertSeverity.choices)
    # No database constraint: an alert is committed on its own connection while the refused
    # business transaction may still hold a lock on the institution row (monitoring.services).
    institution = models.ForeignKey(
        "registry.Institution",
        verbose_name="涉及机构",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alerts",
        db_constraint=False,
    )
    subject_type = models.CharField("对象类型", max_length=80)
    subject_id = models.CharField("对象ID", max_length=64)
    # Ids, codes and counts only: officers of the region read it.
    evidence = models.JSONField("证据", default=dict, blank=True)
    state = models.CharField(
        "状态", max_length=10, choices=AlertState.choices, default=AlertState.OPEN
    )
    # The same rule firing again on the same subject while open counts here (no new alert).
    occurrences = models.PositiveIntegerField("触发次数", default=1)
    last_raised_at = models.DateTimeField("最近触发时间", default=timezone.now)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="核查人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reviewer_note = models.TextField("核查说明", blank=True)
    reviewed_at = models.DateTimeField("核查时间", null=True, blank=True)
    # The violation finding an officer recorded when confirming it (settlement's 认定编号).
    finding_no = models.CharField("违规认定编号", max_length=40, blank=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "监控预警"
        verbose_name_plural = "监控预警"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject_type", "subject_id"],
                condition=Q(state="open"),
                name="uniq_open_alert_per_rule_subject",
            )
        ]
        indexes = [
            models.Index(fields=["state", "created_at"]),
            models.Index(fields=["institution", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject_type}#{self.subject_id} ({self.state})"


class AlertTransition(StatusHistory):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "预警状态变更"
        verbose_name_plural = "预警状态变更"


# An officer confirms or dismisses an open alert once (``services.alert_review``).
ALERT_MACHINE = StateMachine(
    AlertState,
    {AlertState.OPEN: {AlertState.CONFIRMED, AlertState.DISMISSED}},
    error_code=codes.ALERT_TRANSITION,
    model=Alert,
    field="state",
    history=AlertTransition,
    history_fk="alert",
    audit_action="monitoring.alert_{to}",
    role=lambda actor: Role.ADMIN if actor.is_superuser else Role.AGENCY_OFFICER,
    summary=lambda alert, from_status, to_status: {
        "rule": alert.rule,
        "from": from_status,
        "to": to_status,
    },
    save_fields=(),
)


class MonitoringRule(models.Model):
    """One smart-monitoring rule as data [HB art. 47, AH §2(8), CX art. 30]: the national row
    (no region) holds the default; a province or pooling region overrides it with its own row,
    resolved through the region's ancestors (``rules.rule_resolve``) like a policy profile."""

    region = models.ForeignKey(
        "registry.Region",
        verbose_name="统筹区",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    key = models.SlugField("规则代码", max_length=60)
    name = models.CharField("规则名称", max_length=100)
    article = models.CharField("依据条款", max_length=300)
    enabled = models.BooleanField("启用", default=True)
    severity = models.CharField("严重程度", max_length=10, choices=AlertSeverity.choices)
    # Typed thresholds (``rules.RULE_PARAMS``): ints and decimals as strings, all ≥ 0.
    params = models.JSONField("阈值参数", default=dict, blank=True)
    updated_at = models.DateTimeField("更新时间", default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = "监控规则"
        verbose_name_plural = "监控规则"
        ordering = ["key", "region_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(region__isnull=True), name="uniq_national_rule"
            ),
            models.UniqueConstraint(fields=["region", "key"], name="uniq_regional_rule"),
        ]

    def __str__(self) -> str:
        return f"{self.key}@{self.region_id or 'national'}"
