"""Refuse malformed requests before any view runs, each with a clear answer and nothing written.

- a body over the configured size answers 413 (JSON and form bodies have the smaller
  ``DATA_UPLOAD_MAX_MEMORY_SIZE``; multipart uploads ``MAX_REQUEST_BYTES``); a body sent without
  its length is refused with 411;
- a NUL character in the path, the query string, a form field or a JSON body answers 422
  (PostgreSQL cannot store it, and no person types it);
- an API token in the query string is refused (400): addresses end up in logs and histories;
- a page form posted after the session expired (a session cookie was sent, nobody is signed in,
  and the view sent the post to the login page) answers a page that says so and links to the
  login, instead of a silent redirect that loses what was typed;
- Django's own refusals of a body (no multipart boundary, too many fields) keep the API's error
  shape (400) and become a Chinese page elsewhere.

On /api/ every refusal has the one error shape; elsewhere it is the Chinese error page.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import resolve_url
from django.template.response import TemplateResponse

from .errors import DomainError

NUL = "\x00"
# Query-string names that would carry a credential; never accepted, whatever their value.
TOKEN_QUERY_NAMES = frozenset(
    {"token", "access_token", "api_token", "api_key", "apikey", "bearer", "authorization"}
)
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def too_large() -> DomainError:
    return DomainError(
        "request.too_large",
        f"提交的内容过大（上限 {max_request_bytes() // (1024 * 1024)} MB）",
        status=413,
    )


def nul_refused(field: str = "__all__") -> DomainError:
    return DomainError(
        "request.invalid_character",
        "提交的内容含有不允许的控制字符（NUL）",
        fields={field: ["含有不允许的控制字符"]},
        status=422,
    )


def max_request_bytes() -> int:
    return settings.MAX_REQUEST_BYTES


def bad_input_error(exc: BaseException) -> DomainError | None:
    """The client's fault hidden in a framework exception, as a refusal; None if it is not one."""
    if isinstance(exc, RequestDataTooBig):
        return too_large()
    if isinstance(exc, MultiPartParserError | UnreadablePostError):
        return DomainError("request.malformed_body", "请求内容格式错误，无法读取上传的数据")
    if isinstance(exc, BadRequest | SuspiciousOperation):
        return DomainError("request.bad_request", "请求无效")
    if isinstance(exc, ValueError) and "NUL" in str(exc):
        # PostgreSQL's driver: "A string literal cannot contain NUL (0x00) characters."
        return nul_refused()
    return None


def refusal(request: HttpRequest, error: DomainError) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error.as_dict(), status=error.status)
    response = TemplateResponse(request, "core/error.html", {"error": error}, status=error.status)
    return response.render()


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _nul_field(request: HttpRequest) -> str | None:
    """The first input holding a NUL character, or None."""
    if NUL in request.path:
        return "path"
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in v for v in values):
            return name.replace(NUL, "")
    if request.method not in BODY_METHODS:
        return None
    content_type = request.content_type or ""
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, values in request.POST.lists():
            if NUL in name or any(NUL in v for v in values):
                return name.replace(NUL, "")
        for name, files in request.FILES.lists():
            if any(NUL in (f.name or "") for f in files):
                return name
    elif content_type.endswith("json") and (
        b"\\u0000" in request.body.lower() or b"\x00" in request.body
    ):
        # Only a decoded string can hold NUL (a raw NUL byte is not valid JSON anyway).
        try:
            if _has_nul(json.loads(request.body)):
                return "__all__"
        except ValueError:
            return None  # the API answers malformed JSON itself
    return None


def _declared_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def _login_urls() -> set[str]:
    return {resolve_url(settings.LOGIN_URL), resolve_url("portal-login")}


def _sent_to_login(response: HttpResponse) -> bool:
    if response.status_code not in (301, 302, 303):
        return False
    location = response.get("Location", "").split("?", 1)[0]
    return location in _login_urls()


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        error = self._refusal(request)
        if error is not None:
            return refusal(request, error)
        response = self.get_response(request)
        if (
            request.method == "POST"
            and not request.path.startswith("/api/")
            # a session cookie that no longer signs anybody in: the session expired
            and settings.SESSION_COOKIE_NAME in request.COOKIES
            and not getattr(getattr(request, "user", None), "is_authenticated", False)
            and _sent_to_login(response)
        ):
            return self._session_expired(request, response)
        return response

    def _refusal(self, request: HttpRequest) -> DomainError | None:
        length = _declared_length(request)
        if length is None:
            return DomainError("request.bad_length", "请求头 Content-Length 无效")
        if (
            request.method in BODY_METHODS
            and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
            and not request.META.get("CONTENT_LENGTH")
        ):
            return DomainError(
                "request.length_required", "请求须注明内容长度（Content-Length）", status=411
            )
        multipart = (request.META.get("CONTENT_TYPE") or "").startswith("multipart/")
        limit = max_request_bytes() if multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length > limit:
            return too_large()
        if request.path.startswith("/api/") and any(
            name.lower() in TOKEN_QUERY_NAMES for name in request.GET
        ):
            return DomainError(
                "auth.token_in_query",
                "访问令牌不得放在网址中，请通过请求头 Authorization: Bearer <令牌> 发送",
            )
        try:
            field = _nul_field(request)
        except Exception as exc:  # a malformed body: the same answer as the view would give
            error = bad_input_error(exc)
            if error is None:
                raise
            return error
        return nul_refused(field) if field is not None else None

    def _session_expired(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        error = DomainError(
            "auth.session_expired",
            "登录已过期或尚未登录，本次提交未保存。请重新登录后再提交。",
            status=401,
        )
        if request.headers.get("HX-Request"):
            # htmx would swap the login page into the form: show the message, then go to login.
            answer = TemplateResponse(request, "core/_error.html", {"error": error}, status=200)
            answer["HX-Retarget"] = "#messages"
            answer["HX-Reswap"] = "innerHTML"
            return answer.render()
        login = response["Location"].split("?", 1)[0]
        # back to the page the form was on (its path only), not to the address it posted to
        back = urlsplit(request.META.get("HTTP_REFERER", "")).path
        login_url = f"{login}?{urlencode({'next': back})}" if back else login
        answer = TemplateResponse(
            request, "core/error.html", {"error": error, "login_url": login_url}, status=401
        )
        return answer.render()

    def process_exception(self, request: HttpRequest, exception: Exception):
        error = bad_input_error(exception)
        return refusal(request, error) if error is not None else None
