"""Officer services: criteria editing and publishing, confidential amounts, flags.

Officers edit their own region's criteria (the ``agency_user`` works for Wuhan, 420100); the
regional rules are tested in ``test_regional_criteria``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from dualchannel.catalog import services
from dualchannel.catalog.models import CriteriaSet, CriteriaStatus, Criterion, SpecialControl
from dualchannel.catalog.tests.factories import (
    CriteriaSetFactory,
    CriterionFactory,
    DrugFactory,
    PaymentStandardFactory,
    lung_cancer_set,
)
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.registry.tests.factories import region


def _events(action):
    return list(AuditEvent.objects.filter(action=action))


def _wuhan():
    return region("420100")


def test_officer_adds_updates_reorders_and_removes_items(agency_user):
    draft = lung_cancer_set(region=_wuhan())

    item = services.criterion_add(
        actor=agency_user,
        criteria_set_id=draft.id,
        code="adult",
        kind="condition",
        text="成人患者",
        expression="patient.age >= 18",
    )
    assert item.position == 5
    (event,) = _events("catalog.criterion_added")
    assert event.actor == agency_user and event.actor_role == "agency_officer"

    services.criterion_update(actor=agency_user, criterion_id=item.id, text="成人患者（≥18岁）")
    item.refresh_from_db()
    assert item.text == "成人患者（≥18岁）"
    assert _events("catalog.criterion_updated")[0].before_digest != ""

    services.criteria_set_reorder(
        actor=agency_user,
        criteria_set_id=draft.id,
        codes=["adult", "nsclc", "alk", "adjuvant", "advanced"],
    )
    assert list(draft.items.order_by("position").values_list("code", flat=True))[:2] == [
        "adult",
        "nsclc",
    ]

    services.criterion_remove(actor=agency_user, criterion_id=item.id)
    assert list(draft.items.order_by("position").values_list("position", flat=True)) == [1, 2, 3, 4]
    assert len(_events("catalog.criterion_removed")) == 1


def test_invalid_expression_is_refused_and_nothing_changes(agency_user):
    draft = lung_cancer_set(region=_wuhan())
    alk = draft.items.get(code="alk")

    with pytest.raises(DomainError) as caught:
        services.criterion_update(actor=agency_user, criterion_id=alk.id, expression="gene == 1")

    assert caught.value.fields == {"expression": [caught.value.message]}
    alk.refresh_from_db()
    assert alk.expression == 'genes["ALK"] == "positive"'
    assert AuditEvent.objects.count() == 0


def test_attestation_with_expression_and_duplicate_code_are_refused(agency_user):
    draft = lung_cancer_set(region=_wuhan())
    with pytest.raises(DomainError) as caught:
        services.criterion_add(
            actor=agency_user,
            criteria_set_id=draft.id,
            code="x",
            kind="attestation",
            text="医师确认",
            expression="patient.age > 1",
        )
    assert "expression" in caught.value.fields
    with pytest.raises(DomainError) as caught:
        services.criterion_add(
            actor=agency_user, criteria_set_id=draft.id, code="alk", kind="attestation", text="重复"
        )
    assert caught.value.code == "catalog.duplicate_code"
    assert draft.items.count() == 4


def test_published_set_cannot_be_edited(agency_user):
    published = CriteriaSetFactory(status=CriteriaStatus.PUBLISHED, region=_wuhan())
    item = CriterionFactory(criteria_set=published)

    with pytest.raises(Conflict) as caught:
        services.criterion_update(actor=agency_user, criterion_id=item.id, text="改写")

    assert caught.value.code == "catalog.criteria_not_draft"


@pytest.mark.parametrize("user_fixture", ["physician_user", "pharmacist_user", "patient_user"])
def test_non_officers_are_refused(request, user_fixture):
    user = request.getfixturevalue(user_fixture)
    draft = lung_cancer_set()

    with pytest.raises(PermissionDenied):
        services.criterion_add(
            actor=user, criteria_set_id=draft.id, code="x", kind="attestation", text="x"
        )
    with pytest.raises(PermissionDenied):
        services.criteria_set_publish(actor=user, criteria_set_id=draft.id)

    assert draft.items.count() == 4
    assert CriteriaSet.objects.get(pk=draft.pk).status == CriteriaStatus.DRAFT


def test_new_draft_from_published_and_publish_retires_the_previous(agency_user):
    published = lung_cancer_set(status=CriteriaStatus.PUBLISHED, version=1, region=_wuhan())

    draft = services.criteria_set_create_draft(actor=agency_user, drug_id=published.drug_id)

    assert (draft.version, draft.status, draft.region_id) == (2, CriteriaStatus.DRAFT, "420100")
    assert list(draft.items.values_list("code", flat=True)) == list(
        published.items.values_list("code", flat=True)
    )
    with pytest.raises(Conflict):
        services.criteria_set_create_draft(actor=agency_user, drug_id=published.drug_id)

    services.criteria_set_update(
        actor=agency_user,
        criteria_set_id=draft.id,
        evaluation_cycle_days=60,
        required_material_kinds=["gene_test", "pathology"],
    )
    services.criteria_set_publish(actor=agency_user, criteria_set_id=draft.id, reason="复核")

    published.refresh_from_db()
    draft.refresh_from_db()
    assert (published.status, draft.status) == (CriteriaStatus.RETIRED, CriteriaStatus.PUBLISHED)
    assert draft.evaluation_cycle_days == 60 and draft.published_at is not None
    assert [(h.from_status, h.to_status) for h in draft.status_history.all()] == [
        ("", "draft"),
        ("draft", "published"),
    ]
    assert published.status_history.get().to_status == "retired"
    (event,) = _events("catalog.criteria_published")
    assert event.summary == {"from": "draft", "to": "published", "version": 2, "region": "420100"}


def test_publishing_an_empty_or_published_set_is_refused(agency_user):
    empty = CriteriaSetFactory(region=_wuhan())
    with pytest.raises(DomainError) as caught:
        services.criteria_set_publish(actor=agency_user, criteria_set_id=empty.id)
    assert caught.value.code == "catalog.criteria_empty"

    published = CriteriaSetFactory(status=CriteriaStatus.PUBLISHED, region=_wuhan())
    CriterionFactory(criteria_set=published)
    with pytest.raises(Conflict) as caught:
        services.criteria_set_publish(actor=agency_user, criteria_set_id=published.id)
    assert caught.value.code == "catalog.criteria_invalid_transition"


def test_invalid_material_kind_and_cycle_are_refused(agency_user):
    draft = CriteriaSetFactory(region=_wuhan())
    with pytest.raises(DomainError) as caught:
        services.criteria_set_update(
            actor=agency_user, criteria_set_id=draft.id, required_material_kinds=["selfie"]
        )
    assert "required_material_kinds" in caught.value.fields
    with pytest.raises(DomainError):
        services.criteria_set_update(
            actor=agency_user, criteria_set_id=draft.id, evaluation_cycle_days=0
        )


def test_confidential_amount_is_entered_and_stays_confidential(admin_user):
    standard = PaymentStandardFactory(confidential=True)

    services.payment_standard_set_amount(
        actor=admin_user, payment_standard_id=standard.id, amount="1234.50"
    )

    standard.refresh_from_db()
    assert standard.amount == Decimal("1234.50") and standard.is_confidential
    (event,) = _events("catalog.confidential_amount_set")
    assert "1234" not in str(event.summary)
    assert event.summary == {"drug_id": standard.drug_id, "had_amount": False}


@pytest.mark.parametrize("amount", ["0", "-5", "12.345", "abc", "NaN"])
def test_bad_confidential_amounts_are_refused(admin_user, amount):
    standard = PaymentStandardFactory(confidential=True)

    with pytest.raises(DomainError) as caught:
        services.payment_standard_set_amount(
            actor=admin_user, payment_standard_id=standard.id, amount=amount
        )

    assert "amount" in caught.value.fields
    standard.refresh_from_db()
    assert standard.amount is None


def test_published_standard_amount_cannot_be_overwritten(admin_user):
    standard = PaymentStandardFactory()
    with pytest.raises(Conflict):
        services.payment_standard_set_amount(
            actor=admin_user, payment_standard_id=standard.id, amount="1.00"
        )
    standard.refresh_from_db()
    assert standard.amount == Decimal("52.60")


def test_catalogue_admin_edits_flags(admin_user):
    drug = DrugFactory(is_separately_paid=False)

    services.drug_update_flags(
        actor=admin_user,
        drug_id=drug.id,
        is_separately_paid=True,
        needs_cold_chain=True,
        special_control=SpecialControl.TOXIC,
    )

    drug.refresh_from_db()
    assert drug.is_separately_paid and drug.needs_cold_chain
    assert drug.special_control == "toxic"
    (event,) = _events("catalog.drug_flags_updated")
    assert event.summary["changed"]["is_separately_paid"] == {"from": False, "to": True}
    with pytest.raises(DomainError):
        services.drug_update_flags(actor=admin_user, drug_id=drug.id, is_negotiated=False)
    with pytest.raises(DomainError):
        services.drug_update_flags(actor=admin_user, drug_id=drug.id, special_control="mystery")


def test_catalogue_admin_enters_the_national_drug_code(admin_user, agency_user):
    drug = DrugFactory(national_code="")

    services.drug_set_national_code(
        actor=admin_user, drug_id=drug.id, code=" xl01xea324a001010104459 "
    )

    drug.refresh_from_db()
    assert drug.national_code == "XL01XEA324A001010104459"
    (event,) = _events("catalog.drug_national_code_set")
    assert event.summary == {"from": "", "to": "XL01XEA324A001010104459"}
    for bad in ("", "XL01", "AL01XEA324A001010104459", "XL01XEA324A00101010445９"):
        with pytest.raises(DomainError) as refused:
            services.drug_set_national_code(actor=admin_user, drug_id=drug.id, code=bad)
        assert refused.value.code == "catalog.invalid_national_code"
    with pytest.raises(PermissionDenied):
        services.drug_set_national_code(
            actor=agency_user, drug_id=drug.id, code="XL01XEA324A001010104460"
        )
    drug.refresh_from_db()
    assert drug.national_code == "XL01XEA324A001010104459"


def test_officers_may_not_edit_the_national_catalogue_nor_another_region(
    agency_user, outsider_agency
):
    national = lung_cancer_set()
    wuhan = lung_cancer_set(region=_wuhan())

    for officer in (agency_user, outsider_agency):
        with pytest.raises(PermissionDenied) as caught:
            services.criterion_add(
                actor=officer, criteria_set_id=national.id, code="x", kind="attestation", text="x"
            )
        assert caught.value.code == "catalog.national_criteria_admin_only"
    with pytest.raises(NotFound) as caught:
        services.criterion_add(
            actor=outsider_agency, criteria_set_id=wuhan.id, code="x", kind="attestation", text="x"
        )
    assert caught.value.code == "catalog.criteria_not_found"

    assert not Criterion.objects.filter(code="x").exists()
    assert AuditEvent.objects.count() == 0


def test_officers_cannot_change_national_catalogue_data(agency_user):
    """The national list is the same everywhere: one region's officer may not change it."""
    standard = PaymentStandardFactory(confidential=True)
    drug = standard.drug
    before = (drug.is_injectable, AuditEvent.objects.count())

    with pytest.raises(PermissionDenied) as flags_refusal:
        services.drug_update_flags(actor=agency_user, drug_id=drug.id, is_injectable=True)
    with pytest.raises(PermissionDenied) as amount_refusal:
        services.payment_standard_set_amount(
            actor=agency_user, payment_standard_id=standard.id, amount="1.00"
        )

    assert (
        flags_refusal.value.code
        == amount_refusal.value.code
        == ("catalog.national_catalogue_admin_only")
    )
    drug.refresh_from_db()
    standard.refresh_from_db()
    assert (drug.is_injectable, AuditEvent.objects.count()) == before
    assert standard.amount is None
