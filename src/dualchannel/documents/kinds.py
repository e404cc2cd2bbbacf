"""What each kind of document holds: fields (English keys, Chinese labels), rules, layout rows.

Sources: HB annex 1 (湖北省单独支付药品用药申请表) and HB art. 9 for annex 2 (复查评估表: the
seed does not reproduce annex 2, so its fields follow art. 9 — result continue / adjust / stop,
the responsible physician's confirmation, the next evaluation date); AH annex (外购备案表);
DESIGN §4 for the treatment plan and the prescription.

Every key of ``data`` must be a known field: whatever is signed is also printed on the PDF, the
personal identifiers (``PERSONAL_KEYS``) masked unless the kind's task needs them in full
(``KindSpec.printed_in_full``): only the Hubei application form, the filing document that goes
to the agency, prints the full ID number [HB art. 7(1), annex 1]; no form prints a full phone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dualchannel.core.errors import DomainError

from .models import DocumentKind

TEXT, DATE, BOOL, CHOICE, INT, ITEMS = "text", "date", "bool", "choice", "int", "items"
MAX_TEXT = 2000


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    type: str = TEXT
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()
    item_fields: tuple[Field, ...] = ()

    def choice_label(self, value: str) -> str:
        return dict(self.choices).get(value, value)


Rule = Callable[[dict[str, Any]], dict[str, list[str]]]


@dataclass(frozen=True)
class KindSpec:
    kind: str
    title: str  # printed title of the form
    annex: str  # small line above the title (the annex it reproduces)
    fields: tuple[Field, ...]
    # Rows of the form's table: each row is the keys shown side by side (label, value pairs).
    rows: tuple[tuple[str, ...], ...]
    rules: tuple[Rule, ...] = ()
    notes: tuple[str, ...] = ()  # the form's printed 注 / 说明
    stamp_lines: tuple[str, ...] = ()  # blanks left for seals and handwritten entries
    # Personal identifiers printed in full; every other key of PERSONAL_KEYS is printed masked.
    printed_in_full: frozenset[str] = frozenset()
    by_key: dict[str, Field] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_key.update({f.key: f for f in self.fields})
        shown = {key for row in self.rows for key in row}
        # "<choice>_other" is printed inside its choice ("■其他（…）"), not in a cell of its own.
        missing = {k for k in set(self.by_key) - shown if k.removesuffix("_other") not in shown}
        if missing or shown - set(self.by_key):
            raise ValueError(f"{self.kind}: layout and fields differ: {sorted(missing)}")


# Keys holding a personal identifier: the PDF prints them masked unless in printed_in_full.
PERSONAL_KEYS = ("id_number", "phone")

INSURANCE_CATEGORY = (("employee", "职工医保"), ("resident", "居民医保"), ("other", "其他"))


def _f(key: str, label: str, type: str = TEXT, required: bool = True, **kw: Any) -> Field:
    return Field(key=key, label=label, type=type, required=required, **kw)


def _required_when(trigger: str, value: str, *keys: str) -> Rule:
    """``keys`` become required when ``data[trigger] == value``."""

    def rule(data: dict[str, Any]) -> dict[str, list[str]]:
        if data.get(trigger) != value:
            return {}
        return {k: ["必填"] for k in keys if _blank(data.get(k))}

    return rule


def _not_before(start: str, end: str, message: str) -> Rule:
    def rule(data: dict[str, Any]) -> dict[str, list[str]]:
        a, b = data.get(start), data.get(end)
        if isinstance(a, str) and isinstance(b, str) and _is_date(a) and _is_date(b) and b < a:
            return {end: [message]}
        return {}

    return rule


PATIENT = (
    _f("name", "姓名"),
    _f("sex", "性别", CHOICE, choices=(("男", "男"), ("女", "女"))),
    _f("age", "年龄", INT),
    _f("id_number", "身份证号"),
)

APPLICATION_FORM = KindSpec(
    kind=DocumentKind.APPLICATION_FORM,
    title="湖北省单独支付药品用药申请表",
    annex="附件1（鄂医保发〔2023〕35号）",
    fields=(
        _f("application_date", "申请日期", DATE),
        *PATIENT,
        _f("insured_region", "参保属地"),
        _f("insurance_category", "参保类别", CHOICE, choices=INSURANCE_CATEGORY),
        _f("insurance_category_other", "其他参保类别", required=False),
        _f("address", "家庭住址"),
        _f("phone", "联系电话"),
        _f("hospital_name", "双通道定点医疗机构"),
        _f("pharmacy_name", "双通道定点零售药店"),
        _f("diagnosis", "疾病诊断"),
        _f("drug_name", "申请使用单独支付药品名称"),
        _f("basis", "申请依据"),
        _f("within_restriction", "是否符合医保限定支付范围", BOOL),
        _f("treatment_plan", "治疗方案（用法用量）"),
        _f("evaluation_cycle", "复查评估周期"),
        _f("next_evaluation_date", "下一次复查评估日期", DATE),
        _f("physician_name", "责任医师"),
    ),
    rows=(
        ("application_date",),
        ("name", "sex", "age"),
        ("id_number", "insured_region"),
        ("insurance_category",),
        ("address", "phone"),
        ("hospital_name", "pharmacy_name"),
        ("diagnosis",),
        ("drug_name",),
        ("basis",),
        ("within_restriction",),
        ("treatment_plan",),
        ("evaluation_cycle", "next_evaluation_date"),
        ("physician_name",),
    ),
    rules=(_required_when("insurance_category", "other", "insurance_category_other"),),
    notes=(
        "1、本表一式三份，申请人、双通道定点医疗机构和医保经办机构各持一份，妥善保存备用。",
        "2、单独支付药品用药资格备案需提供的材料：申请表、相关病历资料或检查资料、"
        "医保电子凭证或有效身份证件或社保卡。",
    ),
    stamp_lines=("申请人（患者本人或监护人）签字：", "医院医保管理部门盖章："),
    # The filing document the agency files the eligibility on: it identifies the person in full.
    # The phone stays masked: the agency reaches the person through its own registry.
    printed_in_full=frozenset({"id_number"}),
)

TREATMENT_PLAN = KindSpec(
    kind=DocumentKind.TREATMENT_PLAN,
    title="双通道药品治疗用药方案",
    annex="",
    fields=(
        _f("plan_date", "制定日期", DATE),
        *PATIENT,
        _f("hospital_name", "医疗机构"),
        _f("department", "科室", required=False),
        _f("diagnosis", "疾病诊断"),
        _f("drug_name", "药品通用名"),
        _f("specification", "规格"),
        _f("dose", "单次剂量"),
        _f("frequency", "用药频次"),
        _f("route", "给药途径"),
        _f("total_quantity", "总药量"),
        _f("period_start", "方案开始日期", DATE),
        _f("period_end", "方案结束日期", DATE),
        _f("evaluation_cycle", "复查评估周期"),
        _f("notes", "备注", required=False),
        _f("physician_name", "责任医师"),
    ),
    rows=(
        ("plan_date",),
        ("name", "sex", "age"),
        ("id_number",),
        ("hospital_name", "department"),
        ("diagnosis",),
        ("drug_name", "specification"),
        ("dose", "frequency", "route"),
        ("total_quantity",),
        ("period_start", "period_end"),
        ("evaluation_cycle",),
        ("notes",),
        ("physician_name",),
    ),
    rules=(_not_before("period_start", "period_end", "结束日期不得早于开始日期"),),
)

AH_DRUG_FIELDS = (
    _f("generic_name", "通用名"),
    _f("specification", "规格"),
    _f("anticancer", "药品类别", BOOL),
)

AH_FILING_FORM = KindSpec(
    kind=DocumentKind.AH_FILING_FORM,
    title="安徽省基本医疗保险“双通道”药品外购备案表",
    annex="附件（皖医保秘〔2021〕58号）",
    fields=(
        *PATIENT,
        _f("address_or_employer", "单位或住址"),
        _f("phone", "联系电话"),
        _f("insurance_category", "参保类型", CHOICE, choices=INSURANCE_CATEGORY),
        _f("insurance_category_other", "其他参保类型", required=False),
        _f("hospital_name", "医疗机构名称"),
        _f("pharmacy_name", "申请外购药店名称"),
        _f("application_date", "申请日期", DATE),
        _f("usage_type", "药品使用", CHOICE, choices=(("inpatient", "住院"), ("chronic", "门慢"))),
        _f("inpatient_diagnosis", "住院诊断", required=False),
        _f("admission_date", "入院时间", DATE, required=False),
        _f("inpatient_no", "住院号", required=False),
        _f("chronic_disease", "慢特病病种", required=False),
        _f("drugs", "申请谈判药品名称（通用名及规格）", ITEMS, item_fields=AH_DRUG_FIELDS),
        _f("payment_scope", "谈判药品医保支付范围"),
        _f("current_plan", "当前谈判药品使用方案及总药量"),
        _f("plan_start", "当前方案开始日期", DATE),
        _f("plan_end", "当前方案结束日期", DATE),
        _f("used_quantity", "已使用量"),
        _f("purchase_quantity", "本次外购药量"),
        _f("physician_name", "责任医师签字"),
    ),
    rows=(
        ("name", "sex", "age"),
        ("address_or_employer",),
        ("id_number", "phone"),
        ("insurance_category",),
        ("hospital_name",),
        ("pharmacy_name",),
        ("application_date",),
        ("usage_type",),
        ("inpatient_diagnosis",),
        ("admission_date", "inpatient_no"),
        ("chronic_disease",),
        ("drugs",),
        ("payment_scope",),
        ("current_plan",),
        ("plan_start", "plan_end"),
        ("used_quantity", "purchase_quantity"),
        ("physician_name",),
    ),
    rules=(
        _required_when("insurance_category", "other", "insurance_category_other"),
        _required_when(
            "usage_type", "inpatient", "inpatient_diagnosis", "admission_date", "inpatient_no"
        ),
        _required_when("usage_type", "chronic", "chronic_disease"),
        _not_before("plan_start", "plan_end", "结束日期不得早于开始日期"),
    ),
    notes=(
        "1．本表一式三份，参保患者、双通道零售药店、双通道医疗机构各一份；",
        "2．谈判药使用条件的诊断文书，包括诊断证明、影像报告、病理诊断、免疫组化报告、"
        "特殊化验指标结果报告单（使用抗肿瘤靶向药物、以基因检测结果为指征的，应提交具备基因检测"
        "技术资质医疗机构出具的基因检测报告结果）、门诊病历及出院小结等；",
        "3．未经责任医师开具外购申请和处方到药店购药的，在非谈判药外购管理医院住院期间药店外购的，"
        "超出适应症、超出医保支付限制条件、违规配药等发生的谈判药品外购费用不予支付。",
    ),
    stamp_lines=(
        "申请人签字（患者或监护人）：",
        "医院医保办审核意见：",
        "审核人：　　　　　医院医保办盖章：",
    ),
)

REEVALUATION_RESULTS = (
    ("continue", "继续原方案"),
    ("adjust", "调整用药方案"),
    ("stop", "停止使用"),
)

REEVALUATION_FORM = KindSpec(
    kind=DocumentKind.REEVALUATION_FORM,
    title="湖北省单独支付药品复查评估表",
    annex="附件2（鄂医保发〔2023〕35号）",
    fields=(
        _f("evaluation_date", "复查评估日期", DATE),
        *PATIENT,
        _f("insured_region", "参保属地"),
        _f("insurance_category", "参保类别", CHOICE, choices=INSURANCE_CATEGORY),
        _f("insurance_category_other", "其他参保类别", required=False),
        _f("phone", "联系电话"),
        _f("hospital_name", "双通道定点医疗机构"),
        _f("pharmacy_name", "双通道定点零售药店"),
        _f("diagnosis", "疾病诊断"),
        _f("drug_name", "单独支付药品名称"),
        _f("eligibility_start_date", "用药资格起始日期", DATE),
        _f("current_plan", "当前治疗方案（用法用量）"),
        _f("assessment", "复查评估情况（疗效及不良反应）"),
        _f("result", "复查评估结果", CHOICE, choices=REEVALUATION_RESULTS),
        _f("adjusted_plan", "调整后治疗方案（用法用量）", required=False),
        _f("stop_reason", "停止使用原因", required=False),
        _f("evaluation_cycle", "复查评估周期", required=False),
        _f("next_evaluation_date", "下一次复查评估日期", DATE, required=False),
        _f("physician_name", "责任医师"),
    ),
    rows=(
        ("evaluation_date",),
        ("name", "sex", "age"),
        ("id_number", "insured_region"),
        ("insurance_category",),
        ("phone",),
        ("hospital_name", "pharmacy_name"),
        ("diagnosis",),
        ("drug_name", "eligibility_start_date"),
        ("current_plan",),
        ("assessment",),
        ("result",),
        ("adjusted_plan",),
        ("stop_reason",),
        ("evaluation_cycle", "next_evaluation_date"),
        ("physician_name",),
    ),
    rules=(
        _required_when("insurance_category", "other", "insurance_category_other"),
        # HB art. 9: adjust the plan according to the result; a stop ends the benefit.
        _required_when("result", "adjust", "adjusted_plan"),
        _required_when("result", "stop", "stop_reason"),
        _required_when("result", "continue", "evaluation_cycle", "next_evaluation_date"),
        _required_when("result", "adjust", "evaluation_cycle", "next_evaluation_date"),
        _not_before("evaluation_date", "next_evaluation_date", "下一次复查评估日期应晚于本次"),
    ),
    notes=(
        "1、复查评估结果由双通道责任医师签字确认，并根据评估结果及时调整用药方案（HB 第九条）。",
        "2、经复查评估不符合临床医学诊断使用单独支付药品的，不再享受医保报销待遇。",
    ),
    stamp_lines=("参保人（或监护人）签字：", "医院医保管理部门盖章："),
)

PRESCRIPTION_ITEM_FIELDS = (
    _f("drug_name", "药品名称"),
    _f("specification", "规格"),
    _f("quantity", "数量"),
    _f("unit", "单位"),
    _f("usage", "用法用量"),
    _f("days", "用药天数", INT, required=False),
)

PRESCRIPTION = KindSpec(
    kind=DocumentKind.PRESCRIPTION,
    title="处　方　笺",
    annex="双通道处方",
    fields=(
        _f("prescription_no", "处方编号"),
        _f("issue_date", "开具日期", DATE),
        *PATIENT,
        _f("insurance_category", "参保类别", CHOICE, choices=INSURANCE_CATEGORY),
        _f("insurance_category_other", "其他参保类别", required=False),
        _f("hospital_name", "医疗机构"),
        _f("department", "科室"),
        _f("diagnosis", "临床诊断"),
        _f("items", "Rp", ITEMS, item_fields=PRESCRIPTION_ITEM_FIELDS),
        _f("valid_until", "处方有效期至", DATE),
        _f("long_prescription", "长期处方", BOOL, required=False),
        _f("pharmacy_name", "取药药店", required=False),
        _f("notes", "备注", required=False),
        _f("physician_name", "医师"),
    ),
    rows=(
        ("prescription_no", "issue_date"),
        ("name", "sex", "age"),
        ("id_number",),
        ("insurance_category",),
        ("hospital_name", "department"),
        ("diagnosis",),
        ("items",),
        ("valid_until", "long_prescription"),
        ("pharmacy_name",),
        ("notes",),
        ("physician_name",),
    ),
    rules=(
        _required_when("insurance_category", "other", "insurance_category_other"),
        _not_before("issue_date", "valid_until", "有效期不得早于开具日期"),
    ),
    notes=("本处方为双通道电子处方，仅限在双通道定点医疗机构或定点零售药店调剂使用。",),
    stamp_lines=("审核药师：　　　　　调配药师：　　　　　核对/发药药师：",),
)

SPECS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (APPLICATION_FORM, TREATMENT_PLAN, AH_FILING_FORM, REEVALUATION_FORM, PRESCRIPTION)
}


def spec_for(kind: str) -> KindSpec:
    try:
        return SPECS[kind]
    except KeyError:
        raise DomainError(
            "documents.unknown_kind", "不支持的文书类型", fields={"kind": ["不支持的文书类型"]}
        ) from None


# --- validation ------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _check_value(f: Field, value: Any, path: str, errors: dict[str, list[str]]) -> None:
    if _blank(value):
        if f.required:
            errors.setdefault(path, []).append("必填")
        return
    if f.type == TEXT:
        if not isinstance(value, str):
            errors.setdefault(path, []).append("应为文本")
        elif len(value) > MAX_TEXT:
            errors.setdefault(path, []).append("内容过长")
    elif f.type == DATE:
        if not _is_date(value):
            errors.setdefault(path, []).append("日期格式应为 YYYY-MM-DD")
    elif f.type == BOOL:
        if not isinstance(value, bool):
            errors.setdefault(path, []).append("应为是或否")
    elif f.type == INT:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 200_000:
            errors.setdefault(path, []).append("应为非负整数")
    elif f.type == CHOICE:
        if value not in dict(f.choices):
            errors.setdefault(path, []).append("取值不在允许范围内")
    elif f.type == ITEMS:
        if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
            errors.setdefault(path, []).append("应为列表")
            return
        if len(value) > 50:
            errors.setdefault(path, []).append("条目过多")
            return
        for index, item in enumerate(value):
            _check_mapping(f.item_fields, item, f"{path}.{index}", errors)


def _check_mapping(
    fields: tuple[Field, ...], data: dict[str, Any], prefix: str, errors: dict[str, list[str]]
) -> None:
    known = {f.key for f in fields}
    for key in sorted(set(data) - known):
        errors.setdefault(f"{prefix}.{key}" if prefix else key, []).append("未知字段")
    for f in fields:
        path = f"{prefix}.{f.key}" if prefix else f.key
        _check_value(f, data.get(f.key), path, errors)


def validate(kind: str, data: Any) -> None:
    """Raise ``DomainError('documents.invalid_data', fields=...)`` listing every bad field."""
    spec = spec_for(kind)
    if not isinstance(data, dict):
        raise DomainError(
            "documents.invalid_data", "文书内容格式不正确", fields={"data": ["应为对象"]}
        )
    errors: dict[str, list[str]] = {}
    _check_mapping(spec.fields, data, "", errors)
    for key in spec.by_key:
        # An "_other" detail is printed only beside the chosen "其他": refuse it otherwise.
        base = key.removesuffix("_other")
        if base != key and not _blank(data.get(key)) and data.get(base) != "other":
            errors.setdefault(key, []).append("仅在选择“其他”时填写")
    for rule in spec.rules:
        for key, messages in rule(data).items():
            for message in messages:
                if message not in errors.get(key, []):
                    errors.setdefault(key, []).append(message)
    if errors:
        raise DomainError("documents.invalid_data", "文书内容不完整或格式不正确", fields=errors)


def required_fields(kind: str) -> list[str]:
    """Keys that every document of ``kind`` must carry (conditional ones not included)."""
    return [f.key for f in spec_for(kind).fields if f.required]
