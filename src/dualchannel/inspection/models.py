"""Spot checks of eligibility cases (抽查) by the agency [HB art. 48].

An officer draws a random sample of a hospital's decided eligibility applications over a period;
the draw is seeded and its seed, population and sample are stored, so that anyone can draw it
again and get the same cases. Each case is checked against a checklist from the seeds, and the
spot check is finished with its report.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dualchannel.core.models import StatusHistory
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import StateMachine

from . import error_codes as codes

# What an officer checks in each sampled case, with the article it comes from.
CHECKLIST = (
    (
        "materials_complete",
        "申请材料齐全有效（申请表、病历或检查资料、身份凭证）",
        "HB art. 7(1)、7(2)",
    ),
    ("criteria_met", "符合用药资格认定条件（责任医师建议、医保部门认定）", "HB art. 7(3)"),
    ("within_time_limit", "在7个工作日内完成备案或复查评估", "HB art. 10"),
    ("forms_signed", "备案申请表等表单已签名并留存", "鄂医保发〔2023〕35号 第七条（附件1 样表）"),
)
CHECKLIST_KEYS = tuple(key for key, _, _ in CHECKLIST)


class SpotCheckStatus(models.TextChoices):
    DRAWN = "drawn", "检查中"  # the sample is drawn; cases are being checked
    FINISHED = "finished", "已完成"  # every case checked; the report stands


class CaseResult(models.TextChoices):
    PENDING = "pending", "未检查"
    COMPLIANT = "compliant", "合规"
    NON_COMPLIANT = "non_compliant", "不合规"


class SpotCheck(models.Model):
    hospital = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="医疗机构"
    )
    period_from = models.DateField("期间起")
    period_to = models.DateField("期间止")
    sample_size = models.PositiveSmallIntegerField("抽取数量")
    seed = models.CharField("随机种子", max_length=40)
    population = models.PositiveIntegerField("总体数量")
    status = models.CharField(
        "状态", max_length=10, choices=SpotCheckStatus.choices, default=SpotCheckStatus.DRAWN
    )
    conclusion = models.TextField("检查结论", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("抽取时间", default=timezone.now)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        verbose_name = "用药资格抽查"
        verbose_name_plural = "用药资格抽查"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.hospital_id} {self.period_from}–{self.period_to}"


class SpotCheckCase(models.Model):
    spot_check = models.ForeignKey(SpotCheck, on_delete=models.CASCADE, related_name="cases")
    application = models.ForeignKey(
        "eligibility.Application", on_delete=models.PROTECT, related_name="+"
    )
    position = models.PositiveSmallIntegerField("序号")
    checklist = models.JSONField("检查项", default=dict, blank=True)  # key -> True / False
    result = models.CharField(
        "结果", max_length=15, choices=CaseResult.choices, default=CaseResult.PENDING
    )
    note = models.TextField("说明", blank=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checked_at = models.DateTimeField("检查时间", null=True, blank=True)

    class Meta:
        verbose_name = "抽查案例"
        verbose_name_plural = "抽查案例"
        ordering = ["spot_check_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["spot_check", "application"], name="uniq_spot_check_case"
            )
        ]

    def __str__(self) -> str:
        return f"{self.spot_check_id}#{self.position}"


class SpotCheckTransition(StatusHistory):
    spot_check = models.ForeignKey(SpotCheck, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "抽查状态变更"
        verbose_name_plural = "抽查状态变更"


SPOT_CHECK_MACHINE = StateMachine(
    SpotCheckStatus,
    {SpotCheckStatus.DRAWN: {SpotCheckStatus.FINISHED}},
    error_code=codes.SPOT_CHECK_TRANSITION,
    model=SpotCheck,
    history=SpotCheckTransition,
    history_fk="spot_check",
    audit_action="inspection.spot_check_{to}",
    role=lambda actor: Role.ADMIN if actor.is_superuser else Role.AGENCY_OFFICER,
    stamp=lambda spot_check, to: {"finished_at": timezone.now()},
)
