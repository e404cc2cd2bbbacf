"""The physician's first pick: every drug's criteria set in force is evaluated for the patient
opened [issue 15 point 4], and only drugs the data ties to the patient's disease are offered."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.catalog.models import CriteriaStatus, CriterionKind
from dualchannel.catalog.selectors import criteria_in_force, published_criteria
from dualchannel.catalog.tests.factories import (
    CriteriaSetFactory,
    CriterionFactory,
    DrugFactory,
    lung_cancer_set,
)
from dualchannel.eligibility.selectors import hospital_patient_find
from dualchannel.eligibility.suggestions import MAX_SUGGESTIONS, suggested_drugs
from dualchannel.registry.models import Region
from dualchannel.registry.tests.factories import region as region_named

from .factories import drug_with_criteria

pytestmark = pytest.mark.django_db


def published_set(name: str, *conditions: str, attestations: int = 0, region=None):
    """A published set of the given conditions (and alternative attestations) for a new drug."""
    criteria_set = CriteriaSetFactory(
        drug=DrugFactory(generic_name=name), status=CriteriaStatus.PUBLISHED, region=region
    )
    for n, expression in enumerate(conditions, start=1):
        CriterionFactory(
            criteria_set=criteria_set,
            position=n,
            code=f"c{n}",
            kind=CriterionKind.CONDITION,
            text=expression,
            expression=expression,
        )
    for n in range(attestations):
        CriterionFactory(
            criteria_set=criteria_set,
            position=len(conditions) + n + 1,
            code=f"a{n}",
            group="indication",
            text="医师确认",
        )
    return criteria_set


def suggest(physician_user, person):
    patient = hospital_patient_find(physician_user, id_number=person.id_number)
    return suggested_drugs(
        hospital=physician_user.institution,
        person=patient.person,
        his=patient.his,
        found=patient.found,
        diagnoses=patient.his.diagnoses(patient.found),
    )


def names(suggestions) -> list[str]:
    return [drug.generic_name for drug in suggestions.drugs]


def test_every_set_in_force_is_evaluated_not_only_those_naming_the_category(
    physician, physician_user, zhang
):
    # 张伟: C34.100x004, ALK positive (demo HIS). The old shortcut read only sets whose text held
    # '"C34': a clause written as a pattern was never evaluated.
    published_set("模式匹配肺癌药", 'diagnoses.exists(d, d.matches("^C3[34]"))')
    published_set("乳腺癌药", 'diagnoses.exists(d, d.startsWith("C50"))')
    published_set("仅需医师确认药", attestations=2)
    published_set("仅年龄条件药", "patient.age >= 18")

    suggestions = suggest(physician_user, zhang)

    assert suggestions.evaluated == 4
    assert names(suggestions) == ["模式匹配肺癌药"]


def test_drugs_whose_data_conditions_all_hold_come_first(physician, physician_user, zhang):
    published_set("乙药", 'diagnoses.exists(d, d.startsWith("C34"))', 'genes["MET"] == "amp"')
    published_set("甲药", 'diagnoses.exists(d, d.startsWith("C34"))', 'genes["ALK"] == "positive"')
    published_set("丙药", 'diagnoses.exists(d, d.startsWith("C34"))', 'genes["ALK"] == "negative"')

    suggestions = suggest(physician_user, zhang)

    # 甲药: all data met; 乙药: MET not tested (unknown, not ruled out); 丙药: ruled out
    assert names(suggestions) == ["甲药", "乙药"]


def test_at_most_six_are_offered_of_all_those_evaluated(physician, physician_user, zhang):
    for n in range(MAX_SUGGESTIONS + 3):
        published_set(f"肺癌药{n:02d}", 'diagnoses.exists(d, d.startsWith("C34"))')

    suggestions = suggest(physician_user, zhang)

    assert suggestions.evaluated == MAX_SUGGESTIONS + 3
    assert names(suggestions) == [f"肺癌药{n:02d}" for n in range(MAX_SUGGESTIONS)]


def test_the_region_s_own_set_replaces_the_national_one(physician, physician_user, zhang):
    national = published_set("地方调整药", 'diagnoses.exists(d, d.startsWith("C34"))')
    province = Region.objects.get(code=physician_user.institution.region_id[:2] + "0000")
    # the province's own rules for the same drug exclude lung cancer patients
    CriteriaSetFactory(drug=national.drug, status=CriteriaStatus.PUBLISHED, region=province)
    regional = national.drug.criteria_sets.get(region=province)
    CriterionFactory(
        criteria_set=regional,
        position=1,
        code="c1",
        kind=CriterionKind.CONDITION,
        text="乳腺癌",
        expression='diagnoses.exists(d, d.startsWith("C50"))',
    )

    suggestions = suggest(physician_user, zhang)

    assert names(suggestions) == []
    assert suggestions.evaluated == 1


def test_the_sets_in_force_are_the_ones_each_drug_would_use(physician_user, db):
    region = physician_user.institution.region
    city = Region.objects.get(code=region.code[:4] + "00")
    province = Region.objects.get(code=region.code[:2] + "0000")
    drugs = []
    for n, regions in enumerate(((), (province,), (city, province), (city,))):
        criteria_set = published_set(f"药{n}", "patient.age >= 18")
        for other in regions:
            CriteriaSetFactory(
                drug=criteria_set.drug, status=CriteriaStatus.PUBLISHED, region=other
            )
        drugs.append(criteria_set.drug)
    only_elsewhere = CriteriaSetFactory(
        status=CriteriaStatus.PUBLISHED, region=region_named("110000")
    )

    in_force = {s.drug_id: s for s in criteria_in_force(region)}

    for drug in drugs:
        assert in_force[drug.pk] == published_criteria(drug, region)
    assert only_elsewhere.drug_id not in in_force


def test_one_query_for_the_sets_however_large_the_catalogue(
    physician, physician_user, zhang, django_assert_max_num_queries
):
    for n in range(30):
        lung_cancer_set(
            drug=DrugFactory(generic_name=f"目录药{n}"), status=CriteriaStatus.PUBLISHED
        )
    patient = hospital_patient_find(physician_user, id_number=zhang.id_number)
    diagnoses = patient.his.diagnoses(patient.found)

    def run():
        return suggested_drugs(
            hospital=physician_user.institution,
            person=patient.person,
            his=patient.his,
            found=patient.found,
            diagnoses=diagnoses,
        )

    # the first pass reads the region's parents and the published items once (both kept per
    # process), then one query for the sets
    with django_assert_max_num_queries(3):
        assert run().evaluated == 30
    with django_assert_max_num_queries(1):
        assert run().evaluated == 30


def test_the_page_reports_the_suggestions_time(client, physician, physician_user, zhang):
    drug_with_criteria(generic_name="塞瑞替尼胶囊")
    client.force_login(physician_user)

    page = client.get(reverse("eligibility-doctor"), {"patient": zhang.id_number})
    lookup = client.get(
        reverse("eligibility-doctor-patient"),
        {"patient_id_number": zhang.id_number},
        HTTP_HX_REQUEST="true",
    )

    for response in (page, lookup):
        assert response["Server-Timing"].startswith("suggestions;dur=")
        assert 'desc="1 criteria sets"' in response["Server-Timing"]
    assert "Server-Timing" not in client.get(reverse("eligibility-doctor"))
