"""Criteria evaluation rate: evaluations per second of a 20-criterion set (DESIGN §9).

The set is 16 CEL conditions and 4 attestations; "criteria/s" counts all 20 per set, "condition
evaluations/s" the 16 CEL programs run. Before timing, each condition's outcome is checked
against cel-python's interpreter (the reference) and the line PASS/FAIL printed.

Run: ``DUALCHANNEL_TESTING=1 .venv/bin/python benchmarks/criteria_eval.py [--seconds 3]``.
No database is needed: the criteria are built in memory.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dualchannel.config.settings")
os.environ.setdefault("DUALCHANNEL_TESTING", "1")

import django

django.setup()

from dualchannel.catalog.criteria import (  # noqa: E402
    RUNTIME,
    evaluate_condition_reference,
    evaluate_items,
    to_activation,
)
from dualchannel.catalog.models import Criterion, CriterionKind  # noqa: E402

CONDITIONS = [
    'diagnoses.exists(d, d.startsWith("C34"))',
    "patient.age >= 18",
    'genes["ALK"] == "positive"',
    'genes["EGFR"] in ["exon19del", "L858R"]',
    'labs["LDL_C"] >= 1.8',
    '"EGFR-TKI" in prior_therapies',
    'insurance_type == "310"',
    'setting == "outpatient"',
    'patient.sex == "2"',
    'diagnoses.exists(d, d.matches("^C(0[0-9]|1[0-4])"))',
    'labs["BCVA"] >= 0.05 && labs["BCVA"] <= 0.5',
    'prior_therapies.exists(t, t in ["corticosteroid", "immunoglobulin"])',
    "size(diagnoses) > 0",
    'genes["MET"] == "exon14skipping"',
    'patient.age >= 12 && diagnoses.exists(d, d.startsWith("E78"))',
    'genes["HER2"] == "positive"',
]


def build_items() -> list[Criterion]:
    items = [
        Criterion(code=f"c{n}", kind=CriterionKind.CONDITION, text=expr, expression=expr)
        for n, expr in enumerate(CONDITIONS)
    ]
    items += [
        Criterion(code=f"a{n}", kind=CriterionKind.ATTESTATION, group="indication", text="确认")
        for n in range(20 - len(items))
    ]
    return items


CONTEXT = {
    "patient": {"age": 56, "sex": "2"},
    "diagnoses": ["C34.901", "E78.001", "I10.x00x002"],
    "labs": {"LDL_C": 3.1, "BCVA": 0.3},
    "genes": {"ALK": "positive", "EGFR": "L858R", "HER2": "negative"},
    "prior_therapies": ["corticosteroid"],
    "insurance_type": "310",
    "setting": "outpatient",
}
ANSWERS = {"a0": True, "a1": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    items = build_items()
    assert len(items) == 20
    result = evaluate_items(items, CONTEXT, ANSWERS)  # warm the compile cache
    activation = to_activation(CONTEXT)
    reference = [
        evaluate_condition_reference(item.expression, activation)[0]
        for item in items
        if item.kind == CriterionKind.CONDITION
    ]
    outcomes = [item.outcome for item in result.items if item.kind == CriterionKind.CONDITION]
    same = outcomes == reference and activation.compiled is not None
    print(f"runtime: {RUNTIME}")
    verdict = "PASS" if same else "FAIL"
    print(f"{verdict}: {len(outcomes)} conditions, outcomes equal to cel-python's")
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        evaluate_items(items, CONTEXT, ANSWERS)
        count += 1
    elapsed = time.perf_counter() - started
    conditions = len(outcomes)
    print(f"20-criterion set ({conditions} conditions), verdict {result.verdict}")
    print(f"{count / elapsed:,.0f} set evaluations/s ({count * 20 / elapsed:,.0f} criteria/s)")
    print(f"{count * conditions / elapsed:,.0f} condition evaluations/s")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
