"""The public verification page that a document's QR code opens (no login)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from .api import MAX_UPLOAD_BYTES
from .selectors import VerdictStatus, document_verify, document_verify_pdf

VERDICT_CLASS = {
    VerdictStatus.AUTHENTIC: "ok",
    VerdictStatus.ALTERED: "bad",
    VerdictStatus.REVOKED: "warn",
    VerdictStatus.UNKNOWN: "bad",
}


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, token: str) -> HttpResponse:
    upload_error = ""
    upload = request.FILES.get("file") if request.method == "POST" else None
    if request.method == "POST" and upload is None:
        upload_error = "请选择要比对的 PDF 文件"
    if upload is not None and upload.size > MAX_UPLOAD_BYTES:
        upload_error = "文件不得超过 20 MB"
        upload = None
    verdict = (
        document_verify_pdf(token, upload.read()) if upload is not None else document_verify(token)
    )
    response = TemplateResponse(
        request,
        "documents/verify.html",
        {
            "verdict": verdict,
            "verdict_class": VERDICT_CLASS[verdict.status],
            "upload_error": upload_error,
            "compared": upload is not None,
        },
        status=404 if verdict.status == VerdictStatus.UNKNOWN else 200,
    )
    # The token is in the address: keep it out of caches, search engines and Referer headers.
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response
