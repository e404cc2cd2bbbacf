"""Turns a DomainError raised under a page into a message box instead of a server error."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from . import after_rollback
from .errors import DomainError


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Alerts of a refused action that its rollback took away (SQLite): written now.
        after_rollback.run_pending()
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DomainError):
            return None
        if request.path.startswith("/api/"):
            return JsonResponse(exception.as_dict(), status=exception.status)
        if request.headers.get("HX-Request"):
            # htmx swaps this fragment into the page's message area.
            return TemplateResponse(
                request,
                "core/_error.html",
                {"error": exception},
                status=200,
                headers={"HX-Retarget": "#messages", "HX-Reswap": "innerHTML"},
            )
        if request.method in ("GET", "HEAD") or exception.status == 404:
            # Nothing to go back to: show the refusal itself, with its status.
            return TemplateResponse(
                request, "core/error.html", {"error": exception}, status=exception.status
            )
        messages.error(request, exception.message)
        return redirect(request.META.get("HTTP_REFERER") or "home")


API_STATUS_ERRORS = {
    404: ("not_found", "接口不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    500: ("internal_error", "系统内部错误，请稍后重试"),
}


class ApiErrorShapeMiddleware:
    """Answers that Django or Ninja produce outside the API's handlers (unknown path, wrong
    method) still get the one error shape on /api/."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code, message = API_STATUS_ERRORS.get(
                response.status_code, (f"http_{response.status_code}", "请求未能完成")
            )
            shaped = JsonResponse(
                {"error": {"code": code, "message": message, "fields": {}}},
                status=response.status_code,
            )
            if response.has_header("Allow"):
                shaped["Allow"] = response["Allow"]
            return shaped
        return response
