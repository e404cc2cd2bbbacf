"""Production hardening: CSP on every page, session lifetime, two-factor sign-in for officers and
administrators, staff-only API docs, lockout of one address across usernames."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django_otp.middleware import OTPMiddleware
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from dualchannel.core.models import ApiToken, AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.security import SESSION_SEEN, SESSION_STARTED
from dualchannel.core.tests.factories import PASSWORD, UserFactory, totp_code

pytestmark = pytest.mark.django_db

SRC = Path(__file__).resolve().parents[2]


def _sign_in(client: Client, user) -> object:
    return client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})


# --- Content Security Policy -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts/login/", "/query/", "/portal/login/"])
def test_public_pages_carry_the_csp(client, path):
    response = client.get(path)

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy


def test_signed_in_pages_and_errors_carry_the_csp(client, pharmacist_user, agency_user):
    client.force_login(pharmacist_user)
    assert "script-src 'self'" in client.get("/pharmacy/counter/")["Content-Security-Policy"]
    assert "script-src 'self'" in client.get("/no-such-page/")["Content-Security-Policy"]
    client.force_login(agency_user)
    assert "script-src 'self'" in client.get("/agency/catalog/")["Content-Security-Policy"]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["']""", re.I)
INLINE_STYLE = re.compile(r"""<style\b|\sstyle\s*=\s*["']""", re.I)
EVAL_ATTRIBUTE = re.compile(
    r"""\shx-on[:-]|(hx-vals|hx-headers)\s*=\s*["']\s*(js|javascript):|javascript:""", re.I
)


def test_no_template_has_inline_script_handler_style_or_eval():
    """The CSP allows scripts and styles from our origin only: behaviour lives in static JS."""
    found = []
    for template in SRC.rglob("templates/**/*.html"):
        text = template.read_text(encoding="utf-8")
        for name, pattern in (
            ("inline <script>", INLINE_SCRIPT),
            ("inline event handler", INLINE_HANDLER),
            ("inline style", INLINE_STYLE),
            ("eval-like htmx attribute", EVAL_ATTRIBUTE),
        ):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{template.relative_to(SRC)}:{line}: {name}")

    assert found == []


def test_the_template_scan_recognises_what_it_forbids():
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert not INLINE_SCRIPT.search('<script src="/static/x.js" defer></script>')
    assert INLINE_HANDLER.search('<button onclick="go()">')
    assert INLINE_STYLE.search('<span style="color:red">')
    assert EVAL_ATTRIBUTE.search('<div hx-on:click="x()">')


# --- Session lifetime ------------------------------------------------------------------------


def _age_session(client: Client, *, idle: float = 0, since_login: float = 0) -> None:
    session = client.session
    now = time.time()
    session[SESSION_SEEN] = now - idle
    session[SESSION_STARTED] = now - since_login
    session.save()


def test_an_idle_session_is_signed_out_with_a_message(client, pharmacist_user, settings):
    client.force_login(pharmacist_user)
    assert client.get("/pharmacy/counter/").status_code == 200
    _age_session(client, idle=settings.SESSION_IDLE_MINUTES * 60 + 5)

    response = client.get("/pharmacy/counter/", follow=True)

    assert response.redirect_chain[0][0] == "/accounts/login/?next=/pharmacy/counter/"
    assert "_auth_user_id" not in client.session
    assert "分钟未操作" in response.content.decode()


def test_activity_within_the_idle_limit_keeps_the_session(client, pharmacist_user, settings):
    client.force_login(pharmacist_user)
    _age_session(client, idle=settings.SESSION_IDLE_MINUTES * 60 - 60)

    assert client.get("/pharmacy/counter/").status_code == 200
    assert time.time() - client.session[SESSION_SEEN] < 5  # the activity was recorded


def test_an_active_session_still_ends_after_the_absolute_lifetime(
    client, pharmacist_user, settings
):
    client.force_login(pharmacist_user)
    _age_session(client, idle=10, since_login=settings.SESSION_ABSOLUTE_HOURS * 3600 + 5)

    response = client.get("/pharmacy/counter/", follow=True)

    assert "_auth_user_id" not in client.session
    assert "请重新登录" in response.content.decode()


def test_an_expired_session_gets_401_in_the_error_shape_from_the_api(
    client, pharmacist_user, settings
):
    client.force_login(pharmacist_user)
    assert client.get("/api/v1/auth/me").status_code == 200
    _age_session(client, idle=settings.SESSION_IDLE_MINUTES * 60 + 5)

    response = client.get("/api/v1/auth/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_an_expired_htmx_call_tells_htmx_to_go_to_the_login(client, pharmacist_user, settings):
    client.force_login(pharmacist_user)
    _age_session(client, idle=settings.SESSION_IDLE_MINUTES * 60 + 5)

    response = client.get(
        "/pharmacy/counter/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/pharmacy/counter/",
    )

    assert response["HX-Redirect"] == "/accounts/login/?next=%2Fpharmacy%2Fcounter%2F"


def test_login_starts_the_session_clock(client, pharmacist_user):
    before = time.time()
    _sign_in(client, pharmacist_user)

    assert client.session[SESSION_STARTED] >= before


# --- Two-factor sign-in ----------------------------------------------------------------------


def test_an_officer_without_an_authenticator_is_sent_to_enrolment(client, agency):
    officer = UserFactory(institution=agency, roles=[Role.AGENCY_OFFICER], otp_device=False)

    assert _sign_in(client, officer).status_code == 302
    response = client.get("/agency/catalog/")

    assert response.status_code == 302
    assert response.url == "/accounts/otp/setup/?next=/agency/catalog/"
    # and the API refuses the half-signed-in session
    api = client.get("/api/v1/auth/me")
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "auth.otp_required"


def test_enrolment_shows_a_qr_and_is_confirmed_with_a_code(client, agency):
    officer = UserFactory(institution=agency, roles=[Role.AGENCY_OFFICER], otp_device=False)
    _sign_in(client, officer)

    page = client.get("/accounts/otp/setup/?next=/agency/catalog/")
    again = client.get("/accounts/otp/setup/")
    body = page.content.decode()
    assert 'src="data:image/svg+xml' in body
    device = TOTPDevice.objects.get(user=officer)
    assert not device.confirmed
    assert TOTPDevice.objects.filter(user=officer).count() == 1  # a reload keeps the secret
    assert again.status_code == 200

    wrong = client.post("/accounts/otp/setup/", {"token": "000000"})
    assert "动态口令不正确" in wrong.content.decode()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)  # wait it out
    code = totp_code_of(device)
    response = client.post("/accounts/otp/setup/", {"token": code, "next": "/agency/catalog/"})

    assert response.status_code == 302 and response.url == "/agency/catalog/"
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEvent.objects.filter(action="auth.otp_enrolled", actor=officer).count() == 1
    assert client.get("/agency/catalog/").status_code == 200


def totp_code_of(device: TOTPDevice) -> str:

    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():06d}"


def test_enrolment_is_closed_once_an_authenticator_is_confirmed(client, agency_user):
    _sign_in(client, agency_user)

    response = client.get("/accounts/otp/setup/")

    assert response.status_code == 302 and response.url.startswith("/accounts/otp/")
    assert not TOTPDevice.objects.filter(user=agency_user, confirmed=False).exists()


def test_officer_with_an_authenticator_must_give_the_right_code(client, agency_user):
    _sign_in(client, agency_user)
    assert client.get("/agency/catalog/").url == "/accounts/otp/?next=/agency/catalog/"

    wrong = client.post("/accounts/otp/", {"token": "123456", "next": "/agency/catalog/"})
    assert wrong.status_code == 200
    assert "动态口令不正确" in wrong.content.decode()
    assert client.get("/agency/catalog/").status_code == 302
    # a wrong code throttles further tries; let the throttle pass
    TOTPDevice.objects.filter(user=agency_user).update(throttling_failure_count=0)

    right = client.post(
        "/accounts/otp/", {"token": totp_code(agency_user), "next": "/agency/catalog/"}
    )

    assert right.status_code == 302 and right.url == "/agency/catalog/"
    assert client.get("/agency/catalog/").status_code == 200
    assert client.get("/api/v1/auth/me").status_code == 200


def test_the_next_address_after_the_code_stays_on_this_site(client, agency_user):
    _sign_in(client, agency_user)

    response = client.post(
        "/accounts/otp/", {"token": totp_code(agency_user), "next": "https://evil.example/"}
    )

    assert response.status_code == 302 and response.url == "/"


def test_administrators_need_the_second_factor_for_the_admin_site(client, admin_user):
    _sign_in(client, admin_user)
    assert client.get("/admin/").url == "/accounts/otp/?next=/admin/"

    client.post("/accounts/otp/", {"token": totp_code(admin_user)})

    assert client.get("/admin/").status_code == 200


def test_admin_site_refuses_an_unverified_staff_session_itself(rf, admin_user):

    request = rf.get("/admin/")
    request.user = admin_user
    request.session = SessionStore()
    OTPMiddleware(lambda r: None)._verify_user_sync(request, admin_user)

    assert admin.site.has_permission(request) is False


@pytest.mark.parametrize("fixture", ["pharmacist_user", "physician_user", "reviewer_user"])
def test_other_roles_sign_in_with_the_password_alone(client, request, fixture):
    user = request.getfixturevalue(fixture)

    _sign_in(client, user)

    assert client.get("/api/v1/auth/me").status_code == 200
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_demo_users_are_exempt_only_in_demo_mode(client, agency, settings):
    officer = UserFactory(
        institution=agency, roles=[Role.AGENCY_OFFICER], otp_exempt=True, otp_device=False
    )
    settings.DEMO_MODE = True
    _sign_in(client, officer)
    assert client.get("/agency/catalog/").status_code == 200

    settings.DEMO_MODE = False

    assert client.get("/agency/catalog/").url == "/accounts/otp/setup/?next=/agency/catalog/"


def test_token_endpoint_asks_officers_for_the_code(api_client, agency_user):
    credentials = {"username": agency_user.username, "password": PASSWORD}

    missing = api_client.post_json("/api/v1/auth/token", credentials)
    wrong = api_client.post_json("/api/v1/auth/token", {**credentials, "otp": "000000"})

    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "auth.otp_required"
    assert missing.json()["error"]["fields"] == {"otp": ["必填"]}
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "auth.otp_invalid"
    assert not ApiToken.objects.filter(user=agency_user).exists()


def test_token_endpoint_refuses_an_officer_who_never_enrolled(api_client, agency):
    officer = UserFactory(institution=agency, roles=[Role.AGENCY_OFFICER], otp_device=False)

    response = api_client.post_json(
        "/api/v1/auth/token", {"username": officer.username, "password": PASSWORD, "otp": "1"}
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.otp_not_enrolled"


def test_token_endpoint_needs_no_code_from_a_pharmacist(api_client, pharmacist_user):
    response = api_client.post_json(
        "/api/v1/auth/token", {"username": pharmacist_user.username, "password": PASSWORD}
    )

    assert response.status_code == 200


# --- API docs --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/docs", "/api/v1/openapi.json"])
def test_api_docs_are_for_signed_in_staff_in_production(client, settings, path, admin_user):
    settings.API_DOCS_PUBLIC = False
    pharmacist = UserFactory(roles=[Role.PHARMACIST])

    anonymous = client.get(path)
    client.force_login(pharmacist)
    not_staff = client.get(path)
    client.force_login(admin_user)
    staff = client.get(path)

    assert anonymous.status_code == 302 and anonymous.url.startswith("/accounts/login/")
    assert not_staff.status_code == 403
    assert not_staff.json()["error"]["code"] == "auth.staff_only"
    assert staff.status_code == 200


def test_api_docs_are_open_in_demo_mode(client, settings):
    settings.API_DOCS_PUBLIC = True

    assert client.get("/api/v1/docs").status_code == 200


def test_api_docs_are_closed_by_default_outside_debug_and_demo():
    assert django_settings.API_DOCS_PUBLIC is (django_settings.DEBUG or django_settings.DEMO_MODE)


# --- Lockout across usernames ----------------------------------------------------------------


def test_one_address_trying_many_usernames_is_locked_out(settings, pharmacist_user):
    settings.AXES_IP_FAILURE_LIMIT = 6
    client = Client()
    for n in range(settings.AXES_IP_FAILURE_LIMIT):
        # each username fails fewer times than the per-username limit
        response = client.post("/accounts/login/", {"username": f"guess{n}", "password": "wrong"})
        assert response.status_code in (200, 429)

    response = client.post(
        "/accounts/login/", {"username": pharmacist_user.username, "password": PASSWORD}
    )

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_failures_from_another_address_do_not_lock_this_one(settings, pharmacist_user):
    settings.AXES_IP_FAILURE_LIMIT = 6
    elsewhere = Client(REMOTE_ADDR="10.0.0.9")
    for n in range(settings.AXES_IP_FAILURE_LIMIT):
        elsewhere.post("/accounts/login/", {"username": f"guess{n}", "password": "wrong"})

    response = Client(REMOTE_ADDR="10.0.0.10").post(
        "/accounts/login/", {"username": pharmacist_user.username, "password": PASSWORD}
    )

    assert response.status_code == 302
