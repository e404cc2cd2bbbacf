"""Pharmacy stock (进销存) per pharmacy, drug and batch, with traceability codes (药品追溯码).

Quantities count sellable packages (盒/支/瓶); each package carries one traceability code.
Every change of a stock item is a ``StockMovement`` (one row per line), uploaded to the national
platform with the transaction code of its kind (3501–3506, reference/nhsa-interface.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dualchannel.core.models import StatusHistory
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import StateMachine

from . import error_codes as codes


class StockItem(models.Model):
    """The stock of one batch (生产批号) of one drug at one pharmacy."""

    pharmacy = models.ForeignKey(
        "registry.Institution",
        verbose_name="药店",
        on_delete=models.PROTECT,
        related_name="stock_items",
    )
    drug = models.ForeignKey(
        "catalog.Drug", verbose_name="药品", on_delete=models.PROTECT, related_name="stock_items"
    )
    batch_no = models.CharField("生产批号", max_length=50)
    expiry_date = models.DateField("有效期至")
    manufacture_date = models.DateField("生产日期", null=True, blank=True)
    manufacturer = models.CharField("生产企业", max_length=200, blank=True)
    approval_no = models.CharField("批准文号", max_length=100, blank=True)
    specification = models.CharField("规格", max_length=300, blank=True)
    unit = models.CharField("包装单位", max_length=10, default="盒")
    retail_price = models.DecimalField("零售价（元）", max_digits=12, decimal_places=2)
    # The actual purchase price per package recorded at receipt (3503 finl_trns_pric); where the
    # profile says so it is the sale price [CX art. 14(2)]. Null: not recorded.
    purchase_price = models.DecimalField(
        "实际采购价（元）", max_digits=12, decimal_places=2, null=True, blank=True
    )
    quantity = models.PositiveIntegerField("库存数量", default=0)
    # HB art. 31(7): the batch holds boxes received as a donation (赠药, e.g. a patient-assistance
    # programme); a box of it is never paid by the fund unless its code was received as bought
    donated = models.BooleanField("含赠药", default=False)
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    updated_at = models.DateTimeField("更新时间", default=timezone.now)

    class Meta:
        verbose_name = "库存批次"
        verbose_name_plural = "库存批次"
        ordering = ["pharmacy_id", "drug_id", "expiry_date", "batch_no"]
        constraints = [
            models.UniqueConstraint(
                fields=["pharmacy", "drug", "batch_no"], name="uniq_stock_item_batch"
            ),
            # Stock never goes negative, whatever the code above does.
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="stock_item_quantity_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(retail_price__gte=0), name="stock_item_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(purchase_price__isnull=True) | Q(purchase_price__gte=0),
                name="stock_item_purchase_price_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["pharmacy", "drug", "expiry_date"])]

    def __str__(self) -> str:
        return f"{self.drug_id}/{self.batch_no} ×{self.quantity}"


class MovementKind(models.TextChoices):
    PURCHASE = "purchase", "采购入库"
    PURCHASE_RETURN = "purchase_return", "采购退货"
    SALE = "sale", "销售出库"
    SALE_RETURN = "sale_return", "销售退货"
    STOCKTAKE = "stocktake", "盘点调整"
    STOCK_CHANGE = "stock_change", "库存变更"  # e.g. damage or destruction; no service yet


# The national platform's transaction code of each kind (3507 deletes an uploaded record).
PLATFORM_INFNO = {
    MovementKind.STOCKTAKE: "3501",
    MovementKind.STOCK_CHANGE: "3502",
    MovementKind.PURCHASE: "3503",
    MovementKind.PURCHASE_RETURN: "3504",
    MovementKind.SALE: "3505",
    MovementKind.SALE_RETURN: "3506",
}
DELETE_INFNO = "3507"
# 3507 ``inv_data_type`` of each kind: 1 stocktake, 2 stock change, 3 purchase, 4 sale.
INV_DATA_TYPE = {
    MovementKind.STOCKTAKE: "1",
    MovementKind.STOCK_CHANGE: "2",
    MovementKind.PURCHASE: "3",
    MovementKind.PURCHASE_RETURN: "3",
    MovementKind.SALE: "4",
    MovementKind.SALE_RETURN: "4",
}


class UploadStatus(models.TextChoices):
    PENDING = "pending", "待上传"  # recorded; a job will upload it
    UPLOADED = "uploaded", "已上传"  # the platform answered infcode 0
    FAILED = "failed", "上传失败（将重试）"  # a passing failure; the job retries with back-off
    DEAD = "dead", "上传失败（需人工处理）"  # refused for good or retries exhausted
    NOT_REQUIRED = "not_required", "无需上传"  # the pharmacy is not connected to the platform


class StockMovement(models.Model):
    """One change of one stock item: a line of a purchase, return, sale or stocktake."""

    pharmacy = models.ForeignKey(
        "registry.Institution",
        verbose_name="药店",
        on_delete=models.PROTECT,
        related_name="stock_movements",
    )
    stock_item = models.ForeignKey(
        StockItem, verbose_name="库存批次", on_delete=models.PROTECT, related_name="movements"
    )
    kind = models.CharField("类型", max_length=20, choices=MovementKind.choices)
    # Position of the line within its request (a sale of several batches has several lines).
    line_no = models.PositiveSmallIntegerField("行号", default=1)
    quantity_delta = models.IntegerField("数量变化")
    quantity_after = models.PositiveIntegerField("变更后库存")
    occurred_at = models.DateTimeField("发生时间", default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="经办人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The buyer of a sale (3505 psn_no/certno are read from here when uploading).
    person = models.ForeignKey(
        "registry.InsuredPerson",
        verbose_name="参保人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stock_movements",
    )
    reference = models.CharField("业务单据", max_length=100, blank=True)  # e.g. "dispensing:123"
    note = models.TextField("说明", blank=True)
    # A sale return names its sale.
    related_movement = models.ForeignKey(
        "self",
        verbose_name="原销售记录",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="returns",
    )
    supplier_name = models.CharField("供应商", max_length=200, blank=True)
    # a receipt of donated stock (赠药) [HB art. 31(7)]; ``supplier_name`` names the donor
    donated = models.BooleanField("赠药入库", default=False)
    idempotency_key = models.CharField("幂等键", max_length=100, null=True, blank=True)
    request_digest = models.CharField("请求摘要", max_length=64, blank=True)
    # Non-blocking findings returned with the result, e.g. a code that is not 20 digits.
    warnings = models.JSONField("提示", default=list, blank=True)
    # 3505 fields the dispensing knows (setl_id, mdtrt_sn, rxno, …); no ID numbers or names.
    platform_fields = models.JSONField("平台字段", default=dict, blank=True)

    upload_status = models.CharField(
        "上传状态", max_length=15, choices=UploadStatus.choices, default=UploadStatus.PENDING
    )
    upload_attempts = models.PositiveSmallIntegerField("上传次数", default=0)
    upload_msgid = models.CharField("上传报文ID", max_length=30, blank=True)
    upload_infcode = models.CharField("平台交易状态码", max_length=10, blank=True)
    upload_error = models.TextField("上传错误", blank=True)
    uploaded_at = models.DateTimeField("上传时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "进销存记录"
        verbose_name_plural = "进销存记录"
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # A key names one request of one pharmacy; its lines are numbered.
            models.UniqueConstraint(
                fields=["pharmacy", "idempotency_key", "line_no"],
                condition=Q(idempotency_key__isnull=False),
                name="uniq_stock_movement_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["pharmacy", "occurred_at"]),
            models.Index(fields=["upload_status"]),
            models.Index(fields=["reference"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.quantity_delta:+d}"

    @property
    def infno(self) -> str:
        return PLATFORM_INFNO[self.kind]

    @property
    def fixmedins_bchno(self) -> str:
        """The record's serial at the platform (定点医药机构批次流水号, ≤30): stable per row."""
        return f"DC{self.pk:012d}"


class StockMovementUploadTransition(StatusHistory):
    movement = models.ForeignKey(
        StockMovement, on_delete=models.CASCADE, related_name="upload_history"
    )

    class Meta(StatusHistory.Meta):
        verbose_name = "进销存上传状态变更"
        verbose_name_plural = "进销存上传状态变更"


_U = UploadStatus
# The platform upload of a movement (``upload``): the caller sets the attempt's fields (the error,
# the message id), which are saved with the status.
UPLOAD_MACHINE = StateMachine(
    UploadStatus,
    {
        _U.PENDING: {_U.UPLOADED, _U.FAILED, _U.DEAD},
        _U.FAILED: {_U.UPLOADED, _U.FAILED, _U.DEAD},
        _U.DEAD: {_U.UPLOADED, _U.FAILED, _U.DEAD},  # a person retries after fixing the cause
    },
    error_code=codes.UPLOAD_TRANSITION,
    model=StockMovement,
    field="upload_status",
    history=StockMovementUploadTransition,
    history_fk="movement",
    audit_action="inventory.upload_{to}",
    role=lambda actor: (
        "" if actor is None else (Role.ADMIN if actor.is_superuser else Role.PHARMACIST)
    ),
    summary=lambda movement, from_status, to_status: {
        "infno": movement.infno,
        "from": from_status,
        "to": to_status,
    },
    save_fields=(
        "upload_attempts",
        "upload_msgid",
        "upload_infcode",
        "upload_error",
        "uploaded_at",
    ),
)


class TraceCodeStatus(models.TextChoices):
    IN_STOCK = "in_stock", "在库"  # received into a batch, not sold
    SOLD = "sold", "已售"  # left the pharmacy with a patient
    RETURNED_TO_SUPPLIER = "returned_to_supplier", "已退供应商"  # may be received again
    MISSING = "missing", "盘亏缺失"  # not found at a stocktake; a later stocktake may find it


class TraceCode(models.Model):
    """One package's traceability code, wherever it is. The same code sold twice is a red flag."""

    code = models.CharField("追溯码", max_length=100, unique=True)
    # First 7 digits of a 20-digit code identify the product (reference: Identifiers).
    product_prefix = models.CharField("产品标识", max_length=7, blank=True, db_index=True)
    drug = models.ForeignKey(
        "catalog.Drug", verbose_name="药品", on_delete=models.PROTECT, related_name="trace_codes"
    )
    stock_item = models.ForeignKey(
        StockItem, verbose_name="批次", on_delete=models.PROTECT, related_name="trace_codes"
    )
    status = models.CharField("状态", max_length=25, choices=TraceCodeStatus.choices)
    # False when the code was first seen at a sale (never received): accepted with a warning.
    received = models.BooleanField("入库时登记", default=True)
    # received as a donation (赠药) [HB art. 31(7)]: never paid by the fund when sold
    donated = models.BooleanField("赠药", default=False)
    sold_at = models.DateTimeField("销售时间", null=True, blank=True)
    last_movement = models.ForeignKey(
        StockMovement,
        verbose_name="最近记录",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    updated_at = models.DateTimeField("更新时间", default=timezone.now)

    class Meta:
        verbose_name = "药品追溯码"
        verbose_name_plural = "药品追溯码"
        indexes = [models.Index(fields=["stock_item", "status"])]

    def __str__(self) -> str:
        return self.code


class MovementTraceCode(models.Model):
    movement = models.ForeignKey(
        StockMovement, on_delete=models.CASCADE, related_name="trace_code_links"
    )
    trace_code = models.ForeignKey(
        TraceCode, on_delete=models.PROTECT, related_name="movement_links"
    )

    class Meta:
        verbose_name = "记录追溯码"
        verbose_name_plural = "记录追溯码"
        constraints = [
            models.UniqueConstraint(
                fields=["movement", "trace_code"], name="uniq_movement_trace_code"
            )
        ]

    def __str__(self) -> str:
        return f"{self.movement_id}:{self.trace_code_id}"


class HoldStatus(models.TextChoices):
    ACTIVE = "active", "保留中"  # counts against the batch until expires_at
    RELEASED = "released", "已释放"  # cancelled, expired or given back
    CONSUMED = "consumed", "已售出"  # the counter sold the held boxes to the holder


class StockHold(models.Model):
    """Boxes of one batch kept for an online order (网订店取 / 网订店送) until ``expires_at``.

    A batch's sellable stock is its quantity less its active holds (``holds.held_quantities``);
    a hold past ``expires_at`` no longer counts even before the expiry job marks it released.
    ``reference`` names the holder as the counter's sale does (``prescription:<no>``), so that
    the sale of that prescription may take the boxes held for it.
    """

    stock_item = models.ForeignKey(
        StockItem, verbose_name="库存批次", on_delete=models.PROTECT, related_name="holds"
    )
    quantity = models.PositiveIntegerField("保留数量")
    reference = models.CharField("保留给", max_length=60)
    status = models.CharField(
        "状态", max_length=10, choices=HoldStatus.choices, default=HoldStatus.ACTIVE
    )
    expires_at = models.DateTimeField("保留至")
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    closed_at = models.DateTimeField("结束时间", null=True, blank=True)

    class Meta:
        verbose_name = "库存保留"
        verbose_name_plural = "库存保留"
        ordering = ["stock_item_id", "id"]
        indexes = [
            models.Index(fields=["stock_item", "status", "expires_at"]),
            models.Index(fields=["reference", "status"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="stock_hold_quantity_positive")
        ]

    def __str__(self) -> str:
        return f"{self.stock_item_id} ×{self.quantity} → {self.reference}"
