"""Reads of the audit ledger, scoped to the actor."""

from __future__ import annotations

from django.db.models import QuerySet

from .errors import NotFound
from .models import AuditEvent, User
from .permissions import require_role
from .roles import Role


def audit_events_for_patient(*, actor: User, id_number: str) -> QuerySet[AuditEvent]:
    """Every event about one insured person, newest first, for on-site inspections [P §4].

    Agency officers see persons enrolled in their agency's region; admins see everyone.
    """
    from dualchannel.registry.models import InsuredPerson

    require_role(actor, Role.AGENCY_OFFICER)
    persons = InsuredPerson.objects.filter(id_number=id_number.strip().upper())
    if not actor.is_superuser:
        region = actor.institution.region if actor.institution_id else None
        if region is None:
            raise NotFound()
        persons = persons.filter(enrolment_region__code__startswith=region.code_prefix)
    person = persons.first()
    if person is None:
        raise NotFound("audit.patient_not_found", "未找到该参保人，或不在本统筹区")
    return (
        AuditEvent.objects.filter(patient=person)
        .select_related("actor", "institution")
        .order_by("-occurred_at", "-id")
    )
