"""Hospital outpatient special drugs (特药门诊): the prescribing hospital's insurance office
dispenses and settles a special-drug prescription (2206/2207) and reverses it (2208)
[HB art. 34–35, DESIGN §5.2, §6]."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.jobs import run_once
from dualchannel.core.models import AuditEvent, Job
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.eligibility.models import Eligibility
from dualchannel.integration.models import PlatformCall
from dualchannel.notifications.models import Notification
from dualchannel.prescriptions.models import Prescription, PrescriptionStatus
from dualchannel.prescriptions.tests.today import in_force_today, issue, route
from dualchannel.settlement import engine, rules, services
from dualchannel.settlement.models import (
    Accumulator,
    BudgetLine,
    ManualClaim,
    Settlement,
    SettlementKind,
    SettlementLine,
    SettlementStatus,
    UploadStatus,
)
from dualchannel.settlement.services import hospital as outpatient
from dualchannel.simulators.models import SimSettlement

from .helpers import submit

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def issued(eligibility, physician_user, standard, benefit_rules):
    """张伟's 塞瑞替尼胶囊: 100 粒 = 2 boxes of 50, issued today at the hospital, not routed."""
    return issue(physician_user, in_force_today(eligibility), quantity="100")


def lines_of(prescription, *, packages=2, unit_price="1200.00", batch_no="H2401"):
    item = prescription.items.get()
    return [
        {"item_id": item.pk, "packages": packages, "unit_price": unit_price, "batch_no": batch_no}
    ]


def accumulators(person) -> dict[tuple[str, str], Decimal]:
    return {(a.kind, a.scope): a.amount for a in Accumulator.objects.filter(person=person)}


def plan_used(prescription) -> Decimal:
    return Eligibility.objects.get(pk=prescription.eligibility_id).plan_used_quantity


def fingerprint(prescription):
    prescription = Prescription.objects.get(pk=prescription.pk)
    return (
        prescription.status,
        prescription.history.count(),
        Settlement.objects.count(),
        SettlementLine.objects.count(),
        sorted(Accumulator.objects.values_list("kind", "scope", "amount")),
        Job.objects.filter(kind__startswith="settlement.").count(),
        plan_used(prescription),
        AuditEvent.objects.count(),
        Notification.objects.filter(template_code="prescriptions.dispensed").count(),
    )


def settle(actor, prescription, key="h-1", **kwargs):
    return outpatient.hospital_settle(
        actor=actor,
        prescription_id=prescription.pk,
        lines=lines_of(prescription, **kwargs),
        idempotency_key=key,
    )


def test_the_hospital_dispenses_and_settles_a_special_drug_prescription_under_110202(
    issued, reviewer_user, hospital
):
    # given a special-drug prescription issued today at the hospital, 2 boxes prescribed
    untouched = fingerprint(issued)
    preview = outpatient.hospital_preview(
        actor=reviewer_user, prescription_id=issued.pk, lines=lines_of(issued)
    )
    assert fingerprint(issued) == untouched  # a pre-settle (2206) writes nothing

    # when the insurance office dispenses both boxes at 1,200.00 and settles (2207)
    settlement = settle(reviewer_user, issued)

    # then the breakdown is the engine's for the same lines: 2 × 1,200.00 against the national
    # standard of 2 × 1,100.00 (22.00 元/粒 × 50), Wuhan employee demo rule: fund 75 %
    rule = settlement.rule
    expected = engine.calculate(
        [engine.LineInput("0", D("2400.00"), D("2200.00"), issued.items.get().drug.drug_class)],
        rules.parameters_of(rule),
        engine.Accumulated(),
        engine.Person(),
    )
    for name in services.BREAKDOWN_FIELDS:
        assert getattr(settlement, name) == getattr(expected, name), name
        assert getattr(preview.breakdown, name) == getattr(expected, name), name
    assert (settlement.total, settlement.over_standard, settlement.fund, settlement.personal) == (
        D("2400.00"),
        D("200.00"),
        D("1650.00"),
        D("750.00"),
    )
    assert (settlement.kind, settlement.institution_id, settlement.dispensing_id) == (
        SettlementKind.HOSPITAL,
        hospital.pk,
        None,
    )
    assert settlement.med_type == "110202"  # HB art. 34–35: 特药门诊
    assert settlement.budget_line == BudgetLine.HOSPITAL_GLOBAL
    assert settlement.prescription_id == issued.pk and settlement.settled_by == reviewer_user
    (row,) = settlement.lines.all()
    assert (row.quantity, row.unit_price, row.standard_amount, row.self_pay_reason) == (
        2,
        D("1200.00"),
        D("2200.00"),
        "over_standard",
    )
    assert list(settlement.history.values_list("to_status", flat=True)) == ["settled"]
    # and the prescription is dispensed at the hospital, with its history, audit and notice
    issued.refresh_from_db()
    assert issued.status == PrescriptionStatus.DISPENSED and issued.dispensed_at is not None
    last = issued.history.order_by("pk").last()
    assert (last.from_status, last.to_status, last.reason, last.actor) == (
        "issued",
        "dispensed",
        "本院门诊发药",
        reviewer_user,
    )
    assert AuditEvent.objects.filter(action="prescriptions.prescription_dispensed").count() == 1
    audited = AuditEvent.objects.get(action="settlement.settled")
    assert audited.summary["kind"] == "hospital" and audited.summary["batches"] == ["H2401"]
    assert Notification.objects.filter(
        template_code="prescriptions.dispensed", person=issued.patient
    ).exists()
    # and the plan, the accumulators and the 2207 upload follow
    assert plan_used(issued) == D("100")
    year = str(settlement.settled_on.year)
    assert accumulators(settlement.person)[("fund", f"{year}:special_drug")] == D("1650.00")
    assert Job.objects.filter(kind="settlement.upload").count() == 1


def test_a_prescription_routed_to_a_pharmacy_is_refused_at_the_hospital(
    issued, reviewer_user, patient_user, bound_pharmacy
):
    route(patient_user, issued, bound_pharmacy)
    before = fingerprint(issued)

    for call in (outpatient.hospital_preview, outpatient.hospital_settle):
        kwargs = {"idempotency_key": "h-1"} if call is outpatient.hospital_settle else {}
        with pytest.raises(DomainError) as refused:
            call(actor=reviewer_user, prescription_id=issued.pk, lines=lines_of(issued), **kwargs)
        assert refused.value.code == "settlement.hospital_rx_routed"

    assert fingerprint(issued) == before
    assert Prescription.objects.get(pk=issued.pk).status == PrescriptionStatus.ROUTED


def test_more_packages_than_prescribed_are_refused_and_nothing_changes(issued, reviewer_user):
    before = fingerprint(issued)

    with pytest.raises(DomainError) as refused:
        settle(reviewer_user, issued, packages=3)

    assert refused.value.code == "settlement.over_prescribed"
    assert fingerprint(issued) == before


def test_fewer_packages_than_prescribed_count_only_what_was_dispensed(issued, reviewer_user):
    settlement = settle(reviewer_user, issued, packages=1, unit_price="1000.00")

    assert (settlement.total, settlement.over_standard) == (D("1000.00"), D("0.00"))
    assert plan_used(issued) == D("50")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"unit_price": "1000.005"}, "settlement.invalid_price"),
        ({"unit_price": "0"}, "settlement.invalid_price"),
        ({"unit_price": "-5.00"}, "settlement.invalid_price"),
        ({"packages": 0}, "settlement.invalid_quantity"),
        ({"packages": -1}, "settlement.invalid_quantity"),
        ({"packages": "2"}, "settlement.invalid_quantity"),
        ({"batch_no": " "}, "settlement.hospital_lines_invalid"),
        ({"item_id": 999_999}, "settlement.hospital_lines_invalid"),
    ],
)
def test_bad_lines_are_refused_with_a_code_and_nothing_changes(issued, reviewer_user, change, code):
    before = fingerprint(issued)
    lines = [lines_of(issued)[0] | change]

    with pytest.raises(DomainError) as refused:
        outpatient.hospital_settle(
            actor=reviewer_user, prescription_id=issued.pk, lines=lines, idempotency_key="h-1"
        )

    assert refused.value.code == code
    assert fingerprint(issued) == before


def test_only_the_prescribing_hospitals_reviewer_settles(
    issued, reviewer_user, outsider_reviewer, physician_user, admin_user
):
    before = fingerprint(issued)

    with pytest.raises(NotFound):
        outpatient.hospital_preview(
            actor=outsider_reviewer, prescription_id=issued.pk, lines=lines_of(issued)
        )
    with pytest.raises(NotFound):
        settle(outsider_reviewer, issued, key="o-1")
    with pytest.raises(PermissionDenied):
        settle(physician_user, issued, key="p-1")  # the desk is the insurance office's

    assert fingerprint(issued) == before
    # an administrator may pre-settle as the hospital would
    preview = outpatient.hospital_preview(
        actor=admin_user, prescription_id=issued.pk, lines=lines_of(issued)
    )
    assert preview.settling_institution.pk == issued.hospital_id


def test_a_replayed_key_answers_the_same_settlement_and_reuse_is_refused(issued, reviewer_user):
    first = settle(reviewer_user, issued, key="h-1")
    again = settle(reviewer_user, issued, key="h-1")
    before = fingerprint(issued)

    with pytest.raises(Conflict) as reused:
        settle(reviewer_user, issued, key="h-1", unit_price="1100.00")  # another body
    with pytest.raises(Conflict) as twice:
        settle(reviewer_user, issued, key="h-2")  # the prescription is dispensed

    assert again.pk == first.pk
    assert reused.value.code == "settlement.key_reused"
    assert twice.value.code == "settlement.hospital_rx_dispensed"
    assert fingerprint(issued) == before


def test_reversal_with_the_goods_restores_the_accumulators_and_the_plan(
    issued, reviewer_user, pharmacist_user, outsider_reviewer
):
    settled = settle(reviewer_user, issued)
    person = settled.person
    for outsider in (pharmacist_user, outsider_reviewer):
        with pytest.raises(NotFound):
            services.settlement_reverse(
                actor=outsider, settlement_id=settled.pk, reason="x", idempotency_key="o-1"
            )

    reversed_ = services.settlement_reverse(
        actor=reviewer_user, settlement_id=settled.pk, reason="患者退药", idempotency_key="r-1"
    )

    assert reversed_.status == SettlementStatus.REVERSED and reversed_.goods_returned
    assert set(accumulators(person).values()) == {D("0.00")}
    assert plan_used(issued) == D("0")
    assert list(reversed_.history.values_list("to_status", flat=True)) == ["settled", "reversed"]
    audited = AuditEvent.objects.get(action="settlement.reversed")
    assert audited.actor_role == Role.REVIEWER
    assert Job.objects.filter(kind="settlement.upload_reversal").count() == 1
    # the prescription stays dispensed: it is not settled again
    assert Prescription.objects.get(pk=issued.pk).status == PrescriptionStatus.DISPENSED
    with pytest.raises(Conflict) as refused:
        settle(reviewer_user, issued, key="h-2")
    assert refused.value.code == "settlement.hospital_rx_dispensed"


def test_a_wrong_settlement_reversed_without_the_goods_keeps_the_plan_used(issued, reviewer_user):
    settled = settle(reviewer_user, issued)

    reversed_ = services.settlement_reverse(
        actor=reviewer_user,
        settlement_id=settled.pk,
        reason="结算类别错误",
        idempotency_key="r-1",
        return_goods=False,
    )

    assert reversed_.status == SettlementStatus.REVERSED and not reversed_.goods_returned
    assert set(accumulators(settled.person).values()) == {D("0.00")}
    assert plan_used(issued) == D("100")  # the patient kept the drugs


def test_the_worker_uploads_2207_then_2208_for_a_connected_hospital(
    issued, reviewer_user, hospital
):
    hospital.platform_code = "H42010200001"
    hospital.save(update_fields=["platform_code"])
    settled = settle(reviewer_user, issued)

    run_once("w1")
    settled.refresh_from_db()
    assert settled.upload_status == UploadStatus.ACCEPTED and settled.setl_id
    sim = SimSettlement.objects.get(setl_id=settled.setl_id)
    assert (sim.infno, sim.fixmedins_setl_id, sim.medfee_sumamt, sim.hifp_pay, sim.med_type) == (
        "2207",
        settled.settlement_no,
        settled.total,
        settled.fund,
        "110202",
    )

    services.settlement_reverse(
        actor=reviewer_user, settlement_id=settled.pk, reason="患者退药", idempotency_key="r-1"
    )
    run_once("w1")
    settled.refresh_from_db()
    sim.refresh_from_db()
    assert settled.reversal_upload_status == UploadStatus.ACCEPTED
    assert sim.reversed_at is not None
    sent = PlatformCall.objects.filter(
        institution=hospital, infno__in=("2207", "2208"), infcode="0"
    ).order_by("created_at", "id")
    assert list(sent.values_list("infno", flat=True)) == ["2207", "2208"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reviewers_settling_the_same_prescription_at_once_exactly_one_succeeds(
    issued, reviewer_user, hospital
):
    colleague = UserFactory(username="reviewer2", institution=hospital, roles=[Role.REVIEWER])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(actor, key) -> None:
        try:
            barrier.wait()
            settle(actor, issued, key=key)
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(reviewer_user, "desk-1")),
        threading.Thread(target=run, args=(colleague, "desk-2")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["ok", "settlement.hospital_rx_dispensed"]
    (live,) = Settlement.objects.filter(status=SettlementStatus.SETTLED)
    assert plan_used(issued) == D("100")
    year = str(live.settled_on.year)
    assert accumulators(live.person)[("fund", f"{year}:special_drug")] == live.fund
    assert Prescription.objects.get(pk=issued.pk).history.filter(to_status="dispensed").count() == 1


def test_a_prescription_settled_at_the_hospital_cannot_also_be_claimed_by_hand(
    issued, reviewer_user, agency_user, media_root
):

    settle(reviewer_user, issued)
    line = {
        "drug_id": issued.items.get().drug_id,
        "quantity": 2,
        "unit_price": "1200.00",
        "specification": "150mg*50粒",
        "pack_size": "50",
    }

    with pytest.raises(Conflict) as refused:
        submit(agency_user, issued.patient, issued.hospital, [line], prescription_id=issued.pk)

    assert refused.value.code == "settlement.claim_already_settled"
    assert not ManualClaim.objects.exists()
