"""An alert's evidence in Chinese words, with links to the pages of what it names.

Evidence holds ids, codes and counts. Rows of the apps below monitoring (institutions,
physicians, drugs) are named here; rows of the apps above (settlements, prescriptions,
applications …) are named by a reference function each of those apps hands down
(``reference_register``), which answers ``{id: (words, url)}`` for the ids it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from dualchannel.catalog.models import Drug
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.registry.models import BenefitStatus, Institution, InsuredPerson, Physician

Reference = Callable[[list[int]], dict[int, tuple[str, str]]]
_references: dict[str, Reference] = {}


def reference_register(kind: str, reference: Reference) -> None:
    """Called from a higher app's ``AppConfig.ready``: how to name its rows on the alert page."""
    _references[kind] = reference


def _institutions(ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = Institution.objects.filter(pk__in=ids).only("name")
    return {i.pk: (i.name, reverse("agency-institution-detail", args=[i.pk])) for i in rows}


def _drugs(ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = Drug.objects.filter(pk__in=ids).only("generic_name")
    return {d.pk: (d.generic_name, reverse("agency-drug", args=[d.pk])) for d in rows}


def _physicians(ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = Physician.objects.filter(pk__in=ids).select_related("hospital")
    url = reverse("agency-physicians")
    return {p.pk: (f"{p.name}（{p.hospital.name}）", url) for p in rows}


BUILT_IN: dict[str, Reference] = {
    "institution": _institutions,
    "drug": _drugs,
    "physician": _physicians,
}

# Evidence key → (label, kind). Kinds naming rows resolve through a reference; the others are
# shown as they are ("text"), as a count, or translated (the other kinds, words below).
FIELDS: dict[str, tuple[str, str]] = {
    "drug_id": ("药品", "drug"),
    "physician_id": ("医师", "physician"),
    "pharmacy_ids": ("涉及药店", "institution"),
    "institution_ids": ("涉及机构", "institution"),
    "settlement_ids": ("涉及结算单", "settlement"),
    "prescription_ids": ("涉及处方", "prescription"),
    "dispensing_ids": ("涉及发药记录", "dispensing"),
    "movement_ids": ("涉及进销存记录", "movement"),
    "stock_item_id": ("库存批次", "stock_item"),
    "eligibility": ("用药资格", "eligibility"),
    "application_no": ("申请号", "text"),
    "trace_code": ("追溯码", "text"),
    "trace_codes": ("追溯码", "text"),
    "pharmacy_count": ("药店家数", "text"),
    "patient_count": ("代购参保人数（不含声明为近亲属的）", "text"),
    "relation": ("代办人与参保人关系", "agent_relation"),
    "agent_patients": ("代购参保人及代办人声明的关系", "agent_patients"),
    "unrecorded_count": ("其中未登记关系的参保人数", "text"),
    "family_patient_count": ("声明为近亲属代购的参保人数（未计入）", "text"),
    "code_count": ("追溯码个数", "text"),
    "sale_count": ("销售次数", "text"),
    "return_count": ("退货次数", "text"),
    "window_days": ("时间窗口（天）", "text"),
    "previous_on": ("上次购药日期", "text"),
    "runs_out": ("上次药量用完日期", "text"),
    "earliest": ("最早可再次购药日期", "text"),
    "purchased_on": ("本次购药日期", "text"),
    "days_early": ("提前天数", "text"),
    "reason": ("未被柜台拦截的原因", "refill_reason"),
    "counter_tolerance_days": ("柜台允许提前天数（处方医院规定）", "text"),
    "packages": ("本期处方包装数", "text"),
    "peer_median": ("同行中位数", "text"),
    "robust_z": ("稳健Z值", "text"),
    "peer_count": ("同药品医师人数", "text"),
    "benefit_status": ("待遇状态", "benefit_status"),
    "unit_price": ("销售单价（元）", "text"),
    "over_standard": ("超支付标准金额（元）", "text"),
    "attempted_lines": ("柜台被拒绝的超支付标准明细行数", "text"),
    "agreement_end": ("协议截止日期", "text"),
    "settled_on": ("结算日期", "text"),
    "received": ("入库数量（盒）", "text"),
    "sold": ("销售数量（盒）", "text"),
    "adjusted": ("盘点调整（盒）", "text"),
    "settled_boxes": ("结算数量（盒）", "text"),
    "sold_boxes": ("出库数量（盒）", "text"),
    "complete_on": ("材料齐全日期", "text"),
    "due": ("审核应完成日期", "text"),
    "decided_on": ("办结日期", "text"),
    "started_on": ("复查开始日期", "text"),
    "complete_by": ("复查应完成日期", "text"),
    "completed_on": ("复查完成日期", "text"),
    "sold_at": ("售出时间", "text"),
    "period": ("检查期间", "period"),
}


@dataclass(frozen=True)
class Fact:
    label: str
    items: list[tuple[str, str]]  # (words, url or "")


def _as_ids(value: Any) -> list[int]:
    values = value if isinstance(value, list) else [value]
    return [int(v) for v in values if str(v).isdigit()]


# Why an early refill got past the counter (``settlement.surveillance.early_refill_overridden``):
# the counter refuses one outright, so the rule sees only what did not meet that check.
REFILL_REASONS = {
    "not_at_counter": "本次购药为医疗机构门诊结算或手工报销，未经药店柜台的购药间隔核验",
    "previous_not_at_counter": "上次购药为医疗机构门诊结算或手工报销，药店柜台只比对药店发药记录",
    "looser_tolerance": "处方医院允许的提前天数多于本规则，柜台按医院规定放行",
    "other_path": "柜台不会放行此次购药，记录系经其他途径写入（导入或更正），请核实",
}


# What the agent rule's evidence says of the relations (``settlement.surveillance
# .agent_many_patients``): the summary, then each patient's declared relation — the labels of
# ``prescriptions.models.AgentRelation`` (a floor above; a test keeps the two alike), with ""
# for a dispensing recorded before the counter asked.
AGENT_RELATIONS = {
    "declared": "代办人在柜台声明与所列参保人为其他（受委托人），非近亲属",
    "not_recorded": "部分或全部发药记录早于关系登记，柜台未登记代办人与参保人的关系，"
    "请核实是否为家属代购",
}
AGENT_PATIENT_RELATIONS = {
    "spouse": "配偶",
    "parent": "父母",
    "child": "子女",
    "relative": "其他近亲属（兄弟姐妹、祖父母、外祖父母、孙子女、外孙子女）",
    "entrusted": "其他（受委托人）",
    "": "关系未登记（关系登记启用前的发药）",
}


def _agent_patients(value: Any) -> list[tuple[str, str]]:
    """Each patient masked as elsewhere (张**（420102********1234）) with the declared relation."""
    pairs = [
        (int(p[0]), str(p[1] or ""))
        for p in (value if isinstance(value, list) else [])
        if isinstance(p, list | tuple) and len(p) == 2 and str(p[0]).isdigit()
    ]
    people = {
        p.pk: p
        for p in InsuredPerson.objects.filter(pk__in=[pk for pk, _ in pairs]).only(
            "name", "id_number"
        )
    }
    items = []
    for pk, relation in pairs:
        person = people.get(pk)
        who = (
            f"{mask_name(person.name)}（{mask_id_number(person.id_number)}）"
            if person
            else f"#{pk}"
        )
        items.append((f"{who}：{AGENT_PATIENT_RELATIONS.get(relation, '其他')}", ""))
    return items


def _words(kind: str, value: Any) -> list[tuple[str, str]]:
    if kind == "agent_relation":
        return [(AGENT_RELATIONS.get(value, "其他"), "")]
    if kind == "agent_patients":
        return _agent_patients(value)
    if kind == "refill_reason":
        return [(REFILL_REASONS.get(value, "其他"), "")]
    if kind == "benefit_status":
        labels = dict(BenefitStatus.choices)
        return [(labels.get(value, "其他"), "")]
    if kind == "period" and isinstance(value, list) and len(value) == 2:
        return [(f"{value[0]} 至 {value[1]}", "")]
    values = value if isinstance(value, list) else [value]
    return [(str(v), "") for v in values if v not in ("", None)]


def _resolved(kind: str, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    reference = BUILT_IN.get(kind) or _references.get(kind)
    return reference(sorted(set(ids))) if reference else {}


WORDS_KINDS = (
    "text",
    "benefit_status",
    "refill_reason",
    "agent_relation",
    "agent_patients",
    "period",
)


def evidence_facts(evidence: dict[str, Any]) -> list[Fact]:
    """The evidence's facts in the order of ``FIELDS``, rows named and linked where known."""
    facts: list[Fact] = []
    for key, (label, kind) in FIELDS.items():
        value = (evidence or {}).get(key)
        if value in (None, "", []):
            continue
        if kind in WORDS_KINDS:
            facts.append(Fact(label, _words(kind, value)))
            continue
        ids = _as_ids(value)
        named = _resolved(kind, ids)
        facts.append(Fact(label, [named.get(i, (f"#{i}", "")) for i in ids]))
    return facts
