"""A monthly batch opened to its settlements for the agency's review [HB art. 33]: the rows it
holds, filtered, paged, exported (CSV or xlsx), and the approve / send-back buttons beside them
(issue 12, point 5)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET
from openpyxl import Workbook

from dualchannel.core.masking import mask_id_number
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import selectors
from .models import (
    BatchStatus,
    BenefitCategory,
    Settlement,
    SettlementBatch,
    SettlementStatus,
    UploadStatus,
)

PAGE_SIZE = 50
EXPORT_COLUMNS = [
    ("结算单号", lambda s: s.settlement_no),
    ("结算日期", lambda s: s.settled_on.strftime("%Y-%m-%d")),
    ("参保人", lambda s: s.person.name),
    ("身份证号", lambda s: mask_id_number(s.person.id_number)),
    ("待遇类别", lambda s: s.get_category_display()),
    ("状态", lambda s: s.get_status_display()),
    ("医疗费总额", lambda s: s.total),
    ("统筹基金", lambda s: s.fund),
    ("大病保险", lambda s: s.critical_illness),
    ("医疗救助", lambda s: s.assistance),
    ("惠民保", lambda s: s.commercial),
    ("个人支付", lambda s: s.personal),
    ("平台上传", lambda s: s.get_upload_status_display()),
]


def batch_filters(request: HttpRequest) -> dict[str, str]:
    """The filters as asked, each kept only when it is one the page offers."""
    category = request.GET.get("category", "")
    upload = request.GET.get("upload", "")
    return {
        "q": request.GET.get("q", "").strip()[:40],
        "category": category if category in BenefitCategory.values else "",
        "upload": upload if upload in UploadStatus.values else "",
        "fund": "1" if request.GET.get("fund") == "1" else "",
    }


def batch_settlements(batch: SettlementBatch, filters: dict[str, str]) -> QuerySet[Settlement]:
    qs = (
        Settlement.objects.filter(batch=batch)
        .select_related("person")
        .order_by("settled_on", "settlement_no")
    )
    if filters["q"]:
        qs = qs.filter(Q(settlement_no__icontains=filters["q"]) | Q(person__name=filters["q"]))
    if filters["category"]:
        qs = qs.filter(category=filters["category"])
    if filters["upload"]:
        qs = qs.filter(upload_status=filters["upload"])
    if filters["fund"]:
        qs = qs.filter(fund__gt=0)
    return qs


def _csv(batch: SettlementBatch, rows) -> HttpResponse:
    out = io.StringIO()
    out.write("\ufeff")  # Excel opens UTF-8 CSV with its byte-order mark
    writer = csv.writer(out)
    writer.writerow([title for title, _ in EXPORT_COLUMNS])
    for s in rows:
        writer.writerow([value(s) for _, value in EXPORT_COLUMNS])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(batch)}.csv"'
    return response


def _xlsx(batch: SettlementBatch, rows) -> HttpResponse:
    book = Workbook()
    sheet = book.active
    sheet.title = f"{batch.month:%Y年%m月}"
    sheet.append([title for title, _ in EXPORT_COLUMNS])
    for s in rows:
        sheet.append([value(s) for _, value in EXPORT_COLUMNS])
    out = io.BytesIO()
    book.save(out)
    response = HttpResponse(
        out.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(batch)}.xlsx"'
    return response


def _filename(batch: SettlementBatch) -> str:
    return f"batch-{batch.pk}-{batch.month:%Y-%m}"


def _context(request: HttpRequest, batch: SettlementBatch) -> dict[str, Any]:
    filters = batch_filters(request)
    qs = batch_settlements(batch, filters)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = {k: v for k, v in filters.items() if v}
    return {
        "batch": batch,
        "page": page,
        "filters": filters,
        "query": urlencode(query),
        "categories": BenefitCategory.choices,
        "uploads": UploadStatus.choices,
        "reversed_count": qs.filter(status=SettlementStatus.REVERSED).count(),
        "deductions": selectors.batch_deductions(batch),
        "history": [
            {
                "at": t.at,
                "actor": t.actor,
                "to": BatchStatus(t.to_status).label,
                "reason": t.reason,
            }
            for t in batch.history.select_related("actor").order_by("at", "id")
        ],
    }


@require_GET
@role_required(Role.AGENCY_OFFICER)
def agency_batch_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = selectors.batch_get(request.user, batch_id)
    export = request.GET.get("export", "")
    if export in ("csv", "xlsx"):
        rows = batch_settlements(batch, batch_filters(request)).iterator()
        return _csv(batch, rows) if export == "csv" else _xlsx(batch, rows)
    return TemplateResponse(
        request, "settlement/agency_batch_detail.html", _context(request, batch)
    )
