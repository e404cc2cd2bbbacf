"""The officer's inspection pages [SD §9, HB art. 48]: an institution's stock, batches,
movements and traceability codes (filters, pages, .xlsx export), and spot checks of eligibility
cases with their checklist and report."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from openpyxl import Workbook

from dualchannel.core.errors import field_error
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.inventory.models import MovementKind, TraceCodeStatus
from dualchannel.registry.citation_words import citation_in_words

from . import error_codes as codes
from . import selectors, services
from .models import CHECKLIST, CHECKLIST_KEYS, CaseResult

officer_required = role_required(Role.AGENCY_OFFICER)
PAGE_SIZE = 50
EXPORT_LIMIT = 20_000
VIEWS = {"stock": "库存批次", "movements": "进销存流水", "codes": "追溯码"}
COLUMNS = {
    "stock": [
        ("药品", lambda s: s.drug.generic_name),
        ("生产批号", lambda s: s.batch_no),
        ("有效期至", lambda s: s.expiry_date.isoformat()),
        ("规格", lambda s: s.specification),
        ("库存数量", lambda s: s.quantity),
        ("零售价（元）", lambda s: str(s.retail_price)),
    ],
    "movements": [
        ("发生时间", lambda m: m.occurred_at.strftime("%Y-%m-%d %H:%M")),
        ("类型", lambda m: m.get_kind_display()),
        ("药品", lambda m: m.stock_item.drug.generic_name),
        ("生产批号", lambda m: m.stock_item.batch_no),
        ("数量变化", lambda m: m.quantity_delta),
        ("变更后库存", lambda m: m.quantity_after),
        ("上传状态", lambda m: m.get_upload_status_display()),
    ],
    "codes": [
        ("追溯码", lambda t: t.code),
        ("药品", lambda t: t.drug.generic_name if t.drug_id else ""),
        ("生产批号", lambda t: t.stock_item.batch_no if t.stock_item_id else ""),
        ("状态", lambda t: t.get_status_display()),
        ("销售时间", lambda t: t.sold_at.strftime("%Y-%m-%d %H:%M") if t.sold_at else ""),
    ],
}


def _date(raw: str, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise field_error(field, codes.INVALID_SPOT_CHECK, "日期格式应为 年-月-日") from None


def _rows(request: HttpRequest, institution, view: str):
    get = request.GET
    if view == "movements":
        return selectors.inspection_movements(
            institution,
            kind=get.get("kind", ""),
            date_from=_date(get.get("from", ""), "from"),
            date_to=_date(get.get("to", ""), "to"),
            drug=get.get("drug", ""),
        )
    if view == "codes":
        return selectors.inspection_trace_codes(
            institution, status=get.get("status", ""), code=get.get("code", "")
        )
    return selectors.inspection_stock(
        institution, drug=get.get("drug", ""), include_empty=get.get("empty") == "1"
    )


@require_GET
@officer_required
def agency_inspection(request: HttpRequest) -> HttpResponse:
    institutions = selectors.inspectable_institutions(
        request.user,
        region=request.GET.get("region", ""),
        name=request.GET.get("name", ""),
        kind=request.GET.get("kind", ""),
    )
    return TemplateResponse(
        request,
        "inspection/institutions.html",
        {
            "institutions": institutions[:200],
            "spot_checks": selectors.visible_spot_checks(request.user)[:50],
            "regions": selectors.inspectable_regions(request.user),
            "q": request.GET,
        },
    )


@require_GET
@officer_required
def agency_inspection_institution(request: HttpRequest, institution_id: int) -> HttpResponse:
    institution = selectors.inspected_institution(request.user, institution_id)
    view = request.GET.get("view", "stock")
    view = view if view in VIEWS else "stock"
    page = Paginator(_rows(request, institution, view), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return TemplateResponse(
        request,
        "inspection/institution.html",
        {
            "institution": institution,
            "view": view,
            "views": VIEWS,
            "page": page,
            "columns": [title for title, _ in COLUMNS[view]],
            "cells": [[value(row) for _, value in COLUMNS[view]] for row in page],
            "query": query.urlencode(),
            "kinds": MovementKind.choices,
            "code_statuses": TraceCodeStatus.choices,
            "q": request.GET,
        },
    )


@require_GET
@officer_required
def agency_inspection_export(request: HttpRequest, institution_id: int) -> HttpResponse:
    institution = selectors.inspected_institution(request.user, institution_id)
    view = request.GET.get("view", "stock")
    view = view if view in VIEWS else "stock"
    book = Workbook()
    sheet = book.active
    sheet.title = VIEWS[view]
    sheet.append([title for title, _ in COLUMNS[view]])
    for row in _rows(request, institution, view)[:EXPORT_LIMIT]:
        sheet.append([value(row) for _, value in COLUMNS[view]])
    out = io.BytesIO()
    book.save(out)
    response = HttpResponse(
        out.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="inspection-{institution.pk}-{view}.xlsx"'
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@officer_required
def agency_spot_check_draw(request: HttpRequest) -> HttpResponse:
    post = request.POST
    hospital = post.get("hospital_id", "")
    size = post.get("sample_size", "")
    if not hospital.isdigit() or not size.isdigit():
        raise field_error("sample_size", codes.INVALID_SPOT_CHECK, "请选择医疗机构并填写抽取数量")
    spot_check = services.spot_check_draw(
        actor=request.user,
        hospital_id=int(hospital),
        period_from=_date(post.get("period_from", ""), "period_from") or date.min,
        period_to=_date(post.get("period_to", ""), "period_to") or date.min,
        sample_size=int(size),
        seed=post.get("seed", ""),
    )
    return _to_spot_check(request, spot_check.pk)


def _to_spot_check(request: HttpRequest, spot_check_id: int) -> HttpResponse:
    if request.headers.get("HX-Request"):
        return _spot_check_page(request, spot_check_id)
    return redirect(reverse("agency-spot-check", args=[spot_check_id]))


def _spot_check_page(request: HttpRequest, spot_check_id: int) -> HttpResponse:
    spot_check = selectors.spot_check_get(request.user, spot_check_id)
    cases = list(spot_check.cases.select_related("application", "application__drug"))
    labels = {key: label for key, label, _ in CHECKLIST}
    rows: list[dict[str, Any]] = [
        {
            "case": case,
            "items": [(key, labels[key], case.checklist.get(key)) for key in CHECKLIST_KEYS],
        }
        for case in cases
    ]
    counts = {r: sum(1 for c in cases if c.result == r) for r in CaseResult.values}
    return TemplateResponse(
        request,
        "inspection/spot_check.html",
        {
            "sc": spot_check,
            "rows": rows,
            "checklist": [
                (key, label, citation_in_words(basis)) for key, label, basis in CHECKLIST
            ],
            "counts": counts,
            "results": [(CaseResult.COMPLIANT, "合规"), (CaseResult.NON_COMPLIANT, "不合规")],
        },
    )


@require_GET
@officer_required
def agency_spot_check(request: HttpRequest, spot_check_id: int) -> HttpResponse:
    return _spot_check_page(request, spot_check_id)


@require_POST
@officer_required
def agency_spot_check_case(request: HttpRequest, case_id: int) -> HttpResponse:
    post = request.POST
    case = services.spot_check_case_record(
        actor=request.user,
        case_id=case_id,
        checklist={key: post.get(key) == "1" for key in CHECKLIST_KEYS},
        result=post.get("result", ""),
        note=post.get("note", ""),
    )
    return _to_spot_check(request, case.spot_check_id)


@require_POST
@officer_required
def agency_spot_check_finish(request: HttpRequest, spot_check_id: int) -> HttpResponse:
    services.spot_check_finish(
        actor=request.user,
        spot_check_id=spot_check_id,
        conclusion=request.POST.get("conclusion", ""),
    )
    return _to_spot_check(request, spot_check_id)
