"""Pages: the agency console for institutions and designations, and the public query page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role

from . import public_cache, selectors, services
from .designations import allowed_targets, failed_assessment
from .forms import (
    InstitutionCreateForm,
    InstitutionFilterForm,
    TransitionForm,
    regions_for_officer,
)
from .models import DesignationStatus, ExitReason, InstitutionKind, Region

# Button label for each target status of the designation panel.
TRANSITION_BUTTONS = {
    DesignationStatus.EVALUATED: "评估通过",
    DesignationStatus.PUBLICISED: "公示",
    DesignationStatus.AGREEMENT_SIGNED: "签订补充协议",
    DesignationStatus.ACTIVE: "纳入（恢复）",
    DesignationStatus.SUSPENDED: "暂停",
    DesignationStatus.EXITED: "退出",
    DesignationStatus.REJECTED: "不予通过",
}


def _officer(request: HttpRequest):
    require_role(request.user, Role.AGENCY_OFFICER)
    return selectors.officer_region(request.user)


def _buttons(designation) -> list[dict]:
    return [
        {"to": to, "label": TRANSITION_BUTTONS[to]}
        for to in allowed_targets(designation)
        if to in TRANSITION_BUTTONS
    ]


@login_required
def agency_institutions(request: HttpRequest) -> HttpResponse:
    region = _officer(request)
    regions = list(regions_for_officer(region))
    filters = InstitutionFilterForm(request.GET or None, regions=regions)
    criteria = filters.cleaned_data if filters.is_valid() else {}
    institutions = selectors.institution_list(
        request.user,
        kind=criteria.get("kind") or None,
        region=criteria.get("region") or None,
        status=criteria.get("status") or None,
        q=criteria.get("q") or None,
    ).exclude(kind=InstitutionKind.AGENCY)[:200]
    form = InstitutionCreateForm(request.POST or None, regions=regions)
    if request.method == "POST" and form.is_valid():
        try:
            inst = services.institution_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            for field, msgs in exc.fields.items():
                for msg in msgs:
                    form.add_error(field if field in form.fields else None, msg)
            if not exc.fields:
                form.add_error(None, exc.message)
        else:
            messages.success(request, f"已登记{inst.name}")
            return redirect("agency-institution-detail", pk=inst.pk)
    return TemplateResponse(
        request,
        "registry/agency_institutions.html",
        {
            "filters": filters,
            "form": form,
            "institutions": institutions,
            "status_labels": dict(DesignationStatus.choices),
        },
        status=400 if request.method == "POST" else 200,
    )


def _detail_context(request: HttpRequest, pk: int) -> dict:
    inst = selectors.institution_get(request.user, pk)
    designations = list(selectors.designation_list(request.user, institution_id=inst.pk))
    current = designations[0] if designations else None
    labels = dict(DesignationStatus.choices)
    for d in designations:
        d.history_rows = [
            {
                "at": t.at,
                "from_label": labels.get(t.from_status, ""),
                "to_label": labels.get(t.to_status, t.to_status),
                "actor": t.actor,
                "reason": t.reason,
            }
            for t in selectors.designation_history(d)
        ]
    physicians = []
    if inst.kind == InstitutionKind.HOSPITAL:
        for p in selectors.physician_list(request.user, hospital_id=inst.pk):
            d = p.designations.order_by("-created_at", "-id").first()
            physicians.append(
                {
                    "physician": p,
                    "designation": d,
                    "buttons": _buttons(d) if d else [],
                    "suspension": failed_assessment(p),  # CX art. 20
                }
            )
    return {
        "inst": inst,
        "designations": designations,
        "current": current,
        "buttons": _buttons(current) if current else [],
        "can_apply": current is None
        or current.status in (DesignationStatus.EXITED, DesignationStatus.REJECTED),
        "physicians": physicians,
        "exit_reasons": ExitReason.choices,
    }


@login_required
@require_GET
def agency_institution_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _officer(request)
    return TemplateResponse(
        request, "registry/agency_institution_detail.html", _detail_context(request, pk)
    )


@login_required
@require_POST
def agency_designation_apply(request: HttpRequest, pk: int) -> HttpResponse:
    _officer(request)
    inst = selectors.institution_get(request.user, pk)
    services.designation_apply(actor=request.user, institution=inst)
    if request.headers.get("HX-Request"):
        return TemplateResponse(
            request, "registry/_designation_panel.html", _detail_context(request, pk)
        )
    messages.success(request, "已受理双通道定点申请")
    return redirect("agency-institution-detail", pk=pk)


@login_required
@require_POST
def agency_designation_transition(request: HttpRequest, pk: int) -> HttpResponse:
    _officer(request)
    designation = selectors.designation_get(request.user, pk)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        raise DomainError(
            "validation_error",
            "提交的数据格式不正确",
            fields={k: [str(m) for m in v] for k, v in form.errors.items()},
        )
    data = form.cleaned_data
    designation = services.designation_transition(
        actor=request.user,
        designation=designation,
        to_status=data["to"],
        reason=data["reason"],
        exit_reason=data["exit_reason"] or None,
        agreement_no=data["agreement_no"] or None,
    )
    hospital_id = designation.institution_id or designation.physician.hospital_id
    if not request.headers.get("HX-Request"):
        messages.success(request, "状态已变更")
        return redirect("agency-institution-detail", pk=hospital_id)
    template = (
        "registry/_designation_panel.html"
        if designation.institution_id
        else "registry/_physicians.html"
    )
    return TemplateResponse(request, template, _detail_context(request, hospital_id))


# Public query ---------------------------------------------------------------------------------


def _public_criteria(request: HttpRequest) -> dict:
    province = request.GET.get("province", "")
    city = request.GET.get("city", "")
    county = request.GET.get("county", "")
    kind = request.GET.get("kind", "")
    if kind not in (InstitutionKind.HOSPITAL, InstitutionKind.PHARMACY):
        kind = ""
    return {
        "province": province,
        "city": city,
        "county": county,
        "region": county or city or province,
        "kind": kind,
        "drug": request.GET.get("drug", "").strip()[:50],
    }


def _public_results_html(criteria: dict) -> str:
    """The results of a search as HTML, kept per worker while the data is unchanged (the
    fragment reads nothing of the visitor: no CSRF token, no user)."""

    def render() -> str:
        searched = bool(criteria["region"] or criteria["drug"])
        results = []
        if searched:
            results = selectors.public_institutions_cached(
                region=criteria["region"] or None,
                kind=criteria["kind"] or None,
                drug=criteria["drug"] or None,
            )[:100]
        physicians = selectors.public_physicians(
            [inst.pk for inst in results if inst.kind == InstitutionKind.HOSPITAL]
        )
        for inst in results:
            inst.public_physicians = physicians.get(inst.pk, [])
        terms_region = criteria["county"] or criteria["city"]
        return render_to_string(
            "registry/_public_results.html",
            {
                "criteria": criteria,
                "results": results,
                "searched": searched,
                # HB art. 16: each city publishes its conditions, process and time limits.
                "terms": selectors.public_designation_terms(terms_region) if terms_region else None,
            },
        )

    key = ("results.html", criteria["region"], criteria["kind"], criteria["drug"])
    return public_cache.cached(key, render, rows=lambda html: html.count("place-card") or 1)


def _region_selects_html(criteria: dict) -> str:
    """The form's province, city and county selects with the chosen ones selected, rendered once
    per choice and kept with the regions (``public_cache.reference``): some 60 options a page,
    the most expensive part of the whole page to render."""
    chosen = (criteria["province"], criteria["city"], criteria["county"])

    def render() -> str:
        province, city, _ = chosen
        return render_to_string(
            "registry/_public_region_selects.html",
            {
                "criteria": criteria,
                "provinces": selectors.public_regions_cached(),
                "cities": selectors.public_regions_cached(province) if province else [],
                "counties": selectors.public_regions_cached(city) if city else [],
            },
        )

    if any(len(code) > 12 for code in chosen):  # no region code: not worth keeping
        return render()
    return public_cache.reference(("region-selects.html", *chosen), render, rows=lambda _: 1)


@require_GET
def public_query(request: HttpRequest) -> HttpResponse:
    criteria = _public_criteria(request)
    return TemplateResponse(
        request,
        "registry/public_query.html",
        {
            "criteria": criteria,
            # both rendered and escaped already, each kept per worker
            "region_selects_html": mark_safe(_region_selects_html(criteria)),
            "results_html": mark_safe(_public_results_html(criteria)),
        },
    )


@require_GET
def public_query_results(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_public_results_html(_public_criteria(request)))
    # The address bar shows the full page URL, so a search can be bookmarked or shared.
    query = request.GET.urlencode()
    response["HX-Push-Url"] = reverse("public-query") + (f"?{query}" if query else "")
    return response


@require_GET
def public_query_regions(request: HttpRequest, level: str) -> HttpResponse:
    """Options of the next select (htmx): cities of a province, or counties of a city."""
    parent = request.GET.get("province" if level == "city" else "city", "")
    regions = (
        selectors.public_regions(parent)
        if parent and Region.objects.filter(code=parent).exists()
        else []
    )
    return TemplateResponse(
        request,
        "registry/_region_options.html",
        {"regions": regions, "level": level, "clear_county": level == "city"},
    )
