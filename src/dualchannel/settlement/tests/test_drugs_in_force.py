"""Settlement and the drugs in force [SD §1, CX art. 3, 4, 6]: a line of a drug whose agreement
period (plus the agency's grace) has ended, or that is off the region's dual-channel list in
force, is paid in full by the person with its reason; the chronic-disease list pays it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dualchannel.catalog.models import Drug, RegionalList, RegionalListEntry, RegionalListKind
from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.tests.factories import region
from dualchannel.settlement import payable, services

pytestmark = pytest.mark.django_db
D = Decimal


def _settle(pharmacist_user, dispensed):
    return services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )


def _dispensed_on(dispensed):
    return timezone.localdate(dispensed.dispensed_at)


def _list(kind, drugs, *, title, on):
    listing = RegionalList.objects.create(
        region=region("420100"), kind=kind, title=title, valid_from=on, source_sha256="0" * 64
    )
    for n, drug in enumerate(drugs, 1):
        RegionalListEntry.objects.create(regional_list=listing, drug=drug, valid_from=on, row=n)
    return listing


def test_a_drug_past_its_agreement_period_is_self_pay_with_its_reason(dispensed, pharmacist_user):
    """SD §1: only drugs within their agreement period are paid; after it ends (no grace set) the
    line is transmitted as self-pay with the reason 协议期已结束."""
    day = _dispensed_on(dispensed)
    drug_id = dispensed.lines.get().drug_id
    Drug.objects.filter(pk=drug_id).update(agreement_end=day - timedelta(days=1))

    settlement = _settle(pharmacist_user, dispensed)

    (line,) = settlement.lines.all()
    assert line.self_pay_reason == payable.OUTSIDE_AGREEMENT
    assert "协议期已结束" in payable.REASON_LABELS[line.self_pay_reason]
    assert (settlement.fund, settlement.personal) == (D("0.00"), D("2000.00"))


def test_within_the_grace_the_agency_set_the_drug_is_still_paid(dispensed, pharmacist_user):
    """SD §1, CX art. 4: the agency's grace (profile ``agreement_grace_days``) keeps the drug
    paid for that many days after the period ends."""
    day = _dispensed_on(dispensed)
    drug_id = dispensed.lines.get().drug_id
    Drug.objects.filter(pk=drug_id).update(agreement_end=day - timedelta(days=3))
    profile = profile_of(dispensed.pharmacy)
    profile.agreement_grace_days = 3
    profile.save(update_fields=["agreement_grace_days"])

    settlement = _settle(pharmacist_user, dispensed)

    assert settlement.lines.get().self_pay_reason == ""
    assert settlement.fund == D("1500.00")


def test_a_drug_off_the_regions_list_in_force_is_self_pay(dispensed, pharmacist_user):
    """CX art. 4, 6: the region's annual dual-channel list decides; a drug off it is self-pay."""
    day = _dispensed_on(dispensed)
    other = DrugFactory()
    _list(RegionalListKind.DUAL_CHANNEL, [other], title="武汉市双通道管理药品目录", on=day)

    settlement = _settle(pharmacist_user, dispensed)

    assert settlement.lines.get().self_pay_reason == payable.NOT_IN_REGIONAL_LIST
    assert settlement.fund == D("0.00")


def test_the_chronic_disease_list_pays_a_drug_past_its_agreement_period(dispensed, pharmacist_user):
    """CX art. 3 ¶2: the region's chronic-disease drugs are in the dual channel whatever the
    national agreement period says."""
    day = _dispensed_on(dispensed)
    drug = dispensed.lines.get().drug
    Drug.objects.filter(pk=drug.pk).update(agreement_end=day - timedelta(days=30))
    _list(RegionalListKind.CHRONIC_DISEASE, [drug], title="武汉市门诊慢特病用药", on=day)

    settlement = _settle(pharmacist_user, dispensed)

    assert settlement.lines.get().self_pay_reason == ""
    assert settlement.fund == D("1500.00")


def test_the_rule_order_puts_the_list_in_force_first():
    """SD §1, CX art. 4: a drug not in force is self-pay for that reason before any other."""
    facts = payable.LineFacts(
        separately_paid=True,
        has_eligibility=False,
        eligibility_active=False,
        institution_designated=True,
        has_valid_prescription=True,
        within_agreement=False,
    )
    assert payable.nonpayable_reason(facts) == payable.OUTSIDE_AGREEMENT
    assert (
        payable.nonpayable_reason(
            payable.LineFacts(
                separately_paid=False,
                has_eligibility=False,
                eligibility_active=False,
                institution_designated=True,
                has_valid_prescription=True,
                in_regional_list=False,
            )
        )
        == payable.NOT_IN_REGIONAL_LIST
    )
