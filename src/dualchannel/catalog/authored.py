"""Load the authored criteria files (``data/criteria/*.json``) as published criteria sets.

Each entry becomes a new national (``region`` null) version above any existing one, published at
once; the drug's national drafted checklist and previously published national set are retired
(regional sets are left alone). Loading the same entry again changes
nothing (its digest is kept in ``CriteriaSet.source_digest``). The whole set of files is
validated before anything is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from dualchannel.core import audit
from dualchannel.core.canonical import digest
from dualchannel.core.errors import DomainError
from dualchannel.core.models import User
from dualchannel.core.statemachine import transition

from .criteria import validate_expression
from .models import (
    CriteriaOrigin,
    CriteriaSet,
    CriteriaSetStatusHistory,
    CriteriaStatus,
    Criterion,
    CriterionKind,
    Drug,
    MaterialKind,
    Restriction,
)
from .workflow import next_version, publish_criteria_set

CRITERIA_DIR = Path(__file__).resolve().parent / "data" / "criteria"
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,50}$")


@dataclass
class LoadReport:
    published: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def read_entries(directory: Path | None = None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for path in sorted((directory or CRITERIA_DIR).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DomainError(
                "catalog.authored_invalid", f"认定条件文件 {path.name} 无法读取：{exc}"
            ) from exc
        drugs = data.get("drugs") if isinstance(data, dict) else data
        if not isinstance(drugs, list):
            raise DomainError("catalog.authored_invalid", f"{path.name} 应含 drugs 数组")
        for entry in drugs:
            if not isinstance(entry, dict):
                raise DomainError("catalog.authored_invalid", f"{path.name} 中有非对象条目")
            entries.append({**entry, "_file": path.name})
    return entries


def validate_entry(entry: dict[str, Any]) -> None:
    where = f"{entry.get('_file', '')}「{entry.get('generic_name', '?')}」"

    def fail(name: str, message: str) -> DomainError:
        return DomainError(
            "catalog.authored_invalid", f"{where}：{message}", fields={name: [message]}
        )

    if not Drug.objects.filter(generic_name=entry.get("generic_name")).exists():
        raise fail("generic_name", "目录中没有此通用名")
    cycle = entry.get("evaluation_cycle_days")
    if cycle is not None and (not isinstance(cycle, int) or isinstance(cycle, bool) or cycle <= 0):
        raise fail("evaluation_cycle_days", "复查评估周期应为正整数（天）")
    kinds = entry.get("required_material_kinds", [])
    unknown = [k for k in kinds if k not in MaterialKind.values]
    if not isinstance(kinds, list) or unknown:
        raise fail("required_material_kinds", f"未知的材料类型：{unknown}")
    items = entry.get("items")
    if not isinstance(items, list) or not items:
        raise fail("items", "至少需要一个条目")
    codes: set[str] = set()
    for item in items:
        code = item.get("code", "")
        if not isinstance(code, str) or not _SLUG.match(code) or code in codes:
            raise fail("items.code", f"条目代码「{code}」无效或重复")
        codes.add(code)
        if item.get("kind") not in CriterionKind.values:
            raise fail(f"items.{code}.kind", "类型应为 condition 或 attestation")
        if item.get("group") and not _SLUG.match(item["group"]):
            raise fail(f"items.{code}.group", "备选组代码无效")
        if not item.get("text"):
            raise fail(f"items.{code}.text", "条件原文不能为空")
        if item["kind"] == CriterionKind.CONDITION:
            try:
                validate_expression(item.get("expression", ""))
            except DomainError as exc:
                raise fail(f"items.{code}.expression", exc.message) from exc
        elif item.get("expression"):
            raise fail(f"items.{code}.expression", "医师确认条目不应有判定表达式")


def entry_digest(entry: dict[str, Any]) -> str:
    return digest({k: v for k, v in entry.items() if k not in ("examples", "_file")})


def load_authored_criteria(
    directory: Path | None = None, *, actor: User | None = None
) -> LoadReport:
    entries = read_entries(directory)
    for entry in entries:
        validate_entry(entry)
    report = LoadReport()
    with transaction.atomic():
        for entry in entries:
            drug = Drug.objects.select_for_update().get(generic_name=entry["generic_name"])
            source_digest = entry_digest(entry)
            if CriteriaSet.objects.filter(
                drug=drug, region__isnull=True, source_digest=source_digest
            ).exists():
                report.unchanged.append(drug.generic_name)
                continue
            criteria_set = _create_published(drug, entry, source_digest, actor)
            report.published.append(drug.generic_name)
            audit.record(
                actor=actor,
                action="catalog.criteria_loaded",
                subject=criteria_set,
                after=criteria_set,
                summary={"drug_id": drug.id, "version": criteria_set.version},
            )
    return report


def _create_published(
    drug: Drug, entry: dict[str, Any], source_digest: str, actor: User | None
) -> CriteriaSet:
    restriction = (
        Restriction.objects.filter(drug=drug, effective_to__isnull=True).order_by("-id").first()
    )
    criteria_set = CriteriaSet.objects.create(
        drug=drug,
        region=None,
        version=next_version(drug),
        status=CriteriaStatus.DRAFT,
        origin=CriteriaOrigin.AUTHORED,
        restriction=restriction,
        evaluation_cycle_days=entry.get("evaluation_cycle_days"),
        required_material_kinds=list(entry.get("required_material_kinds", [])),
        note=entry.get("note", ""),
        source_digest=source_digest,
        created_by=actor,
    )
    CriteriaSetStatusHistory.objects.create(
        criteria_set=criteria_set, to_status=CriteriaStatus.DRAFT, actor=actor, reason="人工编制"
    )
    Criterion.objects.bulk_create(
        Criterion(
            criteria_set=criteria_set,
            position=position,
            code=item["code"],
            kind=item["kind"],
            group=item.get("group", ""),
            text=item["text"],
            expression=item.get("expression", ""),
        )
        for position, item in enumerate(entry["items"], start=1)
    )

    national_drafts = drug.criteria_sets.filter(status=CriteriaStatus.DRAFT, region__isnull=True)
    for draft in national_drafts.exclude(pk=criteria_set.pk):
        transition(draft, CriteriaStatus.RETIRED, actor=actor, reason="由人工编制条件取代")
    publish_criteria_set(criteria_set, actor=actor, reason="载入人工编制认定条件")
    return criteria_set
