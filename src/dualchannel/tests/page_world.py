"""The world of the page access matrix: a Wuhan hospital, pharmacy and agency with applications
in each state, an eligibility, prescriptions issued, routed, dispensed and settled, and the
outsiders of each role at Hefei institutions (the root conftest's names, roles and regions).

A fixtures module (not a test module): ``build_page_world()`` returns the world's ids and the
private facts whose appearance in an outsider's page is a leak.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from django.conf import settings
from django.db.models import Q

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.core.tests.files import PDF as REAL_PDF
from dualchannel.eligibility import services as eligibility_services
from dualchannel.eligibility.models import Application, ApplicationStatus, Eligibility
from dualchannel.eligibility.services import materials
from dualchannel.eligibility.tests.factories import (
    PLAN,
    designated_physician,
    drug_with_criteria,
    liu_fang,
    zhang_wei,
)
from dualchannel.integration.services.filing import filing_submit
from dualchannel.inventory.models import TraceCode
from dualchannel.notifications.models import Channel, Notification
from dualchannel.prescriptions import services as rx_services
from dualchannel.prescriptions.models import BenefitType, DeliveryMode
from dualchannel.prescriptions.services import counter
from dualchannel.prescriptions.tests.conftest import grant_eligibility, receive_stock
from dualchannel.prescriptions.tests.helpers import PACK, USAGE
from dualchannel.registry.models import FilingReview, InstitutionKind
from dualchannel.registry.services import stay_register
from dualchannel.registry.tests.factories import (
    InstitutionFactory,
    InsuredPersonFactory,
    PharmacistFactory,
    designate,
    load_seed_profiles,
    region,
)
from dualchannel.settlement.rules import benefit_rules_load
from dualchannel.settlement.services import settlement_settle
from dualchannel.settlement.tests.conftest import DEMO_REGIONS
from dualchannel.simulators.platform import simulator_fail_next

# not 2026-03-10: the counter's placeholder shows CF2026031000001 as an example number
PAGE_WORLD_DAY = date(2026, 3, 11)
PDF = REAL_PDF  # a real, parseable PDF (uploads are checked by content)
INSIDERS = ["physician_user", "reviewer_user", "pharmacist_user", "agency_user", "patient_user"]
OUTSIDERS = [
    "outsider_physician",
    "outsider_reviewer",
    "outsider_pharmacist",
    "outsider_agency",
    "outsider_patient",
]


def _institutions() -> dict:
    def make(kind, name, code, **kw):
        return InstitutionFactory(kind=kind, name=name, region_code=code, **kw)

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
        "physician_user": staff("physician", "hospital", Role.PHYSICIAN),
        "reviewer_user": staff("reviewer", "hospital", Role.REVIEWER),
        "pharmacist_user": staff("pharmacist", "pharmacy", Role.PHARMACIST),
        "agency_user": staff("officer", "agency", Role.AGENCY_OFFICER),
        "patient_user": UserFactory(
            username="patient", insured_person=patient, roles=[Role.PATIENT]
        ),
        "outsider_physician": staff("outsider_physician", "other_hospital", Role.PHYSICIAN),
        "outsider_reviewer": staff("outsider_reviewer", "other_hospital", Role.REVIEWER),
        "outsider_pharmacist": staff("outsider_pharmacist", "other_pharmacy", Role.PHARMACIST),
        "outsider_agency": staff("outsider_officer", "other_agency", Role.AGENCY_OFFICER),
        "outsider_patient": UserFactory(
            username="outsider_patient", insured_person=outsider_person, roles=[Role.PATIENT]
        ),
    }


def _draft(physician_user, person, drug, pharmacy) -> Application:
    application = eligibility_services.application_create(
        actor=physician_user,
        patient_id_number=person.id_number,
        drug_id=drug.pk,
        diagnosis_code="C34.100x004",
        diagnosis_name="右肺上叶恶性肿瘤",
        pharmacy_id=pharmacy.pk,
    )
    eligibility_services.application_answer(
        actor=physician_user, application_id=application.pk, answers={"advanced": True}
    )
    eligibility_services.application_set_plan(
        actor=physician_user, application_id=application.pk, **PLAN
    )
    return application


def _cold_chain_dispensing(users, places, patient, n: int):
    """A routed chronic-disease prescription of a cold-chain drug of its own (no refill
    interval applies), dispensed to go by cold chain to the hospital [HB art. 29]."""
    pharmacist = users["pharmacist_user"]
    drug = DrugFactory(generic_name=f"演示冷链注射液{n}", needs_cold_chain=True, is_injectable=True)
    batch = receive_stock(pharmacist, drug, prefix=f"866000{n}", key=f"cold-{n}")[0]
    prescription = rx_services.prescription_issue(
        actor=users["physician_user"],
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
        today=PAGE_WORLD_DAY,
    )
    rx_services.prescription_route(
        actor=users["patient_user"],
        prescription_id=prescription.pk,
        pharmacy_id=places["pharmacy"].pk,
        consent=True,
        today=PAGE_WORLD_DAY,
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
        idempotency_key=f"page-cold-{n}",
        delivery=counter.DeliveryInput(mode=DeliveryMode.COLD_CHAIN_TO_HOSPITAL),
        today=PAGE_WORLD_DAY,
    )


def _online_order(users, pharmacy, prescription):
    """The pharmacy delivers in 江岸区 for 8 yuan; 张伟 saved an address there and reserved a
    routed prescription for pick-up (网订店取) [CX art. 22]."""
    region("420102")
    rx_services.delivery_settings_save(
        actor=users["pharmacist_user"],
        opens_at=time(0, 0),
        closes_at=time(23, 59),
        delivers=True,
        fee=Decimal("8"),
        area_codes=["420102"],
    )
    patient = users["patient_user"]
    ordered = rx_services.prescription_route(
        actor=patient,
        prescription_id=prescription.pk,
        pharmacy_id=pharmacy.pk,
        consent=True,
        today=PAGE_WORLD_DAY,
    )
    address = rx_services.address_add(
        actor=patient,
        region_code="420102",
        detail="中山大道1号",
        recipient_name="张伟",
        recipient_phone="13800000001",
    )
    placed = rx_services.order_place_pickup(
        actor=patient,
        prescription_id=ordered.pk,
        window_start=rx_services.pickup_windows(pharmacy.pk)[0][0],
        today=PAGE_WORLD_DAY,
    )
    return ordered, address, placed


def build_page_world() -> dict:
    places = _institutions()
    zhang = zhang_wei()
    outsider_person = InsuredPersonFactory(name="外人丙", region_code="340102")
    users = _users(places, zhang, outsider_person)
    # the demo HIS is the Wuhan hospital's own system
    settings.HIS_HOSPITALS = [places["hospital"].credit_code]
    load_seed_profiles()
    physician_user, reviewer_user = users["physician_user"], users["reviewer_user"]
    # (the Hefei physician is not designated: a new application of theirs is refused, so the
    # world stays unchanged; their lookups are refused by scope, which never asks)
    designated_physician(physician_user)
    for place in ("pharmacy", "other_pharmacy"):
        designate(places[place])
    PharmacistFactory(user=users["pharmacist_user"], pharmacy=places["pharmacy"], name="店内药师乙")
    PharmacistFactory(user=users["outsider_pharmacist"], pharmacy=places["other_pharmacy"])
    pharmacy = places["pharmacy"]

    # Eligibility: granted for 张伟 (drug A); under review (drug B); a draft for 刘芳 (drug C);
    # 张三 (unknown to the hospital system) waits for materials, one of them uploaded.
    drug, _ = drug_with_criteria(generic_name="塞瑞替尼胶囊")
    eligibility = grant_eligibility(physician_user, reviewer_user, zhang, drug, pharmacy)
    review_drug, _ = drug_with_criteria(generic_name="阿来替尼胶囊")
    under_review = _draft(physician_user, zhang, review_drug, pharmacy)
    eligibility_services.application_submit(
        actor=physician_user, application_id=under_review.pk, today=date(2026, 3, 2)
    )
    draft = _draft(physician_user, liu_fang(), drug, pharmacy)
    zhang_san = InsuredPersonFactory(name="张三")
    waiting = _draft(physician_user, zhang_san, drug, pharmacy)
    eligibility_services.application_submit(
        actor=physician_user, application_id=waiting.pk, today=date(2026, 3, 2)
    )
    uploader = UserFactory(username="zhang_san", insured_person=zhang_san, roles=[Role.PATIENT])
    material = materials.material_upload(
        actor=uploader,
        application_id=waiting.pk,
        kind="pathology",
        filename="外院病理报告.pdf",
        content=PDF,
        today=date(2026, 3, 3),
    )
    # the reviewer has opened it: 核验通过 needs the file read first (issue 12)
    materials.material_open(actor=reviewer_user, material_id=material.pk)
    statuses = dict(
        Application.objects.filter(pk__in=[under_review.pk, waiting.pk, draft.pk]).values_list(
            "pk", "status"
        )
    )
    assert statuses == {
        under_review.pk: ApplicationStatus.UNDER_REVIEW,
        waiting.pk: ApplicationStatus.MATERIALS_REQUESTED,
        draft.pk: ApplicationStatus.DRAFT,
    }

    # Prescriptions: issued, routed to the pharmacy, dispensed and settled, dispensed only.
    stock = receive_stock(users["pharmacist_user"], drug)

    def special(quantity: str = "50"):
        return rx_services.prescription_issue(
            actor=physician_user,
            patient_id_number=zhang.id_number,
            benefit_type=BenefitType.SPECIAL_DRUG,
            eligibility_id=eligibility.pk,
            items=[
                {
                    "drug_id": drug.pk,
                    "quantity": quantity,
                    "unit": "粒",
                    "pack_size": str(PACK),
                    **USAGE,
                    "days": 25,
                }
            ],
            today=PAGE_WORLD_DAY,
        )

    for code in DEMO_REGIONS:
        region(code)
    benefit_rules_load()
    settled_dispensing = _cold_chain_dispensing(users, places, zhang, 1)
    settled = settlement_settle(
        actor=users["pharmacist_user"],
        prescription_id=settled_dispensing.prescription_id,
        idempotency_key="page-settle",
    )
    unsettled = _cold_chain_dispensing(users, places, zhang, 2)
    issued = special()
    routed = rx_services.prescription_route(
        actor=users["patient_user"],
        prescription_id=special().pk,
        pharmacy_id=pharmacy.pk,
        consent=True,
        today=PAGE_WORLD_DAY,
    )
    trace_code = TraceCode.objects.filter(stock_item=stock[0]).order_by("code").first().code
    # half a box: the plan (180) keeps room for the physician's next prescription of 50
    ordered, address, placed = _online_order(users, pharmacy, special(quantity="25"))

    # A failed 2503 filing of the granted eligibility, for the reviewer to send again.
    places["hospital"].platform_code = "H42010200001"  # known to the platform simulator
    places["hospital"].save(update_fields=["platform_code"])
    simulator_fail_next(1, infno="2503")
    filing = filing_submit(
        actor=None,
        subject=eligibility,
        person=zhang,
        institution=places["hospital"],
        input={
            "opsp_dise_code": "C34.100x004",
            "opsp_dise_name": "右肺上叶恶性肿瘤",
            "diag_dr_codg": eligibility.physician.staff_code,
            "diag_dr_name": eligibility.physician.name,
            "begndate": "2026-03-04",
            "enddate": "2026-05-31",
        },
    )
    assert filing.status == "failed"
    Eligibility.objects.filter(pk=eligibility.pk).update(filing=filing)
    notification = (
        Notification.objects.filter(
            Q(recipient=users["patient_user"]) | Q(person=zhang), channel=Channel.IN_APP
        )
        .order_by("pk")
        .first()
    )
    assert notification is not None

    # An inpatient stay of 张伟 and an inpatient filing form waiting for the insurance office's
    # review [AH §2(5) and annex].
    stay = stay_register(
        actor=reviewer_user,
        id_number=zhang.id_number,
        admission_no="ZY-PAGE-1",
        admitted_on=date(2026, 3, 1),
        diagnosis_code="C34.900",
        diagnosis_name="肺恶性肿瘤",
    )
    filing_review = FilingReview.objects.create(stay=stay, document_id=issued.document_id)

    people = [zhang, zhang_san, liu_fang_of(draft)]
    numbers = [
        issued.prescription_no,
        routed.prescription_no,
        ordered.prescription_no,
        placed.order.order_no,
        settled_dispensing.prescription.prescription_no,
        unsettled.prescription.prescription_no,
        under_review.application_no,
        waiting.application_no,
        draft.application_no,
    ]
    return {
        "users": {name: user.pk for name, user in users.items()},
        "patient_id_number": zhang.id_number,
        "review_id": under_review.pk,
        "stay_id": stay.pk,
        "filing_review_id": filing_review.pk,
        "materials_id": waiting.pk,
        "draft_id": draft.pk,
        "material_id": material.pk,
        "drug_id": drug.pk,
        "pharmacy_id": pharmacy.pk,
        "hospital_id": places["hospital"].pk,
        "physician_id": eligibility.physician_id,
        "eligibility_id": eligibility.pk,
        "filing_id": filing.pk,
        "issued_id": issued.pk,
        "routed_id": routed.pk,
        "order_id": placed.order.pk,
        "pickup_code": placed.pickup_code,
        "address_id": address.pk,
        "unsettled_rx_id": unsettled.prescription_id,
        "settled_rx_id": settled_dispensing.prescription_id,
        "settlement_id": settled.pk,
        "notification_id": notification.pk,
        "routed_item_id": routed.items.get().pk,
        "stock_item_id": stock[0].pk,
        "trace_code": trace_code,
        # Private facts whose appearance in an outsider's page is a leak: names and their masked
        # forms, ID numbers and their masked forms, prescription and application numbers.
        "secrets": sorted(
            {
                *(p.name for p in people),
                *(mask_name(p.name) for p in people),
                *(p.id_number for p in people),
                *(mask_id_number(p.id_number) for p in people),
                *numbers,
                places["hospital"].name,
                "店内药师乙",
            }
        ),
    }


def liu_fang_of(application: Application):
    return application.patient
