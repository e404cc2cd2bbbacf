"""Settlement (DESIGN §4, §5.5, §6): benefit rules per pooling region, the person's accumulators,
settlements with their lines and reversal.

Every amount is a ``DecimalField`` with two places (fen); ratios have four.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Abs
from django.db.models.lookups import LessThan
from django.utils import timezone

from dualchannel.core.models import StatusHistory
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import StateMachine
from dualchannel.registry import out_of_area

from . import error_codes as codes

RATIO = {
    "max_digits": 5,
    "decimal_places": 4,
    "validators": [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
}


def money(label: str, **kwargs) -> models.DecimalField:
    return models.DecimalField(label, max_digits=14, decimal_places=2, **kwargs)


class BenefitCategory(models.TextChoices):
    """The benefit a settlement is made under: one per prescription [HB art. 38]."""

    SPECIAL_DRUG = "special_drug", "单独支付药品（特药门诊）"
    CHRONIC_DISEASE = "chronic_disease", "门诊慢特病"
    GENERAL_OUTPATIENT = "general_outpatient", "普通门诊统筹"
    INPATIENT = "inpatient", "住院"


class BenefitRule(models.Model):
    """The benefit parameters of a region for one insurance type, category and hospital level.

    Looked up from the settling institution's region upwards (a pooling region's own rule before
    its province's), the most specific hospital level first; dated, so a change applies from its
    effective date. The seeds leave these numbers to each pooling region [SD §3, HB art. 5]: the
    agency enters its own notice's values (``source``).
    """

    region = models.ForeignKey(
        "registry.Region", on_delete=models.PROTECT, related_name="+", verbose_name="统筹区"
    )
    insurance_type = models.CharField(
        "险种", max_length=3, choices=[("310", "职工基本医疗保险"), ("390", "城乡居民基本医疗保险")]
    )
    category = models.CharField("待遇类别", max_length=20, choices=BenefitCategory.choices)
    # The prescribing (or settling) hospital's level; null: any level.
    hospital_level = models.PositiveSmallIntegerField("医院等级", null=True, blank=True)
    med_type = models.CharField("医疗类别（med_type）", max_length=10)
    deductible = money("起付线", default=Decimal("0.00"))
    fund_ratio = models.DecimalField("统筹基金支付比例", **RATIO)
    annual_ceiling = money("年度最高支付限额", null=True, blank=True)
    # Accumulators of the fund and deductible are shared by the rules of one group (e.g. all
    # outpatient special drugs of the year count against one ceiling).
    ceiling_group = models.CharField("限额累计组", max_length=30)
    first_self_pay_ratio = models.DecimalField("乙类先行自付比例", default=Decimal(0), **RATIO)
    critical_illness_deductible = money("大病保险起付线", default=Decimal("0.00"))
    critical_illness_ratio = models.DecimalField("大病保险支付比例", default=Decimal(0), **RATIO)
    critical_illness_ceiling = money("大病保险年度限额", null=True, blank=True)
    assistance_ratio = models.DecimalField("医疗救助比例", default=Decimal(0), **RATIO)
    assistance_ceiling = money("医疗救助年度限额", null=True, blank=True)
    commercial_deductible = money("惠民保免赔额", default=Decimal("0.00"))
    commercial_ratio = models.DecimalField("惠民保赔付比例", default=Decimal(0), **RATIO)
    commercial_ceiling = money("惠民保年度限额", null=True, blank=True)
    effective_from = models.DateField("生效日期")
    effective_to = models.DateField("失效日期", null=True, blank=True)
    source = models.CharField("依据文件", max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "待遇政策参数"
        verbose_name_plural = "待遇政策参数"
        ordering = ["region_id", "insurance_type", "category", "hospital_level", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "insurance_type", "category", "hospital_level", "effective_from"],
                name="benefit_rule_unique_start",
            ),
            # NULL levels are distinct to a plain unique constraint: one "any level" rule a start
            models.UniqueConstraint(
                fields=["region", "insurance_type", "category", "effective_from"],
                condition=Q(hospital_level__isnull=True),
                name="benefit_rule_unique_start_any_level",
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_to__gte=models.F("effective_from")),
                name="benefit_rule_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        level = f" {self.hospital_level}级" if self.hospital_level else ""
        return f"{self.region_id} {self.insurance_type} {self.category}{level}"


class ListingPrice(models.Model):
    """A province's listing price (挂网价格) of one manufacturer's generic of a negotiated drug,
    per package: its payment standard where the profile says so [CX art. 10]."""

    region = models.ForeignKey(
        "registry.Region", on_delete=models.PROTECT, related_name="+", verbose_name="省份"
    )
    drug = models.ForeignKey("catalog.Drug", on_delete=models.PROTECT, related_name="+")
    manufacturer = models.CharField("生产企业", max_length=200)
    specification = models.CharField("规格", max_length=300)
    package_unit = models.CharField("包装单位", max_length=10, default="盒")
    price = money("挂网价格（元/包装）")
    effective_from = models.DateField("生效日期")
    effective_to = models.DateField("失效日期", null=True, blank=True)
    source = models.CharField("来源", max_length=300)

    class Meta:
        verbose_name = "省级挂网价格"
        verbose_name_plural = "省级挂网价格"
        constraints = [
            models.UniqueConstraint(
                fields=["region", "drug", "manufacturer", "specification", "effective_from"],
                name="listing_price_unique_start",
            ),
            models.CheckConstraint(condition=Q(price__gt=0), name="listing_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.drug_id} {self.manufacturer} {self.specification}"


class AccumulatorKind(models.TextChoices):
    DEDUCTIBLE = "deductible", "起付线累计"
    FUND = "fund", "统筹基金支付累计"
    CRITICAL_ILLNESS_DEDUCTIBLE = "critical_illness_deductible", "大病保险起付线累计"
    CRITICAL_ILLNESS = "critical_illness", "大病保险支付累计"
    ASSISTANCE = "assistance", "医疗救助累计"
    COMMERCIAL_DEDUCTIBLE = "commercial_deductible", "惠民保免赔额累计"
    COMMERCIAL = "commercial", "惠民保赔付累计"


class Accumulator(models.Model):
    """One running total of a person: a kind in a scope (``2026:outpatient_special`` for a year's
    group, ``stay:<hospital>:<admission no>`` for an inpatient stay's deductible [AH §2(5)])."""

    person = models.ForeignKey(
        "registry.InsuredPerson", on_delete=models.PROTECT, related_name="accumulators"
    )
    kind = models.CharField("类别", max_length=30, choices=AccumulatorKind.choices)
    scope = models.CharField("累计范围", max_length=80)
    amount = money("累计金额", default=Decimal("0.00"))
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "待遇累计"
        verbose_name_plural = "待遇累计"
        constraints = [
            models.UniqueConstraint(fields=["person", "kind", "scope"], name="accumulator_key"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="accumulator_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}@{self.scope}"


class SettlementKind(models.TextChoices):
    PHARMACY = "pharmacy", "定点药店结算（2102）"
    HOSPITAL = "hospital", "医疗机构门诊结算（2207）"
    MANUAL = "manual", "手工（零星）报销"


class SettlementStatus(models.TextChoices):
    SETTLED = "settled", "已结算"  # the fund part is owed to the institution
    REVERSED = "reversed", "已冲销"  # undone: accumulators and stock restored


class BudgetLine(models.TextChoices):
    """AH §2(6), CX art. 18: pharmacy spending is budgeted on its own line."""

    PHARMACY_SEPARATE = "pharmacy_separate", "药店双通道费用单列"
    HOSPITAL_GLOBAL = "hospital_global", "医疗机构总额预算"


class UploadStatus(models.TextChoices):
    PENDING = "pending", "待上传"
    ACCEPTED = "accepted", "平台已受理"
    FAILED = "failed", "上传失败（将重试）"
    DEAD = "dead", "上传失败（需人工处理）"  # its job is dead: no automatic attempt is left
    NOT_CONNECTED = "not_connected", "机构未接入医保平台（手工申报）"


class Settlement(models.Model):
    settlement_no = models.CharField("结算单号", max_length=40, unique=True)
    kind = models.CharField("结算类型", max_length=10, choices=SettlementKind.choices)
    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="settlements"
    )
    person = models.ForeignKey(
        "registry.InsuredPerson", on_delete=models.PROTECT, related_name="settlements"
    )
    prescription = models.ForeignKey(
        "prescriptions.Prescription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settlements",
    )
    dispensing = models.ForeignKey(
        "prescriptions.Dispensing",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settlements",
    )
    category = models.CharField("待遇类别", max_length=20, choices=BenefitCategory.choices)
    insurance_type = models.CharField("险种", max_length=3)
    med_type = models.CharField("医疗类别", max_length=10)
    rule = models.ForeignKey(BenefitRule, on_delete=models.PROTECT, related_name="+")
    parameters = models.JSONField("所用待遇参数")
    scopes = models.JSONField("累计范围")  # accumulator kind → scope, as settled
    inpatient_admission_no = models.CharField("住院号", max_length=40, blank=True)
    # the registered stay whose bill this is (the hospital's inpatient settlement) or which an
    # inpatient's pharmacy purchase shares the deductible with [AH §2(5), CX art. 19]
    stay = models.ForeignKey(
        "registry.InpatientStay",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settlements",
    )
    budget_line = models.CharField("预算口径", max_length=20, choices=BudgetLine.choices)
    settled_on = models.DateField("结算日期")
    total = money("医疗费总额")
    full_self_pay = money("全自费")
    over_standard = money("超支付标准自付")
    payable_base = money("支付标准内金额")
    first_self_pay = money("先行自付")
    in_policy = money("政策范围内金额")
    deductible = money("起付线")
    co_pay = money("统筹段个人自付")
    over_ceiling = money("超限额自付")
    fund = money("统筹基金支付")
    critical_illness = money("大病保险支付")
    assistance = money("医疗救助支付")
    commercial = money("惠民保支付")
    personal = money("个人现金支付")
    used = models.JSONField("计入累计")  # what this settlement added to each accumulator
    status = models.CharField(
        "状态", max_length=10, choices=SettlementStatus.choices, default=SettlementStatus.SETTLED
    )
    idempotency_key = models.CharField("幂等键", max_length=80)
    request_digest = models.CharField("请求摘要", max_length=64)
    settled_at = models.DateTimeField("结算时间", default=timezone.now)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reversed_at = models.DateTimeField("冲销时间", null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reversal_reason = models.CharField("冲销原因", max_length=200, blank=True)
    reversal_key = models.CharField("冲销幂等键", max_length=80, blank=True)
    goods_returned = models.BooleanField("已退药", default=False)
    # the personal part paid on the phone (an online delivery order, services.online): the
    # payment order at the provider; null: paid at the counter. A reversal refunds it.
    online_payment = models.ForeignKey(
        "payments.PaymentOrder",
        verbose_name="个人自付线上支付订单",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # the national platform's answer (2102/2207) and the state of the upload
    upload_status = models.CharField(
        "上传状态", max_length=15, choices=UploadStatus.choices, default=UploadStatus.PENDING
    )
    setl_id = models.CharField("平台结算ID", max_length=40, blank=True)
    mdtrt_id = models.CharField("平台就诊ID", max_length=40, blank=True)
    batch = models.ForeignKey(
        "SettlementBatch",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settlements",
    )
    reversal_upload_status = models.CharField(
        "冲销上传状态", max_length=15, choices=UploadStatus.choices, blank=True
    )
    # when analytics' rollups took this settlement in, and its reversal (issue 13): NULL at
    # insert, so the counter's settle writes nothing more; set by ``settlements_mark_rolled_up``
    rolled_up_at = models.DateTimeField("计入汇总时间", null=True, blank=True)
    reversal_rolled_up_at = models.DateTimeField("冲销计入汇总时间", null=True, blank=True)

    class Meta:
        verbose_name = "医保结算"
        verbose_name_plural = "医保结算"
        ordering = ["-settled_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "idempotency_key"], name="settlement_key_per_institution"
            ),
            # one live settlement per dispensing: a second one is refused, even under a race
            models.UniqueConstraint(
                fields=["dispensing"],
                condition=Q(status="settled"),
                name="settlement_one_live_per_dispensing",
            ),
            # exact on PostgreSQL; SQLite keeps decimals as floats, so the check allows less
            # than half a fen of float error (the engine's own sums are exact Decimals)
            models.CheckConstraint(
                condition=LessThan(
                    Abs(
                        models.F("total")
                        - models.F("fund")
                        - models.F("critical_illness")
                        - models.F("assistance")
                        - models.F("commercial")
                        - models.F("personal")
                    ),
                    Decimal("0.005"),
                ),
                name="settlement_payers_sum_to_total",
            ),
        ]
        indexes = [
            models.Index(fields=["institution", "settled_on"]),
            # the settlements (and reversals) the rollups have not taken in yet: small partial
            # indexes, so a refresh finds them without reading the table
            models.Index(
                fields=["id"],
                condition=Q(rolled_up_at__isnull=True),
                name="settlement_not_rolled_up",
            ),
            models.Index(
                fields=["id"],
                condition=Q(status="reversed", reversal_rolled_up_at__isnull=True),
                name="settlement_reversal_not_rolled",
            ),
        ]

    def __str__(self) -> str:
        return self.settlement_no


class SettlementLine(models.Model):
    settlement = models.ForeignKey(Settlement, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField("序号")
    # None for an item of a hospital's inpatient bill that is not a catalogue drug (bed, exams)
    drug = models.ForeignKey(
        "catalog.Drug", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    item_name = models.CharField("项目名称", max_length=100, blank=True)
    dispensing_line = models.ForeignKey(
        "prescriptions.DispensingLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    drug_class = models.CharField("甲乙类", max_length=1)
    quantity = models.PositiveIntegerField("数量")
    unit = models.CharField("单位", max_length=10)
    unit_price = money("单价")
    amount = money("金额")
    standard_amount = money("支付标准金额", null=True, blank=True)
    full_self_pay = money("全自费")
    self_pay_reason = models.CharField("自费原因", max_length=40, blank=True)
    over_standard = money("超支付标准")
    payable_base = money("支付标准内")
    first_self_pay = money("先行自付")
    in_policy = money("政策范围内")

    class Meta:
        verbose_name = "结算明细"
        verbose_name_plural = "结算明细"
        ordering = ["settlement_id", "position"]

    def __str__(self) -> str:
        return f"{self.settlement_id}#{self.position}"


class StayChargeStatus(models.TextChoices):
    BILLED = "billed", "已计入住院费用（待医院结算）"
    SETTLED = "settled", "已随住院费用结算"


class StayCharge(models.Model):
    """A pharmacy's sale to an inpatient billed to the stay, not settled at the counter, where
    the profile bills external drugs in the stay [CX art. 19]: the hospital settles it with the
    stay's bill (``hospital_stay.stay_bill_settle``)."""

    stay = models.ForeignKey(
        "registry.InpatientStay", on_delete=models.PROTECT, related_name="external_charges"
    )
    dispensing = models.OneToOneField(
        "prescriptions.Dispensing", on_delete=models.PROTECT, related_name="stay_charge"
    )
    pharmacy = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="stay_charges"
    )
    total = money("药品费用")
    lines = models.JSONField("明细")  # the priced lines: drug, class, quantity, price, standard
    status = models.CharField(
        "状态", max_length=10, choices=StayChargeStatus.choices, default=StayChargeStatus.BILLED
    )
    settlement = models.ForeignKey(
        Settlement, null=True, blank=True, on_delete=models.PROTECT, related_name="stay_charges"
    )
    idempotency_key = models.CharField("幂等键", max_length=80)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField("记账时间", default=timezone.now)

    class Meta:
        verbose_name = "院外购药计入住院费用"
        verbose_name_plural = "院外购药计入住院费用"
        ordering = ["recorded_at", "id"]

    def __str__(self) -> str:
        return f"{self.stay_id}:{self.dispensing_id}"


# Billed to the stay → settled with the stay's bill (``hospital_stay.stay_bill_settle``), and
# back to billed when that settlement is reversed (``counter.settlement_reverse``).
STAY_CHARGE_MACHINE = StateMachine(
    StayChargeStatus,
    {
        StayChargeStatus.BILLED: {StayChargeStatus.SETTLED},
        # the stay's settlement reversed: back on the bill, settled again with it
        StayChargeStatus.SETTLED: {StayChargeStatus.BILLED},
    },
    error_code=codes.STAY_CHARGE_SETTLED,
    model=StayCharge,
    audit_action="settlement.stay_charge_{to}",
    patient=lambda charge: charge.stay.person,
    summary=lambda charge, from_status, to_status: {
        "stay": charge.stay_id,
        "dispensing": charge.dispensing_id,
        "to": to_status,
    },
)


class SettlementTransition(StatusHistory):
    settlement = models.ForeignKey(Settlement, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "结算状态变更"
        verbose_name_plural = "结算状态变更"


# A settlement is reversed once (``settlement_reverse``; the caller names the role it acted in).
SETTLEMENT_MACHINE = StateMachine(
    SettlementStatus,
    {SettlementStatus.SETTLED: {SettlementStatus.REVERSED}},
    error_code=codes.ALREADY_REVERSED,
    model=Settlement,
    history=SettlementTransition,
    history_fk="settlement",
    audit_action="settlement.{to}",
    patient=lambda settlement: settlement.person,
    summary=lambda settlement, from_status, to_status: {
        "settlement_no": settlement.settlement_no,
        "to": to_status,
    },
)


class BatchStatus(models.TextChoices):
    DRAFT = "draft", "草稿"  # totals gathered, not yet applied
    APPLIED = "applied", "已申报"  # the institution applied for the month [HB art. 33]
    APPROVED = "approved", "已审核通过"  # the agency approved the fund part to pay
    REJECTED = "rejected", "已退回"  # sent back with a reason; the institution re-applies


class SettlementBatch(models.Model):
    """An institution's monthly application for the fund part of its settlements [HB art. 33]."""

    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="settlement_batches"
    )
    month = models.DateField("结算月份")  # the first day of the month
    budget_line = models.CharField("预算口径", max_length=20, choices=BudgetLine.choices)
    status = models.CharField(
        "状态", max_length=10, choices=BatchStatus.choices, default=BatchStatus.DRAFT
    )
    settlement_count = models.PositiveIntegerField("结算笔数", default=0)
    total = money("医疗费总额", default=Decimal("0.00"))
    fund = money("统筹基金支付", default=Decimal("0.00"))
    critical_illness = money("大病保险支付", default=Decimal("0.00"))
    assistance = money("医疗救助支付", default=Decimal("0.00"))
    commercial = money("惠民保支付", default=Decimal("0.00"))
    personal = money("个人支付", default=Decimal("0.00"))
    # 3201/3202 against the platform: matched, or the mismatches listed
    reconciled_at = models.DateTimeField("对账时间", null=True, blank=True)
    reconciliation_matched = models.BooleanField("对账一致", null=True, blank=True)
    mismatches = models.JSONField("对账差异", default=list, blank=True)
    applied_at = models.DateTimeField("申报时间", null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField("审核时间", null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_note = models.CharField("审核意见", max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "月度结算申报"
        verbose_name_plural = "月度结算申报"
        ordering = ["-month", "institution_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "month", "budget_line"], name="batch_one_per_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.institution_id} {self.month:%Y-%m}"


class SettlementBatchTransition(StatusHistory):
    batch = models.ForeignKey(SettlementBatch, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "月度申报状态变更"
        verbose_name_plural = "月度申报状态变更"


_B = BatchStatus
# Draft → applied → approved | rejected, rejected → applied again (``batches``; the caller names
# the role: the institution's staff or the agency's officer).
BATCH_MACHINE = StateMachine(
    BatchStatus,
    {
        _B.DRAFT: {_B.APPLIED},
        _B.APPLIED: {_B.APPROVED, _B.REJECTED},
        _B.REJECTED: {_B.APPLIED},  # corrected and applied again
    },
    error_code=codes.BATCH_TRANSITION,
    model=SettlementBatch,
    history=SettlementBatchTransition,
    history_fk="batch",
    audit_action="settlement.batch_{to}",
    summary=lambda batch, from_status, to_status: {
        "from": from_status,
        "to": to_status,
        "month": f"{batch.month:%Y-%m}",
        "budget_line": batch.budget_line,
        "fund": str(batch.fund),
    },
)


class ClaimStatus(models.TextChoices):
    SUBMITTED = "submitted", "已提交"
    APPROVED = "approved", "已核准"  # computed with the engine; the fund part is paid back
    REJECTED = "rejected", "不予报销"


class ClaimReason(models.TextChoices):
    SYSTEM_FAILURE = "system_failure", "系统故障未能直接结算"  # HB art. 37
    CROSS_REGION = "cross_region", "省内跨地区购药未能直接结算"  # AH §2(5), CX art. 17
    # HB art. 41: across provinces without a valid filing the counter may not settle; the
    # person pays in full and claims at home
    CROSS_PROVINCE = "cross_province", "跨省异地就医未备案购药"


def claim_reason_for(area_kind: str) -> str | None:
    """The claim reason a purchase out of area is claimed under at home, by its kind
    (``registry.out_of_area``): in province (where not yet direct) 省内跨地区, across provinces
    without a filing 跨省未备案 [HB art. 41, AH §2(5), CX art. 17]; None where it settles
    directly (local, or across provinces under a filing)."""
    return {
        out_of_area.IN_PROVINCE: ClaimReason.CROSS_REGION,
        out_of_area.CROSS_PROVINCE_UNFILED: ClaimReason.CROSS_PROVINCE,
    }.get(area_kind)


class ManualClaim(models.Model):
    """A purchase that could not settle directly, claimed with its receipts [HB art. 37]."""

    claim_no = models.CharField("报销单号", max_length=40, unique=True)
    person = models.ForeignKey(
        "registry.InsuredPerson", on_delete=models.PROTECT, related_name="manual_claims"
    )
    agency = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="manual_claims"
    )
    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="购药机构"
    )
    prescription = models.ForeignKey(
        "prescriptions.Prescription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="manual_claims",
    )
    reason = models.CharField("原因", max_length=20, choices=ClaimReason.choices)
    category = models.CharField("待遇类别", max_length=20, choices=BenefitCategory.choices)
    purchased_on = models.DateField("购药日期")
    lines = models.JSONField("明细")  # [{drug_id, quantity, unit_price, drug_class, ...}]
    receipts = models.JSONField("票据", default=list)  # [{name, sha256, size, path}]
    status = models.CharField(
        "状态", max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.SUBMITTED
    )
    settlement = models.OneToOneField(
        Settlement, null=True, blank=True, on_delete=models.PROTECT, related_name="claim"
    )
    decision_note = models.CharField("审核意见", max_length=500, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "手工（零星）报销"
        verbose_name_plural = "手工（零星）报销"
        ordering = ["-submitted_at", "-id"]

    def __str__(self) -> str:
        return self.claim_no


class ManualClaimTransition(StatusHistory):
    claim = models.ForeignKey(ManualClaim, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "手工报销状态变更"
        verbose_name_plural = "手工报销状态变更"


# A claim is decided once, by an agency officer (``services.claim_decisions.claim_decide``).
CLAIM_MACHINE = StateMachine(
    ClaimStatus,
    {ClaimStatus.SUBMITTED: {ClaimStatus.APPROVED, ClaimStatus.REJECTED}},
    error_code=codes.CLAIM_DECIDED,
    model=ManualClaim,
    history=ManualClaimTransition,
    history_fk="claim",
    audit_action="settlement.claim_{to}",
    role=lambda actor: Role.AGENCY_OFFICER,
    patient=lambda claim: claim.person,
    summary=lambda claim, from_status, to_status: {
        "claim_no": claim.claim_no,
        "from": from_status,
        "to": to_status,
    },
    save_fields=(),
)


# --- violations and the recovery of fund losses [HB art. 21–22, 31(6); CX art. 13] --------------


class FindingKind(models.TextChoices):
    """HB art. 31(6): the violations whose drug costs the fund does not pay."""

    OVER_TREATMENT = "over_treatment", "过度诊疗"
    FAKE_TREATMENT = "fake_treatment", "虚假诊疗"
    IDENTITY_MISMATCH = "identity_mismatch", "人证不符"


class ViolationFinding(models.Model):
    """An officer's finding, after the fact, against settlements of the region [HB art. 31(6),
    art. 47]: its lines are not payable, and what the fund paid for them is recovered."""

    finding_no = models.CharField("认定编号", max_length=40, unique=True)
    region = models.ForeignKey(
        "registry.Region", on_delete=models.PROTECT, related_name="+", verbose_name="经办区域"
    )
    kind = models.CharField("违规情形", max_length=20, choices=FindingKind.choices)
    reason = models.CharField("认定理由", max_length=500)
    evidence = models.CharField("证据说明", max_length=2000, blank=True)
    settlements = models.ManyToManyField(
        Settlement, related_name="violation_findings", verbose_name="涉及结算"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField("认定时间", default=timezone.now)

    class Meta:
        verbose_name = "违规认定"
        verbose_name_plural = "违规认定"
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return self.finding_no


class RecoveryBasis(models.TextChoices):
    """Why the fund's payment is taken back."""

    VIOLATION = "violation", "违规行为（过度诊疗、虚假诊疗、人证不符）"  # HB art. 31(6)
    ELIGIBILITY_REVOKED = "eligibility_revoked", "用药资格因欺诈骗保被撤销"  # HB art. 12, 49–50


class RecoveryStatus(models.TextChoices):
    PENDING = "pending", "待扣回"  # deducted from the institution's next monthly batch
    DEDUCTED = "deducted", "已扣回"  # the batch holding it was approved net of it
    CANCELLED = "cancelled", "已撤销"  # withdrawn by an officer, with the reason


class RecoveryOrder(models.Model):
    """A recovery (追回/拒付) against one institution for listed settlements [HB art. 21–22,
    CX art. 13]: what the funds paid for them minus what the engine's re-run with the finding
    says they owe; deducted from the institution's next monthly batch."""

    order_no = models.CharField("追回单号", max_length=40, unique=True)
    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="recovery_orders"
    )
    region = models.ForeignKey(
        "registry.Region", on_delete=models.PROTECT, related_name="+", verbose_name="经办区域"
    )
    basis = models.CharField("追回依据", max_length=30, choices=RecoveryBasis.choices)
    finding = models.ForeignKey(
        ViolationFinding,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recovery_orders",
    )
    reason = models.CharField("追回理由", max_length=500)
    evidence = models.CharField("证据说明", max_length=2000, blank=True)
    status = models.CharField(
        "状态", max_length=10, choices=RecoveryStatus.choices, default=RecoveryStatus.PENDING
    )
    fund = money("追回统筹基金")
    critical_illness = money("追回大病保险")
    assistance = money("追回医疗救助")
    commercial = money("追回惠民保")
    amount = money("追回合计")
    batch = models.ForeignKey(
        SettlementBatch,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recovery_orders",
        verbose_name="扣回所在月度申报",
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    raised_at = models.DateTimeField("发起时间", default=timezone.now)
    deducted_at = models.DateTimeField("扣回时间", null=True, blank=True)
    cancelled_at = models.DateTimeField("撤销时间", null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancel_reason = models.CharField("撤销原因", max_length=500, blank=True)

    class Meta:
        verbose_name = "基金追回单"
        verbose_name_plural = "基金追回单"
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="recovery_amount_positive"),
            models.CheckConstraint(
                condition=LessThan(
                    Abs(
                        models.F("amount")
                        - models.F("fund")
                        - models.F("critical_illness")
                        - models.F("assistance")
                        - models.F("commercial")
                    ),
                    Decimal("0.005"),
                ),
                name="recovery_parts_sum_to_amount",
            ),
        ]

    def __str__(self) -> str:
        return self.order_no


class RecoveryItem(models.Model):
    """One settlement of an order: what the funds paid, what the re-run says they owe, the
    difference recovered, and the re-run's lines (each with its non-payable reason)."""

    order = models.ForeignKey(RecoveryOrder, on_delete=models.CASCADE, related_name="items")
    settlement = models.ForeignKey(
        Settlement, on_delete=models.PROTECT, related_name="recovery_items"
    )
    paid_out = models.BooleanField("发起时已拨付")  # its batch approved: 追回; else 拒付
    fund = money("追回统筹基金")
    critical_illness = money("追回大病保险")
    assistance = money("追回医疗救助")
    commercial = money("追回惠民保")
    amount = money("追回合计")
    rerun = models.JSONField("重算结果")  # the engine's breakdown with the finding, as strings

    class Meta:
        verbose_name = "追回明细"
        verbose_name_plural = "追回明细"
        ordering = ["order_id", "settlement_id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "settlement"], name="recovery_item_once"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}:{self.settlement_id}"


class RecoveryOrderTransition(StatusHistory):
    order = models.ForeignKey(RecoveryOrder, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "追回单状态变更"
        verbose_name_plural = "追回单状态变更"


# Pending → deducted (the batch holding it approved, ``batches.batch_review``) | cancelled (an
# officer, with the reason, ``recovery.recovery_cancel``).
RECOVERY_MACHINE = StateMachine(
    RecoveryStatus,
    {RecoveryStatus.PENDING: {RecoveryStatus.DEDUCTED, RecoveryStatus.CANCELLED}},
    error_code=codes.RECOVERY_TRANSITION,
    model=RecoveryOrder,
    history=RecoveryOrderTransition,
    history_fk="order",
    audit_action="settlement.recovery_{to}",
    summary=lambda order, from_status, to_status: {
        "order_no": order.order_no,
        "from": from_status,
        "to": to_status,
        "amount": str(order.amount),
    },
)
