"""Users, roles, API tokens and the hash-chained audit ledger."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from .roles import Role


class User(AbstractUser):
    """A person who logs in. Staff belong to one institution; patients to an insured person."""

    display_name = models.CharField("姓名", max_length=50, blank=True)
    institution = models.ForeignKey(
        "registry.Institution",
        verbose_name="所属机构",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )
    # WeChat official-account openid, for template messages to patients (bound in the H5 portal).
    wechat_openid = models.CharField("微信 openid", max_length=64, blank=True)
    insured_person = models.OneToOneField(
        "registry.InsuredPerson",
        verbose_name="绑定参保人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="user",
    )
    # Demo users sign in without the second factor; honoured only while DEMO_MODE is on.
    otp_exempt = models.BooleanField("演示账号免动态口令", default=False, editable=False)

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户"
        constraints = [
            # One WeChat user (openid) reaches one account: template messages go to one person.
            models.UniqueConstraint(
                fields=["wechat_openid"],
                condition=~models.Q(wechat_openid=""),
                name="uniq_user_wechat_openid",
            )
        ]

    @property
    def role_set(self) -> frozenset[str]:
        cached = getattr(self, "_role_cache", None)
        if cached is None:
            cached = frozenset(self.role_grants.values_list("role", flat=True))
            self._role_cache = cached
        return cached

    def remember_roles(self, roles: Iterable[str]) -> None:
        """The roles as read together with this user (e.g. by the API token's statement), so
        that ``role_set`` does not read them again for this instance."""
        self._role_cache = frozenset(roles)

    def has_role(self, role: str) -> bool:
        return role in self.role_set

    def __str__(self) -> str:
        return self.display_name or self.username


class RoleGrant(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField("角色", max_length=20, choices=Role.choices)
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "角色授权"
        verbose_name_plural = "角色授权"
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="uniq_role_grant")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class ApiToken(models.Model):
    """A bearer token for the JSON API; only its SHA-256 digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API 令牌"
        verbose_name_plural = "API 令牌"

    def __str__(self) -> str:
        return f"token #{self.pk} of {self.user}"

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User) -> tuple[ApiToken, str]:
        raw = secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            digest=cls.digest_of(raw),
            expires_at=timezone.now() + timedelta(hours=settings.API_TOKEN_TTL_HOURS),
        )
        return token, raw


class AuditChainHead(models.Model):
    """The last link of one audit stream; locked while an event is appended."""

    stream = models.CharField(max_length=64, unique=True)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        verbose_name = "审计链头"
        verbose_name_plural = "审计链头"

    def __str__(self) -> str:
        return f"{self.stream}@{self.last_seq}"


class AuditEvent(models.Model):
    """One business write, chained to the previous event of its stream by HMAC-SHA256.

    Append-only: never updated or deleted by the application; on PostgreSQL a trigger refuses
    UPDATE, DELETE and TRUNCATE (see ``core.audit``).
    """

    stream = models.CharField(max_length=64)
    seq = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=20, blank=True)
    institution = models.ForeignKey(
        "registry.Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=80)
    subject_type = models.CharField(max_length=80)
    subject_id = models.CharField(max_length=64)
    patient = models.ForeignKey(
        "registry.InsuredPerson",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    before_digest = models.CharField(max_length=64, blank=True)
    after_digest = models.CharField(max_length=64, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # Which AUDIT_HMAC_KEYS entry keyed ``hash`` (kept so that keys can rotate).
    key_id = models.CharField(max_length=16, default="")

    class Meta:
        verbose_name = "审计事件"
        verbose_name_plural = "审计事件"
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="uniq_audit_stream_seq")
        ]
        indexes = [
            models.Index(fields=["patient", "occurred_at"]),
            models.Index(fields=["subject_type", "subject_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.stream}#{self.seq} {self.action}"


class StatusRecord(models.Model):
    """A status change as recorded: from, to, who, why, when. ``StatusHistory`` is the one of a
    state machine this product runs; a status taken from elsewhere as it comes (the platform's
    benefit status, ``registry.BenefitStatusChange``) records the same facts without being one."""

    from_status = models.CharField("原状态", max_length=32, blank=True)
    to_status = models.CharField("新状态", max_length=32)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField("原因", blank=True)
    at = models.DateTimeField("时间", default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["at", "id"]


class StatusHistory(StatusRecord):
    """Base of every status-history table: one row per transition (from, to, actor, reason)."""

    class Meta(StatusRecord.Meta):
        abstract = True


class CalendarYear(models.Model):
    """A year of the statutory calendar loaded by the agency (State Council holiday notice).

    Loaded years override the ``chinese-calendar`` package, which knows years up to 2026.
    """

    year = models.PositiveSmallIntegerField("年度", primary_key=True)
    document_no = models.CharField("依据文件", max_length=100)
    loaded_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "节假日安排年度"
        verbose_name_plural = "节假日安排年度"

    def __str__(self) -> str:
        return f"{self.year}（{self.document_no}）"


class CalendarDay(models.Model):
    """A day that differs from the Monday-to-Friday rule: a holiday or a make-up working day."""

    date = models.DateField("日期", primary_key=True)
    calendar_year = models.ForeignKey(CalendarYear, on_delete=models.CASCADE, related_name="days")
    is_working_day = models.BooleanField("是否工作日")
    name = models.CharField("名称", max_length=30, blank=True)

    class Meta:
        verbose_name = "节假日调整"
        verbose_name_plural = "节假日调整"
        ordering = ["date"]

    def __str__(self) -> str:
        kind = "调休上班" if self.is_working_day else "放假"
        return f"{self.date} {self.name}{kind}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "排队中"  # waiting for run_after
    RUNNING = "running", "执行中"  # claimed by a worker until locked_until (the lease)
    RETRY = "retry", "失败待重试"  # failed; runs again after run_after (back-off)
    DONE = "done", "已完成"  # the handler committed
    DEAD = "dead", "已放弃"  # failed max_attempts times or permanently; needs a person


class Job(models.Model):
    """A durable unit of background work (DESIGN §8): stored in the database, no broker needed.

    Written in the caller's transaction by ``core.jobs.enqueue``, so it exists iff the business
    change commits; claimed by workers with a lease (``core.jobs.run_once``).
    """

    kind = models.CharField("类型", max_length=100)
    # Ids and codes only, never personal data: payloads are read by operators and workers.
    payload = models.JSONField("参数", default=dict, blank=True)
    status = models.CharField(
        "状态", max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    attempts = models.PositiveIntegerField("已尝试次数", default=0)
    max_attempts = models.PositiveIntegerField("最多尝试次数", default=8)
    run_after = models.DateTimeField("最早执行时间", default=timezone.now)
    locked_by = models.CharField("执行者", max_length=100, blank=True)
    locked_until = models.DateTimeField("租约到期", null=True, blank=True)
    # Exception type and a non-personal code only (see core.jobs.safe_error).
    last_error = models.CharField("最近错误", max_length=200, blank=True)
    idempotency_key = models.CharField("幂等键", max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    # Whose job it is (its kind's ``institution_of``): their staff see it when it fails.
    institution = models.ForeignKey(
        "registry.Institution",
        verbose_name="所属机构",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    # Not stored: ``core.jobs.claim`` sets it on the run whose previous run's worker died (its
    # lease expired with the job still running), so a handler can tell a rerun from a back-off.
    resumed: bool = False

    class Meta:
        verbose_name = "后台任务"
        verbose_name_plural = "后台任务"
        indexes = [models.Index(fields=["status", "run_after"], name="core_job_claim_idx")]

    def __str__(self) -> str:
        return f"{self.kind}#{self.pk} ({self.status})"


class ScheduledTask(models.Model):
    """The schedule of one periodic task (``core.jobs.periodic``), shared by all workers."""

    name = models.CharField("名称", max_length=100, unique=True)
    next_run_at = models.DateTimeField("下次执行")
    last_run_at = models.DateTimeField("上次执行", null=True, blank=True)

    class Meta:
        verbose_name = "定时任务"
        verbose_name_plural = "定时任务"

    def __str__(self) -> str:
        return self.name


class ReferenceVersion(models.Model):
    """How many writes a reference table has had (``core.refcache``): a trigger on each watched
    table moves its row in the writer's transaction, so a worker's cache of that table's rows
    is stale exactly when this number has moved since it read them."""

    name = models.CharField("表名", max_length=100, primary_key=True)
    version = models.BigIntegerField("版本", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "参考数据版本"

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
