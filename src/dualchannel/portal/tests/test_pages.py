"""The mobile pages: login with an SMS code, identity binding, the portal home."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dualchannel.core.tests.factories import UserFactory
from dualchannel.portal.models import PhoneLoginCode
from dualchannel.registry.tests.factories import InsuredPersonFactory

from .conftest import CODE

pytestmark = pytest.mark.django_db

PHONE = "13900000001"


@pytest.fixture
def client():
    return Client()


def _log_in(client: Client, phone: str = PHONE):
    client.post(reverse("portal-login-code"), {"phone": phone}, HTTP_HX_REQUEST="true")
    return client.post(reverse("portal-login"), {"phone": phone, "code": CODE})


def test_login_page_is_a_mobile_page_in_chinese(client):
    response = client.get(reverse("portal-login"))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    assert "portal/portal.css" in html
    assert "手机号登录" in html and "获取验证码" in html
    assert 'inputmode="numeric"' in html and 'autocomplete="one-time-code"' in html


def test_code_button_answers_with_the_masked_phone(client, sms, fixed_code):
    response = client.post(reverse("portal-login-code"), {"phone": PHONE}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert "139****0001" in html and PHONE not in html
    assert CODE not in html  # no demo mode: the code went by SMS only
    assert PhoneLoginCode.objects.count() == 1


def test_demo_mode_shows_the_code_on_the_page(client, sms, fixed_code, settings):
    settings.DEMO_MODE = True

    response = client.post(reverse("portal-login-code"), {"phone": PHONE}, HTTP_HX_REQUEST="true")

    assert f"演示模式验证码：<strong>{CODE}</strong>" in response.content.decode()


def test_code_button_shows_a_phone_error(client, sms):
    response = client.post(reverse("portal-login-code"), {"phone": "123"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert 'data-code="portal.invalid_phone"' in html and "11位手机号码" in html


def test_first_login_goes_to_binding(client, sms, fixed_code):
    response = _log_in(client)

    assert response.status_code == 302 and response.url == reverse("portal-bind")
    assert client.get(reverse("portal-bind")).status_code == 200


def test_a_wrong_code_shows_the_page_again(client, sms, fixed_code):
    client.post(reverse("portal-login-code"), {"phone": PHONE}, HTTP_HX_REQUEST="true")

    response = client.post(reverse("portal-login"), {"phone": PHONE, "code": "000000"})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-code="portal.invalid_code"' in html and "还可尝试4次" in html
    assert "_auth_user_id" not in client.session


def test_binding_page_binds_and_leads_home(client, sms, fixed_code):
    person = InsuredPersonFactory(name="张三丰", phone=PHONE)
    _log_in(client)

    response = client.post(
        reverse("portal-bind"), {"id_number": person.id_number, "name": "张三丰"}
    )
    home = client.get(reverse("portal-home"))

    assert response.status_code == 302 and response.url == reverse("portal-home")
    html = home.content.decode()
    assert "您好，张**" in html
    assert person.id_number not in html and "张三丰" not in html
    assert reverse("portal-messages") in html
    assert "我的用药资格申请" in html and "暂无申请" in html


def test_binding_page_shows_a_mismatch(client, sms, fixed_code):
    person = InsuredPersonFactory(name="张三", phone=PHONE)
    _log_in(client)

    response = client.post(reverse("portal-bind"), {"id_number": person.id_number, "name": "李四"})

    assert 'data-code="portal.identity_mismatch"' in response.content.decode()


def test_a_bound_patient_logging_in_goes_home(client, sms, fixed_code, clock):
    person = InsuredPersonFactory(name="张三", phone=PHONE)
    _log_in(client)
    client.post(reverse("portal-bind"), {"id_number": person.id_number, "name": "张三"})
    client.post(reverse("portal-logout"))
    clock.advance(minutes=2)  # past the resend interval

    _log_in(client)
    response = client.get(reverse("portal-login"))

    assert response.status_code == 302 and response.url == reverse("portal-home")


def test_anonymous_visitors_are_sent_to_login(client):
    for name in ("portal-home", "portal-bind"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("portal-login"))


def test_an_unbound_patient_is_sent_to_binding(client, sms, fixed_code):
    _log_in(client)

    response = client.get(reverse("portal-home"))

    assert response.status_code == 302 and response.url == reverse("portal-bind")


def test_a_bound_patient_skips_binding(client, patient_user):
    client.force_login(patient_user)

    response = client.get(reverse("portal-bind"))

    assert response.status_code == 302 and response.url == reverse("portal-home")


def test_staff_are_refused(client, physician_user):
    client.force_login(physician_user)

    assert client.get(reverse("portal-home")).status_code == 403


def test_a_user_without_the_patient_role_is_refused(client):
    user = UserFactory()
    client.force_login(user)

    assert client.get(reverse("portal-home")).status_code == 403
