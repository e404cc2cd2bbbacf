"""Delivery channels: SMS through a provider interface, WeChat official-account template messages.

Every failure is either retryable (the job backs off and tries again) or permanent (the message
cannot reach this person through this channel; retrying would not help).
"""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

from dualchannel.core.masking import mask_phone

from .models import WeChatAccessToken

logger = logging.getLogger("dualchannel.notifications")


class DeliveryError(Exception):
    """A failed send. ``code`` is short and non-personal: it is stored and logged."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class RetryableDeliveryError(DeliveryError):
    """Try again later (network, provider busy, token trouble)."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (the person unsubscribed, the number is invalid)."""


# --- SMS ----------------------------------------------------------------------------------------


class SmsProvider(ABC):
    """An SMS gateway. ``template_code`` is the template's id at the provider."""

    @abstractmethod
    def send(self, phone: str, template_code: str, params: dict[str, str]) -> str:
        """Send; return the provider's message id or raise a ``DeliveryError``."""


def log_provider_allowed() -> bool:
    return bool(settings.DEMO_MODE or settings.DEBUG or settings.DUALCHANNEL_TESTING)


class LogSmsProvider(SmsProvider):
    """Writes one log line instead of sending: for the demo and tests only.

    Refuses to exist elsewhere, so that production never drops SMS silently.
    """

    def __init__(self) -> None:
        if not log_provider_allowed():
            raise ImproperlyConfigured(
                "SMS_PROVIDER=log only writes to the log; it is allowed only with DEMO_MODE, "
                "DEBUG or DUALCHANNEL_TESTING. Configure a real SMS provider."
            )

    def send(self, phone: str, template_code: str, params: dict[str, str]) -> str:
        logger.info("sms (log provider) to %s template %s", mask_phone(phone), template_code)
        return f"log-{uuid.uuid4().hex}"


_sms_providers: dict[str, type[SmsProvider]] = {"log": LogSmsProvider}


def register_sms_provider(name: str, provider: type[SmsProvider]) -> None:
    """Make ``provider`` selectable with ``SMS_PROVIDER=<name>``."""
    _sms_providers[name] = provider


def get_sms_provider() -> SmsProvider:
    """The provider named by ``settings.SMS_PROVIDER`` (a registered name or a dotted path)."""
    name = settings.SMS_PROVIDER
    provider = _sms_providers.get(name)
    if provider is None and "." in name:
        provider = import_string(name)
    if provider is None:
        raise ImproperlyConfigured(f"unknown SMS_PROVIDER {name!r}")
    return provider()


# --- WeChat -------------------------------------------------------------------------------------

TOKEN_MARGIN = timedelta(minutes=5)  # refresh this long before WeChat says the token expires
TOKEN_INVALID = {40001, 40014, 42001}  # invalid credential, invalid token, token expired
PERMANENT = {
    43004,  # the user does not follow the official account
    40003,  # invalid openid
}


class WeChatClient:
    """Official-account template messages (cgi-bin/message/template/send) with a shared token."""

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
    ) -> None:
        if not app_id or not app_secret:
            raise ImproperlyConfigured("WECHAT_APP_ID and WECHAT_APP_SECRET must be set")
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self._http = http or httpx.Client(timeout=timeout)

    @classmethod
    def from_settings(cls) -> WeChatClient:
        return cls(
            base_url=settings.WECHAT_API_BASE,
            app_id=settings.WECHAT_APP_ID,
            app_secret=settings.WECHAT_APP_SECRET,
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, f"{self.base_url}{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(f"wechat.transport.{type(exc).__name__}") from None
        if response.status_code != 200:
            raise RetryableDeliveryError(f"wechat.http_{response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise RetryableDeliveryError("wechat.bad_json") from None
        if not isinstance(data, dict):
            raise RetryableDeliveryError("wechat.bad_json")
        return data

    def access_token(self, *, refresh: bool = False) -> str:
        """The cached token, or a new one when it is missing, near expiry or ``refresh``."""
        now = timezone.now()
        if not refresh:
            cached = WeChatAccessToken.objects.filter(app_id=self.app_id, expires_at__gt=now)
            token = cached.values_list("token", flat=True).first()
            if token:
                return token
        data = self._call(
            "GET",
            "/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._secret,
            },
        )
        token = data.get("access_token")
        if not token:
            raise RetryableDeliveryError(f"wechat.token_errcode_{data.get('errcode', 'none')}")
        lifetime = timedelta(seconds=int(data.get("expires_in", 7200)))
        expires_at = now + max(lifetime - TOKEN_MARGIN, timedelta(seconds=30))
        # Shared through the database; a send that fails afterwards rolls this back with it,
        # and the next attempt fetches again.
        WeChatAccessToken.objects.update_or_create(
            app_id=self.app_id, defaults={"token": token, "expires_at": expires_at}
        )
        return token

    def send_template(
        self, *, openid: str, template_id: str, data: dict[str, str], url: str = ""
    ) -> str:
        """Send one template message; returns WeChat's msgid."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            body["url"] = url
        token = self.access_token()
        for attempt in (1, 2):
            answer = self._call(
                "POST",
                "/cgi-bin/message/template/send",
                params={"access_token": token},
                json=body,
            )
            errcode = int(answer.get("errcode", 0))
            if errcode == 0:
                return str(answer.get("msgid", ""))
            if errcode in TOKEN_INVALID and attempt == 1:
                token = self.access_token(refresh=True)
                continue
            if errcode in PERMANENT:
                raise PermanentDeliveryError(f"wechat.errcode_{errcode}")
            raise RetryableDeliveryError(f"wechat.errcode_{errcode}")
        raise RetryableDeliveryError("wechat.token_invalid")  # pragma: no cover - loop returns
