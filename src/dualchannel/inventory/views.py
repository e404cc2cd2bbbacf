"""Inventory pages. The agency's: each pharmacy's stocking coverage against its profile's minimum
[SD §6: ≥30 drugs in an urban district, ≥20 in a county; CX art. 14: ≥30% of negotiated drugs].
The pharmacy's: its stock, intake, supplier return and stocktake [issue 12, point 4]."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from dualchannel.catalog.models import Drug
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import error_codes as codes
from .models import StockItem, TraceCode, TraceCodeStatus
from .selectors import EXPIRY_WARNING_DAYS, coverage_report, movement_list, stock_list
from .service_helpers import stock_item_in_scope
from .services import stock_receive, stock_return_to_supplier, stocktake_adjust

pharmacist_required = role_required(Role.PHARMACIST)


@require_GET
@login_required
def agency_coverage(request: HttpRequest) -> HttpResponse:
    rows = coverage_report(request.user)
    return TemplateResponse(
        request,
        "inventory/agency_coverage.html",
        {
            "rows": rows,
            "short": sum(1 for r in rows if r.meets is False),
            "met": sum(1 for r in rows if r.meets),
        },
    )


# --- the pharmacy's stock pages [issue 12, point 4] ----------------------------------------------
# Intake by scanning a delivery's codes, return to the supplier, stocktake with its difference.
# Each form carries an idempotency key made when the page was rendered: a double click or a
# resubmitted page records once. The services check and write; a refusal keeps what was typed.


def _codes(text: str) -> list[str]:
    """One code a line (a scanner ends each with Enter); blanks and spaces are dropped."""
    return [code for code in (text or "").split() if code]


def _count(raw: str, codes_: list[str]) -> int | str:
    """The typed quantity, or the number of codes scanned when none is typed."""
    raw = (raw or "").strip()
    if not raw:
        return len(codes_)
    return int(raw) if raw.isdigit() else raw


FIELD_LABELS = {
    "drug_id": "药品",
    "batch_no": "生产批号",
    "expiry_date": "有效期至",
    "manufacture_date": "生产日期",
    "quantity": "数量",
    "counted_quantity": "实盘数量",
    "retail_price": "零售价",
    "purchase_price": "实际采购价",
    "supplier_name": "供应商",
    "reference": "配送单号",
    "reason": "原因或说明",
    "trace_codes": "追溯码",
}


def in_words(exc: DomainError) -> DomainError:
    """The refusal naming its field in Chinese ("原因或说明：不能为空"), not its path."""
    named = [FIELD_LABELS[f] for f in exc.fields if f in FIELD_LABELS]
    if named and not any(label in exc.message for label in named):
        exc.message = f"{'、'.join(named)}：{exc.message}"
    return exc


def _values(request: HttpRequest, names: tuple[str, ...]) -> dict[str, str]:
    return {name: request.POST.get(name, "").strip() for name in names}


def _pharmacy_id(request: HttpRequest) -> int:
    if request.user.institution_id is None:
        raise NotFound(codes.NOT_A_PHARMACY, "您的账号未关联药店")
    return request.user.institution_id


@require_GET
@pharmacist_required
def stock_home(request: HttpRequest) -> HttpResponse:
    """The pharmacy's batches in stock, expiring first marked, with the last movements."""
    pharmacy_id = _pharmacy_id(request)
    today = timezone.localdate()
    items = list(stock_list(request.user, pharmacy_id=pharmacy_id))
    soon = today + timedelta(days=EXPIRY_WARNING_DAYS)
    for item in items:
        item.expired = item.expiry_date < today
        item.expiring = today <= item.expiry_date <= soon
    movements = movement_list(request.user, pharmacy_id=pharmacy_id)[:30]
    return TemplateResponse(
        request, "inventory/stock_home.html", {"items": items, "movements": movements}
    )


RECEIPT_FIELDS = (
    "drug_id",
    "batch_no",
    "expiry_date",
    "manufacture_date",
    "quantity",
    "retail_price",
    "purchase_price",
    "supplier_name",
    "reference",
    "trace_codes",
    "idempotency_key",
)


@require_http_methods(["GET", "POST"])
@pharmacist_required
def stock_receive_page(request: HttpRequest) -> HttpResponse:
    """采购入库: scan the delivery's codes, one a line; the quantity is their count."""
    pharmacy_id = _pharmacy_id(request)
    drugs = Drug.objects.filter(
        pk__in=StockItem.objects.filter(pharmacy_id=pharmacy_id).values("drug_id")
    ).order_by("generic_name")
    error = None
    values = {"idempotency_key": uuid.uuid4().hex}
    if request.method == "POST":
        values = _values(request, RECEIPT_FIELDS)
        codes_ = _codes(values["trace_codes"])
        try:
            drug_id = int(values["drug_id"]) if values["drug_id"].isdigit() else 0
            if not drugs.filter(pk=drug_id).exists():
                raise DomainError(codes.INVALID_FIELD, "请选择药品", fields={"drug_id": ["必填"]})
            result = stock_receive(
                actor=request.user,
                drug_id=drug_id,
                batch_no=values["batch_no"],
                expiry_date=values["expiry_date"],
                manufacture_date=values["manufacture_date"] or None,
                quantity=_count(values["quantity"], codes_),
                trace_codes=codes_,
                retail_price=values["retail_price"],
                purchase_price=values["purchase_price"] or None,
                supplier_name=values["supplier_name"],
                reference=values["reference"],
                idempotency_key=values["idempotency_key"],
            )
        except DomainError as exc:
            error = in_words(exc)
        else:
            moved = result.movements[0]
            messages.success(
                request,
                f"已入库 {moved.stock_item.drug.generic_name} 批号{moved.stock_item.batch_no} "
                f"{moved.quantity_delta}{moved.stock_item.unit}",
            )
            return redirect("inventory-stock")
    return TemplateResponse(
        request,
        "inventory/stock_receive.html",
        {"drugs": drugs, "values": values, "error": error},
        status=error.status if error else 200,
    )


def _item_page(
    request: HttpRequest,
    stock_item_id: int,
    template: str,
    act,
    fields: tuple[str, ...],
) -> HttpResponse:
    """A form on one batch (return or stocktake): ``act`` calls the service with the values."""
    item = stock_item_in_scope(request.user, stock_item_id)
    error = None
    values = {"idempotency_key": uuid.uuid4().hex}
    if request.method == "POST":
        values = _values(request, (*fields, "idempotency_key"))
        try:
            message = act(item, values)
        except NotFound:
            raise
        except DomainError as exc:
            error = in_words(exc)
        else:
            messages.success(request, message)
            return redirect("inventory-stock")
    context = {
        "item": item,
        "values": values,
        "error": error,
        "codes_in_stock": TraceCode.objects.filter(
            stock_item=item, status=TraceCodeStatus.IN_STOCK
        ).count(),
        "history": movement_list(request.user, pharmacy_id=item.pharmacy_id, stock_item_id=item.pk)[
            :20
        ],
    }
    return TemplateResponse(request, template, context, status=error.status if error else 200)


@require_http_methods(["GET", "POST"])
@pharmacist_required
def stock_supplier_return_page(request: HttpRequest, stock_item_id: int) -> HttpResponse:
    """采购退货: packages of one batch back to the supplier, with their codes."""

    def act(item: StockItem, values: dict[str, str]) -> str:
        codes_ = _codes(values["trace_codes"])
        result = stock_return_to_supplier(
            actor=request.user,
            stock_item_id=item.pk,
            quantity=_count(values["quantity"], codes_),
            trace_codes=codes_,
            reason=values["reason"],
            supplier_name=values["supplier_name"],
            idempotency_key=values["idempotency_key"],
        )
        moved = result.movements[0]
        return f"已退供应商：批号{item.batch_no} {-moved.quantity_delta}{item.unit}"

    return _item_page(
        request,
        stock_item_id,
        "inventory/stock_supplier_return.html",
        act,
        ("quantity", "trace_codes", "reason", "supplier_name"),
    )


@require_http_methods(["GET", "POST"])
@pharmacist_required
def stock_stocktake_page(request: HttpRequest, stock_item_id: int) -> HttpResponse:
    """盘点: the counted quantity; the difference is booked and shown."""

    def act(item: StockItem, values: dict[str, str]) -> str:
        counted = values["counted_quantity"]
        result = stocktake_adjust(
            actor=request.user,
            stock_item_id=item.pk,
            counted_quantity=int(counted) if counted.isdigit() else counted,
            trace_codes=_codes(values["trace_codes"]),
            reason=values["reason"],
            idempotency_key=values["idempotency_key"],
        )
        moved = result.movements[0]
        delta = moved.quantity_delta
        said = "无差异" if delta == 0 else (f"盘盈{delta}" if delta > 0 else f"盘亏{-delta}")
        warned = "；".join(w["message"] for w in result.warnings)
        return f"盘点已记录：批号{item.batch_no} 实盘{moved.quantity_after}{item.unit}，{said}" + (
            f"（{warned}）" if warned else ""
        )

    return _item_page(
        request,
        stock_item_id,
        "inventory/stock_stocktake.html",
        act,
        ("counted_quantity", "trace_codes", "reason"),
    )
