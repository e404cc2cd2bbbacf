"""The JSON API, v1: OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs.

Every failure has one shape: ``{"error": {"code": str, "message": str (Chinese), "fields": {}}}``.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from dualchannel.analytics.api import router as analytics_router
from dualchannel.catalog.api import router as catalog_router
from dualchannel.catalog.regional_lists_api import router as regional_lists_router
from dualchannel.complaints.api import public_router as complaints_public_router
from dualchannel.complaints.api import router as complaints_router
from dualchannel.core.api import calendar_router
from dualchannel.core.api import router as auth_router
from dualchannel.core.errors import DomainError
from dualchannel.core.input_checks import checked_values, out_of_range_error
from dualchannel.core.request_guard import bad_input_error
from dualchannel.core.security import api_docs_guard
from dualchannel.documents.api import router as documents_router
from dualchannel.eligibility.api import router as eligibility_router
from dualchannel.eligibility.filing_requests_api import router as filing_requests_router
from dualchannel.eligibility.reevaluation_api import router as reevaluation_router
from dualchannel.eligibility.register_import_api import router as register_import_router
from dualchannel.eligibility.transfer_api import router as transfer_router
from dualchannel.integration.api import router as integration_router
from dualchannel.inventory.api import router as inventory_router
from dualchannel.monitoring.api import router as monitoring_router
from dualchannel.notifications.api import router as notifications_router
from dualchannel.payments.api import router as payments_router
from dualchannel.portal.api import router as portal_router
from dualchannel.prescriptions.api import router as prescriptions_router
from dualchannel.prescriptions.counter_api import router as counter_router
from dualchannel.registry.api import public_router as public_router
from dualchannel.registry.api import router as registry_router
from dualchannel.registry.audit_api import audit_router
from dualchannel.registry.out_of_area_api import router as out_of_area_router
from dualchannel.settlement.api import router as settlement_router
from dualchannel.settlement.recovery_api import router as recovery_router
from dualchannel.settlement.revocation_api import router as revocation_router
from dualchannel.settlement.stay_api import router as stay_router

logger = logging.getLogger("dualchannel.api")


class ErrorDetailOut(Schema):
    code: str
    message: str
    fields: dict[str, list[str]]


class ErrorOut(Schema):
    error: ErrorDetailOut


# Every operation can answer with the error shape; the document says so for the 4xx and 5xx
# ranges (the status tells the kind, ``error.code`` the precise refusal).
ERROR_RESPONSES = {
    "4XX": "请求被拒绝：400 不符合业务规则，401 未登录或令牌无效，403 无权操作，"
    "404 对象不存在或无权访问，409 状态冲突，413 请求过大，422 数据格式不正确，429 请求过于频繁",
    "5XX": "服务端出错：500 系统内部错误，502/504 医保平台未应答，503 短信等外部服务暂不可用",
}


class DualchannelAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        schema = super().get_openapi_schema(**kwargs)
        error = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema["components"]["schemas"]
        components.update(error.pop("$defs", {}))
        components["ErrorOut"] = error
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for item in schema["paths"].values():
            for operation in item.values():
                for status, description in ERROR_RESPONSES.items():
                    operation["responses"].setdefault(
                        status, {"description": description, "content": content}
                    )
        return schema


api = DualchannelAPI(
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
    "decimal_max_places": "小数位数过多",
    "decimal_max_digits": "数值位数过多",
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
    refused = bad_input_error(exc) or out_of_range_error(exc)
    if refused is not None:  # the client's input, not our fault: a 4xx with the error shape
        return on_domain_error(request, refused)
    # The traceback, the method and the path (never the query string or the body: they may
    # carry personal data).
    logger.exception("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
    return _error(request, 500, "internal_error", "系统内部错误，请稍后重试")


# After validation, before the view: integers a database column cannot hold and NUL characters
# are refused (422) for every operation, whatever the parameter's source (path, query, body).
api.add_decorator(checked_values, mode="operation")


api.add_router("/analytics", analytics_router)
api.add_router("/auth", auth_router)
api.add_router("/audit", audit_router)
api.add_router("/calendar", calendar_router)
api.add_router("/catalog", catalog_router)
api.add_router("/catalog", regional_lists_router)
api.add_router("/registry", registry_router)
api.add_router("/registry", out_of_area_router)
api.add_router("/public", public_router)
api.add_router("/public", complaints_public_router)
api.add_router("/complaints", complaints_router)
api.add_router("/notifications", notifications_router)
api.add_router("/integration", integration_router)
api.add_router("/documents", documents_router)
api.add_router("/eligibility", eligibility_router)
api.add_router("/eligibility", reevaluation_router)
api.add_router("/eligibility", register_import_router)
api.add_router("/eligibility", transfer_router)
api.add_router("/eligibility", filing_requests_router)
api.add_router("/portal", portal_router)
api.add_router("/payments", payments_router)
api.add_router("/inventory", inventory_router)
api.add_router("/prescriptions", prescriptions_router)
api.add_router("/prescriptions", counter_router)
api.add_router("/monitoring", monitoring_router)
api.add_router("/settlement", settlement_router)
api.add_router("/settlement", recovery_router)
api.add_router("/settlement", revocation_router)

api.add_router("/settlement", stay_router)
