"""The only writers of pharmacy stock: receive, return to supplier, stocktake, sale, sale return.

Each is one transaction — a savepoint when the caller already has one: ``sale_record`` runs
inside the dispensing transaction and never commits on its own. Each locks the stock items it
changes in primary-key order, then the traceability codes in code order, checks, writes one
movement per line with its audit event, and queues the movement's upload to the national
platform (a job that exists iff the change commits; ``inventory.upload``).

Idempotency: the same key with the same body returns the original result and writes nothing;
with another body it is refused (``inventory.idempotency_mismatch``).

A refusal a supervisor must see (a traceability code sold or received twice) raises an alert
that survives the refusal (``monitoring.services.alert_raise_independent``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.utils import timezone

from dualchannel.catalog.models import Drug
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import DomainError, field_error
from dualchannel.core.models import User
from dualchannel.integration.nhsa.envelope import platform_connected

from . import error_codes as codes
from . import tracecodes as tc
from .models import (
    StockItem,
    TraceCode,
)
from .sales import SaleLine, sale_record, sale_return
from .service_helpers import (
    K,
    StockResult,
    T,
    clean_count,
    clean_date,
    clean_price,
    clean_purchase_price,
    clean_text,
    code_alert,
    lock_codes,
    lock_item,
    movement_request_digest,
    pharmacy_for,
    record_movement,
    replayed_result,
    request_key,
    require_stock,
    save_codes,
    stock_item_in_scope,
    stock_transaction,
)

__all__ = [
    "SaleLine",
    "StockResult",
    "sale_record",
    "sale_return",
    "stock_receive",
    "stock_return_to_supplier",
    "stocktake_adjust",
]

# --- purchase (3503) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Receipt:
    """A purchase as validated before any lock is taken."""

    shop: Any
    key: str | None
    drug: Any
    batch_no: str
    expiry: date
    made: date | None
    quantity: int
    price: Decimal
    purchase_price: Decimal | None  # the actual purchase price [CX art. 14(2)]
    texts: dict[str, str]  # manufacturer, approval_no, specification: set on the batch if given
    unit: str
    supplier_name: str
    reference: str
    codes_: list[str]
    donated: bool = False  # 赠药 [HB art. 31(7)]: ``supplier_name`` is the donor

    @cached_property
    def request_digest(self) -> str:
        """The digest the idempotency key is bound to (computed once)."""
        # a purchase's digest is what it was before donations were recorded
        marked = {"donated": True} if self.donated else {}
        body = {
            **marked,
            "drug_id": self.drug.pk,
            "batch_no": self.batch_no,
            "expiry_date": self.expiry,
            "manufacture_date": self.made,
            "quantity": self.quantity,
            "trace_codes": self.codes_,
            "retail_price": self.price,
            **({"purchase_price": self.purchase_price} if self.purchase_price is not None else {}),
            "unit": self.unit,
            "supplier_name": self.supplier_name,
            "reference": self.reference,
            **self.texts,
        }
        return movement_request_digest("receive", self.shop.pk, body)


def stock_receive(
    *,
    actor: User,
    drug_id: int,
    batch_no: str,
    expiry_date: date | str,
    quantity: int,
    trace_codes: Sequence[str],
    retail_price: Decimal | str,
    manufacturer: str = "",
    approval_no: str = "",
    specification: str = "",
    manufacture_date: date | str | None = None,
    idempotency_key: str | None,
    pharmacy: Any = None,
    unit: str = "盒",
    supplier_name: str = "",
    reference: str = "",
    donated: bool = False,
    purchase_price: Decimal | str | None = None,
) -> StockResult:
    """Receive a purchase into the actor's pharmacy (an admin names ``pharmacy``).

    ``donated``: the stock is a donation (赠药: given free by the manufacturer or a charity,
    e.g. a patient-assistance programme), ``supplier_name`` naming the donor. Its codes and its
    batch are marked, and a box of it is never paid by the fund [HB art. 31(7)].

    ``purchase_price``: the actual purchase price per package, recorded on the batch (and sent as
    3503 ``finl_trns_pric``); under a profile whose sale price is the purchase price it is what
    the counter charges for a box of the batch [CX art. 14(2)]."""
    receipt = _clean_receipt(
        actor=actor,
        drug_id=drug_id,
        batch_no=batch_no,
        expiry_date=expiry_date,
        quantity=quantity,
        trace_codes=trace_codes,
        retail_price=retail_price,
        manufacturer=manufacturer,
        approval_no=approval_no,
        specification=specification,
        manufacture_date=manufacture_date,
        idempotency_key=idempotency_key,
        pharmacy=pharmacy,
        unit=unit,
        supplier_name=supplier_name,
        reference=reference,
        donated=donated,
        purchase_price=purchase_price,
    )
    replay = replayed_result(receipt.shop.pk, receipt.key, receipt.request_digest)
    if replay is not None:
        return replay
    return stock_transaction(lambda alerts: _receive_locked(actor, receipt, alerts))


def _clean_receipt(
    *,
    actor: User,
    drug_id: int,
    batch_no: str,
    expiry_date: date | str,
    quantity: int,
    trace_codes: Sequence[str],
    retail_price: Decimal | str,
    manufacturer: str,
    approval_no: str,
    specification: str,
    manufacture_date: date | str | None,
    idempotency_key: str | None,
    pharmacy: Any,
    unit: str,
    supplier_name: str,
    reference: str,
    donated: bool = False,
    purchase_price: Decimal | str | None = None,
) -> _Receipt:
    """Check a purchase's input, field by field in a fixed order (the first refusal wins)."""

    shop = pharmacy_for(actor, pharmacy)
    key = request_key(idempotency_key)
    drug = Drug.objects.filter(pk=drug_id).first() if isinstance(drug_id, int) else None
    if drug is None:
        raise field_error("drug_id", codes.DRUG_NOT_FOUND, "药品不存在")
    if not drug.national_code and platform_connected(shop):
        # Its upload (3503, then 3505 at sale) would be refused: 医疗目录编码 is required.
        message = "该药品尚无医保药品代码（医疗目录编码），不能入库；请先在药品目录中补录"
        raise field_error("drug_id", codes.DRUG_WITHOUT_NATIONAL_CODE, message)
    batch_no = clean_text("batch_no", batch_no, max_length=50, required=True)
    expiry = clean_date("expiry_date", expiry_date, required=True)
    made = clean_date("manufacture_date", manufacture_date, required=False)
    quantity = clean_count("quantity", quantity)
    price = clean_price(retail_price)
    bought_at = clean_purchase_price(purchase_price)
    texts = {
        "manufacturer": clean_text("manufacturer", manufacturer, max_length=200),
        "approval_no": clean_text("approval_no", approval_no, max_length=100),
        "specification": clean_text("specification", specification, max_length=300),
    }
    unit = clean_text("unit", unit, max_length=10, required=True)
    supplier_name = clean_text("supplier_name", supplier_name, max_length=200)
    reference = clean_text("reference", reference, max_length=100)
    if not isinstance(donated, bool):
        raise field_error("donated", codes.INVALID_FIELD, "是否赠药应为是或否")
    if donated and not supplier_name:
        message = "赠药入库请填写捐赠方（企业、慈善组织或援助项目）"
        raise field_error("supplier_name", codes.DONOR_REQUIRED, message)
    codes_ = tc.normalise(trace_codes)
    tc.check_count(codes_, quantity, required=shop.traceability_enabled)
    _check_receipt_dates(batch_no, expiry, made)
    return _Receipt(
        shop=shop,
        key=key,
        drug=drug,
        batch_no=batch_no,
        expiry=expiry,
        made=made,
        quantity=quantity,
        price=price,
        purchase_price=bought_at,
        texts=texts,
        unit=unit,
        supplier_name=supplier_name,
        reference=reference,
        codes_=codes_,
        donated=donated,
    )


def _check_receipt_dates(batch_no: str, expiry: date, made: date | None) -> None:
    today = timezone.localdate()
    if expiry < today:
        raise field_error(
            "expiry_date", codes.BATCH_EXPIRED, f"批号{batch_no}已于{expiry}过期，不能入库"
        )
    if made is not None and (made > expiry or made > today):
        raise field_error("manufacture_date", codes.INVALID_FIELD, "生产日期不能晚于今天或有效期")


def _receive_locked(actor: User, receipt: _Receipt, alerts: list[dict[str, Any]]) -> StockResult:
    """Inside the transaction: replay, lock the batch (if known) and the codes, check, write."""
    replay = replayed_result(receipt.shop.pk, receipt.key, receipt.request_digest)
    if replay is not None:
        return replay
    item = (
        StockItem.objects.select_for_update(of=("self",))
        .filter(pharmacy=receipt.shop, drug=receipt.drug, batch_no=receipt.batch_no)
        .first()
    )
    if item is not None and item.expiry_date != receipt.expiry:
        raise field_error(
            "expiry_date",
            codes.BATCH_MISMATCH,
            f"批号{receipt.batch_no}已登记的有效期为{item.expiry_date}，与本次填写不符",
        )
    existing = lock_codes(receipt.codes_)
    findings = _receipt_findings(receipt, item, existing, alerts)
    return _write_receipt(actor, receipt, item, existing, findings)


def _receipt_findings(
    receipt: _Receipt,
    item: StockItem | None,
    existing: dict[str, TraceCode],
    alerts: list[dict[str, Any]],
) -> tc.Findings:
    """Refuse codes in stock or sold (alerted) or of another drug; warn on foreign prefixes."""
    codes_, drug = receipt.codes_, receipt.drug
    findings = tc.Findings(warnings=tc.nonstandard_warnings(codes_))
    for code in codes_:
        found = existing.get(code)
        if found is None:
            continue
        if found.status in (T.IN_STOCK, T.SOLD):
            findings.duplicate.append(found)
            severity = "high" if found.status == T.SOLD else "warning"
            alerts.append(
                code_alert(
                    codes.RULE_TRACE_CODE_DUPLICATE,
                    severity,
                    found,
                    pharmacy=receipt.shop,
                    item_id=item.pk if item else None,
                    attempt="purchase",
                    attempt_batch_no=receipt.batch_no,
                )
            )
        elif found.drug_id != drug.pk:
            findings.wrong_drug.append(code)
    findings.raise_first()
    new_codes = [c for c in codes_ if c not in existing]
    for prefix in sorted(tc.prefixes_of_other_drugs(new_codes, drug.pk)):
        findings.warnings.append(
            tc.warning(
                codes.WARN_TRACE_CODE_PREFIX_OTHER_DRUG,
                f"追溯码产品标识{prefix}已用于其他药品，请核对实物",
                product_prefix=prefix,
            )
        )
    return findings


def _write_receipt(
    actor: User,
    receipt: _Receipt,
    item: StockItem | None,
    existing: dict[str, TraceCode],
    findings: tc.Findings,
) -> StockResult:
    """Add to the batch (created if new), book the codes in stock, record the movement."""
    now = timezone.now()
    if item is None:
        item = StockItem(
            pharmacy=receipt.shop,
            drug=receipt.drug,
            batch_no=receipt.batch_no,
            expiry_date=receipt.expiry,
            quantity=0,
        )
        before: dict[str, Any] = {}
    else:
        before = snapshot(item)
    item.quantity += receipt.quantity
    item.retail_price = receipt.price
    if receipt.purchase_price is not None:
        item.purchase_price = receipt.purchase_price
    item.unit = receipt.unit
    item.manufacture_date = receipt.made or item.manufacture_date
    for name, value in receipt.texts.items():
        if value:
            setattr(item, name, value)
    item.donated = item.donated or receipt.donated  # the batch holds donated boxes [HB 31(7)]
    item.updated_at = now
    item.save()
    new = [
        TraceCode(
            code=c,
            product_prefix=tc.product_prefix(c),
            drug=receipt.drug,
            stock_item=item,
            status=T.IN_STOCK,
            donated=receipt.donated,
        )
        for c in receipt.codes_
        if c not in existing
    ]
    again = [existing[c] for c in receipt.codes_ if c in existing]  # back from a supplier return
    for row in again:
        row.stock_item, row.status, row.received, row.sold_at = item, T.IN_STOCK, True, None
        row.donated = receipt.donated
    movement = record_movement(
        actor=actor,
        pharmacy=receipt.shop,
        item=item,
        before=before or None,
        kind=K.PURCHASE,
        delta=receipt.quantity,
        action="inventory.stock_received",
        key=receipt.key,
        request_digest=receipt.request_digest,
        warnings=findings.warnings,
        trace_codes=receipt.codes_,
        reference=receipt.reference,
        supplier_name=receipt.supplier_name,
        donated=receipt.donated,
    )
    save_codes(movement, new=new, changed=again)
    return StockResult([movement], findings.warnings)


# --- purchase return (3504) --------------------------------------------------------------------


@dataclass(frozen=True)
class _SupplierReturn:
    """A return to the supplier as validated before any lock is taken."""

    shop: Any
    key: str | None
    stock_item_id: int
    quantity: int
    reason: str
    supplier_name: str
    codes_: list[str]
    request_digest: str


def stock_return_to_supplier(
    *,
    actor: User,
    stock_item_id: int,
    quantity: int,
    trace_codes: Sequence[str],
    reason: str,
    idempotency_key: str | None,
    supplier_name: str = "",
) -> StockResult:
    """Send packages of one batch back to the supplier (expired batches included)."""
    returning = _clean_supplier_return(
        actor, stock_item_id, quantity, trace_codes, reason, idempotency_key, supplier_name
    )
    replay = replayed_result(returning.shop.pk, returning.key, returning.request_digest)
    if replay is not None:
        return replay
    return stock_transaction(lambda alerts: _supplier_return_locked(actor, returning))


def _clean_supplier_return(
    actor: User,
    stock_item_id: int,
    quantity: int,
    trace_codes: Sequence[str],
    reason: str,
    idempotency_key: str | None,
    supplier_name: str,
) -> _SupplierReturn:
    """Check a return's input (the batch must be in the actor's scope) and digest it."""
    scoped = stock_item_in_scope(actor, stock_item_id)
    shop = scoped.pharmacy
    key = request_key(idempotency_key)
    quantity = clean_count("quantity", quantity)
    reason = clean_text("reason", reason, max_length=500, required=True)
    supplier_name = clean_text("supplier_name", supplier_name, max_length=200)
    codes_ = tc.normalise(trace_codes)
    tc.check_count(codes_, quantity, required=shop.traceability_enabled)
    body = {
        "stock_item_id": scoped.pk,
        "quantity": quantity,
        "trace_codes": codes_,
        "reason": reason,
        "supplier_name": supplier_name,
    }
    return _SupplierReturn(
        shop=shop,
        key=key,
        stock_item_id=scoped.pk,
        quantity=quantity,
        reason=reason,
        supplier_name=supplier_name,
        codes_=codes_,
        request_digest=movement_request_digest("purchase_return", shop.pk, body),
    )


def _supplier_return_locked(actor: User, returning: _SupplierReturn) -> StockResult:
    """Inside the transaction: lock the batch, replay, check stock and codes, write."""
    item = lock_item(returning.stock_item_id)
    replay = replayed_result(returning.shop.pk, returning.key, returning.request_digest)
    if replay is not None:
        return replay
    require_stock(item, returning.quantity)
    codes_ = returning.codes_
    existing = lock_codes(codes_)
    findings = tc.Findings()
    for code in codes_:
        found = existing.get(code)
        if found is None or found.status != T.IN_STOCK:
            findings.not_in_stock.append(code)
        elif found.stock_item_id != item.pk:
            findings.wrong_batch.append(code)
    findings.raise_first()
    before = snapshot(item)
    item.quantity -= returning.quantity
    item.updated_at = timezone.now()
    item.save(update_fields=["quantity", "updated_at"])
    rows = [existing[c] for c in codes_]
    for row in rows:
        row.status = T.RETURNED_TO_SUPPLIER
    movement = record_movement(
        actor=actor,
        pharmacy=returning.shop,
        item=item,
        before=before,
        kind=K.PURCHASE_RETURN,
        delta=-returning.quantity,
        action="inventory.stock_returned_to_supplier",
        key=returning.key,
        request_digest=returning.request_digest,
        trace_codes=codes_,
        note=returning.reason,
        supplier_name=returning.supplier_name,
    )
    save_codes(movement, new=[], changed=rows)
    return StockResult([movement])


# --- stocktake (3501) --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stocktake:
    """A stocktake as validated before any lock is taken."""

    shop: Any
    key: str | None
    stock_item_id: int
    counted: int
    reason: str
    codes_: list[str]
    request_digest: str


def stocktake_adjust(
    *,
    actor: User,
    stock_item_id: int,
    counted_quantity: int,
    reason: str,
    idempotency_key: str | None,
    trace_codes: Sequence[str] = (),
) -> StockResult:
    """Set a batch's stock to the counted quantity (a zero difference is recorded too).

    ``trace_codes`` name the packages behind the difference, one code per package, as every
    movement does: for a surplus (盘盈) the codes of the packages found on the shelf beyond the
    books, which are then in stock in this batch; for a shortfall (盘亏) the codes of the
    packages missing, which must be in stock in this batch and are then ``missing``. At most
    the difference; fewer only warn, since the count itself is a fact to record. The 3501 upload
    carries them.
    """
    stocktake = _clean_stocktake(
        actor, stock_item_id, counted_quantity, reason, idempotency_key, trace_codes
    )
    replay = replayed_result(stocktake.shop.pk, stocktake.key, stocktake.request_digest)
    if replay is not None:
        return replay
    return stock_transaction(lambda alerts: _stocktake_locked(actor, stocktake, alerts))


def _clean_stocktake(
    actor: User,
    stock_item_id: int,
    counted_quantity: int,
    reason: str,
    idempotency_key: str | None,
    trace_codes: Sequence[str],
) -> _Stocktake:
    """Check a stocktake's input (the batch must be in the actor's scope) and digest it."""
    scoped = stock_item_in_scope(actor, stock_item_id)
    shop = scoped.pharmacy
    key = request_key(idempotency_key)
    counted = clean_count("counted_quantity", counted_quantity, minimum=0)
    reason = clean_text("reason", reason, max_length=500, required=True)
    codes_ = tc.normalise(trace_codes)
    body = {
        "stock_item_id": scoped.pk,
        "counted_quantity": counted,
        "reason": reason,
        "trace_codes": codes_,
    }
    request_digest = movement_request_digest("stocktake", shop.pk, body)
    return _Stocktake(
        shop=shop,
        key=key,
        stock_item_id=scoped.pk,
        counted=counted,
        reason=reason,
        codes_=codes_,
        request_digest=request_digest,
    )


def _stocktake_locked(
    actor: User, stocktake: _Stocktake, alerts: list[dict[str, Any]]
) -> StockResult:
    """Inside the transaction: lock the batch, replay, lock the codes, check them, write."""
    item = lock_item(stocktake.stock_item_id)
    replay = replayed_result(stocktake.shop.pk, stocktake.key, stocktake.request_digest)
    if replay is not None:
        return replay
    codes_ = stocktake.codes_
    delta = stocktake.counted - item.quantity
    if len(codes_) > abs(delta):
        raise DomainError(
            codes.TRACE_CODE_COUNT,
            f"追溯码个数（{len(codes_)}）多于盘点差异（{abs(delta)}）：盘盈登记多出药品的"
            "追溯码，盘亏登记缺失药品的追溯码",
            fields={"trace_codes": [f"最多{abs(delta)}个追溯码"]},
        )
    existing = lock_codes(codes_)
    findings = tc.Findings(warnings=tc.nonstandard_warnings(codes_))
    if delta > 0:
        _stocktake_surplus_findings(findings, codes_, existing, item, stocktake.shop, alerts)
    else:
        _stocktake_shortfall_findings(findings, codes_, existing, item)
    findings.raise_first()
    return _write_stocktake(actor, stocktake, item, delta, existing, findings.warnings)


def _write_stocktake(
    actor: User,
    stocktake: _Stocktake,
    item: StockItem,
    delta: int,
    existing: dict[str, TraceCode],
    warnings: list[dict[str, str]],
) -> StockResult:
    """Set the batch to the count, book the codes found or missing, record the movement."""
    codes_ = stocktake.codes_
    before = snapshot(item)
    item.quantity = stocktake.counted
    item.updated_at = timezone.now()
    item.save(update_fields=["quantity", "updated_at"])
    new = [
        TraceCode(
            code=c,
            product_prefix=tc.product_prefix(c),
            drug_id=item.drug_id,
            stock_item=item,
            status=T.IN_STOCK,
            received=False,  # first seen at the stocktake, not at a receipt
        )
        for c in codes_
        if c not in existing
    ]
    changed = [existing[c] for c in codes_ if c in existing]
    for row in changed:
        row.status = T.IN_STOCK if delta > 0 else T.MISSING
    # Counted before the codes are saved: the books as they stand, plus or minus this count's.
    booked = TraceCode.objects.filter(stock_item=item, status=T.IN_STOCK).count()
    in_stock = booked + len(codes_) if delta > 0 else booked - len(codes_)
    warnings.extend(_stocktake_code_warnings(stocktake, in_stock))
    movement = record_movement(
        actor=actor,
        pharmacy=stocktake.shop,
        item=item,
        before=before,
        kind=K.STOCKTAKE,
        delta=delta,
        action="inventory.stocktake_adjusted",
        key=stocktake.key,
        request_digest=stocktake.request_digest,
        warnings=warnings,
        trace_codes=codes_,
        note=stocktake.reason,
    )
    save_codes(movement, new=new, changed=changed)
    return StockResult([movement], warnings)


def _stocktake_code_warnings(stocktake: _Stocktake, in_stock: int) -> list[dict[str, str]]:
    """Codes booked in stock that do not match the count (the count stands; this only warns)."""
    counted = stocktake.counted
    if in_stock > counted:
        return [
            tc.warning(
                codes.WARN_STOCKTAKE_CODES_EXCEED,
                f"该批次登记在库的追溯码有{in_stock}个，多于盘点数量{counted}，"
                "请核查缺失药品的去向",
            )
        ]
    if in_stock < counted and stocktake.shop.traceability_enabled:
        return [
            tc.warning(
                codes.WARN_STOCKTAKE_CODES_SHORT,
                f"该批次登记在库的追溯码只有{in_stock}个，少于盘点数量{counted}，"
                "请补扫多出药品的追溯码",
            )
        ]
    return []


def _stocktake_surplus_findings(
    findings: tc.Findings,
    codes_: Sequence[str],
    existing: dict[str, TraceCode],
    item: StockItem,
    shop,
    alerts: list[dict[str, Any]],
) -> None:
    """Packages found beyond the books: new codes, or codes of this batch out of stock."""
    unknown = [c for c in codes_ if c not in existing]
    foreign = tc.prefixes_of_other_drugs(unknown, item.drug_id)
    for code in codes_:
        found = existing.get(code)
        if found is None:
            if tc.product_prefix(code) in foreign:
                findings.wrong_drug.append(code)
        elif found.drug_id != item.drug_id:
            findings.wrong_drug.append(code)
        elif found.status == T.SOLD:
            findings.duplicate.append(found)
            alerts.append(
                code_alert(
                    codes.RULE_TRACE_CODE_DUPLICATE,
                    "high",
                    found,
                    pharmacy=shop,
                    item_id=item.pk,
                    attempt="stocktake",
                    attempt_batch_no=item.batch_no,
                )
            )
        elif found.stock_item_id != item.pk:
            findings.wrong_batch.append(code)
        elif found.status == T.IN_STOCK:
            findings.duplicate.append(found)  # already on the books: not a surplus


def _stocktake_shortfall_findings(
    findings: tc.Findings,
    codes_: Sequence[str],
    existing: dict[str, TraceCode],
    item: StockItem,
) -> None:
    """Packages missing from the shelf: each must be in stock in this batch."""
    for code in codes_:
        found = existing.get(code)
        if found is None:
            findings.not_in_stock.append(code)
        elif found.drug_id != item.drug_id:
            findings.wrong_drug.append(code)
        elif found.status != T.IN_STOCK:
            findings.not_in_stock.append(code)
        elif found.stock_item_id != item.pk:
            findings.wrong_batch.append(code)
