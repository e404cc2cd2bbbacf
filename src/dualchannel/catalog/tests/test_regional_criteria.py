"""Regional criteria: national baseline, provincial and city sets, resolution and scope.

The ``agency_user`` works for the Wuhan agency (420100); the ``outsider_agency`` for Hefei
(340100). Provinces set the rules [AH §2(1), HB art. 3], cities add detail [HB art. 52].
"""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, transaction

from dualchannel.catalog import selectors, services
from dualchannel.catalog.models import CriteriaSet, CriteriaStatus, Criterion
from dualchannel.catalog.tests.factories import (
    CriteriaSetFactory,
    CriterionFactory,
    DrugFactory,
    RestrictionFactory,
    lung_cancer_set,
)
from dualchannel.catalog.workflow import draft_from_restriction
from dualchannel.core.errors import Conflict, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.tests.factories import InstitutionFactory, region


def _state(criteria_set: CriteriaSet) -> tuple:
    """Everything a refused write must leave unchanged."""
    fresh = CriteriaSet.objects.get(pk=criteria_set.pk)
    items = list(fresh.items.order_by("position").values_list("code", "text", "position"))
    return (fresh.status, fresh.evaluation_cycle_days, fresh.note, items)


@pytest.fixture
def national(db):
    return lung_cancer_set(status=CriteriaStatus.PUBLISHED, region=None)


@pytest.fixture
def hubei_officer(db):
    agency = InstitutionFactory(
        kind=InstitutionKind.AGENCY, name="湖北省医保局", region_code="420000"
    )
    return UserFactory(username="hubei_officer", institution=agency, roles=[Role.AGENCY_OFFICER])


def test_wuhan_officer_creates_edits_and_publishes_a_wuhan_set(national, agency_user):
    draft = services.criteria_set_create_draft(actor=agency_user, drug_id=national.drug_id)

    assert (draft.region_id, draft.status) == ("420100", CriteriaStatus.DRAFT)
    assert list(draft.items.values_list("code", flat=True)) == list(
        national.items.values_list("code", flat=True)
    )
    assert draft.status_history.get().reason == f"基于 v{national.version}（全国基线）新建"
    created = AuditEvent.objects.get(action="catalog.criteria_draft_created")
    assert created.summary["region"] == "420100"
    with pytest.raises(Conflict):
        services.criteria_set_create_draft(actor=agency_user, drug_id=national.drug_id)

    services.criterion_add(
        actor=agency_user,
        criteria_set_id=draft.id,
        code="wuhan-hospital",
        kind="attestation",
        text="由本市定点医疗机构责任医师开具处方",
    )
    services.criteria_set_update(actor=agency_user, criteria_set_id=draft.id, note="武汉市细化")
    services.criteria_set_publish(actor=agency_user, criteria_set_id=draft.id, reason="市级细化")

    draft.refresh_from_db()
    national.refresh_from_db()
    assert draft.status == CriteriaStatus.PUBLISHED
    # Publishing a regional set leaves the national baseline published.
    assert national.status == CriteriaStatus.PUBLISHED
    assert selectors.published_criteria(national.drug) == national
    assert selectors.published_criteria(national.drug, region("420102")) == draft
    assert selectors.published_criteria(national.drug, region("420100")) == draft
    assert selectors.published_criteria(national.drug, region("340102")) == national
    assert selectors.published_criteria(national.drug, region("420000")) == national


def test_resolution_takes_the_most_specific_published_region(db):
    drug = DrugFactory()
    assert selectors.published_criteria(drug, region("420102")) is None

    baseline = CriteriaSetFactory(drug=drug, status=CriteriaStatus.PUBLISHED)
    hubei = CriteriaSetFactory(drug=drug, status=CriteriaStatus.PUBLISHED, region=region("420000"))
    CriteriaSetFactory(drug=drug, status=CriteriaStatus.DRAFT, region=region("420100"))

    # A Wuhan draft is not in force: the province's set applies in Wuhan's counties.
    assert selectors.published_criteria(drug, region("420102")) == hubei
    assert selectors.published_criteria(drug, region("340121")) == baseline

    wuhan = CriteriaSetFactory(drug=drug, status=CriteriaStatus.PUBLISHED, region=region("420100"))
    jiangan = CriteriaSetFactory(
        drug=drug, status=CriteriaStatus.PUBLISHED, region=region("420102")
    )
    assert selectors.published_criteria(drug, region("420102")) == jiangan
    assert selectors.published_criteria(drug, region("420106")) == wuhan
    assert selectors.published_criteria(drug, region("420000")) == hubei
    assert selectors.published_criteria(drug) == baseline


def test_new_wuhan_draft_copies_the_set_in_force_there(national, agency_user, admin_user):
    hubei = lung_cancer_set(
        drug=national.drug, status=CriteriaStatus.PUBLISHED, region=region("420000")
    )
    CriterionFactory(criteria_set=hubei, position=5, code="hubei-only", text="湖北省规定")

    draft = services.criteria_set_create_draft(actor=agency_user, drug_id=national.drug_id)

    assert "hubei-only" in set(draft.items.values_list("code", flat=True))
    assert draft.version == max(national.version, hubei.version) + 1
    assert draft.status_history.get().reason == f"基于 v{hubei.version}（湖北省）新建"


def test_publishing_a_regional_set_retires_only_the_same_region(national, agency_user):
    drug = national.drug
    old_wuhan = CriteriaSetFactory(
        drug=drug, status=CriteriaStatus.PUBLISHED, region=region("420100")
    )
    hefei = CriteriaSetFactory(drug=drug, status=CriteriaStatus.PUBLISHED, region=region("340100"))
    new_wuhan = lung_cancer_set(drug=drug, region=region("420100"))

    services.criteria_set_publish(actor=agency_user, criteria_set_id=new_wuhan.id)

    statuses = dict(CriteriaSet.objects.values_list("pk", "status"))
    assert statuses[new_wuhan.pk] == CriteriaStatus.PUBLISHED
    assert statuses[old_wuhan.pk] == CriteriaStatus.RETIRED
    assert statuses[national.pk] == CriteriaStatus.PUBLISHED
    assert statuses[hefei.pk] == CriteriaStatus.PUBLISHED


def test_one_published_set_per_drug_and_region(national):
    drug = national.drug
    CriteriaSetFactory(drug=drug, status=CriteriaStatus.PUBLISHED, region=region("420100"))
    with pytest.raises(IntegrityError), transaction.atomic():
        CriteriaSetFactory(drug=drug, status=CriteriaStatus.PUBLISHED, region=region("420100"))
    with pytest.raises(IntegrityError), transaction.atomic():
        CriteriaSetFactory(drug=drug, status=CriteriaStatus.PUBLISHED, region=None)


def test_outsider_cannot_see_the_wuhan_draft(national, agency_user, outsider_agency):
    wuhan = lung_cancer_set(drug=national.drug, region=region("420100"))

    with pytest.raises(NotFound) as caught:
        selectors.criteria_set_get(wuhan.id, outsider_agency)
    assert caught.value.code == "catalog.criteria_not_found"
    assert wuhan not in selectors.criteria_sets_for(national.drug, outsider_agency)
    assert national in selectors.criteria_sets_for(national.drug, outsider_agency)

    assert selectors.criteria_set_get(wuhan.id, agency_user) == wuhan
    assert wuhan in selectors.criteria_sets_for(national.drug, agency_user)


def _writes(set_id: int, item_id: int):
    """Every criteria write, as (name, call taking an actor)."""
    return [
        (
            "add",
            lambda a: services.criterion_add(
                actor=a, criteria_set_id=set_id, code="x", kind="attestation", text="x"
            ),
        ),
        ("update", lambda a: services.criterion_update(actor=a, criterion_id=item_id, text="y")),
        ("remove", lambda a: services.criterion_remove(actor=a, criterion_id=item_id)),
        (
            "reorder",
            lambda a: services.criteria_set_reorder(
                actor=a, criteria_set_id=set_id, codes=["advanced", "adjuvant", "alk", "nsclc"]
            ),
        ),
        (
            "settings",
            lambda a: services.criteria_set_update(actor=a, criteria_set_id=set_id, note="改写"),
        ),
        ("publish", lambda a: services.criteria_set_publish(actor=a, criteria_set_id=set_id)),
        (
            "retire",
            lambda a: services.criteria_set_retire(actor=a, criteria_set_id=set_id, reason="停用"),
        ),
    ]


@pytest.mark.parametrize("index", range(7))
def test_outsider_cannot_change_wuhan_sets(db, outsider_agency, index):
    wuhan = lung_cancer_set(region=region("420100"))
    published = lung_cancer_set(
        drug=wuhan.drug, status=CriteriaStatus.PUBLISHED, region=region("420100")
    )
    for target in (wuhan, published):
        before = _state(target)
        name, call = _writes(target.id, target.items.get(code="nsclc").id)[index]

        with pytest.raises(NotFound) as caught:
            call(outsider_agency)

        assert caught.value.code in ("catalog.criteria_not_found", "catalog.criterion_not_found")
        assert _state(target) == before, name
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize("index", range(7))
def test_officers_cannot_change_national_sets(db, agency_user, outsider_agency, index):
    draft = lung_cancer_set(region=None)
    before = _state(draft)
    name, call = _writes(draft.id, draft.items.get(code="nsclc").id)[index]

    for officer in (agency_user, outsider_agency):
        with pytest.raises(PermissionDenied) as caught:
            call(officer)
        assert caught.value.code == "catalog.national_criteria_admin_only", name

    assert _state(draft) == before
    assert AuditEvent.objects.count() == 0


def test_outsider_cannot_create_a_wuhan_draft_but_a_hefei_one(national, outsider_agency):
    with pytest.raises(NotFound) as caught:
        services.criteria_set_create_draft(
            actor=outsider_agency, drug_id=national.drug_id, region="420100"
        )
    assert caught.value.code == "catalog.region_not_found"
    with pytest.raises(NotFound):
        services.criteria_set_create_draft(
            actor=outsider_agency, drug_id=national.drug_id, region=region("420102")
        )
    # An officer without an agency region would draft the national baseline: admins only.
    homeless = UserFactory(username="no_agency", roles=[Role.AGENCY_OFFICER])
    with pytest.raises(PermissionDenied):
        services.criteria_set_create_draft(actor=homeless, drug_id=national.drug_id)
    assert CriteriaSet.objects.count() == 1 and AuditEvent.objects.count() == 0

    hefei = services.criteria_set_create_draft(actor=outsider_agency, drug_id=national.drug_id)
    assert hefei.region_id == "340100"


def test_province_officer_changes_sets_inside_the_province(national, hubei_officer):
    wuhan = lung_cancer_set(drug=national.drug, region=region("420100"))

    services.criteria_set_publish(actor=hubei_officer, criteria_set_id=wuhan.id)
    province = services.criteria_set_create_draft(actor=hubei_officer, drug_id=national.drug_id)

    assert CriteriaSet.objects.get(pk=wuhan.pk).status == CriteriaStatus.PUBLISHED
    assert province.region_id == "420000"
    # The province's draft copies the set in force for the province: the national one.
    assert province.status_history.get().reason.endswith("（全国基线）新建")


def test_wuhan_officer_cannot_change_the_province_set(national, agency_user):
    hubei = lung_cancer_set(drug=national.drug, region=region("420000"))
    with pytest.raises(NotFound):
        services.criteria_set_publish(actor=agency_user, criteria_set_id=hubei.id)
    with pytest.raises(NotFound):
        services.criteria_set_create_draft(
            actor=agency_user, drug_id=national.drug_id, region="420000"
        )
    assert CriteriaSet.objects.get(pk=hubei.pk).status == CriteriaStatus.DRAFT


def test_admin_edits_and_publishes_national_sets(national, admin_user, agency_user):
    wuhan = CriteriaSetFactory(
        drug=national.drug, status=CriteriaStatus.PUBLISHED, region=region("420100")
    )

    draft = services.criteria_set_create_draft(actor=admin_user, drug_id=national.drug_id)
    assert draft.region_id is None
    item = services.criterion_add(
        actor=admin_user, criteria_set_id=draft.id, code="adult", kind="attestation", text="成人"
    )
    services.criterion_update(actor=admin_user, criterion_id=item.id, text="成人患者")
    services.criteria_set_publish(actor=admin_user, criteria_set_id=draft.id)

    national.refresh_from_db()
    draft.refresh_from_db()
    assert (national.status, draft.status) == (CriteriaStatus.RETIRED, CriteriaStatus.PUBLISHED)
    assert CriteriaSet.objects.get(pk=wuhan.pk).status == CriteriaStatus.PUBLISHED
    assert Criterion.objects.get(pk=item.pk).text == "成人患者"
    event = AuditEvent.objects.get(action="catalog.criteria_published")
    assert event.actor == admin_user and event.actor_role == "admin"
    assert event.summary["region"] is None
    # Admins also read and change any region's sets.
    assert selectors.criteria_set_get(wuhan.id, admin_user) == wuhan
    services.criteria_set_retire(actor=admin_user, criteria_set_id=wuhan.id, reason="撤销")
    assert selectors.published_criteria(national.drug, region("420102")) == draft


def test_a_new_restriction_retires_only_national_drafts(db):
    drug = DrugFactory()
    national_draft = CriteriaSetFactory(drug=drug, region=None)
    wuhan_draft = CriteriaSetFactory(drug=drug, region=region("420100"))
    restriction = RestrictionFactory(drug=drug, effective_from=date(2027, 1, 1))

    with transaction.atomic():  # as the importer calls it: in its transaction, drugs locked
        drafted = draft_from_restriction(drug, restriction, actor=None)

    assert drafted is not None and drafted.region_id is None
    assert CriteriaSet.objects.get(pk=national_draft.pk).status == CriteriaStatus.RETIRED
    assert CriteriaSet.objects.get(pk=wuhan_draft.pk).status == CriteriaStatus.DRAFT
