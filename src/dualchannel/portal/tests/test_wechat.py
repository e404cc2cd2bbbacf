"""Binding a patient's WeChat openid through the official account's web authorisation (issue 14,
point 5), end to end against the bundled WeChat simulator: the browser goes to the simulated
authorize page and back, the server exchanges the code over HTTP (routed into Django)."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from dualchannel.core.errors import Conflict
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.services import user_set_wechat_openid
from dualchannel.core.tests.factories import UserFactory
from dualchannel.portal import wechat
from dualchannel.registry.tests.factories import InsuredPersonFactory
from dualchannel.simulators.models import SimWeChatCode

pytestmark = pytest.mark.django_db

APP_ID = "wxtest0000000001"
SECRET = "test-secret-0123"
SIM = "http://testserver/simulators/wechat"
OTHER_OPENID = "oSim" + "ab" * 12


def _through_django(request: httpx.Request) -> httpx.Response:
    """The server-side GET to sns/oauth2/access_token, answered by the simulator's view."""
    answer = Client().get(request.url.path, dict(request.url.params))
    return httpx.Response(
        answer.status_code, content=answer.content, headers={"Content-Type": answer["Content-Type"]}
    )


@pytest.fixture(autouse=True)
def wx(settings, monkeypatch):
    settings.PUBLIC_BASE_URL = "http://testserver"
    settings.WECHAT_APP_ID = APP_ID
    settings.WECHAT_APP_SECRET = SECRET
    settings.WECHAT_OAUTH_AUTHORIZE_URL = f"{SIM}/connect/oauth2/authorize"
    settings.WECHAT_OAUTH_API_BASE = SIM
    exchanges: list[dict] = []

    def http_client():
        def handler(request):
            exchanges.append(dict(request.url.params))
            return _through_django(request)

        return httpx.Client(transport=httpx.MockTransport(handler))

    monkeypatch.setattr(wechat, "http_client", http_client)
    return exchanges


@pytest.fixture
def patient(client, patient_user):
    client.force_login(patient_user)
    return patient_user


def _to_wechat(client) -> str:
    response = client.post(reverse("portal-wechat-bind"))
    assert response.status_code == 302
    return response.url


def _authorize(client, target: str) -> str:
    """The simulated WeChat authorize page; answers the callback address with code and state."""
    url = urlsplit(target)
    response = client.get(url.path, dict(parse_qsl(url.query)))
    assert response.status_code == 302, response.content
    return response.url


def _callback(client, target: str):
    url = urlsplit(target)
    return client.get(url.path, dict(parse_qsl(url.query)))


def _bind(client):
    return _callback(client, _authorize(client, _to_wechat(client)))


def test_bind_goes_to_wechat_in_its_format_and_records_the_openid(client, patient, wx, caplog):
    target = _to_wechat(client)

    url = urlsplit(target)
    query = parse_qsl(url.query)
    assert target.startswith(f"{SIM}/connect/oauth2/authorize?")
    assert url.fragment == "wechat_redirect"
    assert [key for key, _ in query] == ["appid", "redirect_uri", "response_type", "scope", "state"]
    params = dict(query)
    assert params["appid"] == APP_ID and params["scope"] == "snsapi_base"
    assert params["redirect_uri"] == "http://testserver/portal/account/wechat/callback/"
    assert params["state"] == client.session[wechat.SESSION_KEY]["state"]

    callback = _authorize(client, target)
    back = dict(parse_qsl(urlsplit(callback).query))
    assert back["state"] == params["state"] and back["code"]
    done = _callback(client, callback)

    assert done.status_code == 302 and done.url == reverse("portal-account")
    patient.refresh_from_db()
    assert patient.wechat_openid.startswith("oSim") and len(patient.wechat_openid) == 28
    assert wx == [
        {
            "appid": APP_ID,
            "secret": SECRET,
            "code": back["code"],
            "grant_type": "authorization_code",
        }
    ]
    event = AuditEvent.objects.get(action="portal.wechat_bound")
    assert event.actor_id == patient.pk and patient.wechat_openid not in str(event.summary)
    page = client.get(reverse("portal-account")).content.decode()
    assert "已绑定微信" in page and "解除绑定" in page and "已绑定微信，审核结果" in page
    assert wechat.SESSION_KEY not in client.session  # the state is used up
    assert SECRET not in caplog.text and back["code"] not in caplog.text
    assert patient.wechat_openid not in caplog.text


def test_a_state_that_is_not_the_sessions_is_refused(client, patient):
    callback = _authorize(client, _to_wechat(client))
    forged = callback.replace("state=", "state=0")

    response = _callback(client, forged)

    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-code="portal.wechat_state_invalid"' in html and "绑定请求无效" in html
    patient.refresh_from_db()
    assert patient.wechat_openid == ""
    # The state is used up by the failed try: the genuine answer is refused too.
    assert _callback(client, callback).status_code == 400


def test_an_expired_state_is_refused(client, patient):
    callback = _authorize(client, _to_wechat(client))
    session = client.session
    kept = session[wechat.SESSION_KEY]
    session[wechat.SESSION_KEY] = {**kept, "issued": kept["issued"] - wechat.STATE_TTL_SECONDS - 1}
    session.save()

    response = _callback(client, callback)

    assert response.status_code == 400
    assert "绑定请求已超时" in response.content.decode()
    patient.refresh_from_db()
    assert patient.wechat_openid == ""


def test_a_replayed_callback_is_refused(client, patient):
    callback = _authorize(client, _to_wechat(client))
    assert _callback(client, callback).status_code == 302
    client.post(reverse("portal-wechat-unbind"))

    again = _callback(client, callback)

    assert again.status_code == 400
    assert 'data-code="portal.wechat_state_invalid"' in again.content.decode()
    patient.refresh_from_db()
    assert patient.wechat_openid == ""


def test_a_code_used_twice_is_refused_with_wechats_error_in_chinese(client, patient):
    callback = _authorize(client, _to_wechat(client))
    code = dict(parse_qsl(urlsplit(callback).query))["code"]
    wechat.openid_for_code(code)  # someone else exchanged it first

    response = _callback(client, callback)

    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-code="portal.wechat_error"' in html and "微信授权码已被使用" in html
    assert "40163" not in html and "code been used" not in html
    patient.refresh_from_db()
    assert patient.wechat_openid == ""


def test_wechat_error_json_is_shown_in_chinese(client, patient, monkeypatch):
    callback = _authorize(client, _to_wechat(client))

    def wrong_secret(request):
        # A secret WeChat does not know: {"errcode": 40125, "errmsg": "invalid appsecret"}
        url = request.url.copy_merge_params({"secret": "not-the-accounts"})
        return _through_django(httpx.Request("GET", url))

    monkeypatch.setattr(
        wechat, "http_client", lambda: httpx.Client(transport=httpx.MockTransport(wrong_secret))
    )

    html = _callback(client, callback).content.decode()

    assert "公众号配置有误（AppSecret 无效）" in html and "invalid appsecret" not in html


def test_an_unknown_wechat_error_shows_its_code_in_chinese():
    def answer(request):
        return httpx.Response(
            200, json={"errcode": 45011, "errmsg": "api minute-quota reach limit"}
        )

    with pytest.raises(wechat.DomainError) as refused:
        wechat.openid_for_code("c", http=httpx.Client(transport=httpx.MockTransport(answer)))

    assert refused.value.message == "微信返回错误（错误码 45011），请稍后再试"


def test_wechat_out_of_reach_is_a_bad_gateway():
    def answer(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(wechat.DomainError) as refused:
        wechat.openid_for_code("c", http=httpx.Client(transport=httpx.MockTransport(answer)))

    assert refused.value.status == 502 and "暂时无法连接微信" in refused.value.message


def test_an_openid_bound_to_another_patient_is_refused_and_logged_without_it(
    client, patient, caplog
):
    other = UserFactory(
        username="other_patient",
        insured_person=InsuredPersonFactory(name="李四"),
        roles=[Role.PATIENT],
        wechat_openid=OTHER_OPENID,
    )
    client.cookies["wxsim_openid"] = OTHER_OPENID  # the same WeChat user on this phone

    with caplog.at_level(logging.WARNING, logger="dualchannel.portal"):
        response = _bind(client)

    html = response.content.decode()
    assert response.status_code == 409
    assert 'data-code="portal.wechat_taken"' in html and "该微信已绑定其他患者账号" in html
    patient.refresh_from_db()
    other.refresh_from_db()
    assert patient.wechat_openid == "" and other.wechat_openid == OTHER_OPENID
    logged = [r.getMessage() for r in caplog.records if r.name == "dualchannel.portal"]
    assert logged == ["wechat bind refused: the openid is bound to another patient account"]
    assert not AuditEvent.objects.filter(action="portal.wechat_bound").exists()


def test_unbind_forgets_the_openid_and_is_audited(client, patient):
    _bind(client)

    response = client.post(reverse("portal-wechat-unbind"))

    assert response.status_code == 302 and response.url == reverse("portal-account")
    patient.refresh_from_db()
    assert patient.wechat_openid == ""
    assert AuditEvent.objects.filter(action="portal.wechat_unbound", actor=patient).count() == 1
    page = client.get(reverse("portal-account")).content.decode()
    assert 'id="wechat-bind"' in page and "已解除微信绑定" in page
    again = client.post(reverse("portal-wechat-unbind"))
    assert again.status_code == 400 and "尚未绑定微信" in again.content.decode()


def test_the_same_wechat_can_bind_another_account_after_unbinding(client, patient):
    _bind(client)
    openid = type(patient).objects.get(pk=patient.pk).wechat_openid
    client.post(reverse("portal-wechat-unbind"))
    other = UserFactory(
        username="other_patient",
        insured_person=InsuredPersonFactory(name="李四"),
        roles=[Role.PATIENT],
    )
    client.force_login(other)

    assert _bind(client).status_code == 302
    other.refresh_from_db()
    assert other.wechat_openid == openid


def test_the_account_page_is_a_phone_page_with_the_masked_profile(client, patient):
    page = client.get(reverse("portal-account")).content.decode()

    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert "账号设置" in page and 'id="wechat-bind"' in page and "绑定微信" in page
    assert patient.insured_person.id_number not in page and "****" in page


def test_the_account_pages_policy_lets_the_bind_form_go_to_wechat(client, patient, settings):
    settings.WECHAT_OAUTH_AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"

    header = client.get(reverse("portal-account"))["Content-Security-Policy"]

    policy = dict(part.strip().split(" ", 1) for part in header.split(";"))
    assert policy["form-action"] == "'self' https://open.weixin.qq.com"
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    other = client.get(reverse("portal-messages"))["Content-Security-Policy"]
    assert "weixin" not in other


def test_without_an_official_account_there_is_nothing_to_bind(client, patient, settings):
    settings.WECHAT_APP_ID = ""

    page = client.get(reverse("portal-account")).content.decode()
    refused = client.post(reverse("portal-wechat-bind"))

    assert 'id="wechat-bind"' not in page and "暂未开通微信公众号服务" in page
    assert refused.status_code == 400 and wechat.SESSION_KEY not in client.session


def test_staff_and_strangers_cannot_bind(client, physician_user):
    anonymous = client.get(reverse("portal-wechat-callback"), {"code": "c", "state": "s"})
    client.force_login(physician_user)
    staff = client.post(reverse("portal-wechat-bind"))

    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse("portal-login"))
    assert staff.status_code == 403


# --- the simulator's access_token endpoint, in WeChat's JSON -----------------------------------


def _exchange(client, **params):
    query = {"appid": APP_ID, "secret": SECRET, "grant_type": "authorization_code", **params}
    return client.get("/simulators/wechat/sns/oauth2/access_token", query).json()


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"appid": "wxother"}, 40013),
        ({"secret": "nope"}, 40125),
        ({"grant_type": "client_credential"}, 40002),
        ({"code": "unknown"}, 40029),
    ],
)
def test_the_simulator_answers_wechats_errors(client, params, errcode):
    answer = _exchange(client, **{"code": "x", **params})

    assert answer["errcode"] == errcode and answer["errmsg"] and "openid" not in answer


def test_the_simulators_code_expires_and_is_used_once(client):
    SimWeChatCode.objects.create(code="fresh", app_id=APP_ID, openid=OTHER_OPENID)
    stale = SimWeChatCode.objects.create(code="stale", app_id=APP_ID, openid=OTHER_OPENID)
    SimWeChatCode.objects.filter(pk=stale.pk).update(issued_at=stale.issued_at.replace(year=2020))

    first = _exchange(client, code="fresh")
    second = _exchange(client, code="fresh")

    assert first["openid"] == OTHER_OPENID and first["scope"] == "snsapi_base"
    assert {"access_token", "expires_in", "refresh_token"} <= set(first)
    assert second["errcode"] == 40163
    assert _exchange(client, code="stale")["errcode"] == 42003


def test_the_simulated_authorize_page_returns_only_to_this_site(client):
    query = {"appid": APP_ID, "response_type": "code", "scope": "snsapi_base", "state": "s"}

    away = client.get(
        "/simulators/wechat/connect/oauth2/authorize",
        {**query, "redirect_uri": "https://evil.example/cb"},
    )
    issued_away = SimWeChatCode.objects.count()
    home = client.get(
        "/simulators/wechat/connect/oauth2/authorize",
        {**query, "redirect_uri": "http://testserver/portal/account/wechat/callback/"},
    )

    assert away.status_code == 400 and issued_away == 0
    assert home.status_code == 302 and "code=" in home.url and "state=s" in home.url


def test_the_database_keeps_one_openid_to_one_account(patient_user):
    UserFactory(username="other_patient", roles=[Role.PATIENT], wechat_openid=OTHER_OPENID)
    UserFactory(username="no_wechat", roles=[Role.PATIENT])  # many accounts without one

    with pytest.raises(IntegrityError), transaction.atomic():
        type(patient_user).objects.filter(pk=patient_user.pk).update(wechat_openid=OTHER_OPENID)
    with pytest.raises(Conflict), transaction.atomic():
        user_set_wechat_openid(user_id=patient_user.pk, openid=OTHER_OPENID)
