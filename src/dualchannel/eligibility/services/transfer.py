"""An eligibility moves with the person's insurance relation [HB art. 50]: when an officer
transfers the person's enrolment to another pooling region of the province, the person's live
eligibilities keep going (same drug, hospital, physician, pharmacy, plan and re-evaluation
dates) and the new region's benefit rules apply from the transfer date (settlement looks the
rules up with ``registry.selectors.enrolment_region_on``). Each eligibility gets a history row
(status unchanged, the move in its reason) and an audit event, in the transfer's transaction.

Refusals are the registry's (``registry.services.insured_person_transfer``): a region without a
policy profile, another province, the same region, a bad date; nothing written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction

from dualchannel.core import audit
from dualchannel.core.locks import lock_rows
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.registry import services as registry_services
from dualchannel.registry.models import EnrolmentChange, InsuredPerson, Region
from dualchannel.registry.profiles import cited, region_citation

from ..models import LIVE_ELIGIBILITY, Eligibility, EligibilityTransition


@dataclass(frozen=True)
class Transfer:
    change: EnrolmentChange
    eligibilities: list[Eligibility]


def eligibility_transfer_with_person(
    *,
    actor: User,
    person_id: int,
    to_region: str | Region,
    effective_on: date | None = None,
    reason: str = "",
) -> Transfer:
    """Transfer the person's insurance relation within the province; their live eligibilities
    move with it, under the new region's rules from ``effective_on`` [HB art. 50]."""
    require_role(actor, Role.AGENCY_OFFICER)
    with transaction.atomic():
        # core.locks order: the person, then the eligibilities, before any write
        InsuredPerson.objects.select_for_update().filter(pk=person_id).first()
        live = lock_rows(
            Eligibility.objects.filter(patient_id=person_id, status__in=LIVE_ELIGIBILITY)
        )
        change = registry_services.insured_person_transfer(
            actor=actor,
            person_id=person_id,
            to_region=to_region,
            effective_on=effective_on,
            reason=reason,
        )
        note = cited(
            f"随参保关系转移：{change.from_region.name} → {change.to_region.name}，"
            f"自 {change.effective_on:%Y-%m-%d} 起按转入地规定享受待遇",
            region_citation(change.from_region_id, "eligibility_transfer"),
        )
        for eligibility in live:
            EligibilityTransition.objects.create(
                eligibility=eligibility,
                from_status=eligibility.status,
                to_status=eligibility.status,
                actor=actor,
                reason=note,
            )
            audit.record(
                actor=actor,
                action="eligibility.transferred",
                subject=eligibility,
                patient=change.person,
                role=actor_role(actor),
                summary={
                    "from": change.from_region_id,
                    "to": change.to_region_id,
                    "effective_on": change.effective_on.isoformat(),
                    "status": eligibility.status,
                },
            )
    return Transfer(change, live)
