"""Criteria expressions, evaluation, and the authored criteria of costly special drugs."""

from __future__ import annotations

import pytest

from dualchannel.catalog.authored import load_authored_criteria, read_entries
from dualchannel.catalog.criteria import (
    ELIGIBLE,
    INCOMPLETE,
    INELIGIBLE,
    MET,
    NOT_MET,
    UNKNOWN,
    evaluate_criteria,
    validate_expression,
)
from dualchannel.catalog.models import CriteriaOrigin, CriteriaSet, CriteriaStatus
from dualchannel.catalog.tests.factories import lung_cancer_set
from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent

MATCHING = {"diagnoses": ["C34.901"], "genes": {"ALK": "positive"}}


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("patient.age >=", "语法错误"),
        ("weight > 60", "未知变量：weight"),
        ('d.startsWith("C34")', "未知变量：d"),
        ("patient.age", "真/假"),
        ("diagnoses + 1 > 0", "类型不匹配"),
        ("", "不能为空"),
    ],
)
def test_invalid_expressions_are_refused_on_the_expression_field(expression, fragment):
    with pytest.raises(DomainError) as caught:
        validate_expression(expression)

    assert caught.value.code == "catalog.invalid_expression"
    assert fragment in caught.value.message
    assert caught.value.fields["expression"] == [caught.value.message]


@pytest.mark.parametrize(
    "expression",
    [
        "patient.age >= 18",
        'diagnoses.exists(d, d.startsWith("C34"))',
        'genes["EGFR"] in ["exon19del", "L858R"]',
        'labs["LDL_C"] >= 1.8 && "statin" in prior_therapies',
        'insurance_type == "310" && setting == "outpatient"',
    ],
)
def test_valid_expressions_pass(expression):
    validate_expression(expression)


def test_all_met_is_eligible(db):
    criteria_set = lung_cancer_set()

    result = evaluate_criteria(criteria_set, MATCHING, {"advanced": True})

    assert result.verdict == ELIGIBLE
    assert [i.outcome for i in result.items] == [MET, MET, UNKNOWN, MET]


def test_failing_condition_names_the_policy_text(db):
    criteria_set = lung_cancer_set()

    result = evaluate_criteria(
        criteria_set, {**MATCHING, "genes": {"ALK": "negative"}}, {"advanced": True}
    )

    assert result.verdict == INELIGIBLE
    assert [(i.code, i.text) for i in result.failing] == [("alk", "ALK阳性")]


def test_group_with_every_alternative_not_met_is_ineligible(db):
    criteria_set = lung_cancer_set()

    result = evaluate_criteria(criteria_set, MATCHING, {"advanced": False, "adjuvant": False})

    assert result.verdict == INELIGIBLE


def test_missing_data_is_unknown_and_incomplete(db):
    criteria_set = lung_cancer_set()

    result = evaluate_criteria(criteria_set, {"diagnoses": ["C34.901"], "genes": {}}, {})

    assert result.verdict == INCOMPLETE
    alk = next(i for i in result.items if i.code == "alk")
    assert (alk.outcome, alk.reason) == (UNKNOWN, "缺少判定所需的数据")
    assert evaluate_criteria(criteria_set, {}, {"advanced": True}).verdict == INCOMPLETE


def test_a_diagnosis_that_does_not_match_is_not_met(db):
    criteria_set = lung_cancer_set()

    result = evaluate_criteria(criteria_set, {**MATCHING, "diagnoses": ["C50.900"]}, {})

    assert result.items[0].outcome == NOT_MET and result.verdict == INELIGIBLE


def test_authored_criteria_are_published_for_at_least_15_special_drugs(nrdl2025):
    entries = read_entries()
    assert len(entries) >= 15
    for entry in entries:
        published = CriteriaSet.objects.get(
            drug__generic_name=entry["generic_name"], status=CriteriaStatus.PUBLISHED
        )
        assert published.origin == CriteriaOrigin.AUTHORED
        assert published.evaluation_cycle_days == entry["evaluation_cycle_days"]
        assert published.required_material_kinds == entry["required_material_kinds"]
        assert published.items.filter(kind="condition").exists()
        drafted = CriteriaSet.objects.get(drug=published.drug, origin=CriteriaOrigin.DRAFTED)
        assert drafted.status == CriteriaStatus.RETIRED
        assert published.version > drafted.version
        for expected in (ELIGIBLE, INELIGIBLE, INCOMPLETE):
            example = entry["examples"][expected]
            result = evaluate_criteria(published, example["context"], example["answers"])
            assert result.verdict == expected, (entry["generic_name"], expected, result.items)
        incomplete = evaluate_criteria(
            published,
            entry["examples"][INCOMPLETE]["context"],
            entry["examples"][INCOMPLETE]["answers"],
        )
        assert any(item.outcome == UNKNOWN for item in incomplete.items)


def test_loading_authored_criteria_again_changes_nothing(nrdl2025):
    sets = CriteriaSet.objects.count()
    events = AuditEvent.objects.count()

    report = load_authored_criteria()

    assert report.published == [] and len(report.unchanged) >= 15
    assert (CriteriaSet.objects.count(), AuditEvent.objects.count()) == (sets, events)
