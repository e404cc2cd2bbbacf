"""Circulation: the patient's choice of pharmacy for an ordinary (not three-fixed) prescription
[CX art. 21]; the e-prescription centre: upload on routing, pharmacist review and dispensing
reported, undo on cancel — against the bundled simulator, retried with back-off on failure."""

from __future__ import annotations

import pytest
from django.utils import timezone

from dualchannel.core.errors import DomainError
from dualchannel.core.job_failures import describe, failed_job_count, job_retry
from dualchannel.core.jobs import run_once
from dualchannel.core.models import AuditEvent, Job
from dualchannel.integration.rxcentre.client import RxCentreClient
from dualchannel.inventory.tests.factories import StockItemFactory
from dualchannel.notifications.models import Channel, Notification
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import (
    PrescriptionStatus,
    RxCentreStatus,
    RxCentreSubmission,
    StockStatus,
)
from dualchannel.prescriptions.services import circulation
from dualchannel.registry.tests.factories import designate, qualified_pharmacy
from dualchannel.simulators.models import SimRx
from dualchannel.simulators.rxcentre import rxcentre_fail_next
from dualchannel.simulators.stock import inventory_stock

from .conftest import receive_stock
from .helpers import TODAY, dispense, ordinary, special, statuses

R = RxCentreStatus
S = PrescriptionStatus
pytestmark = pytest.mark.django_db


# --- the patient's choice for an ordinary prescription [CX art. 21] ------------------------------


@pytest.fixture
def wuhan_pharmacies(pharmacist_user, bound_pharmacy, chronic_drug, other_pharmacy):
    """Designated pharmacies of Wuhan holding 6, 1 and no boxes of the drug; one in Wuhan that
    is not designated and one designated in Hefei, both with stock."""
    receive_stock(pharmacist_user, chronic_drug, prefix="8555555", key="chronic")
    partly = qualified_pharmacy(name="武昌演示药房", region_code="420106")
    none = qualified_pharmacy(name="江夏演示药房", region_code="420115")
    undesignated = qualified_pharmacy(name="江岸未纳入药房", region_code="420102")
    for pharmacy in (partly, none, other_pharmacy):
        designate(pharmacy)
    for pharmacy, boxes in ((partly, 1), (undesignated, 5), (other_pharmacy, 5)):
        StockItemFactory(pharmacy=pharmacy, drug=chronic_drug, quantity=boxes)
    return {
        "all": bound_pharmacy,
        "partly": partly,
        "none": none,
        "undesignated": undesignated,
        "other_region": other_pharmacy,
    }


@pytest.fixture
def two_boxes(physician, physician_user, insured_person, chronic_drug):
    """张三's ordinary chronic-disease prescription of two boxes: no eligibility, no binding."""
    prescription = ordinary(physician_user, insured_person, chronic_drug, boxes=2)
    assert prescription.eligibility_id is None
    return prescription


def test_an_ordinary_prescription_offers_the_regions_designated_pharmacies_with_their_stock(
    two_boxes, wuhan_pharmacies, patient_user
):
    # when: 张三 opens the choice on his phone
    options = services.pharmacy_options(actor=patient_user, prescription_id=two_boxes.pk)

    # then: Wuhan's designated pharmacies, those with stock first; no undesignated or Hefei one
    assert [(o.pharmacy, o.stock) for o in options] == [
        (wuhan_pharmacies["all"], StockStatus.ALL),
        (wuhan_pharmacies["partly"], StockStatus.PARTLY),
        (wuhan_pharmacies["none"], StockStatus.NONE),
    ]


def test_the_patient_picks_a_pharmacy_with_part_of_the_stock_and_consents(
    two_boxes, wuhan_pharmacies, patient_user
):
    chosen = wuhan_pharmacies["partly"]

    with pytest.raises(DomainError) as refused:
        services.prescription_route(
            actor=patient_user,
            prescription_id=two_boxes.pk,
            pharmacy_id=chosen.pk,
            consent=False,
            today=TODAY,
        )
    assert refused.value.code == "prescriptions.consent_required"

    routed_ = services.prescription_route(
        actor=patient_user,
        prescription_id=two_boxes.pk,
        pharmacy_id=chosen.pk,
        consent=True,
        today=TODAY,
    )

    routed_.refresh_from_db()
    assert routed_.status == S.ROUTED
    assert routed_.pharmacy == chosen
    assert routed_.consented_by == patient_user and routed_.consented_at is not None
    assert routed_.stock_status_at_choice == StockStatus.PARTLY
    assert statuses(routed_) == [S.ISSUED, S.ROUTED]
    assert RxCentreSubmission.objects.filter(prescription=routed_).exists()
    notice = Notification.objects.get(template_code="prescriptions.routed", channel=Channel.IN_APP)
    assert chosen.name in notice.body


@pytest.mark.parametrize("which", ["other_region", "undesignated"])
def test_a_pharmacy_outside_the_regions_designated_ones_is_refused_and_nothing_is_written(
    two_boxes, wuhan_pharmacies, patient_user, which
):
    with pytest.raises(DomainError) as refused:
        services.prescription_route(
            actor=patient_user,
            prescription_id=two_boxes.pk,
            pharmacy_id=wuhan_pharmacies[which].pk,
            consent=True,
            today=TODAY,
        )

    assert refused.value.code == "prescriptions.pharmacy_not_allowed"
    two_boxes.refresh_from_db()
    assert two_boxes.status == S.ISSUED
    assert two_boxes.pharmacy_id is None and two_boxes.consented_at is None
    assert statuses(two_boxes) == [S.ISSUED]
    assert not RxCentreSubmission.objects.filter(prescription=two_boxes).exists()
    assert not Notification.objects.filter(template_code="prescriptions.routed").exists()


# --- the e-prescription centre ------------------------------------------------------------------


def process(prescription) -> RxCentreSubmission:
    return circulation.rx_centre_process(prescription.rx_centre.pk)


def test_not_connected_hospital_circulates_inside_the_platform_only(routed):
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
    # the hospital's result query (rxSetlInfoQuery) confirmed what the centre recorded
    assert reported.result_confirmed_at is not None and reported.result_lines == 1
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

    assert inventory_stock("P42010200001", {lung_drug.national_code: 2}) == "1"
    assert inventory_stock("P42010200001", {lung_drug.national_code: 99}) == "0"
    assert inventory_stock("P42010299999", {lung_drug.national_code: 1}) == "-1"


def test_a_failed_centre_run_is_a_failed_job_of_the_hospital_and_a_dead_one_can_be_requeued(
    connected, eligibility, physician_user, bound_pharmacy, stock
):
    """Failures are visible (issue 12, point 8): the job backs off itself, never logged done."""
    prescription = special(physician_user, eligibility, today=timezone.localdate())
    services.prescription_route(
        actor=physician_user,
        prescription_id=prescription.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=timezone.localdate(),
    )
    rxcentre_fail_next(1, api="rxFileUpld")
    Job.objects.filter(kind="prescriptions.rx_centre").update(max_attempts=1)

    run_once("w1")

    job = Job.objects.get(kind="prescriptions.rx_centre")
    submission = RxCentreSubmission.objects.get(prescription=prescription)
    assert submission.status == R.FAILED
    assert (job.status, job.institution_id) == ("dead", prescription.hospital_id)
    assert failed_job_count(physician_user) == 1
    row = describe(job)
    assert row.what == "电子处方中心上传" and prescription.prescription_no in row.document

    RxCentreSubmission.objects.filter(pk=submission.pk).update(status=R.DEAD)
    job_retry(actor=physician_user, job_id=job.pk)
    submission.refresh_from_db()
    assert submission.status == R.FAILED
    assert AuditEvent.objects.filter(action="core.job_retried").count() == 1
    run_once("w1")
    job.refresh_from_db()
    submission.refresh_from_db()
    assert (job.status, submission.status) == ("done", R.UPLOADED)
