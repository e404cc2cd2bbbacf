"""The portal API for the mobile app."""

from __future__ import annotations

import pytest

from dualchannel.core.models import ApiToken
from dualchannel.core.roles import Role
from dualchannel.portal.models import PatientAccount, PhoneLoginCode
from dualchannel.registry.tests.factories import InsuredPersonFactory

from .conftest import CODE

pytestmark = pytest.mark.django_db

BASE = "/api/v1/portal"


def test_code_request_answers_202_without_the_code(api_client, sms, fixed_code):
    response = api_client.post_json(f"{BASE}/login-codes", {"phone": "13900000001"})

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["demo_code"] is None and body["resend_after_seconds"] == 60
    assert CODE not in response.content.decode()
    assert len(sms) == 1


def test_code_request_shows_the_code_in_demo_mode(api_client, sms, fixed_code, settings):
    settings.DEMO_MODE = True

    response = api_client.post_json(f"{BASE}/login-codes", {"phone": "13900000001"})

    assert response.json()["demo_code"] == CODE


def test_invalid_phone_is_a_field_error(api_client, sms):
    response = api_client.post_json(f"{BASE}/login-codes", {"phone": "12345"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "portal.invalid_phone"
    assert "phone" in response.json()["error"]["fields"]


def test_throttled_request_is_429(api_client, sms):
    api_client.post_json(f"{BASE}/login-codes", {"phone": "13900000001"})

    response = api_client.post_json(f"{BASE}/login-codes", {"phone": "13900000001"})

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "portal.too_many_codes"
    assert PhoneLoginCode.objects.count() == 1


def _login(api_client, phone="13900000001"):
    api_client.post_json(f"{BASE}/login-codes", {"phone": phone})
    return api_client.post_json(f"{BASE}/login", {"phone": phone, "code": CODE})


def test_login_returns_a_token_of_the_patient_user(api_client, sms, fixed_code):
    response = _login(api_client)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["bound"] is False
    token = ApiToken.objects.get(digest=ApiToken.digest_of(body["token"]))
    assert token.user.has_role(Role.PATIENT)
    assert PatientAccount.objects.get().user == token.user


def test_wrong_code_is_refused_without_a_token(api_client, sms, fixed_code):
    api_client.post_json(f"{BASE}/login-codes", {"phone": "13900000001"})

    response = api_client.post_json(f"{BASE}/login", {"phone": "13900000001", "code": "000000"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "portal.invalid_code"
    assert not ApiToken.objects.exists()


def test_bind_then_me_shows_the_person_masked(api_client, sms, fixed_code):
    person = InsuredPersonFactory(name="张三", phone="13900000001")
    token = _login(api_client).json()["token"]
    api_client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    bound = api_client.post_json(f"{BASE}/bind", {"id_number": person.id_number, "name": "张三"})
    me = api_client.get(f"{BASE}/me")

    assert bound.status_code == 200, bound.content
    expected = {
        "bound": True,
        "name": "张*",
        "id_number": f"{person.id_number[:6]}********{person.id_number[-4:]}",
        "phone": "139****0001",
    }
    assert bound.json() == expected
    assert me.json() == expected
    assert person.id_number not in me.content.decode()


def test_bind_mismatch_is_refused(api_client, sms, fixed_code):
    person = InsuredPersonFactory(name="张三", phone="13900000001")
    api_client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {_login(api_client).json()['token']}"

    response = api_client.post_json(f"{BASE}/bind", {"id_number": person.id_number, "name": "李四"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "portal.identity_mismatch"


def test_me_of_an_unbound_patient(api_client, sms, fixed_code):
    api_client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {_login(api_client).json()['token']}"

    response = api_client.get(f"{BASE}/me")

    assert response.json() == {"bound": False, "name": None, "id_number": None, "phone": None}


def test_me_of_the_fixture_patient(api_client, patient_user):
    response = api_client.as_user(patient_user).get(f"{BASE}/me")

    assert response.status_code == 200
    assert response.json()["name"] == "张*"


@pytest.mark.parametrize("path", ["/me", "/bind"])
def test_bind_and_me_need_a_login(api_client, path):
    response = (
        api_client.get(f"{BASE}{path}")
        if path == "/me"
        else api_client.post_json(f"{BASE}{path}", {"id_number": "x", "name": "y"})
    )

    assert response.status_code == 401


def test_staff_may_not_use_the_patient_endpoints(api_client, physician_user):
    response = api_client.as_user(physician_user).get(f"{BASE}/me")

    assert response.status_code == 403
