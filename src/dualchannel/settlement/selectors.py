"""Reads of settlements, scoped to the actor: the settling institution's staff, the agency
officers of its region, the insured person; anyone else is told "not found"."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from dualchannel.core.errors import NotFound
from dualchannel.core.models import User
from dualchannel.core.queries import CompiledRead, attach, attached
from dualchannel.core.roles import Role
from dualchannel.registry.selectors import officer_region

from . import error_codes as codes
from .models import (
    ManualClaim,
    RecoveryOrder,
    RecoveryStatus,
    Settlement,
    SettlementBatch,
    SettlementLine,
)

_NOTHING = Q(pk__in=[])
STAFF_ROLES = frozenset({Role.PHARMACIST, Role.REVIEWER})


def _scoped(
    qs: QuerySet, actor: User | None, *, region_field: str, staff: bool, person: bool
) -> QuerySet:
    """Officers: rows whose ``region_field`` lies in their region; with ``staff``, the staff of
    the row's institution; with ``person``, the insured person; admins: all; others: nothing."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return qs.filter(_NOTHING)
    if actor.is_superuser:
        return qs
    scope = _NOTHING
    region = officer_region(actor)
    if region is not None:
        scope |= Q(**{f"{region_field}__startswith": region.code_prefix})
    if staff and actor.institution_id and actor.role_set.intersection(STAFF_ROLES):
        scope |= Q(institution_id=actor.institution_id)
    if person and actor.has_role(Role.PATIENT) and actor.insured_person_id:
        scope |= Q(person_id=actor.insured_person_id)
    return qs.filter(scope)


# what a settlement's page and answer show of it besides its lines
_SETTLEMENT_JOINS = ("institution", "person", "prescription")


def visible_settlements(actor: User | None) -> QuerySet[Settlement]:
    qs = Settlement.objects.select_related(*_SETTLEMENT_JOINS)
    return _scoped(qs, actor, region_field="institution__region__code", staff=True, person=True)


def settlement_get(actor: User | None, settlement_id: int) -> Settlement:
    found = visible_settlements(actor).prefetch_related("lines__drug").filter(pk=settlement_id)
    settlement = found.first()
    if settlement is None:
        raise NotFound(codes.NOT_FOUND, "结算记录不存在")
    return settlement


_ANSWER = CompiledRead(
    lambda settlement_id: (
        Settlement.objects.select_related(*_SETTLEMENT_JOINS)
        .filter(pk=settlement_id)
        .order_by()[:1]
    ),
    int,
)
_ANSWER_LINES = CompiledRead(  # its lines, as settlement_get prefetches them
    lambda settlement_id: (
        SettlementLine.objects.select_related("drug")
        .filter(settlement_id=settlement_id)
        .order_by("position")
    ),
    int,
)


def settlement_answer_of(settlement: Settlement) -> Settlement:
    """The answer to a settle: the rows the service has just written, when it kept them with
    what the answer shows (the lines with their drugs, the institution, the person), else
    ``settlement_answer``'s read (a replay, a line whose drug was not read with it)."""
    lines = attached(settlement, "lines")
    written = (
        lines is not None
        and all(_cached(settlement, name) for name in _SETTLEMENT_JOINS)
        and all(line.drug_id is None or _cached(line, "drug") for line in lines)
    )
    return settlement if written else settlement_answer(settlement.pk)


def _cached(row, name: str) -> bool:
    return type(row)._meta.get_field(name).is_cached(row)


def settlement_answer(settlement_id: int) -> Settlement:
    """A settlement the counter has just written (or replayed) for its actor, who the service
    checked may settle there: read for the answer as ``settlement_get`` reads it, without the
    scope, in two statements compiled once per process (issue 15)."""
    found = _ANSWER.one(settlement_id)
    if found is None:
        raise NotFound(codes.NOT_FOUND, "结算记录不存在")
    attach(found, "lines", _ANSWER_LINES.all(settlement_id))
    return found


def visible_claims(actor: User | None) -> QuerySet[ManualClaim]:
    """Manual claims: the officers of the insured person's enrolment region, and the person."""
    qs = ManualClaim.objects.select_related("person", "institution", "settlement")
    return _scoped(
        qs, actor, region_field="person__enrolment_region__code", staff=False, person=True
    )


def claim_get(actor: User | None, claim_id: int):
    claim = visible_claims(actor).filter(pk=claim_id).first()
    if claim is None:
        raise NotFound(codes.CLAIM_NOT_FOUND, "报销申请不存在")
    return claim


def batch_get(actor: User | None, batch_id: int) -> SettlementBatch:
    """A monthly batch: its institution's staff and the officers of the institution's region."""
    found = visible_batches(actor).filter(pk=batch_id).first()
    if found is None:
        raise NotFound(codes.BATCH_NOT_FOUND, "月度申报不存在或无权访问")
    return found


def visible_batches(actor: User | None) -> QuerySet[SettlementBatch]:
    """Monthly batches: their institution's staff and the officers of the institution's region."""
    qs = SettlementBatch.objects.select_related("institution")
    return _scoped(qs, actor, region_field="institution__region__code", staff=True, person=False)


def visible_recoveries(actor: User | None) -> QuerySet[RecoveryOrder]:
    """Recovery orders [HB art. 21–22]: the officers of the institution's region, and the
    institution's own staff (read only)."""
    qs = RecoveryOrder.objects.select_related("institution", "finding", "batch")
    return _scoped(qs, actor, region_field="institution__region__code", staff=True, person=False)


def recovery_get(actor: User | None, order_id: int) -> RecoveryOrder:
    found = visible_recoveries(actor).prefetch_related("items__settlement", "history")
    order = found.filter(pk=order_id).first()
    if order is None:
        raise NotFound(codes.RECOVERY_NOT_FOUND, "追回单不存在或无权访问")
    return order


def batch_deductions(batch: SettlementBatch) -> list[RecoveryOrder]:
    """The recovery orders a batch deducts [HB art. 21–22]: pending in it, or deducted by it."""
    return list(
        batch.recovery_orders.filter(
            status__in=(RecoveryStatus.PENDING, RecoveryStatus.DEDUCTED)
        ).order_by("pk")
    )
