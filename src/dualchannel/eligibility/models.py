"""First-time eligibility (DESIGN §4, §5.1; HB art. 6–11): the application, its evidence, the grant.

An ``Application`` is the physician's request for a patient's right to a drug under the
dual-channel scheme; its ``Material`` rows are the evidence (pulled from the hospital's own
systems, uploaded by the patient, or scanned by the reviewer); an approved application creates
one ``Eligibility``, in force from the approval date [HB art. 8].
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dualchannel.catalog.models import MaterialKind
from dualchannel.core.models import StatusHistory
from dualchannel.core.statemachine import StateMachine

from . import error_codes as codes


class ApplicationStatus(models.TextChoices):
    DRAFT = "draft", "草稿"  # the physician is preparing it; may be ineligible for now
    SUBMITTED = "submitted", "已提交"  # signed and filed; materials being pulled
    MATERIALS_REQUESTED = "materials_requested", "待补充材料"  # told once what is missing
    UNDER_REVIEW = "under_review", "审核中"  # complete: the 7-working-day clock runs [HB art. 10]
    APPROVED = "approved", "已通过"  # eligibility granted [HB art. 8]
    REJECTED = "rejected", "未通过"  # refused with a reason
    WITHDRAWN = "withdrawn", "已撤回"  # withdrawn by the physician or the patient


OPEN_STATUSES = (
    ApplicationStatus.DRAFT,
    ApplicationStatus.SUBMITTED,
    ApplicationStatus.MATERIALS_REQUESTED,
    ApplicationStatus.UNDER_REVIEW,
)


class ApplicationNumberSequence(models.Model):
    """The last sequence number issued on a day (application numbers SQ + date + sequence)."""

    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "申请号序列"
        verbose_name_plural = "申请号序列"

    def __str__(self) -> str:
        return f"{self.day}: {self.last}"


class Application(models.Model):
    """A first-time eligibility application for one patient and one drug."""

    application_no = models.CharField("申请号", max_length=20, unique=True)
    patient = models.ForeignKey(
        "registry.InsuredPerson",
        on_delete=models.PROTECT,
        related_name="eligibility_applications",
        verbose_name="参保人",
    )
    drug = models.ForeignKey(
        "catalog.Drug", on_delete=models.PROTECT, related_name="+", verbose_name="药品"
    )
    # ICD-10 医保版2.0
    diagnosis_code = models.CharField("诊断编码", max_length=30)
    diagnosis_name = models.CharField("诊断名称", max_length=200)
    # The binding [HB art. 6 three-fixed; P §1.1 five-fixed: certifying vs treating].
    binding_mode = models.CharField("绑定方式", max_length=20, blank=True)
    hospital = models.ForeignKey(
        "registry.Institution",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="认定医疗机构",
    )
    physician = models.ForeignKey(
        "registry.Physician", on_delete=models.PROTECT, related_name="+", verbose_name="责任医师"
    )
    pharmacy = models.ForeignKey(
        "registry.Institution",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="定点零售药店",
    )
    treating_hospital = models.ForeignKey(
        "registry.Institution",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="治疗医疗机构",
    )
    treating_physician = models.ForeignKey(
        "registry.Physician",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="治疗医师",
    )
    # The set in force for the hospital's region when the draft was made.
    criteria_set = models.ForeignKey(
        "catalog.CriteriaSet", on_delete=models.PROTECT, related_name="+", verbose_name="认定条件"
    )
    status = models.CharField(
        "状态",
        max_length=24,
        choices=ApplicationStatus.choices,
        default=ApplicationStatus.DRAFT,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    submitted_at = models.DateTimeField("提交时间", null=True, blank=True)
    # Materials asked for (all missing kinds at once [HB art. 7(2)], or named by the reviewer).
    requested_material_kinds = models.JSONField("需补充材料", default=list, blank=True)
    materials_requested_at = models.DateTimeField("告知补正时间", null=True, blank=True)
    materials_note = models.TextField("补正说明", blank=True)
    materials_deadline = models.DateField("补正期限", null=True, blank=True)
    complete_on = models.DateField("材料齐全日期", null=True, blank=True)
    review_due = models.DateField("审核截止日期", null=True, blank=True)  # HB art. 10
    decided_at = models.DateTimeField("办结时间", null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField("办理意见", blank=True)
    # Treatment plan (DESIGN §4 TreatmentPlan)
    dose = models.CharField("单次剂量", max_length=50, blank=True)
    frequency = models.CharField("用药频次", max_length=50, blank=True)
    route = models.CharField("给药途径", max_length=50, blank=True)
    total_quantity = models.DecimalField(
        "总药量", max_digits=12, decimal_places=2, null=True, blank=True
    )
    quantity_unit = models.CharField("总药量单位", max_length=20, blank=True)
    period_start = models.DateField("方案开始日期", null=True, blank=True)
    period_end = models.DateField("方案结束日期", null=True, blank=True)
    evaluation_cycle_days = models.PositiveIntegerField("复查评估周期（天）", null=True, blank=True)
    # The signed forms (documents app), set on submit.
    application_form = models.ForeignKey(
        "documents.SignedDocument",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    treatment_plan_document = models.ForeignKey(
        "documents.SignedDocument",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = "用药资格申请"
        verbose_name_plural = "用药资格申请"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["hospital", "status"]),
            models.Index(fields=["patient", "drug"]),
        ]

    def __str__(self) -> str:
        return self.application_no

    @property
    def has_plan(self) -> bool:
        return bool(
            self.dose
            and self.frequency
            and self.route
            and self.total_quantity is not None
            and self.period_start
            and self.period_end
            and self.evaluation_cycle_days
        )


class ApplicationTransition(StatusHistory):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "申请状态变更"
        verbose_name_plural = "申请状态变更"


_A = ApplicationStatus
APPLICATION_MACHINE = StateMachine(
    ApplicationStatus,
    {
        _A.DRAFT: {_A.SUBMITTED, _A.WITHDRAWN},
        _A.SUBMITTED: {_A.MATERIALS_REQUESTED, _A.UNDER_REVIEW, _A.WITHDRAWN},
        # the patient's uploads complete the case
        _A.MATERIALS_REQUESTED: {_A.UNDER_REVIEW, _A.WITHDRAWN},
        # the reviewer decides, or names the materials still needed
        _A.UNDER_REVIEW: {_A.APPROVED, _A.REJECTED, _A.MATERIALS_REQUESTED, _A.WITHDRAWN},
    },
    error_code=codes.TRANSITION,
    model=Application,
    history=ApplicationTransition,
    history_fk="application",
    audit_action="eligibility.application_{to}",
    patient=lambda application: application.patient,
    summary=lambda application, from_status, to_status: {
        "application_no": application.application_no,
        "from": from_status,
        "to": to_status,
    },
)


class CriterionAnswer(models.Model):
    """The physician's yes/no to an attestation criterion of the application's set."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="answers")
    code = models.SlugField("条件代码", max_length=50)
    answer = models.BooleanField("回答")
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "医师确认项"
        verbose_name_plural = "医师确认项"
        constraints = [
            models.UniqueConstraint(fields=["application", "code"], name="uniq_answer_code")
        ]

    def __str__(self) -> str:
        return f"{self.code}={self.answer}"


class CriterionOutcome(models.Model):
    """The evaluation of one criterion as it stood when the application was submitted."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="outcomes")
    position = models.PositiveSmallIntegerField("序号", default=0)
    code = models.SlugField("条件代码", max_length=50)
    kind = models.CharField("类型", max_length=12)
    group = models.CharField("备选组", max_length=50, blank=True)
    text = models.TextField("条件（政策原文）")
    outcome = models.CharField("结果", max_length=10)  # met | not_met | unknown
    evidence = models.JSONField("依据", default=dict, blank=True)

    class Meta:
        verbose_name = "认定条件结果"
        verbose_name_plural = "认定条件结果"
        ordering = ["application_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["application", "code"], name="uniq_outcome_code")
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.outcome}"


class MaterialSource(models.TextChoices):
    HIS = "his", "医院信息系统调取"
    PATIENT_UPLOAD = "patient_upload", "患者上传"
    REVIEWER_SCAN = "reviewer_scan", "审核员扫描"


class VerificationState(models.TextChoices):
    UNVERIFIED = "unverified", "待核验"  # uploaded, not yet checked by the reviewer
    VERIFIED = "verified", "已核验"  # checked (HIS pulls: verified on pull, own system)
    REJECTED = "rejected", "不予采信"  # illegible, wrong person, unqualified lab…


def _material_path(instance: Material, filename: str) -> str:
    # Under MEDIA_ROOT, outside the web root; served only through the API to those in scope.
    return f"materials/{timezone.localdate():%Y/%m}/{filename}"


class Material(models.Model):
    """One piece of evidence of an application, with its file and checksum."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="materials")
    kind = models.CharField("材料类型", max_length=30, choices=MaterialKind.choices)
    source = models.CharField("来源", max_length=20, choices=MaterialSource.choices)
    title = models.CharField("名称", max_length=200)
    issuer = models.CharField("出具机构", max_length=200, blank=True)
    issued_at = models.DateTimeField("出具时间", null=True, blank=True)
    source_system = models.CharField("来源系统", max_length=100, blank=True)
    source_id = models.CharField("来源编号", max_length=100, blank=True)
    file = models.FileField("文件", upload_to=_material_path, max_length=200)
    mime_type = models.CharField("文件类型", max_length=100)
    size = models.PositiveIntegerField("大小（字节）")
    sha256 = models.CharField("SHA-256", max_length=64)
    received_at = models.DateTimeField("调取/上传时间", default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verification_state = models.CharField(
        "核验状态",
        max_length=12,
        choices=VerificationState.choices,
        default=VerificationState.UNVERIFIED,
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField("核验时间", null=True, blank=True)
    verification_note = models.TextField("核验说明", blank=True)

    class Meta:
        verbose_name = "申请材料"
        verbose_name_plural = "申请材料"
        ordering = ["application_id", "received_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}：{self.title}"


class EligibilityStatus(models.TextChoices):
    ACTIVE = "active", "有效"  # benefits may be used
    IN_REEVALUATION = "in_reevaluation", "复查评估中"  # HB art. 9: benefits continue meanwhile
    SUSPENDED = "suspended", "暂停"  # e.g. re-evaluation overdue
    STOPPED = "stopped", "终止"  # no longer meets the criteria, or replaced
    # HB art. 12: obtained or used by fraud; benefits end at once and what was paid is recovered
    REVOKED = "revoked", "已取消（欺诈骗保）"


class RevocationKind(models.TextChoices):
    """HB art. 12 and the fund-supervision regulation: the frauds that end an eligibility."""

    FORGED_DOCUMENTS = "forged_documents", "伪造、变更或变造医疗文书"
    RESALE = "resale", "倒卖药品"
    CREDENTIAL_LENDING = "credential_lending", "出借医保凭证"


class EligibilitySource(models.TextChoices):
    APPLICATION = "application", "用药资格申请"
    # HB art. 49: granted before the platform under the enrolment region's earlier procedure
    IMPORTED = "imported", "既有资格导入"


LIVE_ELIGIBILITY = (
    EligibilityStatus.ACTIVE,
    EligibilityStatus.IN_REEVALUATION,
    EligibilityStatus.SUSPENDED,
)


class Eligibility(models.Model):
    """A granted right to one drug, bound to a hospital, physician and (three-fixed) pharmacy."""

    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="eligibility"
    )
    patient = models.ForeignKey(
        "registry.InsuredPerson", on_delete=models.PROTECT, related_name="eligibilities"
    )
    drug = models.ForeignKey("catalog.Drug", on_delete=models.PROTECT, related_name="+")
    hospital = models.ForeignKey("registry.Institution", on_delete=models.PROTECT, related_name="+")
    physician = models.ForeignKey("registry.Physician", on_delete=models.PROTECT, related_name="+")
    pharmacy = models.ForeignKey(
        "registry.Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        "状态", max_length=20, choices=EligibilityStatus.choices, default=EligibilityStatus.ACTIVE
    )
    effective_from = models.DateField("生效日期")  # HB art. 8: from the approval date
    next_reevaluation_due = models.DateField("下次复查评估截止日", null=True, blank=True)
    plan_total_quantity = models.DecimalField("方案总药量", max_digits=12, decimal_places=2)
    plan_used_quantity = models.DecimalField(
        "已使用药量", max_digits=12, decimal_places=2, default=0
    )
    filing = models.ForeignKey(
        "integration.PlatformFiling",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    filing_note = models.CharField("备案说明", max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(
        "来源",
        max_length=12,
        choices=EligibilitySource.choices,
        default=EligibilitySource.APPLICATION,
    )
    import_batch = models.ForeignKey(
        "EligibilityImport",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="eligibilities",
        verbose_name="导入批次",
    )
    # HB art. 12: revocation for fraud, with its reason and evidence
    revocation_kind = models.CharField(
        "取消情形", max_length=20, choices=RevocationKind.choices, blank=True
    )
    revocation_reason = models.CharField("取消理由", max_length=500, blank=True)
    revocation_evidence = models.CharField("证据说明", max_length=2000, blank=True)
    revocation_file = models.FileField(
        "证据文件", upload_to="revocations/%Y/%m/", max_length=200, blank=True
    )
    revocation_file_sha256 = models.CharField("证据文件SHA-256", max_length=64, blank=True)
    fraud_from = models.DateField("欺诈行为起始日期", null=True, blank=True)
    revoked_at = models.DateTimeField("取消时间", null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = "用药资格"
        verbose_name_plural = "用药资格"
        ordering = ["-effective_from", "-id"]
        constraints = [
            # HB art. 8: adding or changing a drug is a new application; one live right per drug.
            models.UniqueConstraint(
                fields=["patient", "drug"],
                condition=Q(status__in=["active", "in_reevaluation", "suspended"]),
                name="uniq_live_eligibility_per_drug",
            ),
            models.CheckConstraint(
                condition=Q(plan_used_quantity__gte=0)
                & Q(plan_used_quantity__lte=models.F("plan_total_quantity")),
                name="eligibility_used_within_plan",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.drug} · {self.get_status_display()}"


class EligibilityTransition(StatusHistory):
    eligibility = models.ForeignKey(Eligibility, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "用药资格状态变更"
        verbose_name_plural = "用药资格状态变更"


_E = EligibilityStatus
ELIGIBILITY_MACHINE = StateMachine(
    EligibilityStatus,
    {
        # the physician starts a re-evaluation; the overdue job suspends; a stop ends it
        # an officer revokes for fraud from any state [HB art. 12]
        _E.ACTIVE: {_E.IN_REEVALUATION, _E.SUSPENDED, _E.STOPPED, _E.REVOKED},
        # HB art. 9: continue / adjust → active again; stop → ends
        _E.IN_REEVALUATION: {_E.ACTIVE, _E.STOPPED, _E.REVOKED},
        # a late re-evaluation may restore a suspended eligibility
        _E.SUSPENDED: {_E.IN_REEVALUATION, _E.STOPPED, _E.REVOKED},
        # HB art. 12: fraud found later still revokes a stopped one (and recovers what was paid)
        _E.STOPPED: {_E.REVOKED},
    },
    error_code=codes.TRANSITION,
    model=Eligibility,
    history=EligibilityTransition,
    history_fk="eligibility",
    audit_action="eligibility.eligibility_{to}",
    patient=lambda eligibility: eligibility.patient,
    reason_max=2000,
)


class ReevaluationResult(models.TextChoices):
    """HB annex 2: the three results of a re-evaluation."""

    CONTINUE = "continue", "继续原方案"
    ADJUST = "adjust", "调整用药方案"
    STOP = "stop", "停止使用"


class Reevaluation(models.Model):
    """One re-evaluation of an eligibility [HB art. 9], recorded on the signed 复查评估表.

    Started by a physician of the eligibility's hospital (benefits continue meanwhile),
    completed with a result; ``completed_at`` is empty while it is in progress.
    """

    eligibility = models.ForeignKey(
        Eligibility, on_delete=models.CASCADE, related_name="reevaluations"
    )
    due_date = models.DateField("复查评估截止日")
    window_opens = models.DateField("复查评估窗口开始日", null=True, blank=True)
    # HB art. 10: the hospital completes a re-evaluation within 7 working days of its start.
    complete_by = models.DateField("应完成日期", null=True, blank=True)
    started_at = models.DateTimeField("开始时间", default=timezone.now)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    physician = models.ForeignKey(
        "registry.Physician", on_delete=models.PROTECT, related_name="+", verbose_name="复查医师"
    )
    # Started after the deadline, on a suspended eligibility.
    late = models.BooleanField("逾期复查", default=False)
    result = models.CharField(
        "复查评估结果", max_length=10, choices=ReevaluationResult.choices, blank=True
    )
    assessment = models.TextField("复查评估情况", blank=True)
    # The adjusted plan (result "adjust").
    dose = models.CharField("单次剂量", max_length=50, blank=True)
    frequency = models.CharField("用药频次", max_length=50, blank=True)
    route = models.CharField("给药途径", max_length=50, blank=True)
    total_quantity = models.DecimalField(
        "总药量", max_digits=12, decimal_places=2, null=True, blank=True
    )
    quantity_unit = models.CharField("总药量单位", max_length=20, blank=True)
    period_start = models.DateField("方案开始日期", null=True, blank=True)
    period_end = models.DateField("方案结束日期", null=True, blank=True)
    evaluation_cycle_days = models.PositiveIntegerField("复查评估周期（天）", null=True, blank=True)
    stop_reason = models.TextField("停止使用原因", blank=True)
    next_due = models.DateField("下次复查评估截止日", null=True, blank=True)
    form = models.ForeignKey(
        "documents.SignedDocument",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="复查评估表",
    )
    # The 2504 cancellation sent when the result is "stop" (or a note why none was needed).
    cancel_filing = models.ForeignKey(
        "integration.PlatformFiling",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    filing_note = models.CharField("撤销备案说明", max_length=200, blank=True)
    completed_at = models.DateTimeField("完成时间", null=True, blank=True)
    completed_on = models.DateField("复查评估日期", null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = "复查评估"
        verbose_name_plural = "复查评估"
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["eligibility"],
                condition=Q(completed_at__isnull=True),
                name="uniq_open_reevaluation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.eligibility_id} · {self.due_date}"


class ReevaluationReminder(models.Model):
    """The window-open reminder sent for one due date of an eligibility (once per due date)."""

    eligibility = models.ForeignKey(
        Eligibility, on_delete=models.CASCADE, related_name="reevaluation_reminders"
    )
    due_date = models.DateField("复查评估截止日")
    window_opens = models.DateField("复查评估窗口开始日")
    sent_at = models.DateTimeField("提醒时间", default=timezone.now)

    class Meta:
        verbose_name = "复查评估提醒"
        verbose_name_plural = "复查评估提醒"
        constraints = [
            models.UniqueConstraint(
                fields=["eligibility", "due_date"], name="uniq_reevaluation_reminder"
            )
        ]

    def __str__(self) -> str:
        return f"{self.eligibility_id} · {self.due_date}"


class EligibilityImport(models.Model):
    """One all-or-nothing import of a region's existing eligibility register [HB art. 49]."""

    import_no = models.CharField("导入批次号", max_length=40, unique=True)
    region = models.ForeignKey(
        "registry.Region", on_delete=models.PROTECT, related_name="+", verbose_name="经办区域"
    )
    filename = models.CharField("文件名", max_length=200)
    sha256 = models.CharField("文件SHA-256", max_length=64)
    rows = models.PositiveIntegerField("导入条数")
    persons_created = models.PositiveIntegerField("新登记参保人数", default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField("导入时间", default=timezone.now)

    class Meta:
        verbose_name = "既有用药资格导入"
        verbose_name_plural = "既有用药资格导入"
        ordering = ["-imported_at", "-id"]

    def __str__(self) -> str:
        return self.import_no


class FilingRequestStatus(models.TextChoices):
    """The patient's own request for a filing [HB art. 7(1)], pushed to the hospital [art. 7(3)]."""

    SUBMITTED = "submitted", "待医师受理"  # in the hospital's responsible physicians' queue
    TAKEN = "taken", "医师办理中"  # one responsible physician took it (row lock: only one)
    COMPLETED = "completed", "已转为用药资格申请"  # the physician made it an application
    DECLINED = "declined", "医院未受理"  # declined with a reason the patient reads
    WITHDRAWN = "withdrawn", "已撤回"  # withdrawn by the patient before it was completed


OPEN_FILING_REQUESTS = (FilingRequestStatus.SUBMITTED, FilingRequestStatus.TAKEN)


class PatientFilingRequest(models.Model):
    """A patient's online request for a drug at a treating hospital [HB art. 7(1)(3)]; the
    hospital must finish the filing within its working-day limit of the request [HB art. 10]."""

    patient = models.ForeignKey(
        "registry.InsuredPerson",
        on_delete=models.PROTECT,
        related_name="filing_requests",
        verbose_name="参保人",
    )
    drug = models.ForeignKey(
        "catalog.Drug", on_delete=models.PROTECT, related_name="+", verbose_name="药品"
    )
    hospital = models.ForeignKey(
        "registry.Institution",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="就诊医疗机构",
    )
    note = models.CharField("患者说明", max_length=500, blank=True)
    status = models.CharField(
        "状态",
        max_length=12,
        choices=FilingRequestStatus.choices,
        default=FilingRequestStatus.SUBMITTED,
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField("提交时间", default=timezone.now)
    due_on = models.DateField("应办结日期")  # HB art. 10: working days from the request
    taken_by = models.ForeignKey(
        "registry.Physician",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="受理医师",
    )
    taken_at = models.DateTimeField("受理时间", null=True, blank=True)
    decided_at = models.DateTimeField("办结时间", null=True, blank=True)
    decline_reason = models.CharField("未受理原因", max_length=500, blank=True)
    application = models.OneToOneField(
        Application,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="filing_request",
        verbose_name="用药资格申请",
    )

    class Meta:
        verbose_name = "患者备案申请"
        verbose_name_plural = "患者备案申请"
        ordering = ["submitted_at", "id"]
        indexes = [models.Index(fields=["hospital", "status"])]
        constraints = [
            # one open request per person and drug (a second one is refused)
            models.UniqueConstraint(
                fields=["patient", "drug"],
                condition=Q(status__in=["submitted", "taken"]),
                name="uniq_open_filing_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pk} · {self.get_status_display()}"


def _filing_upload_path(instance: FilingUpload, filename: str) -> str:
    # Under MEDIA_ROOT, outside the web root; served only to the request's hospital physicians.
    return f"filing_requests/{timezone.localdate():%Y/%m}/{filename}"


class FilingUpload(models.Model):
    """What the patient had to hand: a record or report [HB art. 7(1)], as uploaded."""

    request = models.ForeignKey(
        PatientFilingRequest, on_delete=models.CASCADE, related_name="uploads"
    )
    kind = models.CharField("材料类型", max_length=30, choices=MaterialKind.choices)
    title = models.CharField("名称", max_length=200)
    file = models.FileField("文件", upload_to=_filing_upload_path, max_length=200)
    mime_type = models.CharField("文件类型", max_length=100)
    size = models.PositiveIntegerField("大小（字节）")
    sha256 = models.CharField("SHA-256", max_length=64)
    uploaded_at = models.DateTimeField("上传时间", default=timezone.now)

    class Meta:
        verbose_name = "患者备案申请材料"
        verbose_name_plural = "患者备案申请材料"
        ordering = ["request_id", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}：{self.title}"


class FilingRequestTransition(StatusHistory):
    request = models.ForeignKey(
        PatientFilingRequest, on_delete=models.CASCADE, related_name="history"
    )

    class Meta(StatusHistory.Meta):
        verbose_name = "患者备案申请状态变更"
        verbose_name_plural = "患者备案申请状态变更"


_F = FilingRequestStatus
FILING_REQUEST_MACHINE = StateMachine(
    FilingRequestStatus,
    {
        # a responsible physician of the hospital takes it, or declines it at once
        _F.SUBMITTED: {_F.TAKEN, _F.DECLINED, _F.WITHDRAWN},
        # the taker completes it into an application or declines it
        _F.TAKEN: {_F.COMPLETED, _F.DECLINED, _F.WITHDRAWN},
    },
    error_code=codes.TRANSITION,
    model=PatientFilingRequest,
    history=FilingRequestTransition,
    history_fk="request",
    audit_action="eligibility.filing_request_{to}",
    patient=lambda request: request.patient,
    summary=lambda request, from_status, to_status: {
        "request_id": request.pk,
        "from": from_status,
        "to": to_status,
    },
    reason_max=500,
)
