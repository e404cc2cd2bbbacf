"""Reads of alerts, scoped to the actor: officers see their region's institutions, admins all."""

from __future__ import annotations

from django.db.models import QuerySet

from dualchannel.core.errors import NotFound
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from .models import Alert


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
    actor: User | None, *, state: str | None = None, rule: str | None = None
) -> QuerySet[Alert]:
    qs = visible_alerts(actor)
    if state:
        qs = qs.filter(state=state)
    if rule:
        qs = qs.filter(rule=rule)
    return qs.order_by("-created_at", "-id")


def alert_get(actor: User | None, pk: int) -> Alert:
    found = visible_alerts(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound(codes.ALERT_NOT_FOUND, "预警不存在或不在本统筹区")
    return found
