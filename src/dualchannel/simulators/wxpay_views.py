"""The simulated WeChat Pay over HTTP: its API (``simulators/wxpay/v3/...``, the same handler
the in-process transport calls) and the cashier page the payer's phone opens (H5 ``h5_url``):
支付 or 取消, then back to the merchant's ``redirect_url``."""

from __future__ import annotations

import httpx
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .models import SimPayOrder
from .wxpay import handle, pay


@csrf_exempt  # the provider's API: authenticated by the merchant's signature
def api(request: HttpRequest, rest: str) -> HttpResponse:
    outgoing = httpx.Request(
        request.method or "GET",
        request.build_absolute_uri(),
        headers={k: v for k, v in request.headers.items()},
        content=request.body,
    )
    answer = handle(outgoing)
    response = HttpResponse(answer.content, status=answer.status_code)
    for name, value in answer.headers.items():
        if name.lower().startswith("wechatpay-") or name.lower() in ("content-type", "request-id"):
            response[name] = value
    return response


def _back(redirect_url: str) -> bool:
    # WeChat returns only to the domain registered for H5 payment: this site.
    return redirect_url.startswith(f"{settings.PUBLIC_BASE_URL}/")


@csrf_exempt  # WeChat's page, not ours: the simulators take no session (config.urls)
@require_http_methods(["GET", "POST"])
def cashier(request: HttpRequest) -> HttpResponse:
    params = request.GET if request.method == "GET" else request.POST
    prepay_id = params.get("prepay_id", "")
    redirect_url = params.get("redirect_url", "")
    order = SimPayOrder.objects.filter(prepay_id=prepay_id).first()
    if order is None or (redirect_url and not _back(redirect_url)):
        return HttpResponseBadRequest("支付参数错误")
    error = ""
    if request.method == "POST":
        if request.POST.get("action") == "pay" and pay(prepay_id) is None:
            error = "订单已支付、已关闭或已过期，无法支付"
        elif redirect_url:
            return redirect(redirect_url)
        else:
            order.refresh_from_db()
    context = {
        "order": order,
        "yuan": f"{order.total_fen // 100}.{order.total_fen % 100:02d}",
        "expired": order.time_expire <= timezone.now(),
        "redirect_url": redirect_url,
        "error": error,
    }
    return TemplateResponse(request, "simulators/wxpay_cashier.html", context)
