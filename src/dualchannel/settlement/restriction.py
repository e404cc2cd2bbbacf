"""Whether a line is within its drug's payment restriction (限定支付范围) [HB art. 31(5), 36;
AH annex note 3(3)]: non-payable rule 5 (``payable.OUTSIDE_RESTRICTION``).

The restriction is judged with the criteria engine (``catalog.criteria.evaluate_restriction``),
on what the settlement knows: the prescription's diagnosis (ICD-10 医保版2.0) and its setting
(outpatient, or inpatient for a purchase during a stay).

- A line under an eligibility: the eligibility was granted on its criteria set
  (``Application.criteria_set``), so the line is within unless its drug is not the eligibility's
  drug, or the prescription's diagnosis is not covered by that set's diagnosis clauses.
- An ordinary dual-channel drug (no eligibility): the diagnosis and setting clauses of the
  drug's criteria set in force for the person's enrolment region (参保地, whose fund pays;
  ``catalog.selectors.published_criteria``: the region's own set, else the national baseline).

Within by default, documented: a drug with no published set, or whose set has no
machine-readable diagnosis or setting clause (a set drafted from the restriction text is made of
attestations only), is within — the physician attested the restriction when prescribing and the
officer reviews it; only a clause the engine can decide makes a line self-pay. An unknown
outcome (no diagnosis on a manual claim without an electronic prescription) is within too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dualchannel.catalog.criteria import INELIGIBLE, evaluate_restriction
from dualchannel.catalog.models import CriteriaSet, Criterion
from dualchannel.catalog.selectors import published_criteria
from dualchannel.core import refcache

OUTPATIENT = "outpatient"
INPATIENT = "inpatient"


def criteria_items(criteria_set: Any) -> tuple[Criterion, ...]:
    """A criteria set's items in order, read once per worker while the criteria are unchanged
    (``core.refcache``; a set's items are written only while it is a draft)."""
    return refcache.cached(
        ("settlement.criteria_items", criteria_set.pk),
        (Criterion._meta.db_table,),
        lambda: tuple(criteria_set.items.order_by("position")),
    )


class RestrictionCheck:
    """Judges the lines of one settlement; the criteria sets are read once per drug."""

    def __init__(self, *, region: Any, diagnoses: Sequence[str], setting: str) -> None:
        self.region = region
        self.diagnoses = [code for code in diagnoses if code]
        self.setting = setting
        self._sets: dict[int, Any] = {}

    def within(self, drug: Any, eligibility: Any = None) -> bool:
        """Whether the line of ``drug`` (under ``eligibility``, if any) may be paid by the fund
        as far as the payment restriction goes."""
        if eligibility is not None:
            if eligibility.drug_id != drug.pk:
                return False  # the eligibility grants its own drug only [HB art. 8]
            criteria_set = eligibility.application.criteria_set
        else:
            if drug.pk not in self._sets:
                self._sets[drug.pk] = refcache.cached(
                    ("settlement.published_criteria", drug.pk, getattr(self.region, "code", None)),
                    (CriteriaSet._meta.db_table,),
                    lambda: published_criteria(drug, self.region),
                )
            criteria_set = self._sets[drug.pk]
        if criteria_set is None:
            return True
        result = evaluate_restriction(
            criteria_items(criteria_set),
            diagnoses=self.diagnoses,
            setting=self.setting,
        )
        return result is None or result.verdict != INELIGIBLE
