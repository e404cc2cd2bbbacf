"""The agency officer's page to transfer a person's insurance relation within the province,
the eligibilities moving with it [HB art. 50]: find the person by ID number (masked on the
page), see the live eligibilities and the transfers so far, choose the region joined and the
date. The region's citation comes from its policy profile."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from dualchannel.core.errors import NotFound
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.registry.selectors import insured_person_find

from .models import LIVE_ELIGIBILITY
from .register_import_views import citation
from .services import transfer

officer_required = role_required(Role.AGENCY_OFFICER)


def _person(request: HttpRequest, id_number: str):
    if not id_number:
        return None
    try:
        return insured_person_find(request.user, id_number=id_number)
    except NotFound:
        return None


@require_http_methods(["GET", "POST"])
@officer_required
def agency_eligibility_transfer(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            person_id = int(request.POST.get("person_id", ""))
        except ValueError:
            raise NotFound(message="参保人不存在或不在本经办机构辖区") from None
        done = transfer.eligibility_transfer_with_person(
            actor=request.user,
            person_id=person_id,
            to_region=request.POST.get("to_region", "").strip(),
            effective_on=request.POST.get("effective_on") or None,
            reason=request.POST.get("reason", ""),
        )
        text = (
            f"已办理参保关系转移（{done.change.from_region.name} → {done.change.to_region.name}），"
            f"{len(done.eligibilities)} 项用药资格随之转移"
        )
        if request.headers.get("HX-Request"):
            return TemplateResponse(request, "eligibility/_transfer_done.html", {"done": text})
        messages.success(request, text)
        return redirect(reverse("agency-eligibility-transfer"))
    id_number = (request.GET.get("id_number") or "").strip()
    person = _person(request, id_number)
    context = {
        "id_number": "" if person is not None else id_number,
        "person": person,
        "citation": citation(request.user.institution, "eligibility_transfer"),
    }
    if person is not None:
        context |= {
            "masked_name": mask_name(person.name),
            "masked_id": mask_id_number(person.id_number),
            "live": person.eligibilities.filter(status__in=LIVE_ELIGIBILITY).select_related(
                "drug", "hospital"
            ),
            "changes": person.enrolment_changes.select_related("from_region", "to_region"),
        }
    elif id_number:
        context["not_found"] = True
    return TemplateResponse(request, "eligibility/agency_transfer.html", context)
