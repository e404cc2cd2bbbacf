"""How a request reaches the e-prescription centre: the simulator in this process, or HTTPS.

``default_transport()`` reads the settings: no ``RX_CENTRE_URL`` → the simulator in this process
(only where the ``simulators`` app is installed, else ``ImproperlyConfigured``); otherwise JSON
POST to ``RX_CENTRE_URL/<api>``. A centre behind a provincial gateway can be given one of the
national platform's ``Auth`` classes (bearer token, ``x-tif-*`` headers).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from django.conf import settings

from ..in_process import NoAnswer, in_process_handler
from ..nhsa.transport import Auth, require_simulators
from .errors import TransportError


class Transport:
    """Sends one request to ``api`` and returns the centre's answer as a dict."""

    name = "abstract"

    def send(self, api: str, request: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class SimulatorTransport(Transport):
    """Calls the bundled simulator in this process (no HTTP), through a JSON round trip."""

    name = "simulator"

    def __init__(self) -> None:
        require_simulators("RX_CENTRE_URL")

    def send(self, api: str, request: dict[str, Any]) -> dict[str, Any]:
        wire = json.loads(json.dumps(request, ensure_ascii=False))
        try:
            answer = in_process_handler("rxcentre")(api, wire)
        except NoAnswer as exc:
            raise TransportError("模拟电子处方中心超时") from exc
        return json.loads(json.dumps(answer, ensure_ascii=False))


class HttpTransport(Transport):
    """POST JSON to ``base_url/<api>``."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: float = 15,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url
        self.auth = auth or Auth()
        self.timeout = timeout
        self._client = client

    def url_for(self, api: str) -> str:
        return f"{self.base_url.rstrip('/')}/{api}"

    def _post(self, url: str, body: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json; charset=utf-8", **self.auth.headers(body)}
        post = self._client.post if self._client is not None else httpx.post
        try:
            return post(url, content=body, headers=headers, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise TransportError("请求超时") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"网络错误：{type(exc).__name__}") from exc

    def send(self, api: str, request: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(request, ensure_ascii=False).encode()
        url = self.url_for(api)
        response = self._post(url, body)
        if response.status_code == 401 and self.auth.refresh():
            response = self._post(url, body)
        if response.status_code != 200:
            raise TransportError(f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise TransportError("应答不是 JSON") from exc
        if not isinstance(answer, dict) or "code" not in answer:
            raise TransportError("应答缺少 code")
        return answer


def default_transport() -> Transport:
    url = settings.RX_CENTRE_URL
    if not url:
        return SimulatorTransport()
    return HttpTransport(url, timeout=settings.RX_CENTRE_TIMEOUT_SECONDS)
