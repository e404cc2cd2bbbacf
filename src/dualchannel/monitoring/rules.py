"""Smart-monitoring rules as data [HB art. 47, AH §2(8), CX art. 30]: each rule's typed
thresholds, their validation, and a region's rule resolved through its ancestors (its own row,
else its city's or province's, else the national default), as policy profiles are; a run over a
city also applies the overrides of the counties below it (``rules_within``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db.models import Q

from dualchannel.core.errors import DomainError
from dualchannel.registry.models import Region
from dualchannel.registry.regions import ancestors

from . import error_codes as codes
from .models import MonitoringRule

RULES_FILE = Path(__file__).resolve().parent / "data" / "rules.json"
INT = "int"
DECIMAL = "decimal"
MAX_VALUE = 1_000_000
ASCII_DIGITS = re.compile(r"[0-9]{1,12}")
ASCII_DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")

# Each rule's thresholds: name → (type, Chinese label). Every value is ≥ 0.
RULE_PARAMS: dict[str, dict[str, tuple[str, str]]] = {
    "multi_pharmacy_purchase": {
        "window_days": (INT, "时间窗口（天）"),
        "min_pharmacies": (INT, "药店家数不少于"),
    },
    "early_refill_overridden": {"tolerance_days": (INT, "允许提前天数")},
    "agent_many_patients": {"min_patients": (INT, "当月代购参保人数不少于")},
    "physician_outlier": {
        "z_threshold": (DECIMAL, "稳健Z值阈值"),
        "min_peers": (INT, "同药品医师人数不少于"),
    },
    "benefit_status_purchase": {"min_settlements": (INT, "结算笔数不少于")},
    "trace_code_resold": {"min_sales": (INT, "同一追溯码销售次数不少于")},
    "trace_code_out_of_sequence": {"min_codes": (INT, "未入库先销售的追溯码个数不少于")},
    "stock_unbalanced": {"tolerance_boxes": (INT, "允许差额（盒）")},
    "price_over_standard": {"tolerance_amount": (DECIMAL, "允许超出金额（元）")},
    "review_overdue": {"working_days": (INT, "审核时限（工作日）")},
    "reevaluation_overdue": {"grace_days": (INT, "逾期宽限（天）")},
    "pharmacy_over_throughput": {
        "ratio": (DECIMAL, "结算量/出库量比值高于"),
        "min_boxes": (INT, "结算盒数不少于"),
    },
    "outside_agreement_period": {"grace_days": (INT, "协议期满后宽限（天）")},
}


def _refused(field: str, message: str) -> DomainError:
    return DomainError(codes.INVALID_THRESHOLD, message, fields={field: [message]})


def _one(key: str, name: str, value: Any) -> int | Decimal:
    kind, label = RULE_PARAMS[key][name]
    if isinstance(value, bool) or value is None:
        raise _refused(name, f"{label}须为不小于0的数")
    if kind == INT:
        text = str(value).strip()
        if not ASCII_DIGITS.fullmatch(text):
            raise _refused(name, f"{label}须为不小于0的整数")
        number: int | Decimal = int(text)
    else:
        text = str(value).strip()
        if not ASCII_DECIMAL.fullmatch(text):
            raise _refused(name, f"{label}须为不小于0的数")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _refused(name, f"{label}须为不小于0的数") from None
        if not number.is_finite() or number < 0:
            raise _refused(name, f"{label}须为不小于0的数")
    if number > MAX_VALUE:
        raise _refused(name, f"{label}不能超过{MAX_VALUE}")
    return number


def clean_params(key: str, data: dict[str, Any]) -> dict[str, int | Decimal]:
    """The rule's thresholds typed and checked (≥ 0), or a refusal naming the field."""
    if key not in RULE_PARAMS:
        raise DomainError(codes.RULE_NOT_FOUND, "监控规则不存在")
    unknown = sorted(set(data) - set(RULE_PARAMS[key]))
    if unknown:
        raise _refused(unknown[0], f"未知的阈值参数：{unknown[0]}")
    return {name: _one(key, name, value) for name, value in data.items()}


def params_json(values: dict[str, int | Decimal]) -> dict[str, Any]:
    """Stored form: ints as numbers, decimals as strings (exact)."""
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items()}


@dataclass(frozen=True)
class ResolvedRule:
    key: str
    name: str
    article: str
    enabled: bool
    severity: str
    params: dict[str, int | Decimal]
    source: MonitoringRule  # the row that decided (regional override or national)


def _typed(key: str, stored: dict[str, Any]) -> dict[str, int | Decimal]:
    return {k: _one(key, k, v) for k, v in stored.items() if k in RULE_PARAMS.get(key, {})}


def resolve(rows: list[MonitoringRule], chain: list[str]) -> dict[str, ResolvedRule]:
    """Each rule's nearest row along ``chain`` (region codes nearest first), else national;
    the override's thresholds over the national ones."""
    by_key: dict[str, dict[str | None, MonitoringRule]] = {}
    for row in rows:
        by_key.setdefault(row.key, {})[row.region_id] = row
    found: dict[str, ResolvedRule] = {}
    for key, per_region in by_key.items():
        national = per_region.get(None)
        row = next((per_region[c] for c in chain if c in per_region), national)
        if row is None:
            continue
        params = _typed(key, national.params if national else {})
        params.update(_typed(key, row.params))
        found[key] = ResolvedRule(
            key, row.name, row.article, row.enabled, row.severity, params, row
        )
    return found


def shipped_default(key: str) -> MonitoringRule | None:
    """The national row as shipped (unsaved), where the table lacks it: the data migration
    seeds the table; this keeps a flushed or partly loaded database from switching rules off."""
    entry = next((e for e in read_rules() if e["key"] == key), None)
    if entry is None:
        return None
    return MonitoringRule(region=None, enabled=True, **entry)


def rules_for(region: Region | None) -> dict[str, ResolvedRule]:
    """The rules in force in ``region`` (the national defaults for None)."""
    chain = [r.code for r in ancestors(region)] if region is not None else []
    rows = list(MonitoringRule.objects.filter(key__in=RULE_PARAMS).order_by("key", "region_id"))
    rows = [r for r in rows if r.region_id is None or r.region_id in chain]
    national = {r.key for r in rows if r.region_id is None}
    rows += [d for k in RULE_PARAMS if k not in national and (d := shipped_default(k))]
    return resolve(rows, chain)


def rules_within(region: Region) -> list[tuple[Region, dict[str, ResolvedRule]]]:
    """The rules in force in ``region`` and, after it, in each region below it that has an
    override of its own (a county under a city, a city or county under a province), each
    resolved along its own chain: the nearest region's row wins (county → city → province →
    national). A run over ``region`` judges an event with the rules of the nearest of these
    to the event's region."""
    chain = [r.code for r in ancestors(region)]
    rows = list(
        MonitoringRule.objects.filter(key__in=RULE_PARAMS)
        .filter(
            Q(region=None) | Q(region_id__in=chain) | Q(region__code__startswith=region.code_prefix)
        )
        .order_by("key", "region_id")
    )
    national = {r.key for r in rows if r.region_id is None}
    rows += [d for k in RULE_PARAMS if k not in national and (d := shipped_default(k))]

    def along(codes: list[str]) -> dict[str, ResolvedRule]:
        return resolve([r for r in rows if r.region_id is None or r.region_id in codes], codes)

    below = {r.region_id for r in rows if r.region_id is not None and r.region_id not in chain}
    zones = [(region, along(chain))]
    for sub in Region.objects.filter(code__in=below).order_by("code"):
        zones.append((sub, along([r.code for r in ancestors(sub)])))
    return zones


def read_rules(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    """The shipped national defaults, checked as an officer's edit is."""
    with path.open(encoding="utf-8") as fh:
        entries = json.load(fh)["rules"]
    for entry in entries:
        entry["params"] = params_json(clean_params(entry["key"], entry["params"]))
    return entries


def national_rules_seed() -> int:
    """Write the shipped national rows where the table lacks them (what the data migration does;
    for a database flushed since, e.g. by a transactional test). Returns the rows written."""
    written = 0
    have = set(MonitoringRule.objects.filter(region=None).values_list("key", flat=True))
    for entry in read_rules():
        if entry["key"] not in have:
            MonitoringRule.objects.create(region=None, enabled=True, **entry)
            written += 1
    return written
