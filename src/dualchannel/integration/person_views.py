"""The officer's person page [national 1101]: find an insured person by ID number and, when the
registry does not hold them, 从医保平台查询 — the platform's person query fills name, insurance
type, enrolment region and benefit status (``services.person``). Shown masked."""

from __future__ import annotations

from contextlib import suppress

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import NotFound
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.registry.selectors import insured_person_find, person_card

from .services.person import insured_person_fetch

officer_required = role_required(Role.AGENCY_OFFICER)
TEMPLATE = "integration/agency_persons.html"


@require_GET
@officer_required
def agency_persons(request: HttpRequest) -> HttpResponse:
    id_number = request.GET.get("id_number", "").strip().upper()
    context = {"id_number": id_number, "card": None, "searched": len(id_number) == 18}
    if context["searched"]:
        with suppress(NotFound):  # not in the registry, or outside the officer's region
            context["card"] = person_card(insured_person_find(request.user, id_number=id_number))
    return TemplateResponse(request, TEMPLATE, context)


@require_POST
@officer_required
def agency_person_fetch(request: HttpRequest) -> HttpResponse:
    fetched = insured_person_fetch(
        actor=request.user,
        id_number=request.POST.get("id_number", ""),
        name=request.POST.get("name", ""),
    )
    context = {
        "id_number": fetched.person.id_number,
        "card": person_card(fetched.person),
        "searched": True,
        "fetched": "登记" if fetched.created else "更新",
    }
    return TemplateResponse(request, TEMPLATE, context)
