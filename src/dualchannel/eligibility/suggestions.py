"""Which drugs the hospital's data already qualifies a patient for (the physician's first pick).

For each drug with criteria in force in the hospital's region whose conditions mention one of
the patient's diagnosis categories, the criteria are evaluated on the patient's HIS/LIS data with
no attestation answered; a drug is suggested unless the data already makes the patient
ineligible. The physician still picks;
nothing is decided here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Q
from django.utils import timezone

from dualchannel.catalog.criteria import INELIGIBLE, evaluate_criteria
from dualchannel.catalog.models import CriteriaSet, CriteriaStatus, Drug
from dualchannel.catalog.selectors import published_criteria
from dualchannel.integration.his import HisAdapter

from .workflow import SETTING

MAX_SUGGESTIONS = 6


def suggested_drugs(
    *, hospital, person, his: HisAdapter, found, diagnoses: list, today: date | None = None
) -> list[Drug]:
    if found is None or not diagnoses or hospital is None:
        return []
    today = today or timezone.localdate()
    categories = {d.code[:3].upper() for d in diagnoses if getattr(d, "code", "")}
    mentions = Q()
    for category in categories:
        mentions |= Q(items__expression__contains=f'"{category}')
    candidates = (
        CriteriaSet.objects.filter(status=CriteriaStatus.PUBLISHED)
        .filter(mentions)
        .values_list("drug_id", flat=True)
        .distinct()
    )
    context: dict[str, Any] = his.patient_context(
        found, insurance_type=person.insurance_type, setting=SETTING, today=today
    )
    suggested: list[Drug] = []
    for drug in Drug.objects.filter(pk__in=list(candidates)).order_by("generic_name"):
        criteria_set = published_criteria(drug, hospital.region)
        if criteria_set is None:
            continue
        # Attestations stay unanswered: only the data can rule a drug out here.
        if evaluate_criteria(criteria_set, context, {}).verdict != INELIGIBLE:
            suggested.append(drug)
        if len(suggested) >= MAX_SUGGESTIONS:
            break
    return suggested
