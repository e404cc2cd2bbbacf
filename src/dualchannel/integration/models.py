"""Tables of the outbound integration (national platform client, filings).

``PlatformMsgSequence`` (msgid counter), ``PlatformSession`` (sign_no from 9001),
``PlatformCall`` (one row per call, request/response kept in the database only) and
``PlatformFiling`` with its status history. The e-prescription centre has its own call log
``RxCentreCall`` (its service names do not fit ``PlatformCall.infno``). The simulators' tables
live in the ``simulators`` app (demo and tests only).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dualchannel.core.models import StatusHistory
from dualchannel.core.permissions import actor_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import StateMachine

from . import error_codes as codes

# --- national platform client ---------------------------------------------------------------


class PlatformMsgSequence(models.Model):
    """The msgid sequence of one institution: reset every second, locked while incremented."""

    fixmedins_code = models.CharField("定点机构编码", max_length=12, unique=True)
    second = models.CharField("当前秒（yyyyMMddHHmmss）", max_length=14, blank=True)
    value = models.PositiveIntegerField("本秒已用序号", default=0)

    class Meta:
        verbose_name = "报文序号"
        verbose_name_plural = "报文序号"

    def __str__(self) -> str:
        return f"{self.fixmedins_code}@{self.second}#{self.value}"


class PlatformSession(models.Model):
    """A sign-in (9001) of one operator of one institution; reused until the platform refuses it."""

    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.CASCADE, related_name="platform_sessions"
    )
    opter = models.CharField("经办人编号", max_length=30)
    sign_no = models.CharField("签到编号", max_length=30)
    signed_in_at = models.DateTimeField("签到时间", default=timezone.now)
    invalidated_at = models.DateTimeField("失效时间", null=True, blank=True)

    class Meta:
        verbose_name = "平台签到"
        verbose_name_plural = "平台签到"
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "opter"],
                condition=Q(invalidated_at__isnull=True),
                name="uniq_live_platform_session",
            )
        ]

    def __str__(self) -> str:
        return f"{self.institution_id}/{self.opter}"


class PlatformCall(models.Model):
    """One call to the national platform. Request and response stay here, never in log files."""

    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="platform_calls"
    )
    infno = models.CharField("交易编号", max_length=5)
    msgid = models.CharField("报文ID", max_length=30, unique=True)
    idempotency_key = models.CharField("幂等键", max_length=80, blank=True)
    request_digest = models.CharField("请求摘要（SHA-256）", max_length=64)
    request = models.JSONField("请求报文", default=dict)
    response = models.JSONField("应答报文", null=True, blank=True)
    # "0" success, "-1" refused by the platform, "" when no answer came (transport failure).
    infcode = models.CharField("交易状态码", max_length=10, blank=True)
    err_msg = models.TextField("错误信息", blank=True)
    retryable = models.BooleanField("可重试", default=False)
    duration_ms = models.PositiveIntegerField("耗时（毫秒）", default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "平台调用记录"
        verbose_name_plural = "平台调用记录"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["institution", "infno", "idempotency_key"])]
        constraints = [
            # A key succeeds once: a repeat returns the stored answer instead of calling again.
            models.UniqueConstraint(
                fields=["institution", "infno", "idempotency_key"],
                condition=Q(infcode="0") & ~Q(idempotency_key=""),
                name="uniq_platform_call_success_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.infno} {self.msgid} → {self.infcode or '无应答'}"

    @property
    def succeeded(self) -> bool:
        return self.infcode == "0"


class FilingKind(models.TextChoices):
    FILE = "2503", "备案（2503）"
    CANCEL = "2504", "撤销备案（2504）"


class FilingStatus(models.TextChoices):
    PENDING = "pending", "待发送"  # recorded, not yet sent
    SENT = "sent", "发送中"  # claimed for one attempt (committed), the platform is being called
    ACCEPTED = "accepted", "已受理"  # the platform answered infcode 0
    FAILED = "failed", "发送失败（将重试）"  # a retryable failure; retried with the same key
    DEAD = "dead", "发送失败（需人工处理）"  # refused for good or retries exhausted
    CANCELLED = "cancelled", "已撤销"  # an accepted 2503 later cancelled by an accepted 2504


class PlatformFiling(models.Model):
    """A 2503 filing (or its 2504 cancellation) of any subject, e.g. a granted eligibility."""

    kind = models.CharField("类型", max_length=4, choices=FilingKind.choices)
    subject_type = models.CharField("业务对象类型", max_length=80)
    subject_id = models.CharField("业务对象ID", max_length=64)
    person = models.ForeignKey(
        "registry.InsuredPerson", on_delete=models.PROTECT, related_name="platform_filings"
    )
    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="platform_filings"
    )
    # For a 2504: the accepted 2503 filing it cancels.
    target = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="cancellations"
    )
    input = models.JSONField("报文输入", default=dict)
    status = models.CharField(
        "状态", max_length=12, choices=FilingStatus.choices, default=FilingStatus.PENDING
    )
    idempotency_key = models.CharField("幂等键", max_length=80, unique=True)
    trt_dcla_detl_sn = models.CharField("待遇申报明细流水号", max_length=50, blank=True)
    attempts = models.PositiveSmallIntegerField("发送次数", default=0)
    last_error = models.TextField("最近错误", blank=True)
    last_infcode = models.CharField("最近交易状态码", max_length=10, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField("受理时间", null=True, blank=True)
    # Set when the subject ended before the platform accepted this 2503: once accepted, a 2504
    # follows automatically with this reason.
    cancel_reason = models.TextField("待撤销原因", blank=True)
    # Who made the latest attempt: ``job:<id>:<attempt>`` for a run of a worker's job (``job:<id>``
    # before runs were told apart), ``call:<random>`` for a person's request. A job that finds its
    # own claim still sent (its worker died during the call) sends again with the same key; a
    # rerun that finds its previous run's attempt recorded backs off before sending again.
    claimed_by = models.CharField("最近发送方", max_length=40, blank=True)

    class Meta:
        verbose_name = "医保平台备案"
        verbose_name_plural = "医保平台备案"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"]),
            models.Index(fields=["status"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status}"


class PlatformFilingTransition(StatusHistory):
    filing = models.ForeignKey(PlatformFiling, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "备案状态变更"
        verbose_name_plural = "备案状态变更"


def filing_sender_role(actor) -> str:
    """The role a filing's event is recorded under (``core.permissions.actor_role``): admin for a
    superuser, else the first of officer, reviewer, admin held."""
    return actor_role(actor, Role.AGENCY_OFFICER, Role.REVIEWER, Role.ADMIN)


def _filing_stamp(filing: PlatformFiling, to_status: str) -> dict:
    now = timezone.now()
    return {
        "updated_at": now,
        **({"accepted_at": now} if to_status == FilingStatus.ACCEPTED else {}),
    }


_F = FilingStatus
FILING_MACHINE = StateMachine(
    FilingStatus,
    {
        _F.PENDING: {_F.SENT, _F.CANCELLED},  # withdrawn before it was ever sent
        _F.SENT: {_F.ACCEPTED, _F.FAILED, _F.DEAD, _F.SENT},  # sent again: its sender was lost
        _F.FAILED: {_F.SENT, _F.DEAD},
        _F.DEAD: {_F.SENT, _F.FAILED},  # a person retries (failed: queued for the worker)
        _F.ACCEPTED: {_F.CANCELLED},  # an accepted 2504 cancels its 2503
    },
    error_code=codes.FILING_TRANSITION,
    model=PlatformFiling,
    history=PlatformFilingTransition,
    history_fk="filing",
    audit_action="integration.filing_{to}",
    role=filing_sender_role,
    patient=lambda filing: filing.person,
    summary=lambda filing, from_status, to_status: {
        "kind": filing.kind,
        "from": from_status,
        "to": to_status,
    },
    stamp=_filing_stamp,
)


# --- e-prescription centre (医保电子处方中心): client call log ---------------------------------


class RxCentreCall(models.Model):
    """One call to the e-prescription centre. Request and answer stay here, never in log files."""

    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="rx_centre_calls"
    )
    api = models.CharField("服务名", max_length=40)
    opter = models.CharField("经办人编号", max_length=30, blank=True)
    idempotency_key = models.CharField("幂等键", max_length=80, blank=True)
    # 医保处方编号 the call concerns, when known (to list the calls of one prescription).
    hi_rxno = models.CharField("医保处方编号", max_length=40, blank=True, db_index=True)
    request_digest = models.CharField("请求摘要（SHA-256）", max_length=64)
    request = models.JSONField("请求报文", default=dict)
    response = models.JSONField("应答报文", null=True, blank=True)
    # 0 success, non-zero refused by the centre, null when no answer came (transport failure).
    code = models.IntegerField("应答码", null=True, blank=True)
    message = models.TextField("应答信息", blank=True)
    retryable = models.BooleanField("可重试", default=False)
    duration_ms = models.PositiveIntegerField("耗时（毫秒）", default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "电子处方中心调用记录"
        verbose_name_plural = "电子处方中心调用记录"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["institution", "api", "idempotency_key"])]
        constraints = [
            # A key succeeds once: a repeat returns the stored answer instead of calling again.
            models.UniqueConstraint(
                fields=["institution", "api", "idempotency_key"],
                condition=Q(code=0) & ~Q(idempotency_key=""),
                name="uniq_rx_centre_call_success_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.api} → {'无应答' if self.code is None else self.code}"

    @property
    def succeeded(self) -> bool:
        return self.code == 0
