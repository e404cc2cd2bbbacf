"""Reads of alerts, scoped to the actor: officers see their region's institutions, admins all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from dualchannel.core.errors import NotFound
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.registry.models import Region
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from .models import Alert
from .rules import RULE_PARAMS, ResolvedRule, rules_for


def visible_alerts(actor: User | None) -> QuerySet[Alert]:

    require_role(actor, Role.AGENCY_OFFICER)
    qs = Alert.objects.select_related("institution", "reviewer")
    if actor.is_superuser:
        return qs
    region = officer_region(actor)
    if region is None:
        return qs.none()
    return qs.filter(institution__region__code__startswith=region.code_prefix)


def alert_list(
    actor: User | None,
    *,
    state: str | None = None,
    rule: str | None = None,
    institution_id: int | None = None,
    severity: str | None = None,
    month: tuple[int, int] | None = None,
) -> QuerySet[Alert]:
    """The actor's alerts, filtered by rule, state, institution, severity and the month they
    were raised in (Asia/Shanghai)."""
    qs = visible_alerts(actor)
    if state:
        qs = qs.filter(state=state)
    if rule:
        qs = qs.filter(rule=rule)
    if institution_id:
        qs = qs.filter(institution_id=institution_id)
    if severity:
        qs = qs.filter(severity=severity)
    if month:
        qs = qs.filter(created_at__year=month[0], created_at__month=month[1])
    return qs.order_by("-created_at", "-id")


@dataclass(frozen=True)
class RuleRow:
    """A rule as it applies in the officer's region, and where its values come from."""

    rule: ResolvedRule
    own: bool  # the region's own override (else inherited from a higher region or national)
    source_name: str  # the region whose row decides, or 全国默认
    national: dict[str, Any]  # the national thresholds, for comparison
    labels: list[tuple[str, str, Any]]  # (name, Chinese label, value in force)


def rule_region(actor: User | None) -> Region | None:
    """The region whose override the actor edits: an officer's own; None for an administrator
    (the national defaults)."""
    require_role(actor, Role.AGENCY_OFFICER)
    region = officer_region(actor)
    if region is None and not actor.is_superuser:
        raise NotFound(codes.NO_REGION, "您的账号未关联经办机构所在区划")
    return region


def rules_page(actor: User | None) -> tuple[Region | None, list[RuleRow]]:
    region = rule_region(actor)
    national = rules_for(None)
    rows = []
    for key, rule in sorted(rules_for(region).items()):
        source = rule.source.region
        rows.append(
            RuleRow(
                rule=rule,
                own=region is not None and rule.source.region_id == region.code,
                source_name=source.name if source is not None else "全国默认",
                national=national[key].params if key in national else {},
                labels=[
                    (name, label, rule.params.get(name, ""))
                    for name, (_kind, label) in RULE_PARAMS.get(key, {}).items()
                ],
            )
        )
    return region, rows


def alert_get(actor: User | None, pk: int) -> Alert:
    found = visible_alerts(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound(codes.ALERT_NOT_FOUND, "预警不存在或不在本统筹区")
    return found
