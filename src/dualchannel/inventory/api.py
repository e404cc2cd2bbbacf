"""Inventory API (/api/v1/inventory): the pharmacy's stock and movements; coverage for officers.

Paths name the pharmacy or the row, so that a pharmacist of another pharmacy is told "not found"
rather than acting on their own stock by accident. Writes take an ``idempotency_key``: sending
the same request again returns the first answer. Sales are recorded by dispensing, not here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema

from dualchannel.core.auth import api_auth

from . import selectors, services
from .models import PLATFORM_INFNO, StockItem, StockMovement
from .services import StockResult
from .upload import inventory_upload_retry

router = Router(tags=["inventory"], auth=api_auth)

Key = Field(..., min_length=1, max_length=100, description="幂等键：重发同一请求时保持不变")


# --- schemas -----------------------------------------------------------------------------------


class StockItemOut(Schema):
    id: int
    pharmacy_id: int
    drug_id: int
    drug_name: str
    batch_no: str
    expiry_date: date
    expired: bool
    manufacture_date: date | None
    manufacturer: str
    approval_no: str
    specification: str
    unit: str
    retail_price: Decimal
    purchase_price: Decimal | None = None
    quantity: int
    donated: bool = Field(..., description="批次含赠药（医保基金不予支付）")
    updated_at: datetime


class InventoryWarningOut(Schema):
    code: str
    message: str
    trace_code: str = ""


class MovementOut(Schema):
    id: int
    kind: str
    kind_label: str
    infno: str
    stock_item_id: int
    drug_id: int
    drug_name: str
    batch_no: str
    line_no: int
    quantity_delta: int
    quantity_after: int
    occurred_at: datetime
    reference: str
    note: str
    donated: bool = Field(..., description="赠药入库")
    related_movement_id: int | None
    upload_status: str
    upload_status_label: str
    upload_attempts: int
    upload_msgid: str
    upload_error: str
    uploaded_at: datetime | None
    warnings: list[InventoryWarningOut]


class UploadTransitionOut(Schema):
    from_status: str
    to_status: str
    reason: str
    at: datetime


class MovementDetail(MovementOut):
    trace_codes: list[str]
    upload_history: list[UploadTransitionOut]


class StockResultOut(Schema):
    movements: list[MovementOut]
    warnings: list[InventoryWarningOut]
    replayed: bool


class ReceiptIn(Schema):
    drug_id: int
    batch_no: str
    expiry_date: date
    quantity: int = Field(..., ge=1)
    trace_codes: list[str] = []
    retail_price: Decimal = Field(..., ge=0)
    purchase_price: Decimal | None = Field(
        None, ge=0, description="实际采购价（元/包装），楚雄等以实际采购价作为销售价格的地区必填"
    )
    manufacturer: str = ""
    approval_no: str = ""
    specification: str = ""
    manufacture_date: date | None = None
    unit: str = "盒"
    supplier_name: str = Field("", description="供应商；赠药时为捐赠方（企业、慈善组织或援助项目）")
    reference: str = ""
    donated: bool = Field(
        False,
        description="赠药：药品生产企业或慈善组织无偿提供（如患者援助项目），售出时医保基金不予"
        "支付（鄂医保发〔2023〕35号第三十一条第七项）",
    )
    idempotency_key: str = Key


class SupplierReturnIn(Schema):
    quantity: int = Field(..., ge=1)
    trace_codes: list[str] = []
    reason: str
    supplier_name: str = ""
    idempotency_key: str = Key


class StocktakeIn(Schema):
    counted_quantity: int = Field(..., ge=0)
    reason: str
    trace_codes: list[str] = Field(
        [],
        description="盘盈：多出药品的追溯码；盘亏：缺失药品的追溯码（每盒一个，至多为盘点差异）",
    )
    idempotency_key: str = Key


class InventoryFefoPickOut(Schema):
    stock_item_id: int
    batch_no: str
    expiry_date: date
    in_stock: int
    quantity: int


class FefoOut(Schema):
    drug_id: int
    wanted: int
    available: int
    shortfall: int
    picks: list[InventoryFefoPickOut]


class CoverageOut(Schema):
    pharmacy_id: int
    pharmacy_name: str
    region_code: str
    area: str
    drugs_in_stock: int
    negotiated_in_catalogue: int
    ratio: Decimal | None
    min_drugs: int | None
    min_ratio: Decimal | None
    meets: bool | None
    profile_name: str
    basis: str


def _stock_out(item: StockItem) -> dict:
    return {
        "id": item.pk,
        "pharmacy_id": item.pharmacy_id,
        "drug_id": item.drug_id,
        "drug_name": item.drug.generic_name,
        "batch_no": item.batch_no,
        "expiry_date": item.expiry_date,
        "expired": item.expiry_date < timezone.localdate(),
        "manufacture_date": item.manufacture_date,
        "manufacturer": item.manufacturer,
        "approval_no": item.approval_no,
        "specification": item.specification,
        "unit": item.unit,
        "retail_price": item.retail_price,
        "purchase_price": item.purchase_price,
        "quantity": item.quantity,
        "donated": item.donated,
        "updated_at": item.updated_at,
    }


def _movement_out(m: StockMovement) -> dict:
    return {
        "id": m.pk,
        "kind": m.kind,
        "kind_label": m.get_kind_display(),
        "infno": PLATFORM_INFNO[m.kind],
        "stock_item_id": m.stock_item_id,
        "drug_id": m.stock_item.drug_id,
        "drug_name": m.stock_item.drug.generic_name,
        "batch_no": m.stock_item.batch_no,
        "line_no": m.line_no,
        "quantity_delta": m.quantity_delta,
        "quantity_after": m.quantity_after,
        "occurred_at": m.occurred_at,
        "reference": m.reference,
        "note": m.note,
        "donated": m.donated,
        "related_movement_id": m.related_movement_id,
        "upload_status": m.upload_status,
        "upload_status_label": m.get_upload_status_display(),
        "upload_attempts": m.upload_attempts,
        "upload_msgid": m.upload_msgid,
        "upload_error": m.upload_error,
        "uploaded_at": m.uploaded_at,
        "warnings": m.warnings,
    }


def _detail(m: StockMovement) -> dict:
    return {
        **_movement_out(m),
        "trace_codes": selectors.movement_trace_codes(m),
        "upload_history": [
            {"from_status": h.from_status, "to_status": h.to_status, "reason": h.reason, "at": h.at}
            for h in m.upload_history.all()
        ],
    }


def _result(result: StockResult) -> dict:
    return {
        "movements": [_movement_out(m) for m in result.movements],
        "warnings": result.warnings,
        "replayed": result.replayed,
    }


# --- pharmacy ----------------------------------------------------------------------------------


@router.get(
    "/pharmacies/{pharmacy_id}/stock", response=list[StockItemOut], summary="药店库存（按批次）"
)
def stock_list(
    request: HttpRequest, pharmacy_id: int, drug_id: int | None = None, include_empty: bool = False
):
    rows = selectors.stock_list(
        request.user, pharmacy_id=pharmacy_id, drug_id=drug_id, include_empty=include_empty
    )
    return [_stock_out(item) for item in rows[:1000]]


@router.post(
    "/pharmacies/{pharmacy_id}/receipts",
    response=StockResultOut,
    summary="采购入库、赠药入库（3503）",
)
def receipts_create(request: HttpRequest, pharmacy_id: int, payload: ReceiptIn):
    pharmacy = selectors.pharmacy_for_stock(request.user, pharmacy_id)
    result = services.stock_receive(actor=request.user, pharmacy=pharmacy, **payload.model_dump())
    return _result(result)


@router.get("/pharmacies/{pharmacy_id}/movements", response=list[MovementOut], summary="进销存记录")
def movements_list(
    request: HttpRequest,
    pharmacy_id: int,
    kind: str = "",
    upload_status: str = "",
    stock_item_id: int | None = None,
    reference: str = "",
):
    rows = selectors.movement_list(
        request.user,
        pharmacy_id=pharmacy_id,
        kind=kind or None,
        upload_status=upload_status or None,
        stock_item_id=stock_item_id,
        reference=reference or None,
    )
    return [_movement_out(m) for m in rows[:500]]


@router.get("/pharmacies/{pharmacy_id}/fefo", response=FefoOut, summary="近效期先出的批次建议")
def fefo(request: HttpRequest, pharmacy_id: int, drug_id: int, quantity: int = 1):
    pharmacy = selectors.pharmacy_for_stock(request.user, pharmacy_id)
    suggestion = selectors.fefo_suggestion(pharmacy, drug_id, quantity)
    return {
        "drug_id": drug_id,
        "wanted": suggestion.wanted,
        "available": suggestion.available,
        "shortfall": suggestion.shortfall,
        "picks": [
            {
                "stock_item_id": p.stock_item.pk,
                "batch_no": p.stock_item.batch_no,
                "expiry_date": p.stock_item.expiry_date,
                "in_stock": p.stock_item.quantity,
                "quantity": p.quantity,
            }
            for p in suggestion.picks
        ],
    }


@router.post(
    "/stock/{stock_item_id}/supplier-returns",
    response=StockResultOut,
    summary="采购退货（3504）",
)
def supplier_returns_create(request: HttpRequest, stock_item_id: int, payload: SupplierReturnIn):
    result = services.stock_return_to_supplier(
        actor=request.user, stock_item_id=stock_item_id, **payload.model_dump()
    )
    return _result(result)


@router.post(
    "/stock/{stock_item_id}/stocktakes", response=StockResultOut, summary="盘点调整（3501）"
)
def stocktakes_create(request: HttpRequest, stock_item_id: int, payload: StocktakeIn):
    result = services.stocktake_adjust(
        actor=request.user, stock_item_id=stock_item_id, **payload.model_dump()
    )
    return _result(result)


@router.get("/movements/{movement_id}", response=MovementDetail, summary="进销存记录详情")
def movements_detail(request: HttpRequest, movement_id: int):
    return _detail(selectors.movement_get(request.user, movement_id))


@router.post(
    "/movements/{movement_id}/upload-retry",
    response=MovementDetail,
    summary="重新上传医保平台",
)
def movements_upload_retry(request: HttpRequest, movement_id: int):
    movement = inventory_upload_retry(actor=request.user, movement_id=movement_id)
    return _detail(selectors.movement_get(request.user, movement.pk))


# --- agency ------------------------------------------------------------------------------------


@router.get("/coverage", response=list[CoverageOut], summary="本统筹区药店谈判药品配备情况")
def coverage(request: HttpRequest):
    return [row.__dict__ for row in selectors.coverage_report(request.user)]
