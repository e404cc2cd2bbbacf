"""Login for pages and tokens for the API, with lockout after repeated failures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dualchannel.core.models import ApiToken
from dualchannel.core.tests.factories import totp_code

pytestmark = pytest.mark.django_db


def test_token_is_issued_for_good_credentials_and_only_its_digest_is_stored(
    api_client, agency_user, password
):
    response = api_client.post_json(
        "/api/v1/auth/token",
        {"username": agency_user.username, "password": password, "otp": totp_code(agency_user)},
    )

    assert response.status_code == 200
    raw = response.json()["token"]
    stored = ApiToken.objects.get(user=agency_user)
    assert stored.digest == ApiToken.digest_of(raw)
    assert raw not in stored.digest


def test_token_authenticates_me(api_client, agency_user):
    response = api_client.as_user(agency_user).get("/api/v1/auth/me")

    assert response.status_code == 200
    body = response.json()
    assert body["roles"] == ["agency_officer"]
    assert body["institution_id"] == agency_user.institution_id


def test_wrong_password_has_the_error_shape(api_client, agency_user):
    response = api_client.post_json(
        "/api/v1/auth/token", {"username": agency_user.username, "password": "wrong"}
    )

    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "auth.invalid_credentials", "message": "用户名或密码错误", "fields": {}}
    }


def test_missing_field_is_a_validation_error_naming_the_field(api_client):
    response = api_client.post_json("/api/v1/auth/token", {"username": "x"})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"]["password"] == ["必填"]


def test_api_lockout_after_repeated_failures_even_with_the_right_password(
    api_client, agency_user, password, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api_client.post_json(
            "/api/v1/auth/token", {"username": agency_user.username, "password": "wrong"}
        )

    response = api_client.post_json(
        "/api/v1/auth/token", {"username": agency_user.username, "password": password}
    )

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "auth.locked_out"
    assert not ApiToken.objects.filter(user=agency_user).exists()


def test_page_login_locks_out_after_repeated_failures(agency_user, password, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": agency_user.username, "password": "x"})

    response = client.post(
        "/accounts/login/", {"username": agency_user.username, "password": password}
    )

    assert response.status_code == 429
    assert "账户已临时锁定" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_expired_and_revoked_tokens_are_refused(api_client, agency_user):
    token, raw = ApiToken.issue(agency_user)
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save()
    api_client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    assert api_client.get("/api/v1/auth/me").status_code == 401

    token, raw = ApiToken.issue(agency_user)
    api_client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    assert api_client.delete("/api/v1/auth/token").status_code == 204
    response = api_client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_inactive_user_cannot_use_a_token(api_client, agency_user):
    api_client.as_user(agency_user)
    agency_user.is_active = False
    agency_user.save()

    assert api_client.get("/api/v1/auth/me").status_code == 401


def test_page_login_and_logout(agency_user, password):
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": agency_user.username, "password": password}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(agency_user.pk)

    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session


def test_openapi_schema_is_published(settings):
    settings.API_DOCS_PUBLIC = True  # as in DEBUG/DEMO_MODE; staff only otherwise (test_security)
    response = Client().get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.json()["info"]["version"] == "1"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/api/v1/no-such-endpoint", 404, "not_found"),
        ("put", "/api/v1/catalog/drugs", 405, "method_not_allowed"),
    ],
)
def test_answers_outside_the_handlers_keep_the_error_shape(method, path, status, code):
    response = getattr(Client(), method)(path)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_validation_messages_are_in_chinese(api_client):
    response = api_client.get("/api/v1/catalog/drugs/abc")

    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"drug_id": ["应为整数"]}


def _token(client, user, password: str, forwarded_for: str):
    return client.post(
        "/api/v1/auth/token",
        {"username": user.username, "password": password, "otp": totp_code(user)},
        content_type="application/json",
        REMOTE_ADDR="10.0.0.2",  # the reverse proxy every client comes through
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_behind_a_trusted_proxy_two_clients_are_locked_out_separately(
    agency_user, password, settings
):
    """The lockout counts a client by the address the complaint throttle uses
    (core.client_address, TRUSTED_PROXY_COUNT), not by the proxy's own address."""
    settings.TRUSTED_PROXY_COUNT = 1
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _token(client, agency_user, "wrong", "198.51.100.1")

    locked = _token(client, agency_user, password, "198.51.100.1")
    # the client's own claim left of what the proxy appended changes nothing
    spoofed = _token(client, agency_user, password, "203.0.113.9, 198.51.100.1")
    other = _token(client, agency_user, password, "198.51.100.2")

    assert (locked.status_code, spoofed.status_code, other.status_code) == (429, 429, 200)
    assert locked.json()["error"]["code"] == "auth.locked_out"
    assert ApiToken.objects.filter(user=agency_user).count() == 1  # the other client's only


def test_without_a_trusted_proxy_a_forwarded_for_claim_does_not_escape_the_lockout(
    agency_user, password, settings
):
    settings.TRUSTED_PROXY_COUNT = 0
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        _token(client, agency_user, "wrong", f"198.51.100.{n}")

    response = _token(client, agency_user, password, "198.51.100.99")

    assert response.status_code == 429
    assert not ApiToken.objects.filter(user=agency_user).exists()
