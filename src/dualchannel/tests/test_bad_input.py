"""No 500 for bad input (issue 9, point 5): every malformed request is refused with a clear
answer — the API's one error shape on /api/, a Chinese page elsewhere — and nothing is written.

The tests without a marker run on SQLite and on PostgreSQL (``./scripts/with-postgres.sh``);
PostgreSQL is where NUL characters and out-of-range integers used to reach the driver.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from dualchannel.core.models import ApiToken, AuditEvent

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
    body = json.dumps({"username": agency_user.username, "password": password, "x": "a" * 2_600_000})

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
    from dualchannel.registry import selectors

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
