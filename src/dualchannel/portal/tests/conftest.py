"""Portal fixtures: a recording SMS provider, a fixed code, a controllable clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dualchannel.notifications.channels import RetryableDeliveryError, SmsProvider
from dualchannel.portal import services

CODE = "246813"
SHANGHAI = ZoneInfo("Asia/Shanghai")


class RecordingSmsProvider(SmsProvider):
    """Keeps what would have been sent, for assertions (the class attribute is reset per test)."""

    sent: list[tuple[str, str, dict[str, str]]] = []

    def send(self, phone: str, template_code: str, params: dict[str, str]) -> str:
        self.sent.append((phone, template_code, dict(params)))
        return f"rec-{len(self.sent)}"


class FailingSmsProvider(SmsProvider):
    def send(self, phone: str, template_code: str, params: dict[str, str]) -> str:
        raise RetryableDeliveryError("sms.gateway_busy")


@pytest.fixture
def sms(settings):
    settings.SMS_PROVIDER = f"{__name__}.RecordingSmsProvider"
    RecordingSmsProvider.sent = []
    return RecordingSmsProvider.sent


@pytest.fixture
def fixed_code(monkeypatch):
    monkeypatch.setattr(services, "_new_code", lambda: CODE)
    return CODE


class Clock:
    def __init__(self, monkeypatch, start: datetime) -> None:
        self.now = start
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch):
    # 10:00 in Shanghai, so that a day's worth of resends stays within one local day.
    return Clock(monkeypatch, datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))
