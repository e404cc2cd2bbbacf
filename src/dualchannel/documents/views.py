"""The public verification page that a document's QR code opens (no login), and the signed form
itself for the people who signed or review it (a viewer fragment and the PDF)."""

from __future__ import annotations

from csp.decorators import csp_replace
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods

from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from .api import MAX_UPLOAD_BYTES
from .selectors import VerdictStatus, document_verify, document_verify_pdf, signed_form_get

signers_and_reviewers = role_required(Role.PHYSICIAN, Role.REVIEWER)

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


@require_GET
@signers_and_reviewers
def document_view(request: HttpRequest, document_id: int) -> HttpResponse:
    """The signed form in a viewer (a fragment for htmx, else a page)."""
    document = signed_form_get(actor=request.user, document_id=document_id)
    template = (
        "documents/_viewer.html" if request.headers.get("HX-Request") else "documents/view.html"
    )
    return TemplateResponse(request, template, {"document": document})


@require_GET
@signers_and_reviewers
@xframe_options_sameorigin
@csp_replace({"frame-ancestors": ["'self'"]})
def document_file(request: HttpRequest, document_id: int) -> HttpResponse:
    """The issued PDF, inline for the viewer's frame; 下载 saves it under its number."""
    document = signed_form_get(actor=request.user, document_id=document_id)
    with document.pdf.open("rb") as handle:
        content = handle.read()
    response = HttpResponse(content, content_type="application/pdf")
    disposition = "attachment" if request.GET.get("download") else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="document-{document.pk}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response
