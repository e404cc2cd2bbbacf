"""The compiled CEL runtime (cel-expr-python) against the reference (cel-python), criterion by
criterion, on every authored criterion and a varied set of patient facts."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dualchannel.catalog.authored import read_entries
from dualchannel.catalog.criteria import (
    MET,
    NOT_MET,
    UNKNOWN,
    _program,
    evaluate_condition,
    evaluate_condition_reference,
    to_activation,
    validate_expression,
)
from dualchannel.core.errors import DomainError

MISSING = "缺少判定所需的数据"

# Diagnosis codes around the authored prefixes and patterns (ICD-10 医保版2.0 shapes).
CODES = [
    "C00.0", "C09.9", "C14.8", "C15.9", "C18.7", "C19.x00", "C20.x00", "C21.0", "C32.1", "C33",
    "C34.100x004", "C34.901", "C3", "c34.901", "C43.9", "C50.900", "C90.000", "C90.1", "C92.100",
    "D59.300", "D59.5", "D69.300", "E10.300", "E11.3", "E14.3", "E75.2", "E75.201", "E75.205",
    "E75.21", "E78.0", "E78.003", "E78.2", "E78.5", "G12.0", "G12.1", "G12.2", "G70.0", "G70.1",
    "H34.8", "H35.3", "H35.4", "I10.x00x002", "I20.0", "I25.9", "I26.0", "I63.9", "I70.0", "I71",
    "",
]  # fmt: skip


def _conditions() -> list[tuple[str, str]]:
    """``(drug/code, expression)`` of every condition in the authored criteria files."""
    found = []
    for entry in read_entries():
        for item in entry["items"]:
            if item["kind"] == "condition":
                found.append((f"{entry['generic_name']}/{item['code']}", item["expression"]))
    return found


CONDITIONS = _conditions()
EXPRESSIONS = sorted({expression for _, expression in CONDITIONS})
TEXT = " ".join(EXPRESSIONS)
STRINGS = sorted(set(re.findall(r'"([^"]*)"', TEXT)))
GENE_KEYS = sorted(set(re.findall(r'genes\["([^"]+)"\]', TEXT)))
LAB_BOUNDS = sorted(
    {
        (key, float(number))
        for key, number in re.findall(r'labs\["([^"]+)"\]\s*[<>=]=?\s*([\d.]+)', TEXT)
    }
)
AGES = sorted({int(n) for n in re.findall(r"patient\.age\s*[<>=]=?\s*(\d+)", TEXT)})


def _contexts() -> list[dict[str, Any]]:
    """Present, missing, boundary and wrongly typed facts."""
    examples = [
        example["context"] for entry in read_entries() for example in entry["examples"].values()
    ]
    contexts: list[dict[str, Any]] = [{}, *examples]
    # Missing: each example without each of its variables, and with empty maps and lists.
    for example in examples:
        for name in example:
            contexts.append({k: v for k, v in example.items() if k != name})
        contexts.append(
            {**example, "genes": {}, "labs": {}, "diagnoses": [], "prior_therapies": []}
        )
    base = examples[0]
    # Boundaries: ages around each limit, lab values at and beside each threshold.
    for age in AGES:
        for value in (age - 1, age, age + 1):
            contexts.append({**base, "patient": {"age": value, "sex": "2"}})
    for key, bound in LAB_BOUNDS:
        for value in (bound - 0.01, bound, bound + 0.01, 0.0):
            contexts.append({**base, "labs": {key: value}})
            contexts.append({**base, "labs": {key: value, "BCVA": 0.3, "LDL_C": 2.0}})
    # Every string literal as each gene's result, as a prior therapy and as a diagnosis.
    for key in GENE_KEYS:
        for value in [*STRINGS, "negative", "wildtype", "POSITIVE"]:
            contexts.append({**base, "genes": {key: value}})
    contexts.append({**base, "genes": dict.fromkeys(GENE_KEYS, "pathogenic")})
    contexts.append({**base, "genes": {"NPC1": "benign", "NPC2": "pathogenic"}})
    for value in STRINGS:
        contexts.append({**base, "prior_therapies": [value]})
    contexts.append({**base, "prior_therapies": ["proteasome-inhibitor", "immunomodulator"]})
    contexts.append({**base, "prior_therapies": ["statin", "EGFR-TKI", "platinum"]})
    for code in CODES:
        contexts.append({**base, "diagnoses": [code]})
        contexts.append(
            {
                "patient": {"age": 30, "sex": "1"},
                "diagnoses": ["I10.x00x002", code],
                "labs": {"ACHR_AB": 0.5, "LDL_C": 1.8, "BCVA": 0.05},
                "genes": {"RAS": "wildtype", "EGFR": "L858R"},
                "prior_therapies": ["statin"],
            }
        )
    contexts.append({**base, "diagnoses": list(CODES)})
    # Wrong types: numbers for strings, strings for lists, nulls inside, booleans.
    wrong: list[dict[str, Any]] = [
        {"patient": {"age": 17.9, "sex": 2}},
        {"patient": {"age": "18", "sex": "1"}},
        {"patient": {"age": True}},
        {"patient": {"age": 56, "sex": "1", "weight": 60.5}},
        {"patient": {"age": 56, "sex": None}},
        {"genes": {key: 1 for key in GENE_KEYS}},
        {"genes": {key: True for key in GENE_KEYS}},
        {"genes": {key: None for key in GENE_KEYS}},
        {"genes": {key: ["positive"] for key in GENE_KEYS}},
        {"genes": ["ALK", "EGFR"]},
        {"genes": "positive"},
        {"diagnoses": "C34.901"},
        {"diagnoses": "C"},
        {"diagnoses": [34]},
        {"diagnoses": [None, "C34.901"]},
        {"diagnoses": ["C34.901", 1]},
        {"diagnoses": {"C34.901": True}},
        {"prior_therapies": "EGFR-TKI"},
        {"prior_therapies": ["EGFR-TKI", None]},
        {"prior_therapies": [1, 2]},
        {"labs": {"LDL_C": "2.0", "ACHR_AB": True, "BCVA": 0}},
        {"labs": {"LDL_C": None, "BCVA": 0.5}},
        {"insurance_type": 310, "setting": ["outpatient"]},
        {"patient": 56},
    ]
    for facts in wrong:
        contexts.append(facts)
        contexts.append({**base, **facts})
    return contexts


CONTEXTS = _contexts()


def test_every_authored_criterion_has_the_same_outcome_on_both_runtimes():
    # Given every authored condition and several hundred patient contexts
    assert len(CONDITIONS) >= 30 and len(CONTEXTS) >= 300
    activations = []
    for context in CONTEXTS:
        try:
            activations.append((context, to_activation(context)))
        except (TypeError, ValueError):
            continue  # refused before either runtime sees it (e.g. ``"patient": 56``)
    compiled = [a for _, a in activations if a.compiled is not None]
    assert len(compiled) >= 0.8 * len(activations)  # most contexts run on the compiled runtime

    # When each is evaluated on the compiled runtime and on the reference
    differences = []
    outcomes = {MET: 0, NOT_MET: 0, UNKNOWN: 0}
    missing = 0
    for label, expression in CONDITIONS:
        for context, activation in activations:
            fast = evaluate_condition(expression, activation)
            reference = evaluate_condition_reference(expression, activation)
            outcomes[reference[0]] += 1
            missing += reference[1] == MISSING
            # Then the outcome is the same: met, not met, or unknown
            if fast[0] != reference[0]:
                differences.append((label, expression, context, fast, reference))

    assert differences == []
    assert min(outcomes.values()) >= 500 and missing >= 500  # every outcome is exercised


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"genes": {"ALK": "positive"}}, (MET, "")),
        ({"genes": {"ALK": "negative"}}, (NOT_MET, "")),
        ({"genes": {"EGFR": "L858R"}}, (UNKNOWN, MISSING)),
        ({}, (UNKNOWN, MISSING)),
        ({"genes": {"ALK": 1}}, (UNKNOWN, None)),  # a number is not a result: unknown
    ],
)
def test_missing_data_is_unknown_not_false(context, expected):
    outcome, reason = evaluate_condition('genes["ALK"] == "positive"', to_activation(context))

    assert outcome == expected[0]
    assert expected[1] is None or reason == expected[1]


def test_well_formed_facts_run_on_the_compiled_runtime_and_programs_are_cached():
    activation = to_activation({"patient": {"age": 56, "sex": "1"}, "diagnoses": ["C34.901"]})

    assert activation.compiled is not None
    assert _program("patient.age >= 18") is _program("patient.age >= 18")
    assert evaluate_condition("patient.age >= 18", activation) == (MET, "")


@pytest.mark.parametrize(
    "expression",
    [
        'diagnoses.exists(d, d.matches("^C(?=34)"))',  # RE2 has no look-ahead
        'diagnoses.exists(d, d.matches("^(C)\\\\1"))',  # nor back-references
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_when_authored(expression):
    with pytest.raises(DomainError) as caught:
        validate_expression(expression)

    assert caught.value.code == "catalog.invalid_expression"


@pytest.mark.parametrize(
    "expression",
    [
        'eval("1") == 1',
        '__import__("os") == 1',
        "patient.age.__class__ == 1",
        'dyn(patient).system("ls")',
    ],
)
def test_no_host_function_is_reachable(expression):
    # cel-python took ``eval("1")`` for missing data and let it be authored; now it is refused
    with pytest.raises(DomainError) as caught:
        validate_expression(expression)

    assert caught.value.code == "catalog.invalid_expression"
    assert caught.value.fields["expression"] == [caught.value.message]
    assert evaluate_condition(expression, to_activation({"patient": {"age": 1}}))[0] == UNKNOWN
