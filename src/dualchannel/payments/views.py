"""The provider's callback (no login: it is verified by its signature) and the page the payer's
phone returns to from the cashier."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from .hooks import hooks_for, registered
from .models import PaymentOrder
from .providers.wechatpay import NAME as WECHATPAY
from .services import payment_notify_receive, payment_query

PROVIDERS = (WECHATPAY,)


@csrf_exempt  # a server-to-server callback, authenticated by the provider's signature
@require_POST
def notify(request: HttpRequest, provider: str) -> HttpResponse:
    if provider not in PROVIDERS:
        raise Http404
    status, body = payment_notify_receive(provider, request.headers, request.body)
    content_type = "application/json" if body else None
    return HttpResponse(body, status=status, content_type=content_type)


@role_required(Role.PATIENT, login_url="portal-login")
@require_GET
def payment_return(request: HttpRequest, out_trade_no: str) -> HttpResponse:
    """Back from the cashier: ask the provider (the notify may not have come yet), then go on to
    the referencing app's page, or show the result."""
    order = PaymentOrder.objects.filter(out_trade_no=out_trade_no, payer_user=request.user).first()
    if order is None:
        raise Http404
    error = ""
    try:
        order = payment_query(order)
    except DomainError as exc:
        error = exc.message
    hooks = hooks_for(order.purpose) if registered(order.purpose) else None
    if hooks is not None and hooks.return_url is not None and not error:
        return redirect(hooks.return_url(order))
    return render(request, "payments/result.html", {"order": order, "error": error})
