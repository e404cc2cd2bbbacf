"""Catalogue writes by agency officers: criteria editing, confidential amounts, flags.

Each service is one transaction: lock (drug → criteria set → criterion), check, write, audit.

Criteria sets are written within the actor's scope (``selectors.criteria_region_covered``): an
agency officer writes the sets of their agency's region or inside it, admins also the national
baseline. Another region's set is reported as missing (``NotFound``), before anything is locked
or checked; a national set, which officers can read, is refused (``PermissionDenied``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.db import transaction

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied, field_error
from dualchannel.core.models import User
from dualchannel.core.money import parse_money
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.registry.models import Region

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
    PaymentStandard,
    SpecialControl,
)
from .selectors import (
    criteria_region_covered,
    criteria_set_not_found,
    officer_region,
    published_criteria,
    region_get,
)
from .workflow import next_version, publish_criteria_set

ROLE = Role.AGENCY_OFFICER
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,50}$")
FLAG_FIELDS = (
    "is_dual_channel",
    "is_separately_paid",
    "is_anti_cancer",
    "is_injectable",
    "needs_cold_chain",
)
MAX_AMOUNT = Decimal("9999999999.99")
# 国家医保药品代码: X (western) or Z (Chinese patent medicine) and 22 letters or digits.
_NATIONAL_CODE = re.compile(r"^[XZ][A-Z0-9]{22}$")


def _lock_drug(drug_id: int) -> Drug:
    drug = Drug.objects.select_for_update().filter(pk=drug_id).first()
    if drug is None:
        raise NotFound("catalog.drug_not_found", "药品不存在")
    return drug


def _national_refused() -> PermissionDenied:
    return PermissionDenied(
        "catalog.national_criteria_admin_only",
        "全国基线认定条件仅管理员可修改，请新建本地区的认定条件草稿",
    )


def _require_scope(actor: User, region_code: str | None, missing: NotFound) -> None:
    """Refuse a write outside the actor's scope: another region's set is missing."""
    if criteria_region_covered(actor, region_code):
        return
    if region_code is None:
        raise _national_refused()
    raise missing


def _lock_set(
    criteria_set_id: int, *, actor: User, draft: bool, missing: NotFound | None = None
) -> CriteriaSet:
    missing = missing or criteria_set_not_found()
    row = CriteriaSet.objects.filter(pk=criteria_set_id).values_list("drug_id", "region_id").first()
    if row is None:
        raise missing
    drug_id, region_code = row
    _require_scope(actor, region_code, missing)
    _lock_drug(drug_id)
    criteria_set = CriteriaSet.objects.select_for_update().get(pk=criteria_set_id)
    if draft and criteria_set.status != CriteriaStatus.DRAFT:
        raise Conflict(
            "catalog.criteria_not_draft", "只能修改草稿状态的认定条件，请先基于已发布版本新建草稿"
        )
    return criteria_set


def _lock_item(criterion_id: int, *, actor: User) -> Criterion:
    missing = NotFound("catalog.criterion_not_found", "认定条件项不存在")
    set_id = Criterion.objects.filter(pk=criterion_id).values_list("criteria_set_id", flat=True)
    if not set_id:
        raise missing
    _lock_set(set_id[0], actor=actor, draft=True, missing=missing)
    return Criterion.objects.select_for_update().get(pk=criterion_id)


def _audit(actor: User, action: str, subject, before: dict | None, summary: dict) -> None:
    audit.record(
        actor=actor,
        action=action,
        subject=subject,
        before=before,
        after=snapshot(subject) if subject.pk else None,
        role=actor_role(actor, ROLE),
        summary=summary,
    )


# --- criteria items ---


def _clean_item(
    *, kind: str, text: str, group: str, expression: str, code: str | None = None
) -> dict[str, str]:
    if code is not None and not _SLUG.match(code or ""):
        raise field_error("code", "catalog.invalid_code", "代码只能包含字母、数字、- 和 _")
    if kind not in CriterionKind.values:
        raise field_error("kind", "catalog.invalid_kind", "类型应为数据判定或医师确认")
    text = (text or "").strip()
    if not text:
        raise field_error("text", "catalog.text_required", "条件原文不能为空")
    group = (group or "").strip()
    if group and not _SLUG.match(group):
        raise field_error("group", "catalog.invalid_group", "备选组代码只能包含字母、数字、- 和 _")
    expression = (expression or "").strip()
    if kind == CriterionKind.CONDITION:
        validate_expression(expression)
    elif expression:
        raise field_error(
            "expression", "catalog.expression_not_allowed", "医师确认条目不填写判定表达式"
        )
    return {"kind": kind, "text": text, "group": group, "expression": expression}


def criterion_add(
    *,
    actor: User,
    criteria_set_id: int,
    code: str,
    kind: str,
    text: str,
    group: str = "",
    expression: str = "",
) -> Criterion:
    require_role(actor, ROLE)
    with transaction.atomic():
        criteria_set = _lock_set(criteria_set_id, actor=actor, draft=True)
        values = _clean_item(kind=kind, text=text, group=group, expression=expression, code=code)
        if criteria_set.items.filter(code=code).exists():
            raise field_error("code", "catalog.duplicate_code", "同一认定条件中代码不能重复")
        last = criteria_set.items.order_by("-position").values_list("position", flat=True).first()
        item = Criterion.objects.create(
            criteria_set=criteria_set, position=(last or 0) + 1, code=code, **values
        )
        _audit(actor, "catalog.criterion_added", item, None, {"criteria_set_id": criteria_set.id})
    return item


def criterion_update(
    *,
    actor: User,
    criterion_id: int,
    text: str | None = None,
    kind: str | None = None,
    group: str | None = None,
    expression: str | None = None,
) -> Criterion:
    require_role(actor, ROLE)
    with transaction.atomic():
        item = _lock_item(criterion_id, actor=actor)
        before = snapshot(item)
        values = _clean_item(
            kind=item.kind if kind is None else kind,
            text=item.text if text is None else text,
            group=item.group if group is None else group,
            expression=item.expression if expression is None else expression,
        )
        for name, value in values.items():
            setattr(item, name, value)
        item.save(update_fields=list(values))
        _audit(
            actor,
            "catalog.criterion_updated",
            item,
            before,
            {"criteria_set_id": item.criteria_set_id, "code": item.code},
        )
    return item


def criterion_remove(*, actor: User, criterion_id: int) -> None:
    require_role(actor, ROLE)
    with transaction.atomic():
        item = _lock_item(criterion_id, actor=actor)
        criteria_set = item.criteria_set
        before = snapshot(item)
        code = item.code
        item.delete()
        for position, remaining in enumerate(criteria_set.items.order_by("position"), start=1):
            if remaining.position != position:
                remaining.position = position
                remaining.save(update_fields=["position"])
        audit.record(
            actor=actor,
            action="catalog.criterion_removed",
            subject=criteria_set,
            before=before,
            role=actor_role(actor, ROLE),
            summary={"code": code},
        )


def criteria_set_reorder(*, actor: User, criteria_set_id: int, codes: list[str]) -> CriteriaSet:
    """Put the items in the order of ``codes`` (every code exactly once)."""
    require_role(actor, ROLE)
    with transaction.atomic():
        criteria_set = _lock_set(criteria_set_id, actor=actor, draft=True)
        items = {item.code: item for item in criteria_set.items.select_for_update()}
        if sorted(codes) != sorted(items):
            raise field_error(
                "codes", "catalog.reorder_mismatch", "排序须恰好包含全部条目代码各一次"
            )
        before = {"order": [i.code for i in sorted(items.values(), key=lambda i: i.position)]}
        # Two passes so the positions never collide midway.
        for offset, code in enumerate(codes, start=1):
            items[code].position = 1000 + offset
            items[code].save(update_fields=["position"])
        for offset, code in enumerate(codes, start=1):
            items[code].position = offset
            items[code].save(update_fields=["position"])
        audit.record(
            actor=actor,
            action="catalog.criteria_reordered",
            subject=criteria_set,
            before=before,
            after={"order": list(codes)},
            role=actor_role(actor, ROLE),
            summary={"items": len(codes)},
        )
    return criteria_set


# --- criteria sets ---

_UNSET: Any = object()


def criteria_set_update(
    *,
    actor: User,
    criteria_set_id: int,
    evaluation_cycle_days: int | None = _UNSET,
    required_material_kinds: list[str] = _UNSET,
    note: str = _UNSET,
) -> CriteriaSet:
    """Change a draft's evaluation cycle, required material kinds or note."""
    require_role(actor, ROLE)
    with transaction.atomic():
        criteria_set = _lock_set(criteria_set_id, actor=actor, draft=True)
        before = snapshot(criteria_set)
        fields: list[str] = []
        if evaluation_cycle_days is not _UNSET:
            if evaluation_cycle_days is not None and (
                isinstance(evaluation_cycle_days, bool)
                or not isinstance(evaluation_cycle_days, int)
                or not 1 <= evaluation_cycle_days <= 3660
            ):
                raise field_error(
                    "evaluation_cycle_days", "catalog.invalid_cycle", "复查评估周期应为1至3660天"
                )
            criteria_set.evaluation_cycle_days = evaluation_cycle_days
            fields.append("evaluation_cycle_days")
        if required_material_kinds is not _UNSET:
            kinds = list(dict.fromkeys(required_material_kinds or []))
            unknown = [k for k in kinds if k not in MaterialKind.values]
            if unknown:
                raise field_error(
                    "required_material_kinds",
                    "catalog.invalid_material_kind",
                    f"未知的材料类型：{'、'.join(unknown)}",
                )
            criteria_set.required_material_kinds = kinds
            fields.append("required_material_kinds")
        if note is not _UNSET:
            criteria_set.note = (note or "").strip()
            fields.append("note")
        if fields:
            criteria_set.save(update_fields=fields)
        _audit(actor, "catalog.criteria_updated", criteria_set, before, {"fields": fields})
    return criteria_set


def _draft_region(actor: User, region: Region | str | None) -> Region | None:
    """The region a new draft is for: the one given, else the officer's agency region; None (the
    national baseline) for an actor without one (admins)."""
    if isinstance(region, Region):
        return region
    if region:
        try:
            return region_get(region)
        except NotFound as exc:
            raise NotFound("catalog.region_not_found", "区划不存在或不在本机构管辖范围内") from exc
    return officer_region(actor)


def criteria_set_create_draft(
    *, actor: User, drug_id: int, region: Region | str | None = None
) -> CriteriaSet:
    """A new draft for ``region`` (default: the officer's agency region; national for admins
    without one), copied from the set in force there — its own published set, or the nearest
    ancestor's, or the national one — else from the latest national set (a drafted checklist).
    """
    require_role(actor, ROLE)
    target = _draft_region(actor, region)
    region_code = target.code if target is not None else None
    _require_scope(
        actor,
        region_code,
        NotFound("catalog.region_not_found", "区划不存在或不在本机构管辖范围内"),
    )
    with transaction.atomic():
        drug = _lock_drug(drug_id)
        if drug.criteria_sets.filter(status=CriteriaStatus.DRAFT, region=target).exists():
            raise Conflict("catalog.draft_exists", "该药品在本地区已有草稿，请先完成或停用该草稿")
        source = (
            published_criteria(drug, target)
            or drug.criteria_sets.filter(region__isnull=True).order_by("-version").first()
        )
        restriction = drug.restrictions.filter(effective_to__isnull=True).order_by("-id").first()
        draft = CriteriaSet.objects.create(
            drug=drug,
            region=target,
            version=next_version(drug),
            status=CriteriaStatus.DRAFT,
            origin=CriteriaOrigin.AUTHORED,
            restriction=restriction,
            evaluation_cycle_days=source.evaluation_cycle_days if source else None,
            required_material_kinds=list(source.required_material_kinds) if source else [],
            note=source.note if source else "",
            created_by=actor,
        )
        CriteriaSetStatusHistory.objects.create(
            criteria_set=draft,
            to_status=CriteriaStatus.DRAFT,
            actor=actor,
            reason=f"基于 v{source.version}（{source.scope_name}）新建" if source else "新建",
        )
        if source is not None:
            Criterion.objects.bulk_create(
                Criterion(
                    criteria_set=draft,
                    position=item.position,
                    code=item.code,
                    kind=item.kind,
                    group=item.group,
                    text=item.text,
                    expression=item.expression,
                )
                for item in source.items.order_by("position")
            )
        _audit(
            actor,
            "catalog.criteria_draft_created",
            draft,
            None,
            {
                "drug_id": drug.id,
                "region": region_code,
                "version": draft.version,
                "from_version": getattr(source, "version", None),
            },
        )
    return draft


def criteria_set_publish(*, actor: User, criteria_set_id: int, reason: str = "") -> CriteriaSet:
    """Publish a draft; the previously published set of the same drug and region is retired."""
    require_role(actor, ROLE)
    with transaction.atomic():
        criteria_set = _lock_set(criteria_set_id, actor=actor, draft=False)
        before = snapshot(criteria_set)
        previous = criteria_set.status
        publish_criteria_set(criteria_set, actor=actor, reason=reason or "经办人员发布")
        _audit(
            actor,
            "catalog.criteria_published",
            criteria_set,
            before,
            {
                "from": previous,
                "to": criteria_set.status,
                "version": criteria_set.version,
                "region": criteria_set.region_id,
            },
        )
    return criteria_set


def criteria_set_retire(*, actor: User, criteria_set_id: int, reason: str) -> CriteriaSet:
    require_role(actor, ROLE)
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", "catalog.reason_required", "请填写停用原因")
    with transaction.atomic():
        criteria_set = _lock_set(criteria_set_id, actor=actor, draft=False)
        before = snapshot(criteria_set)
        previous = criteria_set.status
        transition(criteria_set, CriteriaStatus.RETIRED, actor=actor, reason=reason)
        _audit(
            actor,
            "catalog.criteria_retired",
            criteria_set,
            before,
            {"from": previous, "to": criteria_set.status, "region": criteria_set.region_id},
        )
    return criteria_set


# --- payment standards and flags ---


def _require_catalogue_admin(actor: User) -> None:
    """The national list is the same in every region: one region's officer may not change it."""
    require_role(actor, ROLE)
    if not actor.is_superuser:
        raise PermissionDenied(
            "catalog.national_catalogue_admin_only", "国家目录数据仅目录管理员（系统管理员）可修改"
        )


def payment_standard_set_amount(
    *, actor: User, payment_standard_id: int, amount: Decimal | str
) -> PaymentStandard:
    """Enter the amount of a confidential standard (备注1); it stays confidential."""
    _require_catalogue_admin(actor)
    value = parse_money(
        amount, field="amount", code="catalog.invalid_amount", positive=True, maximum=MAX_AMOUNT
    )
    with transaction.atomic():
        drug_id = PaymentStandard.objects.filter(pk=payment_standard_id).values_list(
            "drug_id", flat=True
        )
        if not drug_id:
            raise NotFound("catalog.payment_standard_not_found", "支付标准不存在")
        _lock_drug(drug_id[0])
        standard = PaymentStandard.objects.select_for_update().get(pk=payment_standard_id)
        if not standard.is_confidential:
            raise Conflict("catalog.not_confidential", "该支付标准已在目录中公布，不能手工录入金额")
        before = snapshot(standard)
        standard.amount = value
        standard.save(update_fields=["amount"])
        # The amount itself is confidential: the summary records only that it was set.
        _audit(
            actor,
            "catalog.confidential_amount_set",
            standard,
            before,
            {"drug_id": standard.drug_id, "had_amount": before["amount"] is not None},
        )
    return standard


def drug_update_flags(*, actor: User, drug_id: int, **flags: Any) -> Drug:
    """Correct the derived flags of a drug (dual-channel, separately-paid, …, special control)."""
    _require_catalogue_admin(actor)
    unknown = set(flags) - set(FLAG_FIELDS) - {"special_control"}
    if unknown:
        raise DomainError(
            "catalog.unknown_flag",
            f"未知的标志：{'、'.join(sorted(unknown))}",
            fields={name: ["未知的标志"] for name in sorted(unknown)},
        )
    with transaction.atomic():
        drug = _lock_drug(drug_id)
        before = snapshot(drug)
        changed: dict[str, dict[str, Any]] = {}
        for name, value in flags.items():
            if value is None:
                continue
            if name == "special_control":
                if value not in SpecialControl.values:
                    raise field_error(
                        "special_control", "catalog.invalid_special_control", "特殊管理类别无效"
                    )
            elif not isinstance(value, bool):
                raise field_error(name, "catalog.invalid_flag", "应为是或否")
            if getattr(drug, name) != value:
                changed[name] = {"from": getattr(drug, name), "to": value}
                setattr(drug, name, value)
        if changed:
            drug.save(update_fields=list(changed))
        _audit(actor, "catalog.drug_flags_updated", drug, before, {"changed": changed})
    return drug


def drug_set_national_code(*, actor: User, drug_id: int, code: str) -> Drug:
    """Record a drug's national insurance drug code (医保药品代码), which every upload to the
    platform names as 医疗目录编码: the negotiated list does not carry it, so the catalogue
    administrator enters it from the national code database."""
    _require_catalogue_admin(actor)
    value = (code or "").strip().upper()
    if not _NATIONAL_CODE.match(value):
        raise field_error(
            "code",
            "catalog.invalid_national_code",
            "医保药品代码应为 23 位：X 或 Z 开头，其后为字母或数字",
        )
    with transaction.atomic():
        drug = _lock_drug(drug_id)
        before = snapshot(drug)
        if drug.national_code != value:
            drug.national_code = value
            drug.save(update_fields=["national_code"])
        _audit(
            actor,
            "catalog.drug_national_code_set",
            drug,
            before,
            {"from": before["national_code"], "to": value},
        )
    return drug
