"""What the criteria's data and the case's audit events say, in words (issue 12, point 7):
HIS facts such as ``genes["ALK"] == "positive"`` become 「ALK 阳性」, an event such as
``eligibility.material_verified`` becomes 「核验通过「病理诊断报告」」; no key or code is shown."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from dualchannel.catalog.models import MaterialKind
from dualchannel.core.masking import mask_name
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role

from .models import Application, Material

FACT_LABELS = {
    "diagnoses": "诊断",
    "genes": "基因检测",
    "labs": "化验",
    "patient": "患者",
    "prior_therapies": "既往治疗",
    "insurance_type": "险种",
    "setting": "就医类型",
}
PATIENT_KEYS = {"age": "年龄", "sex": "性别"}
SEX_WORDS = {"1": "男", "2": "女", "9": "未说明"}
GENE_VALUES = {
    "positive": "阳性",
    "negative": "阴性",
    "wildtype": "野生型",
    "pathogenic": "致病变异",
    "homozygous_deletion": "纯合缺失",
    "compound_heterozygous": "复合杂合变异",
    "exon19del": "19号外显子缺失",
    "exon14skipping": "14号外显子跳跃突变",
    "PM": "慢代谢型",
    "IM": "中间代谢型",
    "EM": "正常代谢型",
}
LAB_LABELS = {
    "ACHR_AB": "乙酰胆碱受体抗体",
    "BCVA": "最佳矫正视力",
    "LDL_C": "低密度脂蛋白胆固醇",
    "LVEF": "左室射血分数",
    "CEA": "癌胚抗原（CEA）",
    "HFMSE": "HFMSE 运动功能评分",
}
THERAPY_WORDS = {
    "corticosteroid": "糖皮质激素",
    "immunoglobulin": "静脉注射免疫球蛋白",
    "splenectomy": "脾切除",
    "proteasome-inhibitor": "蛋白酶体抑制剂",
    "immunomodulator": "免疫调节剂",
    "statin": "他汀类药物",
    "pyridostigmine": "溴吡斯的明",
    "platinum": "含铂化疗",
}
SETTING_WORDS = {"outpatient": "门诊", "inpatient": "住院"}
INSURANCE_WORDS = {"310": "职工基本医疗保险", "390": "城乡居民基本医疗保险"}


def fact_text(variable: str, value: Any) -> str:
    """One fact of the criteria's context in words; ``无记录`` when there is none."""
    if isinstance(value, dict):
        parts = [_pair(variable, key, item) for key, item in value.items()]
        return "，".join(parts) or "无记录"
    if isinstance(value, list):
        words = THERAPY_WORDS if variable == "prior_therapies" else {}
        return "、".join(words.get(str(v), str(v)) for v in value) or "无记录"
    if variable == "setting":
        return SETTING_WORDS.get(str(value), str(value))
    if variable == "insurance_type":
        return INSURANCE_WORDS.get(str(value), "其他险种")
    return "无记录" if value in (None, "") else str(value)


def _pair(variable: str, key: str, value: Any) -> str:
    if variable == "patient":
        if key == "age":
            return f"年龄 {value} 岁"
        if key == "sex":
            return f"性别 {SEX_WORDS.get(str(value), '未说明')}"
        return PATIENT_KEYS.get(key, "其他")
    if variable == "labs":
        return f"{LAB_LABELS.get(key, key)} {value}"
    if variable == "genes":
        return f"{key} {GENE_VALUES.get(str(value), str(value))}"
    return f"{key} {value}"


def is_empty_fact(value: Any) -> bool:
    return value in (None, "") or (isinstance(value, (list, dict)) and not value)


# --- the case's history ------------------------------------------------------------------------

EVENT_WORDS = {
    "eligibility.application_created": "新建申请",
    "eligibility.criteria_answered": "确认认定条件",
    "eligibility.plan_set": "填写治疗用药方案",
    "eligibility.materials_pulled": "从院内系统调取材料",
    "eligibility.application_submitted": "签名并提交申请",
    "eligibility.application_materials_requested": "一次性告知需补充的材料",
    "eligibility.application_under_review": "材料齐全，开始审核",
    "eligibility.application_approved": "审核通过",
    "eligibility.application_rejected": "不予通过",
    "eligibility.application_withdrawn": "申请已撤回",
    "eligibility.granted": "授予用药资格",
    "eligibility.material_uploaded": "上传材料",
    "eligibility.material_scanned": "录入扫描件（已核对原件）",
    "eligibility.material_opened": "查看材料",
    "eligibility.material_verified": "核验通过",
    "eligibility.material_rejected": "不予采信",
}
ROLE_WORDS = dict(Role.choices)


def _who(event: AuditEvent) -> str:
    actor = event.actor
    if actor is None:
        return "系统"
    role = ROLE_WORDS.get(event.actor_role, "")
    name = actor.display_name or "用户"
    if event.actor_role == Role.PATIENT:
        name = mask_name(name)
    return f"{role} {name}".strip()


def case_history(application: Application) -> list[dict[str, Any]]:
    """Who did what on the case, oldest first, in words."""
    material_ids = [str(pk) for pk in application.materials.values_list("pk", flat=True)]
    events = (
        AuditEvent.objects.filter(
            Q(subject_type=Application._meta.label, subject_id=str(application.pk))
            | Q(subject_type=Material._meta.label, subject_id__in=material_ids)
        )
        .select_related("actor")
        .order_by("occurred_at", "pk")
    )
    kinds = dict(MaterialKind.choices)
    reasons: dict[str, list[str]] = {}
    for change in application.history.order_by("pk"):
        reasons.setdefault(change.to_status, []).append(change.reason)
    rows = []
    for event in events:
        what = EVENT_WORDS.get(event.action)
        if what is None:
            continue
        kind = (event.summary or {}).get("kind")
        if kind in kinds:
            what += f"「{kinds[kind]}」"
        to = (event.summary or {}).get("to")
        reason = (
            reasons[to].pop(0)
            if event.subject_type == Application._meta.label and reasons.get(to)
            else ""
        )
        rows.append({"at": event.occurred_at, "who": _who(event), "what": what, "reason": reason})
    return rows
