"""The agency officer's page to import the region's existing eligibility register [HB art. 49]:
upload the CSV, see the dry run's table (every row's problem), import all or nothing. The
region's citation comes from its policy profile."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from dualchannel.core.errors import DomainError
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.registry.profiles import institution_citation

from .models import EligibilityImport
from .selectors import visible_imports
from .services import register_import

officer_required = role_required(Role.AGENCY_OFFICER)


def citation(institution, key: str) -> str:
    return institution_citation(institution, key)


def problems_in_words(report) -> list[dict]:
    """Each problem of a dry run by its row, its column's Chinese header and what is wrong (the
    code stays in the row's data attribute for support, never on the screen)."""
    if report is None:
        return []
    return [
        {
            "row": p.row,
            "column": register_import.COLUMNS.get(p.field, ""),
            "message": p.message,
            "code": p.code,
        }
        for p in report.problems
    ]


def _context(request: HttpRequest, **extra) -> dict:
    return {
        "problems": problems_in_words(extra.get("report")),
        "columns": register_import.COLUMNS.items(),
        "required": register_import.REQUIRED,
        "imports": list(visible_imports(request.user)[:20]),
        "citation": citation(request.user.institution, "eligibility_import"),
        **extra,
    }


@require_http_methods(["GET", "POST"])
@officer_required
def agency_eligibility_import(request: HttpRequest) -> HttpResponse:
    """GET: the form; POST ``action=check``: the dry run; ``action=import``: the import."""
    if request.method == "GET":
        return TemplateResponse(request, "eligibility/agency_import.html", _context(request))
    upload = request.FILES.get("file")
    content = upload.read(register_import.MAX_BYTES + 1) if upload is not None else b""
    filename = (upload.name or "") if upload is not None else ""
    if request.POST.get("action") == "import":
        try:
            batch = register_import.register_import(
                actor=request.user, content=content, filename=filename
            )
        except DomainError as refused:
            if refused.code != "eligibility.import_rows":
                raise
            report = register_import.register_import_check(
                actor=request.user, content=content, filename=filename
            )
            return TemplateResponse(
                request,
                "eligibility/agency_import.html",
                _context(request, report=report, refused=refused.message),
            )
        done: EligibilityImport = batch
        return TemplateResponse(
            request, "eligibility/agency_import.html", _context(request, done=done)
        )
    report = register_import.register_import_check(
        actor=request.user, content=content, filename=filename
    )
    return TemplateResponse(
        request, "eligibility/agency_import.html", _context(request, report=report)
    )
