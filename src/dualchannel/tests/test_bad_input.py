"""No 500 for bad input (issue 9, point 5): every malformed request is refused with a clear
answer — the API's one error shape on /api/, a Chinese page elsewhere — and nothing is written.

The tests without a marker run on SQLite and on PostgreSQL (``./scripts/with-postgres.sh``);
PostgreSQL is where NUL characters and out-of-range integers used to reach the driver.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dualchannel.analytics.models import CountyProgress, MonthlySubmission, SubmissionStatus
from dualchannel.analytics.tests.factories import build_world as sd_build_world
from dualchannel.catalog.services import payment_standard_set_amount
from dualchannel.catalog.tests.factories import DrugFactory, PaymentStandardFactory
from dualchannel.complaints.models import Complaint
from dualchannel.complaints.throttle import CACHE as COMPLAINT_CACHE
from dualchannel.core.errors import DomainError
from dualchannel.core.idempotency import checked_key
from dualchannel.core.models import ApiToken, AuditEvent
from dualchannel.core.money import parse_money
from dualchannel.core.tests import files
from dualchannel.core.tests.files import HTML_AS_PDF, PDF, PNG
from dualchannel.core.uploads import checked_upload
from dualchannel.inventory.models import StockItem, StockMovement
from dualchannel.monitoring.models import MonitoringRule
from dualchannel.monitoring.rules import national_rules_seed
from dualchannel.prescriptions.models import Dispensing
from dualchannel.prescriptions.services import counter
from dualchannel.registry import selectors
from dualchannel.registry.tests.factories import PharmacistFactory
from dualchannel.settlement.models import Settlement
from dualchannel.settlement.services import claims

pytestmark = pytest.mark.django_db

HUGE = "338983658673022763008"  # > 2**64


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


# --- body size --------------------------------------------------------------------------------


def test_a_json_body_of_2_5_mb_answers_413_with_the_error_shape(agency_user, password):
    body = json.dumps(
        {"username": agency_user.username, "password": password, "x": "a" * 2_600_000}
    )

    response = Client().post("/api/v1/auth/token", body, content_type="application/json")

    assert_error_shape(response, 413, "request.too_large")
    assert not ApiToken.objects.exists()


def test_a_20_mb_upload_answers_413_even_without_login():
    body = b"--b\r\nContent-Disposition: form-data; name=file; filename=a.pdf\r\n\r\n"
    body += b"%PDF" + b"0" * (20 * 1024 * 1024) + b"\r\n--b--\r\n"

    response = Client().generic(
        "POST", "/api/v1/documents/verify/abc/pdf", body, "multipart/form-data; boundary=b"
    )

    assert_error_shape(response, 413, "request.too_large")


def test_a_too_large_form_on_a_page_answers_413_with_a_chinese_page():
    response = Client().post(
        "/accounts/login/", {"username": "x" * (3 * 1024 * 1024), "password": "p"}
    )

    assert response.status_code == 413
    assert "提交的内容过大" in response.content.decode()


def test_the_limit_is_configurable(settings, api_client, agency_user):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = api_client.as_user(agency_user).post_json("/api/v1/auth/token", {"x": "a" * 2000})

    assert_error_shape(response, 413, "request.too_large")


def test_a_chunked_body_without_length_is_refused():
    response = Client().generic(
        "POST",
        "/api/v1/auth/token",
        b"",
        "application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    assert_error_shape(response, 411, "request.length_required")


# --- integers beyond 64 bits ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/prescriptions/?eligibility_id={HUGE}",
        f"/api/v1/registry/institutions?offset={HUGE}",
        f"/api/v1/registry/institutions?limit=10&offset={HUGE}",
        f"/api/v1/eligibility/eligibilities/{HUGE}",
        f"/api/v1/settlement/settlements/{HUGE}",
        f"/api/v1/notifications?offset={HUGE}",
    ],
)
def test_an_integer_beyond_64_bits_answers_422(api_client, agency_user, path):
    response = api_client.as_user(agency_user).get(path)

    assert_error_shape(response, 422, "request.number_out_of_range")


def test_an_integer_beyond_64_bits_in_a_json_body_answers_422(api_client, pharmacist_user):
    before = AuditEvent.objects.count()

    response = api_client.as_user(pharmacist_user).post_json(
        f"/api/v1/inventory/pharmacies/{pharmacist_user.institution_id}/receipts",
        {
            "drug_id": int(HUGE),
            "batch_no": "B1",
            "expiry_date": "2030-01-01",
            "quantity": 1,
            "retail_price": "1.00",
            "idempotency_key": "k-1",
        },
    )

    error = assert_error_shape(response, 422, "request.number_out_of_range")
    assert "drug_id" in error["fields"]
    assert AuditEvent.objects.count() == before


# --- multipart without a boundary -------------------------------------------------------------


def test_multipart_without_boundary_answers_400_without_login():
    response = Client().generic(
        "POST", "/api/v1/documents/verify/abc/pdf", b"--x\r\n", "multipart/form-data"
    )

    assert_error_shape(response, 400, "request.malformed_body")


def test_multipart_without_boundary_answers_400_with_a_token(api_client, patient_user):
    response = api_client.as_user(patient_user).generic(
        "POST", "/api/v1/eligibility/applications/1/materials", b"--x\r\n", "multipart/form-data"
    )

    assert_error_shape(response, 400, "request.malformed_body")


def test_multipart_without_boundary_on_a_page_is_a_chinese_400(agency_user, password):
    client = Client()
    client.force_login(agency_user)

    response = client.generic("POST", "/accounts/login/", b"--x\r\n", "multipart/form-data")

    assert response.status_code == 400
    assert "请求内容格式错误" in response.content.decode()


# --- NUL characters ---------------------------------------------------------------------------


def test_nul_in_the_public_drug_search_answers_422():
    response = Client().get("/api/v1/catalog/drugs", {"q": "a\x00b"})

    error = assert_error_shape(response, 422, "request.invalid_character")
    assert "q" in error["fields"]


def test_nul_in_the_token_endpoint_answers_422_and_issues_nothing(agency_user, password):
    response = Client().post(
        "/api/v1/auth/token",
        json.dumps({"username": agency_user.username + "\x00", "password": password}),
        content_type="application/json",
    )

    assert_error_shape(response, 422, "request.invalid_character")
    assert not ApiToken.objects.exists()


def test_nul_in_the_path_answers_422(api_client, agency_user):
    response = Client().get("/api/v1/documents/verify/ab%00cd")

    assert_error_shape(response, 422, "request.invalid_character")


def test_nul_in_a_json_body_answers_422_and_writes_nothing(api_client, agency_user):
    before = AuditEvent.objects.count()

    response = api_client.as_user(agency_user).post_json(
        "/api/v1/registry/insured-persons",
        {"id_number": "110101199003077777", "name": "张\x00三", "phone": "13800000000"},
    )

    assert_error_shape(response, 422, "request.invalid_character")
    assert AuditEvent.objects.count() == before


def test_nul_in_the_login_form_is_a_chinese_page(agency_user):
    response = Client().post("/accounts/login/", {"username": "a\x00", "password": "x"})

    assert response.status_code == 422
    assert "控制字符" in response.content.decode()


# --- tokens in the address --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["token", "access_token", "Authorization"])
def test_a_token_in_the_query_string_is_refused_even_when_valid(agency_user, name):
    _, raw = ApiToken.issue(agency_user)

    response = Client().get("/api/v1/auth/me", {name: raw})

    error = assert_error_shape(response, 400, "auth.token_in_query")
    assert "Authorization" in error["message"]


# --- unexpected exceptions --------------------------------------------------------------------


def test_an_unexpected_exception_is_logged_with_its_traceback_and_no_query(
    api_client, agency_user, monkeypatch, caplog
):

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "institution_list", boom)

    with caplog.at_level(logging.ERROR, logger="dualchannel.api"):
        response = api_client.as_user(agency_user).get(
            "/api/v1/registry/institutions", {"q": "张三"}
        )

    assert_error_shape(response, 500, "internal_error")
    record = next(r for r in caplog.records if r.name == "dualchannel.api")
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert "张三" not in record.getMessage()
    assert "/api/v1/registry/institutions" in record.getMessage()


# --- money: two decimals at most, never rounded ------------------------------------------------


@pytest.mark.parametrize("price", ["1.005", "0.001", "12.345"])
def test_a_stock_receipt_price_with_more_than_two_decimals_is_refused(
    api_client, pharmacist_user, price
):

    drug = DrugFactory()

    response = api_client.as_user(pharmacist_user).post_json(
        f"/api/v1/inventory/pharmacies/{pharmacist_user.institution_id}/receipts",
        {
            "drug_id": drug.pk,
            "batch_no": "B1",
            "expiry_date": "2030-01-01",
            "quantity": 1,
            "retail_price": price,
            "idempotency_key": "po-1",
        },
    )

    error = assert_error_shape(response, 400, "inventory.invalid_field")
    assert error["fields"] == {"retail_price": ["零售价最多两位小数（元，精确到分）"]}
    assert not StockItem.objects.exists() and not StockMovement.objects.exists()


def test_the_money_validator_refuses_rounding_and_keeps_exact_amounts():

    assert parse_money("1.5", field="p", code="c") == Decimal("1.50")
    assert parse_money(Decimal("12.34"), field="p", code="c") == Decimal("12.34")
    for bad in ("1.005", "abc", "NaN", "-1", True, None, "1e20"):
        with pytest.raises(DomainError):
            parse_money(bad, field="p", code="c")
    with pytest.raises(DomainError):
        parse_money("0", field="p", code="c", positive=True)


def test_a_confidential_payment_standard_with_three_decimals_is_refused(admin_user):

    standard = PaymentStandardFactory(amount=None, is_confidential=True)

    with pytest.raises(DomainError) as refused:
        payment_standard_set_amount(
            actor=admin_user, payment_standard_id=standard.pk, amount="100.005"
        )

    assert refused.value.code == "catalog.invalid_amount"
    standard.refresh_from_db()
    assert standard.amount is None


# --- idempotency keys -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "   ", "a b", "键-1", "k" * 81, "-leading", "k\t1"])
def test_a_missing_or_malformed_idempotency_key_is_refused_before_settling(
    api_client, pharmacist_user, key
):

    headers = {"HTTP_IDEMPOTENCY_KEY": key.encode().decode("latin-1")} if key else {}

    response = api_client.as_user(pharmacist_user).post(
        "/api/v1/settlement/prescriptions/1/settle", **headers
    )

    error = assert_error_shape(response, 400, "settlement.key_required")
    assert "幂等键" in error["message"]
    assert not Settlement.objects.exists()


def test_a_malformed_key_is_refused_at_the_counter(pharmacist_user):

    PharmacistFactory(user=pharmacist_user, pharmacy=pharmacist_user.institution)

    with pytest.raises(DomainError) as refused:
        counter.counter_dispense(
            actor=pharmacist_user,
            prescription_id=1,
            identity=counter.Identity("02", "110101199003077777"),
            lines=[],
            idempotency_key="two words",
        )

    assert refused.value.code == "counter.idempotency_key_required"
    assert "格式不正确" in refused.value.message
    assert not Dispensing.objects.exists()


def test_a_malformed_key_is_refused_for_a_stock_receipt(api_client, pharmacist_user):

    response = api_client.as_user(pharmacist_user).post_json(
        f"/api/v1/inventory/pharmacies/{pharmacist_user.institution_id}/receipts",
        {
            "drug_id": DrugFactory().pk,
            "batch_no": "B1",
            "expiry_date": "2030-01-01",
            "quantity": 1,
            "retail_price": "1.00",
            "idempotency_key": "po 1; drop",
        },
    )

    error = assert_error_shape(response, 400, "inventory.invalid_field")
    assert "idempotency_key" in error["fields"]
    assert not StockMovement.objects.exists()


@pytest.mark.parametrize(
    "key", ["k-1", "desk-1-0001", "3f2b8c1e-9d4a-4b8e-a1c2-0f1e2d3c4b5a", "a:b.c_d"]
)
def test_well_formed_keys_are_accepted(key):

    assert checked_key(f" {key} ", code="x") == key


# --- uploads are checked by content -----------------------------------------------------------


def test_a_file_that_starts_with_pdf_but_is_html_is_refused():

    with pytest.raises(DomainError) as refused:
        checked_upload(HTML_AS_PDF, filename="a.pdf", declared_type="application/pdf", code="c")

    assert "不是有效的 PDF" in refused.value.message


@pytest.mark.parametrize(
    ("content", "filename", "declared", "problem"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "a.png", "image/png", "不是有效的 PNG"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 64, "a.jpg", "image/jpeg", "不是有效的 JPEG"),
        ("PDF", "a.pdf", "image/png", "与声明的类型不一致"),
        ("PNG", "photo.pdf", "", "扩展名 .pdf 不一致"),
        ("JPEG", "page.html", "image/jpeg", "扩展名 .html 不一致"),
        (b"GIF89a....", "a.gif", "image/gif", "仅支持"),
    ],
)
def test_uploads_are_checked_by_content_and_declared_type(content, filename, declared, problem):

    content = getattr(files, content) if isinstance(content, str) else content

    with pytest.raises(DomainError) as refused:
        checked_upload(content, filename=filename, declared_type=declared, code="c")

    assert problem in refused.value.message


@pytest.mark.parametrize(
    ("name", "filename", "declared", "mime"),
    [
        ("PDF", "病理报告.PDF", "application/pdf", "application/pdf"),
        ("JPEG", "IMG_0001.jpeg", "image/jpg", "image/jpeg"),
        ("PNG", "scan", "application/octet-stream", "image/png"),
        ("PDF", "报告.2024", "", "application/pdf"),
    ],
)
def test_real_files_with_agreeing_names_are_accepted(name, filename, declared, mime):

    found, _ = checked_upload(
        getattr(files, name), filename=filename, declared_type=declared, code="c"
    )

    assert found == mime


def test_a_claim_receipt_that_is_html_or_mislabelled_is_refused():

    for receipt in (
        ("发票.pdf", HTML_AS_PDF, "application/pdf"),
        ("发票.pdf", PNG, "image/png"),
        ("发票.png", PDF, ""),
    ):
        with pytest.raises(DomainError) as refused:
            claims._receipts([receipt])
        assert refused.value.code == "settlement.receipt_bad_type"
        assert "receipts.0" in refused.value.fields


# --- a form posted from a stale page ----------------------------------------------------------


def test_a_form_posted_after_the_session_expired_says_so_and_writes_nothing(agency_user):
    before = AuditEvent.objects.count()
    client = Client()
    client.cookies["sessionid"] = "expired-session-key-000000000000"

    response = client.post(
        "/agency/catalog/payment-standards/1/amount/",
        {"amount": "1.00"},
        HTTP_REFERER="http://testserver/agency/catalog/",
    )

    assert response.status_code == 401
    page = response.content.decode()
    assert "登录已过期" in page and "本次提交未保存" in page
    assert "/accounts/login/?next=%2Fagency%2Fcatalog%2F" in page
    assert AuditEvent.objects.count() == before


def test_an_htmx_post_after_the_session_expired_gets_the_message_in_place(agency_user):
    client = Client()
    client.cookies["sessionid"] = "expired-session-key-000000000000"

    response = client.post(
        "/agency/catalog/payment-standards/1/amount/", {"amount": "1.00"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#messages"
    assert "登录已过期" in response.content.decode()


def test_a_post_without_any_session_is_still_sent_to_the_login(agency_user):
    response = Client().post("/agency/catalog/payment-standards/1/amount/", {"amount": "1.00"})

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_a_stale_csrf_token_gets_a_chinese_page_and_nothing_written(agency_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agency_user)
    before = AuditEvent.objects.count()

    response = client.post("/agency/catalog/payment-standards/1/amount/", {"amount": "1.00"})

    assert response.status_code == 403
    page = response.content.decode()
    assert "页面已过期" in page and "本次提交未保存" in page
    assert AuditEvent.objects.count() == before


@pytest.mark.postgres
def test_a_number_too_large_for_a_32_bit_column_answers_422_on_postgresql(
    api_client, pharmacist_user
):
    # within 64 bits, so the input check lets it through; PostgreSQL's integer column refuses it

    response = api_client.as_user(pharmacist_user).post_json(
        f"/api/v1/inventory/pharmacies/{pharmacist_user.institution_id}/receipts",
        {
            "drug_id": DrugFactory().pk,
            "batch_no": "B1",
            "expiry_date": "2030-01-01",
            "quantity": 3_000_000_000,
            "retail_price": "1.00",
            "idempotency_key": "po-1",
        },
    )

    assert_error_shape(response, 422, "request.number_out_of_range")
    assert not StockItem.objects.exists()


# --- issue 13: the agency's reports, rules and the public complaint form ----------------------
# A month in the future, a region outside one's scope, progress text over 600 characters, a
# threshold that is negative or not a number, a complaint with no contact: each refused through
# the page and through the API with its code and a Chinese message, and nothing written.


def _page_refusal(client, url: str, data: dict, status: int, code: str, words: str) -> None:
    """The page's form refused both ways: htmx swaps the coded message in; a plain post comes
    back to the page with the message (a 404 shows the refusal itself)."""
    fragment = client.post(url, data, HTTP_HX_REQUEST="true").content.decode()
    assert f'data-code="{code}"' in fragment and words in fragment, fragment[:300]
    plain = client.post(url, data, follow=True)
    assert plain.status_code == (404 if status == 404 else 200)
    assert words in plain.content.decode()


def _sd_nothing_written() -> None:
    assert not CountyProgress.objects.exists()
    assert not MonthlySubmission.objects.exclude(status=SubmissionStatus.PENDING).exists()
    assert not AuditEvent.objects.filter(action__startswith="analytics.").exists()


@pytest.fixture
def sd_officers(db):
    world = sd_build_world()
    return world["lixia_officer"], world["jinan_officer"], world["qingdao_officer"]


FUTURE = (timezone.localdate().replace(day=1) + timedelta(days=40)).strftime("%Y-%m")
LONG_TEXT = "进" * 601


@pytest.mark.parametrize(
    "who, data, status, code, words",
    [
        (
            0,
            {"county": "370102", "month": FUTURE, "text": "进展"},
            400,
            "analytics.future_month",
            "尚未到来",
        ),
        (
            0,
            {"county": "370202", "month": "2026-03", "text": "进展"},
            404,
            "analytics.region_not_found",
            "不在您的管辖范围内",
        ),
        (
            2,
            {"county": "370102", "month": "2026-03", "text": "进展"},
            404,
            "analytics.region_not_found",
            "不在您的管辖范围内",
        ),
        (
            0,
            {"county": "370102", "month": "2026-03", "text": LONG_TEXT},
            400,
            "analytics.progress_too_long",
            "600字以内",
        ),
    ],
)
def test_sd_progress_bad_input_through_page_and_api(
    client, api_client, sd_officers, who, data, status, code, words
):
    actor = sd_officers[who]
    client.force_login(actor)

    _page_refusal(client, reverse("agency-sd-progress"), data, status, code, words)
    api = api_client.as_user(actor).post_json("/api/v1/analytics/sd-monthly/progress", data)

    error = assert_error_shape(api, status, code)
    assert words in error["message"]
    _sd_nothing_written()


@pytest.mark.parametrize(
    "who, data, status, code, words",
    [
        (1, {"region": "370100", "month": FUTURE}, 400, "analytics.future_month", "尚未到来"),
        (
            1,
            {"region": "370200", "month": "2026-03"},
            404,
            "analytics.region_not_found",
            "不在您的管辖范围内",
        ),
    ],
)
def test_sd_submit_bad_input_through_page_and_api(
    client, api_client, sd_officers, who, data, status, code, words
):
    actor = sd_officers[who]
    client.force_login(actor)

    _page_refusal(client, reverse("agency-sd-submit"), data, status, code, words)
    api = api_client.as_user(actor).post_json("/api/v1/analytics/sd-monthly/submit", data)

    assert words in assert_error_shape(api, status, code)["message"]
    _sd_nothing_written()


@pytest.mark.parametrize(
    "query, status, code",
    [
        ({"region": "370100", "month": FUTURE}, 400, "analytics.future_month"),
        ({"region": "370200", "month": "2026-03"}, 404, "analytics.region_not_found"),
        ({"region": "420100", "month": "2026-03"}, 404, "analytics.region_not_found"),
    ],
)
def test_sd_table_reads_refuse_a_future_month_or_a_region_outside_scope(
    client, api_client, sd_officers, query, status, code
):
    jinan = sd_officers[1]
    client.force_login(jinan)

    page = client.get(reverse("agency-sd-monthly"), query)
    api = api_client.as_user(jinan).get("/api/v1/analytics/sd-monthly", query)

    assert page.status_code == status
    assert f"<code>{code}</code>" in page.content.decode()
    assert_error_shape(api, status, code)


@pytest.fixture
def national_rules(db):
    national_rules_seed()


@pytest.mark.parametrize("value", ["-1", "三", "1e400", ""])
def test_a_threshold_negative_or_not_a_number_is_refused_through_page_and_api(
    client, api_client, agency_user, national_rules, value
):
    client.force_login(agency_user)
    url = reverse("agency-monitoring-rule-update", args=["420100", "agent_many_patients"])

    form = {"min_patients": value, "enabled": "1"}
    _page_refusal(client, url, form, 400, "monitoring.invalid_threshold", "当月代购参保人数不少于")
    api = api_client.as_user(agency_user).put_json(
        "/api/v1/monitoring/rules/420100/agent_many_patients",
        {"params": {"min_patients": value}},
    )

    assert_error_shape(api, 400, "monitoring.invalid_threshold")
    assert not MonitoringRule.objects.filter(region_id="420100").exists()
    assert not AuditEvent.objects.filter(action__startswith="monitoring.rule").exists()


def test_a_threshold_of_a_region_outside_scope_is_refused_through_page_and_api(
    client, api_client, agency_user, national_rules
):
    client.force_login(agency_user)
    url = reverse("agency-monitoring-rule-update", args=["340100", "agent_many_patients"])

    page = client.post(url, {"min_patients": "3", "enabled": "1"})
    api = api_client.as_user(agency_user).put_json(
        "/api/v1/monitoring/rules/340100/agent_many_patients", {"params": {"min_patients": 3}}
    )

    assert page.status_code == 404 and "<code>monitoring." in page.content.decode()
    assert assert_error_shape(api, 404)["message"]
    assert not MonitoringRule.objects.exclude(region=None).exists()


def test_a_complaint_without_contact_is_refused_through_page_and_api(client, pharmacy):
    caches[COMPLAINT_CACHE].clear()
    data = {"category": "overpriced", "text": "售价高于支付标准。", "institution": pharmacy.pk}

    page = client.post(reverse("complaint-new"), data)
    assert page.status_code == 400
    assert 'data-code="complaints.contact_required"' in page.content.decode()
    api = client.post(
        "/api/v1/public/complaints",
        {"category": "overpriced", "text": "售价高于支付标准。", "institution_id": pharmacy.pk},
        content_type="application/json",
    )

    assert "联系电话或电子邮箱" in page.content.decode()
    assert (
        "联系电话或电子邮箱"
        in assert_error_shape(api, 400, "complaints.contact_required")["message"]
    )
    assert not Complaint.objects.exists()
    caches[COMPLAINT_CACHE].clear()
