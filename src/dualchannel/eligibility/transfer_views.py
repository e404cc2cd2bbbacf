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
from dualchannel.registry.models import InsuredPerson, Region, RegionLevel
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


def _person_by_pk(request: HttpRequest, raw: str):
    """The person just transferred (``?person=<pk>`` after the redirect: no ID number in the
    address), while still in the officer's region."""
    person = InsuredPerson.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    return _person(request, person.id_number) if person is not None else None


def transfer_targets(person) -> list[tuple[Region, list[Region]]]:
    """The province's cities, each with its counties: where the relation may move to (a
    cross-province move is a new application in the new region) [HB art. 50]."""
    province = person.enrolment_region_id[:2]
    within = Region.objects.filter(code__startswith=province).exclude(level=RegionLevel.PROVINCE)
    cities = [r for r in within if r.level == RegionLevel.CITY]
    counties = [r for r in within if r.level != RegionLevel.CITY]
    return [(city, [c for c in counties if c.parent_id == city.code]) for city in cities]


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
        return redirect(f"{reverse('agency-eligibility-transfer')}?person={person_id}")
    id_number = (request.GET.get("id_number") or "").strip()
    person = _person(request, id_number) or _person_by_pk(request, request.GET.get("person", ""))
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
            "targets": transfer_targets(person),
        }
    elif id_number:
        context["not_found"] = True
    return TemplateResponse(request, "eligibility/agency_transfer.html", context)
