"""Which drugs the hospital's data already qualifies a patient for (the physician's first pick).

Opening a patient (from the HIS link or by ID number) evaluates every drug's criteria set in
force in the hospital's region on the patient's HIS/LIS data, with no attestation answered
[issue 15 point 4]. A drug is suggested when the data does not rule the patient out and one of
its diagnosis conditions is met by the patient's diagnoses (a set with attestations only, or one
whose diagnosis clauses all fail, says nothing about this patient); drugs whose data conditions
are all met come first. The physician still picks; nothing is decided here.

The whole pass is one query for the sets in force (their items are read once per process)
and one conversion of the patient's facts, then compiled CEL per condition:
``Suggestions.elapsed_ms`` is what the page reports in its ``Server-Timing`` header and
``make bench-paper`` prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils import timezone

from dualchannel.catalog.criteria import (
    ELIGIBLE,
    INELIGIBLE,
    MET,
    evaluate_items,
    expression_variables,
    to_activation,
)
from dualchannel.catalog.models import CriterionKind, Drug
from dualchannel.catalog.selectors import criteria_in_force, published_items
from dualchannel.integration.his import HisAdapter

from .workflow import SETTING

MAX_SUGGESTIONS = 6


@dataclass(frozen=True)
class Suggestions:
    drugs: list[Drug] = field(default_factory=list)
    evaluated: int = 0  # criteria sets evaluated (every drug with a set in force here)
    elapsed_ms: float = 0.0

    def server_timing(self) -> str:
        """The ``Server-Timing`` entry of the page that showed them."""
        return f'suggestions;dur={self.elapsed_ms:.1f};desc="{self.evaluated} criteria sets"'


def suggested_drugs(
    *, hospital, person, his: HisAdapter, found, diagnoses: list, today: date | None = None
) -> Suggestions:
    if found is None or not diagnoses or hospital is None:
        return Suggestions()
    started = time.perf_counter()
    today = today or timezone.localdate()
    context: dict[str, Any] = his.patient_context(
        found, insurance_type=person.insurance_type, setting=SETTING, today=today
    )
    activation = to_activation(context)
    sets = criteria_in_force(hospital.region)
    items_of = published_items(sets)
    ranked: list[tuple[int, str, Drug]] = []
    for criteria_set in sets:
        items = items_of[criteria_set.pk]
        # Attestations stay unanswered: only the data can rule a drug out here.
        result = evaluate_items(items, context, {}, activation=activation)
        if result.verdict == INELIGIBLE or not _diagnosis_met(items, result):
            continue
        data_all_met = result.verdict == ELIGIBLE or all(
            r.outcome == MET for r in result.items if r.kind == CriterionKind.CONDITION
        )
        drug = criteria_set.drug
        ranked.append((0 if data_all_met else 1, drug.generic_name, drug))
    ranked.sort(key=lambda row: row[:2])
    return Suggestions(
        drugs=[drug for *_, drug in ranked[:MAX_SUGGESTIONS]],
        evaluated=len(sets),
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def _diagnosis_met(items, result) -> bool:
    """Whether one of the set's conditions over the diagnoses is met for this patient."""
    for item, outcome in zip(items, result.items, strict=True):
        if outcome.outcome == MET and "diagnoses" in expression_variables(item.expression):
            return True
    return False
