"""The agency officer's page of revocation for fraud [HB art. 12]: the region's eligibilities
(found by the person's ID number or the drug), each with the form that revokes it with the kind
of fraud, the reason, the evidence (note and optional file) and the date the fraud began, which
also raises the recovery of what was paid under it [HB art. 21–22]. ID numbers masked."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.eligibility.models import EligibilityStatus, RevocationKind
from dualchannel.eligibility.selectors import visible_eligibilities
from dualchannel.eligibility.services import EvidenceFile
from dualchannel.eligibility.services.revocation import MAX_EVIDENCE_BYTES
from dualchannel.registry.profiles import institution_citation

from .services import revocation

LIST_LIMIT = 100
officer_required = role_required(Role.AGENCY_OFFICER)


def revocation_citation(institution) -> str:
    """The region's basis for revoking, from its policy profile (data, not code)."""
    return institution_citation(institution, "revocation")


def _rows(request: HttpRequest) -> list[dict[str, Any]]:
    qs = visible_eligibilities(request.user)
    q = (request.GET.get("q") or "").strip()
    if q:
        qs = (
            qs.filter(patient__id_number=q.upper())
            if len(q) == 18
            else qs.filter(drug__generic_name__contains=q)
        )
    return [
        {
            "e": e,
            "name": mask_name(e.patient.name),
            "id_number": mask_id_number(e.patient.id_number),
            "revocable": e.status != EligibilityStatus.REVOKED,
        }
        for e in qs.order_by("-effective_from", "-id")[:LIST_LIMIT]
    ]


@require_GET
@officer_required
def agency_revocations(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(
        request,
        "settlement/agency_revocations.html",
        {
            "rows": _rows(request),
            "kinds": RevocationKind.choices,
            "q": request.GET.get("q", ""),
            "citation": revocation_citation(request.user.institution),
        },
    )


@require_POST
@officer_required
def agency_revocation_revoke(request: HttpRequest, eligibility_id: int) -> HttpResponse:
    upload = request.FILES.get("file")
    file = None
    if upload is not None:
        content = upload.read(MAX_EVIDENCE_BYTES + 1)
        file = EvidenceFile(upload.name or "", content, upload.content_type or "")
    result = revocation.eligibility_revoke_for_fraud(
        actor=request.user,
        eligibility_id=eligibility_id,
        kind=request.POST.get("kind", ""),
        reason=request.POST.get("reason", ""),
        evidence=request.POST.get("evidence", ""),
        fraud_from=request.POST.get("fraud_from") or None,
        file=file,
    )
    numbers = "、".join(o.order_no for o in result.orders) or "无（期间无基金支付的结算）"
    text = f"已取消用药资格，追回单：{numbers}"
    if request.headers.get("HX-Request"):
        return TemplateResponse(
            request, "settlement/_revocation_done.html", {"done": text, "e": result.eligibility}
        )
    messages.success(request, text)
    return redirect("agency-revocations")
