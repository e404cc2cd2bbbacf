"""Agency console pages for the catalogue: live search, drug detail, criteria editing (htmx)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import NotFound, field_error
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import selectors, services
from .categories import all_categories
from .criteria import CONTEXT_VARIABLES
from .models import CriteriaStatus, Criterion, CriterionKind, MaterialKind, SpecialControl

PAGE_SIZE = 50
FLAG_LABELS = [
    ("is_dual_channel", "双通道"),
    ("is_separately_paid", "单独支付"),
    ("is_anti_cancer", "抗癌"),
    ("is_injectable", "注射剂"),
    ("needs_cold_chain", "冷链"),
]


officer_required = role_required(Role.AGENCY_OFFICER)


def _flag_filters(params) -> dict[str, bool | None]:
    return {name: True if params.get(name) == "1" else None for name, _ in FLAG_LABELS}


def _search_query(q: str, category: str, flags: dict, missing: bool) -> str:
    """The search as a query string, for the page links."""
    params = {"q": q, "category": category, **{k: "1" for k, v in flags.items() if v}}
    if missing:
        params["missing_standard"] = "1"
    return urlencode({k: v for k, v in params.items() if v})


@require_GET
@officer_required
def catalog_search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    category = request.GET.get("category", "").strip()
    flags = _flag_filters(request.GET)
    missing = request.GET.get("missing_standard") == "1"
    drugs = selectors.drug_search(q=q, category=category, flags=flags)
    missing_ids = set(selectors.confidential_amount_missing().values_list("pk", flat=True))
    if missing:
        drugs = drugs.filter(pk__in=missing_ids)
    page = Paginator(drugs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "q": q,
        "category": category,
        "flags": flags,
        "flag_labels": FLAG_LABELS,
        "missing_standard": missing,
        "missing_count": len(missing_ids),
        "page": page,
        "drugs": [
            (drug, selectors.category_label(drug.category_code), drug.pk in missing_ids)
            for drug in page
        ],
        "total": page.paginator.count,
        "query": _search_query(q, category, flags, missing),
        "categories": all_categories(),
    }
    template = (
        "catalog/_results.html" if request.headers.get("HX-Request") else "catalog/search.html"
    )
    return TemplateResponse(request, template, context)


def _criteria_context(request: HttpRequest, drug) -> dict:
    """The national baseline, the set in force for the officer's region, and the sets the
    officer may read (national and own region), each marked editable or not."""
    user = request.user
    region = selectors.officer_region(user)
    sets = selectors.criteria_sets_for(drug, user)
    for criteria_set in sets:
        criteria_set.editable = selectors.can_edit_criteria(user, criteria_set)
    active = [s for s in sets if s.status != CriteriaStatus.RETIRED]
    # A new draft is for the officer's region (admins without one: the national baseline).
    draft_region_code = region.code if region is not None else None
    can_create = selectors.criteria_region_covered(user, draft_region_code)
    has_draft = any(
        s.status == CriteriaStatus.DRAFT and s.region_id == draft_region_code for s in sets
    )
    return {
        "drug": drug,
        "officer_region": region,
        "national_criteria": selectors.published_criteria(drug),
        "in_force_label": selectors.in_force_label(region) if region is not None else "",
        "in_force": selectors.published_criteria(drug, region) if region is not None else None,
        "draft_scope": region.name if region is not None else selectors.NATIONAL_LABEL,
        "criteria_sets": active,
        "retired_sets": [s for s in sets if s.status == CriteriaStatus.RETIRED],
        "has_draft": has_draft,
        "can_create_draft": can_create and not has_draft,
        "kinds": CriterionKind.choices,
        "material_kinds": MaterialKind.choices,
        "context_variables": CONTEXT_VARIABLES,
    }


def _standards_context(request: HttpRequest, drug) -> dict:
    return {
        "drug": drug,
        "current_standards": [
            selectors.standard_view(s, request.user)
            for s in selectors.current_payment_standards(drug)
        ],
        "standard_history": [
            selectors.standard_view(s, request.user)
            for s in selectors.payment_standard_history(drug)
        ],
    }


def _flags_context(drug) -> dict:
    return {
        "drug": drug,
        "flag_values": [(name, label, getattr(drug, name)) for name, label in FLAG_LABELS],
        "special_controls": SpecialControl.choices,
    }


@require_GET
@officer_required
def drug_detail(request: HttpRequest, drug_id: int) -> HttpResponse:
    drug = selectors.drug_get(drug_id)
    context = {
        "category_label": selectors.category_label(drug.category_code),
        "restriction": selectors.current_restriction(drug),
        "restriction_history": selectors.restriction_history(drug),
        **_standards_context(request, drug),
        **_criteria_context(request, drug),
        **_flags_context(drug),
    }
    return TemplateResponse(request, "catalog/detail.html", context)


def _criteria_panel(request: HttpRequest, drug_id: int, message: str = "") -> HttpResponse:
    drug = selectors.drug_get(drug_id)
    context = {**_criteria_context(request, drug), "message": message}
    return TemplateResponse(request, "catalog/_criteria.html", context)


@require_POST
@officer_required
def criteria_new_draft(request: HttpRequest, drug_id: int) -> HttpResponse:
    draft = services.criteria_set_create_draft(actor=request.user, drug_id=drug_id)
    return _criteria_panel(request, drug_id, f"已新建草稿 v{draft.version}")


@require_POST
@officer_required
def criteria_settings(request: HttpRequest, set_id: int) -> HttpResponse:
    cycle_text = request.POST.get("evaluation_cycle_days", "").strip()
    if cycle_text and not cycle_text.isdigit():
        raise field_error("evaluation_cycle_days", "catalog.invalid_cycle", "复查评估周期应为天数")
    criteria_set = services.criteria_set_update(
        actor=request.user,
        criteria_set_id=set_id,
        evaluation_cycle_days=int(cycle_text) if cycle_text else None,
        required_material_kinds=request.POST.getlist("required_material_kinds"),
        note=request.POST.get("note", ""),
    )
    return _criteria_panel(request, criteria_set.drug_id, "已保存")


@require_POST
@officer_required
def criterion_add(request: HttpRequest, set_id: int) -> HttpResponse:
    item = services.criterion_add(
        actor=request.user,
        criteria_set_id=set_id,
        code=request.POST.get("code", "").strip(),
        kind=request.POST.get("kind", ""),
        text=request.POST.get("text", ""),
        group=request.POST.get("group", ""),
        expression=request.POST.get("expression", ""),
    )
    return _criteria_panel(request, item.criteria_set.drug_id, f"已新增条目 {item.code}")


@require_POST
@officer_required
def criterion_edit(request: HttpRequest, item_id: int) -> HttpResponse:
    item = services.criterion_update(
        actor=request.user,
        criterion_id=item_id,
        kind=request.POST.get("kind"),
        text=request.POST.get("text"),
        group=request.POST.get("group"),
        expression=request.POST.get("expression"),
    )
    return _criteria_panel(request, item.criteria_set.drug_id, f"已保存条目 {item.code}")


@require_POST
@officer_required
def criterion_delete(request: HttpRequest, item_id: int) -> HttpResponse:
    item = Criterion.objects.select_related("criteria_set").filter(pk=item_id).first()
    if item is None:
        raise NotFound("catalog.criterion_not_found", "认定条件项不存在")
    drug_id = item.criteria_set.drug_id
    services.criterion_remove(actor=request.user, criterion_id=item_id)
    return _criteria_panel(request, drug_id, "已删除条目")


@require_POST
@officer_required
def criterion_move(request: HttpRequest, item_id: int, direction: str) -> HttpResponse:
    item = Criterion.objects.select_related("criteria_set").filter(pk=item_id).first()
    if item is None:
        raise NotFound("catalog.criterion_not_found", "认定条件项不存在")
    codes = list(item.criteria_set.items.order_by("position").values_list("code", flat=True))
    index = codes.index(item.code)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(codes):
        codes[index], codes[target] = codes[target], codes[index]
    services.criteria_set_reorder(
        actor=request.user, criteria_set_id=item.criteria_set_id, codes=codes
    )
    return _criteria_panel(request, item.criteria_set.drug_id)


@require_POST
@officer_required
def criteria_publish(request: HttpRequest, set_id: int) -> HttpResponse:
    criteria_set = services.criteria_set_publish(
        actor=request.user, criteria_set_id=set_id, reason=request.POST.get("reason", "")
    )
    return _criteria_panel(request, criteria_set.drug_id, f"v{criteria_set.version} 已发布")


@require_POST
@officer_required
def criteria_retire(request: HttpRequest, set_id: int) -> HttpResponse:
    criteria_set = services.criteria_set_retire(
        actor=request.user, criteria_set_id=set_id, reason=request.POST.get("reason", "")
    )
    return _criteria_panel(request, criteria_set.drug_id, f"v{criteria_set.version} 已停用")


@require_POST
@officer_required
def standard_amount(request: HttpRequest, standard_id: int) -> HttpResponse:
    standard = services.payment_standard_set_amount(
        actor=request.user,
        payment_standard_id=standard_id,
        amount=request.POST.get("amount", "").strip() or "0",
    )
    drug = selectors.drug_get(standard.drug_id)
    context = {**_standards_context(request, drug), "message": "保密支付标准金额已录入"}
    return TemplateResponse(request, "catalog/_standards.html", context)


@require_POST
@officer_required
def drug_flags(request: HttpRequest, drug_id: int) -> HttpResponse:
    flags = {name: request.POST.get(name) == "1" for name, _ in FLAG_LABELS}
    drug = services.drug_update_flags(
        actor=request.user,
        drug_id=drug_id,
        special_control=request.POST.get("special_control", ""),
        **flags,
    )
    return TemplateResponse(
        request, "catalog/_flags.html", {**_flags_context(drug), "message": "标志已保存"}
    )
