"""The simulators over HTTP: ``POST simulators/nhsa/`` or ``simulators/nhsa/<infno>`` with JSON,
and the e-prescription centre at ``POST simulators/rxcentre/<api>``.

When any ``SimAppCredential`` exists, a platform call needs a bearer token from ``oauth/token``
or valid ``x-tif-*`` headers, as the provincial gateways do; otherwise calls are open (local
demo). The e-prescription centre authenticates by appId and ``signData`` only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dualchannel.integration.nhsa.transport import tif_signature
from dualchannel.integration.rxcentre.wire import CODE_BAD_REQUEST

from . import rxcentre
from .models import SimAppCredential
from .platform import SimulatedTimeout, handle

TOKEN_SECONDS = 7200
TIF_SKEW_SECONDS = 300


def _json(data: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


def _token_sig(app: SimAppCredential, payload: str) -> str:
    return hmac.new(app.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def issue_token(app: SimAppCredential, *, now: float | None = None) -> str:
    expires = int((now or time.time()) + TOKEN_SECONDS)
    payload = f"{app.app_id}.{expires}"
    return f"{payload}.{_token_sig(app, payload)}"


def _bearer_ok(token: str) -> bool:
    app_id, _, rest = token.partition(".")
    expires, _, sig = rest.partition(".")
    app = SimAppCredential.objects.filter(app_id=app_id, active=True).first()
    if app is None or not expires.isdigit() or int(expires) < time.time():
        return False
    return hmac.compare_digest(sig, _token_sig(app, f"{app_id}.{expires}"))


def _tif_ok(request: HttpRequest) -> bool:
    paasid = request.headers.get("x-tif-paasid", "")
    timestamp = request.headers.get("x-tif-timestamp", "")
    nonce = request.headers.get("x-tif-nonce", "")
    signature = request.headers.get("x-tif-signature", "")
    app = SimAppCredential.objects.filter(app_id=paasid, active=True).first()
    if app is None or not timestamp.isdigit() or not nonce:
        return False
    if abs(time.time() - int(timestamp)) > TIF_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature, tif_signature(timestamp, app.secret, nonce))


def _authorised(request: HttpRequest) -> bool:
    if not SimAppCredential.objects.filter(active=True).exists():
        return True
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return _bearer_ok(auth.removeprefix("Bearer ").strip())
    return _tif_ok(request)


@csrf_exempt
@require_POST
def nhsa_endpoint(request: HttpRequest, infno: str | None = None) -> HttpResponse:
    if not _authorised(request):
        return _json({"infcode": "-1", "err_msg": "未授权的访问"}, status=401)
    try:
        envelope = json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        envelope = None
    if infno is not None and isinstance(envelope, dict) and envelope.get("infno") != infno:
        envelope = {**envelope, "infno": f"{envelope.get('infno')}≠{infno}"}
    try:
        answer = handle(envelope)
    except SimulatedTimeout:
        return HttpResponse("gateway timeout (simulated)", status=504)
    return _json(answer)


@csrf_exempt
@require_POST
def nhsa_token(request: HttpRequest) -> HttpResponse:
    """OAuth2 client-credentials grant of the simulated gateway."""
    if request.POST.get("grant_type") != "client_credentials":
        return _json({"error": "unsupported_grant_type"}, status=400)
    app = SimAppCredential.objects.filter(
        app_id=request.POST.get("client_id", ""), active=True
    ).first()
    if app is None or not hmac.compare_digest(app.secret, request.POST.get("client_secret", "")):
        return _json({"error": "invalid_client"}, status=401)
    return _json(
        {"access_token": issue_token(app), "token_type": "Bearer", "expires_in": TOKEN_SECONDS}
    )


@csrf_exempt
@require_POST
def rxcentre_endpoint(request: HttpRequest, api: str) -> HttpResponse:
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return _json({"code": CODE_BAD_REQUEST, "message": "请求报文不是 JSON", "data": {}})
    try:
        answer = rxcentre.handle(api, body)
    except SimulatedTimeout:
        return HttpResponse("gateway timeout (simulated)", status=504)
    return _json(answer)
