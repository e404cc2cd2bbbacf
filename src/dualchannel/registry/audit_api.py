"""The audit ledger searched by insured person, for on-site inspections [P §4].

Mounted at /api/v1/audit through ``registry.audit_api.audit_router``. Here, not in core: finding
the person and the officer's region scope are the registry's; core keeps the ledger itself.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.pagination import paginate

from dualchannel.core.auth import api_auth
from dualchannel.core.models import AuditEvent

from .selectors import audit_events_for_patient

audit_router = Router(tags=["audit"], auth=api_auth)


class AuditEventOut(Schema):
    id: int
    stream: str
    seq: int
    occurred_at: datetime
    actor: str | None
    actor_role: str
    institution: str | None
    action: str
    subject_type: str
    subject_id: str
    summary: dict
    hash: str


@audit_router.get("/events", response=list[AuditEventOut], summary="按参保人查询审计事件")
@paginate
def audit_events(request: HttpRequest, patient_id_number: str):
    events = audit_events_for_patient(actor=request.auth, id_number=patient_id_number)
    return [_event_out(event) for event in events]


def _event_out(event: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        id=event.id,
        stream=event.stream,
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor=str(event.actor) if event.actor_id else None,
        actor_role=event.actor_role,
        institution=event.institution.name if event.institution_id else None,
        action=event.action,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        summary=event.summary,
        hash=event.hash,
    )
