"""Criteria-set lifecycle (draft → published → retired) and drafting from restriction text.

A set's status moves only by ``core.statemachine.transition`` (its machine, ``CRITERIA_MACHINE``,
is beside the model); the callers (import, authored-criteria loader, officer services) hold the
drug's row lock and write the audit event of their own action. The import and the loader work
on the national baseline only (``region`` null); regional sets are left alone.
"""

from __future__ import annotations

from dualchannel.core.errors import DomainError
from dualchannel.core.models import User
from dualchannel.core.statemachine import transition

from .criteria import validate_expression
from .models import (
    CriteriaOrigin,
    CriteriaSet,
    CriteriaSetStatusHistory,
    CriteriaStatus,
    Criterion,
    CriterionKind,
    Drug,
    Restriction,
)
from .parsing import parse_restriction

INDICATION_GROUP = "indication"


def next_version(drug: Drug) -> int:
    latest = drug.criteria_sets.order_by("-version").values_list("version", flat=True).first()
    return (latest or 0) + 1


def drafted_items(restriction_text: str) -> list[dict]:
    """Checklist items drafted from a restriction, texts verbatim.

    「限：1.…；2.…」 becomes alternatives (group ``indication``: any one must be met); a common
    scope before the list and each clause of 「应同时符合以下条件：1.…」 become required items;
    a restriction without numbered clauses becomes one required item with its whole text.
    """
    clauses = parse_restriction(restriction_text)
    if not clauses.text:
        return []
    items: list[dict] = []

    def add(code: str, text: str, group: str = "") -> None:
        items.append(
            {"code": code, "kind": CriterionKind.ATTESTATION, "group": group, "text": text}
        )

    if clauses.alternatives:
        if clauses.scope:
            add("scope", clauses.scope)
        for number, text in enumerate(clauses.alternatives, start=1):
            add(f"indication-{number}", text, INDICATION_GROUP)
    else:
        add("restriction", clauses.head or clauses.text)
    for number, text in enumerate(clauses.requirements, start=1):
        add(f"requirement-{number}", text)
    return items


def draft_from_restriction(
    drug: Drug, restriction: Restriction, *, actor: User | None
) -> CriteriaSet | None:
    """A drafted checklist for ``restriction`` unless one exists already (idempotent).

    Older national drafts of the drug are retired: they were drafted from a restriction no longer
    in force. Regional drafts belong to their region's officers and are left alone.
    """
    if (
        not restriction.text
        or CriteriaSet.objects.filter(restriction=restriction, region__isnull=True).exists()
    ):
        return None
    for stale in drug.criteria_sets.filter(status=CriteriaStatus.DRAFT, region__isnull=True):
        transition(stale, CriteriaStatus.RETIRED, actor=actor, reason="限定支付范围已更新")
    criteria_set = CriteriaSet.objects.create(
        drug=drug,
        version=next_version(drug),
        status=CriteriaStatus.DRAFT,
        origin=CriteriaOrigin.DRAFTED,
        restriction=restriction,
        note="由限定支付范围自动拟定，待经办人员审核。",
        created_by=actor,
    )
    CriteriaSetStatusHistory.objects.create(
        criteria_set=criteria_set, to_status=CriteriaStatus.DRAFT, actor=actor, reason="自动拟定"
    )
    Criterion.objects.bulk_create(
        Criterion(criteria_set=criteria_set, position=position, **item)
        for position, item in enumerate(drafted_items(restriction.text), start=1)
    )
    return criteria_set


def check_publishable(criteria_set: CriteriaSet) -> None:
    """A set can be published only with at least one item and every expression valid."""
    items = list(criteria_set.items.all())
    if not items:
        raise DomainError("catalog.criteria_empty", "认定条件没有任何条目，不能发布")
    for item in items:
        if item.kind == CriterionKind.CONDITION:
            try:
                validate_expression(item.expression)
            except DomainError as exc:
                raise DomainError(
                    exc.code,
                    f"条目「{item.code}」：{exc.message}",
                    fields={f"items.{item.code}.expression": [exc.message]},
                ) from exc


def publish_criteria_set(criteria_set: CriteriaSet, *, actor: User | None, reason: str) -> None:
    """Publish a draft and retire the set it replaces: the published set of the same drug and
    region (the national one for a national set); other regions' sets stay as they are.
    The caller holds the drug's lock."""
    check_publishable(criteria_set)
    current = (
        CriteriaSet.objects.select_for_update()
        .filter(
            drug_id=criteria_set.drug_id,
            region_id=criteria_set.region_id,
            status=CriteriaStatus.PUBLISHED,
        )
        .exclude(pk=criteria_set.pk)
    )
    for previous in current:
        transition(
            previous, CriteriaStatus.RETIRED, actor=actor, reason=f"由 v{criteria_set.version} 取代"
        )
    transition(criteria_set, CriteriaStatus.PUBLISHED, actor=actor, reason=reason)
