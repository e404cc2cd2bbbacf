"""The treatment plan's used quantity is written only by eligibility (issue 10): the pharmacy
counter, the hospital's desk and reversals call these services inside their own transactions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction

from dualchannel.core.errors import DomainError
from dualchannel.core.locks import LockOrderError
from dualchannel.core.models import AuditChainHead, AuditEvent
from dualchannel.eligibility import services
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.services.plan import eligibility_plan_release, eligibility_plan_use

pytestmark = pytest.mark.django_db


@pytest.fixture
def granted(make_draft, zhang, physician_user, reviewer_user) -> Eligibility:
    """Granted on 2026-03-04 with a plan of 180 粒, none used yet."""
    application = make_draft(zhang)
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    return services.application_approve(
        actor=reviewer_user, application_id=application.pk, today=date(2026, 3, 4)
    )


def used(eligibility: Eligibility) -> Decimal:
    eligibility.refresh_from_db()
    return eligibility.plan_used_quantity


def test_a_dispensing_takes_from_the_plan_inside_the_callers_transaction(granted, pharmacist_user):
    events = AuditEvent.objects.count()

    # a caller that locked the eligibility to check the plan, then uses it twice
    with transaction.atomic():
        Eligibility.objects.select_for_update(no_key=True).get(pk=granted.pk)
        eligibility_plan_use(actor=pharmacist_user, eligibility_id=granted.pk, quantity=Decimal(50))
        after = eligibility_plan_use(
            actor=pharmacist_user, eligibility_id=granted.pk, quantity=Decimal("30.5")
        )

    assert after.plan_used_quantity == Decimal("80.5") == used(granted)
    # the caller audits its dispensing (with the quantity); the plan writes no event of its own
    assert AuditEvent.objects.count() == events


def test_up_to_the_total_is_taken_and_past_it_is_refused_with_nothing_changed(
    granted, pharmacist_user
):
    eligibility_plan_use(actor=pharmacist_user, eligibility_id=granted.pk, quantity=Decimal(150))

    with pytest.raises(DomainError) as refused:
        eligibility_plan_use(actor=pharmacist_user, eligibility_id=granted.pk, quantity=Decimal(31))

    assert refused.value.code == "eligibility.plan_exceeded"
    assert "治疗方案剩余30" in refused.value.message
    assert used(granted) == Decimal(150)
    eligibility_plan_use(actor=pharmacist_user, eligibility_id=granted.pk, quantity=Decimal(30))
    assert used(granted) == Decimal(180)


def test_a_release_gives_back_but_never_below_nothing_used(granted, pharmacist_user):
    eligibility_plan_use(actor=pharmacist_user, eligibility_id=granted.pk, quantity=Decimal(50))

    eligibility_plan_release(actor=pharmacist_user, eligibility_id=granted.pk, quantity=Decimal(20))
    assert used(granted) == Decimal(30)

    eligibility_plan_release(actor=pharmacist_user, eligibility_id=granted.pk, quantity=Decimal(99))
    assert used(granted) == Decimal(0)


@pytest.mark.parametrize("service", [eligibility_plan_use, eligibility_plan_release])
def test_a_negative_quantity_is_refused(granted, pharmacist_user, service):
    with pytest.raises(DomainError) as refused:
        service(actor=pharmacist_user, eligibility_id=granted.pk, quantity=Decimal(-1))

    assert refused.value.code == "eligibility.plan_quantity_invalid"
    assert used(granted) == Decimal(0)


def test_the_services_lock_the_eligibility_in_core_locks_order(granted, pharmacist_user):
    # a caller that holds a later lock (the audit chain's head) and not the eligibility's
    with pytest.raises(LockOrderError), transaction.atomic():
        AuditChainHead.objects.select_for_update().first()
        eligibility_plan_use(actor=pharmacist_user, eligibility_id=granted.pk, quantity=Decimal(1))

    assert used(granted) == Decimal(0)
