"""Statistics and reports for supervision [SD §10, DESIGN §5.6].

The Shandong monthly table (全市谈判药品"双通道"管理工作情况统计表): each county enters its
progress text (``CountyProgress``, ≤600 characters); the city submits the month's table to the
province by the 10th (``MonthlySubmission``, whose figures are frozen at submission).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dualchannel.core.models import StatusHistory
from dualchannel.core.statemachine import StateMachine

from . import error_codes as codes

# SD annex: 主要工作进展情况（字数控制在600字以内）
PROGRESS_MAX_CHARS = 600
# The day the table is due is the province's ``PolicyProfile.monthly_table_due_day`` [SD §10:
# 每月10日前报送省医保局]; only the Shandong seed asks for a table (selectors.monthly_table_duties).


class CountyProgress(models.Model):
    """A county's 主要工作进展情况 for one month [SD annex]."""

    county = models.ForeignKey(
        "registry.Region", on_delete=models.PROTECT, related_name="+", verbose_name="县（市、区）"
    )
    month = models.DateField("月份")  # the month's first day
    text = models.TextField("主要工作进展情况", blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="填报人"
    )
    updated_at = models.DateTimeField("填报时间", default=timezone.now)

    class Meta:
        verbose_name = "县级双通道工作进展"
        verbose_name_plural = "县级双通道工作进展"
        ordering = ["month", "county_id"]
        constraints = [
            models.UniqueConstraint(fields=["county", "month"], name="uniq_county_progress_month"),
        ]

    def __str__(self) -> str:
        return f"{self.county_id} · {self.month:%Y-%m}"


class SubmissionStatus(models.TextChoices):
    PENDING = "pending", "待报送"  # the month ended; the city has not submitted yet
    SUBMITTED = "submitted", "已报送"  # the city sent the table to the province
    LATE = "late", "逾期未报送"  # not submitted by the 10th: flagged on the 11th [SD §10]


class MonthlySubmission(models.Model):
    """A city's monthly table for the province [SD §10]: figures frozen when submitted."""

    city = models.ForeignKey(
        "registry.Region", on_delete=models.PROTECT, related_name="+", verbose_name="市"
    )
    month = models.DateField("月份")  # the month's first day
    status = models.CharField(
        "状态", max_length=20, choices=SubmissionStatus.choices, default=SubmissionStatus.PENDING
    )
    flagged_late = models.BooleanField("曾逾期", default=False)
    reminded_on = models.DateField("提醒日期", null=True, blank=True)
    table = models.JSONField("报送数据", default=dict, blank=True)
    contact_phone = models.CharField("联系电话", max_length=20, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="填报人",
    )
    submitted_at = models.DateTimeField("报送时间", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "月度统计表报送"
        verbose_name_plural = "月度统计表报送"
        ordering = ["-month", "city_id"]
        constraints = [
            models.UniqueConstraint(fields=["city", "month"], name="uniq_submission_city_month"),
        ]

    def __str__(self) -> str:
        return f"{self.city_id} · {self.month:%Y-%m} · {self.get_status_display()}"


class SubmissionTransition(StatusHistory):
    submission = models.ForeignKey(
        MonthlySubmission, on_delete=models.CASCADE, related_name="history"
    )

    class Meta(StatusHistory.Meta):
        verbose_name = "报送状态变更记录"
        verbose_name_plural = "报送状态变更记录"


_S = SubmissionStatus
# Pending until the 10th; flagged late on the 11th; a late city may still submit [SD §10].
SUBMISSION_MACHINE = StateMachine(
    SubmissionStatus,
    {
        _S.PENDING: {_S.SUBMITTED, _S.LATE},
        _S.LATE: {_S.SUBMITTED},
    },
    error_code=codes.SUBMISSION_TRANSITION,
    model=MonthlySubmission,
    history=SubmissionTransition,
    history_fk="submission",
    audit_action="analytics.sd_submission_{to}",
    summary=lambda s, from_, to: {
        "city": s.city_id,
        "month": s.month.strftime("%Y-%m"),
        "from": from_,
        "to": to,
    },
)


# --- rollups of settlements (issue 13 §1, §6) ---------------------------------------------------
#
# The statistics pages read these, never a finished answer kept aside. They are maintained
# incrementally by ``analytics.rollups.refresh`` from the settlements not yet rolled up (the
# settlement's ``rolled_up_at`` / ``reversal_rolled_up_at`` markers), and can be rebuilt from
# detail (``manage.py rollup_rebuild``). Amounts are whole fen (integers): sums are exact on
# SQLite as on PostgreSQL, and cheaper than numeric. ``month`` leads the primary key so that a
# PostgreSQL table partitioned by month can keep it.

# drug_key / physician_key of a line without a catalogue drug / a settlement without a physician
NO_KEY = 0

# The measures and keys of the rollups, shared by both write paths (``rollups``, ``rollups_pg``)
PAYERS = ("fund", "critical_illness", "assistance", "commercial", "personal")
AMOUNTS = ("total", *PAYERS)
COUNTS = ("settlements", "lines", "quantity")
MEASURES = (*COUNTS, *(f"{name}_fen" for name in AMOUNTS))
ROLLUP_KEY = (
    "month",
    "county_id",
    "institution_id",
    "drug_key",
    "physician_key",
    "insurance_type",
    "budget_line",
)
PATIENT_KEY = (
    "month",
    "county_id",
    "institution_id",
    "drug_key",
    "physician_key",
    "insurance_type",
    "person_id",
)
COUNTY_DRUG_KEY = ("month", "county_id", "drug_key", "insurance_type")
COUNTY_PERSON_KEY = ("month", "county_id", "insurance_type", "person_id")
PARTY_KEY = ("month", "kind", "county_id", "party", "drug_key")


def _rollup_key(to: str) -> models.ForeignKey:
    """A key column of a rollup: the id only (no constraint, no index of its own: the primary
    key leads with the month)."""
    return models.ForeignKey(
        to, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )


class RollupMeasures(models.Model):
    """Counts and the payers' amounts in whole fen of a rollup's live settlements."""

    # a settlement counts once, under the drug of its first line; ``lines`` counts every line
    settlements = models.IntegerField("结算人次", default=0)
    lines = models.IntegerField("明细条数", default=0)
    quantity = models.BigIntegerField("数量", default=0)
    total_fen = models.BigIntegerField("医疗费总额（分）", default=0)
    fund_fen = models.BigIntegerField("统筹基金支付（分）", default=0)
    critical_illness_fen = models.BigIntegerField("大病保险支付（分）", default=0)
    assistance_fen = models.BigIntegerField("医疗救助支付（分）", default=0)
    commercial_fen = models.BigIntegerField("惠民保支付（分）", default=0)
    personal_fen = models.BigIntegerField("个人现金支付（分）", default=0)

    class Meta:
        abstract = True


class SettlementRollup(RollupMeasures):
    """Live settlements of one month, county, institution, drug, physician, insurance type and
    budget line: counts and the payers' amounts in fen (a reversal subtracts from its own month)."""

    pk = models.CompositePrimaryKey(
        "month",
        "county",
        "institution",
        "drug_key",
        "physician_key",
        "insurance_type",
        "budget_line",
    )
    month = models.DateField("月份")  # the month's first day (of settled_on)
    county = _rollup_key("registry.Region")
    institution = _rollup_key("registry.Institution")
    drug_key = models.IntegerField("药品")  # catalog.Drug id, NO_KEY for other items
    physician_key = models.IntegerField("医师")  # registry.Physician id, NO_KEY for none
    insurance_type = models.CharField("险种", max_length=3)
    budget_line = models.CharField("预算口径", max_length=20)

    class Meta:
        verbose_name = "结算汇总"
        verbose_name_plural = "结算汇总"
        indexes = [models.Index(fields=["county", "month"], name="settlement_rollup_county")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} · {self.institution_id} · {self.drug_key}"


class PatientRollup(models.Model):
    """Who was served: one row per person and month, county, institution, drug, physician and
    insurance type, with the number of live settlements (> 0: served). Distinct persons cannot be
    summed, so "patients served" is a COUNT(DISTINCT person) over these rows."""

    pk = models.CompositePrimaryKey(
        "month", "county", "institution", "drug_key", "physician_key", "insurance_type", "person"
    )
    month = models.DateField("月份")
    county = _rollup_key("registry.Region")
    institution = _rollup_key("registry.Institution")
    drug_key = models.IntegerField("药品")
    physician_key = models.IntegerField("医师")
    insurance_type = models.CharField("险种", max_length=3)
    person = _rollup_key("registry.InsuredPerson")
    settlements = models.IntegerField("结算人次", default=0)

    class Meta:
        verbose_name = "就诊人汇总"
        verbose_name_plural = "就诊人汇总"
        indexes = [models.Index(fields=["county", "month"], name="patient_rollup_county")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} · {self.institution_id} · {self.person_id}"


class RollupState(models.Model):
    """The one row refreshers lock, in turn (``pk`` 1): when the rollups were last brought up to
    date (数据截至) and how much they hold."""

    SINGLETON = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON)
    refreshed_at = models.DateTimeField("数据截至", null=True, blank=True)
    settlements_rolled = models.BigIntegerField("已汇总结算", default=0)
    reversals_rolled = models.BigIntegerField("已汇总冲销", default=0)

    class Meta:
        verbose_name = "汇总刷新状态"
        verbose_name_plural = "汇总刷新状态"

    def __str__(self) -> str:
        return f"rollups as of {self.refreshed_at}"


# The coarse rollups the province- and city-wide statistics read (key figures, trend, by drug,
# by county, by insurance type): the same settlements without institution, physician and budget
# line, maintained in the same transaction as the fine ones, so a question over a city or the
# province over months reads a few rows per month × county instead of one per institution ×
# drug × physician. The finer tables answer what only they can (by institution, by physician,
# the hospitals' evaluation).


class CountyDrugRollup(RollupMeasures):
    """Live settlements of one month, county, drug and insurance type (``SettlementRollup``
    summed over institution, physician and budget line)."""

    pk = models.CompositePrimaryKey("month", "county", "drug_key", "insurance_type")
    month = models.DateField("月份")
    county = _rollup_key("registry.Region")
    drug_key = models.IntegerField("药品")
    insurance_type = models.CharField("险种", max_length=3)

    class Meta:
        verbose_name = "县区药品结算汇总"
        verbose_name_plural = "县区药品结算汇总"
        indexes = [models.Index(fields=["county", "month"], name="county_drug_rollup_county")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} · {self.county_id} · {self.drug_key}"


class CountyPersonRollup(models.Model):
    """Who was served in one month and county under one insurance type: one row per person with
    the number of their live settlements (> 0: served). Patients served over a city or the
    province, per month, county or insurance type are a COUNT(DISTINCT person) over these rows,
    one per person and month × county rather than one per institution × drug × physician."""

    pk = models.CompositePrimaryKey("month", "county", "insurance_type", "person")
    month = models.DateField("月份")
    county = _rollup_key("registry.Region")
    insurance_type = models.CharField("险种", max_length=3)
    person = _rollup_key("registry.InsuredPerson")
    settlements = models.IntegerField("结算人次", default=0)

    class Meta:
        verbose_name = "县区就诊人汇总"
        verbose_name_plural = "县区就诊人汇总"
        indexes = [models.Index(fields=["county", "month"], name="county_person_rollup_county")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} · {self.county_id} · {self.person_id}"


CIRCULATION_KEY = ("month", "county_id")
CIRCULATION_MEASURES = ("issued", "routed", "dispensed")


class CirculationRollup(models.Model):
    """Prescriptions of one month and county: issued by the county's hospitals in the month,
    routed (circulated to a pharmacy) in the month from them, and dispensings at the county's
    institutions in the month [SD §10, CX art. 21]. Taken in by the same refresh as the
    settlements, from the markers on the prescriptions and the dispensings."""

    pk = models.CompositePrimaryKey("month", "county")
    month = models.DateField("月份")
    county = _rollup_key("registry.Region")
    issued = models.IntegerField("开具处方", default=0)
    routed = models.IntegerField("流转处方", default=0)
    dispensed = models.IntegerField("取药", default=0)

    class Meta:
        verbose_name = "处方流转汇总"
        verbose_name_plural = "处方流转汇总"
        indexes = [models.Index(fields=["county", "month"], name="circulation_rollup_county")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} · {self.county_id}"


# --- who was served in which months of a year (issue 13 §6: distinct persons at scale) ----------
#
# Patients served over a range of months cannot be summed from monthly counts; counted over the
# month rows above they are a hash of millions of (group, person) pairs at a province's scale. These
# two tables keep one row per person and calendar year in an area (and insurance type, or drug),
# with the person's live settlements in each month of the year (``m01`` … ``m12``, so a reversal
# can take a month away again), the same counts of the year before (``p01`` … ``p12``: a
# settlement counts in its year's row and in the next year's) and ``months``, a bitmask the
# database derives from them (bit 0: January, bit 11: December, bits 12–23 the months of the year
# before). "Persons served in months a..b of a year in area A" is then ``count(*) WHERE area = A
# AND months & mask <> 0``, one row per person; a range over two years (the last 12 months) is
# the same one pass over the later year's rows with a mask of 24 bits; a range over three years
# or more counts a person in the first year of the range where they were served
# (``stats.served_persons``: each year's rows without a row of an earlier year of the range).
#
# ``area`` is a code prefix, as the statistics' scopes are: the province's 2 digits, the city's 4
# or the county's 6 (``Region.code_prefix``); every settlement counts in its county's three.

MONTH_COLUMNS = tuple(f"m{month:02d}" for month in range(1, 13))
PREVIOUS_YEAR_COLUMNS = tuple(f"p{month:02d}" for month in range(1, 13))
TWO_YEARS = MONTH_COLUMNS + PREVIOUS_YEAR_COLUMNS  # bit n of ``months`` is column n
# the year right after the area: a year's rows of an area are one range of the primary key, in
# (type or drug, person) order, which a range over years reads per year (``stats.served_persons``)
AREA_PERSON_KEY = ("area", "year", "insurance_type", "person_id")
AREA_DRUG_PERSON_KEY = ("area", "year", "drug_key", "person_id")
PARTY_PERSON_KEY = ("kind", "area", "year", "party", "person_id")
ALL_TYPES = ""  # the insurance type of an area's row over every type
PERSON_AREAS = (2, 4, 6)  # province, city, county: the prefixes a county's code counts in
DRUG_AREAS = (2, 4)  # patients by drug: province and city (a county reads PatientRollup)


def _months_mask() -> models.Expression:
    mask = None
    for bit, column in enumerate(TWO_YEARS):
        term = models.Case(
            models.When(**{f"{column}__gt": 0}, then=models.Value(1 << bit)),
            default=models.Value(0),
        )
        mask = term if mask is None else mask + term
    return mask


class PersonMonths(models.Model):
    """Counts of live settlements a month, one row per calendar year, the year before's again,
    and the derived bitmask of the months served in both (abstract: the two tables below)."""

    year = models.SmallIntegerField("年度")
    m01 = models.IntegerField("1月结算人次", default=0)
    m02 = models.IntegerField("2月结算人次", default=0)
    m03 = models.IntegerField("3月结算人次", default=0)
    m04 = models.IntegerField("4月结算人次", default=0)
    m05 = models.IntegerField("5月结算人次", default=0)
    m06 = models.IntegerField("6月结算人次", default=0)
    m07 = models.IntegerField("7月结算人次", default=0)
    m08 = models.IntegerField("8月结算人次", default=0)
    m09 = models.IntegerField("9月结算人次", default=0)
    m10 = models.IntegerField("10月结算人次", default=0)
    m11 = models.IntegerField("11月结算人次", default=0)
    m12 = models.IntegerField("12月结算人次", default=0)
    p01 = models.IntegerField("上年1月结算人次", default=0)
    p02 = models.IntegerField("上年2月结算人次", default=0)
    p03 = models.IntegerField("上年3月结算人次", default=0)
    p04 = models.IntegerField("上年4月结算人次", default=0)
    p05 = models.IntegerField("上年5月结算人次", default=0)
    p06 = models.IntegerField("上年6月结算人次", default=0)
    p07 = models.IntegerField("上年7月结算人次", default=0)
    p08 = models.IntegerField("上年8月结算人次", default=0)
    p09 = models.IntegerField("上年9月结算人次", default=0)
    p10 = models.IntegerField("上年10月结算人次", default=0)
    p11 = models.IntegerField("上年11月结算人次", default=0)
    p12 = models.IntegerField("上年12月结算人次", default=0)
    months = models.GeneratedField(
        expression=_months_mask(), output_field=models.IntegerField("就诊月份"), db_persist=True
    )

    class Meta:
        abstract = True


class AreaPersonYear(PersonMonths):
    """Who was served in an area (province, city or county) in each month of a year, under one
    insurance type or, ``ALL_TYPES``, any."""

    pk = models.CompositePrimaryKey("area", "year", "insurance_type", "person")
    area = models.CharField("区划代码前缀", max_length=6)
    insurance_type = models.CharField("险种", max_length=3)
    person = _rollup_key("registry.InsuredPerson")

    class Meta:
        verbose_name = "地区就诊人年度汇总"
        verbose_name_plural = "地区就诊人年度汇总"

    def __str__(self) -> str:
        return f"{self.year} · {self.area} · {self.person_id}"


class AreaDrugPersonYear(PersonMonths):
    """Who was served a drug in an area (province or city) in each month of a year."""

    pk = models.CompositePrimaryKey("area", "year", "drug_key", "person")
    area = models.CharField("区划代码前缀", max_length=6)
    drug_key = models.IntegerField("药品")
    person = _rollup_key("registry.InsuredPerson")

    class Meta:
        verbose_name = "地区药品就诊人年度汇总"
        verbose_name_plural = "地区药品就诊人年度汇总"

    def __str__(self) -> str:
        return f"{self.year} · {self.area} · {self.drug_key} · {self.person_id}"


# --- the parties the statistics break down by (issue 13 §6) --------------------------------------
#
# By institution, by physician and the hospitals' evaluation [CX art. 13] ask for figures and
# distinct persons per party. ``SettlementRollup`` / ``PatientRollup`` answer them, but read one
# row per institution × drug × physician × insurance type × budget line (and person) a month; at
# a province's scale that is a hash of millions of rows a question. These two tables keep the
# same settlements per party: ``PartyRollup`` the sums by month × county of the settling
# institution × party (× drug for a credited hospital: ``PARTY_DRUG_KINDS``), ``PartyPersonYear``
# one row per party and person and year with
# their months (as ``AreaPersonYear``). Kinds of party:
#
# - ``institution``: the settling institution. Its persons are its own wherever the scope is
#   drawn (it lies in one county), so its persons' rows have one area: its county.
# - ``physician``: the prescribing physician (``NO_KEY``: a settlement without one). Persons per
#   area the settling institution counts in (province, city, county), as a physician's
#   prescriptions are settled in many places.
# - ``hospital``: the hospital a settlement is credited to for its evaluation: the prescribing
#   physician's hospital, else the settling institution if it is a hospital (else none: not
#   kept). Credited when the settlement is rolled up (a physician belongs to one hospital).


class PartyKind(models.TextChoices):
    INSTITUTION = "i", "定点机构"
    PHYSICIAN = "p", "医师"
    HOSPITAL = "h", "考核医院"


# the kinds whose sums keep the drug: the hospitals' evaluation counts varieties; an
# institution's or a physician's rows sum over their drugs (``drug_key`` NO_KEY): a pharmacy sells
# hundreds of drugs, and by institution / by physician ask for none
PARTY_DRUG_KINDS = (PartyKind.HOSPITAL,)
PARTY_AREAS = {  # the area prefixes a settlement's party counts in, by kind
    PartyKind.INSTITUTION: (6,),
    PartyKind.PHYSICIAN: PERSON_AREAS,
    PartyKind.HOSPITAL: PERSON_AREAS,
}


class PartyRollup(RollupMeasures):
    """Live settlements of one month and county (of the settling institution) per party: the
    institution, the physician (over their drugs: ``drug_key`` NO_KEY) or the credited hospital
    (per drug) (``kind``; ``PARTY_DRUG_KINDS``)."""

    pk = models.CompositePrimaryKey("month", "kind", "county", "party", "drug_key")
    month = models.DateField("月份")
    kind = models.CharField("类别", max_length=1, choices=PartyKind.choices)
    county = _rollup_key("registry.Region")
    party = models.IntegerField("机构或医师")  # Institution or Physician id (NO_KEY: none)
    drug_key = models.IntegerField("药品")

    class Meta:
        verbose_name = "机构医师结算汇总"
        verbose_name_plural = "机构医师结算汇总"
        indexes = [models.Index(fields=["kind", "county", "month"], name="party_rollup_county")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} · {self.kind} {self.party} · {self.drug_key}"


class PartyPersonYear(PersonMonths):
    """Who was served by a party (institution, physician or credited hospital) in an area in
    each month of a year: its settlements per month, the year before's, the bitmask."""

    pk = models.CompositePrimaryKey("kind", "area", "year", "party", "person")
    kind = models.CharField("类别", max_length=1, choices=PartyKind.choices)
    area = models.CharField("区划代码前缀", max_length=6)
    party = models.IntegerField("机构或医师")
    person = _rollup_key("registry.InsuredPerson")

    class Meta:
        verbose_name = "机构医师就诊人年度汇总"
        verbose_name_plural = "机构医师就诊人年度汇总"

    def __str__(self) -> str:
        return f"{self.year} · {self.kind} {self.party} · {self.person_id}"
