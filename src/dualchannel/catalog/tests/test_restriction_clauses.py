"""The payment restriction's diagnosis and setting clauses, judged at settlement on what a
prescription carries [HB art. 31(5), 36; AH annex note 3(3)] (``criteria.evaluate_restriction``)."""

from __future__ import annotations

import pytest

from dualchannel.catalog.authored import read_entries
from dualchannel.catalog.criteria import (
    ELIGIBLE,
    INCOMPLETE,
    INELIGIBLE,
    UNKNOWN,
    evaluate_restriction,
    expression_variables,
)
from dualchannel.catalog.models import Criterion, CriterionKind
from dualchannel.catalog.workflow import drafted_items

AUTHORED = read_entries()


def items_of(entry: dict) -> list[Criterion]:
    return [
        Criterion(
            position=n,
            code=item["code"],
            kind=item["kind"],
            group=item.get("group", ""),
            text=item["text"],
            expression=item.get("expression", ""),
        )
        for n, item in enumerate(entry["items"], 1)
    ]


@pytest.mark.parametrize("entry", AUTHORED, ids=[e["generic_name"] for e in AUTHORED])
def test_every_authored_set_is_outside_for_a_foreign_diagnosis_and_not_for_its_own(entry):
    """HB art. 31(5): each shipped set has a diagnosis clause; the diagnosis of its eligible
    example keeps the line within, an unrelated one (Z00.000, a general examination) puts
    it outside."""
    own = entry["examples"]["eligible"]["context"]["diagnoses"]

    within = evaluate_restriction(items_of(entry), diagnoses=own, setting="outpatient")
    outside = evaluate_restriction(items_of(entry), diagnoses=["Z00.000"], setting="outpatient")

    assert within is not None and within.verdict != INELIGIBLE
    assert outside is not None and outside.verdict == INELIGIBLE


def test_only_diagnosis_and_setting_clauses_are_judged():
    """A gene, lab or age condition and an attestation are left unknown: they were judged when
    the eligibility was granted or the physician prescribed."""
    (lung,) = [e for e in AUTHORED if e["generic_name"] == "洛拉替尼片"]

    result = evaluate_restriction(items_of(lung), diagnoses=["C34.901"], setting="outpatient")

    assert result.verdict == INCOMPLETE
    assert [(r.code, r.outcome) for r in result.items] == [
        ("nsclc", "met"),
        ("alk-positive", UNKNOWN),
        ("advanced", UNKNOWN),
    ]


def test_a_set_with_nothing_machine_readable_is_not_judged():
    """A set drafted from the restriction text is attestations only: None (within)."""
    drafted = [
        Criterion(position=n, **item)
        for n, item in enumerate(drafted_items("限：1.成人患者；2.二线治疗。"), 1)
    ]

    assert drafted and evaluate_restriction(drafted, diagnoses=["C34.901"], setting="") is None


def test_a_setting_clause_and_a_missing_diagnosis():
    """HB art. 31(5): 限住院 is judged on the setting; without a diagnosis (a paper
    prescription) a diagnosis clause is unknown, never outside."""
    inpatient_only = [
        Criterion(
            position=1,
            code="ward",
            kind=CriterionKind.CONDITION,
            text="限住院患者",
            expression='setting == "inpatient"',
        )
    ]
    by_diagnosis = [
        Criterion(
            position=1,
            code="dm",
            kind=CriterionKind.CONDITION,
            text="限2型糖尿病",
            expression='diagnoses.exists(d, d.startsWith("E11"))',
        )
    ]

    assert evaluate_restriction(inpatient_only, diagnoses=[], setting="inpatient").verdict == (
        ELIGIBLE
    )
    assert evaluate_restriction(inpatient_only, diagnoses=[], setting="outpatient").verdict == (
        INELIGIBLE
    )
    assert evaluate_restriction(by_diagnosis, diagnoses=[], setting="outpatient").verdict == (
        INCOMPLETE
    )
    assert expression_variables('patient.age >= 18 && diagnoses.exists(d, d == "x")') == {
        "patient",
        "diagnoses",
    }
    assert expression_variables("not valid (") == frozenset()
