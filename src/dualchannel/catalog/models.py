"""The catalogue: negotiated drugs, dated payment standards and restrictions, eligibility criteria.

History is kept by date: a later list closes the previous payment standard or restriction
(``effective_to``) and adds a new row, so a settlement can always be recomputed as of its date.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dualchannel.core.models import StatusHistory
from dualchannel.core.statemachine import StateMachine


class ListEdition(models.Model):
    """One published national list (e.g. the 2025 list, 医保发〔2025〕33号, in force 2026-01-01)."""

    code = models.CharField("版本代码", max_length=20, unique=True)
    title = models.CharField("名称", max_length=200)
    document_no = models.CharField("文号", max_length=50, blank=True)
    effective_from = models.DateField("执行日期")
    source_sha256 = models.CharField("源文件 SHA-256", max_length=64)
    row_count = models.PositiveIntegerField("条目数", default=0)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "目录版本"
        verbose_name_plural = "目录版本"
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        return self.title


class ListSection(models.TextChoices):
    NEGOTIATED_WESTERN = "negotiated_western", "协议期内谈判药品（西药）"
    BIDDING = "bidding", "竞价药品"


class SpecialControl(models.TextChoices):
    """Drugs excluded from dual-channel chronic-disease scope [CX art. 3]."""

    NONE = "", "无"
    NARCOTIC = "narcotic", "麻醉药品"
    PSYCHOTROPIC = "psychotropic", "精神药品"
    TOXIC = "toxic", "医疗用毒性药品"
    RADIOACTIVE = "radioactive", "放射性药品"


class Drug(models.Model):
    """A drug managed by its generic name (通用名) [CX art. 4]."""

    generic_name = models.CharField("通用名", max_length=200, unique=True)
    pinyin_initials = models.CharField("拼音首字母", max_length=200, db_index=True)
    pinyin = models.CharField("全拼", max_length=600, blank=True)
    brand_names = models.CharField("商品名", max_length=200, blank=True)
    dosage_form = models.CharField("剂型", max_length=30, blank=True)
    category_code = models.CharField("分类代码", max_length=10, db_index=True)
    drug_class = models.CharField("甲乙类", max_length=1, choices=[("甲", "甲类"), ("乙", "乙类")])
    national_code = models.CharField("医保药品代码", max_length=23, blank=True)
    section = models.CharField("目录部分", max_length=30, choices=ListSection.choices)
    list_no = models.PositiveIntegerField("目录序号")

    is_negotiated = models.BooleanField("谈判药品", default=True)
    is_dual_channel = models.BooleanField("双通道管理", default=True)
    is_separately_paid = models.BooleanField("单独支付", default=False)  # HB ch. 2
    is_anti_cancer = models.BooleanField("抗癌药品", default=False)  # AH annex
    is_injectable = models.BooleanField("注射剂", default=False)  # HB art. 29
    needs_cold_chain = models.BooleanField("冷链", default=False)
    special_control = models.CharField(
        "特殊管理药品", max_length=15, choices=SpecialControl.choices, blank=True, default=""
    )

    agreement_start = models.DateField("协议开始", null=True, blank=True)
    agreement_end = models.DateField("协议截止", null=True, blank=True)
    agreement_text = models.CharField("协议有效期（原文）", max_length=100, blank=True)
    pdf_page = models.PositiveIntegerField("目录页码", null=True, blank=True)
    edition = models.ForeignKey(
        ListEdition, on_delete=models.PROTECT, related_name="drugs", verbose_name="最近目录版本"
    )

    class Meta:
        verbose_name = "药品"
        verbose_name_plural = "药品"
        ordering = ["section", "list_no"]

    def __str__(self) -> str:
        return self.generic_name


class PaymentStandard(models.Model):
    """A payment standard of one specification, valid from a date until the next one."""

    drug = models.ForeignKey(Drug, on_delete=models.CASCADE, related_name="payment_standards")
    edition = models.ForeignKey(ListEdition, on_delete=models.PROTECT, related_name="+")
    specification = models.CharField("规格", max_length=300, blank=True)
    unit = models.CharField("计价单位", max_length=20, blank=True)
    # Confidential standards (``*`` in the list) have an amount only once the agency enters it;
    # it is used for settlement but never shown publicly.
    amount = models.DecimalField("支付标准（元）", max_digits=12, decimal_places=2, null=True)
    is_confidential = models.BooleanField("保密支付标准", default=False)
    tiered_note = models.JSONField("阶梯价格说明", null=True, blank=True)
    # A remark printed after the specification, e.g. a free co-supplied drug (list no. 132).
    note = models.CharField("备注", max_length=300, blank=True)
    source_text = models.CharField("原文", max_length=500)
    effective_from = models.DateField("生效日期")
    effective_to = models.DateField("失效日期", null=True, blank=True)

    class Meta:
        verbose_name = "支付标准"
        verbose_name_plural = "支付标准"
        ordering = ["drug_id", "-effective_from", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_confidential=True)
                | Q(amount__isnull=False)
                | Q(tiered_note__isnull=False),
                name="payment_standard_amount_unless_confidential",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0),
                name="payment_standard_amount_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.drug} {self.specification}"


class Restriction(models.Model):
    """The payment restriction (限定支付范围) text, verbatim, valid from a date."""

    drug = models.ForeignKey(Drug, on_delete=models.CASCADE, related_name="restrictions")
    edition = models.ForeignKey(ListEdition, on_delete=models.PROTECT, related_name="+")
    text = models.TextField("限定支付范围（原文）", blank=True)
    effective_from = models.DateField("生效日期")
    effective_to = models.DateField("失效日期", null=True, blank=True)

    class Meta:
        verbose_name = "限定支付范围"
        verbose_name_plural = "限定支付范围"
        ordering = ["drug_id", "-effective_from", "id"]

    def __str__(self) -> str:
        return f"{self.drug} 自{self.effective_from}"


class MaterialKind(models.TextChoices):
    """Kinds of evidence an application may need [AH annex note 2, DESIGN §4]."""

    DIAGNOSIS_CERTIFICATE = "diagnosis_certificate", "诊断证明"
    IMAGING = "imaging", "影像报告"
    PATHOLOGY = "pathology", "病理诊断报告"
    IMMUNOHISTOCHEMISTRY = "immunohistochemistry", "免疫组化报告"
    GENE_TEST = "gene_test", "基因检测报告"
    SPECIAL_LAB = "special_lab", "特殊化验指标报告"
    OUTPATIENT_RECORD = "outpatient_record", "门诊病历"
    DISCHARGE_SUMMARY = "discharge_summary", "出院小结"
    IDENTITY_DOCUMENT = "identity_document", "身份证件"


class CriteriaStatus(models.TextChoices):
    DRAFT = "draft", "草稿"  # drafted from the restriction text; an officer must review it
    PUBLISHED = "published", "已发布"  # in force for new applications
    RETIRED = "retired", "已停用"  # replaced by a later version


class CriteriaOrigin(models.TextChoices):
    DRAFTED = "drafted", "由限定支付范围自动拟定"
    AUTHORED = "authored", "人工编制"


NATIONAL_LABEL = "全国基线"


class CriteriaSet(models.Model):
    """The eligibility criteria of a drug, as data; versions are kept per drug.

    ``region`` null is the national baseline (drafted from the restriction text, or authored and
    shipped); otherwise the set is a region's own rules — provinces set the dual-channel rules
    [AH §2(1), HB art. 3], cities may add implementation detail [HB art. 52]. One set is published
    at a time per (drug, region); the set in force for a place is the published set of the most
    specific region among it and its ancestors, else the national one
    (``selectors.published_criteria``).
    """

    drug = models.ForeignKey(Drug, on_delete=models.CASCADE, related_name="criteria_sets")
    region = models.ForeignKey(
        "registry.Region",
        verbose_name="适用区划",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="留空为全国基线",
    )
    version = models.PositiveIntegerField("版本")
    status = models.CharField(
        "状态", max_length=10, choices=CriteriaStatus.choices, default=CriteriaStatus.DRAFT
    )
    origin = models.CharField("来源", max_length=10, choices=CriteriaOrigin.choices)
    restriction = models.ForeignKey(
        Restriction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    evaluation_cycle_days = models.PositiveIntegerField("复查评估周期（天）", null=True, blank=True)
    required_material_kinds = models.JSONField("所需材料", default=list, blank=True)
    note = models.TextField("说明", blank=True)
    # Digest of the authored source entry, so that reloading the same file changes nothing.
    source_digest = models.CharField("来源摘要", max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "认定条件"
        verbose_name_plural = "认定条件"
        ordering = ["drug_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["drug", "version"], name="uniq_criteria_version"),
            models.UniqueConstraint(
                fields=["drug"],
                condition=Q(status="published", region__isnull=True),
                name="uniq_published_national_criteria",
            ),
            models.UniqueConstraint(
                fields=["drug", "region"],
                condition=Q(status="published", region__isnull=False),
                name="uniq_published_regional_criteria",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.drug} v{self.version}（{self.scope_name}）"

    @property
    def is_national(self) -> bool:
        return self.region_id is None

    @property
    def scope_name(self) -> str:
        """「全国基线」 or the region's name, e.g. 「武汉市」."""
        return NATIONAL_LABEL if self.region_id is None else self.region.name


class CriterionKind(models.TextChoices):
    CONDITION = "condition", "数据判定"  # a safe expression over the patient context
    ATTESTATION = "attestation", "医师确认"  # answered yes/no by the physician


class Criterion(models.Model):
    """One line of a checklist. Criteria in the same non-empty ``group`` are alternatives."""

    criteria_set = models.ForeignKey(CriteriaSet, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField("序号")
    code = models.SlugField("代码", max_length=50)
    kind = models.CharField("类型", max_length=12, choices=CriterionKind.choices)
    # Blank: must be met. Otherwise at least one criterion of the group must be met
    # (the numbered clauses of a restriction, 「限：1.…；2.…」, are such alternatives).
    group = models.SlugField("备选组", max_length=50, blank=True)
    text = models.TextField("条件（政策原文）")
    expression = models.TextField("判定表达式（CEL）", blank=True)

    class Meta:
        verbose_name = "认定条件项"
        verbose_name_plural = "认定条件项"
        ordering = ["criteria_set_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["criteria_set", "code"], name="uniq_criterion_code"),
            models.CheckConstraint(
                condition=Q(kind="attestation") | ~Q(expression=""),
                name="condition_has_expression",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.text[:30]}"


class CriteriaSetStatusHistory(StatusHistory):
    """One row per status change of a criteria set (draft → published → retired)."""

    criteria_set = models.ForeignKey(
        CriteriaSet, on_delete=models.CASCADE, related_name="status_history"
    )

    class Meta(StatusHistory.Meta):
        verbose_name = "认定条件状态变更"
        verbose_name_plural = "认定条件状态变更"


# The one table of a criteria set's moves. The callers (import, authored-criteria loader, officer
# services) hold the drug's row lock and write the audit event of their own action.
CRITERIA_MACHINE = StateMachine(
    CriteriaStatus,
    {
        CriteriaStatus.DRAFT: {CriteriaStatus.PUBLISHED, CriteriaStatus.RETIRED},
        CriteriaStatus.PUBLISHED: {CriteriaStatus.RETIRED},
    },
    error_code="catalog.criteria_invalid_transition",
    model=CriteriaSet,
    history=CriteriaSetStatusHistory,
    history_fk="criteria_set",
    stamp=lambda criteria_set, to: (
        {"published_at": timezone.now()} if to == CriteriaStatus.PUBLISHED else {}
    ),
    save_fields=(),
)


class RegionalListKind(models.TextChoices):
    """The lists a province or pooling region publishes on top of the national one."""

    # The region's separately-paid drugs (单独支付药品): a listed drug needs an eligibility granted
    # on the responsible physician's application [HB ch. 2, AH annex note 3(1)].
    SEPARATELY_PAID = "separately_paid", "单独支付药品目录"
    # The region's dual-channel managed drugs, adjusted once a year [CX art. 4, 6, 7]: where one
    # is in force it is the region's dual-channel scope, a drug off it is not paid as such.
    DUAL_CHANNEL = "dual_channel", "双通道管理药品目录（年度调整）"
    # Outpatient chronic and special disease drugs outside the negotiated list [CX art. 3 ¶2]:
    # paid through the dual channel whatever the national agreement period says.
    CHRONIC_DISEASE = "chronic_disease", "门诊特殊病慢性病其他用药（非谈判）"


class RegionalList(models.Model):
    """One list a region published, in force from ``valid_from`` (to ``valid_to`` inclusive).

    A list applies in its region and every region inside it; lists of one region and kind do not
    overlap in time (a new year's list starts after the previous one ends)."""

    region = models.ForeignKey(
        "registry.Region", verbose_name="发布区划", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField("目录类别", max_length=20, choices=RegionalListKind.choices)
    title = models.CharField("名称", max_length=200)
    document_no = models.CharField("文号", max_length=100, blank=True)
    valid_from = models.DateField("执行日期")
    valid_to = models.DateField("截止日期", null=True, blank=True)
    source_name = models.CharField("源文件名", max_length=200, blank=True)
    source_sha256 = models.CharField("源文件 SHA-256", max_length=64)
    row_count = models.PositiveIntegerField("条目数", default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField("导入时间", default=timezone.now)

    class Meta:
        verbose_name = "地方药品目录"
        verbose_name_plural = "地方药品目录"
        ordering = ["region_id", "kind", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="regional_list_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class RegionalListEntry(models.Model):
    """One drug of a regional list, in force within the list's dates (narrower when given)."""

    regional_list = models.ForeignKey(
        RegionalList, on_delete=models.CASCADE, related_name="entries", verbose_name="地方目录"
    )
    drug = models.ForeignKey(
        Drug, on_delete=models.PROTECT, related_name="regional_entries", verbose_name="药品"
    )
    valid_from = models.DateField("生效日期")
    valid_to = models.DateField("失效日期", null=True, blank=True)
    note = models.CharField("备注", max_length=300, blank=True)
    row = models.PositiveIntegerField("源文件行号")

    class Meta:
        verbose_name = "地方目录条目"
        verbose_name_plural = "地方目录条目"
        ordering = ["regional_list_id", "row"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="regional_entry_dates_ordered",
            ),
        ]
        indexes = [models.Index(fields=["drug", "valid_from"])]

    def __str__(self) -> str:
        return f"{self.regional_list} · {self.drug}"
