"""Non-payable rules 5 and 7 in real settlements, at the counter, at the hospital desk and in a
manual claim: a line outside its drug's payment restriction [HB art. 31(5), 36; AH annex 3(3)]
and a box of donated stock [HB art. 31(7)] are paid in full by the person, with their reason,
and travel to the platform as self-pay lines; a line within is still paid."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from dualchannel.catalog.models import CriteriaStatus, CriterionKind
from dualchannel.catalog.tests.factories import CriteriaSetFactory, CriterionFactory
from dualchannel.core.jobs import run_once
from dualchannel.integration.models import PlatformCall
from dualchannel.inventory.services import stock_receive
from dualchannel.prescriptions.models import Prescription
from dualchannel.prescriptions.tests.conftest import trace_codes
from dualchannel.prescriptions.tests.today import in_force_today, issue, route
from dualchannel.settlement import payable, services
from dualchannel.settlement.models import UploadStatus
from dualchannel.settlement.receipt import render_receipt
from dualchannel.settlement.services import hospital as outpatient

from .conftest import dispense
from .helpers import colleague, submit, text_of

pytestmark = pytest.mark.django_db
D = Decimal

OUTSIDE = payable.OUTSIDE_RESTRICTION
DONATED = payable.DONATED


def restricted(drug, expression: str, text: str):
    """A published national set whose diagnosis clause is ``expression``, beside an
    attestation the settlement does not judge."""
    criteria_set = CriteriaSetFactory(drug=drug, status=CriteriaStatus.PUBLISHED)
    CriterionFactory(
        criteria_set=criteria_set,
        position=1,
        code="diagnosis",
        kind=CriterionKind.CONDITION,
        text=text,
        expression=expression,
    )
    CriterionFactory(criteria_set=criteria_set, position=2, code="attested", text="医师确认")
    return criteria_set


def diagnosed(prescription_id: int, code: str) -> None:
    """The prescription names another diagnosis than the one its eligibility was granted for."""
    Prescription.objects.filter(pk=prescription_id).update(diagnosis_code=code)


def sent_lines(infno: str) -> list[dict]:
    call = PlatformCall.objects.filter(infno=infno, infcode="0").latest("pk")
    node = "drugdetail" if infno == "2102" else "feedetail"
    return call.request["input"][node]


# --- at the counter ----------------------------------------------------------------------------


def test_counter_an_ordinary_drug_outside_its_restrictions_diagnosis_is_self_pay(
    chronic_dispensed, pharmacist_user, bound_pharmacy
):
    """HB art. 31(5), 36: 门诊慢特病 bought for hypertension (I10), its restriction limited to
    diabetes (E11): the whole line is the person's, transmitted as a self-pay line."""
    restricted(
        chronic_dispensed.lines.get().drug,
        'diagnoses.exists(d, d.startsWith("E11"))',
        "限2型糖尿病",
    )
    bound_pharmacy.platform_code = "P42010200001"
    bound_pharmacy.save(update_fields=["platform_code"])

    settlement = services.settlement_settle(
        actor=pharmacist_user,
        prescription_id=chronic_dispensed.prescription_id,
        idempotency_key="s-1",
    )

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, line.full_self_pay) == (OUTSIDE, D("1000.00"))
    assert (settlement.fund, settlement.full_self_pay, settlement.personal) == (
        D("0.00"),
        D("1000.00"),
        D("1000.00"),
    )
    run_once("w1")
    settlement.refresh_from_db()
    assert settlement.upload_status == UploadStatus.ACCEPTED
    (wire,) = sent_lines("2102")
    assert (wire["fulamt_ownpay_amt"], wire["hosp_appr_flag"]) == ("1000.00", "2")
    assert wire["memo"] == f"{OUTSIDE}:{payable.REASON_LABELS[OUTSIDE]}"


def test_counter_an_ordinary_drug_within_its_restriction_is_still_paid(
    chronic_dispensed, pharmacist_user, bound_pharmacy
):
    """HB art. 31(5): the same drug restricted to hypertension is paid (Wuhan demo rule,
    门诊慢特病: deductible 600.00, fund 80 %); its 2102 line carries no self-pay flag."""
    restricted(
        chronic_dispensed.lines.get().drug, 'diagnoses.exists(d, d.startsWith("I10"))', "限高血压"
    )
    bound_pharmacy.platform_code = "P42010200001"
    bound_pharmacy.save(update_fields=["platform_code"])

    settlement = services.settlement_settle(
        actor=pharmacist_user,
        prescription_id=chronic_dispensed.prescription_id,
        idempotency_key="s-1",
    )

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, settlement.deductible, settlement.fund) == (
        "",
        D("600.00"),
        D("320.00"),
    )
    run_once("w1")
    (wire,) = sent_lines("2102")
    assert "hosp_appr_flag" not in wire and "memo" not in wire


def test_counter_an_inpatient_only_restriction_bought_for_an_outpatient_is_self_pay(
    chronic_dispensed, pharmacist_user
):
    """HB art. 31(5): a restriction's setting clause (限住院) is judged on the purchase: an
    outpatient's purchase is outside, the same purchase for a stay is within."""
    restricted(chronic_dispensed.lines.get().drug, 'setting == "inpatient"', "限住院患者")
    prescription_id = chronic_dispensed.prescription_id

    outpatient_preview = services.settlement_preview(
        actor=pharmacist_user, prescription_id=prescription_id
    )
    stay_preview = services.settlement_preview(
        actor=pharmacist_user, prescription_id=prescription_id, inpatient_admission_no="ZY001"
    )

    assert [r.self_pay_reason for r in outpatient_preview.breakdown.lines] == [OUTSIDE]
    assert [r.self_pay_reason for r in stay_preview.breakdown.lines] == [""]


def test_counter_a_special_drug_for_a_diagnosis_its_eligibility_does_not_cover_is_self_pay(
    dispensed, pharmacist_user
):
    """HB art. 31(5), 36: the eligibility was granted on the lung-cancer set (C34); a
    prescription for breast cancer (C50) is outside it."""
    diagnosed(dispensed.prescription_id, "C50.900")

    settlement = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, line.full_self_pay) == (OUTSIDE, D("2000.00"))
    assert (settlement.fund, settlement.personal) == (D("0.00"), D("2000.00"))
    assert payable.REASON_LABELS[OUTSIDE] in text_of(render_receipt(settlement))


def test_counter_a_special_drug_within_its_eligibility_is_still_paid(dispensed, pharmacist_user):
    """HB art. 31(5): granted on C34, prescribed for C34.100x004: paid (fund 75 %)."""
    settlement = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, settlement.fund) == ("", D("1500.00"))


@pytest.fixture
def donated_batch(pharmacist, pharmacist_user, lung_drug):
    """Three boxes of 塞瑞替尼胶囊 given by a patient-assistance programme (赠药)."""
    result = stock_receive(
        actor=pharmacist_user,
        drug_id=lung_drug.pk,
        batch_no="PAP2401",
        expiry_date="2027-06-30",
        quantity=3,
        trace_codes=trace_codes("8123456", 3, start=71),
        retail_price=D("1000.00"),
        specification="150mg*50粒",
        supplier_name="某基金会患者援助项目",
        donated=True,
        idempotency_key="gift-1",
    )
    return result.movement.stock_item


def test_counter_a_box_of_donated_stock_is_never_paid_by_the_fund(
    eligibility,
    physician_user,
    patient_user,
    bound_pharmacy,
    pharmacist_user,
    standard,
    benefit_rules,
    donated_batch,
):
    """HB art. 31(7): 使用药品生产企业或者慈善组织无偿提供的药品, 医保统筹基金不予支付."""
    prescription = issue(physician_user, in_force_today(eligibility), quantity="100")
    route(patient_user, prescription, bound_pharmacy)
    dispensing = dispense(pharmacist_user, prescription, donated_batch, packages=2)

    settlement = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensing.prescription_id, idempotency_key="s-1"
    )

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, line.full_self_pay) == (DONATED, D("2000.00"))
    assert (settlement.fund, settlement.personal) == (D("0.00"), D("2000.00"))
    # the person's receipt says why the fund paid nothing
    assert payable.REASON_LABELS[DONATED] in text_of(render_receipt(settlement))


# --- at the hospital desk ----------------------------------------------------------------------


@pytest.fixture
def issued(eligibility, physician_user, standard, benefit_rules):
    return issue(physician_user, in_force_today(eligibility), quantity="100")


def hospital_lines(prescription):
    item = prescription.items.get()
    return [{"item_id": item.pk, "packages": 2, "unit_price": "1000.00", "batch_no": "H2401"}]


def test_hospital_a_line_outside_the_eligibilitys_diagnosis_is_self_pay(
    issued, reviewer_user, hospital
):
    """HB art. 31(5), 36 at the hospital's 特药门诊: transmitted (2207) as a self-pay line."""
    diagnosed(issued.pk, "C50.900")
    hospital.platform_code = "H42010200001"
    hospital.save(update_fields=["platform_code"])

    settlement = outpatient.hospital_settle(
        actor=reviewer_user,
        prescription_id=issued.pk,
        lines=hospital_lines(issued),
        idempotency_key="h-1",
    )

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, line.full_self_pay) == (OUTSIDE, D("2000.00"))
    assert (settlement.fund, settlement.personal) == (D("0.00"), D("2000.00"))
    run_once("w1")
    (wire,) = sent_lines("2207")
    assert (wire["hosp_appr_flag"], wire["memo"].split(":")[0]) == ("2", OUTSIDE)


def test_hospital_a_line_within_the_eligibility_is_still_paid(issued, reviewer_user):
    """HB art. 31(5): the same lines for the diagnosis granted are paid (fund 75 %)."""
    settlement = outpatient.hospital_settle(
        actor=reviewer_user,
        prescription_id=issued.pk,
        lines=hospital_lines(issued),
        idempotency_key="h-1",
    )

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, settlement.fund) == ("", D("1500.00"))


# --- in a manual claim -------------------------------------------------------------------------


def lung_line(drug):
    return {
        "drug_id": drug.pk,
        "quantity": 2,
        "unit_price": "1000.00",
        "specification": "150mg*50粒",
        "package_unit": "盒",
        "pack_size": "50",
    }


def test_claim_a_line_outside_the_restriction_is_self_pay(dispensed, agency_user):
    """HB art. 31(5), 36 in a manual claim [HB art. 37]: the agency settles it as the counter
    would — the prescription's diagnosis is not covered, the line is the person's."""
    diagnosed(dispensed.prescription_id, "C50.900")
    claim = submit(
        agency_user,
        dispensed.prescription.patient,
        dispensed.pharmacy,
        [lung_line(dispensed.lines.get().drug)],
        prescription_id=dispensed.prescription_id,
    )

    settlement = services.claim_decide(
        actor=colleague(agency_user), claim_id=claim.pk, approve=True
    ).settlement

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, line.full_self_pay) == (OUTSIDE, D("2000.00"))
    assert (settlement.fund, settlement.personal) == (D("0.00"), D("2000.00"))


def test_claim_a_line_within_the_restriction_is_still_paid(dispensed, agency_user):
    """HB art. 31(5): the same claim for the diagnosis granted is paid (fund 75 %)."""
    claim = submit(
        agency_user,
        dispensed.prescription.patient,
        dispensed.pharmacy,
        [lung_line(dispensed.lines.get().drug)],
        prescription_id=dispensed.prescription_id,
    )

    settlement = services.claim_decide(
        actor=colleague(agency_user), claim_id=claim.pk, approve=True
    ).settlement

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, settlement.fund) == ("", D("1500.00"))


def test_claim_with_a_paper_prescription_has_no_diagnosis_to_judge_and_is_within(
    zhang, chronic_drug, physician, benefit_rules, agency_user, bound_pharmacy
):
    """HB art. 31(5): without an electronic prescription the settlement has no diagnosis, so
    the diagnosis clause is unknown and the line is within (the officer reads the paper
    prescription among the receipts before approving)."""
    restricted(chronic_drug, 'diagnoses.exists(d, d.startsWith("E11"))', "限2型糖尿病")
    line = {"drug_id": chronic_drug.pk, "quantity": 1, "unit_price": "1000.00", "pack_size": "28"}
    claim = submit(agency_user, zhang, bound_pharmacy, [line], category="chronic_disease")

    settlement = services.claim_decide(
        actor=colleague(agency_user), claim_id=claim.pk, approve=True
    ).settlement

    (row,) = settlement.lines.all()
    assert (row.self_pay_reason, settlement.fund) == ("", D("320.00"))
    assert settlement.settled_on == timezone.localdate()


def test_claim_for_a_dispensing_of_donated_stock_is_self_pay(
    eligibility,
    physician_user,
    patient_user,
    bound_pharmacy,
    pharmacist_user,
    standard,
    benefit_rules,
    donated_batch,
    agency_user,
):
    """HB art. 31(7) in a manual claim [HB art. 37]: the counter dispensed donated boxes but
    could not settle; the agency's settlement does not pay them either."""
    prescription = issue(physician_user, in_force_today(eligibility), quantity="100")
    route(patient_user, prescription, bound_pharmacy)
    dispensing = dispense(pharmacist_user, prescription, donated_batch, packages=2)
    claim = submit(
        agency_user,
        prescription.patient,
        bound_pharmacy,
        [lung_line(dispensing.lines.get().drug)],
        prescription_id=prescription.pk,
    )

    settlement = services.claim_decide(
        actor=colleague(agency_user), claim_id=claim.pk, approve=True
    ).settlement

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, line.full_self_pay) == (DONATED, D("2000.00"))
    assert settlement.fund == D("0.00")
