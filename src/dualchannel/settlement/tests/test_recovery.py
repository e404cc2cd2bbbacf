"""Violations found after the fact and the recovery of the fund's losses: the finding re-runs
the engine with the lines non-payable, the order is deducted from the institution's next monthly
batch, the institution sees it [HB art. 21–22, 31(6), 47; CX art. 13]."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.jobs import run_once
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.tests.factories import InstitutionFactory, InsuredPersonFactory
from dualchannel.settlement import services
from dualchannel.settlement.models import (
    BatchStatus,
    BenefitRule,
    FindingKind,
    RecoveryBasis,
    RecoveryItem,
    RecoveryOrder,
    RecoveryOrderTransition,
    RecoveryStatus,
    Settlement,
    SettlementBatch,
    SettlementLine,
    ViolationFinding,
)
from dualchannel.settlement.payable import ELIGIBILITY_INACTIVE, VIOLATION
from dualchannel.settlement.recovery_views import recovery_citation
from dualchannel.settlement.services import batches, recovery
from dualchannel.settlement.tests.factories import settled_row
from dualchannel.settlement.tests.helpers import colleague
from dualchannel.tests.races import race_codes

pytestmark = pytest.mark.django_db
D = Decimal
PLATFORM_CODE = "P42010200001"
FUNDS = ("fund", "critical_illness", "assistance", "commercial")


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def settled(dispensed, pharmacist_user) -> Settlement:
    """张伟's special drug: two boxes, 2,000.00 元, settled at the Wuhan demo pharmacy."""
    return services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )


@pytest.fixture
def connected(bound_pharmacy):
    bound_pharmacy.platform_code = PLATFORM_CODE
    bound_pharmacy.save(update_fields=["platform_code"])
    return bound_pharmacy


def upload() -> None:
    for _ in range(50):
        if not run_once("w1"):
            return
    raise AssertionError("the worker never ran dry")


def funds(row) -> Decimal:
    return sum((getattr(row, n) for n in FUNDS), D("0.00"))


def record(officer, settlement, **overrides):
    values = {
        "actor": officer,
        "kind": FindingKind.OVER_TREATMENT,
        "reason": "超出病情需要连续配药",
        "evidence": "飞行检查记录第3页",
        "settlement_ids": [settlement.pk],
    }
    return recovery.violation_record(**(values | overrides))


def state():
    """Everything the recovery services may write."""
    return (
        ViolationFinding.objects.count(),
        sorted(RecoveryOrder.objects.values_list("pk", "status", "batch_id", "amount")),
        RecoveryItem.objects.count(),
        RecoveryOrderTransition.objects.count(),
        AuditEvent.objects.count(),
        sorted(Settlement.objects.values_list("pk", "status", "fund", "personal")),
    )


def history(order) -> list[tuple[str, str]]:
    return list(order.history.order_by("at", "id").values_list("from_status", "to_status"))


def applied_batch(pharmacist_user, settlement) -> SettlementBatch:
    batch = batches.batch_prepare(
        actor=pharmacist_user, institution_id=settlement.institution_id, month=settlement.settled_on
    )
    services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)
    return batches.batch_apply(actor=pharmacist_user, batch_id=batch.pk)


# --- the finding and the engine's re-run -------------------------------------------------------


def test_a_violation_rerun_makes_every_line_self_pay_so_the_fund_owes_nothing(settled):
    """HB art. 31(6): the lines of a settlement found to be over-treatment are not payable."""
    assert funds(settled) > 0

    rerun = recovery.violation_rerun(settled)

    assert [line.self_pay_reason for line in rerun.lines] == [VIOLATION] * settled.lines.count()
    assert (rerun.fund, rerun.critical_illness, rerun.assistance, rerun.commercial) == (0, 0, 0, 0)
    assert rerun.total == rerun.personal == settled.total


def test_a_revoked_eligibility_reruns_the_lines_as_without_benefits(settled):
    """HB art. 9, 12: what was bought under an eligibility revoked for fraud is not payable."""
    rerun = recovery.violation_rerun(settled, RecoveryBasis.ELIGIBILITY_REVOKED)

    assert {line.self_pay_reason for line in rerun.lines} == {ELIGIBILITY_INACTIVE}
    assert rerun.fund == 0


def test_a_line_already_self_pay_keeps_its_own_reason_in_the_rerun(settled):
    """HB art. 31: the first rule that applies is recorded; a finding does not rewrite it."""
    SettlementLine.objects.filter(settlement=settled).update(self_pay_reason="donated")

    rerun = recovery.violation_rerun(settled)

    assert {line.self_pay_reason for line in rerun.lines} == {"donated"}


def test_an_officer_records_a_finding_and_a_recovery_order_takes_back_what_the_funds_paid(
    settled, agency_user
):
    """HB art. 31(6), art. 21–22; CX art. 13: the finding names the settlement; the order
    recovers the funds' part the engine's re-run says was not owed."""
    before_settlement = Settlement.objects.values().get(pk=settled.pk)

    finding, (order,) = record(agency_user, settled)

    assert finding.finding_no.startswith("WG") and finding.kind == FindingKind.OVER_TREATMENT
    assert list(finding.settlements.all()) == [settled]
    assert finding.region_id == agency_user.institution.region_id
    assert order.order_no.startswith("ZH") and order.status == RecoveryStatus.PENDING
    assert order.institution_id == settled.institution_id and order.finding == finding
    assert order.basis == RecoveryBasis.VIOLATION and "过度诊疗" in order.reason
    for name in FUNDS:
        assert getattr(order, name) == getattr(settled, name)
    assert order.amount == funds(settled) and isinstance(order.amount, Decimal)
    (item,) = order.items.all()
    assert item.settlement == settled and item.amount == order.amount
    assert item.paid_out is False  # not yet in an approved batch: 拒付
    assert {line["reason"] for line in item.rerun["lines"]} == {VIOLATION}
    assert D(item.rerun["fund"]) == 0
    assert history(order) == [("", "pending")]
    # the settlement stays as it was settled and transmitted
    assert Settlement.objects.values().get(pk=settled.pk) == before_settlement
    (recorded,) = AuditEvent.objects.filter(action="settlement.violation_recorded")
    assert recorded.summary["kind"] == "over_treatment" and recorded.actor == agency_user
    (raised,) = AuditEvent.objects.filter(action="settlement.recovery_raised")
    assert raised.summary["amount"] == str(order.amount)
    assert raised.summary["finding_no"] == finding.finding_no
    assert raised.actor_role == "agency_officer"


def test_the_service_for_other_features_raises_recovery_for_a_revoked_eligibility(
    settled, agency_user
):
    """HB art. 12, 49–50: the agency revoking an eligibility for fraud recovers what was paid
    under it (the revocation calls ``recovery_raise_for_settlements``)."""
    (order,) = services.recovery_raise_for_settlements(
        actor=agency_user,
        settlement_ids=[settled.pk],
        basis=RecoveryBasis.ELIGIBILITY_REVOKED,
        reason="伪造病历资料骗取用药资格",
        evidence="公安机关协查函",
    )

    assert order.finding is None and order.basis == RecoveryBasis.ELIGIBILITY_REVOKED
    assert order.amount == funds(settled)
    assert {line["reason"] for line in order.items.get().rerun["lines"]} == {ELIGIBILITY_INACTIVE}


# Worked examples, one per profile: a special drug of 乙 class, one box at 2,000.00 元, under
# the region's shipped (illustrative) rule for employees (310); the first self-pay is 0 %
# (Wuhan), 10 % (Hefei, Chuxiong), 20 % (Jinan) of it, the fund pays 75 % of the rest, the
# critical-illness layer stays below its 20,000.00 deductible. A finding makes the line
# self-pay: the re-run owes nothing and the whole fund part is recovered.
@pytest.mark.parametrize(
    ("city", "county", "fund"),
    [
        ("420100", "420102", "1500.00"),  # HB art. 31(6), 21–22: 2,000.00 × 75 %
        ("340100", "340102", "1350.00"),  # AH annex 3(3): (2,000.00 − 200.00) × 75 %
        ("370100", "370102", "1200.00"),  # SD §3: (2,000.00 − 400.00) × 75 %
        ("532300", "532301", "1350.00"),  # CX art. 13: (2,000.00 − 200.00) × 75 %
    ],
)
def test_worked_example_of_a_recovery_under_each_profile(benefit_rules, city, county, fund):
    """HB art. 31(6), 21–22; AH annex 3(3); SD §3; CX art. 13: per profile, the violation line
    is self-pay in the re-run and what the fund paid for it is recovered to the fen."""
    agency = InstitutionFactory(kind=InstitutionKind.AGENCY, region_code=city)
    officer = UserFactory(institution=agency, roles=[Role.AGENCY_OFFICER])
    pharmacy = InstitutionFactory(kind=InstitutionKind.PHARMACY, region_code=county)
    person = InsuredPersonFactory(region_code=county)
    shipped = BenefitRule.objects.get(
        region_id=city, insurance_type="310", category="special_drug", hospital_level=None
    )
    settlement = settled_row(
        pharmacy, person, officer, amount="2000.00", drug_class="乙", rule=shipped
    )
    assert settlement.fund == D(fund) and settlement.critical_illness == 0

    _, (order,) = record(officer, settlement)

    rerun = order.items.get().rerun
    assert rerun["lines"] == [{"position": 1, "reason": VIOLATION, "full_self_pay": "2000.00"}]
    assert (D(rerun["fund"]), D(rerun["personal"])) == (D("0.00"), D("2000.00"))
    assert (order.fund, order.amount) == (D(fund), D(fund))
    assert recovery_citation(pharmacy)


# --- bad input: refused with a code, nothing written -------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"settlement_ids": []}, "settlement.recovery_no_settlements"),
        ({"reason": "   "}, "settlement.recovery_reason_required"),
        ({"reason": "理" * 501}, "settlement.recovery_text_too_long"),
        ({"kind": "unknown"}, "settlement.recovery_invalid_kind"),
        ({"settlement_ids": [987654]}, "settlement.recovery_settlement_not_in_region"),
    ],
)
def test_bad_findings_are_refused_and_nothing_is_written(settled, agency_user, overrides, code):
    """HB art. 31(6): a finding names its settlements and gives its reason."""
    before = state()

    with pytest.raises(DomainError) as refused:
        record(agency_user, settled, **overrides)

    assert refused.value.code == code and refused.value.message
    assert state() == before


def test_a_recovery_for_a_settlement_of_another_region_is_refused(settled, outsider_agency):
    """HB art. 21–22: an agency recovers for its own region only (answered as not found)."""
    before = state()

    with pytest.raises(NotFound) as refused:
        record(outsider_agency, settled)

    assert refused.value.code == "settlement.recovery_settlement_not_in_region"
    assert "管辖区域" in refused.value.message
    assert state() == before


def test_only_an_agency_officer_records_findings(settled, pharmacist_user):
    """HB art. 47: supervision and findings are the agency's."""
    with pytest.raises(PermissionDenied):
        record(pharmacist_user, settled)
    assert not ViolationFinding.objects.exists()


def test_a_settlement_is_recovered_once_and_a_reversed_one_not_at_all(
    settled, agency_user, pharmacist_user
):
    """HB art. 21–22: one loss is recovered once; a reversed settlement cost the fund nothing."""
    record(agency_user, settled)
    before = state()

    with pytest.raises(Conflict) as twice:
        record(agency_user, settled, kind=FindingKind.FAKE_TREATMENT)
    assert twice.value.code == "settlement.recovery_duplicate"
    assert state() == before

    RecoveryOrder.objects.update(status=RecoveryStatus.CANCELLED)  # as if withdrawn
    services.settlement_reverse(
        actor=pharmacist_user,
        settlement_id=settled.pk,
        reason="结算信息有误",
        return_goods=False,
        idempotency_key="r-1",
    )
    before = state()
    with pytest.raises(Conflict) as reversed_:
        record(agency_user, settled)
    assert reversed_.value.code == "settlement.recovery_settlement_reversed"
    assert state() == before


def test_a_settlement_under_recovery_is_not_reversed_at_the_counter(
    settled, agency_user, pharmacist_user
):
    """HB art. 21–22: reversing it would give the fund its part back a second time."""
    record(agency_user, settled)
    before = state()

    with pytest.raises(Conflict) as refused:
        services.settlement_reverse(
            actor=pharmacist_user,
            settlement_id=settled.pk,
            reason="患者退药",
            return_goods=False,
            idempotency_key="r-1",
        )

    assert refused.value.code == "settlement.recovery_open"
    assert state() == before


# --- deduction from the next monthly batch -----------------------------------------------------


def test_the_order_is_deducted_from_the_next_batch_and_closed_when_the_batch_is_approved(
    connected, settled, agency_user, pharmacist_user
):
    """HB art. 21–22, 33; CX art. 13: the institution's next monthly batch is paid net of the
    recovery; the order is deducted when the agency approves that batch."""
    upload()
    _, (order,) = record(agency_user, settled)

    batch = applied_batch(pharmacist_user, settled)

    order.refresh_from_db()
    assert order.batch == batch and order.status == RecoveryStatus.PENDING
    prepared = AuditEvent.objects.filter(action="settlement.batch_prepared").latest("seq")
    assert prepared.summary["deduction"] == str(order.amount)

    batches.batch_review(actor=agency_user, batch_id=batch.pk, approve=True)

    order.refresh_from_db()
    assert order.status == RecoveryStatus.DEDUCTED and order.deducted_at is not None
    assert history(order) == [("", "pending"), ("pending", "deducted")]
    (event,) = AuditEvent.objects.filter(action="settlement.recovery_deducted")
    assert event.summary["batch_id"] == batch.pk and event.summary["amount"] == str(order.amount)
    with pytest.raises(Conflict) as late:
        recovery.recovery_cancel(actor=agency_user, order_id=order.pk, reason="误认定")
    assert late.value.code == "settlement.recovery_transition"


def test_the_batch_shows_the_deduction_as_a_line_and_its_net_funds(
    api_client, connected, settled, agency_user, pharmacist_user
):
    """HB art. 33: the monthly application shows what is deducted from it."""
    upload()
    _, (order,) = record(agency_user, settled)
    batch = batches.batch_prepare(
        actor=pharmacist_user, institution_id=settled.institution_id, month=settled.settled_on
    )

    got = api_client.as_user(pharmacist_user).get(f"/api/v1/settlement/batches/{batch.pk}").json()

    assert got["deductions"] == [
        {
            "order_id": order.pk,
            "order_no": order.order_no,
            "status": "pending",
            "amount": str(order.amount),
        }
    ]
    assert D(got["recovery_deduction"]) == order.amount
    assert D(got["net_funds"]) == funds(settled) - order.amount


def test_an_order_raised_after_preparation_makes_the_batch_stale(
    connected, settled, agency_user, pharmacist_user
):
    """HB art. 21–22: a recovery is never left out of the batch the institution applies for."""
    upload()
    batch = batches.batch_prepare(
        actor=pharmacist_user, institution_id=settled.institution_id, month=settled.settled_on
    )
    services.batch_reconcile(actor=pharmacist_user, batch_id=batch.pk)
    record(agency_user, settled)

    with pytest.raises(Conflict) as stale:
        batches.batch_apply(actor=pharmacist_user, batch_id=batch.pk)

    assert stale.value.code == "settlement.batch_stale"
    assert SettlementBatch.objects.get(pk=batch.pk).status == BatchStatus.DRAFT


def test_a_paid_out_settlement_is_recovered_from_the_following_batch(
    connected, settled, agency_user, pharmacist_user
):
    """HB art. 21–22 (追回): money already paid comes back from the institution's next batch."""
    upload()
    batch = applied_batch(pharmacist_user, settled)
    batches.batch_review(actor=agency_user, batch_id=batch.pk, approve=True)

    _, (order,) = record(agency_user, settled)

    assert order.items.get().paid_out is True and order.batch is None
    assert order.status == RecoveryStatus.PENDING  # waits for the next batch


# --- cancel ------------------------------------------------------------------------------------


def test_an_officer_cancels_a_pending_order_with_a_reason(settled, agency_user):
    """CX art. 13: the agency may withdraw a refusal (拒付) it finds unfounded, with a reason."""
    _, (order,) = record(agency_user, settled)

    with pytest.raises(DomainError) as no_reason:
        recovery.recovery_cancel(actor=agency_user, order_id=order.pk, reason=" ")
    assert no_reason.value.code == "settlement.recovery_reason_required"

    recovery.recovery_cancel(actor=agency_user, order_id=order.pk, reason="复核后属合理用药")

    order.refresh_from_db()
    assert order.status == RecoveryStatus.CANCELLED and order.cancel_reason == "复核后属合理用药"
    assert order.cancelled_by == agency_user and order.batch is None
    assert history(order) == [("", "pending"), ("pending", "cancelled")]
    assert AuditEvent.objects.filter(action="settlement.recovery_cancelled").count() == 1
    # cancelled: the settlement may be found against again
    _, (again,) = record(agency_user, settled, kind=FindingKind.IDENTITY_MISMATCH)
    assert again.status == RecoveryStatus.PENDING


def test_an_order_in_an_applied_batch_is_not_cancelled_and_another_region_cannot(
    connected, settled, agency_user, outsider_agency, pharmacist_user
):
    """HB art. 21–22, 33: the institution applied net of the order; another agency sees none."""
    upload()
    _, (order,) = record(agency_user, settled)
    applied_batch(pharmacist_user, settled)
    before = state()

    with pytest.raises(Conflict) as applied:
        recovery.recovery_cancel(actor=agency_user, order_id=order.pk, reason="误认定")
    with pytest.raises(NotFound) as outsider:
        recovery.recovery_cancel(actor=outsider_agency, order_id=order.pk, reason="误认定")

    assert applied.value.code == "settlement.recovery_in_applied_batch"
    assert outsider.value.code == "settlement.recovery_not_found"
    assert state() == before


# --- API and pages -----------------------------------------------------------------------------


def test_the_officer_records_a_finding_through_the_api_and_the_pharmacy_reads_its_order(
    api_client, settled, agency_user, pharmacist_user, outsider_pharmacist
):
    """HB art. 31(6), 21–22: the officer acts, the institution sees its own orders read-only."""
    response = api_client.as_user(agency_user).post_json(
        "/api/v1/settlement/findings",
        {
            "kind": "identity_mismatch",
            "reason": "冒用他人医保凭证购药",
            "evidence": "监控录像",
            "settlement_ids": [settled.pk],
        },
    )
    assert response.status_code == 201, response.content
    (order,) = response.json()["orders"]
    assert D(order["amount"]) == funds(settled)

    mine = api_client.as_user(pharmacist_user).get("/api/v1/settlement/recoveries").json()
    assert [o["order_no"] for o in mine] == [order["order_no"]]
    detail = api_client.get(f"/api/v1/settlement/recoveries/{order['id']}").json()
    assert detail["items"][0]["settlement_no"] == settled.settlement_no
    assert detail["items"][0]["reasons"] == ["过度诊疗、人证不符或虚假诊治"]
    cancel = api_client.post_json(
        f"/api/v1/settlement/recoveries/{order['id']}/cancel", {"reason": "药店自行撤销"}
    )
    assert cancel.status_code == 403
    assert api_client.as_user(outsider_pharmacist).get("/api/v1/settlement/recoveries").json() == []


def test_a_bad_finding_through_the_api_answers_the_code_in_chinese(api_client, agency_user):
    """HB art. 31(6): a finding without settlements is refused, nothing written."""
    response = api_client.as_user(agency_user).post_json(
        "/api/v1/settlement/findings",
        {"kind": "over_treatment", "reason": "过度诊疗", "settlement_ids": []},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "settlement.recovery_no_settlements"
    assert not ViolationFinding.objects.exists()


def test_the_officer_page_records_a_finding_and_cancels_and_cites_the_region(
    client, settled, agency_user
):
    """HB art. 21–22, 31(6): the officer's page, with the Hubei citation from the profile."""
    client.force_login(agency_user)

    page = client.get(reverse("agency-recoveries")).content.decode()
    assert "第二十一条" in page and 'name="settlements"' in page

    client.post(
        reverse("agency-finding-record"),
        {
            "kind": "fake_treatment",
            "settlements": settled.settlement_no,
            "reason": "无真实就诊记录",
        },
    )
    order = RecoveryOrder.objects.get()
    page = client.get(reverse("agency-recoveries")).content.decode()
    assert order.order_no in page and settled.settlement_no in page and "待扣回" in page

    response = client.post(
        reverse("agency-recovery-cancel", args=[order.pk]),
        {"reason": "复核撤销"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "已撤销" in response.content.decode()
    order.refresh_from_db()
    assert order.status == RecoveryStatus.CANCELLED


def test_the_pharmacy_page_lists_its_orders_read_only(
    client, settled, agency_user, pharmacist_user, outsider_pharmacist
):
    """HB art. 21–22: the institution is told what is recovered from it and why."""
    _, (order,) = record(agency_user, settled)
    client.force_login(pharmacist_user)

    page = client.get(reverse("institution-recoveries")).content.decode()

    assert order.order_no in page and str(order.amount) in page and "第二十一条" in page
    assert "/cancel/" not in page and 'name="settlements"' not in page  # read only
    client.force_login(outsider_pharmacist)
    assert order.order_no not in client.get(reverse("institution-recoveries")).content.decode()


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_officers_cancelling_one_order_at_once_cancel_it_once(settled, agency_user):
    """CX art. 13: the order's row lock makes the second officer find it already cancelled."""
    _, (order,) = record(agency_user, settled)
    other = colleague(agency_user)

    outcomes = race_codes(
        lambda: recovery.recovery_cancel(actor=agency_user, order_id=order.pk, reason="甲撤销"),
        lambda: recovery.recovery_cancel(actor=other, order_id=order.pk, reason="乙撤销"),
    )

    assert outcomes == ["ok", "settlement.recovery_transition"]
    order.refresh_from_db()
    assert order.status == RecoveryStatus.CANCELLED
    assert history(order) == [("", "pending"), ("pending", "cancelled")]
    assert AuditEvent.objects.filter(action="settlement.recovery_cancelled").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_approving_the_batch_and_cancelling_its_order_at_once_leave_one_outcome(
    connected, settled, agency_user, pharmacist_user
):
    """HB art. 21–22, 33: either the batch deducts the order or nothing changes; the order is
    never both deducted and cancelled."""
    upload()
    _, (order,) = record(agency_user, settled)
    batch = applied_batch(pharmacist_user, settled)
    other = colleague(agency_user)

    outcomes = race_codes(
        lambda: batches.batch_review(actor=agency_user, batch_id=batch.pk, approve=True),
        lambda: recovery.recovery_cancel(actor=other, order_id=order.pk, reason="撤销"),
    )

    order.refresh_from_db()
    assert outcomes == ["ok", "settlement.recovery_in_applied_batch"] or outcomes == [
        "ok",
        "settlement.recovery_transition",
    ]
    assert order.status == RecoveryStatus.DEDUCTED
    assert history(order) == [("", "pending"), ("pending", "deducted")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_findings_on_one_settlement_at_once_raise_one_order(settled, agency_user):
    """HB art. 21–22: the settlement's row lock serialises the two; one loss, one recovery."""
    other = colleague(agency_user)

    outcomes = race_codes(
        lambda: record(agency_user, settled),
        lambda: record(other, settled, kind=FindingKind.FAKE_TREATMENT),
    )

    assert outcomes == ["ok", "settlement.recovery_duplicate"]
    assert RecoveryOrder.objects.count() == 1 and ViolationFinding.objects.count() == 1
