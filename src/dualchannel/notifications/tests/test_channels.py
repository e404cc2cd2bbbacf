"""SMS provider selection and the WeChat client against a local stub of the official API."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from dualchannel.notifications.channels import (
    LogSmsProvider,
    PermanentDeliveryError,
    RetryableDeliveryError,
    WeChatClient,
    get_sms_provider,
)
from dualchannel.notifications.models import WeChatAccessToken

from .conftest import APP_ID, APP_SECRET

pytestmark = pytest.mark.django_db


def _client(stub) -> WeChatClient:
    return WeChatClient(base_url=stub.base_url, app_id=APP_ID, app_secret=APP_SECRET)


def test_log_provider_writes_masked_phone_and_template_only(caplog, settings):
    settings.SMS_PROVIDER = "log"
    provider = get_sms_provider()

    with caplog.at_level(logging.INFO, logger="dualchannel.notifications"):
        message_id = provider.send("13812345678", "DC_APPROVED", {"drug_name": "奥希替尼"})

    assert isinstance(provider, LogSmsProvider)
    assert message_id.startswith("log-")
    [record] = [r for r in caplog.records if r.name == "dualchannel.notifications"]
    assert "138****5678" in record.getMessage() and "DC_APPROVED" in record.getMessage()
    assert "13812345678" not in caplog.text and "奥希替尼" not in caplog.text


def test_log_provider_is_refused_outside_demo_and_tests(settings):
    # the settings decide (read once at start-up), not the environment of the moment
    settings.DEMO_MODE = False
    settings.DEBUG = False
    settings.DUALCHANNEL_TESTING = False

    with pytest.raises(ImproperlyConfigured):
        LogSmsProvider()


def test_log_provider_is_allowed_in_demo_mode(settings):
    settings.DEMO_MODE = True
    settings.DEBUG = False
    settings.DUALCHANNEL_TESTING = False

    assert isinstance(LogSmsProvider(), LogSmsProvider)


def test_unknown_sms_provider_is_a_configuration_error(settings):
    settings.SMS_PROVIDER = "nonexistent"

    with pytest.raises(ImproperlyConfigured):
        get_sms_provider()


def test_wechat_fetches_and_caches_the_token(wechat_stub):
    client = _client(wechat_stub)

    first = client.send_template(
        openid="oUser1", template_id="TPL1", data={"thing1": "奥希替尼"}, url="https://x/n/"
    )
    second = client.send_template(openid="oUser1", template_id="TPL1", data={"thing1": "药"})

    assert first and second
    assert wechat_stub.problems == []
    assert len(wechat_stub.token_requests) == 1  # cached for the second send
    sent = wechat_stub.sends[0]
    assert sent["access_token"] == "TOKEN-1"
    assert sent["body"] == {
        "touser": "oUser1",
        "template_id": "TPL1",
        "url": "https://x/n/",
        "data": {"thing1": {"value": "奥希替尼"}},
    }
    stored = WeChatAccessToken.objects.get(app_id=APP_ID)
    remaining = stored.expires_at - timezone.now()
    assert timedelta(minutes=110) < remaining <= timedelta(minutes=115)  # 7200 s less a margin


def test_wechat_fetches_a_new_token_near_expiry(wechat_stub):
    client = _client(wechat_stub)
    client.access_token()
    WeChatAccessToken.objects.filter(app_id=APP_ID).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert client.access_token() == "TOKEN-2"
    assert len(wechat_stub.token_requests) == 2


def test_wechat_refreshes_an_invalid_token_once_and_retries(wechat_stub):
    client = _client(wechat_stub)
    client.access_token()
    wechat_stub.tokens_issued += 1  # WeChat invalidated TOKEN-1 (another fetch elsewhere)

    msgid = client.send_template(openid="oUser1", template_id="TPL1", data={"thing1": "药"})

    assert msgid
    assert [s["access_token"] for s in wechat_stub.sends] == ["TOKEN-1", "TOKEN-3"]
    assert WeChatAccessToken.objects.get(app_id=APP_ID).token == "TOKEN-3"


def test_wechat_token_expired_errcode_twice_is_retryable(wechat_stub):
    client = _client(wechat_stub)
    wechat_stub.send_errcodes = [42001, 42001]

    with pytest.raises(RetryableDeliveryError) as err:
        client.send_template(openid="oUser1", template_id="TPL1", data={"thing1": "药"})

    assert err.value.code == "wechat.errcode_42001"
    assert len(wechat_stub.token_requests) == 2  # refreshed once, not in a loop


def test_wechat_not_subscribed_is_permanent(wechat_stub):
    client = _client(wechat_stub)
    wechat_stub.send_errcodes = [43004]

    with pytest.raises(PermanentDeliveryError) as err:
        client.send_template(openid="oUser1", template_id="TPL1", data={"thing1": "药"})

    assert err.value.code == "wechat.errcode_43004"


def test_wechat_other_errors_are_retryable(wechat_stub):
    client = _client(wechat_stub)
    wechat_stub.send_errcodes = [45009]  # api freq out of limit

    with pytest.raises(RetryableDeliveryError):
        client.send_template(openid="oUser1", template_id="TPL1", data={"thing1": "药"})


def test_wechat_unreachable_server_is_retryable():
    client = WeChatClient(
        base_url="http://127.0.0.1:9", app_id=APP_ID, app_secret=APP_SECRET, timeout=2
    )

    with pytest.raises(RetryableDeliveryError):
        client.send_template(openid="oUser1", template_id="TPL1", data={"thing1": "药"})


def test_wechat_client_needs_credentials():
    with pytest.raises(ImproperlyConfigured):
        WeChatClient(base_url="http://127.0.0.1", app_id="", app_secret="")
