"""Prescriptions, their circulation to a pharmacy, and dispensing at the counter (DESIGN §5.2).

Quantities on a prescription item are in the treatment plan's unit (``quantity``, e.g. 粒) and
in sellable packages (``packages``: what the pharmacy hands over, one traceability code each).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dualchannel.core.models import StatusHistory
from dualchannel.core.statemachine import StateMachine

from . import error_codes as codes


class BenefitType(models.TextChoices):
    """HB art. 38: one prescription per benefit type, settled under its own medical category."""

    SPECIAL_DRUG = "special_drug", "单独支付药品"  # against an eligibility [HB ch. 2]
    CHRONIC_DISEASE = "chronic_disease", "门诊慢特病"
    GENERAL_OUTPATIENT = "general_outpatient", "普通门诊统筹"


class PrescriptionStatus(models.TextChoices):
    ISSUED = "issued", "已开具"
    ROUTED = "routed", "已流转"
    DISPENSED = "dispensed", "已取药"
    CANCELLED = "cancelled", "已撤销"
    EXPIRED = "expired", "已过期"


OPEN_PRESCRIPTION = (PrescriptionStatus.ISSUED, PrescriptionStatus.ROUTED)


class StockStatus(models.TextChoices):
    """rxSetlStockQuery: 1 all in stock, 0 partly, -1 none."""

    ALL = "all", "有货"
    PARTLY = "partly", "部分有货"
    NONE = "none", "无货"


class PrescriptionNumberSequence(models.Model):
    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "处方号序列"
        verbose_name_plural = "处方号序列"

    def __str__(self) -> str:
        return f"{self.day}: {self.last}"


class Prescription(models.Model):
    prescription_no = models.CharField("处方编号", max_length=20, unique=True)
    patient = models.ForeignKey(
        "registry.InsuredPerson", on_delete=models.PROTECT, related_name="prescriptions"
    )
    hospital = models.ForeignKey("registry.Institution", on_delete=models.PROTECT, related_name="+")
    physician = models.ForeignKey("registry.Physician", on_delete=models.PROTECT, related_name="+")
    eligibility = models.ForeignKey(
        "eligibility.Eligibility",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="prescriptions",
    )
    benefit_type = models.CharField("待遇类型", max_length=20, choices=BenefitType.choices)
    # rxExraAttrCode: 01 dual-channel prescription (nhsa-interface.md).
    rx_extra_attr_code = models.CharField("处方附加属性", max_length=2, default="01")
    diagnosis_code = models.CharField("诊断编码", max_length=30)
    diagnosis_name = models.CharField("诊断名称", max_length=200)
    department = models.CharField("科室", max_length=50, blank=True)
    issued_at = models.DateTimeField("开具时间", default=timezone.now)
    valid_days = models.PositiveSmallIntegerField("有效天数")
    valid_until = models.DateField("有效期至")
    long_prescription = models.BooleanField("长期处方", default=False)
    status = models.CharField(
        "状态",
        max_length=20,
        choices=PrescriptionStatus.choices,
        default=PrescriptionStatus.ISSUED,
    )
    # circulation [CX art. 21]: the patient's choice and consent
    pharmacy = models.ForeignKey(
        "registry.Institution",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="prescription_inbox",
    )
    consented_at = models.DateTimeField("同意流转时间", null=True, blank=True)
    consented_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stock_status_at_choice = models.CharField(
        "选择时库存", max_length=10, choices=StockStatus.choices, blank=True
    )
    routed_at = models.DateTimeField("流转时间", null=True, blank=True)
    document = models.ForeignKey(
        "documents.SignedDocument",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # AH §2(4): the physician's external-purchase filing form names the pharmacy the patient chose
    filing_pharmacy = models.ForeignKey(
        "registry.Institution",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="备案表所列药店",
    )
    filing_form = models.ForeignKey(
        "documents.SignedDocument",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="外购备案表",
    )
    cancel_reason = models.CharField("撤销原因", max_length=200, blank=True)
    dispensed_at = models.DateTimeField("取药时间", null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # when analytics' circulation rollup took this prescription in as issued, and as routed
    # (issue 13): NULL at insert and at routing, so neither writes anything more; set by
    # ``prescriptions_mark_rolled_up``
    issued_rolled_up_at = models.DateTimeField("开具计入汇总时间", null=True, blank=True)
    routed_rolled_up_at = models.DateTimeField("流转计入汇总时间", null=True, blank=True)

    class Meta:
        verbose_name = "处方"
        verbose_name_plural = "处方"
        ordering = ["-issued_at", "-id"]
        indexes = [
            models.Index(fields=["status", "valid_until"]),
            models.Index(fields=["pharmacy", "status"]),
            # the prescriptions the circulation rollup has not taken in yet (as issued, as
            # routed): small partial indexes, so a refresh finds them without reading the table
            models.Index(
                fields=["id"],
                condition=Q(issued_rolled_up_at__isnull=True),
                name="rx_issued_not_rolled_up",
            ),
            models.Index(
                fields=["id"],
                condition=Q(routed_at__isnull=False, routed_rolled_up_at__isnull=True),
                name="rx_routed_not_rolled_up",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(benefit_type="special_drug") | Q(eligibility__isnull=False),
                name="rx_special_drug_needs_eligibility",
            ),
        ]

    def __str__(self) -> str:
        return self.prescription_no


class PrescriptionItem(models.Model):
    prescription = models.ForeignKey(Prescription, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField("序号")
    drug = models.ForeignKey("catalog.Drug", on_delete=models.PROTECT, related_name="+")
    specification = models.CharField("规格", max_length=300, blank=True)
    quantity = models.DecimalField("数量（方案单位）", max_digits=12, decimal_places=2)
    unit = models.CharField("单位", max_length=20)
    pack_size = models.DecimalField("每包装数量", max_digits=10, decimal_places=2, default=1)
    package_unit = models.CharField("包装单位", max_length=10, default="盒")
    packages = models.PositiveIntegerField("包装数")
    single_dose = models.DecimalField("单次用量", max_digits=10, decimal_places=3)
    dose_unit = models.CharField("单次剂量单位", max_length=10)
    frequency = models.CharField("使用频次", max_length=20)
    route = models.CharField("用药途径", max_length=20)
    usage = models.CharField("用法用量", max_length=200)
    days = models.PositiveSmallIntegerField("用药天数")

    class Meta:
        verbose_name = "处方明细"
        verbose_name_plural = "处方明细"
        ordering = ["prescription", "position"]
        constraints = [
            models.UniqueConstraint(fields=["prescription", "position"], name="uniq_rx_position"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="rx_item_quantity_positive"),
            models.CheckConstraint(condition=Q(pack_size__gt=0), name="rx_item_pack_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.drug} × {self.quantity}{self.unit}"


class PrescriptionTransition(StatusHistory):
    prescription = models.ForeignKey(Prescription, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "处方状态变更"
        verbose_name_plural = "处方状态变更"


_P = PrescriptionStatus
PRESCRIPTION_MACHINE = StateMachine(
    PrescriptionStatus,
    {
        # ISSUED → DISPENSED: dispensed at the issuing hospital's own outpatient pharmacy
        # (特药门诊, settlement.hospital), never routed to a pharmacy; a pharmacy counter
        # dispenses only ROUTED prescriptions.
        _P.ISSUED: {_P.ROUTED, _P.CANCELLED, _P.EXPIRED, _P.DISPENSED},
        _P.ROUTED: {_P.DISPENSED, _P.CANCELLED, _P.EXPIRED},
    },
    error_code=codes.TRANSITION,
    model=Prescription,
    history=PrescriptionTransition,
    history_fk="prescription",
    audit_action="prescriptions.prescription_{to}",
    patient=lambda prescription: prescription.patient,
    summary=lambda prescription, from_status, to_status: {
        "prescription_no": prescription.prescription_no,
        "from": from_status,
        "to": to_status,
    },
    reason_max=2000,
    save_fields=(),  # the status and what the move sets (``changes``), not the whole row
)


class CertificateType(models.TextChoices):
    """mdtrt_cert_type: how the buyer proved who the patient is."""

    E_CREDENTIAL = "01", "医保电子凭证"
    ID_CARD = "02", "居民身份证"
    SOCIAL_SECURITY_CARD = "03", "社会保障卡"


class DeliveryMode(models.TextChoices):
    PICKUP = "pickup", "到店自取"
    ONLINE_PICKUP = "online_pickup", "网订店取"
    HOME_DELIVERY = "home_delivery", "网订店送"
    COLD_CHAIN_TO_HOSPITAL = "cold_chain", "冷链配送至就诊医疗机构"  # HB art. 29


class AgentRelation(models.TextChoices):
    """How an agent (代办人) is related to the patient, declared at the counter. HB art. 24 asks
    for the agent's identity, contact and signature when a patient "entrusts another" (委托他人);
    the family relations follow the near relatives (近亲属) of the Civil Code art. 1045. A
    guardian who is not one of these relatives is 其他（受委托人）. Monitoring counts only the
    non-family relation (``settlement.surveillance.agent_many_patients``)."""

    SPOUSE = "spouse", "配偶"
    PARENT = "parent", "父母"
    CHILD = "child", "子女"
    OTHER_RELATIVE = "relative", "其他近亲属（兄弟姐妹、祖父母、外祖父母、孙子女、外孙子女）"
    ENTRUSTED = "entrusted", "其他（受委托人）"


# The relations within the family: a family member buying for many relatives is not the
# "one agent, many unrelated patients" pattern the monitoring rule looks for.
FAMILY_RELATIONS = frozenset(
    {
        AgentRelation.SPOUSE,
        AgentRelation.PARENT,
        AgentRelation.CHILD,
        AgentRelation.OTHER_RELATIVE,
    }
)


class Dispensing(models.Model):
    """One dispensing of a prescription at a pharmacy counter (exactly one per prescription)."""

    prescription = models.OneToOneField(
        Prescription, on_delete=models.PROTECT, related_name="dispensing"
    )
    pharmacy = models.ForeignKey("registry.Institution", on_delete=models.PROTECT, related_name="+")
    pharmacist = models.ForeignKey(
        "registry.Pharmacist", on_delete=models.PROTECT, related_name="dispensings"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField("幂等键", max_length=80)
    request_digest = models.CharField("请求摘要", max_length=64)
    certificate_type = models.CharField(
        "就诊凭证类型", max_length=2, choices=CertificateType.choices
    )
    certificate_masked = models.CharField("凭证号（脱敏）", max_length=40)
    card_sn = models.CharField("社保卡识别码", max_length=40, blank=True)
    # An e-voucher (01): the SHA-256 of the token the platform resolved, so that one scanned
    # voucher dispenses once (the token itself is not kept).
    voucher_digest = models.CharField("电子凭证摘要", max_length=64, blank=True, default="")
    # HB art. 24: an agent's ID, name and contact are registered and the agent signs.
    agent_name = models.CharField("代办人姓名", max_length=50, blank=True)
    agent_id_number = models.CharField("代办人身份证号", max_length=18, blank=True)
    agent_phone = models.CharField("代办人联系电话", max_length=20, blank=True)
    agent_signature = models.FileField("代办人签字", upload_to="signatures/%Y/%m", blank=True)
    agent_signature_sha256 = models.CharField("签字摘要", max_length=64, blank=True)
    # Declared by the agent at the counter; blank when the patient came in person, and on the
    # agents' dispensings recorded before the relation was asked (monitoring reads those as
    # "not recorded").
    agent_relation = models.CharField(
        "代办人与参保人关系", max_length=20, choices=AgentRelation.choices, blank=True, default=""
    )
    delivery_mode = models.CharField(
        "取药方式", max_length=20, choices=DeliveryMode.choices, default=DeliveryMode.PICKUP
    )
    warnings = models.JSONField("提示", default=list, blank=True)
    dispensed_at = models.DateTimeField("发药时间", default=timezone.now)
    # when analytics' circulation rollup took this dispensing in (issue 13): NULL at insert
    rolled_up_at = models.DateTimeField("计入汇总时间", null=True, blank=True)

    class Meta:
        verbose_name = "发药记录"
        verbose_name_plural = "发药记录"
        ordering = ["-dispensed_at", "-id"]
        indexes = [
            models.Index(
                fields=["id"],
                condition=Q(rolled_up_at__isnull=True),
                name="dispensing_not_rolled_up",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["pharmacy", "idempotency_key"], name="uniq_dispensing_key_per_pharmacy"
            ),
            models.UniqueConstraint(
                fields=["voucher_digest"],
                condition=~Q(voucher_digest=""),
                name="uniq_dispensing_voucher",
            ),
            models.CheckConstraint(
                condition=Q(agent_relation="")
                | (~Q(agent_id_number="") & Q(agent_relation__in=AgentRelation.values)),
                name="dispensing_agent_relation_with_agent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prescription} @ {self.pharmacy}"


class DispensingLine(models.Model):
    dispensing = models.ForeignKey(Dispensing, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(PrescriptionItem, on_delete=models.PROTECT, related_name="+")
    stock_item = models.ForeignKey(
        "inventory.StockItem", on_delete=models.PROTECT, related_name="+"
    )
    movement = models.ForeignKey(
        "inventory.StockMovement", on_delete=models.PROTECT, related_name="+"
    )
    drug = models.ForeignKey("catalog.Drug", on_delete=models.PROTECT, related_name="+")
    batch_no = models.CharField("批号", max_length=50)
    expiry_date = models.DateField("有效期至")
    packages = models.PositiveIntegerField("包装数")
    quantity = models.DecimalField("数量（方案单位）", max_digits=12, decimal_places=2)
    unit_price = models.DecimalField("单价（元/包装）", max_digits=12, decimal_places=2)
    trace_codes = models.JSONField("追溯码", default=list)

    class Meta:
        verbose_name = "发药明细"
        verbose_name_plural = "发药明细"
        ordering = ["dispensing", "id"]

    def __str__(self) -> str:
        return f"{self.drug} {self.batch_no} × {self.packages}"


class DeliveryStatus(models.TextChoices):
    PREPARING = "preparing", "备药中"
    READY = "ready", "待取药"
    IN_TRANSIT = "in_transit", "配送中"
    DELIVERED = "delivered", "已送达"
    HANDED_OVER = "handed_over", "已交接"
    PICKED_UP = "picked_up", "已取药"


class Delivery(models.Model):
    """How the drugs reach the patient; cold chain to the treating hospital is free [HB art. 29]."""

    dispensing = models.OneToOneField(Dispensing, on_delete=models.CASCADE, related_name="delivery")
    mode = models.CharField("方式", max_length=20, choices=DeliveryMode.choices)
    status = models.CharField("状态", max_length=20, choices=DeliveryStatus.choices)
    address = models.CharField("配送地址", max_length=200, blank=True)
    recipient_name = models.CharField("收货人", max_length=50, blank=True)
    recipient_phone = models.CharField("收货电话", max_length=20, blank=True)
    destination = models.ForeignKey(
        "registry.Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cold_chain = models.BooleanField("冷链", default=False)
    fee = models.DecimalField("配送费（元）", max_digits=8, decimal_places=2, default=0)
    # the hand-over record: who handed over, who received, when
    handed_over_by = models.CharField("交付人", max_length=50, blank=True)
    received_by = models.CharField("接收人", max_length=50, blank=True)
    handed_over_at = models.DateTimeField("交接时间", null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "配送"
        verbose_name_plural = "配送"
        constraints = [
            models.CheckConstraint(
                condition=~Q(mode="cold_chain") | (Q(cold_chain=True) & Q(fee=0)),
                name="delivery_cold_chain_free",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} · {self.get_status_display()}"


class DeliveryTransition(StatusHistory):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "配送状态变更"
        verbose_name_plural = "配送状态变更"


_D = DeliveryStatus
_M = DeliveryMode
# The statuses each mode passes through, in order (the counter writes the first one).
DELIVERY_PATHS: dict[str, tuple[str, ...]] = {
    _M.PICKUP: (_D.PICKED_UP,),
    _M.ONLINE_PICKUP: (_D.READY, _D.PICKED_UP),
    _M.HOME_DELIVERY: (_D.PREPARING, _D.IN_TRANSIT, _D.DELIVERED),
    _M.COLD_CHAIN_TO_HOSPITAL: (_D.PREPARING, _D.IN_TRANSIT, _D.HANDED_OVER),
}


def _delivery_facts(delivery: Delivery, from_status: str, to_status: str) -> dict:
    return {
        "prescription_no": delivery.dispensing.prescription.prescription_no,
        "dispensing": delivery.dispensing_id,
        "mode": delivery.mode,
        "from": from_status,
        "to": to_status,
    }


# One machine per mode: each walks its own path.
DELIVERY_MACHINES = {
    mode: StateMachine(
        DeliveryStatus,
        {path[n]: {path[n + 1]} for n in range(len(path) - 1)},
        error_code=codes.DELIVERY_TRANSITION,
        model=Delivery,
        history=DeliveryTransition,
        history_fk="delivery",
        audit_action="prescriptions.delivery_{to}",
        patient=lambda delivery: delivery.dispensing.prescription.patient,
        summary=_delivery_facts,
        stamp=lambda delivery, to: {"updated_at": timezone.now()},
        when=lambda delivery, mode=mode: delivery.mode == mode,
    )
    for mode, path in DELIVERY_PATHS.items()
}


class RxCentreStatus(models.TextChoices):
    PENDING = "pending", "待上传"
    UPLOADED = "uploaded", "已上传"
    FAILED = "failed", "上传失败（重试中）"
    DEAD = "dead", "上传失败（待人工处理）"
    WITHDRAWN = "withdrawn", "已撤销"
    NOT_CONNECTED = "not_connected", "未接入电子处方中心"


class RxCentreSubmission(models.Model):
    """The prescription at the e-prescription centre: pre-check, signature, upload, undo, results.

    A durable job walks it forward; each step's answer is kept so a retry resumes where the last
    attempt stopped and never uploads twice (the client's idempotency keys).
    """

    prescription = models.OneToOneField(
        Prescription, on_delete=models.CASCADE, related_name="rx_centre"
    )
    status = models.CharField(
        "状态", max_length=20, choices=RxCentreStatus.choices, default=RxCentreStatus.PENDING
    )
    rx_trace_code = models.CharField("处方追溯码", max_length=60, blank=True)
    hi_rxno = models.CharField("医保处方编号", max_length=60, blank=True)
    sign_digest = models.CharField("签名摘要", max_length=512, blank=True)
    rx_file_sha256 = models.CharField("处方文件摘要", max_length=64, blank=True)
    uploaded_at = models.DateTimeField("上传时间", null=True, blank=True)
    review_reported = models.BooleanField("已上报药师审核", default=False)
    withdraw_requested = models.BooleanField("待撤销", default=False)
    withdraw_reason = models.CharField("撤销原因", max_length=200, blank=True)
    dispense_reported = models.BooleanField("已上报发药", default=False)
    # the hospital's result query (rxSetlInfoQuery) confirms the centre recorded the dispensing
    result_confirmed_at = models.DateTimeField("结果查询确认时间", null=True, blank=True)
    result_lines = models.PositiveSmallIntegerField("中心登记取药明细数", null=True, blank=True)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    last_error = models.TextField("最近错误", blank=True)
    # A run claims the submission (committed) before it calls the centre, holding no row lock:
    # ``job:<id>`` or ``call:<random>``, until the claim is recorded or expires (a dead worker).
    claimed_by = models.CharField("处理方", max_length=40, blank=True)
    claimed_until = models.DateTimeField("处理占用至", null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "电子处方中心上传"
        verbose_name_plural = "电子处方中心上传"

    def __str__(self) -> str:
        return f"{self.prescription} · {self.get_status_display()}"


_R = RxCentreStatus
# The centre run's outcomes (``circulation``): a run takes a pending, failed or uploaded
# submission; withdrawn, dead and not-connected ones are never taken again (a dead one only
# after a person put it back to failed). No history table:
# the audit event is the record.
RX_CENTRE_MACHINE = StateMachine(
    RxCentreStatus,
    {
        _R.PENDING: {_R.UPLOADED, _R.FAILED, _R.DEAD, _R.WITHDRAWN},
        _R.FAILED: {_R.UPLOADED, _R.DEAD, _R.WITHDRAWN},
        # the pharmacy's report or the result query may still fail after the upload
        _R.UPLOADED: {_R.FAILED, _R.DEAD, _R.WITHDRAWN},
        # a person re-queues a dead one from the failed-jobs page (``core.job_failures``)
        _R.DEAD: {_R.FAILED},
    },
    error_code=codes.RX_CENTRE_TRANSITION,
    model=RxCentreSubmission,
    audit_action="prescriptions.rx_centre_{to}",
    patient=lambda submission: submission.prescription.patient,
    summary=lambda submission, from_status, to_status: {
        "prescription_no": submission.prescription.prescription_no,
        "from": from_status,
        "to": to_status,
    },
    save_fields=(),
)


# --- online orders: 网订店取 / 网订店送 [CX art. 22] -------------------------------------------


class PharmacyDeliverySettings(models.Model):
    """What a pharmacy offers for online orders: its hours (pick-up windows), delivery area and
    fee. Edited by the pharmacy's own staff."""

    pharmacy = models.OneToOneField(
        "registry.Institution", on_delete=models.CASCADE, related_name="delivery_settings"
    )
    opens_at = models.TimeField("营业开始", default="09:00")
    closes_at = models.TimeField("营业结束", default="18:00")
    delivers = models.BooleanField("提供网订店送", default=False)
    # the regions delivered to (6-digit codes; a city or county covers the places under it)
    area = models.ManyToManyField("registry.Region", blank=True, related_name="+")
    fee = models.DecimalField("配送费（元）", max_digits=8, decimal_places=2, default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "药店网订设置"
        verbose_name_plural = "药店网订设置"
        constraints = [
            models.CheckConstraint(condition=Q(fee__gte=0), name="delivery_fee_not_negative"),
            models.CheckConstraint(
                condition=Q(closes_at__gt=models.F("opens_at")), name="delivery_hours_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pharmacy_id} {self.opens_at}–{self.closes_at}"


class PatientAddress(models.Model):
    """A delivery address the patient saved (网订店送)."""

    person = models.ForeignKey(
        "registry.InsuredPerson", on_delete=models.CASCADE, related_name="addresses"
    )
    region = models.ForeignKey("registry.Region", on_delete=models.PROTECT, related_name="+")
    detail = models.CharField("详细地址", max_length=150)
    recipient_name = models.CharField("收货人", max_length=50)
    recipient_phone = models.CharField("收货电话", max_length=20)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "收货地址"
        verbose_name_plural = "收货地址"
        ordering = ["person_id", "-id"]

    def __str__(self) -> str:
        return f"{self.region_id} {self.detail[:10]}"


class OrderStatus(models.TextChoices):
    # paid online first: 网订店送 (the personal part and the fee), 网订店取 if so chosen (the
    # personal part); the boxes are held for the payment's time
    PENDING_PAYMENT = "pending_payment", "待支付"
    READY = "ready", "待取药"  # 网订店取: boxes held, code issued, waiting for the window
    PREPARING = "preparing", "备药中"  # 网订店送: boxes held, the pharmacy prepares and dispenses
    SHIPPED = "shipped", "配送中"  # dispensed and sent (carrier and tracking number)
    PICKED_UP = "picked_up", "已取药"  # handed over at the counter
    DELIVERED = "delivered", "已送达"  # received (the patient confirmed or the pharmacy recorded)
    CANCELLED = "cancelled", "已取消"  # by the patient or the pharmacy; the hold is released
    EXPIRED = "expired", "已过期"  # the window passed unused; the hold is released


OPEN_ORDER = (
    OrderStatus.PENDING_PAYMENT,
    OrderStatus.READY,
    OrderStatus.PREPARING,
    OrderStatus.SHIPPED,
)
# stock held, not yet dispensed
HOLDING_ORDER = (OrderStatus.PENDING_PAYMENT, OrderStatus.READY, OrderStatus.PREPARING)


class OnlineOrder(models.Model):
    """The patient's online order of a routed prescription at its pharmacy [CX art. 22]."""

    order_no = models.CharField("订单号", max_length=24, unique=True)
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, related_name="online_orders"
    )
    pharmacy = models.ForeignKey("registry.Institution", on_delete=models.PROTECT, related_name="+")
    mode = models.CharField("方式", max_length=20, choices=DeliveryMode.choices)
    status = models.CharField("状态", max_length=20, choices=OrderStatus.choices)
    # 网订店取: the code is shown to the patient once (a message); only its digest is kept
    pickup_code_digest = models.CharField("取药码摘要", max_length=64, blank=True)
    pickup_code_used_at = models.DateTimeField("取药码核销时间", null=True, blank=True)
    window_start = models.DateTimeField("取药时段开始", null=True, blank=True)
    window_end = models.DateTimeField("取药时段结束", null=True, blank=True)
    # 网订店送: the saved address as it was when ordering
    region = models.ForeignKey(
        "registry.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    address = models.CharField("配送地址", max_length=200, blank=True)
    recipient_name = models.CharField("收货人", max_length=50, blank=True)
    recipient_phone = models.CharField("收货电话", max_length=20, blank=True)
    fee = models.DecimalField("配送费（元）", max_digits=8, decimal_places=2, default=0)
    hold_until = models.DateTimeField("库存保留至")
    dispensing = models.OneToOneField(
        Dispensing, null=True, blank=True, on_delete=models.PROTECT, related_name="online_order"
    )
    carrier = models.CharField("承运方", max_length=50, blank=True)
    tracking_no = models.CharField("运单号", max_length=50, blank=True)
    received_by = models.CharField("签收人", max_length=50, blank=True)
    received_at = models.DateTimeField("签收时间", null=True, blank=True)
    cancel_reason = models.CharField("取消原因", max_length=200, blank=True)
    # the delivery fee paid online (payments app); null: nothing to pay or not opened yet
    payment = models.ForeignKey(
        "payments.PaymentOrder", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # the personal part paid on the phone (services.online_payment): always for 网订店送 (with the
    # fee), for 网订店取 when the patient chose 在线支付; null: it is paid at the counter (网订店取
    # 到店支付, or an order placed before this was possible)
    personal_due = models.DecimalField(
        "个人自付（线上支付，元）", max_digits=12, decimal_places=2, null=True, blank=True
    )
    # the pre-settlement (2101) of the held boxes the patient was shown: amounts as strings
    presettlement = models.JSONField("预结算", default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "网上订单"
        verbose_name_plural = "网上订单"
        ordering = ["-created_at", "-id"]
        constraints = [
            # one open order per prescription
            models.UniqueConstraint(
                fields=["prescription"],
                condition=Q(status__in=["pending_payment", "ready", "preparing", "shipped"]),
                name="uniq_open_order_per_prescription",
            ),
            models.UniqueConstraint(
                fields=["pharmacy", "pickup_code_digest"],
                condition=~Q(pickup_code_digest=""),
                name="uniq_pickup_code_per_pharmacy",
            ),
        ]
        indexes = [models.Index(fields=["pharmacy", "status"])]

    def __str__(self) -> str:
        return self.order_no


class OnlineOrderTransition(StatusHistory):
    order = models.ForeignKey(OnlineOrder, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "网上订单状态变更"
        verbose_name_plural = "网上订单状态变更"


_O = OrderStatus
ORDER_MACHINE = StateMachine(
    OrderStatus,
    {
        # paid (or nothing due): a delivery order is prepared, a pick-up order waits for its window
        _O.PENDING_PAYMENT: {_O.PREPARING, _O.READY, _O.CANCELLED, _O.EXPIRED},
        _O.READY: {_O.PICKED_UP, _O.CANCELLED, _O.EXPIRED},
        _O.PREPARING: {_O.SHIPPED, _O.CANCELLED, _O.EXPIRED},
        _O.SHIPPED: {_O.DELIVERED},
    },
    error_code=codes.ORDER_TRANSITION,
    model=OnlineOrder,
    history=OnlineOrderTransition,
    history_fk="order",
    audit_action="prescriptions.order_{to}",
    patient=lambda order: order.prescription.patient,
    summary=lambda order, from_status, to_status: {
        "order_no": order.order_no,
        "prescription_no": order.prescription.prescription_no,
        "mode": order.mode,
        "from": from_status,
        "to": to_status,
    },
    stamp=lambda order, to: {"updated_at": timezone.now()},
)
