"""How an envelope reaches the platform: in-process simulator, or HTTPS with pluggable auth.

``default_transport()`` reads the settings: no ``NHSA_PLATFORM_URL`` → the simulator in this
process, which needs the ``simulators`` app (``SIMULATORS_ENABLED``: demo and tests; without it
the call stops with ``ImproperlyConfigured``); otherwise HTTP POST of JSON, authenticated as
``NHSA_TRANSPORT`` says (``oauth2`` bearer token, ``tif`` signed ``x-tif-*`` headers, anything
else none).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from typing import Any

import httpx
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ..in_process import NoAnswer, in_process_handler
from .errors import TransportError


class Transport:
    """Sends one envelope and returns the platform's answer as a dict."""

    name = "abstract"

    def send(self, envelope: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def require_simulators(setting: str) -> None:
    """Refuse the in-process simulator where the ``simulators`` app is not installed."""
    if not apps.is_installed("dualchannel.simulators"):
        raise ImproperlyConfigured(
            f"{setting} is not set and the bundled simulators are not installed "
            "(SIMULATORS_ENABLED is off outside DEMO_MODE and tests): "
            f"set {setting} to the real system's address."
        )


class SimulatorTransport(Transport):
    """Calls the bundled simulator in this process (no HTTP), through a JSON round trip."""

    name = "simulator"

    def __init__(self) -> None:
        require_simulators("NHSA_PLATFORM_URL")

    def send(self, envelope: dict[str, Any]) -> dict[str, Any]:
        wire = json.loads(json.dumps(envelope, ensure_ascii=False))
        try:
            answer = in_process_handler("nhsa")(wire)
        except NoAnswer as exc:
            raise TransportError("模拟平台超时") from exc
        return json.loads(json.dumps(answer, ensure_ascii=False))


# --- authentication of HTTP calls ---------------------------------------------------------------


class Auth:
    """No authentication headers."""

    def headers(self, body: bytes) -> dict[str, str]:
        return {}

    def refresh(self) -> bool:
        """Drop cached credentials after a 401; True if a retry may succeed."""
        return False


class OAuth2ClientCredentials(Auth):
    """``Authorization: Bearer`` with a token from the client-credentials grant, cached."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 10,
        client: httpx.Client | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout
        self._client = client
        self._token = ""
        self._expires = 0.0
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        post = self._client.post if self._client is not None else httpx.post
        try:
            response = post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"获取访问令牌失败：{type(exc).__name__}") from exc
        if response.status_code != 200:
            raise TransportError(f"获取访问令牌失败：HTTP {response.status_code}")
        try:
            body = response.json()
            self._token = body["access_token"]
            lifetime = int(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError("访问令牌应答格式错误") from exc
        self._expires = time.monotonic() + max(lifetime - 30, 1)

    def headers(self, body: bytes) -> dict[str, str]:
        with self._lock:
            if not self._token or time.monotonic() >= self._expires:
                self._fetch()
            return {"Authorization": f"Bearer {self._token}"}

    def refresh(self) -> bool:
        with self._lock:
            self._token = ""
        return True


def tif_signature(timestamp: str, secret: str, nonce: str) -> str:
    """[uncertain] The gateway signature: SHA-256 of timestamp + secret + nonce + timestamp."""
    return hashlib.sha256(f"{timestamp}{secret}{nonce}{timestamp}".encode()).hexdigest().upper()


class TifHeaderAuth(Auth):
    """Signed gateway headers ``x-tif-paasid``, ``-timestamp``, ``-nonce``, ``-signature``."""

    def __init__(self, paasid: str, secret: str) -> None:
        self.paasid = paasid
        self.secret = secret

    def headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        return {
            "x-tif-paasid": self.paasid,
            "x-tif-timestamp": timestamp,
            "x-tif-nonce": nonce,
            "x-tif-signature": tif_signature(timestamp, self.secret, nonce),
        }


class HttpTransport(Transport):
    """POST JSON to ``base_url/infno`` (or to ``base_url`` itself when ``per_infno`` is False)."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: float = 15,
        per_infno: bool = True,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url
        self.auth = auth or Auth()
        self.timeout = timeout
        self.per_infno = per_infno
        self._client = client

    def url_for(self, infno: str) -> str:
        if self.per_infno:
            return f"{self.base_url.rstrip('/')}/{infno}"
        return self.base_url

    def _post(self, url: str, body: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json; charset=utf-8", **self.auth.headers(body)}
        try:
            if self._client is not None:
                return self._client.post(url, content=body, headers=headers, timeout=self.timeout)
            return httpx.post(url, content=body, headers=headers, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise TransportError("请求超时") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"网络错误：{type(exc).__name__}") from exc

    def send(self, envelope: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(envelope, ensure_ascii=False).encode()
        url = self.url_for(envelope["infno"])
        response = self._post(url, body)
        if response.status_code == 401 and self.auth.refresh():
            response = self._post(url, body)
        if response.status_code != 200:
            raise TransportError(f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise TransportError("应答不是 JSON") from exc
        if not isinstance(answer, dict) or "infcode" not in answer:
            raise TransportError("应答缺少 infcode")
        return answer


def default_transport() -> Transport:
    url = settings.NHSA_PLATFORM_URL
    if not url:
        return SimulatorTransport()
    mode = settings.NHSA_TRANSPORT
    auth: Auth
    if mode == "oauth2":
        token_url = getattr(settings, "NHSA_TOKEN_URL", "") or f"{url.rstrip('/')}/oauth/token"
        auth = OAuth2ClientCredentials(token_url, settings.NHSA_APP_ID, settings.NHSA_APP_SECRET)
    elif mode == "tif":
        auth = TifHeaderAuth(settings.NHSA_APP_ID, settings.NHSA_APP_SECRET)
    else:
        auth = Auth()
    return HttpTransport(
        url,
        auth=auth,
        timeout=settings.NHSA_TIMEOUT_SECONDS,
        per_infno=not getattr(settings, "NHSA_SINGLE_ENDPOINT", False),
    )
