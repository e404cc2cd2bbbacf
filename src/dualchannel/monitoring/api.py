"""Alerts for agency officers: their region's list, and confirm or dismiss one."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from dualchannel.core.auth import api_auth

from . import selectors, services
from .models import Alert

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
    reviewed_at: datetime | None
    created_at: datetime
    last_raised_at: datetime


class AlertReviewIn(Schema):
    confirm: bool
    note: str = ""


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
        "reviewed_at": alert.reviewed_at,
        "created_at": alert.created_at,
        "last_raised_at": alert.last_raised_at,
    }


@router.get("/alerts", response=list[AlertOut], summary="本统筹区监控预警")
def alerts_list(request: HttpRequest, state: str = "", rule: str = ""):
    rows = selectors.alert_list(request.user, state=state or None, rule=rule or None)
    return [_out(a) for a in rows[:500]]


@router.post("/alerts/{alert_id}/review", response=AlertOut, summary="核查预警（确认或排除）")
def alerts_review(request: HttpRequest, alert_id: int, payload: AlertReviewIn):
    alert = services.alert_review(
        actor=request.user, alert_id=alert_id, confirm=payload.confirm, note=payload.note
    )
    return _out(selectors.alert_get(request.user, alert.pk))
