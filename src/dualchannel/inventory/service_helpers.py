"""Shared parts of the inventory services: who acts for which pharmacy, input checks,
idempotency, the transaction wrapper with its alerts, and writing one movement."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import digest
from dualchannel.core.errors import Conflict, DomainError, NotFound, field_error
from dualchannel.core.idempotency import checked_key
from dualchannel.core.jobs import enqueue
from dualchannel.core.models import User
from dualchannel.core.money import parse_money
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.queries import CompiledRead, insert_new, update_rows
from dualchannel.core.roles import Role
from dualchannel.integration.nhsa.envelope import platform_connected
from dualchannel.monitoring.services import alert_raise_independent
from dualchannel.registry.models import Institution, InstitutionKind

from . import error_codes as codes
from .models import (
    MovementKind,
    MovementTraceCode,
    StockItem,
    StockMovement,
    StockMovementUploadTransition,
    TraceCode,
    TraceCodeStatus,
    UploadStatus,
)

K = MovementKind
T = TraceCodeStatus
R = TypeVar("R")
FEN = Decimal("0.01")
KEY_MAX = 100
UPLOAD_JOB = "inventory.upload"

# 3505 line fields the dispensing knows and passes through (reference/nhsa-interface.md).
# Person fields (psn_no, certno) are read from ``person`` at upload time, never stored here.
SALE_PLATFORM_FIELDS = (
    "prsc_dr_name",
    "hi_feesetl_type",
    "setl_id",
    "mdtrt_sn",
    "rx_flag",
    "trdn_flag",
    "rxno",
    "rx_circ_flag",
    "rtal_docno",
    "stoout_no",
    "mdtrt_setl_type",
)


@dataclass
class StockResult:
    movements: list[StockMovement]
    warnings: list[dict[str, str]] = field(default_factory=list)
    replayed: bool = False  # the original result of a repeated idempotency key

    @property
    def movement(self) -> StockMovement:
        return self.movements[0]


# --- who acts for which pharmacy ---------------------------------------------------------------


def may_act_for(actor: User | None, pharmacy_id: int) -> bool:
    """A pharmacist of the pharmacy, or an admin."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    return actor.has_role(Role.PHARMACIST) and actor.institution_id == pharmacy_id


def pharmacy_for(actor: User, pharmacy: Any = None):
    """The pharmacy the actor works for; an admin names one. Another pharmacy is not found."""

    require_role(actor, Role.PHARMACIST)
    wanted = getattr(pharmacy, "pk", pharmacy)
    if actor.is_superuser:
        wanted = wanted or actor.institution_id
        found = Institution.objects.filter(pk=wanted).first() if wanted else None
    else:
        if wanted is not None and wanted != actor.institution_id:
            raise NotFound()
        # the actor's own institution: as the caller read it (the counter's, with its
        # pharmacist), else the actor's
        found = pharmacy if isinstance(pharmacy, Institution) else actor.institution
    if found is None or found.kind != InstitutionKind.PHARMACY:
        raise DomainError(codes.NOT_A_PHARMACY, "只有定点零售药店可以登记进销存")
    return found


def stock_item_in_scope(actor: User, stock_item_id: int) -> StockItem:
    require_role(actor, Role.PHARMACIST)
    item = StockItem.objects.select_related("pharmacy", "drug").filter(pk=stock_item_id).first()
    if item is None or not may_act_for(actor, item.pharmacy_id):
        raise NotFound(codes.STOCK_ITEM_NOT_FOUND, "库存批次不存在或不属于本药店")
    return item


# --- input -------------------------------------------------------------------------------------


def request_key(value: Any) -> str | None:
    if value is None:
        return None
    return checked_key(str(value), code=codes.INVALID_FIELD, max_length=KEY_MAX)


def clean_count(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        word = "正整数" if minimum > 0 else "非负整数"
        raise field_error(name, codes.INVALID_QUANTITY, f"数量应为{word}")
    return value


def clean_text(name: str, value: Any, *, max_length: int, required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise field_error(name, codes.INVALID_FIELD, "不能为空")
    if len(text) > max_length:
        raise field_error(name, codes.INVALID_FIELD, f"不能超过{max_length}个字符")
    return text


def clean_date(name: str, value: Any, *, required: bool) -> date | None:
    if value in (None, ""):
        if required:
            raise field_error(name, codes.INVALID_FIELD, "不能为空")
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise field_error(name, codes.INVALID_FIELD, "日期格式应为 YYYY-MM-DD") from None


def clean_price(value: Any) -> Decimal:
    """The retail price as entered: more than two decimals is refused, never rounded."""
    return parse_money(value, field="retail_price", code=codes.INVALID_FIELD, label="零售价")


def clean_purchase_price(value: Any) -> Decimal | None:
    """The actual purchase price per package [CX art. 14(2)]; blank: not recorded."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_money(value, field="purchase_price", code=codes.INVALID_FIELD, label="实际采购价")


def clean_platform_fields(values: Mapping[str, Any] | None) -> dict[str, str]:
    values = dict(values or {})
    unknown = sorted(set(values) - set(SALE_PLATFORM_FIELDS))
    if unknown:
        raise DomainError(
            codes.INVALID_FIELD,
            "平台字段含有3505交易以外的内容",
            fields={name: ["不是3505交易的字段"] for name in unknown},
        )
    return {k: clean_text(k, v, max_length=50) for k, v in sorted(values.items())}


# --- idempotency, races, alerts ----------------------------------------------------------------


def movement_request_digest(op: str, pharmacy_id: int, body: dict[str, Any]) -> str:
    return digest({"op": op, "pharmacy_id": pharmacy_id, "body": body})


def replayed_result(pharmacy_id: int, key: str | None, request_digest: str) -> StockResult | None:
    if key is None:
        return None
    rows = list(
        StockMovement.objects.filter(pharmacy_id=pharmacy_id, idempotency_key=key).order_by(
            "line_no"
        )
    )
    if not rows:
        return None
    if rows[0].request_digest != request_digest:
        raise Conflict(
            codes.IDEMPOTENCY_MISMATCH,
            "该幂等键已用于内容不同的请求，请使用新的幂等键",
            fields={"idempotency_key": ["已被其他请求使用"]},
        )
    warnings = [w for row in rows for w in row.warnings]
    return StockResult(rows, warnings, replayed=True)


def stock_transaction(body: Callable[[list[dict[str, Any]]], R], *, savepoints: bool = True) -> R:
    """The service's transaction (a savepoint inside a caller's, so that a refusal leaves the
    caller's transaction usable for the alerts below).

    Losing a unique-constraint race — the same key, new batch or new code committed by another
    request meanwhile — rolls the attempt back and runs it once more: the second run sees the
    winner's rows and answers as the later request (replay, or a refusal). Alerts found on the
    way are raised after a refusal has rolled everything else back.

    ``savepoints=False`` (a caller that serializes and replays its requests itself): the body
    runs in the caller's transaction as it is; a lost race propagates to the caller.
    """
    alerts: list[dict[str, Any]] = []
    try:
        if not savepoints:
            return body(alerts)
        with transaction.atomic():
            try:
                with transaction.atomic():
                    return body(alerts)
            except IntegrityError:
                alerts.clear()
                with transaction.atomic():
                    return body(alerts)
    except DomainError:
        if alerts:
            for alert in alerts:
                alert_raise_independent(**alert)
        raise


def code_alert(
    rule: str, severity: str, found: TraceCode, *, pharmacy, item_id: int | None, **facts: Any
) -> dict[str, Any]:
    """An alert about a code; evidence holds ids and codes only."""
    recorded = found.stock_item
    evidence = {
        "trace_code": found.code,
        "drug_id": found.drug_id,
        "recorded_status": found.status,
        "recorded_pharmacy_id": recorded.pharmacy_id,
        "recorded_stock_item_id": recorded.pk,
        "recorded_movement_id": found.last_movement_id,
        "sold_at": found.sold_at.isoformat() if found.sold_at else None,
        "attempt_pharmacy_id": pharmacy.pk,
        "attempt_stock_item_id": item_id,
        **facts,
    }
    return {
        "rule": rule,
        "severity": severity,
        "institution": pharmacy,
        "subject": found,
        "evidence": evidence,
    }


# --- writing -----------------------------------------------------------------------------------


def _initial_upload_status(pharmacy) -> str:
    """Connected pharmacies (12-character platform code) upload every movement."""
    connected = platform_connected(pharmacy)
    return UploadStatus.PENDING if connected else UploadStatus.NOT_REQUIRED


def record_movement(
    *,
    actor: User,
    pharmacy,
    item: StockItem,
    before: dict[str, Any],
    kind: str,
    delta: int,
    action: str,
    key: str | None,
    request_digest: str,
    line_no: int = 1,
    warnings: Iterable[dict[str, str]] = (),
    trace_codes: Sequence[TraceCode] = (),
    **extra: Any,
) -> StockMovement:
    """The movement of one line (the item is already saved), its codes, audit and upload job."""
    status = _initial_upload_status(pharmacy)
    movement = StockMovement(
        pharmacy=pharmacy,
        stock_item=item,
        kind=kind,
        line_no=line_no,
        quantity_delta=delta,
        quantity_after=item.quantity,
        actor=actor,
        idempotency_key=key,
        request_digest=request_digest,
        warnings=list(warnings),
        upload_status=status,
        **extra,
    )
    insert_new([movement])
    insert_new(
        [
            StockMovementUploadTransition(
                movement=movement, from_status="", to_status=status, actor=actor, reason="记录"
            )
        ]
    )
    audit.record(
        actor=actor,
        action=action,
        subject=item,
        before=before,
        after=item,
        patient=extra.get("person"),
        role=actor_role(actor, Role.PHARMACIST),
        summary={
            "movement_id": movement.pk,
            "kind": kind,
            "drug_id": item.drug_id,
            "batch_no": item.batch_no,
            "delta": delta,
            "quantity_after": item.quantity,
            "trace_codes": len(trace_codes),
            "reference": movement.reference,
            **({"donated": True} if movement.donated else {}),
        },
    )
    if status == UploadStatus.PENDING:
        enqueue(UPLOAD_JOB, {"movement_id": movement.pk}, key=f"{UPLOAD_JOB}:{movement.pk}")
    return movement


# what a movement changes on the codes it moves (``save_codes``), by attribute name
_CODE_FIELDS = (
    "status",
    "stock_item_id",
    "received",
    "donated",
    "sold_at",
    "last_movement_id",
    "updated_at",
)


def save_codes(
    movement: StockMovement, *, new: list[TraceCode], changed: list[TraceCode]
) -> list[TraceCode]:
    now = timezone.now()
    for row in [*new, *changed]:
        row.last_movement = movement
        row.updated_at = now
    insert_new(new)
    if len(changed) == 1:  # a counter's sale of one box: a statement built once
        update_rows(changed, _CODE_FIELDS)
    else:  # the codes of one movement mostly take the same values (a sale's: sold, now, this
        # movement): an UPDATE per set of values rather than a CASE per row and column
        groups: dict[tuple, list[int]] = {}
        for row in changed:
            values = tuple(getattr(row, name) for name in _CODE_FIELDS)
            groups.setdefault(values, []).append(row.pk)
        for values, pks in groups.items():
            TraceCode.objects.filter(pk__in=pks).update(
                **dict(zip(_CODE_FIELDS, values, strict=True))
            )
    rows = [*new, *changed]
    insert_new([MovementTraceCode(movement=movement, trace_code=row) for row in rows])
    return rows


def lock_item(pk: int) -> StockItem:
    return StockItem.objects.select_for_update(of=("self",)).select_related("drug").get(pk=pk)


def _locked_codes(codes_: Sequence[str], **filters: Any):
    return (
        TraceCode.objects.select_for_update(of=("self",))
        .filter(code__in=codes_, **filters)
        .select_related("stock_item")
        .order_by("code")
    )


_LOCKED_CODES = CompiledRead(_locked_codes, [str])  # a sale's, the counter's: no filter


def lock_codes(codes_: Sequence[str], **filters: Any) -> dict[str, TraceCode]:
    rows = _locked_codes(codes_, **filters) if filters else _LOCKED_CODES.all(codes_)
    return {row.code: row for row in rows}


def require_stock(
    item: StockItem, wanted: int, *, field_name: str = "quantity", held: int = 0
) -> None:
    """``held``: boxes of the batch kept for others' online orders (not sellable here)."""
    free = item.quantity - held
    if wanted > free:
        kept = f"（其中{held}{item.unit}已为网上订单保留）" if held else ""
        raise DomainError(
            codes.INSUFFICIENT_STOCK,
            f"库存不足：{item.drug.generic_name} 批号{item.batch_no} 现有{item.quantity}"
            f"{item.unit}{kept}，需要{wanted}{item.unit}",
            fields={field_name: [f"批号{item.batch_no}最多{max(free, 0)}{item.unit}"]},
        )
