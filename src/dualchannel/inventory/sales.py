"""Sales (3505) and sale returns (3506): called by dispensing inside its own transaction.

``sale_record`` locks the sold batches in primary-key order, then the scanned codes; a code
already sold is refused and raises a ``trace_code_resold`` alert that survives the refusal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError, NotFound, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.queries import CompiledRead, update_rows
from dualchannel.core.roles import Role

from . import error_codes as codes
from . import tracecodes as tc
from .models import (
    StockItem,
    StockMovement,
    TraceCode,
)
from .selectors import held_quantities, with_held
from .service_helpers import (
    K,
    StockResult,
    T,
    clean_count,
    clean_platform_fields,
    clean_text,
    code_alert,
    lock_codes,
    lock_item,
    may_act_for,
    movement_request_digest,
    pharmacy_for,
    record_movement,
    replayed_result,
    request_key,
    require_stock,
    save_codes,
    stock_transaction,
)


@dataclass(frozen=True)
class SaleLine:
    """One line of a sale: ``quantity`` packages of one batch, with their codes."""

    stock_item_id: int
    quantity: int
    trace_codes: Sequence[str] = ()
    # The drug the prescription asks for: a batch of another drug is refused.
    drug_id: int | None = None


# --- sale (3505) -------------------------------------------------------------------------------


def _sale_lines(lines: Sequence[SaleLine | Mapping[str, Any]], *, scanning: bool) -> list[SaleLine]:
    if not lines:
        raise DomainError(
            codes.INVALID_QUANTITY, "销售至少需要一行", fields={"lines": ["不能为空"]}
        )
    clean: list[SaleLine] = []
    for n, raw in enumerate(lines, 1):
        line = SaleLine(**raw) if isinstance(raw, Mapping) else raw
        if not isinstance(line.stock_item_id, int) or isinstance(line.stock_item_id, bool):
            raise field_error(f"lines.{n}.stock_item_id", codes.INVALID_FIELD, "应为库存批次ID")
        if line.drug_id is not None and not isinstance(line.drug_id, int):
            raise field_error(f"lines.{n}.drug_id", codes.INVALID_FIELD, "应为药品ID")
        quantity = clean_count(f"lines.{n}.quantity", line.quantity)
        codes_ = tc.normalise(line.trace_codes, field_name=f"lines.{n}.trace_codes")
        tc.check_count(codes_, quantity, required=scanning, field_name=f"lines.{n}.trace_codes")
        clean.append(SaleLine(line.stock_item_id, quantity, tuple(codes_), line.drug_id))
    tc.normalise([c for line in clean for c in line.trace_codes])  # one package, one line
    return clean


@dataclass(frozen=True)
class _Sale:
    """A sale as validated before any lock is taken."""

    shop: Any
    key: str | None
    reference: str
    lines: list[SaleLine]
    platform_fields: dict[str, str]
    person: Any
    request_digest: str


def sale_record(
    *,
    actor: User,
    pharmacy: Any,
    lines: Sequence[SaleLine | Mapping[str, Any]],
    reference: str,
    idempotency_key: str | None,
    person: Any = None,
    platform_fields: Mapping[str, Any] | None = None,
    replayed_by_caller: bool = False,
    locked_items: Mapping[int, StockItem] | None = None,
) -> StockResult:
    """Take sold packages out of stock; one movement per line, in the caller's transaction.

    ``person`` (an ``InsuredPerson``) is the buyer, for the 3505 upload and the audit trail;
    ``platform_fields`` are the other 3505 fields the dispensing knows (``SALE_PLATFORM_FIELDS``).

    ``replayed_by_caller``: the caller's transaction holds a lock that serializes every request
    with this key and has answered repeats itself (the counter's dispensing holds its
    prescription and replays by its own key). The sale then looks up no replay and opens no
    savepoint: a refusal or a lost race rolls back the caller's whole transaction, which
    answers it (issue 15 point 2: six statements less per dispensing). ``locked_items``: the
    batches the caller locked already with ``sale_lock_items`` in this transaction (with
    ``replayed_by_caller`` only).
    """
    sale = _clean_sale(actor, pharmacy, lines, reference, idempotency_key, person, platform_fields)
    if replayed_by_caller:
        if not connection.in_atomic_block:
            raise RuntimeError("replayed_by_caller needs the caller's transaction")
        return stock_transaction(
            lambda alerts: _sale_locked(actor, sale, alerts, replay=False, locked=locked_items),
            savepoints=False,
        )
    if locked_items is not None:
        raise RuntimeError("locked_items needs replayed_by_caller")
    replay = replayed_result(sale.shop.pk, sale.key, sale.request_digest)
    if replay is not None:
        return replay
    return stock_transaction(lambda alerts: _sale_locked(actor, sale, alerts))


def _clean_sale(
    actor: User,
    pharmacy: Any,
    lines: Sequence[SaleLine | Mapping[str, Any]],
    reference: str,
    idempotency_key: str | None,
    person: Any,
    platform_fields: Mapping[str, Any] | None,
) -> _Sale:
    """Check a sale's input (the pharmacy, then each line) and digest it."""
    shop = pharmacy_for(actor, pharmacy)
    key = request_key(idempotency_key)
    reference = clean_text("reference", reference, max_length=100)
    clean = _sale_lines(lines, scanning=shop.traceability_enabled)
    fields_ = clean_platform_fields(platform_fields)
    body = {
        "lines": [
            [line.stock_item_id, line.quantity, list(line.trace_codes), line.drug_id]
            for line in clean
        ],
        "reference": reference,
        "person_id": getattr(person, "pk", None),
        "platform_fields": fields_,
    }
    return _Sale(
        shop=shop,
        key=key,
        reference=reference,
        lines=clean,
        platform_fields=fields_,
        person=person,
        request_digest=movement_request_digest("sale", shop.pk, body),
    )


def _sale_locked(
    actor: User,
    sale: _Sale,
    alerts: list[dict[str, Any]],
    *,
    replay: bool = True,
    locked: Mapping[int, StockItem] | None = None,
) -> StockResult:
    """Inside the transaction: lock the batches, replay, check them, lock the codes, write."""
    items = _lock_sale_items(sale, locked)
    # A twin request that held the locks.
    replayed = replayed_result(sale.shop.pk, sale.key, sale.request_digest) if replay else None
    if replayed is not None:
        return replayed
    existing = lock_codes([c for line in sale.lines for c in line.trace_codes])
    line_warnings = sale_refusals(sale.lines, items, existing, sale.shop, sale.reference, alerts)
    return _write_sale(actor, sale, items, existing, line_warnings)


def sale_refusals(
    lines: list[SaleLine],
    items: dict[int, StockItem],
    existing: dict[str, TraceCode],
    shop,
    reference: str,
    alerts: list[dict[str, Any]],
    *,
    held: Mapping[int, int] | None = None,
) -> dict[int, list[dict[str, str]]]:
    """Every check of a sale's batches, stock and codes (raises the first refusal); the line
    warnings. ``sale_record`` runs it under its locks, ``sale_verify`` on a plain read.
    ``held``: the batches' held boxes where the caller read them (else read here)."""
    needed = _check_sale_batches(lines, items)
    findings, line_warnings = _sale_findings(lines, items, existing, shop, reference, alerts)
    if findings.resold:
        findings.raise_first()  # the red flag first, whatever else is wrong
    if held is None:
        held = held_quantities(list(needed), exclude_reference=reference)
    for pk, wanted in needed.items():
        require_stock(items[pk], wanted, field_name="lines", held=held.get(pk, 0))
    findings.raise_first()
    return line_warnings


_CODES = CompiledRead(  # codes with their batches, as a sale checks them
    lambda codes_: (
        TraceCode.objects.select_related("stock_item").filter(code__in=codes_).order_by()
    ),
    [str],
)
_LOCKED_ITEMS = CompiledRead(
    lambda stock_item_ids, pharmacy_id: (
        StockItem.objects.select_for_update(of=("self",))
        .select_related("drug")
        .filter(pk__in=stock_item_ids, pharmacy_id=pharmacy_id)
        .order_by("pk")
    ),
    [int],
    int,
)


def sale_verify(
    *,
    pharmacy: Any,
    lines: Sequence[SaleLine | Mapping[str, Any]],
    reference: str = "",
    items: Mapping[int, StockItem] | None = None,
) -> None:
    """The refusal ``sale_record`` would give these lines now (raised), read without locking
    or writing: the counter's 核验 runs it so that it never passes what 发药 refuses.
    ``items``: the pharmacy's batches the caller read already by ``sale_items`` (with the same
    ``reference``), else they are read here."""
    clean = _sale_lines(lines, scanning=pharmacy.traceability_enabled)
    if items is None:
        items = sale_items(pharmacy.pk, [line.stock_item_id for line in clean], reference)
    if any(line.stock_item_id not in items for line in clean):
        raise NotFound(codes.STOCK_ITEM_NOT_FOUND, "库存批次不存在或不属于本药店")
    existing = {
        row.code: row for row in _CODES.all([c for line in clean for c in line.trace_codes])
    }
    held = {pk: item.held for pk, item in items.items()}
    # no alert for a check
    sale_refusals(clean, dict(items), existing, pharmacy, reference, alerts=[], held=held)


def sale_items(pharmacy_id: int, stock_item_ids: Sequence[int], reference: str = "") -> dict:
    """The pharmacy's batches of a sale by id, with their drugs and their boxes held for
    others than ``reference`` (``held``), in one statement, for ``sale_verify``."""
    ids, now = sorted(set(stock_item_ids)), timezone.now()
    found = (
        _SALE_ITEMS_BUT.all(pharmacy_id, ids, now, reference)
        if reference
        else _SALE_ITEMS.all(pharmacy_id, ids, now)
    )
    return {item.pk: item for item in found}


def _sale_items(pharmacy_id: int, ids: list[int], now: datetime, reference: str = ""):
    return with_held(
        StockItem.objects.select_related("drug").filter(pk__in=ids, pharmacy_id=pharmacy_id),
        exclude_reference=reference,
        now=now,
    )


_SALE_ITEMS = CompiledRead(_sale_items, int, [int], datetime)
_SALE_ITEMS_BUT = CompiledRead(_sale_items, int, [int], datetime, str)


def sale_lock_items(pharmacy: Any, stock_item_ids: Sequence[int]) -> dict[int, StockItem]:
    """The pharmacy's batches among these ids, locked (in pk order), with their drugs; one of
    another pharmacy is left out (``sale_record`` then refuses it as not found). A caller that
    checks the batches before the sale locks them here once and passes them to
    ``sale_record(locked_items=...)``."""
    # Fixed lock order (stock items by pk, then codes by code): no deadlock between sales.
    return {item.pk: item for item in _LOCKED_ITEMS.all(set(stock_item_ids), pharmacy.pk)}


def _lock_sale_items(
    sale: _Sale, locked: Mapping[int, StockItem] | None = None
) -> dict[int, StockItem]:
    """The sold batches, locked (or as the caller locked them); one of another pharmacy is not
    found."""
    wanted = {line.stock_item_id for line in sale.lines}
    if locked is None:
        items = sale_lock_items(sale.shop, wanted)
    else:
        items = {
            pk: item
            for pk, item in locked.items()
            if pk in wanted and item.pharmacy_id == sale.shop.pk
        }
    if any(line.stock_item_id not in items for line in sale.lines):
        raise NotFound(codes.STOCK_ITEM_NOT_FOUND, "库存批次不存在或不属于本药店")
    return items


def _check_sale_batches(lines: list[SaleLine], items: dict[int, StockItem]) -> Counter[int]:
    """Each line's batch is of the prescribed drug and not expired; the packages per batch."""
    today = timezone.localdate()
    needed: Counter[int] = Counter()
    for n, line in enumerate(lines, 1):
        item = items[line.stock_item_id]
        if line.drug_id is not None and line.drug_id != item.drug_id:
            raise field_error(
                f"lines.{n}.stock_item_id",
                codes.BATCH_WRONG_DRUG,
                f"所选批次{item.batch_no}是「{item.drug.generic_name}」，与处方药品不符",
            )
        if item.expiry_date < today:
            raise field_error(
                f"lines.{n}.stock_item_id",
                codes.BATCH_EXPIRED,
                f"批号{item.batch_no}已于{item.expiry_date}过期，不能销售",
            )
        needed[item.pk] += line.quantity
    return needed


def _write_sale(
    actor: User,
    sale: _Sale,
    items: dict[int, StockItem],
    existing: dict[str, TraceCode],
    line_warnings: dict[int, list[dict[str, str]]],
) -> StockResult:
    """Take each line out of its batch and record its movement with its codes sold."""
    now = timezone.now()
    movements: list[StockMovement] = []
    for n, line in enumerate(sale.lines, 1):
        item = items[line.stock_item_id]
        before = snapshot(item)
        item.quantity -= line.quantity
        item.updated_at = now
        update_rows([item], ["quantity", "updated_at"])
        movement = record_movement(
            actor=actor,
            pharmacy=sale.shop,
            item=item,
            before=before,
            kind=K.SALE,
            delta=-line.quantity,
            action="inventory.sale_recorded",
            key=sale.key,
            request_digest=sale.request_digest,
            line_no=n,
            warnings=line_warnings[n],
            trace_codes=line.trace_codes,
            reference=sale.reference,
            person=sale.person,
            platform_fields=sale.platform_fields,
            occurred_at=now,
        )
        new, changed = _sold_codes(line, item, existing, now)
        save_codes(movement, new=new, changed=changed)
        movements.append(movement)
    return StockResult(movements, [w for n in sorted(line_warnings) for w in line_warnings[n]])


def _sold_codes(
    line: SaleLine, item: StockItem, existing: dict[str, TraceCode], now: datetime
) -> tuple[list[TraceCode], list[TraceCode]]:
    """The line's codes as sold: new rows for codes never received, the others changed."""
    new, changed = [], []
    for code in line.trace_codes:
        row = existing.get(code)
        if row is None:
            new.append(
                TraceCode(
                    code=code,
                    product_prefix=tc.product_prefix(code),
                    drug_id=item.drug_id,
                    stock_item=item,
                    status=T.SOLD,
                    received=False,
                    sold_at=now,
                )
            )
        else:
            row.status, row.sold_at = T.SOLD, now
            changed.append(row)
    return new, changed


def _sale_findings(
    clean: list[SaleLine],
    items: dict[int, StockItem],
    existing: dict[str, TraceCode],
    shop,
    reference: str,
    alerts: list[dict[str, Any]],
) -> tuple[tc.Findings, dict[int, list[dict[str, str]]]]:
    """Check every scanned code against what is recorded; collect alerts for resold codes."""
    findings = tc.Findings()
    line_warnings: dict[int, list[dict[str, str]]] = {}
    for n, line in enumerate(clean, 1):
        item = items[line.stock_item_id]
        warnings = tc.nonstandard_warnings(line.trace_codes)
        unknown: list[str] = []
        for code in line.trace_codes:
            found = existing.get(code)
            if found is None:
                unknown.append(code)
            elif found.status == T.SOLD:
                findings.resold.append(found)
                alerts.append(
                    code_alert(
                        codes.RULE_TRACE_CODE_RESOLD,
                        "high",
                        found,
                        pharmacy=shop,
                        item_id=item.pk,
                        attempt="sale",
                        attempt_reference=reference,
                    )
                )
            elif found.drug_id != item.drug_id:
                findings.wrong_drug.append(code)
            elif found.status != T.IN_STOCK:
                findings.not_in_stock.append(code)
            elif found.stock_item_id != item.pk:
                findings.wrong_batch.append(code)
        # A 20-digit code never received, whose product prefix belongs to another drug.
        foreign = tc.prefixes_of_other_drugs(unknown, item.drug_id)
        for code in unknown:
            if tc.product_prefix(code) in foreign:
                findings.wrong_drug.append(code)
            else:
                warnings.append(
                    tc.warning(
                        codes.WARN_TRACE_CODE_UNKNOWN,
                        f"追溯码{code}未在入库时登记，已按所选批次记录销售，请核对",
                        trace_code=code,
                    )
                )
        line_warnings[n] = warnings
    return findings, line_warnings


# --- sale return (3506) ------------------------------------------------------------------------


@dataclass(frozen=True)
class _SaleReturn:
    """A sale return as validated before any lock is taken."""

    sale: StockMovement  # the sale the packages come back from
    shop: Any
    key: str | None
    quantity: int
    reason: str
    codes_: list[str]
    request_digest: str


def sale_return(
    *,
    actor: User,
    movement_id: int,
    quantity: int,
    trace_codes: Sequence[str],
    reason: str,
    idempotency_key: str | None,
) -> StockResult:
    """Take sold packages back into their batch; their codes are in stock again."""
    returning = _clean_sale_return(
        actor, movement_id, quantity, trace_codes, reason, idempotency_key
    )
    replay = replayed_result(returning.shop.pk, returning.key, returning.request_digest)
    if replay is not None:
        return replay
    return stock_transaction(lambda alerts: _sale_return_locked(actor, returning))


def _clean_sale_return(
    actor: User,
    movement_id: int,
    quantity: int,
    trace_codes: Sequence[str],
    reason: str,
    idempotency_key: str | None,
) -> _SaleReturn:
    """Check a sale return's input (the sale must be the actor's pharmacy's) and digest it."""
    require_role(actor, Role.PHARMACIST)
    sale = StockMovement.objects.select_related("pharmacy", "person").filter(pk=movement_id).first()
    if sale is None or not may_act_for(actor, sale.pharmacy_id):
        raise NotFound(codes.MOVEMENT_NOT_FOUND, "进销存记录不存在或不属于本药店")
    if sale.kind != K.SALE:
        raise Conflict(codes.NOT_A_SALE, "只有销售记录可以办理销售退货")
    shop = sale.pharmacy
    key = request_key(idempotency_key)
    quantity = clean_count("quantity", quantity)
    reason = clean_text("reason", reason, max_length=500, required=True)
    codes_ = tc.normalise(trace_codes)
    tc.check_count(codes_, quantity, required=shop.traceability_enabled)
    body = {"movement_id": sale.pk, "quantity": quantity, "trace_codes": codes_, "reason": reason}
    return _SaleReturn(
        sale=sale,
        shop=shop,
        key=key,
        quantity=quantity,
        reason=reason,
        codes_=codes_,
        request_digest=movement_request_digest("sale_return", shop.pk, body),
    )


def _sale_return_locked(actor: User, returning: _SaleReturn) -> StockResult:
    """Inside the transaction: lock the batch, replay, check what may come back, write."""
    sale = returning.sale
    item = lock_item(sale.stock_item_id)  # serialises returns of the same sale
    replay = replayed_result(returning.shop.pk, returning.key, returning.request_digest)
    if replay is not None:
        return replay
    _check_returnable(sale, returning.quantity)
    linked = _lock_sold_codes(sale, returning.codes_)
    return _write_sale_return(actor, returning, item, linked)


def _check_returnable(sale: StockMovement, quantity: int) -> None:
    returned = sum(sale.returns.filter(kind=K.SALE_RETURN).values_list("quantity_delta", flat=True))
    returnable = -sale.quantity_delta - returned
    if quantity > returnable:
        raise DomainError(
            codes.RETURN_EXCEEDS_SALE,
            f"退货数量超过可退数量（本次销售{-sale.quantity_delta}，已退{returned}）",
            fields={"quantity": [f"最多{returnable}"]},
        )


def _lock_sold_codes(sale: StockMovement, codes_: list[str]) -> dict[str, TraceCode]:
    """The codes, locked; each must have been sold by this sale and not returned since."""
    linked = lock_codes(codes_, movement_links__movement=sale)
    stray = [
        c
        for c in codes_
        if c not in linked or linked[c].status != T.SOLD or linked[c].last_movement_id != sale.pk
    ]
    if stray:
        raise DomainError(
            codes.TRACE_CODE_NOT_IN_SALE,
            "追溯码不属于该笔销售或已退回：" + "、".join(stray[:5]),
            fields={"trace_codes": [f"{c}：不属于该笔销售" for c in stray]},
        )
    return linked


def _write_sale_return(
    actor: User, returning: _SaleReturn, item: StockItem, linked: dict[str, TraceCode]
) -> StockResult:
    """Put the packages back into the batch, their codes in stock, and record the movement."""
    sale = returning.sale
    before = snapshot(item)
    item.quantity += returning.quantity
    item.updated_at = timezone.now()
    item.save(update_fields=["quantity", "updated_at"])
    rows = [linked[c] for c in returning.codes_]
    for row in rows:
        row.status, row.sold_at = T.IN_STOCK, None
    movement = record_movement(
        actor=actor,
        pharmacy=returning.shop,
        item=item,
        before=before,
        kind=K.SALE_RETURN,
        delta=returning.quantity,
        action="inventory.sale_returned",
        key=returning.key,
        request_digest=returning.request_digest,
        trace_codes=returning.codes_,
        note=returning.reason,
        reference=sale.reference,
        person=sale.person,
        platform_fields=sale.platform_fields,
        related_movement=sale,
    )
    save_codes(movement, new=[], changed=rows)
    return StockResult([movement])
