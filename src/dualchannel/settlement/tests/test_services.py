"""Settling a dispensing at the counter and reversing it [HB art. 30–35, CX art. 17]."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import AuditEvent, Job
from dualchannel.eligibility.models import Eligibility
from dualchannel.inventory.models import StockItem, TraceCode
from dualchannel.prescriptions.tests.today import in_force_today, issue, route
from dualchannel.registry.models import BenefitStatus, Designation, Institution, InsuredPerson
from dualchannel.registry.tests.factories import region
from dualchannel.settlement import services
from dualchannel.settlement.models import (
    Accumulator,
    BatchStatus,
    BudgetLine,
    Settlement,
    SettlementBatch,
    SettlementLine,
    SettlementStatus,
)

pytestmark = pytest.mark.django_db
D = Decimal


def accumulators(person) -> dict[tuple[str, str], Decimal]:
    return {(a.kind, a.scope): a.amount for a in Accumulator.objects.filter(person=person)}


def fingerprint():
    return (
        Settlement.objects.count(),
        SettlementLine.objects.count(),
        sorted(Accumulator.objects.values_list("kind", "scope", "amount")),
        Job.objects.filter(kind__startswith="settlement.").count(),
    )


def test_settling_splits_the_total_and_the_person_pays_only_the_personal_part(
    dispensed, pharmacist_user
):
    # Wuhan, employee, separately-paid drug (demo rule): no deductible, fund 75 %, 乙 class with
    # no first self-pay in the Hubei demo rule; 2 × 1,000.00 under the 1,100.00 standard
    preview = services.settlement_preview(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id
    )
    assert fingerprint() == (0, 0, [], 0)  # a preview writes nothing

    settlement = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )

    assert (settlement.total, settlement.fund, settlement.co_pay, settlement.personal) == (
        D("2000.00"),
        D("1500.00"),
        D("500.00"),
        D("500.00"),
    )
    assert settlement.fund == preview.breakdown.fund
    assert settlement.med_type == "110202"  # HB art. 34–35
    assert settlement.status == SettlementStatus.SETTLED
    assert settlement.settlement_no.startswith("JS")
    (row,) = settlement.lines.all()
    assert (row.quantity, row.unit_price, row.standard_amount, row.over_standard) == (
        2,
        D("1000.00"),
        D("2200.00"),
        D("0.00"),
    )
    year = str(settlement.settled_on.year)
    assert accumulators(settlement.person)[("fund", f"{year}:special_drug")] == D("1500.00")
    assert list(settlement.history.values_list("to_status", flat=True)) == ["settled"]
    assert AuditEvent.objects.filter(action="settlement.settled").count() == 1
    assert Job.objects.filter(kind="settlement.upload").count() == 1


def test_a_replayed_key_returns_the_same_settlement_and_a_second_settlement_is_refused(
    dispensed, pharmacist_user
):
    first = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    again = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    before = fingerprint()

    with pytest.raises(Conflict) as refused:
        services.settlement_settle(
            actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-2"
        )

    assert again.pk == first.pk
    assert refused.value.code == "settlement.already_settled"
    assert fingerprint() == before


def test_reversing_restores_every_accumulator_the_stock_and_the_plan(dispensed, pharmacist_user):
    person = dispensed.prescription.patient
    eligibility = Eligibility.objects.get(pk=dispensed.prescription.eligibility_id)
    stock = StockItem.objects.get(pk=dispensed.lines.get().stock_item_id)
    codes = dispensed.lines.get().trace_codes
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )

    reversed_ = services.settlement_reverse(
        actor=pharmacist_user, settlement_id=settled.pk, reason="患者退药", idempotency_key="r-1"
    )

    assert reversed_.status == SettlementStatus.REVERSED and reversed_.goods_returned
    assert set(accumulators(person).values()) == {D("0.00")}
    stock.refresh_from_db()
    assert stock.quantity == 3  # two boxes back into the batch of three
    assert set(TraceCode.objects.filter(code__in=codes).values_list("status", flat=True)) == {
        "in_stock"
    }
    eligibility.refresh_from_db()
    assert eligibility.plan_used_quantity == 0
    assert list(reversed_.history.values_list("to_status", flat=True)) == ["settled", "reversed"]
    assert Job.objects.filter(kind="settlement.upload_reversal").count() == 1
    # the returned dispensing is not settled again
    with pytest.raises(Conflict) as refused:
        services.settlement_settle(
            actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-3"
        )
    assert refused.value.code == "settlement.goods_returned"


def test_a_wrong_settlement_is_reversed_without_the_goods_and_settled_again(
    dispensed, pharmacist_user
):
    first = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    services.settlement_reverse(
        actor=pharmacist_user,
        settlement_id=first.pk,
        reason="结算类别错误",
        idempotency_key="r-1",
        return_goods=False,
    )

    second = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-2"
    )

    assert second.pk != first.pk and second.fund == first.fund
    person = dispensed.prescription.patient
    year = str(second.settled_on.year)
    assert accumulators(person)[("fund", f"{year}:special_drug")] == second.fund


def test_a_reversal_of_a_reversed_settlement_is_refused_and_nothing_changes(
    dispensed, pharmacist_user
):
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    services.settlement_reverse(
        actor=pharmacist_user, settlement_id=settled.pk, reason="患者退药", idempotency_key="r-1"
    )
    replay = services.settlement_reverse(
        actor=pharmacist_user, settlement_id=settled.pk, reason="患者退药", idempotency_key="r-1"
    )
    before = fingerprint()

    with pytest.raises(Conflict) as refused:
        services.settlement_reverse(
            actor=pharmacist_user,
            settlement_id=settled.pk,
            reason="再冲一次",
            idempotency_key="r-2",
        )

    assert replay.pk == settled.pk
    assert refused.value.code == "settlement.already_reversed"
    assert fingerprint() == before


def test_an_undispensed_prescription_cannot_be_settled(
    eligibility, physician_user, patient_user, bound_pharmacy, pharmacist_user, benefit_rules
):
    prescription = issue(physician_user, in_force_today(eligibility))
    route(patient_user, prescription, bound_pharmacy)

    with pytest.raises(Conflict) as refused:
        services.settlement_settle(
            actor=pharmacist_user, prescription_id=prescription.pk, idempotency_key="s-1"
        )
    with pytest.raises(Conflict):
        services.settlement_preview(actor=pharmacist_user, prescription_id=prescription.pk)

    assert refused.value.code == "settlement.not_dispensed"
    assert fingerprint() == (0, 0, [], 0)


def test_hb_art2_cx_art5_benefits_suspended_after_dispensing_refused_at_settlement(
    dispensed, pharmacist_user
):
    """HB art. 2, CX art. 5: the registry's benefit-status rule (the one checked at application
    and at prescribing) refuses the settlement too, nothing written."""
    InsuredPerson.objects.filter(pk=dispensed.prescription.patient_id).update(
        benefit_status=BenefitStatus.SUSPENDED
    )

    with pytest.raises(DomainError) as refused:
        services.settlement_settle(
            actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
        )

    assert refused.value.code == "settlement.not_insured"
    assert "暂停待遇" in refused.value.message
    assert fingerprint() == (0, 0, [], 0)


def test_a_reused_key_with_another_dispensing_is_refused(
    dispensed, chronic_dispensed, pharmacist_user
):
    services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    before = fingerprint()

    with pytest.raises(Conflict) as refused:
        services.settlement_settle(
            actor=pharmacist_user,
            prescription_id=chronic_dispensed.prescription_id,
            idempotency_key="s-1",
        )

    assert refused.value.code == "settlement.key_reused"
    assert fingerprint() == before


def test_the_chronic_disease_deductible_is_paid_first_and_counted_for_the_year(
    chronic_dispensed, pharmacist_user
):
    # Wuhan demo rule, employee, 门诊慢特病: deductible 600.00, fund 80 %, no first self-pay
    settled = services.settlement_settle(
        actor=pharmacist_user,
        prescription_id=chronic_dispensed.prescription_id,
        idempotency_key="c-1",
    )

    assert (settled.total, settled.deductible, settled.fund, settled.co_pay) == (
        D("1000.00"),
        D("600.00"),
        D("320.00"),
        D("80.00"),
    )
    assert settled.personal == D("680.00") and settled.med_type == "14"
    year = str(settled.settled_on.year)
    person = chronic_dispensed.prescription.patient
    assert accumulators(person)[("deductible", f"{year}:chronic_disease")] == D("600.00")


def test_another_pharmacy_cannot_settle_or_reverse(dispensed, pharmacist_user, outsider_pharmacist):
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    before = fingerprint()

    with pytest.raises(NotFound):
        services.settlement_settle(
            actor=outsider_pharmacist,
            prescription_id=dispensed.prescription_id,
            idempotency_key="o-1",
        )
    with pytest.raises(NotFound):
        services.settlement_reverse(
            actor=outsider_pharmacist, settlement_id=settled.pk, reason="x", idempotency_key="o-2"
        )
    assert fingerprint() == before


def test_a_reversal_needs_a_reason_and_a_key(dispensed, pharmacist_user):
    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    for kwargs, code in (
        ({"reason": " ", "idempotency_key": "r-1"}, "settlement.reason_required"),
        ({"reason": "退药", "idempotency_key": ""}, "settlement.key_required"),
    ):
        with pytest.raises(DomainError) as refused:
            services.settlement_reverse(actor=pharmacist_user, settlement_id=settled.pk, **kwargs)
        assert refused.value.code == code
    settled.refresh_from_db()
    assert settled.status == SettlementStatus.SETTLED


def test_in_anhui_an_inpatients_purchases_share_the_stays_deductible(
    dispensed, chronic_dispensed, pharmacist_user
):
    # given the pharmacy, the hospital and the person in Hefei (Anhui: deductible once per stay)

    hefei = region("340102")
    pharmacy = dispensed.pharmacy
    Institution.objects.filter(pk__in=[pharmacy.pk, dispensed.prescription.hospital_id]).update(
        region=hefei
    )
    InsuredPerson.objects.filter(pk=dispensed.prescription.patient_id).update(
        enrolment_region=hefei
    )

    # when both purchases are settled for the same stay
    first = services.settlement_settle(
        actor=pharmacist_user,
        prescription_id=dispensed.prescription_id,
        idempotency_key="s-1",
        inpatient_admission_no="ZY2026-0001",
    )
    second = services.settlement_settle(
        actor=pharmacist_user,
        prescription_id=chronic_dispensed.prescription_id,
        idempotency_key="s-2",
        inpatient_admission_no="ZY2026-0001",
    )

    # then both are inpatient settlements and the 800.00 deductible is paid once
    assert (first.category, second.category) == ("inpatient", "inpatient")
    assert (first.deductible, second.deductible) == (D("800.00"), D("0.00"))
    assert first.scopes["deductible"] == second.scopes["deductible"]
    assert first.scopes["deductible"].endswith(":ZY2026-0001")
    assert first.inpatient_admission_no == "ZY2026-0001"
    assert first.budget_line == "pharmacy_separate"  # AH §2(6)
    # Hefei employee inpatient (demo rule): 10 % first self-pay, 85 % above the deductible
    assert (first.first_self_pay, first.fund) == (D("200.00"), D("850.00"))
    assert (second.first_self_pay, second.fund) == (D("100.00"), D("765.00"))


def test_an_inpatient_purchase_for_a_non_designated_hospital_is_self_pay(
    dispensed, pharmacist_user
):
    # AH annex note 3(2): bought while staying at a hospital not designated for dual channel

    Designation.objects.filter(institution_id=dispensed.prescription.hospital_id).delete()

    settled = services.settlement_settle(
        actor=pharmacist_user,
        prescription_id=dispensed.prescription_id,
        idempotency_key="s-1",
        inpatient_admission_no="ZY2026-0002",
    )

    assert settled.lines.get().self_pay_reason == "inpatient_non_designated"
    assert settled.fund == D("0.00") and settled.personal == settled.total


def test_a_settlement_in_an_applied_batch_is_not_reversed(dispensed, pharmacist_user):

    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    batch = SettlementBatch.objects.create(
        institution=dispensed.pharmacy,
        month=date(settled.settled_on.year, settled.settled_on.month, 1),
        budget_line=BudgetLine.HOSPITAL_GLOBAL,
        status=BatchStatus.APPLIED,
    )
    Settlement.objects.filter(pk=settled.pk).update(batch=batch)
    before = fingerprint()

    with pytest.raises(Conflict) as refused:
        services.settlement_reverse(
            actor=pharmacist_user,
            settlement_id=settled.pk,
            reason="患者退药",
            idempotency_key="r-1",
        )

    assert refused.value.code == "settlement.in_applied_batch"
    assert fingerprint() == before
    settled.refresh_from_db()
    assert settled.status == SettlementStatus.SETTLED
