"""Roles × the prescriptions API: the same rules as ``test_access_matrix``, on a world with an
eligibility, stock, an issued and a routed prescription, and two cold-chain dispensings (one
being prepared, one in transit) of a Wuhan hospital and pharmacy.

The world is built once per module and each test rolls back to it (see ``matrix_world``)."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.canonical import digest, snapshot
from dualchannel.core.locks import mark_several_transactions
from dualchannel.core.models import AuditEvent, User
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.core.tests.files import PDF as RECEIPT  # a real PDF: uploads are opened
from dualchannel.eligibility.tests.factories import (
    designated_physician,
    drug_with_criteria,
    zhang_wei,
)
from dualchannel.inventory.models import TraceCode
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import BenefitType, DeliveryMode, DeliveryStatus
from dualchannel.prescriptions.services import counter
from dualchannel.prescriptions.services.delivery import delivery_advance
from dualchannel.prescriptions.tests.conftest import grant_eligibility, receive_stock
from dualchannel.prescriptions.tests.helpers import PACK, USAGE
from dualchannel.registry.models import FilingReview, InstitutionKind, PolicyProfile
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.services import stay_register
from dualchannel.registry.tests.factories import (
    InstitutionFactory,
    InsuredPersonFactory,
    PharmacistFactory,
    designate,
    load_seed_profiles,
    region,
)
from dualchannel.settlement.models import Settlement
from dualchannel.settlement.rules import benefit_rules_load
from dualchannel.settlement.services import (
    batch_apply,
    batch_prepare,
    batch_reconcile,
    recovery_raise_for_settlements,
    settlement_settle,
)
from dualchannel.settlement.services.claims import claim_submit
from dualchannel.settlement.tests.conftest import DEMO_REGIONS
from dualchannel.tests.access_matrix import (
    DEFAULT_PARAMS,
    INSIDERS,
    OUTSIDERS,
    PRESCRIPTION_MATRIX,
    REFUSED,
    Op,
    fill,
    fingerprint,
    op,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/prescriptions"
SETTLE = "/api/v1/settlement"
MULTIPART = "__multipart__"  # a body sent as a form with one PDF receipt
PHYSICIAN, REVIEWER, PHARMACIST, OFFICER, PATIENT = INSIDERS
HOSPITAL_STAFF = (PHYSICIAN, REVIEWER)
# The day of the world: the prescriptions are valid and the eligibility is active.
MATRIX_DAY = date(2026, 3, 10)

PRESCRIPTION_OPS = [
    # The physician prescribes against the hospital's eligibility [HB art. 13–15].
    op(
        "POST",
        f"{BASE}/",
        {
            "patient_id_number": "{patient_id_number}",
            "benefit_type": "special_drug",
            "eligibility_id": "{eligibility_id}",
            "items": [
                {
                    "drug_id": "{drug_id}",
                    "quantity": "50",
                    "unit": "粒",
                    "pack_size": str(PACK),
                    **USAGE,
                    "days": 25,
                }
            ],
        },
        allowed=(PHYSICIAN,),
    ),
    op("GET", f"{BASE}/", allowed=INSIDERS, list_read=True),
    op(
        "GET",
        f"{BASE}/{{prescription_id}}",
        allowed=INSIDERS,
        prescription_id="routed_id",
    ),
    # The full ID number on request, audited: the hospital, the pharmacy it is routed to (the
    # real-name check) and the patient; not the agency.
    op(
        "POST",
        f"{BASE}/{{prescription_id}}/id-number",
        allowed=(*HOSPITAL_STAFF, PHARMACIST, PATIENT),
        prescription_id="routed_id",
    ),
    op(
        "POST",
        f"{BASE}/{{prescription_id}}/cancel",
        {"reason": "患者改用其他方案"},
        allowed=(PHYSICIAN,),
        prescription_id="issued_id",
    ),
    # The patient chooses, seeing stock [CX art. 21]; the physician may do it with them.
    op(
        "GET",
        f"{BASE}/{{prescription_id}}/pharmacies",
        allowed=(PHYSICIAN, PATIENT),
        prescription_id="issued_id",
    ),
    op(
        "POST",
        f"{BASE}/{{prescription_id}}/route",
        {"pharmacy_id": "{pharmacy_id}", "consent": True},
        allowed=(PHYSICIAN, PATIENT),
        prescription_id="issued_id",
    ),
    # The dispensing result back to the hospital (and the patient, and the region's officers).
    op(
        "GET",
        f"{BASE}/eligibilities/{{eligibility_id}}/dispensing-results",
        allowed=(*HOSPITAL_STAFF, OFFICER, PATIENT),
        eligibility_id="eligibility_id",
    ),
    # The counter of the pharmacy the prescription was routed to; a walk-in (not routed yet)
    # with the patient's ID number, at a pharmacy that may dispense it.
    op(
        "POST",
        f"{BASE}/counter/open",
        {"reference": "{routed_no}"},
        allowed=(PHARMACIST,),
    ),
    op(
        "POST",
        f"{BASE}/counter/open",
        {"reference": "{issued_no}", "patient_id_number": "{patient_id_number}"},
        allowed=(PHARMACIST,),
    ),
    op(
        "POST",
        f"{BASE}/{{prescription_id}}/counter/check",
        {"identity": "{identity}", "lines": "{lines}"},
        allowed=(PHARMACIST,),
        prescription_id="routed_id",
    ),
    op(
        "POST",
        f"{BASE}/{{prescription_id}}/counter/dispense",
        {"identity": "{identity}", "lines": "{lines}"},
        allowed=(PHARMACIST,),
        prescription_id="routed_id",
    ),
    # Delivery: the pharmacy sends; the destination hospital also confirms the hand-over.
    op(
        "POST",
        f"{BASE}/dispensings/{{dispensing_id}}/delivery",
        {"to_status": "in_transit"},
        allowed=(PHARMACIST,),
        dispensing_id="preparing_id",
    ),
    op(
        "POST",
        f"{BASE}/dispensings/{{dispensing_id}}/delivery",
        {"to_status": "handed_over", "handed_over_by": "冷链配送员李四", "received_by": "护士王五"},
        allowed=(PHARMACIST, *HOSPITAL_STAFF),
        dispensing_id="in_transit_id",
    ),
    # Settlement at the counter of the pharmacy that dispensed [CX art. 17]; the receipt and the
    # breakdown are the pharmacy's, the region's officers' and the patient's to read.
    op(
        "POST",
        f"{SETTLE}/prescriptions/{{prescription_id}}/preview",
        allowed=(PHARMACIST,),
        prescription_id="unsettled_rx_id",
    ),
    op(
        "POST",
        f"{SETTLE}/prescriptions/{{prescription_id}}/settle",
        allowed=(PHARMACIST,),
        prescription_id="unsettled_rx_id",
    ),
    op(
        "POST",
        f"{SETTLE}/settlements/{{settlement_id}}/reverse",
        {"reason": "结算类别有误", "return_goods": False},
        allowed=(PHARMACIST,),
        settlement_id="settled_id",
    ),
    op(
        "GET",
        f"{SETTLE}/settlements/{{settlement_id}}",
        allowed=(PHARMACIST, OFFICER, PATIENT),
        settlement_id="settled_id",
    ),
    op(
        "GET",
        f"{SETTLE}/settlements/{{settlement_id}}/receipt",
        allowed=(PHARMACIST, OFFICER, PATIENT),
        settlement_id="settled_id",
    ),
    # A purchase out of area that may not settle directly (a Hefei enrolee without a filing at
    # the Wuhan pharmacy): its self-pay receipt is the dispensing pharmacy's [HB art. 41].
    op(
        "GET",
        f"{SETTLE}/counter/{{prescription_id}}/self-pay-receipt",
        allowed=(PHARMACIST,),
        prescription_id="self_pay_rx_id",
    ),
    # Manual claims are the agency's [HB art. 37]: entered by one officer, decided by another.
    op(
        "POST",
        f"{SETTLE}/claims",
        {
            "person_id_number": "{patient_id_number}",
            "institution_id": "{pharmacy_id}",
            "reason": "system_failure",
            "category": "chronic_disease",
            "purchased_on": MATRIX_DAY.isoformat(),
            "lines": "{claim_lines}",
            MULTIPART: True,
        },
        allowed=(OFFICER,),
    ),
    op(
        "POST",
        f"{SETTLE}/claims/{{claim_id}}/decide",
        {"approve": True},
        allowed=(OFFICER,),
        claim_id="claim_id",
    ),
    op("GET", f"{SETTLE}/claims/{{claim_id}}", allowed=(OFFICER, PATIENT), claim_id="claim_id"),
    # Monthly batches [HB art. 33]: the institution prepares, reconciles and applies; the agency
    # of its region reviews; fund spending per budget line is the agency's [AH §2(6)].
    op(
        "POST",
        f"{SETTLE}/batches",
        {"institution_id": "{pharmacy_id}", "month": MATRIX_DAY.isoformat()},
        allowed=(PHARMACIST,),
    ),
    op(
        "GET",
        f"{SETTLE}/batches/{{batch_id}}",
        allowed=(PHARMACIST, OFFICER),
        batch_id="draft_batch_id",
    ),
    op(
        "POST",
        f"{SETTLE}/batches/{{batch_id}}/reconcile",
        allowed=(PHARMACIST,),
        batch_id="draft_batch_id",
    ),
    op(
        "POST",
        f"{SETTLE}/batches/{{batch_id}}/apply",
        {"acknowledge_mismatches": True, "note": "未上传的结算已人工核对"},
        allowed=(PHARMACIST,),
        batch_id="draft_batch_id",
    ),
    op(
        "POST",
        f"{SETTLE}/batches/{{batch_id}}/review",
        {"approve": True, "note": ""},
        allowed=(OFFICER,),
        batch_id="applied_batch_id",
    ),
    # The hospital's own 特药门诊 desk (its insurance office) dispenses and settles [HB art. 34].
    op(
        "POST",
        f"{SETTLE}/hospital/prescriptions/{{prescription_id}}/preview",
        {"lines": "{hospital_lines}"},
        allowed=(REVIEWER,),
        prescription_id="issued_id",
    ),
    op(
        "POST",
        f"{SETTLE}/hospital/prescriptions/{{prescription_id}}/settle",
        {"lines": "{hospital_lines}"},
        allowed=(REVIEWER,),
        prescription_id="issued_id",
    ),
    # Violations and recovery orders [HB art. 21–22, 31(6); CX art. 13]: the region's officers
    # find and cancel; the institution's staff read their own orders.
    op(
        "POST",
        f"{SETTLE}/findings",
        {"kind": "over_treatment", "reason": "超量配药", "settlement_ids": ["{settled_id}"]},
        allowed=(OFFICER,),
    ),
    op("GET", f"{SETTLE}/recoveries", allowed=(PHARMACIST, OFFICER), list_read=True),
    op(
        "GET",
        f"{SETTLE}/recoveries/{{recovery_id}}",
        allowed=(PHARMACIST, OFFICER),
        recovery_id="recovery_id",
    ),
    op(
        "POST",
        f"{SETTLE}/recoveries/{{recovery_id}}/cancel",
        {"reason": "复核撤销"},
        allowed=(OFFICER,),
        recovery_id="recovery_id",
    ),
    # Revocation for fraud [HB art. 12]: the region's officers only, with its recovery.
    op(
        "POST",
        f"{SETTLE}/eligibilities/{{eligibility_id}}/revoke",
        {"kind": "resale", "reason": "倒卖药品", "evidence": "稽核笔录", MULTIPART: True},
        allowed=(OFFICER,),
        eligibility_id="eligibility_id",
    ),
    # Inpatients [AH §2(5), CX art. 19]: the hospital insurance office registers the stay,
    # reviews the inpatient filing form and settles the stay's bill; the pharmacy bills an
    # inpatient's purchase to the stay where the profile says so.
    op(
        "POST",
        "/api/v1/registry/stays",
        {
            "id_number": "{patient_id_number}",
            "admission_no": "ZY-MATRIX-NEW",
            "admitted_on": MATRIX_DAY.isoformat(),
            "diagnosis_code": "C34.900",
            "diagnosis_name": "肺恶性肿瘤",
        },
        allowed=(REVIEWER,),
    ),
    op("GET", "/api/v1/registry/stays", allowed=(REVIEWER,), list_read=True),
    op("GET", "/api/v1/registry/filing-reviews", allowed=(REVIEWER,), list_read=True),
    op(
        "POST",
        "/api/v1/registry/filing-reviews/{review_id}/decide",
        {"approve": True, "opinion": "同意外购"},
        allowed=(REVIEWER,),
        review_id="review_id",
    ),
    op(
        "POST",
        f"{SETTLE}/stays/{{stay_id}}/preview",
        {"lines": "{stay_bill}"},
        allowed=(REVIEWER,),
        stay_id="stay_id",
    ),
    op(
        "POST",
        f"{SETTLE}/stays/{{stay_id}}/settle",
        {"lines": "{stay_bill}"},
        allowed=(REVIEWER,),
        stay_id="stay_id",
    ),
    op(
        "POST",
        f"{SETTLE}/prescriptions/{{prescription_id}}/stay-charge",
        {"inpatient_admission_no": "ZY-MATRIX-1"},
        allowed=(PHARMACIST,),
        prescription_id="stay_rx_id",
    ),
    op(
        "GET",
        f"{SETTLE}/budget",
        allowed=(OFFICER,),
        query={"region_code": "420100", "month": MATRIX_DAY.isoformat()},
    ),
]

HEADERS = {
    f"POST {BASE}/{{prescription_id}}/counter/dispense": {"HTTP_IDEMPOTENCY_KEY": "matrix-1"},
    f"POST {SETTLE}/prescriptions/{{prescription_id}}/settle": {"HTTP_IDEMPOTENCY_KEY": "matrix-2"},
    f"POST {SETTLE}/settlements/{{settlement_id}}/reverse": {"HTTP_IDEMPOTENCY_KEY": "matrix-3"},
    f"POST {SETTLE}/hospital/prescriptions/{{prescription_id}}/settle": {
        "HTTP_IDEMPOTENCY_KEY": "matrix-4"
    },
    f"POST {SETTLE}/stays/{{stay_id}}/settle": {"HTTP_IDEMPOTENCY_KEY": "matrix-5"},
    f"POST {SETTLE}/prescriptions/{{prescription_id}}/stay-charge": {
        "HTTP_IDEMPOTENCY_KEY": "matrix-6"
    },
}
# POSTs that only read: they record no audit event.
READS = {
    f"POST {BASE}/counter/open",
    f"POST {BASE}/{{prescription_id}}/counter/check",
    f"POST {SETTLE}/prescriptions/{{prescription_id}}/preview",
    f"POST {SETTLE}/hospital/prescriptions/{{prescription_id}}/preview",
    f"POST {SETTLE}/stays/{{stay_id}}/preview",
}

WATCHED = [
    "eligibility.Eligibility",
    "prescriptions.Prescription",
    "prescriptions.PrescriptionItem",
    "prescriptions.PrescriptionTransition",
    "prescriptions.Dispensing",
    "prescriptions.DispensingLine",
    "prescriptions.Delivery",
    "prescriptions.DeliveryTransition",
    "prescriptions.RxCentreSubmission",
    "notifications.Notification",
    "settlement.Settlement",
    "settlement.SettlementLine",
    "settlement.Accumulator",
    "settlement.ManualClaim",
    "settlement.SettlementBatch",
    "settlement.ViolationFinding",
    "settlement.RecoveryOrder",
    "settlement.RecoveryItem",
    "settlement.StayCharge",
    "registry.InpatientStay",
    "registry.FilingReview",
]


def case_id(case: Op) -> str:
    to_status = (case.body or {}).get("to_status")
    walk_in = "patient_id_number" in (case.body or {}) and "counter" in case.path
    return f"{case.id} {to_status}" if to_status else f"{case.id} walk-in" if walk_in else case.id


@pytest.fixture(scope="module")
def matrix_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, built once per module (and xdist worker) inside an outer transaction that is
    rolled back when the module is done; each test runs in a savepoint of it (as in
    ``test_access_matrix_eligibility``)."""
    media = tmp_path_factory.mktemp("rx-matrix") / "private"
    with (
        pytest.MonkeyPatch.context() as patch,
        override_settings(MEDIA_ROOT=media, HIS_ADAPTER="demo"),
    ):
        # The API reads today's date: it is MATRIX_DAY for the world and the module's tests.
        patch.setattr("django.utils.timezone.localdate", lambda *a, **k: MATRIX_DAY)
        with django_db_blocker.unblock():
            outer = transaction.atomic()
            outer.__enter__()
            mark_several_transactions()  # core.locks checks each action of the world by itself
            try:
                built = _build_world()
            except BaseException:
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)
                raise
        try:
            yield built
        finally:
            with django_db_blocker.unblock():
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)


@pytest.fixture
def world(matrix_world, db):
    return matrix_world


def _user_fixture(name: str):
    @pytest.fixture(name=name)
    def user(world):
        return User.objects.get(pk=world["users"][name])

    return user


for _name in (*INSIDERS, *OUTSIDERS):
    globals()[f"_{_name}_fixture"] = _user_fixture(_name)


def _institutions() -> dict:
    def make(kind, name, region, **kw):
        return InstitutionFactory(kind=kind, name=name, region_code=region, **kw)

    pharmacy_kw = {"hospital_level": None, "traceability_enabled": True}
    return {
        "agency": make(InstitutionKind.AGENCY, "武汉市医疗保障事务中心", "420100"),
        "hospital": make(InstitutionKind.HOSPITAL, "武汉演示第一医院", "420102"),
        "pharmacy": make(InstitutionKind.PHARMACY, "江岸演示大药房", "420102", **pharmacy_kw),
        "other_hospital": make(InstitutionKind.HOSPITAL, "合肥演示人民医院", "340102"),
        "other_pharmacy": make(InstitutionKind.PHARMACY, "瑶海演示药房", "340102", **pharmacy_kw),
        "other_agency": make(
            InstitutionKind.AGENCY, "合肥市医保中心", "340100", hospital_level=None
        ),
    }


def _users(places: dict, patient, outsider_person) -> dict[str, User]:
    def staff(username, place, role):
        return UserFactory(username=username, institution=places[place], roles=[role])

    return {
        PHYSICIAN: staff("physician", "hospital", Role.PHYSICIAN),
        REVIEWER: staff("reviewer", "hospital", Role.REVIEWER),
        PHARMACIST: staff("pharmacist", "pharmacy", Role.PHARMACIST),
        OFFICER: staff("officer", "agency", Role.AGENCY_OFFICER),
        PATIENT: UserFactory(username="patient", insured_person=patient, roles=[Role.PATIENT]),
        "outsider_physician": staff("outsider_physician", "other_hospital", Role.PHYSICIAN),
        "outsider_reviewer": staff("outsider_reviewer", "other_hospital", Role.REVIEWER),
        "outsider_pharmacist": staff("outsider_pharmacist", "other_pharmacy", Role.PHARMACIST),
        "outsider_agency": staff("outsider_officer", "other_agency", Role.AGENCY_OFFICER),
        "outsider_patient": UserFactory(
            username="outsider_patient", insured_person=outsider_person, roles=[Role.PATIENT]
        ),
    }


def _cold_chain_dispensing(users, places, patient, n: int, patient_user: str = PATIENT):
    """A routed chronic-disease prescription of a cold-chain drug, dispensed to go by cold chain
    to the hospital [HB art. 29] (a drug of its own, so no refill interval applies)."""
    pharmacist = users[PHARMACIST]
    drug = DrugFactory(generic_name=f"演示冷链注射液{n}", needs_cold_chain=True, is_injectable=True)
    batch = receive_stock(pharmacist, drug, prefix=f"866000{n}", key=f"cold-{n}")[0]
    prescription = services.prescription_issue(
        actor=users[PHYSICIAN],
        patient_id_number=patient.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[
            {
                "drug_id": drug.pk,
                "quantity": "1",
                "unit": "支",
                **USAGE,
                "dose_unit": "支",
                "single_dose": "1",
                "route": "皮下注射",
                "days": 28,
            }
        ],
        today=MATRIX_DAY,
    )
    services.prescription_route(
        actor=users[patient_user],
        prescription_id=prescription.pk,
        pharmacy_id=places["pharmacy"].pk,
        consent=True,
        today=MATRIX_DAY,
    )
    code = TraceCode.objects.filter(stock_item=batch).order_by("code").first().code
    return counter.counter_dispense(
        actor=pharmacist,
        prescription_id=prescription.pk,
        identity=counter.Identity("02", patient.id_number),
        lines=[
            {
                "item_id": prescription.items.get().pk,
                "stock_item_id": batch.pk,
                "packages": 1,
                "trace_codes": [code],
            }
        ],
        idempotency_key=f"world-cold-{n}",
        delivery=counter.DeliveryInput(mode=DeliveryMode.COLD_CHAIN_TO_HOSPITAL),
        today=MATRIX_DAY,
    )


def _stay_world(users, places, patient, issued) -> dict:
    """A stay at the hospital, an inpatient filing form waiting for the insurance office's
    review, and a dispensed purchase for the stay; Wuhan's profile set to bill external drugs in
    the stay for the world [CX art. 19]."""
    stay = stay_register(
        actor=users[REVIEWER],
        id_number=patient.id_number,
        admission_no="ZY-MATRIX-1",
        admitted_on=MATRIX_DAY,
        diagnosis_code="C34.900",
        diagnosis_name="肺恶性肿瘤",
    )
    review = FilingReview.objects.create(stay=stay, document_id=issued.document_id)
    profile = profile_of(places["hospital"])
    PolicyProfile.objects.filter(pk=profile.pk).update(inpatient_external_drugs_in_stay=True)
    stay_rx = _cold_chain_dispensing(users, places, patient, 5)
    return {
        "stay_id": stay.pk,
        "review_id": review.pk,
        "stay_rx_id": stay_rx.prescription_id,
        "stay_bill": [{"name": "床位费", "amount": "600.00", "category": "甲"}],
    }


def _build_world() -> dict:
    places = _institutions()
    # the demo HIS is the Wuhan hospital's system
    settings.HIS_HOSPITALS = [places["hospital"].credit_code]
    patient = zhang_wei()
    outsider_person = InsuredPersonFactory(name="外人丙", region_code="340102")
    users = _users(places, patient, outsider_person)
    load_seed_profiles()
    designated_physician(users[PHYSICIAN])
    # Designated like Wuhan's, so that what refuses the outsiders is scope, not designation.
    designated_physician(users["outsider_physician"])
    for place in ("pharmacy", "other_pharmacy"):
        designate(places[place])
    PharmacistFactory(user=users[PHARMACIST], pharmacy=places["pharmacy"], name="店内药师乙")
    PharmacistFactory(user=users["outsider_pharmacist"], pharmacy=places["other_pharmacy"])

    drug, _ = drug_with_criteria(generic_name="塞瑞替尼胶囊")
    eligibility = grant_eligibility(
        users[PHYSICIAN], users[REVIEWER], patient, drug, places["pharmacy"]
    )
    stock = receive_stock(users[PHARMACIST], drug)

    def special():
        return services.prescription_issue(
            actor=users[PHYSICIAN],
            patient_id_number=patient.id_number,
            benefit_type=BenefitType.SPECIAL_DRUG,
            eligibility_id=eligibility.pk,
            items=[
                {
                    "drug_id": drug.pk,
                    "quantity": "50",
                    "unit": "粒",
                    "pack_size": str(PACK),
                    **USAGE,
                    "days": 25,
                }
            ],
            today=MATRIX_DAY,
        )

    preparing = _cold_chain_dispensing(users, places, patient, 1)
    in_transit = _cold_chain_dispensing(users, places, patient, 2)
    # a Hefei enrolee's purchase in Wuhan without a cross-province filing [HB art. 41]
    self_pay = _cold_chain_dispensing(users, places, outsider_person, 4, "outsider_patient")
    delivery_advance(
        actor=users[PHARMACIST], dispensing_id=in_transit.pk, to_status=DeliveryStatus.IN_TRANSIT
    )
    issued = special()
    routed = services.prescription_route(
        actor=users[PATIENT],
        prescription_id=special().pk,
        pharmacy_id=places["pharmacy"].pk,
        consent=True,
        today=MATRIX_DAY,
    )
    code = TraceCode.objects.filter(stock_item=stock[0]).order_by("code").first().code
    for region_code in DEMO_REGIONS:
        region(region_code)
    benefit_rules_load()
    settled = settlement_settle(
        actor=users[PHARMACIST],
        prescription_id=preparing.prescription_id,
        idempotency_key="world-settle",
    )
    # a connected pharmacy with a reconciled draft batch of this month and an applied one of
    # the month before (its settlement moved back a month: the API's today is MATRIX_DAY)
    places["pharmacy"].platform_code = "P42010200001"
    places["pharmacy"].save(update_fields=["platform_code"])
    earlier = _cold_chain_dispensing(users, places, patient, 3)
    last_month = settlement_settle(
        actor=users[PHARMACIST],
        prescription_id=earlier.prescription_id,
        idempotency_key="world-settle-earlier",
    )
    Settlement.objects.filter(pk=last_month.pk).update(settled_on=date(2026, 2, 27))
    applied = batch_prepare(
        actor=users[PHARMACIST], institution_id=places["pharmacy"].pk, month=date(2026, 2, 1)
    )
    batch_reconcile(actor=users[PHARMACIST], batch_id=applied.pk)
    batch_apply(
        actor=users[PHARMACIST], batch_id=applied.pk, acknowledge_mismatches=True, note="已核对"
    )
    # a pending recovery order for last month's settlement, deducted in this month's batch
    (recovery_order,) = recovery_raise_for_settlements(
        actor=users[OFFICER],
        settlement_ids=[last_month.pk],
        basis="violation",
        reason="过度诊疗",
    )
    draft = batch_prepare(
        actor=users[PHARMACIST], institution_id=places["pharmacy"].pk, month=MATRIX_DAY
    )
    batch_reconcile(actor=users[PHARMACIST], batch_id=draft.pk)
    chronic = DrugFactory(generic_name="演示慢病片", is_separately_paid=False)
    claim_lines = json.dumps(
        [{"drug_id": chronic.pk, "quantity": 1, "unit_price": "58.00", "pack_size": "28"}]
    )
    second_officer = UserFactory(
        username="officer2", institution=places["agency"], roles=[Role.AGENCY_OFFICER]
    )
    claim = claim_submit(
        actor=second_officer,
        person_id_number=patient.id_number,
        institution_id=places["pharmacy"].pk,
        reason="system_failure",
        category="chronic_disease",
        purchased_on=MATRIX_DAY,
        lines=json.loads(claim_lines),
        receipts=[("发票.pdf", RECEIPT)],
    )
    return {
        **_stay_world(users, places, patient, issued),
        "hospital_lines": [
            {
                "item_id": issued.items.get().pk,
                "packages": 1,
                "unit_price": "1000.00",
                "batch_no": "H2401",
            }
        ],
        "draft_batch_id": draft.pk,
        "recovery_id": recovery_order.pk,
        "applied_batch_id": applied.pk,
        "settled_id": settled.pk,
        "claim_id": claim.pk,
        "claim_lines": claim_lines,
        "unsettled_rx_id": in_transit.prescription_id,
        "self_pay_rx_id": self_pay.prescription_id,
        "users": {name: user.pk for name, user in users.items()},
        "patient_id_number": patient.id_number,
        "eligibility_id": eligibility.pk,
        "drug_id": drug.pk,
        "pharmacy_id": places["pharmacy"].pk,
        "issued_id": issued.pk,
        "routed_id": routed.pk,
        "routed_no": routed.prescription_no,
        "issued_no": issued.prescription_no,
        "preparing_id": preparing.pk,
        "in_transit_id": in_transit.pk,
        "identity": {"certificate_type": "02", "certificate_no": patient.id_number},
        "lines": [
            {
                "item_id": routed.items.get().pk,
                "stock_item_id": stock[0].pk,
                "packages": 1,
                "trace_codes": [code],
            }
        ],
        # Private facts whose appearance in an outsider's answer is a leak.
        "secrets": [
            patient.name,
            patient.id_number,
            issued.prescription_no,
            routed.prescription_no,
            preparing.prescription.prescription_no,
            in_transit.prescription.prescription_no,
        ],
    }


def call(client, case: Op, world: dict, user=None):
    """``test_access_matrix.call`` with the headers an operation needs (the idempotency key)."""
    if user is not None:
        client.as_user(user)
    names = {**DEFAULT_PARAMS, **dict(case.params)}
    path = re.sub(r"\{(\w+)\}", lambda m: str(world[names[m.group(1)]]), case.path)
    headers = HEADERS.get(case.id, {})
    if case.body and case.body.get(MULTIPART):
        form = {k: v for k, v in fill(case.body, world).items() if k != MULTIPART}
        form["receipts"] = SimpleUploadedFile("发票.pdf", RECEIPT, "application/pdf")
        return client.post(path, form, **headers)
    if case.method == "GET":
        return client.get(path, fill(case.query, world), **headers)
    method = getattr(client, case.method.lower())
    if case.body is None:
        return method(path, **headers)
    return method(path, fill(case.body, world), content_type="application/json", **headers)


def world_fingerprint() -> tuple:
    rows = {
        label: [snapshot(obj) for obj in apps.get_model(label).objects.order_by("pk")]
        for label in WATCHED
    }
    return fingerprint(), digest(rows)


def assert_refused(response, case: Op, actor: str, world: dict) -> None:
    assert response.status_code in REFUSED, response.content[:300]
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("actor", OUTSIDERS)
@pytest.mark.parametrize("case", PRESCRIPTION_OPS, ids=case_id)
def test_outsider_sees_and_changes_nothing(request, api_client, world, case, actor):
    user = request.getfixturevalue(actor)
    before = world_fingerprint()

    response = call(api_client, case, world, user)

    if case.list_read and response.status_code == 200:
        text = response.content.decode()
        assert not [s for s in world["secrets"] if s in text]
    else:
        assert_refused(response, case, actor, world)
    assert world_fingerprint() == before


@pytest.mark.parametrize("actor", INSIDERS)
@pytest.mark.parametrize("case", PRESCRIPTION_OPS, ids=case_id)
def test_insider_roles(request, api_client, world, case, actor):
    user = request.getfixturevalue(actor)
    before = world_fingerprint()
    events = AuditEvent.objects.count()

    response = call(api_client, case, world, user)

    if actor in case.allowed:
        assert 200 <= response.status_code < 300, response.content[:500]
        if case.method != "GET" and case.id not in READS:
            assert AuditEvent.objects.count() > events
        else:
            assert world_fingerprint() == before
    elif case.list_read and response.status_code == 200:
        assert world_fingerprint() == before
    else:
        assert_refused(response, case, actor, world)
        assert world_fingerprint() == before


@pytest.mark.parametrize("case", PRESCRIPTION_OPS, ids=case_id)
def test_anonymous_is_refused(api_client, world, case):
    before = world_fingerprint()

    response = call(api_client, case, world)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert world_fingerprint() == before


def test_the_rows_here_are_the_ones_the_main_matrix_delegates():
    assert {case.id for case in PRESCRIPTION_OPS} == PRESCRIPTION_MATRIX
