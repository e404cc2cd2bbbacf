"""Tables of the outbound integration (national platform client, filings) and its simulator.

Client side: ``PlatformMsgSequence`` (msgid counter), ``PlatformSession`` (sign_no from 9001),
``PlatformCall`` (one row per call, request/response kept in the database only) and
``PlatformFiling`` with its status history. Simulator side (prefix ``Sim``): the platform's own
state, used by tests and the demo in place of the real national platform.
The e-prescription centre has its own call log ``RxCentreCall`` (its service names do not fit
``PlatformCall.infno``) and simulator tables ``SimRx``, ``SimRxFault`` and ``SimRxAppKey``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dualchannel.core.models import StatusHistory

# --- national platform client ---------------------------------------------------------------


class PlatformMsgSequence(models.Model):
    """The msgid sequence of one institution: reset every second, locked while incremented."""

    fixmedins_code = models.CharField("定点机构编码", max_length=12, unique=True)
    second = models.CharField("当前秒（yyyyMMddHHmmss）", max_length=14, blank=True)
    value = models.PositiveIntegerField("本秒已用序号", default=0)

    class Meta:
        verbose_name = "报文序号"
        verbose_name_plural = "报文序号"

    def __str__(self) -> str:
        return f"{self.fixmedins_code}@{self.second}#{self.value}"


class PlatformSession(models.Model):
    """A sign-in (9001) of one operator of one institution; reused until the platform refuses it."""

    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.CASCADE, related_name="platform_sessions"
    )
    opter = models.CharField("经办人编号", max_length=30)
    sign_no = models.CharField("签到编号", max_length=30)
    signed_in_at = models.DateTimeField("签到时间", default=timezone.now)
    invalidated_at = models.DateTimeField("失效时间", null=True, blank=True)

    class Meta:
        verbose_name = "平台签到"
        verbose_name_plural = "平台签到"
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "opter"],
                condition=Q(invalidated_at__isnull=True),
                name="uniq_live_platform_session",
            )
        ]

    def __str__(self) -> str:
        return f"{self.institution_id}/{self.opter}"


class PlatformCall(models.Model):
    """One call to the national platform. Request and response stay here, never in log files."""

    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="platform_calls"
    )
    infno = models.CharField("交易编号", max_length=5)
    msgid = models.CharField("报文ID", max_length=30, unique=True)
    idempotency_key = models.CharField("幂等键", max_length=80, blank=True)
    request_digest = models.CharField("请求摘要（SHA-256）", max_length=64)
    request = models.JSONField("请求报文", default=dict)
    response = models.JSONField("应答报文", null=True, blank=True)
    # "0" success, "-1" refused by the platform, "" when no answer came (transport failure).
    infcode = models.CharField("交易状态码", max_length=10, blank=True)
    err_msg = models.TextField("错误信息", blank=True)
    retryable = models.BooleanField("可重试", default=False)
    duration_ms = models.PositiveIntegerField("耗时（毫秒）", default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "平台调用记录"
        verbose_name_plural = "平台调用记录"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["institution", "infno", "idempotency_key"])]
        constraints = [
            # A key succeeds once: a repeat returns the stored answer instead of calling again.
            models.UniqueConstraint(
                fields=["institution", "infno", "idempotency_key"],
                condition=Q(infcode="0") & ~Q(idempotency_key=""),
                name="uniq_platform_call_success_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.infno} {self.msgid} → {self.infcode or '无应答'}"

    @property
    def succeeded(self) -> bool:
        return self.infcode == "0"


class FilingKind(models.TextChoices):
    FILE = "2503", "备案（2503）"
    CANCEL = "2504", "撤销备案（2504）"


class FilingStatus(models.TextChoices):
    PENDING = "pending", "待发送"  # recorded, not yet sent
    SENT = "sent", "发送中"  # handed to the platform client in this transaction
    ACCEPTED = "accepted", "已受理"  # the platform answered infcode 0
    FAILED = "failed", "发送失败（将重试）"  # a retryable failure; retried with the same key
    DEAD = "dead", "发送失败（需人工处理）"  # refused for good or retries exhausted
    CANCELLED = "cancelled", "已撤销"  # an accepted 2503 later cancelled by an accepted 2504


class PlatformFiling(models.Model):
    """A 2503 filing (or its 2504 cancellation) of any subject, e.g. a granted eligibility."""

    kind = models.CharField("类型", max_length=4, choices=FilingKind.choices)
    subject_type = models.CharField("业务对象类型", max_length=80)
    subject_id = models.CharField("业务对象ID", max_length=64)
    person = models.ForeignKey(
        "registry.InsuredPerson", on_delete=models.PROTECT, related_name="platform_filings"
    )
    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="platform_filings"
    )
    # For a 2504: the accepted 2503 filing it cancels.
    target = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="cancellations"
    )
    input = models.JSONField("报文输入", default=dict)
    status = models.CharField(
        "状态", max_length=12, choices=FilingStatus.choices, default=FilingStatus.PENDING
    )
    idempotency_key = models.CharField("幂等键", max_length=80, unique=True)
    trt_dcla_detl_sn = models.CharField("待遇申报明细流水号", max_length=50, blank=True)
    attempts = models.PositiveSmallIntegerField("发送次数", default=0)
    last_error = models.TextField("最近错误", blank=True)
    last_infcode = models.CharField("最近交易状态码", max_length=10, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField("受理时间", null=True, blank=True)
    # Set when the subject ended before the platform accepted this 2503: once accepted, a 2504
    # follows automatically with this reason.
    cancel_reason = models.TextField("待撤销原因", blank=True)

    class Meta:
        verbose_name = "医保平台备案"
        verbose_name_plural = "医保平台备案"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"]),
            models.Index(fields=["status"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status}"


class PlatformFilingTransition(StatusHistory):
    filing = models.ForeignKey(PlatformFiling, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "备案状态变更"
        verbose_name_plural = "备案状态变更"


# --- simulator of the national platform ------------------------------------------------------


class SimSerial(models.Model):
    """Counters of the simulated platform (inf_refmsgid serial, filing serial)."""

    name = models.CharField(max_length=40, unique=True)
    value = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "模拟平台序号"
        verbose_name_plural = "模拟平台序号"

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class SimSession(models.Model):
    """A sign_no the simulated platform issued on 9001."""

    sign_no = models.CharField(max_length=30, unique=True)
    fixmedins_code = models.CharField(max_length=12)
    opter = models.CharField(max_length=30)
    signed_in_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    signed_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "模拟平台签到"
        verbose_name_plural = "模拟平台签到"

    def __str__(self) -> str:
        return f"{self.fixmedins_code}/{self.opter}"


class SimMessage(models.Model):
    """Every message the simulated platform answered, by msgid: a repeat gets the same answer."""

    msgid = models.CharField(max_length=30, unique=True)
    infno = models.CharField(max_length=5)
    fixmedins_code = models.CharField(max_length=12)
    request_digest = models.CharField(max_length=64)
    response = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "模拟平台报文"
        verbose_name_plural = "模拟平台报文"

    def __str__(self) -> str:
        return f"{self.infno} {self.msgid}"


class SimFiling(models.Model):
    """A chronic/special-disease or special-drug filing held by the simulated platform."""

    trt_dcla_detl_sn = models.CharField(max_length=30, unique=True)
    fixmedins_code = models.CharField(max_length=12)
    psn_no = models.CharField(max_length=30)
    insutype = models.CharField(max_length=6)
    opsp_dise_code = models.CharField(max_length=30)
    opsp_dise_name = models.CharField(max_length=300)
    begndate = models.DateField()
    enddate = models.DateField(null=True, blank=True)
    data = models.JSONField(default=dict)
    filed_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_memo = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = "模拟平台备案"
        verbose_name_plural = "模拟平台备案"
        constraints = [
            # The platform refuses a duplicate live filing: the same one is answered instead.
            models.UniqueConstraint(
                fields=["fixmedins_code", "psn_no", "opsp_dise_code", "begndate"],
                condition=Q(cancelled_at__isnull=True),
                name="uniq_sim_live_filing",
            )
        ]

    def __str__(self) -> str:
        return self.trt_dcla_detl_sn


class SimInventoryRecord(models.Model):
    """A 进销存 record (3501–3506) held by the simulated platform, by the pharmacy's serial.

    3507 deletes one; the same serial uploaded again is answered, not stored twice.
    """

    fixmedins_code = models.CharField(max_length=12)
    infno = models.CharField(max_length=5)
    # 1 stocktake, 2 stock change, 3 purchase (and its return), 4 sale (and its return)
    inv_data_type = models.CharField(max_length=1)
    fixmedins_bchno = models.CharField(max_length=30)
    med_list_codg = models.CharField(max_length=50, blank=True)
    count = models.DecimalField(max_digits=16, decimal_places=4)
    trace_codes = models.JSONField(default=list, blank=True)
    request_digest = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "模拟平台进销存记录"
        verbose_name_plural = "模拟平台进销存记录"
        constraints = [
            models.UniqueConstraint(
                fields=["fixmedins_code", "inv_data_type", "fixmedins_bchno"],
                condition=Q(deleted_at__isnull=True),
                name="uniq_sim_live_inventory_record",
            )
        ]

    def __str__(self) -> str:
        return f"{self.infno} {self.fixmedins_bchno}"


class SimSettlement(models.Model):
    """A settlement (2102 pharmacy, 2207 hospital outpatient) held by the simulated platform.

    Known by ``setl_id`` and, per institution, by its ``fixmedins_setl_id`` (the same number with
    the same body answers the same settlement). 2103/2208 set ``reversed_at``; 3201/3202 read it.
    Amounts are the institution's breakdown as received; ``fund_pay_sumamt`` is all funds.
    """

    setl_id = models.CharField(max_length=30, unique=True)
    mdtrt_id = models.CharField(max_length=30)
    fixmedins_code = models.CharField(max_length=12)
    fixmedins_setl_id = models.CharField(max_length=50)
    infno = models.CharField(max_length=5)  # 2102 or 2207
    clr_type = models.CharField(max_length=6)
    setl_optins = models.CharField(max_length=6)  # the insured's insuplc_admdvs
    insutype = models.CharField(max_length=6)
    med_type = models.CharField(max_length=10)
    psn_no = models.CharField(max_length=30)
    medfee_sumamt = models.DecimalField(max_digits=16, decimal_places=2)
    fund_pay_sumamt = models.DecimalField(max_digits=16, decimal_places=2)
    hifp_pay = models.DecimalField(max_digits=16, decimal_places=2)
    hifmi_pay = models.DecimalField(max_digits=16, decimal_places=2)
    maf_pay = models.DecimalField(max_digits=16, decimal_places=2)
    oth_pay = models.DecimalField(max_digits=16, decimal_places=2)
    acct_pay = models.DecimalField(max_digits=16, decimal_places=2)
    psn_cash_pay = models.DecimalField(max_digits=16, decimal_places=2)
    request_digest = models.CharField(max_length=64)
    data = models.JSONField(default=dict)  # the input as received (data and lines)
    output = models.JSONField(default=dict)  # the answer, repeated on an idempotent replay
    setl_time = models.DateTimeField(default=timezone.now)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversal_setl_id = models.CharField(max_length=30, blank=True)

    class Meta:
        verbose_name = "模拟平台结算"
        verbose_name_plural = "模拟平台结算"
        indexes = [models.Index(fields=["fixmedins_code", "setl_time"])]
        constraints = [
            models.UniqueConstraint(
                fields=["fixmedins_code", "fixmedins_setl_id"],
                name="uniq_sim_settlement_fixmedins_setl_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.infno} {self.setl_id}{' 已冲正' if self.reversed_at else ''}"


class FaultMode(models.TextChoices):
    ERROR = "error", "返回 infcode -1（系统繁忙）"
    TIMEOUT = "timeout", "模拟超时（无应答）"


class SimFault(models.Model):
    """A switch that makes the simulated platform fail its next N calls (retry demos and tests)."""

    mode = models.CharField(max_length=10, choices=FaultMode.choices, default=FaultMode.ERROR)
    # Empty: any transaction; otherwise only this infno fails.
    infno = models.CharField(max_length=5, blank=True)
    remaining = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "模拟平台故障开关"
        verbose_name_plural = "模拟平台故障开关"

    def __str__(self) -> str:
        return f"{self.mode} ×{self.remaining} {self.infno or '*'}"


class SimInstitutionKey(models.Model):
    """Keys the simulated platform holds for an institution: SM2 public key and SM4 key."""

    fixmedins_code = models.CharField(max_length=12, unique=True)
    sm2_public_key = models.CharField(max_length=130)
    sm4_key_hex = models.CharField(max_length=32, blank=True)
    require_signature = models.BooleanField(default=True)

    class Meta:
        verbose_name = "模拟平台机构密钥"
        verbose_name_plural = "模拟平台机构密钥"

    def __str__(self) -> str:
        return self.fixmedins_code


class SimAppCredential(models.Model):
    """An app registered with the simulated gateway; when any exists, HTTP calls need auth."""

    app_id = models.CharField(max_length=64, unique=True)
    secret = models.CharField(max_length=128)
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "模拟网关应用"
        verbose_name_plural = "模拟网关应用"

    def __str__(self) -> str:
        return self.app_id


# --- e-prescription centre (医保电子处方中心): client call log and simulator state -------------


class RxCentreCall(models.Model):
    """One call to the e-prescription centre. Request and answer stay here, never in log files."""

    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="rx_centre_calls"
    )
    api = models.CharField("服务名", max_length=40)
    opter = models.CharField("经办人编号", max_length=30, blank=True)
    idempotency_key = models.CharField("幂等键", max_length=80, blank=True)
    # 医保处方编号 the call concerns, when known (to list the calls of one prescription).
    hi_rxno = models.CharField("医保处方编号", max_length=40, blank=True, db_index=True)
    request_digest = models.CharField("请求摘要（SHA-256）", max_length=64)
    request = models.JSONField("请求报文", default=dict)
    response = models.JSONField("应答报文", null=True, blank=True)
    # 0 success, non-zero refused by the centre, null when no answer came (transport failure).
    code = models.IntegerField("应答码", null=True, blank=True)
    message = models.TextField("应答信息", blank=True)
    retryable = models.BooleanField("可重试", default=False)
    duration_ms = models.PositiveIntegerField("耗时（毫秒）", default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "电子处方中心调用记录"
        verbose_name_plural = "电子处方中心调用记录"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["institution", "api", "idempotency_key"])]
        constraints = [
            # A key succeeds once: a repeat returns the stored answer instead of calling again.
            models.UniqueConstraint(
                fields=["institution", "api", "idempotency_key"],
                condition=Q(code=0) & ~Q(idempotency_key=""),
                name="uniq_rx_centre_call_success_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.api} → {'无应答' if self.code is None else self.code}"

    @property
    def succeeded(self) -> bool:
        return self.code == 0


class SimRxStatus(models.TextChoices):
    CHECKED = "checked", "已预核验（未上传）"  # uploadChk passed; may be signed and uploaded
    VALID = "valid", "有效"  # uploaded (rxStasCodg 1); pharmacies may review and dispense it
    DISPENSED = "dispensed", "已取药"  # dispensing uploaded (rxStasCodg 1, rxUsedStasCodg 1)
    EXPIRED = "expired", "已失效"  # past valiEndTime before dispensing (rxStasCodg 2)
    CANCELLED = "cancelled", "已撤销"  # rxUndo (rxStasCodg 3)


class SimRx(models.Model):
    """A prescription held by the simulated e-prescription centre, from pre-check on."""

    hi_rxno = models.CharField(max_length=40, unique=True)
    rx_trace_code = models.CharField(max_length=40, unique=True)
    fixmedins_code = models.CharField(max_length=12)
    hosp_rxno = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=SimRxStatus.choices)
    data = models.JSONField(default=dict)  # the pre-checked prescription as received
    data_digest = models.CharField(max_length=64)
    vali_end_time = models.DateTimeField()
    rx_file_digest = models.CharField(max_length=64, blank=True)
    sign_digest = models.TextField(blank=True)
    sign_cert_sn = models.CharField(max_length=40, blank=True)
    checked_at = models.DateTimeField(default=timezone.now)
    signed_at = models.DateTimeField(null=True, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    upload_data = models.JSONField(default=dict, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    # The latest pharmacist review (7204) and the dispensing (7206), by the pharmacy that did it.
    review_fixmedins_code = models.CharField(max_length=12, blank=True)
    review_status = models.CharField(max_length=1, default="0")
    review = models.JSONField(default=dict, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    dispense_fixmedins_code = models.CharField(max_length=12, blank=True)
    dispense_lines = models.JSONField(default=list, blank=True)
    dispensed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "模拟电子处方"
        verbose_name_plural = "模拟电子处方"
        constraints = [
            # 院内处方号 is unique per hospital: a second pre-check updates the pending one.
            models.UniqueConstraint(
                fields=["fixmedins_code", "hosp_rxno"], name="uniq_sim_rx_hosp_rxno"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hi_rxno} {self.status}"


class SimRxFault(models.Model):
    """A switch that makes the simulated e-prescription centre fail its next N calls."""

    mode = models.CharField(max_length=10, choices=FaultMode.choices, default=FaultMode.ERROR)
    # Empty: any service; otherwise only this api fails.
    api = models.CharField(max_length=40, blank=True)
    remaining = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "模拟电子处方中心故障开关"
        verbose_name_plural = "模拟电子处方中心故障开关"

    def __str__(self) -> str:
        return f"{self.mode} ×{self.remaining} {self.api or '*'}"


class SimRxAppKey(models.Model):
    """Keys the simulated centre holds for an app (appId): SM2 public key and SM4 key."""

    app_id = models.CharField(max_length=64, unique=True)
    sm2_public_key = models.CharField(max_length=130)
    sm4_key_hex = models.CharField(max_length=32, blank=True)
    require_signature = models.BooleanField(default=True)

    class Meta:
        verbose_name = "模拟电子处方中心应用密钥"
        verbose_name_plural = "模拟电子处方中心应用密钥"

    def __str__(self) -> str:
        return self.app_id
