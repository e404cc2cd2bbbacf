"""A region's policy profile changed by an officer; one transaction, locked, checked, audited.
Loading and resolving profiles is ``registry.profiles``."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import NotFound, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role

from .. import error_codes as codes
from ..models import (
    PolicyProfile,
    Region,
)
from ..profiles import clean_profile_values, profile_for
from .common import (
    officer_covers,
)

# Policy profiles ------------------------------------------------------------------------------


def profile_update(*, actor: User, region: Region, changes: dict[str, Any]) -> PolicyProfile:
    """Change the policy numbers of ``region``.

    A region without its own profile gets one, copied from the inherited profile, so a city can
    e.g. relax the physician title [HB art. 20(1)] without touching the province's rules.
    """
    require_role(actor, Role.AGENCY_OFFICER)
    if not officer_covers(actor, region.code):
        raise NotFound()
    values = clean_profile_values(changes)
    with transaction.atomic():
        Region.objects.select_for_update().get(code=region.code)
        profile = PolicyProfile.objects.select_for_update().filter(region=region).first()
        created = profile is None
        if created:
            inherited = profile_for(region)
            profile = PolicyProfile(region=region)
            for field in inherited._meta.concrete_fields:
                if field.name not in ("id", "region", "updated_at"):
                    setattr(profile, field.attname, getattr(inherited, field.attname))
            profile.name = f"{region.name}双通道政策（继承{inherited.name}）"
            before = None
        else:
            before = snapshot(profile)
        for field, value in values.items():
            setattr(profile, field, value)
        if profile.physician_relaxation_allowed and profile.physician_relaxed_title is None:
            raise field_error(
                "physician_relaxed_title", codes.INVALID_PROFILE_VALUE, "允许放宽时须填写放宽后职称"
            )
        profile.save()
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.profile_updated",
            subject=profile,
            before=before,
            after=profile,
            summary={"region": region.code, "created": created, "fields": sorted(values)},
        )
    return profile
