"""Raising and reviewing alerts.

``alert_raise`` writes in the caller's transaction. ``alert_raise_independent`` is for a rule
that fires on a *refused* action (a resold traceability code): the refusal rolls back every
write of the business transaction, yet the alert must stay. Outside any caller's transaction it
simply commits on its own; inside one (e.g. ``inventory.sale_record`` called by dispensing) it is
committed at once on a second database connection (PostgreSQL), so the caller's rollback cannot
take it away; on SQLite, which admits one writer, it is written in the caller's transaction and
again once that has ended if its rollback took it away (``core.after_rollback``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.after_rollback import in_callers_transaction, keep_after_rollback
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import DomainError, NotFound, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.registry.models import Region
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from .models import (
    ALERT_MACHINE,
    Alert,
    AlertSeverity,
    AlertState,
    AlertTransition,
    MonitoringRule,
)
from .rules import clean_params, rules_for, shipped_default
from .rules import params_json as rule_params_json

logger = logging.getLogger("dualchannel.monitoring")

S = AlertState
_RULE = re.compile(r"^[a-z0-9_\-]{1,60}$")
NOTE_MAX = 2000
# How long the side connection waits for a lock before giving up (it must never wait on the
# caller's own transaction, which is waiting for it).
SIDE_LOCK_TIMEOUT = "5s"

Subject = models.Model | tuple[str, Any]


def _subject_ref(subject: Subject) -> tuple[str, str]:
    if isinstance(subject, models.Model):
        if subject.pk is None:
            raise DomainError(codes.INVALID_ALERT, "预警对象尚未保存")
        return subject._meta.label, str(subject.pk)
    subject_type, subject_id = subject
    return str(subject_type)[:80], str(subject_id)[:64]


def _check(rule: str, severity: str) -> None:
    if not _RULE.match(rule or ""):
        raise DomainError(codes.INVALID_ALERT, "预警规则名应为小写字母、数字、下划线或连字符")
    if severity not in AlertSeverity.values:
        raise DomainError(codes.INVALID_ALERT, "预警严重程度取值无效")


def alert_raise(
    *,
    rule: str,
    severity: str,
    institution: Any,
    subject: Subject,
    evidence: dict[str, Any],
    refresh_evidence: bool = False,
) -> Alert:
    """Open an alert, or count one more occurrence of the open alert of this rule and subject
    (``refresh_evidence``: and replace its evidence with the latest, for a rule re-run over a
    period whose finding grew)."""
    _check(rule, severity)
    subject_type, subject_id = _subject_ref(subject)
    institution_id = getattr(institution, "pk", institution)
    key = {"rule": rule, "subject_type": subject_type, "subject_id": subject_id}
    with transaction.atomic():
        existing = Alert.objects.select_for_update().filter(state=S.OPEN, **key).first()
        if existing is not None:
            return _again(existing, evidence if refresh_evidence else None)
        alert = Alert(severity=severity, institution_id=institution_id, evidence=evidence, **key)
        try:
            with transaction.atomic():
                alert.save(force_insert=True)
        except IntegrityError:
            # Another process opened the same alert at the same moment.
            return _again(Alert.objects.select_for_update().get(state=S.OPEN, **key))
        AlertTransition.objects.create(alert=alert, from_status="", to_status=S.OPEN, reason=rule)
        audit.record(
            actor=None,
            action="monitoring.alert_raised",
            subject=alert,
            after=alert,
            summary={"rule": rule, "severity": severity, "institution_id": institution_id},
        )
    return alert


def _again(alert: Alert, evidence: dict[str, Any] | None = None) -> Alert:
    alert.occurrences += 1
    alert.last_raised_at = timezone.now()
    fields = ["occurrences", "last_raised_at"]
    if evidence is not None:
        alert.evidence = evidence
        fields.append("evidence")
    alert.save(update_fields=fields)
    return alert


def alert_raise_independent(
    *,
    rule: str,
    severity: str,
    institution: Any,
    subject: Subject,
    evidence: dict[str, Any],
) -> None:
    """Raise an alert that survives a rollback of the caller's transaction."""
    _check(rule, severity)
    kwargs = {
        "rule": rule,
        "severity": severity,
        "institution": getattr(institution, "pk", institution),
        "subject": _subject_ref(subject),
        "evidence": evidence,
    }
    if not in_callers_transaction():
        alert_raise(**kwargs)  # commits at once: nobody else's transaction is open
        return
    if connection.vendor == "postgresql":
        outcome: list[BaseException | None] = []
        worker = threading.Thread(target=_raise_apart, args=(kwargs, outcome), daemon=True)
        worker.start()
        worker.join()
        if outcome and outcome[0] is None:
            return
        logger.warning(
            "alert %s could not be committed apart (%s); written in the caller's transaction",
            rule,
            type(outcome[0]).__name__ if outcome else "no outcome",
        )
    # SQLite admits one writer at a time: a second connection would wait for the caller. Write
    # it in the caller's transaction, and again once that has ended if its rollback took it away.
    written = alert_raise(**kwargs)
    keep_after_rollback(lambda: _raise_unless_kept(written.pk, written.occurrences, kwargs))


def _raise_unless_kept(alert_id: int, occurrences: int, kwargs: dict[str, Any]) -> None:
    """After the caller's transaction: raise the alert again unless what was written stayed."""
    kept = Alert.objects.filter(pk=alert_id, occurrences__gte=occurrences, rule=kwargs["rule"])
    if kept.exists():
        return
    logger.info("alert %s raised again after the caller's rollback", kwargs["rule"])
    alert_raise(**kwargs)


def _raise_apart(kwargs: dict[str, Any], outcome: list[BaseException | None]) -> None:
    """Runs in its own thread, hence on its own database connection, and commits there."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{SIDE_LOCK_TIMEOUT}'")
            alert_raise(**kwargs)
        outcome.append(None)
    except Exception as exc:  # reported to the caller, which falls back
        outcome.append(exc)
    finally:
        connection.close()


# --- review ------------------------------------------------------------------------------------


def _covers(actor: User, alert: Alert) -> bool:

    if actor.is_superuser:
        return True
    region = officer_region(actor)
    if region is None or alert.institution_id is None:
        return False
    return alert.institution.region_id.startswith(region.code_prefix)


# What records an officer's violation finding when an alert is confirmed: handed down by the
# settlement app (``settlement.apps``), which owns findings and recovery orders; it returns the
# finding's number. Signature: (actor, kind, reason, settlement_ids) -> finding_no.
FindingRecorder = Callable[..., str]
_finding_recorder: list[FindingRecorder] = []
_finding_kinds: list[tuple[str, str]] = []


def finding_recorder_register(recorder: FindingRecorder, kinds: list[tuple[str, str]]) -> None:
    """``kinds``: the violation kinds (value, Chinese label) the recorder accepts."""
    _finding_recorder[:] = [recorder]
    _finding_kinds[:] = list(kinds)


def finding_kinds() -> list[tuple[str, str]]:
    return list(_finding_kinds)


def alert_settlement_ids(alert: Alert) -> list[int]:
    """The settlements an alert's evidence names (what a finding can be recorded against)."""
    ids = (alert.evidence or {}).get("settlement_ids") or []
    return sorted({int(i) for i in ids if str(i).isdigit()})


def _finding(actor: User, alert: Alert, kind: str, note: str) -> str:
    ids = alert_settlement_ids(alert)
    if not ids or not _finding_recorder:
        raise field_error(
            "finding_kind", codes.FINDING_NEEDS_SETTLEMENTS, "该预警未涉及结算，不能据此认定违规"
        )
    reason = note or f"监控预警 #{alert.pk} 核查属实"
    return _finding_recorder[0](actor=actor, kind=kind, reason=reason, settlement_ids=ids)


def alert_review(
    *, actor: User, alert_id: int, confirm: bool, note: str, finding_kind: str = ""
) -> Alert:
    """An officer of the institution's region confirms or dismisses an open alert; confirming
    with a violation kind also records the finding against the alert's settlements, which
    raises the recovery orders (``settlement.services.recovery.violation_record``)."""
    require_role(actor, Role.AGENCY_OFFICER)
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise field_error("note", codes.NOTE_REQUIRED, f"核查说明不能超过{NOTE_MAX}个字符")
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update(of=("self",))
            .select_related("institution")
            .filter(pk=alert_id)
            .first()
        )
        if alert is None or not _covers(actor, alert):
            raise NotFound(codes.ALERT_NOT_FOUND, "预警不存在或不在本统筹区")
        target = S.CONFIRMED if confirm else S.DISMISSED
        ALERT_MACHINE.check(alert.state, target)
        if target == S.DISMISSED and not note:
            raise field_error("note", codes.NOTE_REQUIRED, "排除预警须填写核查说明")
        changes = {"reviewer": actor, "reviewer_note": note, "reviewed_at": timezone.now()}
        if confirm and finding_kind:
            changes["finding_no"] = _finding(actor, alert, finding_kind, note)
        transition(alert, target, actor=actor, reason=note, changes=changes)
    return alert


# --- rules: an officer edits the thresholds of the region's override ----------------------------


NATIONAL = "national"


def _rule_region(actor: User, region_code: str) -> Region | None:
    """The region whose override is written: the officer's region or one below it; the national
    row (``national``) for an administrator only. Another region's is not found."""
    if region_code == NATIONAL and actor.is_superuser:
        return None
    region = Region.objects.filter(code=region_code).first()
    own = officer_region(actor)
    if region is not None and (
        actor.is_superuser or (own is not None and region.code.startswith(own.code_prefix))
    ):
        return region
    raise NotFound(codes.RULE_NOT_FOUND, "监控规则不存在或不在本统筹区")


def rule_update(
    *,
    actor: User,
    key: str,
    region_code: str,
    params: dict[str, Any],
    enabled: bool | None = None,
    severity: str | None = None,
) -> MonitoringRule:
    """Write a region's override of a rule (created the first time from the rule in force there:
    the nearest higher region's override, else the national row), or
    the national row for an administrator; thresholds ≥ 0, refused with a code and nothing
    written otherwise; audited with the values before and after."""
    require_role(actor, Role.AGENCY_OFFICER)
    values = rule_params_json(clean_params(key, params or {}))
    if severity is not None and severity not in AlertSeverity.values:
        raise field_error("severity", codes.INVALID_THRESHOLD, "严重程度取值无效")
    region = _rule_region(actor, region_code)
    with transaction.atomic():
        national = MonitoringRule.objects.filter(key=key, region=None).first()
        national = national or shipped_default(key)
        if national is None:
            raise NotFound(codes.RULE_NOT_FOUND, "监控规则不存在")
        row = MonitoringRule.objects.select_for_update().filter(key=key, region=region).first()
        created = row is None
        if row is None:
            # from the rule in force there (a county's from its city's override, if any)
            inherited = rules_for(region).get(key) if region is not None else None
            row = MonitoringRule(
                key=key,
                region=region,
                name=national.name,
                article=national.article,
                enabled=inherited.enabled if inherited else national.enabled,
                severity=inherited.severity if inherited else national.severity,
                params=rule_params_json(inherited.params) if inherited else dict(national.params),
            )
        before = None if created else snapshot(row)
        row.params = {**row.params, **values}
        row.enabled = row.enabled if enabled is None else bool(enabled)
        row.severity = severity or row.severity
        row.updated_by = actor
        row.updated_at = timezone.now()
        row.save()
        audit.record(
            actor=actor,
            action="monitoring.rule_updated",
            subject=row,
            before=before,
            after=row,
            summary={"rule": key, "region": region.code if region else "", "created": created},
        )
    return row
