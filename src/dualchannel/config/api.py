"""The JSON API, v1: OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs.

Every failure has one shape: ``{"error": {"code": str, "message": str (Chinese), "fields": {}}}``.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from dualchannel.catalog.api import router as catalog_router
from dualchannel.core.api import audit_router, calendar_router
from dualchannel.core.api import router as auth_router
from dualchannel.core.errors import DomainError
from dualchannel.core.security import api_docs_guard
from dualchannel.documents.api import router as documents_router
from dualchannel.eligibility.api import router as eligibility_router
from dualchannel.eligibility.api_reevaluation import router as reevaluation_router
from dualchannel.integration.api import router as integration_router
from dualchannel.inventory.api import router as inventory_router
from dualchannel.monitoring.api import router as monitoring_router
from dualchannel.notifications.api import router as notifications_router
from dualchannel.portal.api import router as portal_router
from dualchannel.prescriptions.api import router as prescriptions_router
from dualchannel.prescriptions.api_counter import router as counter_router
from dualchannel.registry.api import public_router as public_router
from dualchannel.registry.api import router as registry_router
from dualchannel.settlement.api import router as settlement_router

logger = logging.getLogger("dualchannel.api")

api = NinjaAPI(
    title="dualchannel API",
    version="1",
    description="双通道谈判药品管理平台接口。错误统一为 {error: {code, message, fields}}。",
    urls_namespace="api-v1",
    docs_decorator=api_docs_guard,  # signed-in staff only outside DEBUG/DEMO_MODE
)


def _error(request: HttpRequest, status: int, code: str, message: str, fields=None):
    return api.create_response(
        request,
        {"error": {"code": code, "message": message, "fields": fields or {}}},
        status=status,
    )


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError):
    return api.create_response(request, exc.as_dict(), status=exc.status)


# Chinese wording for the validation errors people meet most; others keep pydantic's text.
VALIDATION_MESSAGES = {
    "missing": "必填",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "decimal_parsing": "应为数字",
    "bool_parsing": "应为是或否",
    "bool_type": "应为是或否",
    "string_type": "应为文本",
    "string_too_long": "内容过长",
    "string_too_short": "内容过短",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "datetime_parsing": "时间格式不正确",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "enum": "取值不在允许范围内",
    "literal_error": "取值不在允许范围内",
    "json_invalid": "JSON 格式错误",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than": "数值过大",
    "less_than_equal": "数值过大",
}


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError):
    fields: dict[str, list[str]] = {}
    for err in exc.errors:
        loc = [str(part) for part in err.get("loc", []) if part not in ("body", "query", "path")]
        name = ".".join(loc[1:] if loc and loc[0] == "payload" else loc) or "__all__"
        message = VALIDATION_MESSAGES.get(err.get("type", ""), err.get("msg", "无效"))
        fields.setdefault(name, []).append(message)
    return _error(request, 422, "validation_error", "提交的数据格式不正确", fields)


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError):
    return _error(request, 401, "unauthenticated", "请先登录或提供有效的访问令牌")


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404):
    return _error(request, 404, "not_found", "对象不存在或无权访问")


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError):
    return _error(request, exc.status_code, f"http_{exc.status_code}", str(exc))


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception):
    # Log the type and path only: exception text may carry personal data.
    logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
    return _error(request, 500, "internal_error", "系统内部错误，请稍后重试")


api.add_router("/auth", auth_router)
api.add_router("/audit", audit_router)
api.add_router("/calendar", calendar_router)
api.add_router("/catalog", catalog_router)
api.add_router("/registry", registry_router)
api.add_router("/public", public_router)
api.add_router("/notifications", notifications_router)
api.add_router("/integration", integration_router)
api.add_router("/documents", documents_router)
api.add_router("/eligibility", eligibility_router)
api.add_router("/eligibility", reevaluation_router)
api.add_router("/portal", portal_router)
api.add_router("/inventory", inventory_router)
api.add_router("/prescriptions", prescriptions_router)
api.add_router("/prescriptions", counter_router)
api.add_router("/monitoring", monitoring_router)
api.add_router("/settlement", settlement_router)
