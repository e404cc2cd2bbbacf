"""Roles × endpoints: who may do what, and that an outsider sees and changes nothing.

The world below belongs to Wuhan (agency 420100, hospital and pharmacy in 420102). The outsiders
hold the same roles at a hospital, a pharmacy and an agency of Hefei, plus a patient bound to
another person. For every API operation and agency page:

- each outsider is refused or gets answers without any of the world's private data, and the
  database (every registry and catalogue row, and the audit ledger) is unchanged;
- each insider role either succeeds (the roles listed in ``allowed``) or is refused with
  nothing changed — the successful call proves the request itself is valid, so a refusal is
  about who asks, not about a malformed body;
- a completeness check fails when an operation is added to the API without a row here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone
from PIL import Image

from dualchannel.catalog.models import (
    CriteriaSet,
    RegionalList,
    RegionalListEntry,
    RegionalListKind,
)
from dualchannel.catalog.tests.factories import DrugFactory, PaymentStandardFactory, lung_cancer_set
from dualchannel.complaints.services import Upload, complaint_accept, complaint_submit
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.documents.services import document_sign
from dualchannel.documents.tests.factories import physician_for, treatment_plan_data
from dualchannel.eligibility.models import Application, ApplicationStatus, Eligibility
from dualchannel.inspection.services import spot_check_case_record, spot_check_draw
from dualchannel.inspection.tests.factories import decided_applications
from dualchannel.integration.services.filing import filing_submit
from dualchannel.inventory.services import stock_receive
from dualchannel.inventory.upload import movement_upload_process
from dualchannel.monitoring.services import alert_raise
from dualchannel.registry.models import (
    Designation,
    DesignationStatus,
    EquippedDrug,
    OutOfAreaFiling,
    OutOfAreaFilingKind,
)
from dualchannel.registry.tests.factories import (
    InsuredPersonFactory,
    PharmacistFactory,
    PhysicianFactory,
    load_seed_profiles,
    make_credit_code,
    make_id_number,
    region,
)
from dualchannel.settlement.models import BatchStatus, BudgetLine, SettlementBatch
from dualchannel.settlement.services import claim_submit, violation_record
from dualchannel.settlement.tests.factories import settled_row
from dualchannel.simulators.persons import PLATFORM_ONLY
from dualchannel.simulators.platform import simulator_fail_next
from dualchannel.tests.access_matrix import (
    ELIGIBILITY_MATRIX,
    INSIDERS,
    OUTSIDERS,
    PRESCRIPTION_MATRIX,
    REFUSED,
    call,
    fingerprint,
    op,
)
from dualchannel.tests.page_world import PDF

pytestmark = pytest.mark.django_db

OFFICER = ("agency_user",)
HOSPITAL_STAFF = ("physician_user", "reviewer_user")
REVIEWER = "reviewer_user"
PHARMACIST = "pharmacist_user"
FINDING_SETTLEMENT_NO = "JS2026030299990001"  # the world's settlement an officer finds against

OPS = [
    op(
        "GET",
        "/api/v1/audit/events",
        query={"patient_id_number": "{person_id_number}"},
        allowed=OFFICER,
    ),
    # An eligibility moves with the person's insurance relation within the province [HB art. 50].
    op(
        "POST",
        "/api/v1/eligibility/transfers",
        {"person_id_number": "{person_id_number}", "to_region": "420106"},
        allowed=OFFICER,
    ),
    # Registry: institutions and what they equip.
    op("GET", "/api/v1/registry/institutions", allowed=INSIDERS[:4], list_read=True),
    op(
        "POST",
        "/api/v1/registry/institutions",
        {
            "kind": "pharmacy",
            "name": "新登记药房",
            "credit_code": "{new_credit_code}",
            "region": "420106",
        },
        allowed=OFFICER,
    ),
    op(
        "GET",
        "/api/v1/registry/institutions/{institution_id}",
        allowed=(*HOSPITAL_STAFF, *OFFICER),
        institution_id="hospital_id",
    ),
    op(
        "PATCH",
        "/api/v1/registry/institutions/{institution_id}",
        {"phone": "027-12345678"},
        allowed=OFFICER,
        institution_id="hospital_id",
    ),
    op(
        "GET",
        "/api/v1/registry/institutions/{institution_id}/drugs",
        allowed=(PHARMACIST, *OFFICER),
        institution_id="pharmacy_id",
    ),
    op(
        "POST",
        "/api/v1/registry/institutions/{institution_id}/drugs",
        {"drug_id": "{new_drug_id}"},
        allowed=(PHARMACIST, *OFFICER),
        institution_id="pharmacy_id",
    ),
    op(
        "DELETE",
        "/api/v1/registry/institutions/{institution_id}/drugs/{drug_id}",
        allowed=(PHARMACIST, *OFFICER),
        institution_id="pharmacy_id",
    ),
    # Designations: institutions apply for themselves [DESIGN §5.4]; the agency decides.
    op("GET", "/api/v1/registry/designations", allowed=INSIDERS[:4], list_read=True),
    op(
        "POST",
        "/api/v1/registry/designations",
        {"institution_id": "{pharmacy_id}"},
        allowed=(PHARMACIST, *OFFICER),
    ),
    op(
        "GET", "/api/v1/registry/designations/{designation_id}", allowed=(*HOSPITAL_STAFF, *OFFICER)
    ),
    op(
        "POST",
        "/api/v1/registry/designations/{designation_id}/transitions",
        {"to": "rejected", "reason": "材料不全"},
        allowed=OFFICER,
    ),
    # Physicians are filed by their hospital [DESIGN §5.4].
    op("GET", "/api/v1/registry/physicians", allowed=(*HOSPITAL_STAFF, *OFFICER), list_read=True),
    op(
        "POST",
        "/api/v1/registry/physicians",
        {
            "hospital_id": "{hospital_id}",
            "name": "新医师",
            "staff_code": "D420102999999",
            "department": "血液科",
            "title": 3,
            "practising_certificate_no": "110420199999999",
        },
        allowed=(REVIEWER, *OFFICER),
    ),
    op("GET", "/api/v1/registry/physicians/{physician_id}", allowed=(*HOSPITAL_STAFF, *OFFICER)),
    op(
        "POST",
        "/api/v1/registry/physicians/{physician_id}/assessments",
        {"year": 2026, "result": "passed"},
        allowed=(REVIEWER, *OFFICER),
    ),
    op(
        "POST",
        "/api/v1/registry/physicians/{physician_id}/designations",
        allowed=(REVIEWER, *OFFICER),
    ),
    op("GET", "/api/v1/registry/pharmacists", allowed=(PHARMACIST, *OFFICER), list_read=True),
    op(
        "POST",
        "/api/v1/registry/pharmacists",
        {
            "pharmacy_id": "{pharmacy_id}",
            "name": "新药师",
            "practising_certificate_no": "ZY4201029999",
        },
        allowed=(PHARMACIST, *OFFICER),
    ),
    # Insured persons.
    op("GET", "/api/v1/registry/insured-persons", allowed=OFFICER, list_read=True),
    op(
        "POST",
        "/api/v1/registry/insured-persons",
        {
            "id_number": "{new_id_number}",
            "name": "新参保人",
            "insurance_type": "390",
            "enrolment_region": "420102",
        },
        allowed=OFFICER,
    ),
    op("GET", "/api/v1/registry/insured-persons/{person_id}", allowed=(*OFFICER, "patient_user")),
    op(
        "PATCH",
        "/api/v1/registry/insured-persons/{person_id}",
        {"address": "新地址"},
        allowed=OFFICER,
    ),
    # Cross-province filings (异地就医备案) [HB art. 41]: the enrolment region's officers and the
    # insurance office of a hospital in the person's pooling region.
    op("GET", "/api/v1/registry/out-of-area-filings", allowed=(REVIEWER, *OFFICER), list_read=True),
    op(
        "POST",
        "/api/v1/registry/out-of-area-filings",
        {
            "person_id_number": "{person_id_number}",
            "treating_region": "340000",
            "kind": "referral",
            "valid_from": "2026-03-02",
            "valid_to": "2026-06-30",
        },
        allowed=(REVIEWER, *OFFICER),
    ),
    op(
        "POST",
        "/api/v1/registry/out-of-area-filings/{out_of_area_filing_id}/cancel",
        {"reason": "已回参保地居住"},
        allowed=(REVIEWER, *OFFICER),
        out_of_area_filing_id="out_of_area_filing_id",
    ),
    op(
        "PATCH",
        "/api/v1/registry/profiles/{region_code}",
        {"physician_relaxation_allowed": True},
        allowed=OFFICER,
    ),
    # Wuhan's eligibility criteria: Wuhan's officers only.
    op(
        "POST",
        "/api/v1/catalog/drugs/{drug_id}/criteria-sets",
        query={"region": "{region_code}"},
        allowed=OFFICER,
        drug_id="new_drug_id",
    ),
    op("GET", "/api/v1/catalog/drugs/{drug_id}/criteria-sets", allowed=OFFICER, list_read=True),
    op("GET", "/api/v1/catalog/criteria-sets/{criteria_set_id}", allowed=OFFICER),
    op("PATCH", "/api/v1/catalog/criteria-sets/{criteria_set_id}", {"note": "改"}, allowed=OFFICER),
    op(
        "POST",
        "/api/v1/catalog/criteria-sets/{criteria_set_id}/items",
        {"code": "new-item", "kind": "attestation", "text": "新条件"},
        allowed=OFFICER,
    ),
    op("PATCH", "/api/v1/catalog/criteria-items/{criterion_id}", {"text": "改写"}, allowed=OFFICER),
    op("DELETE", "/api/v1/catalog/criteria-items/{criterion_id}", allowed=OFFICER),
    op(
        "POST",
        "/api/v1/catalog/criteria-sets/{criteria_set_id}/reorder",
        {"codes": "{draft_codes}"},
        allowed=OFFICER,
    ),
    op(
        "POST",
        "/api/v1/catalog/criteria-sets/{criteria_set_id}/publish",
        {"reason": "发布"},
        allowed=OFFICER,
    ),
    # Regional lists [SD §1, CX art. 3, 4, 6]: an officer imports and reads their region's.
    op("GET", "/api/v1/catalog/regional-lists", allowed=OFFICER, list_read=True),
    op("GET", "/api/v1/catalog/regional-lists/{regional_list_id}", allowed=OFFICER),
    op(
        "POST",
        "/api/v1/catalog/regional-lists",
        {
            "region": "{region_code}",
            "kind": "chronic_disease",
            "title": "武汉市2027年门诊慢特病双通道用药",
            "valid_from": "2027-01-01",
            "content": "通用名\n演示新药注射液\n",
            "dry_run": False,
        },
        allowed=OFFICER,
    ),
    # The national catalogue is the same everywhere: only its administrators change it.
    # Confidential standards are national: every agency settles with them [CX art. 10].
    op(
        "GET",
        "/api/v1/catalog/drugs/{drug_id}/payment-standards",
        allowed=OFFICER,
        national=True,
    ),
    op("PATCH", "/api/v1/catalog/drugs/{drug_id}/flags", {"is_injectable": True}),
    op(
        "PUT",
        "/api/v1/catalog/drugs/{drug_id}/national-code",
        {"code": "XL01XEA324A001010104459"},
    ),
    # Filings of the hospital to the national platform.
    op(
        "GET",
        "/api/v1/integration/filings",
        allowed=(*HOSPITAL_STAFF, *OFFICER),
        list_read=True,
    ),
    op("GET", "/api/v1/integration/filings/{filing_id}", allowed=(*HOSPITAL_STAFF, *OFFICER)),
    op(
        "POST",
        "/api/v1/integration/filings/{filing_id}/retry",
        allowed=(REVIEWER, *OFFICER),
    ),
    # An insured person fetched from the platform [national 1101]: hospitals and officers
    # connected to it (the outsiders' institutions are not).
    op(
        "POST",
        "/api/v1/integration/persons/fetch",
        {"id_number": PLATFORM_ONLY[0].id_number, "name": PLATFORM_ONLY[0].name},
        allowed=(*HOSPITAL_STAFF, *OFFICER),
    ),
    # A physician's signed treatment plan: the hospital's staff and the region's officers.
    op("GET", "/api/v1/documents/{document_id}", allowed=(*HOSPITAL_STAFF, *OFFICER)),
    op("GET", "/api/v1/documents/{document_id}/pdf", allowed=(*HOSPITAL_STAFF, *OFFICER)),
    op(
        "PUT",
        "/api/v1/calendar/years/{year}",
        {"document_no": "测试", "days": [{"date": "2027-01-01", "working": False}]},
    ),
    op(
        "PUT",
        "/api/v1/catalog/payment-standards/{standard_id}/amount",
        {"amount": "1234.50"},
    ),
    # Inventory: a pharmacy's own stock [DESIGN §4]; officers read their region's coverage.
    op("GET", "/api/v1/inventory/pharmacies/{pharmacy_id}/stock", allowed=(PHARMACIST,)),
    op(
        "POST",
        "/api/v1/inventory/pharmacies/{pharmacy_id}/receipts",
        {
            "drug_id": "{drug_id}",
            "batch_no": "NEW01",
            "expiry_date": "{future_date}",
            "quantity": 1,
            "trace_codes": ["{new_trace_code}"],
            "retail_price": "99.00",
            "idempotency_key": "matrix-receipt",
        },
        allowed=(PHARMACIST,),
    ),
    op("GET", "/api/v1/inventory/pharmacies/{pharmacy_id}/movements", allowed=(PHARMACIST,)),
    op(
        "GET",
        "/api/v1/inventory/pharmacies/{pharmacy_id}/fefo",
        query={"drug_id": "{drug_id}", "quantity": 1},
        allowed=(PHARMACIST,),
    ),
    op(
        "POST",
        "/api/v1/inventory/stock/{stock_item_id}/supplier-returns",
        {
            "quantity": 1,
            "trace_codes": ["{stock_trace_code}"],
            "reason": "破损",
            "idempotency_key": "matrix-return",
        },
        allowed=(PHARMACIST,),
    ),
    op(
        "POST",
        "/api/v1/inventory/stock/{stock_item_id}/stocktakes",
        {"counted_quantity": 1, "reason": "盘点", "idempotency_key": "matrix-stocktake"},
        allowed=(PHARMACIST,),
    ),
    op("GET", "/api/v1/inventory/movements/{movement_id}", allowed=(PHARMACIST,)),
    op("POST", "/api/v1/inventory/movements/{movement_id}/upload-retry", allowed=(PHARMACIST,)),
    op("GET", "/api/v1/inventory/coverage", allowed=OFFICER, list_read=True),
    # Alerts about Wuhan's pharmacy: Wuhan's officers only.
    op("GET", "/api/v1/monitoring/alerts", allowed=OFFICER, list_read=True),
    # The Shandong monthly table [SD §10], here for Wuhan's city and its county 江岸区.
    op(
        "GET",
        "/api/v1/analytics/sd-monthly",
        query={"region": "420100", "month": "2026-03"},
        allowed=OFFICER,
    ),
    op(
        "POST",
        "/api/v1/analytics/sd-monthly/progress",
        {"county": "420102", "month": "2026-03", "text": "已开通双通道药店"},
        allowed=OFFICER,
    ),
    op(
        "POST",
        "/api/v1/analytics/sd-monthly/submit",
        {"region": "420100", "month": "2026-03"},
        allowed=OFFICER,
    ),
    op(
        "GET",
        "/api/v1/analytics/sd-submissions",
        query={"region": "420000", "month": "2026-03"},
        allowed=OFFICER,
        list_read=True,
    ),
    op(
        "POST",
        "/api/v1/monitoring/alerts/{alert_id}/review",
        {"confirm": True, "note": "已核实"},
        allowed=OFFICER,
    ),
    # Smart-monitoring rules: Wuhan's override is edited by Wuhan's officers only; each officer
    # lists the rules of their own region.
    op("GET", "/api/v1/monitoring/rules", allowed=OFFICER, list_read=True),
    op(
        "PUT",
        "/api/v1/monitoring/rules/{region_code}/{key}",
        {"params": {"working_days": 5}},
        allowed=OFFICER,
        key="rule_key",
    ),
    # Complaints about Wuhan's pharmacy [HB art. 26, CX art. 30]: Wuhan's officers only.
    op("GET", "/api/v1/complaints/", allowed=OFFICER, list_read=True),
    op("GET", "/api/v1/complaints/{complaint_id}", allowed=OFFICER),
    op("POST", "/api/v1/complaints/{complaint_id}/accept", {}, allowed=OFFICER),
    op(
        "POST",
        "/api/v1/complaints/{complaint_id}/reply",
        {"reply": "已核实并督促整改"},
        allowed=OFFICER,
        complaint_id="accepted_complaint_id",
    ),
    op(
        "POST",
        "/api/v1/complaints/{complaint_id}/close",
        {"result": "not_accepted", "reply": "不属于双通道受理范围"},
        allowed=OFFICER,
    ),
]

# Operations that need no row above, and why.
NOT_IN_MATRIX = {
    "POST /api/v1/auth/token": "login itself; lockout tested in core/tests/test_auth.py",
    "DELETE /api/v1/auth/token": "acts on the caller's own token only",
    "GET /api/v1/auth/me": "answers about the caller only",
    "GET /api/v1/catalog/drugs": "public catalogue",
    "GET /api/v1/catalog/drugs/{drug_id}": "public catalogue (confidential amounts hidden)",
    "GET /api/v1/catalog/categories": "public catalogue",
    "POST /api/v1/catalog/criteria-sets/{criteria_set_id}/evaluate": (
        "computes a verdict from the caller's own input; published criteria are public policy"
    ),
    "GET /api/v1/registry/profiles/{region_code}": "published policy numbers (public documents)",
    "GET /api/v1/calendar/working-days": "computes a date from the statutory calendar",
    "GET /api/v1/notifications": "the caller's own inbox only (scoping in notifications tests)",
    "POST /api/v1/notifications/{notification_id}/read": "the caller's own messages; others' 404",
    "GET /api/v1/documents/verify/{token}": "public verification; masked, no ID number",
    "POST /api/v1/documents/verify/{token}/pdf": "public verification of a PDF one holds",
    "POST /api/v1/portal/login-codes": "anonymous phone login, throttled per phone",
    "POST /api/v1/portal/login": "anonymous phone login; a code dies after 5 wrong tries",
    "POST /api/v1/portal/bind": "binds the caller only; identity checks in portal tests",
    "GET /api/v1/portal/me": "the caller's own masked profile only",
    "GET /api/v1/payments/orders/{out_trade_no}": (
        "the payer's own payment order only; others' 404 (payments/tests/test_api.py)"
    ),
    "POST /api/v1/payments/orders/{out_trade_no}/query": (
        "queries the payer's own order only; others' 404 (payments/tests/test_api.py)"
    ),
    "POST /api/v1/eligibility/register-imports/check": (
        "officer's CSV dry run [HB art. 49]; role and region in eligibility test_register_import"
    ),
    "POST /api/v1/eligibility/register-imports": (
        "officer's CSV import [HB art. 49]; role and region in eligibility test_register_import"
    ),
    **{
        f"{method} /api/v1/eligibility/filing-requests{tail}": (
            "the patient's own filing request [HB art. 7(1)(3)]: every role and outsider in "
            "eligibility/tests/test_filing_requests_api.py"
        )
        for method, tail in (
            ("GET", "/options"),
            ("POST", ""),
            ("GET", "/mine"),
            ("GET", "/queue"),
            ("GET", "/{request_id}"),
            ("POST", "/{request_id}/withdraw"),
            ("POST", "/{request_id}/take"),
            ("POST", "/{request_id}/decline"),
            ("POST", "/{request_id}/complete"),
        )
    },
    "GET /api/v1/public/regions": "public query service [SD §8]",
    "GET /api/v1/public/institutions": "public query service [SD §8]",
    "GET /api/v1/public/institutions/{institution_id}": "public query service [SD §8]",
    "GET /api/v1/public/regions/{region_code}/designation": (
        "published designation conditions, process and time limits [HB art. 16]"
    ),
    "POST /api/v1/public/complaints": "the public complaint form [HB art. 26]; contact required",
    "GET /api/v1/public/complaints/{tracking_no}": (
        "public lookup; needs the tracking number and the contact, shows status and reply only"
    ),
}


@pytest.fixture
def world(db, settings, tmp_path, hospital, pharmacy, agency, insured_person, physician_user):
    """Wuhan's private data, as the outsiders must never see or change it."""
    load_seed_profiles()
    region("420106")  # a Wuhan district the person may move to [HB art. 50]
    hospital.has_pathology = True
    hospital.save()
    physician = PhysicianFactory(hospital=hospital, name="院内医师甲")
    settings.MEDIA_ROOT = tmp_path / "private"
    hospital.platform_code = "H42010200001"  # known to the platform simulator
    hospital.save()
    agency.platform_code = "A42010000001"  # the agency's own connection (person query 1101)
    agency.save()
    simulator_fail_next(1, infno="2503")  # a failed filing, so that a retry is possible
    filing = filing_submit(
        actor=None,
        subject=("test", "1"),
        person=insured_person,
        institution=hospital,
        input={
            "opsp_dise_code": "C34.100x004",
            "opsp_dise_name": "肺恶性肿瘤",
            "diag_dr_codg": physician.staff_code,
            "diag_dr_name": physician.name,
            "begndate": "2026-03-02",
            "enddate": "2026-05-31",
        },
    )
    assert filing.status == "failed"
    signer = physician_for(physician_user)
    document = document_sign(
        actor=physician_user,
        signer=signer,
        kind="treatment_plan",
        subject_type="test",
        subject_id="1",
        data=treatment_plan_data(signer.name),
    )
    designation = Designation.objects.create(institution=hospital, status=DesignationStatus.APPLIED)
    PharmacistFactory(pharmacy=pharmacy, name="店内药师乙")
    drug = DrugFactory(generic_name="甲磺酸演示替尼片")
    standard = PaymentStandardFactory(drug=drug, confidential=True)
    EquippedDrug.objects.create(institution=pharmacy, drug=drug)
    # A Wuhan draft of the drug's criteria: Wuhan's officers may edit it, nobody else.
    draft = lung_cancer_set(drug=drug, region=agency.region)
    # the pharmacy's applied monthly batch, for the agency to review [HB art. 33]
    applied_batch = SettlementBatch.objects.create(
        institution=pharmacy,
        month=date(2026, 2, 1),
        budget_line=BudgetLine.HOSPITAL_GLOBAL,
        status=BatchStatus.APPLIED,
    )
    # a settlement for an officer's finding, and another already under a pending recovery
    # order [HB art. 21–22, 31(6)]
    world_officer = UserFactory(
        username="officer_world", institution=agency, roles=[Role.AGENCY_OFFICER]
    )
    settled_row(pharmacy, insured_person, world_officer, settlement_no=FINDING_SETTLEMENT_NO)
    _, (recovery_order,) = violation_record(
        actor=world_officer,
        kind="over_treatment",
        reason="超量配药",
        settlement_ids=[settled_row(pharmacy, insured_person, world_officer).pk],
    )
    item = draft.items.order_by("position").first()
    # a responsible physician the hospital filed, and a manual claim another officer entered
    filed = PhysicianFactory(hospital=hospital, name="备案医师乙")
    physician_round = Designation.objects.create(physician=filed, status=DesignationStatus.APPLIED)
    claim = claim_submit(
        actor=world_officer,
        person_id_number=insured_person.id_number,
        institution_id=pharmacy.pk,
        reason="system_failure",
        category="chronic_disease",
        purchased_on=timezone.localdate(),
        lines=[{"drug_id": drug.pk, "quantity": 1, "unit_price": "100.00"}],
        receipts=[("票据.pdf", PDF)],
    )
    # an eligibility granted in Wuhan, for the officer's revocation for fraud [HB art. 12]
    eligibility = _granted(insured_person, drug, hospital, physician, draft, world_officer)
    # Wuhan's chronic-disease list of 2026 [CX art. 3]: Wuhan's officers read it.
    regional_list = RegionalList.objects.create(
        region=agency.region,
        kind=RegionalListKind.CHRONIC_DISEASE,
        title="武汉市2026年门诊慢特病双通道用药",
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
        source_sha256="0" * 64,
        row_count=1,
    )
    RegionalListEntry.objects.create(
        regional_list=regional_list, drug=drug, valid_from=date(2026, 1, 1), row=1
    )
    # 张三's cross-province filing recorded at the Wuhan hospital, to cancel [HB art. 41]
    out_of_area_filing = OutOfAreaFiling.objects.create(
        filing_no="YDBA-MATRIX",
        person=insured_person,
        treating_region=region("340000"),
        kind=OutOfAreaFilingKind.LONG_TERM,
        valid_from=timezone.localdate(),
        valid_to=timezone.localdate() + timedelta(days=90),
        recorded_by=world_officer,
        recorded_at_institution=hospital,
    )
    return {
        "out_of_area_filing_id": out_of_area_filing.pk,
        "recovery_id": recovery_order.pk,
        "eligibility_id": eligibility.pk,
        "regional_list_id": regional_list.pk,
        "hospital_id": hospital.pk,
        "pharmacy_id": pharmacy.pk,
        "designation_id": designation.pk,
        "physician_id": physician.pk,
        "person_id": insured_person.pk,
        "region_code": agency.region_id,
        "calendar_year": 2027,
        "person_id_number": insured_person.id_number,
        "drug_id": drug.pk,
        "new_drug_id": DrugFactory(generic_name="演示新药注射液").pk,
        "draft_set_id": draft.pk,
        "document_id": document.pk,
        "filing_id": filing.pk,
        "draft_item_id": item.pk,
        "draft_codes": list(draft.items.order_by("-position").values_list("code", flat=True)),
        "standard_id": standard.pk,
        "applied_batch_id": applied_batch.pk,
        "claim_id": claim.pk,
        "receipt_number": 1,
        "physician_designation_id": physician_round.pk,
        **inventory_world(pharmacy, drug),
        **complaint_world(pharmacy, agency),
        **inspection_world(hospital, agency),
        "new_credit_code": make_credit_code("420106", 777),
        # another order number than the world's person's (the factory's serial wraps at 100)
        "new_id_number": make_id_number(
            "420102", insured_person.birth_date, int(insured_person.id_number[14:16]) + 50
        ),
        # Private facts whose appearance in an outsider's answer is a leak.
        "secrets": [
            hospital.name,
            hospital.credit_code,
            pharmacy.name,
            physician.name,
            physician.staff_code,
            "店内药师乙",
            insured_person.name,
            insured_person.id_number,
            insured_person.phone,
            COMPLAINT_TEXT,
        ],
    }


def inventory_world(pharmacy, drug) -> dict:
    """A batch of the pharmacy whose receipt failed to upload, and an open alert about it."""

    pharmacy.platform_code = "P42010200001"  # known to the platform simulator
    pharmacy.traceability_enabled = True
    pharmacy.save()
    drug.national_code = "XL01XEA0000000000000001"
    drug.save()
    clerk = UserFactory(username="stock_clerk", institution=pharmacy, roles=[Role.PHARMACIST])
    future = timezone.localdate() + timedelta(days=365)
    received = stock_receive(
        actor=clerk,
        drug_id=drug.pk,
        batch_no="W2401",
        expiry_date=future,
        quantity=2,
        trace_codes=["81234560000000000001", "81234560000000000002"],
        retail_price="1280.00",
        idempotency_key="world-receipt",
    ).movement
    simulator_fail_next(1, infno="3503")  # a failed upload, so that a retry is possible
    assert movement_upload_process(received.pk).upload_status == "failed"
    alert = alert_raise(
        rule="trace_code_resold",
        severity="high",
        institution=pharmacy,
        subject=("inventory.TraceCode", "1"),
        evidence={"trace_code": "81234560000000000001"},
    )
    return {
        "stock_item_id": received.stock_item_id,
        "movement_id": received.pk,
        "alert_id": alert.pk,
        "city_code": "420100",  # Wuhan's monitoring rules (the region's override)
        "rule_key": "review_overdue",
        "future_date": future.isoformat(),
        "new_trace_code": "81234560000000000099",
        "stock_trace_code": "81234560000000000001",
    }


COMPLAINT_TEXT = "药店以缺货为由拒绝配药"


def complaint_world(pharmacy, agency) -> dict:
    """Two complaints about Wuhan's pharmacy: one received (with a file), one accepted."""
    received = complaint_submit(
        category="refused",
        text=COMPLAINT_TEXT,
        contact_phone="13700001111",
        institution_id=pharmacy.pk,
        attachment=Upload(png(), "照片.png", "image/png"),
    )
    accepted = complaint_submit(
        category="service",
        text="办理时间过长",
        contact_phone="13700002222",
        institution_id=pharmacy.pk,
    )
    officer = UserFactory(
        username="complaint_officer", institution=agency, roles=[Role.AGENCY_OFFICER]
    )
    complaint_accept(actor=officer, complaint_id=accepted.pk)
    return {
        "complaint_id": received.pk,
        "accepted_complaint_id": accepted.pk,
        "action_accept": "accept",
    }


def inspection_world(hospital, agency) -> dict:
    """Two spot checks of the hospital [HB art. 48]: one open, one whose case is checked."""
    officer = UserFactory(
        username="inspecting_officer", institution=agency, roles=[Role.AGENCY_OFFICER]
    )
    decided_applications(hospital, officer, 2)
    today = timezone.localdate()
    start = today - timedelta(days=30)

    def drawn(seed: str):
        return spot_check_draw(
            actor=officer,
            hospital_id=hospital.pk,
            period_from=start,
            period_to=today,
            sample_size=1,
            seed=seed,
        )

    open_check, checked = drawn("world-open"), drawn("world-checked")
    spot_check_case_record(
        actor=officer,
        case_id=checked.cases.get().pk,
        checklist={"materials_complete": True},
        result="compliant",
    )
    return {
        "spot_check_id": open_check.pk,
        "spot_case_id": open_check.cases.get().pk,
        "checked_spot_check_id": checked.pk,
        "period_from": start.isoformat(),
        "period_to": today.isoformat(),
    }


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def outsider_patient(db):
    person = InsuredPersonFactory(name="外人丙", region_code="340102")
    return UserFactory(username="outsider_patient", insured_person=person, roles=[Role.PATIENT])


def assert_refused_without_change(response, before: str) -> None:
    error = response.json().get("error", {})
    # A create naming a region outside the actor's own is a field error about scope.
    scope_field_error = response.status_code == 400 and error.get("code", "").endswith(
        "out_of_scope"
    )
    assert response.status_code in REFUSED or scope_field_error, response.content[:300]
    assert set(response.json()) == {"error"}
    assert fingerprint() == before


@pytest.mark.parametrize("actor", OUTSIDERS)
@pytest.mark.parametrize("case", OPS, ids=lambda c: c.id)
def test_outsider_sees_and_changes_nothing(request, api_client, world, case, actor):
    user = request.getfixturevalue(actor)
    before = fingerprint()

    response = call(api_client, case, world, user)

    if case.national and actor == "outsider_agency":
        assert response.status_code == 200
        assert fingerprint() == before
    elif case.list_read and response.status_code == 200:
        text = response.content.decode()
        assert not [s for s in world["secrets"] if s and s in text]
        assert fingerprint() == before
    else:
        assert_refused_without_change(response, before)


@pytest.mark.parametrize("actor", INSIDERS)
@pytest.mark.parametrize("case", OPS, ids=lambda c: c.id)
def test_insider_roles(request, api_client, world, case, actor):
    user = request.getfixturevalue(actor)
    before = fingerprint()
    before_events = AuditEvent.objects.count()

    response = call(api_client, case, world, user)

    if actor in case.allowed:
        assert 200 <= response.status_code < 300, response.content[:500]
        if case.method != "GET":
            # Every service write records its audit event in the same transaction.
            assert AuditEvent.objects.count() > before_events
    elif case.list_read and response.status_code == 200:
        assert fingerprint() == before
    else:
        assert_refused_without_change(response, before)


@pytest.mark.parametrize("case", OPS, ids=lambda c: c.id)
def test_anonymous_is_refused(api_client, world, case):
    before = fingerprint()

    response = call(api_client, case, world)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert fingerprint() == before


def test_every_api_operation_is_in_the_matrix(settings):
    settings.API_DOCS_PUBLIC = True  # as in DEBUG/DEMO_MODE; staff only otherwise
    schema = Client().get("/api/v1/openapi.json").json()
    operations = {
        f"{method.upper()} {path}" for path, item in schema["paths"].items() for method in item
    }
    covered = (
        {case.id for case in OPS} | set(NOT_IN_MATRIX) | ELIGIBILITY_MATRIX | PRESCRIPTION_MATRIX
    )

    assert operations - covered == set(), "add these operations to OPS or NOT_IN_MATRIX"
    assert covered - operations == set(), "these rows name operations that no longer exist"


# --- pages of the agency console ------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    method: str
    name: str  # URL name
    args: tuple[str, ...] = ()  # world keys for the URL arguments
    data: dict[str, Any] | None = None
    officers_of_other_regions_may_read: bool = False  # the national catalogue
    other_officers_act_in_own_region: bool = False  # e.g. a Hefei officer drafts Hefei criteria

    @property
    def id(self) -> str:
        return f"{self.method} {self.name}"


PAGES = [
    Page("GET", "agency-catalog", officers_of_other_regions_may_read=True),
    Page("GET", "agency-drug", ("drug_id",), officers_of_other_regions_may_read=True),
    Page("POST", "agency-drug-flags", ("drug_id",), {"is_injectable": "1", "special_control": ""}),
    Page("POST", "agency-criteria-new", ("new_drug_id",), other_officers_act_in_own_region=True),
    Page("POST", "agency-criteria-settings", ("draft_set_id",), {"evaluation_cycle_days": "30"}),
    Page(
        "POST",
        "agency-criterion-add",
        ("draft_set_id",),
        {"code": "x", "kind": "attestation", "text": "新条件"},
    ),
    Page("POST", "agency-criteria-publish", ("draft_set_id",), {"reason": "发布"}),
    Page("POST", "agency-criteria-retire", ("draft_set_id",), {"reason": "停用"}),
    Page(
        "POST",
        "agency-criterion-edit",
        ("draft_item_id",),
        {
            "text": "改写",
            "kind": "condition",
            "expression": 'diagnoses.exists(d, d.startsWith("C"))',
        },
    ),
    Page("POST", "agency-criterion-delete", ("draft_item_id",)),
    Page("POST", "agency-criterion-move", ("draft_item_id", "direction_down")),
    Page("POST", "agency-standard-amount", ("standard_id",), {"amount": "10.00"}),
    Page("GET", "agency-regional-lists"),
    Page("GET", "agency-regional-list", ("regional_list_id",)),
    Page(
        "POST",
        "agency-regional-list-import",
        data={
            "region": "420100",
            "kind": "chronic_disease",
            "title": "武汉市2027年门诊慢特病双通道用药",
            "valid_from": "2027-01-01",
            "content": "通用名\n演示新药注射液\n",
            "action": "import",
        },
    ),
    Page("GET", "agency-institutions"),
    # 从医保平台查询 [national 1101]: a person the platform knows and the registry does not.
    Page("GET", "agency-persons"),
    Page(
        "POST",
        "agency-person-fetch",
        data={"id_number": PLATFORM_ONLY[0].id_number, "name": PLATFORM_ONLY[0].name},
    ),
    Page("GET", "agency-coverage"),
    Page("GET", "agency-settlement"),
    Page("POST", "agency-batch-review", ("applied_batch_id",), {"decision": "approve"}),
    # violations and recovery orders [HB art. 21–22, 31(6); CX art. 13]
    Page("GET", "agency-recoveries"),
    Page(
        "POST",
        "agency-finding-record",
        (),
        {"kind": "fake_treatment", "settlements": FINDING_SETTLEMENT_NO, "reason": "虚假诊治"},
    ),
    Page("POST", "agency-recovery-cancel", ("recovery_id",), {"reason": "复核撤销"}),
    # import of the region's existing register [HB art. 49] (the POST: test_register_import)
    Page("GET", "agency-eligibility-import"),
    # transfer with the insurance relation [HB art. 50]
    Page("GET", "agency-eligibility-transfer"),
    Page(
        "POST",
        "agency-eligibility-transfer",
        (),
        {"person_id": "{person_id}", "to_region": "420106"},
    ),
    # revocation for fraud [HB art. 12]
    Page("GET", "agency-revocations"),
    Page(
        "POST",
        "agency-revocation-revoke",
        ("eligibility_id",),
        {"kind": "credential_lending", "reason": "出借医保凭证"},
    ),
    # the officer's work queue and the pages it leads to (issue 12, point 5)
    Page("GET", "agency-home"),
    Page("GET", "agency-batch-detail", ("applied_batch_id",)),
    Page("GET", "agency-claims"),
    Page("GET", "agency-claim", ("claim_id",)),
    Page("GET", "agency-claim-receipt", ("claim_id", "receipt_number")),
    Page("POST", "agency-claim-decide", ("claim_id",), {"decision": "reject", "note": "票据不全"}),
    Page("GET", "agency-alerts"),
    # the Shandong monthly table [SD §10] (Wuhan's officer is a city's officer)
    Page("GET", "agency-sd-monthly"),
    Page(
        "POST",
        "agency-sd-progress",
        (),
        {"county": "420102", "month": "2026-03", "text": "已开通双通道药店"},
    ),
    Page("POST", "agency-sd-submit", (), {"region": "420100", "month": "2026-03"}),
    Page("GET", "agency-sd-monthly-xlsx"),
    Page("GET", "agency-sd-province"),
    Page("GET", "agency-sd-quarterly-xlsx"),
    # the statistics (issue 13 §1): Wuhan's figures for its officer, an outsider's own region
    Page("GET", "agency-statistics"),
    Page("GET", "agency-statistics-xlsx"),
    # inspection and spot checks [SD §9, HB art. 48]
    Page("GET", "agency-inspection"),
    Page("GET", "agency-inspection-institution", ("pharmacy_id",)),
    Page("GET", "agency-inspection-export", ("pharmacy_id",)),
    Page(
        "POST",
        "agency-spot-check-draw",
        (),
        {
            "hospital_id": "{hospital_id}",
            "period_from": "{period_from}",
            "period_to": "{period_to}",
            "sample_size": "1",
            "seed": "matrix",
        },
    ),
    Page("GET", "agency-spot-check", ("spot_check_id",)),
    Page(
        "POST",
        "agency-spot-check-case",
        ("spot_case_id",),
        {"materials_complete": "1", "result": "compliant"},
    ),
    Page("POST", "agency-spot-check-finish", ("checked_spot_check_id",), {"conclusion": "合规"}),
    Page("GET", "agency-complaints"),
    Page("GET", "agency-complaint", ("complaint_id",)),
    Page("GET", "agency-complaint-attachment", ("complaint_id",)),
    Page("POST", "agency-complaint-act", ("complaint_id", "action_accept")),
    Page("POST", "agency-alert-review", ("alert_id",), {"decision": "dismiss", "note": "已核实"}),
    # smart monitoring [HB art. 47, AH §2(8), CX art. 30]: one alert, the region's rules
    Page("GET", "agency-alert", ("alert_id",)),
    Page("GET", "agency-monitoring-rules"),
    Page(
        "POST",
        "agency-monitoring-rule-update",
        ("city_code", "rule_key"),
        {"working_days": "5", "severity": "high", "enabled": "1"},
    ),
    Page("GET", "agency-physicians"),
    Page(
        "POST",
        "agency-physician-file",
        (),
        {
            "hospital_id": "{hospital_id}",
            "name": "备案医师丙",
            "department": "肿瘤科",
            "title": "CHIEF",
            "staff_code": "D420102009901",
            "practising_certificate_no": "110420100009901",
        },
    ),
    Page(
        "POST",
        "agency-physician-decide",
        ("physician_designation_id",),
        {"decision": "reject", "reason": "材料不全"},
    ),
    Page("GET", "agency-institution-detail", ("hospital_id",)),
    Page("POST", "agency-designation-apply", ("pharmacy_id",)),
    Page(
        "POST",
        "agency-designation-transition",
        ("designation_id",),
        {"to": "rejected", "reason": "材料不全"},
    ),
]


def _granted(person, drug, hospital, physician, criteria_set, actor) -> Eligibility:
    application = Application.objects.create(
        application_no="SQ2026030100001",
        patient=person,
        drug=drug,
        diagnosis_code="C34.100x004",
        diagnosis_name="肺恶性肿瘤",
        hospital=hospital,
        physician=physician,
        criteria_set=criteria_set,
        status=ApplicationStatus.APPROVED,
        created_by=actor,
    )
    return Eligibility.objects.create(
        application=application,
        patient=person,
        drug=drug,
        hospital=hospital,
        physician=physician,
        effective_from=date(2026, 3, 1),
        plan_total_quantity=100,
    )


def page_data(page: Page, world: dict) -> dict:
    """The form, a ``"{key}"`` value taken from the world."""
    return {
        k: world[v[1:-1]] if isinstance(v, str) and v[:1] == "{" and v[-1:] == "}" else v
        for k, v in (page.data or {}).items()
    }


def page_url(page: Page, world: dict) -> str:

    values = {**world, "direction_down": "down"}
    return reverse(page.name, args=[values[key] for key in page.args])


@pytest.mark.parametrize("actor", [*OUTSIDERS, *INSIDERS[:3], "patient_user"])
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_agency_pages_refuse_everyone_but_the_regions_officers(request, client, world, page, actor):
    user = request.getfixturevalue(actor)
    client.force_login(user)
    before = fingerprint()
    wuhan_sets = CriteriaSet.objects.count()
    url = page_url(page, world)

    if page.method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, page_data(page, world), HTTP_HX_REQUEST="true")

    # an .xlsx download (the officer's own region's report) is not UTF-8 text
    text = response.content.decode(errors="replace")
    if actor == "outsider_agency" and page.other_officers_act_in_own_region:
        # Hefei's own new draft; Wuhan's sets are untouched.
        created = CriteriaSet.objects.latest("pk")
        assert created.region_id == user.institution.region_id
        assert CriteriaSet.objects.exclude(pk=created.pk).count() == wuhan_sets
        return
    elif actor == "outsider_agency" and page.officers_of_other_regions_may_read:
        assert response.status_code == 200
    elif actor == "outsider_agency" and page.method == "GET":
        # The list page is theirs, with their own region only; details of Wuhan are missing.
        assert response.status_code in (200, 404)
        assert not [s for s in world["secrets"] if s and s in text]
    else:
        # Refused as a page (403/404) or, for htmx, as an error box in the message area.
        assert response.status_code in (403, 404) or 'role="alert"' in text, text[:300]
    assert fingerprint() == before


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_agency_pages_work_for_the_regions_officer(client, world, agency_user, admin_user, page):
    national_write = page.name in ("agency-drug-flags", "agency-standard-amount")
    client.force_login(admin_user if national_write else agency_user)
    before = fingerprint()
    url = page_url(page, world)

    if page.method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, page_data(page, world), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    # a receipt is a PDF: its bytes need not be UTF-8
    assert 'role="alert"' not in response.content.decode(errors="replace")
    if page.method == "POST":
        assert fingerprint() != before


def test_every_agency_page_is_in_the_matrix():

    names = {
        name
        for name in get_resolver().reverse_dict
        if isinstance(name, str) and name.startswith("agency-")
    }

    assert names == {page.name for page in PAGES}
