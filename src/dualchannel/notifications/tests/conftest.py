"""A local stand-in of the WeChat official-account API that checks the official request format."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

APP_ID = "wx1234567890abcdef"
APP_SECRET = "stub-secret-0123456789"


@dataclass
class WeChatStub:
    base_url: str = ""
    tokens_issued: int = 0
    expires_in: int = 7200
    # errcodes to answer to the next sends, in order; 0 (success) once they run out.
    send_errcodes: list[int] = field(default_factory=list)
    token_requests: list[dict] = field(default_factory=list)
    sends: list[dict] = field(default_factory=list)  # {"access_token": ..., "body": {...}}
    problems: list[str] = field(default_factory=list)  # format violations the stub saw

    def current_token(self) -> str:
        return f"TOKEN-{self.tokens_issued}"


def _handler(stub: WeChatStub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _answer(self, data: dict, status: int = 200) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self):
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path != "/cgi-bin/token":
                return self._answer({"errcode": 404}, 404)
            stub.token_requests.append(query)
            if query != {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}:
                stub.problems.append(f"token query {sorted(query)}")
                return self._answer({"errcode": 40013, "errmsg": "invalid appid"})
            stub.tokens_issued += 1
            return self._answer(
                {"access_token": stub.current_token(), "expires_in": stub.expires_in}
            )

        def do_POST(self):
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path != "/cgi-bin/message/template/send":
                return self._answer({"errcode": 404}, 404)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            stub.sends.append({"access_token": query.get("access_token"), "body": body})
            if not self.headers.get("Content-Type", "").startswith("application/json"):
                stub.problems.append("content type")
            if not {"touser", "template_id", "data"} <= set(body) or not all(
                isinstance(v, dict) and set(v) == {"value"} for v in body["data"].values()
            ):
                stub.problems.append("body format")
                return self._answer({"errcode": 47001, "errmsg": "data format error"})
            if query.get("access_token") != stub.current_token():
                return self._answer({"errcode": 40001, "errmsg": "invalid credential"})
            errcode = stub.send_errcodes.pop(0) if stub.send_errcodes else 0
            if errcode:
                return self._answer({"errcode": errcode, "errmsg": "stub error"})
            return self._answer(
                {"errcode": 0, "errmsg": "ok", "msgid": 200228332 + len(stub.sends)}
            )

    return Handler


@pytest.fixture
def wechat_stub() -> Iterator[WeChatStub]:
    stub = WeChatStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def wechat_settings(settings, wechat_stub):
    settings.WECHAT_ENABLED = True
    settings.WECHAT_API_BASE = wechat_stub.base_url
    settings.WECHAT_APP_ID = APP_ID
    settings.WECHAT_APP_SECRET = APP_SECRET
    return settings
