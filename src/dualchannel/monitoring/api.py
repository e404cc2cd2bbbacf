"""Alerts for agency officers: their region's list, and confirm or dismiss one."""

from __future__ import annotations

import re
from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from dualchannel.core.auth import api_auth

from . import selectors, services
from .models import Alert
from .rules import ResolvedRule, params_json, rules_for

router = Router(tags=["monitoring"], auth=api_auth)


class AlertOut(Schema):
    id: int
    rule: str
    severity: str
    severity_label: str
    institution_id: int | None
    institution_name: str
    subject_type: str
    subject_id: str
    evidence: dict
    state: str
    state_label: str
    occurrences: int
    reviewer_note: str
    finding_no: str
    reviewed_at: datetime | None
    created_at: datetime
    last_raised_at: datetime


class AlertReviewIn(Schema):
    confirm: bool
    note: str = ""
    finding_kind: str = ""  # with confirm: record the violation finding (recovery follows)


def _out(alert: Alert) -> dict:
    return {
        "id": alert.pk,
        "rule": alert.rule,
        "severity": alert.severity,
        "severity_label": alert.get_severity_display(),
        "institution_id": alert.institution_id,
        "institution_name": alert.institution.name if alert.institution_id else "",
        "subject_type": alert.subject_type,
        "subject_id": alert.subject_id,
        "evidence": alert.evidence,
        "state": alert.state,
        "state_label": alert.get_state_display(),
        "occurrences": alert.occurrences,
        "reviewer_note": alert.reviewer_note,
        "finding_no": alert.finding_no,
        "reviewed_at": alert.reviewed_at,
        "created_at": alert.created_at,
        "last_raised_at": alert.last_raised_at,
    }


@router.get("/alerts", response=list[AlertOut], summary="本统筹区监控预警")
def alerts_list(
    request: HttpRequest,
    state: str = "",
    rule: str = "",
    institution_id: int | None = None,
    severity: str = "",
    month: str = "",
):
    """Filtered by state, rule, institution, severity and the month raised (YYYY-MM)."""
    found = re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", month or "")
    rows = selectors.alert_list(
        request.user,
        state=state or None,
        rule=rule or None,
        institution_id=institution_id,
        severity=severity or None,
        month=(int(found[1]), int(found[2])) if found else None,
    )
    return [_out(a) for a in rows[:500]]


@router.post("/alerts/{alert_id}/review", response=AlertOut, summary="核查预警（确认或排除）")
def alerts_review(request: HttpRequest, alert_id: int, payload: AlertReviewIn):
    alert = services.alert_review(
        actor=request.user,
        alert_id=alert_id,
        confirm=payload.confirm,
        note=payload.note,
        finding_kind=payload.finding_kind if payload.confirm else "",
    )
    return _out(selectors.alert_get(request.user, alert.pk))


class MonitoringRuleOut(Schema):
    key: str
    name: str
    article: str
    enabled: bool
    severity: str
    params: dict
    source_region: str  # the region whose row decides; "" for the national default
    own: bool  # the actor's region's own override


class MonitoringRuleIn(Schema):
    params: dict = {}
    enabled: bool | None = None
    severity: str | None = None


def _rule_out(rule: ResolvedRule, own: bool) -> dict:
    return {
        "key": rule.key,
        "name": rule.name,
        "article": rule.article,
        "enabled": rule.enabled,
        "severity": rule.severity,
        "params": params_json(rule.params),
        "source_region": rule.source.region_id or "",
        "own": own,
    }


@router.get("/rules", response=list[MonitoringRuleOut], summary="本统筹区监控规则及阈值")
def rules_list(request: HttpRequest):
    _region, rows = selectors.rules_page(request.user)
    return [_rule_out(r.rule, r.own) for r in rows]


@router.put(
    "/rules/{region_code}/{key}", response=MonitoringRuleOut, summary="修改本统筹区监控规则阈值"
)
def rules_update(request: HttpRequest, region_code: str, key: str, payload: MonitoringRuleIn):
    """Thresholds ≥ 0 (``monitoring.invalid_threshold`` otherwise, nothing written); another
    region's rules are not found."""
    row = services.rule_update(
        actor=request.user,
        key=key,
        region_code=region_code,
        params=payload.params,
        enabled=payload.enabled,
        severity=payload.severity,
    )
    return _rule_out(rules_for(row.region)[key], True)
