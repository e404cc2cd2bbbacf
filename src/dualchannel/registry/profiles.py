"""Policy profiles as data: loading ``data/policy_profiles.json`` and resolving a region's rules."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction

from dualchannel.core import audit, refcache
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import DomainError

from . import error_codes as codes
from .citation_words import citation_in_words
from .models import (
    BindingMode,
    HospitalLevel,
    Institution,
    PaymentStandardRule,
    PolicyProfile,
    PrescriberRule,
    Region,
    SalePriceRule,
    TitleRank,
)
from .regions import ancestors

PROFILES_FILE = Path(__file__).resolve().parent / "data" / "policy_profiles.json"

TITLE_FIELDS = (
    "physician_min_title",
    "physician_relaxed_title",
    "physician_min_title_level2_hospital",
)
DECIMAL_FIELDS = (
    "first_self_pay_ratio",
    "first_self_pay_ratio_max",
    "pharmacy_min_negotiated_ratio",
)
BOOL_FIELDS = (
    "physician_relaxation_allowed",
    "deductible_once_per_stay",
    "inpatient_external_drugs_in_stay",
    "pharmacy_spend_outside_hospital_budget",
    "hospital_requires_pathology_or_gene",
    "pharmacy_requires_biologics_licence",
    "pharmacy_requires_cold_chain",
    "pharmacy_requires_traceability",
    "pharmacy_requires_realtime_settlement",
    "pharmacy_requires_e_prescription",
    "three_fixed_team_allowed",
    "in_province_direct_settlement",
)
INT_FIELDS = (
    "review_deadline_working_days",
    "reevaluation_window_working_days",
    "exit_ban_months",
    "pharmacy_min_drugs_urban",
    "pharmacy_min_drugs_county",
    "min_pharmacies_per_county",
    "min_hospitals_per_county",
    "no_suspension_within_months",
    "prescription_valid_days",
    "long_prescription_max_days",
    "early_refill_tolerance_days",
    "agreement_grace_days",
    "designation_time_limit_working_days",
    "complaint_reply_working_days",
    "monthly_table_due_day",
)
TEXT_FIELDS = ("name", "source_document", "special_drug_med_type")
CHOICE_FIELDS = {
    "binding_mode": BindingMode,
    "payment_standard_rule": PaymentStandardRule,
    "sale_price_rule": SalePriceRule,
    "prescriber_rule": PrescriberRule,
}
# Every policy value of DESIGN §6 an officer may change (plus the conditions and citations).
EDITABLE_FIELDS = (
    *TEXT_FIELDS,
    *TITLE_FIELDS,
    *DECIMAL_FIELDS,
    *BOOL_FIELDS,
    *INT_FIELDS,
    *CHOICE_FIELDS,
    "hospital_min_level",
    "citations",
)


def _invalid(field: str, message: str) -> DomainError:
    return DomainError(codes.INVALID_PROFILE_VALUE, message, fields={field: [message]})


def _title(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and value in TitleRank.values:
        return value
    if isinstance(value, str) and value in TitleRank.names:
        return TitleRank[value].value
    raise _invalid(field, f"职称取值无效：{value}")


def clean_profile_values(data: dict[str, Any]) -> dict[str, Any]:
    """Turn JSON-ish values (title names, decimal strings, null) into model field values."""
    values: dict[str, Any] = {}
    for field, value in data.items():
        if field not in EDITABLE_FIELDS:
            raise _invalid(field, f"未知的政策参数：{field}")
        if field in TITLE_FIELDS:
            values[field] = _title(field, value)
        elif field in DECIMAL_FIELDS:
            if value is None:
                values[field] = None
                continue
            try:
                ratio = Decimal(str(value))
            except InvalidOperation:
                raise _invalid(field, "比例须为 0 到 1 之间的小数") from None
            if not Decimal("0") <= ratio <= Decimal("1"):
                raise _invalid(field, "比例须为 0 到 1 之间的小数")
            values[field] = ratio
        elif field in BOOL_FIELDS:
            if not isinstance(value, bool):
                raise _invalid(field, "须为是或否")
            values[field] = value
        elif field in INT_FIELDS:
            if value is not None and (not isinstance(value, int) or value < 0):
                raise _invalid(field, "须为非负整数或留空")
            if field == "monthly_table_due_day" and value is not None and not 1 <= value <= 28:
                raise _invalid(field, "报送截止日须为每月 1 至 28 日")
            values[field] = value
        elif field == "hospital_min_level":
            if value is not None and value not in HospitalLevel.values:
                raise _invalid(field, "医院等级须为 1、2 或 3")
            values[field] = value
        elif field in CHOICE_FIELDS:
            if value not in CHOICE_FIELDS[field].values:
                raise _invalid(field, f"取值无效：{value}")
            values[field] = value
        elif field == "citations":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise _invalid(field, "依据条款须为 字段→说明 的对象")
            values[field] = value
        else:  # text
            if value is not None and not isinstance(value, str):
                raise _invalid(field, "须为文本")
            values[field] = value or ""
    return values


@dataclass(frozen=True)
class ProfileLoadResult:
    created: int
    updated: int
    unchanged: int


def read_profiles(path: Path = PROFILES_FILE) -> list[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        raw = json.load(fh)
    result = []
    for entry in raw["profiles"]:
        entry = dict(entry)
        region_code = entry.pop("region")
        result.append((region_code, clean_profile_values(entry)))
    return result


@transaction.atomic
def load_profiles(path: Path = PROFILES_FILE) -> ProfileLoadResult:
    """Create or update the shipped profiles so they match the file (idempotent, audited)."""
    created = updated = unchanged = 0
    for region_code, values in read_profiles(path):
        region = Region.objects.filter(code=region_code).first()
        if region is None:
            raise DomainError(
                codes.INVALID_REGION,
                f"区划 {region_code} 不存在，请先运行 registry_load_regions",
            )
        profile = PolicyProfile.objects.select_for_update().filter(region=region).first()
        if profile is None:
            profile = PolicyProfile.objects.create(region=region, **values)
            audit.record(
                actor=None,
                action="registry.profile_loaded",
                subject=profile,
                after=profile,
                summary={"region": region_code, "created": True},
            )
            created += 1
            continue
        if all(getattr(profile, f) == v for f, v in values.items()):
            unchanged += 1
            continue
        before = snapshot(profile)
        for f, v in values.items():
            setattr(profile, f, v)
        profile.save()
        audit.record(
            actor=None,
            action="registry.profile_loaded",
            subject=profile,
            before=before,
            after=profile,
            summary={"region": region_code, "created": False},
        )
        updated += 1
    return ProfileLoadResult(created, updated, unchanged)


def _nearest_profile(region: Region) -> PolicyProfile | None:
    chain = ancestors(region)
    found = {
        p.region_id: p for p in PolicyProfile.objects.filter(region_id__in=[r.code for r in chain])
    }
    return next((found[r.code] for r in chain if r.code in found), None)


def profile_for(region: Region) -> PolicyProfile:
    """The profile of the nearest region (itself first, then its ancestors) that has one.

    Read once per worker while the profiles are unchanged (``core.refcache``); each caller gets
    its own copy of the row."""
    found = refcache.cached(
        ("registry.profile_for", region.code),
        (PolicyProfile._meta.db_table,),
        lambda: _nearest_profile(region),
    )
    if found is not None:
        return copy.copy(found)
    raise DomainError(
        codes.NO_POLICY_PROFILE,
        f"{region.name}（{region.code}）及其上级区划均未配置双通道政策参数",
    )


def profile_or_none(region: Region | None) -> PolicyProfile | None:
    """The region's profile (``profile_for``), or None where none is configured (the national
    defaults apply): for rules that have a national default."""
    if region is None:
        return None
    try:
        return profile_for(region)
    except DomainError:
        return None


def profile_of(institution: Institution) -> PolicyProfile | None:
    """The profile of the institution's region, or None (``profile_or_none``)."""
    return profile_or_none(institution.region)


def profile_for_code(region_code: str) -> PolicyProfile:
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise DomainError(codes.INVALID_REGION, f"区划代码 {region_code} 不存在")
    return profile_for(region)


def region_citation(region_code: str, key: str) -> str:
    """The article a region's profile cites for ``key``, in the region's own words ("" where
    its documents say nothing of it): a message never cites another region's document."""
    profile = profile_or_none(Region.objects.filter(code=region_code).first())
    return citation_in_words((profile.citations or {}).get(key) or "") if profile else ""


def cited(text: str, citation: str) -> str:
    """``text`` with its citation in full-width brackets, or alone where there is none."""
    return f"{text}（{citation}）" if citation else text


def profile_citation(profile: PolicyProfile | None, key: str) -> str:
    """The article the profile cites for ``key``, else its source document ("" without a
    profile): a page states its region's own basis, never another region's."""
    if profile is None:
        return ""
    return citation_in_words((profile.citations or {}).get(key, "")) or profile.source_document


def institution_citation(institution: Institution | None, key: str) -> str:
    """``profile_citation`` of the institution's region."""
    return profile_citation(profile_of(institution) if institution is not None else None, key)


# No seed names a number of days for answering a complaint [HB art. 26, SD §4, CX art. 30]: a
# region sets ``complaint_reply_working_days`` in its profile; without it, this default applies.
DEFAULT_COMPLAINT_REPLY_WORKING_DAYS = 15

# The designation process as published [HB art. 16]: the steps of the designation machine.
DESIGNATION_STEPS = (
    "机构提出申请（已申请）",
    "医保经办机构按本统筹区条件评估（评估通过）",
    "评估结果向社会公示（公示中）",
    "协商一致后签订双通道补充协议（已签补充协议）",
    "开通双通道结算功能并对外公布（已纳入）",
)


def designation_conditions(profile: PolicyProfile) -> list[tuple[str, str]]:
    """The region's conditions for designation in words, each with its article (profile data)."""
    conditions: list[tuple[str, str]] = []

    def add(key: str, text: str) -> None:
        conditions.append((text, profile_citation(profile, key)))

    if profile.hospital_min_level:
        add("hospital_min_level", f"医疗机构：{profile.get_hospital_min_level_display()}及以上")
    flags = (
        ("hospital_requires_pathology_or_gene", "医疗机构：具备病理或基因检测能力"),
        ("pharmacy_requires_biologics_licence", "药店：经营范围含生物制品"),
        ("pharmacy_requires_cold_chain", "药店：具备冷链储存、配送设施"),
        ("pharmacy_requires_traceability", "药店：药品全流程电子追溯"),
        ("pharmacy_requires_realtime_settlement", "药店：实现即时联网结算"),
        ("pharmacy_requires_e_prescription", "药店：接入电子处方流转平台"),
    )
    for key, text in flags:
        if getattr(profile, key):
            add(key, text)
    if profile.no_suspension_within_months:
        add(
            "no_suspension_within_months",
            f"申请前 {profile.no_suspension_within_months} 个月内未被暂停或中止服务协议",
        )
    if profile.exit_ban_months:
        add("exit_ban_months", f"退出双通道管理后 {profile.exit_ban_months} 个月内不再纳入")
    return conditions


def designation_terms(profile: PolicyProfile | None) -> dict[str, Any] | None:
    """What the public page publishes of a region's designation [HB art. 16]: conditions,
    process and time limit, and the time limit for answering complaints [HB art. 26]."""
    if profile is None:
        return None
    days = profile.designation_time_limit_working_days
    return {
        "profile": profile.name,
        "source_document": profile.source_document,
        "conditions": designation_conditions(profile),
        "steps": list(DESIGNATION_STEPS),
        "time_limit_working_days": days,
        "time_limit": f"{days} 个工作日" if days else "按统筹地区经办规程办理",
        "time_limit_basis": profile_citation(profile, "designation_time_limit_working_days"),
        "complaint_reply_working_days": profile.complaint_reply_working_days
        or DEFAULT_COMPLAINT_REPLY_WORKING_DAYS,
        "complaint_basis": profile_citation(profile, "complaint_reply_working_days"),
    }
