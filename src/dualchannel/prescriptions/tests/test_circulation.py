"""The e-prescription centre: upload on routing, pharmacist review and dispensing reported,
undo on cancel — against the bundled simulator, retried with back-off on failure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dualchannel.integration.models import SimRx
from dualchannel.integration.rxcentre.client import RxCentreClient
from dualchannel.integration.simulator.rxcentre import rxcentre_fail_next
from dualchannel.prescriptions import circulation, services
from dualchannel.prescriptions.models import RxCentreStatus, RxCentreSubmission

from .test_counter import dispense, routed  # noqa: F401  (fixture)
from .test_issue import special

R = RxCentreStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(hospital, bound_pharmacy, eligibility):
    """Both connected to the centre; today's prescriptions (the simulator keeps real time)."""
    hospital.platform_code = "H42010200001"
    hospital.save(update_fields=["platform_code"])
    bound_pharmacy.platform_code = "P42010200001"
    bound_pharmacy.save(update_fields=["platform_code"])
    eligibility.next_reevaluation_due = timezone.localdate() + timedelta(days=60)
    eligibility.save(update_fields=["next_reevaluation_due"])


def process(prescription) -> RxCentreSubmission:
    return circulation.rx_centre_process(prescription.rx_centre.pk)


def test_not_connected_hospital_circulates_inside_the_platform_only(routed):  # noqa: F811
    assert routed.rx_centre.status == R.NOT_CONNECTED
    assert process(routed).status == R.NOT_CONNECTED


def test_routing_uploads_and_dispensing_is_reported_with_batches_and_codes(
    connected,
    eligibility,
    physician_user,
    patient_user,
    bound_pharmacy,
    pharmacist,
    pharmacist_user,
    stock,
):
    prescription = special(physician_user, eligibility, today=timezone.localdate())
    services.prescription_route(
        actor=physician_user,
        prescription_id=prescription.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=timezone.localdate(),
    )

    uploaded = process(prescription)

    assert uploaded.status == R.UPLOADED, uploaded.last_error
    assert uploaded.hi_rxno and uploaded.rx_trace_code and uploaded.sign_digest
    sim = SimRx.objects.get(hi_rxno=uploaded.hi_rxno)
    assert sim.hosp_rxno == prescription.prescription_no

    dispensing = dispense(pharmacist_user, prescription, stock[0], today=timezone.localdate())
    reported = process(prescription)

    assert reported.review_reported and reported.dispense_reported, reported.last_error
    result = RxCentreClient(prescription.hospital).settlement_result(uploaded.hi_rxno)
    (line,) = result["seltdelts"]
    assert line["manuLotnum"] == "B2401"
    assert line["drugtracinfo"] == [{"drug_trac_codg": dispensing.lines.get().trace_codes[0]}]


def test_a_failed_upload_is_retried_and_resumes_without_checking_twice(
    connected, eligibility, physician_user, bound_pharmacy, stock
):
    prescription = special(physician_user, eligibility, today=timezone.localdate())
    services.prescription_route(
        actor=physician_user,
        prescription_id=prescription.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=timezone.localdate(),
    )
    rxcentre_fail_next(1, api="rxFileUpld")

    failed = process(prescription)
    assert failed.status == R.FAILED
    assert failed.rx_trace_code  # the pre-check answer is kept

    done = process(prescription)
    assert done.status == R.UPLOADED
    assert SimRx.objects.filter(hosp_rxno=prescription.prescription_no).count() == 1


def test_cancel_undoes_the_prescription_at_the_centre(
    connected, eligibility, physician_user, bound_pharmacy, stock
):
    prescription = special(physician_user, eligibility, today=timezone.localdate())
    services.prescription_route(
        actor=physician_user,
        prescription_id=prescription.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=timezone.localdate(),
    )
    hi_rxno = process(prescription).hi_rxno

    services.prescription_cancel(
        actor=physician_user, prescription_id=prescription.pk, reason="患者病情变化"
    )
    withdrawn = process(prescription)

    assert withdrawn.status == R.WITHDRAWN
    assert SimRx.objects.get(hi_rxno=hi_rxno).status == "cancelled"


def test_the_simulator_answers_stock_from_our_inventory(
    connected, bound_pharmacy, stock, lung_drug
):
    lung_drug.national_code = "XL01EDS123A001010100001"
    lung_drug.save(update_fields=["national_code"])

    assert circulation.simulator_stock("P42010200001", {lung_drug.national_code: 2}) == "1"
    assert circulation.simulator_stock("P42010200001", {lung_drug.national_code: 99}) == "0"
    assert circulation.simulator_stock("P42010299999", {lung_drug.national_code: 1}) == "-1"
