"""Roles × pages: every page URL of the project (beside the agency console's, whose rows are in
``test_access_matrix``), on the world of ``page_world``.

- anonymous: sent to a login page (or refused), nothing changed;
- an outsider of each role (Hefei physician, reviewer, pharmacist, officer, another patient):
  refused (403/404), or a page without any of the world's private data — names and their
  masked forms, ID numbers and their masked forms, prescription and application numbers — and
  nothing in the database changed;
- each insider role: the roles in ``allowed`` succeed (which proves the request is valid, so a
  refusal is about who asks), the others change nothing;
- a completeness check fails when a page URL is added without a row here (public pages and
  the simulators are declared as such).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from dualchannel.core.canonical import digest, snapshot
from dualchannel.core.locks import mark_several_transactions
from dualchannel.core.models import Job, JobStatus, User
from dualchannel.eligibility import services as eligibility_services
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.tests.factories import PLAN, drug_with_criteria
from dualchannel.payments.models import PaymentOrder
from dualchannel.prescriptions.models import Prescription
from dualchannel.registry.models import InsuredPerson, OutOfAreaFiling, OutOfAreaFilingKind
from dualchannel.registry.tests.factories import region
from dualchannel.simulators.persons import PLATFORM_ONLY
from dualchannel.tests.page_world import (
    INSIDERS,
    OUTSIDERS,
    PAGE_WORLD_DAY,
    PDF,
    build_page_world,
)

pytestmark = pytest.mark.django_db

PHYSICIAN, REVIEWER, PHARMACIST, OFFICER, PATIENT = INSIDERS
FILE = "<pdf>"  # a field sent as an uploaded PDF


@dataclass(frozen=True)
class Page:
    method: str
    name: str  # URL name
    args: tuple[str, ...] = ()  # world keys of the URL arguments
    data: dict[str, Any] = field(default_factory=dict)  # the form (POST) or the query (GET)
    allowed: tuple[str, ...] = ()  # insiders for whom it succeeds
    writes: bool = True  # a POST that changes something when it succeeds
    label: str = ""  # tells two rows of one URL apart

    @property
    def id(self) -> str:
        return " ".join(p for p in (self.method, self.name, self.label) if p)


def counter_form(**extra) -> dict[str, Any]:
    return {
        "certificate_type": "02",
        "certificate_no": "{patient_id_number}",
        "line_count": "1",
        "line-0-item": "{routed_item_id}",
        "line-0-stock_item": "{stock_item_id}",
        "line-0-packages": "1",
        "line-0-codes": "{trace_code}",
        **extra,
    }


PAGES = [
    # Failed and dead background jobs of one's institution, with retry (issue 12, point 8).
    Page("GET", "core-failed-jobs", allowed=(PHYSICIAN, REVIEWER, PHARMACIST, OFFICER)),
    Page("POST", "core-failed-job-retry", ("failed_job_id",), allowed=(PHARMACIST,)),
    # One year's holiday table (officers); only a provincial officer or an admin loads it.
    Page("GET", "core-calendar-year", ("calendar_year",), allowed=(OFFICER,)),
    Page(
        "POST",
        "core-calendar-year",
        ("calendar_year",),
        data={"document_no": "国办发明电", "days": "2027-01-01 休 元旦"},
        allowed=(),
    ),
    # The physician's workbench [DESIGN §5.1]; the HIS launch names the patient.
    Page(
        "GET", "eligibility-doctor", data={"patient": "{patient_id_number}"}, allowed=(PHYSICIAN,)
    ),
    Page("GET", "eligibility-doctor-drugs", data={"drug_q": "塞瑞"}, allowed=(PHYSICIAN,)),
    Page(
        "GET",
        "eligibility-doctor-patient",
        data={"patient_id_number": "{patient_id_number}"},
        allowed=(PHYSICIAN,),
    ),
    # 从医保平台查询 [national 1101]: a person the platform knows and the registry does not.
    Page(
        "POST",
        "eligibility-doctor-patient-platform",
        data={"patient_id_number": PLATFORM_ONLY[0].id_number, "platform_name": "赵敏"},
        allowed=(PHYSICIAN,),
    ),
    Page(
        "POST",
        "eligibility-doctor-create",
        data={
            "patient_id_number": "{patient_id_number}",
            "diagnosis": "C34.100x004|右肺上叶恶性肿瘤",
            "drug_id": "{new_drug_id}",
            "pharmacy_id": "{pharmacy_id}",
        },
        allowed=(PHYSICIAN,),
    ),
    Page("GET", "eligibility-doctor-application", ("draft_id",), allowed=(PHYSICIAN,)),
    Page(
        "POST",
        "eligibility-doctor-answer",
        ("draft_id",),
        {"code": "advanced", "answer": "no"},
        allowed=(PHYSICIAN,),
    ),
    Page(
        "POST",
        "eligibility-doctor-plan",
        ("draft_id",),
        {
            **{k: str(v) for k, v in PLAN.items()},
            "dose": "200mg",
        },
        allowed=(PHYSICIAN,),
    ),
    Page("POST", "eligibility-doctor-submit", ("draft_id",), allowed=(PHYSICIAN,)),
    Page(
        "POST",
        "eligibility-doctor-withdraw",
        ("draft_id",),
        {"reason": "患者要求撤回"},
        allowed=(PHYSICIAN,),
    ),
    # Cross-province filings (异地就医备案), recorded by the enrolment region's officers or the
    # hospital's insurance office [HB art. 40–41, CX art. 17].
    Page("GET", "registry-out-of-area-filings", allowed=(REVIEWER, OFFICER)),
    # the hospital insurance office's own business and open alerts [P §1.2.2]
    Page("GET", "hospital-insurance-office", allowed=(REVIEWER,)),
    Page(
        "POST",
        "registry-out-of-area-filing-create",
        data={
            "person_id_number": "{patient_id_number}",
            "treating_region": "340000",
            "kind": "referral",
            "valid_from": "2026-03-02",
            "valid_to": "2026-06-30",
        },
        allowed=(REVIEWER, OFFICER),
    ),
    Page(
        "POST",
        "registry-out-of-area-filing-cancel",
        ("out_of_area_filing_id",),
        {"reason": "已回参保地居住"},
        allowed=(REVIEWER, OFFICER),
    ),
    # The hospital's physicians: 医保医师 and responsible physicians, the annual assessment
    # [HB art. 14, 42; CX art. 20].
    Page("GET", "registry-hospital-physicians", allowed=(REVIEWER,)),
    Page(
        "POST",
        "registry-hospital-physician-create",
        data={
            "hospital_id": "{hospital_id}",
            "name": "新医保医师",
            "staff_code": "D420102888888",
            "department": "呼吸科",
            "title": "2",
            "practising_certificate_no": "110420188888888",
            "responsible": "0",
        },
        allowed=(REVIEWER,),
    ),
    Page(
        "POST",
        "registry-hospital-physician-assess",
        ("physician_id",),
        {"year": "2025", "result": "failed", "note": "处方点评不合格"},
        allowed=(REVIEWER,),
    ),
    # The hospital insurance office's inpatients: stays, the inpatient filing form's review, the
    # stay's bill [AH §2(5) and annex, CX art. 19].
    Page("GET", "registry-hospital-stays", allowed=(REVIEWER,)),
    Page(
        "POST",
        "registry-hospital-stay-register",
        data={
            "id_number": "{patient_id_number}",
            "admission_no": "ZY-PAGE-NEW",
            "admitted_on": "2026-03-01",
            "diagnosis_code": "C34.900",
            "diagnosis_name": "肺恶性肿瘤",
        },
        allowed=(REVIEWER,),
    ),
    Page(
        "POST",
        "registry-hospital-filing-review-decide",
        ("filing_review_id",),
        {"decision": "approve", "opinion": "同意外购"},
        allowed=(REVIEWER,),
    ),
    Page("GET", "settlement-hospital-stay-bill", ("stay_id",), allowed=(REVIEWER,)),
    Page(
        "POST",
        "settlement-hospital-stay-bill",
        ("stay_id",),
        {"lines": "床位费,600.00,甲", "idempotency_key": "page-stay-bill"},
        allowed=(REVIEWER,),
        label="settle",
    ),
    # The hospital's review desk.
    Page("GET", "eligibility-review", allowed=(REVIEWER,)),
    Page("GET", "eligibility-review-case", ("review_id",), allowed=(REVIEWER,)),
    Page("POST", "eligibility-review-approve", ("review_id",), allowed=(REVIEWER,)),
    Page(
        "POST",
        "eligibility-review-filing-retry",
        ("granted_application_id", "filing_id"),
        allowed=(REVIEWER,),
    ),
    Page(
        "POST",
        "eligibility-review-reject",
        ("review_id",),
        {"reason": "不符合限定支付范围"},
        allowed=(REVIEWER,),
    ),
    Page(
        "POST",
        "eligibility-review-request",
        ("review_id",),
        {"kinds": ["imaging"], "note": "请补充影像报告"},
        allowed=(REVIEWER,),
    ),
    Page(
        "POST",
        "eligibility-review-scan",
        ("materials_id",),
        {"kind": "gene_test", "title": "外院基因检测报告", "issuer": "外院", "file": FILE},
        allowed=(REVIEWER,),
    ),
    # The reviewer opens a piece of evidence in place (the opening is recorded) and its file.
    Page("GET", "eligibility-review-material", ("material_id",), allowed=(REVIEWER,)),
    Page("GET", "eligibility-review-material-file", ("material_id",), allowed=(REVIEWER,)),
    # The physician answers a materials request from the HIS: the world's HIS holds no
    # pathology report for the waiting case, so it is refused in words and nothing is written.
    Page("POST", "eligibility-doctor-pull", ("materials_id",), allowed=()),
    # 复查评估 from a page; the world's eligibility is not one the physician may start now,
    # and completing needs a started one: both refused in words, nothing written.
    Page("GET", "eligibility-doctor-reevaluation", ("eligibility_id",), allowed=(PHYSICIAN,)),
    Page("POST", "eligibility-doctor-reevaluation-start", ("eligibility_id",), allowed=()),
    Page(
        "POST",
        "eligibility-doctor-reevaluation-complete",
        ("eligibility_id",),
        {"result": "continue", "assessment": "病情稳定"},
        allowed=(),
    ),
    # The signed application form: its signer and the hospital's reviewers, nobody else.
    Page("GET", "document-view", ("form_id",), allowed=(PHYSICIAN, REVIEWER)),
    Page("GET", "document-file", ("form_id",), allowed=(PHYSICIAN, REVIEWER)),
    Page(
        "POST",
        "eligibility-review-verify",
        ("material_id",),
        {"verified": "1", "note": "与原件一致"},
        allowed=(REVIEWER,),
    ),
    # The full ID number on request (one audit event each); the physician's is the applicant's.
    Page(
        "POST",
        "eligibility-application-id-number",
        ("review_id",),
        allowed=(PHYSICIAN, REVIEWER),
    ),
    # Prescribing and the hospital's list of prescriptions.
    Page("GET", "prescriptions-doctor-prescribe", ("eligibility_id",), allowed=(PHYSICIAN,)),
    Page(
        "POST",
        "prescriptions-doctor-prescribe",
        ("eligibility_id",),
        {
            "quantity": "50",
            "single_dose": "150",
            "dose_unit": "mg",
            "frequency": "每日两次",
            "route": "口服",
            "days": "25",
            "specification": "150mg*50粒",
            "pack_size": "50",
            "package_unit": "盒",
        },
        allowed=(PHYSICIAN,),
    ),
    Page("GET", "prescriptions-doctor-list", allowed=(PHYSICIAN, REVIEWER)),
    Page(
        "POST",
        "prescriptions-doctor-cancel",
        ("issued_id",),
        {"reason": "患者要求撤销"},
        allowed=(PHYSICIAN,),
    ),
    # The pharmacy: its inbox, the counter (a routed prescription; a guessed number; a walk-in
    # with the patient's ID number), the result, settlement and its reversal.
    Page("GET", "prescriptions-pharmacy-inbox", allowed=(PHARMACIST,)),
    Page("GET", "prescriptions-counter", data={"q": "{routed_no}"}, allowed=(PHARMACIST,)),
    Page("GET", "prescriptions-counter", data={"q": "{issued_no}"}, label="guessed"),
    Page(
        "GET",
        "prescriptions-counter",
        data={"q": "{issued_no}", "patient_id_number": "{patient_id_number}"},
        label="walk-in",
    ),
    Page("GET", "prescriptions-counter-rx", ("routed_id",), allowed=(PHARMACIST,)),
    Page(
        "POST",
        "prescriptions-counter-check",
        ("routed_id",),
        counter_form(),
        allowed=(PHARMACIST,),
        writes=False,
    ),
    Page(
        "POST",
        "prescriptions-counter-dispense",
        ("routed_id",),
        counter_form(idempotency_key="page-dispense", delivery_mode="pickup"),
        allowed=(PHARMACIST,),
    ),
    Page("POST", "prescriptions-counter-id-number", ("routed_id",), allowed=(PHARMACIST,)),
    Page("GET", "prescriptions-counter-result", ("settled_rx_id",), allowed=(PHARMACIST,)),
    Page(
        "POST",
        "settlement-counter-settle",
        ("unsettled_rx_id",),
        {"idempotency_key": "page-settle-1"},
        allowed=(PHARMACIST,),
    ),
    Page(
        "POST",
        "settlement-counter-reverse",
        ("settlement_id",),
        {"reason": "结算类别有误，需重新结算", "idempotency_key": "page-reverse-1"},
        allowed=(PHARMACIST,),
    ),
    # Recovery orders against the institution, read only by its pharmacists or its insurance
    # office [HB art. 21–22]; the agency's own page is in test_access_matrix.
    Page("GET", "institution-recoveries", allowed=(REVIEWER, PHARMACIST)),
    # The second factor: each user's own enrolment and step; a signed-in, verified user is sent
    # on (the world's officer holds a verified session), a wrong code writes nothing.
    Page("GET", "otp-setup", allowed=tuple(INSIDERS)),
    Page("GET", "otp-verify", allowed=tuple(INSIDERS)),
    Page("POST", "otp-verify", data={"code": "000000"}, allowed=tuple(INSIDERS), writes=False),
    # Everyone's own inbox.
    Page("GET", "notification-inbox", allowed=tuple(INSIDERS)),
    Page("POST", "notification-read", ("notification_id",), allowed=(PATIENT,)),
    # The patient's messages in the portal's layout (issue 12, point 6).
    Page("GET", "portal-messages", allowed=(PATIENT,)),
    Page("POST", "portal-message-read", ("notification_id",), allowed=(PATIENT,)),
    # The patient's phone pages.
    Page("GET", "portal-home", allowed=(PATIENT,)),
    # 账号设置 and WeChat binding (issue 14, point 5); the flow: portal/tests/test_wechat.py.
    Page("GET", "portal-account", allowed=(PATIENT,)),
    # Off to WeChat's authorize page: only a state in the caller's own session is written.
    Page("POST", "portal-wechat-bind", allowed=(PATIENT,), writes=False),
    # WeChat's answer without the state this session was given is refused for everyone.
    Page("GET", "portal-wechat-callback", data={"code": "c", "state": "s"}, allowed=()),
    Page("POST", "portal-wechat-unbind", allowed=()),  # the world's patient has no WeChat bound
    Page("GET", "portal-bind", allowed=()),  # bound patients are sent home
    Page(
        "POST",
        "portal-bind",
        data={"id_number": "{patient_id_number}", "name": "张伟"},
        allowed=(),
    ),
    Page("GET", "portal-application", ("review_id",), allowed=(PATIENT,)),
    Page(
        "POST",
        "portal-material-upload",
        ("materials_id",),
        {"kind": "gene_test", "file": FILE},
        allowed=(),  # 张三's application: his account is not one of the fixtures
    ),
    # The pharmacy's own pages [issue 12]: its work queue, the day's settlements, the monthly
    # declaration, its stock with intake, supplier return and stocktake.
    Page("GET", "pharmacy-home", allowed=(PHARMACIST,)),
    Page("GET", "pharmacy-settlements", allowed=(PHARMACIST,)),
    Page("GET", "pharmacy-declaration", allowed=(PHARMACIST,)),
    Page(
        "POST",
        "pharmacy-declaration",
        data={"month": f"{PAGE_WORLD_DAY:%Y-%m}", "action": "prepare"},
        allowed=(PHARMACIST,),
    ),
    Page("GET", "inventory-stock", allowed=(PHARMACIST,)),
    Page("GET", "inventory-stock-receive", allowed=(PHARMACIST,)),
    Page(
        "POST",
        "inventory-stock-receive",
        data={
            "idempotency_key": "page-receive",
            "drug_id": "{drug_id}",
            "batch_no": "PAGE-1",
            "expiry_date": "2028-12-31",
            "retail_price": "100.00",
            "trace_codes": "99900010000000000001",
        },
        allowed=(PHARMACIST,),
    ),
    Page("GET", "inventory-stock-return", ("stock_item_id",), allowed=(PHARMACIST,)),
    Page(
        "POST",
        "inventory-stock-return",
        ("stock_item_id",),
        {"idempotency_key": "page-return", "trace_codes": "{trace_code}", "reason": "近效期"},
        allowed=(PHARMACIST,),
    ),
    Page("GET", "inventory-stock-stocktake", ("stock_item_id",), allowed=(PHARMACIST,)),
    Page(
        "POST",
        "inventory-stock-stocktake",
        ("stock_item_id",),
        {
            "idempotency_key": "page-stocktake",
            "counted_quantity": "0",
            "reason": "盘点",
        },
        allowed=(PHARMACIST,),
    ),
    # 网上订单 [CX art. 22]: the pharmacy's queue, the pick-up code, shipping and hand-over
    # (the world's order is a pick-up: not shipped, so no one ships or confirms it), settings.
    Page("GET", "prescriptions-pharmacy-orders", allowed=(PHARMACIST,)),
    Page(
        "POST",
        "prescriptions-pharmacy-order-code",
        data={"code": "{pickup_code}"},
        allowed=(PHARMACIST,),
    ),
    Page("GET", "prescriptions-pharmacy-order-settings", allowed=(PHARMACIST,)),
    Page(
        "POST",
        "prescriptions-pharmacy-order-settings",
        data={
            "pharmacy_id": "{pharmacy_id}",
            "opens_at": "08:00",
            "closes_at": "20:00",
            "delivers": "1",
            "area": "420102",
        },
        allowed=(PHARMACIST,),
    ),
    Page(
        "POST",
        "prescriptions-pharmacy-order-ship",
        ("order_id",),
        {"carrier": "顺丰速运", "tracking_no": "SF1"},
    ),
    Page("POST", "prescriptions-pharmacy-order-handover", ("order_id",), {"received_by": "张伟"}),
    Page("POST", "prescriptions-pharmacy-order-cancel", ("order_id",), allowed=(PHARMACIST,)),
    Page("GET", "portal-order-new", ("routed_id",), allowed=(PATIENT,)),
    Page(
        "POST",
        "portal-order-new",
        ("routed_id",),
        {"mode": "home_delivery", "address_id": "{address_id}"},
        allowed=(PATIENT,),
    ),
    Page(
        "POST",
        "portal-address-add",
        ("routed_id",),
        {
            "region": "420102",
            "detail": "中山大道2号",
            "recipient_name": "张伟",
            "recipient_phone": "13800000002",
        },
        allowed=(PATIENT,),
    ),
    Page("GET", "portal-order", ("order_id",), allowed=(PATIENT,)),
    Page("POST", "portal-order-cancel", ("order_id",), allowed=(PATIENT,)),
    Page("POST", "portal-order-received", ("order_id",)),
    Page("POST", "portal-order-pay", ("order_id",)),  # a pick-up order: nothing to pay
    # The patient's own filing request [HB art. 7(1)(3)] and the physicians' side of it.
    Page("GET", "portal-filing-new", allowed=(PATIENT,)),
    Page(
        "POST",
        "portal-filing-new",
        data={
            "drug_id": "{filing_drug_id}",
            "hospital_id": "{hospital_id}",
            "kind_0": "pathology",
            "file_0": FILE,
        },
        allowed=(PATIENT,),
    ),
    Page("GET", "portal-filing-request", ("filing_request_id",), allowed=(PATIENT,)),
    Page("POST", "portal-filing-withdraw", ("filing_request_id",), allowed=(PATIENT,)),
    Page("GET", "eligibility-doctor-filing-request", ("filing_request_id",), allowed=(PHYSICIAN,)),
    Page(
        "GET",
        "eligibility-doctor-filing-request",
        ("taken_request_id",),
        allowed=(PHYSICIAN,),
        label="taken",
    ),
    Page(
        "GET", "eligibility-doctor-filing-upload-file", ("filing_upload_id",), allowed=(PHYSICIAN,)
    ),
    Page("POST", "eligibility-doctor-filing-take", ("filing_request_id",), allowed=(PHYSICIAN,)),
    Page(
        "POST",
        "eligibility-doctor-filing-decline",
        ("filing_request_id",),
        {"reason": "本院无该专业科室"},
        allowed=(PHYSICIAN,),
    ),
    Page(
        "POST",
        "eligibility-doctor-filing-complete",
        ("taken_request_id",),
        {"diagnosis": "C34.100x004|右肺上叶恶性肿瘤", "pharmacy_id": "{pharmacy_id}"},
        allowed=(PHYSICIAN,),
    ),
    Page("GET", "portal-prescriptions", allowed=(PATIENT,)),
    Page("GET", "portal-prescription", ("issued_id",), allowed=(PATIENT,)),
    Page(
        "POST",
        "portal-prescription-route",
        ("issued_id",),
        {"pharmacy_id": "{pharmacy_id}", "consent": "1"},
        allowed=(PATIENT,),
    ),
    # Back from the payment provider's cashier (issue 14, point 3): the payer's own order only;
    # the flow: payments/tests/test_services.py.
    Page("GET", "payments-return", ("payment_out_trade_no",), allowed=(PATIENT,)),
]

# Pages anyone may open, and why; the simulators stand in for outside systems.
PUBLIC = {
    "home": "the landing page: links by role, no data",
    "login": "the staff login",
    "logout": "ends the caller's own session",
    "public-query": "public query service [SD §8]",
    "public-query-results": "public query service [SD §8]",
    "public-query-regions": "public query service [SD §8]",
    "complaint-new": "the public complaint form [HB art. 26, CX art. 30]; contact required",
    "complaint-track": "complaint lookup by tracking number + contact: status and reply only",
    "document-verify": "public verification of a signed document by its token (masked)",
    "portal-login": "the patient's phone login",
    "portal-login-code": "sends a login code, throttled per phone",
    "portal-logout": "ends the caller's own session",
    "payments-notify": "the payment provider's callback: no session, verified by its signature",
}
SIMULATOR_PREFIX = "simulators/"
# The agency console: its rows are in test_access_matrix.PAGES (same outsiders and insiders).
AGENCY_PREFIX = "agency-"


# --- the world, built once per module ---------------------------------------------------------


@pytest.fixture(autouse=True)
def wechat_account(settings):
    """An official account is configured, so that the patient's WeChat binding is offered."""
    settings.WECHAT_APP_ID = "wxmatrix000000001"
    settings.WECHAT_APP_SECRET = "matrix-secret"


@pytest.fixture(scope="module")
def matrix_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once per module (and xdist worker) in an outer transaction that is rolled back at
    the end; each test runs in a savepoint of it (as in ``test_access_matrix_eligibility``)."""
    media = tmp_path_factory.mktemp("page-matrix") / "private"
    with (
        pytest.MonkeyPatch.context() as patch,
        override_settings(
            MEDIA_ROOT=media, HIS_ADAPTER="demo", PUBLIC_BASE_URL="https://dc.example.cn"
        ),
    ):
        patch.setattr("django.utils.timezone.localdate", lambda *a, **k: PAGE_WORLD_DAY)
        with django_db_blocker.unblock():
            outer = transaction.atomic()
            outer.__enter__()
            mark_several_transactions()  # core.locks checks each action of the world by itself
            try:
                built = _world()
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


def _world() -> dict:

    world = build_page_world()
    new_drug, _ = drug_with_criteria(generic_name="洛拉替尼片")
    eligibility = Eligibility.objects.get(pk=world["eligibility_id"])
    numbers = dict(
        Prescription.objects.filter(pk__in=[world["issued_id"], world["routed_id"]]).values_list(
            "pk", "prescription_no"
        )
    )
    # A dead background job of the pharmacy (the failed-jobs page, issue 12 point 8).
    failed_job = Job.objects.create(
        kind="tests.page_matrix",
        status=JobStatus.DEAD,
        attempts=1,
        institution_id=world["pharmacy_id"],
        last_error="PermanentJobError: sample",
    )
    return {
        **world,
        "payment_out_trade_no": _payment_order(world).out_trade_no,
        **_filing_requests(world),
        "out_of_area_filing_id": _out_of_area_filing(world).pk,
        "failed_job_id": failed_job.pk,
        "calendar_year": 2027,  # not loaded: provisional
        "new_drug_id": new_drug.pk,
        "granted_application_id": eligibility.application_id,
        "form_id": eligibility.application.application_form_id,
        "issued_no": numbers[world["issued_id"]],
        "routed_no": numbers[world["routed_id"]],
    }


def _payment_order(world: dict) -> PaymentOrder:
    """The world's patient's unpaid order of the personal part (never reached the provider)."""
    return PaymentOrder.objects.create(
        out_trade_no="DC20260101000000PAGEWORLD",
        provider="wechatpay",
        payer_user_id=world["users"][PATIENT],
        amount=Decimal("12.34"),
        subject="双通道药品个人自付部分",
        purpose="tests.page_matrix",
        reference_type="tests.page_matrix",
        reference_id=1,
        idempotency_key="page-world-payment",
        expires_at=timezone.now() + timedelta(days=1),
    )


def _filing_requests(world: dict) -> dict:
    """张伟's own filing requests at the Wuhan hospital [HB art. 7(1)(3)]: one waiting for a
    physician, one taken by the world's physician; a third drug he may still file for."""
    patient = User.objects.get(pk=world["users"]["patient_user"])
    physician = User.objects.get(pk=world["users"]["physician_user"])
    requests = []
    for name in ("达可替尼片", "布格替尼片"):
        drug, _ = drug_with_criteria(generic_name=name)
        requests.append(
            eligibility_services.filing_request_submit(
                actor=patient,
                drug_id=drug.pk,
                hospital_id=world["hospital_id"],
                files=[eligibility_services.PatientFile("pathology", "病理.pdf", PDF)],
            )
        )
    eligibility_services.filing_request_take(actor=physician, request_id=requests[1].pk)
    free_drug, _ = drug_with_criteria(generic_name="恩沙替尼胶囊")
    return {
        "filing_request_id": requests[0].pk,
        "filing_upload_id": requests[0].uploads.get().pk,
        "taken_request_id": requests[1].pk,
        "filing_drug_id": free_drug.pk,
    }


def _out_of_area_filing(world: dict) -> OutOfAreaFiling:
    """张伟's cross-province filing recorded at the Wuhan hospital, to cancel [HB art. 41]."""
    return OutOfAreaFiling.objects.create(
        filing_no="YDBA-PAGE-WORLD",
        person=InsuredPerson.objects.get(id_number=world["patient_id_number"]),
        treating_region=region("340000"),
        kind=OutOfAreaFilingKind.LONG_TERM,
        valid_from=PAGE_WORLD_DAY,
        valid_to=PAGE_WORLD_DAY + timedelta(days=90),
        recorded_by=User.objects.filter(institution_id=world["hospital_id"]).first(),
        recorded_at_institution_id=world["hospital_id"],
    )


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


# --- calling a page ---------------------------------------------------------------------------

# Every row of the project's own apps (the audit ledger included); sessions are Django's.
OWN_APPS = (
    "core",
    "catalog",
    "registry",
    "eligibility",
    "prescriptions",
    "inventory",
    "settlement",
    "monitoring",
    "notifications",
    "integration",
    "documents",
    "portal",
    "analytics",
    "payments",
)


def fingerprint() -> str:
    rows = {}
    for label in OWN_APPS:
        for model in apps.get_app_config(label).get_models():
            rows[model._meta.label] = [snapshot(obj) for obj in model.objects.order_by("pk")]
    return digest(rows)


def fill(value: Any, world: dict) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return str(world[value[1:-1]])
    if isinstance(value, list):
        return [fill(v, world) for v in value]
    return value


def request_page(client, page: Page, world: dict):
    url = reverse(page.name, args=[world[key] for key in page.args])
    data = {key: fill(value, world) for key, value in page.data.items()}
    if page.method == "GET":
        return client.get(url, data)
    if FILE in data.values():
        data = {
            k: SimpleUploadedFile("报告.pdf", PDF, "application/pdf") if v == FILE else v
            for k, v in data.items()
        }
    return client.post(url, data)


def leaked(response, page: Page, world: dict) -> list[str]:
    """The world's private facts in the answer, beyond what the request itself carried."""
    sent = {str(fill(v, world)) for v in page.data.values()}
    text = response.content.decode() + response.get("Location", "")
    return [s for s in world["secrets"] if s and s in text and s not in sent]


def is_login_redirect(response) -> bool:
    location = response.get("Location", "")
    return response.status_code == 302 and (
        location.startswith(reverse("login")) or location.startswith(reverse("portal-login"))
    )


# --- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_anonymous_is_sent_to_login(client, world, page):
    before = fingerprint()

    response = request_page(client, page, world)

    assert is_login_redirect(response) or response.status_code in (401, 403, 404)
    assert not leaked(response, page, world)
    assert fingerprint() == before


@pytest.mark.parametrize("actor", OUTSIDERS)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_outsider_sees_and_changes_nothing(request, client, world, page, actor):
    client.force_login(request.getfixturevalue(actor))
    before = fingerprint()

    response = request_page(client, page, world)

    assert not leaked(response, page, world), response.content.decode()[:500]
    assert response.status_code in (200, 302, 400, 403, 404), response.status_code
    assert fingerprint() == before


@pytest.mark.parametrize("actor", INSIDERS)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_insider_roles(request, client, world, page, actor):
    client.force_login(request.getfixturevalue(actor))
    before = fingerprint()

    response = request_page(client, page, world)

    body = response.content.decode(errors="replace")  # a file (PDF) is bytes
    if actor in page.allowed:
        assert response.status_code in (200, 302), body[:500]
        assert not is_login_redirect(response)
        assert 'role="alert"' not in body, body[:800]
        if page.method == "POST" and page.writes:
            assert fingerprint() != before
    else:
        assert response.status_code in (200, 302, 400, 403, 404), body[:500]
        assert fingerprint() == before


def page_names() -> set[str]:
    """Every named URL outside the API and the admin (the simulators left out)."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern.name

    return {
        name
        for route, name in walk(get_resolver().url_patterns)
        if not route.startswith(("admin/", "api/", SIMULATOR_PREFIX, "static/", "media/"))
    }


def test_every_page_is_in_the_matrix():
    names = page_names()
    covered = {p.name for p in PAGES} | set(PUBLIC)
    agency = {n for n in names if n and n.startswith(AGENCY_PREFIX)}

    assert None not in names, "give every page URL a name"
    assert names - covered - agency == set(), "add these pages to PAGES or PUBLIC"
    assert covered - names == set(), "these rows name pages that no longer exist"
