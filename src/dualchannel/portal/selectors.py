"""Reads for the patient's own pages and API, masked for display on a phone."""

from __future__ import annotations

from dataclasses import dataclass

from dualchannel.core.masking import mask_id_number, mask_name, mask_phone
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role


@dataclass(frozen=True)
class PortalProfile:
    bound: bool
    name: str | None  # 张*
    id_number: str | None  # 420102********1234
    phone: str | None  # 139****0001 (the phone on record in the registry)


def portal_profile(actor: User) -> PortalProfile:
    """The caller's bound insured person, masked; an unbound patient gets ``bound=False``."""
    require_role(actor, Role.PATIENT)
    person = actor.insured_person if actor.insured_person_id else None
    if person is None:
        return PortalProfile(bound=False, name=None, id_number=None, phone=None)
    return PortalProfile(
        bound=True,
        name=mask_name(person.name),
        id_number=mask_id_number(person.id_number),
        phone=mask_phone(person.phone) or None,
    )
