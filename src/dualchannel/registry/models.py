"""The registry: regions and their policy profiles, designated institutions and people.

Every number that differs between provinces lives in ``PolicyProfile`` (DESIGN §6), never in code.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dualchannel.core.masking import mask_name
from dualchannel.core.models import StatusHistory, StatusRecord
from dualchannel.core.statemachine import StateMachine

from . import error_codes as codes
from .citation_words import citations_in_words


class RegionLevel(models.TextChoices):
    PROVINCE = "province", "省级"
    CITY = "city", "地市级"
    COUNTY = "county", "县级"


class Region(models.Model):
    """An administrative division (6-digit code, GB/T 2260 / NBS statistical list)."""

    code = models.CharField("区划代码", max_length=6, primary_key=True)
    name = models.CharField("名称", max_length=50)
    level = models.CharField("层级", max_length=10, choices=RegionLevel.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # A city-level code that is itself a county-level unit (e.g. 东莞市 441900 has no counties).
    is_county_level = models.BooleanField("县级统计单元", default=False)
    # Urban district (市辖区) or county (县/县级市): stocking minimums differ [SD §6].
    is_urban_district = models.BooleanField("市辖区", default=False)

    class Meta:
        verbose_name = "行政区划"
        verbose_name_plural = "行政区划"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def code_prefix(self) -> str:
        """The prefix shared by this region's code and all its descendants' codes."""
        if self.level == RegionLevel.PROVINCE:
            return self.code[:2]
        if self.level == RegionLevel.CITY:
            return self.code[:4]
        return self.code


class TitleRank(models.IntegerChoices):
    """Professional titles of physicians, ordered so that a higher number is a higher title."""

    RESIDENT = 1, "住院医师"
    ATTENDING = 2, "主治医师"
    ASSOCIATE_CHIEF = 3, "副主任医师"
    CHIEF = 4, "主任医师"


class HospitalLevel(models.IntegerChoices):
    LEVEL1 = 1, "一级"
    LEVEL2 = 2, "二级"
    LEVEL3 = 3, "三级"


class BindingMode(models.TextChoices):
    NONE = "none", "不绑定"
    FILING_FORM = "filing_form", "每次外购填写备案表"  # AH annex
    THREE_FIXED = "three_fixed", "三定（定医院、定药店、定医师）"  # HB art. 6
    FIVE_FIXED = "five_fixed", "五定（认定/治疗医院与医师、患者）"  # P §1.1


class PrescriberRule(models.TextChoices):
    """Who may prescribe a dual-channel drug that is not separately paid."""

    RESPONSIBLE_ONLY = "responsible_only", "双通道药品均须责任医师开具"  # AH annex 3(1), CX art. 20
    INSURANCE_PHYSICIAN = (
        "insurance_physician",
        "单独支付药品须责任医师，其他双通道药品医保医师即可",
    )  # HB art. 13–15, 42


class PaymentStandardRule(models.TextChoices):
    NATIONAL = "national", "国家统一支付标准"  # AH
    UNIFIED = "unified", "医院与药店统一支付标准"  # HB art. 30
    NATIONAL_PROVINCIAL_ACTUAL = (
        "national_provincial_actual",
        "谈判药品按国家标准，仿制药按省挂网价，实际价格更低按实际",
    )  # CX art. 10


class SalePriceRule(models.TextChoices):
    """What a dual-channel pharmacy charges for a box (its sale price)."""

    RETAIL = "retail", "药店登记的零售价（不高于支付标准）"  # AH §2(3), CX art. 26
    PURCHASE_PRICE = "purchase_price", "入库时登记的实际采购价格"  # CX art. 14(2)


class PolicyProfile(models.Model):
    """The policy numbers of one pooling region (DESIGN §6); descendants inherit it."""

    region = models.OneToOneField(
        Region, on_delete=models.PROTECT, related_name="policy_profile", verbose_name="统筹区"
    )
    name = models.CharField("名称", max_length=100)
    source_document = models.CharField("依据文件", max_length=200, blank=True)

    # Responsible physicians [AH §2(2), HB art. 20, CX art. 20]
    physician_min_title = models.PositiveSmallIntegerField(
        "责任医师最低职称", choices=TitleRank.choices, null=True, blank=True
    )
    physician_relaxation_allowed = models.BooleanField("允许放宽职称", default=False)
    physician_relaxed_title = models.PositiveSmallIntegerField(
        "放宽后职称", choices=TitleRank.choices, null=True, blank=True
    )
    physician_min_title_level2_hospital = models.PositiveSmallIntegerField(
        "二级医疗机构最低职称", choices=TitleRank.choices, null=True, blank=True
    )

    binding_mode = models.CharField(
        "绑定方式", max_length=20, choices=BindingMode.choices, default=BindingMode.NONE
    )
    # Prescribers [HB art. 6, 13–15, 42; AH annex 3(1); CX art. 20]
    prescriber_rule = models.CharField(
        "处方医师范围",
        max_length=20,
        choices=PrescriberRule.choices,
        default=PrescriberRule.RESPONSIBLE_ONLY,
    )
    three_fixed_team_allowed = models.BooleanField(
        "三定管理允许责任医师团队开具处方", default=False
    )

    # Benefits [SD §3, AH §2(5), HB art. 34, CX art. 19]
    first_self_pay_ratio = models.DecimalField(
        "乙类先行自付比例", max_digits=5, decimal_places=4, null=True, blank=True
    )
    first_self_pay_ratio_max = models.DecimalField(
        "先行自付比例上限", max_digits=5, decimal_places=4, null=True, blank=True
    )
    deductible_once_per_stay = models.BooleanField(
        "住院期间医院与药店只计一次起付线", default=False
    )
    inpatient_external_drugs_in_stay = models.BooleanField(
        "住院期间院外配药计入住院费用", default=False
    )
    special_drug_med_type = models.CharField("特药门诊医疗类别", max_length=10, blank=True)
    payment_standard_rule = models.CharField(
        "支付标准规则",
        max_length=40,
        choices=PaymentStandardRule.choices,
        default=PaymentStandardRule.NATIONAL,
    )
    pharmacy_spend_outside_hospital_budget = models.BooleanField(
        "药店费用单列预算，不纳入医院总额", default=False
    )

    # Deadlines [HB art. 9, 10]
    review_deadline_working_days = models.PositiveSmallIntegerField(
        "认定办理时限（工作日）", null=True, blank=True
    )
    reevaluation_window_working_days = models.PositiveSmallIntegerField(
        "复查评估窗口（截止前工作日）", null=True, blank=True
    )

    # Designation [HB art. 21-22]
    exit_ban_months = models.PositiveSmallIntegerField("退出后禁入期（月）", null=True, blank=True)

    # Conditions checked when the agency evaluates an application [AH §2(2-3), HB art. 18-19,
    # CX art. 13-14]; null / False means the profile sets no such condition.
    hospital_min_level = models.PositiveSmallIntegerField(
        "双通道医疗机构最低等级", choices=HospitalLevel.choices, null=True, blank=True
    )
    hospital_requires_pathology_or_gene = models.BooleanField(
        "医疗机构须具备病理或基因检测能力", default=False
    )
    pharmacy_requires_biologics_licence = models.BooleanField(
        "药店经营范围须含生物制品", default=False
    )
    pharmacy_requires_cold_chain = models.BooleanField("药店须具备冷链储存配送", default=False)
    pharmacy_requires_traceability = models.BooleanField("药店须实现药品追溯", default=False)
    pharmacy_requires_realtime_settlement = models.BooleanField(
        "药店须实现即时联网结算", default=False
    )
    pharmacy_requires_e_prescription = models.BooleanField("药店须接入电子处方流转", default=False)
    no_suspension_within_months = models.PositiveSmallIntegerField(
        "申请前若干月内未被暂停协议", null=True, blank=True
    )

    # Published duties [HB art. 16, 26; CX art. 30]: the designation's processing time limit
    # (the seeds require it published but name no number: null = "按统筹地区经办规程") and the
    # time limit for answering a complaint (null = complaints.models.DEFAULT_REPLY_WORKING_DAYS).
    designation_time_limit_working_days = models.PositiveSmallIntegerField(
        "定点申请办理时限（工作日）", null=True, blank=True
    )
    complaint_reply_working_days = models.PositiveSmallIntegerField(
        "投诉举报答复时限（工作日）", null=True, blank=True
    )
    # Reports [SD §10: 每月10日前报送省医保局]: the day of the month by which each city of the
    # province submits last month's dual-channel table (analytics reminds on the 5th and flags
    # late cities the day after); null = the region asks for no monthly table.
    monthly_table_due_day = models.PositiveSmallIntegerField(
        "月度统计表报送截止日", null=True, blank=True
    )

    # Where each value comes from: field name -> short citation of the seed article.
    citations = models.JSONField("依据条款", default=dict, blank=True)

    # Coverage [AH §2(2-3), SD §5-6, CX art. 14-15]
    pharmacy_min_drugs_urban = models.PositiveSmallIntegerField(
        "市辖区药店最少配备品种", null=True, blank=True
    )
    pharmacy_min_drugs_county = models.PositiveSmallIntegerField(
        "县域药店最少配备品种", null=True, blank=True
    )
    pharmacy_min_negotiated_ratio = models.DecimalField(
        "药店配备谈判药品比例下限", max_digits=5, decimal_places=4, null=True, blank=True
    )
    min_pharmacies_per_county = models.PositiveSmallIntegerField(
        "每县最少双通道药店", null=True, blank=True
    )
    min_hospitals_per_county = models.PositiveSmallIntegerField(
        "每县最少双通道医疗机构", null=True, blank=True
    )

    # Prescriptions [CX art. 21, HB art. 38]; null = the national rule in prescriptions.rules.
    prescription_valid_days = models.PositiveSmallIntegerField(
        "处方有效天数", null=True, blank=True
    )
    long_prescription_max_days = models.PositiveSmallIntegerField(
        "长期处方最长天数", null=True, blank=True
    )
    early_refill_tolerance_days = models.PositiveSmallIntegerField(
        "提前购药容许天数", null=True, blank=True
    )

    # Drugs in force and prices [SD §1, CX art. 4, 14(2)]
    # Days after a negotiated drug's agreement period (协议期) ends during which the fund still
    # pays for it; null = none, the drug is not payable from the day after the period ends.
    agreement_grace_days = models.PositiveSmallIntegerField(
        "协议期满后宽限天数", null=True, blank=True
    )
    sale_price_rule = models.CharField(
        "药店销售价格规则",
        max_length=20,
        choices=SalePriceRule.choices,
        default=SalePriceRule.RETAIL,
    )

    # Out-of-area [HB art. 40, AH §2(5), CX art. 17]: a purchase at a designated pharmacy in
    # another pooling region of the same province is settled directly (no filing needed);
    # False: not yet (Anhui), the person pays and claims manually at home.
    in_province_direct_settlement = models.BooleanField("省内异地购药直接结算", default=True)

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "统筹区政策参数"
        verbose_name_plural = "统筹区政策参数"
        constraints = [
            models.CheckConstraint(
                condition=Q(first_self_pay_ratio__isnull=True)
                | (Q(first_self_pay_ratio__gte=Decimal("0")) & Q(first_self_pay_ratio__lte=1)),
                name="profile_first_self_pay_ratio_range",
            ),
            models.CheckConstraint(
                condition=Q(first_self_pay_ratio_max__isnull=True)
                | (
                    Q(first_self_pay_ratio_max__gte=Decimal("0"))
                    & Q(first_self_pay_ratio_max__lte=1)
                ),
                name="profile_first_self_pay_ratio_max_range",
            ),
            models.CheckConstraint(
                condition=Q(pharmacy_min_negotiated_ratio__isnull=True)
                | (
                    Q(pharmacy_min_negotiated_ratio__gte=Decimal("0"))
                    & Q(pharmacy_min_negotiated_ratio__lte=1)
                ),
                name="profile_pharmacy_min_negotiated_ratio_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def citations_in_words(self) -> dict[str, str]:
        """The citations as a page shows them: no short form of a document (``HB art. 40``)."""
        return citations_in_words(self.citations)


class InstitutionKind(models.TextChoices):
    HOSPITAL = "hospital", "定点医疗机构"
    PHARMACY = "pharmacy", "定点零售药店"
    AGENCY = "agency", "医保经办机构"


class Institution(models.Model):
    """A hospital, a pharmacy or an insurance agency of a region."""

    kind = models.CharField("类型", max_length=10, choices=InstitutionKind.choices)
    name = models.CharField("名称", max_length=100)
    credit_code = models.CharField("统一社会信用代码", max_length=18, unique=True)
    # National platform code (fixmedins_code): H + 11 digits for hospitals, P + 11 for pharmacies.
    platform_code = models.CharField("定点机构编码", max_length=12, blank=True)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="institutions", verbose_name="所在区划"
    )
    address = models.CharField("地址", max_length=200, blank=True)
    phone = models.CharField("联系电话", max_length=20, blank=True)

    # Hospitals [HB art. 18]
    hospital_level = models.PositiveSmallIntegerField(
        "医院等级", choices=HospitalLevel.choices, null=True, blank=True
    )
    has_pathology = models.BooleanField("具备病理检测能力", default=False)
    has_gene_testing = models.BooleanField("具备基因检测能力", default=False)

    # Pharmacies [HB art. 19, CX art. 14]
    has_biologics_licence = models.BooleanField("经营范围含生物制品", default=False)
    has_cold_chain = models.BooleanField("具备冷链储存配送", default=False)
    realtime_settlement = models.BooleanField("已实现即时联网结算", default=False)
    e_prescription_connected = models.BooleanField("已接入电子处方流转", default=False)
    # The day each flag last turned on (null while off), set by registry.services.institution_*:
    # the Shandong monthly table counts a pharmacy for a past month only if it had it by the
    # month's end [SD §5, §7, §10]. Rows flagged before these dates existed got the designation's
    # start (else the migration day): registry migration 0011.
    realtime_settlement_since = models.DateField("即时联网结算开通日期", null=True, blank=True)
    e_prescription_since = models.DateField("电子处方流转接入日期", null=True, blank=True)
    traceability_enabled = models.BooleanField("已实现药品追溯码扫码", default=False)

    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "机构"
        verbose_name_plural = "机构"
        ordering = ["region_id", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="hospital") | Q(hospital_level__isnull=True),
                name="institution_level_only_for_hospitals",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_provincial_agency(self) -> bool:
        """A province's medical-insurance agency: it loads national data such as the calendar."""
        return self.kind == InstitutionKind.AGENCY and self.region.level == RegionLevel.PROVINCE


class DesignationStatus(models.TextChoices):
    APPLIED = "applied", "已申请"  # the institution or hospital asked to be designated
    EVALUATED = "evaluated", "评估通过"  # the agency checked it against the profile's conditions
    PUBLICISED = "publicised", "公示中"  # the result is published for objections
    AGREEMENT_SIGNED = "agreement_signed", "已签补充协议"  # supplementary service agreement signed
    ACTIVE = "active", "已纳入"  # designated: may serve dual-channel patients
    SUSPENDED = "suspended", "暂停"  # settlement suspended pending rectification
    EXITED = "exited", "已退出"  # removed for a listed cause; banned until ``ban_until``
    REJECTED = "rejected", "未通过"  # evaluation or publicity failed


class ExitReason(models.TextChoices):
    """Causes of exit [HB art. 21 (institutions), art. 22 (physicians)]."""

    FORGED_RECORDS = "forged_records", "伪造、变造进销存票据账目或诊断评估材料"
    STEERING_PATIENTS = "steering_patients", "要求或诱导参保人员到指定药店购药"
    OVERPRICED = "overpriced", "超过医保支付标准销售谈判药品"
    FALSE_EVIDENCE = "false_evidence", "提供虚假证明材料"
    FACILITATED_RESALE = "facilitated_resale", "为转卖药品获取非法利益提供便利"
    REAL_NAME_VIOLATION = "real_name_violation", "未执行实名制就医购药规定"
    COMPLAINTS = "complaints", "被举报投诉且经核实无正当理由"
    DUTY_FAILURE = "duty_failure", "未履行诊断确认、处方、复查评估职责"
    FUND_LOSS = "fund_loss", "造成基金损失或严重不良影响的其他违规"
    VOLUNTARY = "voluntary", "主动申请退出"
    OTHER = "other", "统筹地区规定的其他情形"


class Designation(models.Model):
    """One round of dual-channel designation of an institution or a physician."""

    institution = models.ForeignKey(
        Institution,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="designations",
    )
    physician = models.ForeignKey(
        "Physician", null=True, blank=True, on_delete=models.PROTECT, related_name="designations"
    )
    status = models.CharField(
        "状态", max_length=20, choices=DesignationStatus.choices, default=DesignationStatus.APPLIED
    )
    applied_on = models.DateField("申请日期", default=timezone.localdate)
    effective_from = models.DateField("纳入日期", null=True, blank=True)
    agreement_no = models.CharField("补充协议编号", max_length=50, blank=True)
    exit_reason = models.CharField(
        "退出原因", max_length=30, choices=ExitReason.choices, blank=True
    )
    exited_on = models.DateField("退出日期", null=True, blank=True)
    ban_until = models.DateField("禁入截止日", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "双通道定点资格"
        verbose_name_plural = "双通道定点资格"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(institution__isnull=False) & Q(physician__isnull=True))
                | (Q(institution__isnull=True) & Q(physician__isnull=False)),
                name="designation_one_subject",
            ),
            # At most one open round per subject (anything not exited or rejected).
            models.UniqueConstraint(
                fields=["institution"],
                condition=~Q(status__in=["exited", "rejected"]),
                name="uniq_open_designation_institution",
            ),
            models.UniqueConstraint(
                fields=["physician"],
                condition=~Q(status__in=["exited", "rejected"]),
                name="uniq_open_designation_physician",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.institution or self.physician} · {self.get_status_display()}"


class DesignationTransition(StatusHistory):
    designation = models.ForeignKey(Designation, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "定点资格变更记录"
        verbose_name_plural = "定点资格变更记录"


_S = DesignationStatus
# How a designation move is written (``services.designation_transition``, the agency's officer).
_DESIGNATION_WRITE = {
    "error_code": codes.ILLEGAL_TRANSITION,
    "model": Designation,
    "history": DesignationTransition,
    "history_fk": "designation",
    "audit_action": "registry.designation_transition",
}

# Hospitals and pharmacies: evaluated against the profile, publicised, agreement signed [HB
# art. 16, CX art. 15], then active; suspended or exited for the listed causes [HB art. 21].
INSTITUTION_MACHINE = StateMachine(
    DesignationStatus,
    {
        _S.APPLIED: {_S.EVALUATED, _S.REJECTED},
        _S.EVALUATED: {_S.PUBLICISED, _S.REJECTED},
        _S.PUBLICISED: {_S.AGREEMENT_SIGNED, _S.REJECTED},
        _S.AGREEMENT_SIGNED: {_S.ACTIVE},
        _S.ACTIVE: {_S.SUSPENDED, _S.EXITED},
        _S.SUSPENDED: {_S.ACTIVE, _S.EXITED},
    },
    when=lambda designation: designation.institution_id is not None,
    **_DESIGNATION_WRITE,
)

# Physicians are filed by their hospital and accepted by the agency [CX art. 20, AH §2(2)].
PHYSICIAN_MACHINE = StateMachine(
    DesignationStatus,
    {
        _S.APPLIED: {_S.ACTIVE, _S.REJECTED},
        _S.ACTIVE: {_S.SUSPENDED, _S.EXITED},
        _S.SUSPENDED: {_S.ACTIVE, _S.EXITED},
    },
    when=lambda designation: designation.institution_id is None,
    **_DESIGNATION_WRITE,
)


class Physician(models.Model):
    """A hospital's 医保医师; one with an active designation is a responsible physician (责任医师)
    [HB art. 14, 20, 42; CX art. 20]."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="physician",
    )
    hospital = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="physicians", verbose_name="医疗机构"
    )
    name = models.CharField("姓名", max_length=50)
    staff_code = models.CharField("医保医师代码", max_length=30, unique=True)
    department = models.CharField("科室", max_length=50)
    title = models.PositiveSmallIntegerField("职称", choices=TitleRank.choices)
    practising_certificate_no = models.CharField("执业证书编码", max_length=30)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "医师"
        verbose_name_plural = "医师"
        ordering = ["hospital_id", "name"]

    def __str__(self) -> str:
        return f"{self.name}（{self.get_title_display()}）"


class PhysicianAssessment(models.Model):
    """The hospital's annual assessment of a responsible physician [CX art. 20]."""

    class Result(models.TextChoices):
        PASSED = "passed", "合格"
        FAILED = "failed", "不合格"

    physician = models.ForeignKey(Physician, on_delete=models.CASCADE, related_name="assessments")
    year = models.PositiveSmallIntegerField("年度")
    result = models.CharField("结果", max_length=10, choices=Result.choices)
    note = models.TextField("说明", blank=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    assessed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "医师年度考核"
        verbose_name_plural = "医师年度考核"
        constraints = [
            models.UniqueConstraint(fields=["physician", "year"], name="uniq_assessment_year")
        ]

    def __str__(self) -> str:
        return f"{self.physician} {self.year} {self.get_result_display()}"


class Pharmacist(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pharmacist",
    )
    pharmacy = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="pharmacists", verbose_name="药店"
    )
    name = models.CharField("姓名", max_length=50)
    practising_certificate_no = models.CharField("执业药师注册证号", max_length=30, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "药师"
        verbose_name_plural = "药师"

    def __str__(self) -> str:
        return self.name


class InsuranceType(models.TextChoices):
    """``insutype`` of the national platform."""

    EMPLOYEE = "310", "职工基本医疗保险"
    RESIDENT = "390", "城乡居民基本医疗保险"


class Sex(models.TextChoices):
    MALE = "1", "男"
    FEMALE = "2", "女"


class BenefitStatus(models.TextChoices):
    NORMAL = "normal", "正常享受待遇"
    SUSPENDED = "suspended", "暂停待遇"
    TERMINATED = "terminated", "终止参保"


class InsuredPerson(models.Model):
    """A person insured in a pooling region. Sex and birth date are derived from the ID number."""

    id_number = models.CharField("身份证号", max_length=18, unique=True)
    name = models.CharField("姓名", max_length=50)
    sex = models.CharField("性别", max_length=1, choices=Sex.choices)
    birth_date = models.DateField("出生日期")
    phone = models.CharField("联系电话", max_length=20, blank=True)
    address = models.CharField("住址", max_length=200, blank=True)
    insurance_type = models.CharField("参保类型", max_length=3, choices=InsuranceType.choices)
    # further layers after the basic fund [SD §2–3]
    medical_assistance = models.BooleanField("医疗救助对象", default=False)
    commercial_insured = models.BooleanField("参加城市定制型商业医疗保险（惠民保）", default=False)
    enrolment_region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="insured_persons", verbose_name="参保地"
    )
    # psn_no from the national platform (1101); assigned by the agency.
    person_no = models.CharField("人员编号", max_length=30, unique=True)
    benefit_status = models.CharField(
        "待遇状态", max_length=12, choices=BenefitStatus.choices, default=BenefitStatus.NORMAL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "参保人"
        verbose_name_plural = "参保人"

    def __str__(self) -> str:

        return mask_name(self.name)


class BenefitStatusChange(StatusRecord):
    """A change of an insured person's benefit status as the registry learned it, dated from
    the day it took effect (the platform's pause date, else the day it was recorded): the
    person's status on any earlier day is read from here, e.g. a purchase before a death is
    not one after it [HB art. 23, 47].

    Not a ``StatusHistory`` of a state machine: the status is the platform's fact (1101), copied
    as it comes (any status to any other), not a transition this product decides."""

    person = models.ForeignKey(
        InsuredPerson, on_delete=models.CASCADE, related_name="benefit_status_changes"
    )
    effective_on = models.DateField("生效日期")

    class Meta:
        verbose_name = "待遇状态变更记录"
        verbose_name_plural = "待遇状态变更记录"
        ordering = ["effective_on", "at", "id"]
        indexes = [
            models.Index(fields=["person", "effective_on"], name="benefit_change_person_day")
        ]

    def __str__(self) -> str:
        return f"{self.effective_on} {self.from_status or '—'} → {self.to_status}"


class EquippedDrug(models.Model):
    """A drug an institution has equipped (配备) and publishes [SD §4, §8]."""

    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="equipped_drugs"
    )
    drug = models.ForeignKey("catalog.Drug", on_delete=models.PROTECT, related_name="equipped_at")
    since = models.DateField("配备日期", default=timezone.localdate)

    class Meta:
        verbose_name = "机构配备药品"
        verbose_name_plural = "机构配备药品"
        constraints = [
            models.UniqueConstraint(fields=["institution", "drug"], name="uniq_equipped_drug")
        ]

    def __str__(self) -> str:
        return f"{self.institution} · {self.drug}"


class EnrolmentChange(models.Model):
    """A move of a person's insurance relation to another pooling region of the province, from
    a date [HB art. 50]: benefits follow the new region's rules from that day. The person's
    ``enrolment_region`` is the latest; ``selectors.enrolment_region_on`` answers for a day."""

    person = models.ForeignKey(
        InsuredPerson, on_delete=models.PROTECT, related_name="enrolment_changes"
    )
    from_region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name="转出地"
    )
    to_region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name="转入地"
    )
    effective_on = models.DateField("转移生效日期")
    reason = models.CharField("说明", max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField("办理时间", default=timezone.now)

    class Meta:
        verbose_name = "参保关系转移"
        verbose_name_plural = "参保关系转移"
        ordering = ["person_id", "effective_on", "id"]

    def __str__(self) -> str:
        return f"{self.from_region_id}→{self.to_region_id}@{self.effective_on}"


# --- inpatient stays and the inpatient filing form's review [AH §2(5), annex; CX art. 19] ------


class InpatientStay(models.Model):
    """A person's stay (住院) at a hospital, named by the hospital's admission number (住院号).

    Registered at the hospital's insurance desk (医保办) or from its HIS. The stay is the unit of
    the inpatient deductible where the profile counts it once across the hospital's bill and the
    pharmacy's purchases [AH §2(5)], and the bill external drugs are added to where the profile
    says they are billed in the stay [CX art. 19].
    """

    hospital = models.ForeignKey(
        "Institution", on_delete=models.PROTECT, related_name="inpatient_stays"
    )
    person = models.ForeignKey(
        "InsuredPerson", on_delete=models.PROTECT, related_name="inpatient_stays"
    )
    admission_no = models.CharField("住院号", max_length=30)
    admitted_on = models.DateField("入院日期")
    diagnosis_code = models.CharField("住院诊断编码", max_length=20)
    diagnosis_name = models.CharField("住院诊断", max_length=200)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    registered_at = models.DateTimeField("登记时间", default=timezone.now)

    class Meta:
        verbose_name = "住院登记"
        verbose_name_plural = "住院登记"
        ordering = ["-admitted_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "admission_no"], name="stay_admission_no")
        ]

    def __str__(self) -> str:
        return f"{self.hospital_id}:{self.admission_no}"


class FilingReviewStatus(models.TextChoices):
    SUBMITTED = "submitted", "待医院医保办审核"
    APPROVED = "approved", "审核同意"
    REFUSED = "refused", "审核不同意"


class FilingReview(models.Model):
    """The hospital insurance office's review (医院医保办审核意见) of an inpatient external-purchase
    filing form [AH annex]: the form is valid only once approved by the hospital's reviewer."""

    document = models.OneToOneField(
        "documents.SignedDocument",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="备案表",
    )
    stay = models.ForeignKey(InpatientStay, on_delete=models.PROTECT, related_name="reviews")
    status = models.CharField(
        "状态",
        max_length=10,
        choices=FilingReviewStatus.choices,
        default=FilingReviewStatus.SUBMITTED,
    )
    opinion = models.CharField("审核意见", max_length=500, blank=True)
    submitted_at = models.DateTimeField("提交时间", default=timezone.now)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField("审核时间", null=True, blank=True)

    class Meta:
        verbose_name = "外购备案表医保办审核"
        verbose_name_plural = "外购备案表医保办审核"
        ordering = ["-submitted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.document_id} {self.status}"


class FilingReviewTransition(StatusHistory):
    review = models.ForeignKey(FilingReview, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "备案表审核变更"
        verbose_name_plural = "备案表审核变更"


# Submitted → approved | refused, once, by the stay hospital's reviewer
# (``services.filing_review_decide``).
FILING_REVIEW_MACHINE = StateMachine(
    FilingReviewStatus,
    {
        FilingReviewStatus.SUBMITTED: {
            FilingReviewStatus.APPROVED,
            FilingReviewStatus.REFUSED,
        }
    },
    error_code=codes.FILING_REVIEW_DECIDED,
    model=FilingReview,
    history=FilingReviewTransition,
    history_fk="review",
    audit_action="registry.filing_review_{to}",
    patient=lambda review: review.stay.person,
    summary=lambda review, from_status, to_status: {
        "document": review.document_id,
        "from": from_status,
        "to": to_status,
    },
)


class OutOfAreaFilingKind(models.TextChoices):
    LONG_TERM = "long_term", "异地长期居住"
    REFERRAL = "referral", "转诊转院"
    TEMPORARY = "temporary", "临时外出就医"


class OutOfAreaFiling(models.Model):
    """A cross-province filing (异地就医备案) [HB art. 41, CX art. 17]: while it is valid, a
    purchase in the filed place is settled directly — the treating place's catalogue, the
    enrolment region's benefits. Within the province no filing is needed [HB art. 40]."""

    filing_no = models.CharField("备案编号", max_length=30, unique=True)
    person = models.ForeignKey(
        InsuredPerson, on_delete=models.PROTECT, related_name="out_of_area_filings"
    )
    # the province, or a city / county in it, where the person is treated (就医地)
    treating_region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name="就医地"
    )
    kind = models.CharField("备案类型", max_length=12, choices=OutOfAreaFilingKind.choices)
    valid_from = models.DateField("备案开始日期")
    valid_to = models.DateField("备案截止日期")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at_institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", verbose_name="办理机构"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    # 撤销备案: from this day on the filing no longer covers a purchase (the person came back,
    # or it was made in error); the row stays for the settlements made under it [HB art. 41]
    cancelled_on = models.DateField("撤销生效日期", null=True, blank=True)
    cancel_reason = models.CharField("撤销原因", max_length=200, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    cancelled_at = models.DateTimeField("撤销办理时间", null=True, blank=True)

    class Meta:
        verbose_name = "异地就医备案"
        verbose_name_plural = "异地就医备案"
        ordering = ["-valid_from", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__gte=models.F("valid_from")),
                name="out_of_area_filing_period",
            )
        ]

    def __str__(self) -> str:
        return self.filing_no

    def covers_day(self, on: date) -> bool:
        """Valid on ``on``: within its period and before any cancellation."""
        return self.valid_from <= on <= self.valid_to and (
            self.cancelled_on is None or on < self.cancelled_on
        )
