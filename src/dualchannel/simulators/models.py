"""State of the bundled simulators: the national platform (``Sim…``) and the e-prescription
centre (``SimRx…``), used by tests and the demo in place of the real systems.

The tables were created by the ``integration`` app and keep their names (``integration_sim…``):
the models moved here by state only (migration ``simulators.0001``), so existing data stays.
A production deployment does not install this app; its tables, if any, are then unused.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

# --- simulator of the national platform -------------------------------------------------------


class SimSerial(models.Model):
    """Counters of the simulated platform (inf_refmsgid serial, filing serial)."""

    name = models.CharField(max_length=40, unique=True)
    value = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "integration_simserial"
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
        db_table = "integration_simsession"
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
        db_table = "integration_simmessage"
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
        db_table = "integration_simfiling"
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
        db_table = "integration_siminventoryrecord"
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
        db_table = "integration_simsettlement"
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


class SimVoucher(models.Model):
    """A national insurance e-voucher (医保电子凭证) token the simulated platform issued.

    The patient's app shows it as a QR code; the pharmacy's terminal reads it and sends it as
    ``mdtrt_cert_no`` with ``mdtrt_cert_type`` 01 on 1101. In the real scheme the terminal gets
    an ``ecToken`` from the voucher SDK by decoding the QR code; the token's exact format and
    lifetime are the platform's (uncertain here): the simulator issues an opaque token that
    expires after a few minutes, bound to one person by their ID number.
    """

    token = models.CharField(max_length=50, unique=True)
    id_number = models.CharField(max_length=18)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "模拟医保电子凭证"
        verbose_name_plural = "模拟医保电子凭证"

    def __str__(self) -> str:
        return f"{self.token[:6]}… 至 {self.expires_at:%H:%M}"


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
        db_table = "integration_simfault"
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
        db_table = "integration_siminstitutionkey"
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
        db_table = "integration_simappcredential"
        verbose_name = "模拟网关应用"
        verbose_name_plural = "模拟网关应用"

    def __str__(self) -> str:
        return self.app_id


# --- simulator of the e-prescription centre (医保电子处方中心) -----------------------------------


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
        db_table = "integration_simrx"
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
        db_table = "integration_simrxfault"
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
        db_table = "integration_simrxappkey"
        verbose_name = "模拟电子处方中心应用密钥"
        verbose_name_plural = "模拟电子处方中心应用密钥"

    def __str__(self) -> str:
        return self.app_id


# --- simulator of WeChat's official-account web authorisation (网页授权) -----------------------


class SimWeChatCode(models.Model):
    """A ``code`` the simulated authorize page gave: valid five minutes, usable once."""

    code = models.CharField(max_length=64, unique=True)
    app_id = models.CharField(max_length=64)
    openid = models.CharField(max_length=64)
    issued_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "模拟微信授权码"
        verbose_name_plural = "模拟微信授权码"

    def __str__(self) -> str:
        return f"{self.app_id} {self.issued_at:%Y-%m-%d %H:%M}"


# --- simulator of a payment provider (WeChat Pay API v3, 直连商户 H5) --------------------------


class SimPayOrder(models.Model):
    """A transaction at the simulated payment provider (``trade_state`` as WeChat Pay's)."""

    mchid = models.CharField(max_length=32)
    appid = models.CharField(max_length=32)
    out_trade_no = models.CharField(max_length=32, unique=True)
    prepay_id = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=127)
    total_fen = models.PositiveBigIntegerField()
    time_expire = models.DateTimeField()
    notify_url = models.CharField(max_length=500)
    # NOTPAY, SUCCESS, CLOSED, REFUND
    trade_state = models.CharField(max_length=16, default="NOTPAY")
    transaction_id = models.CharField(max_length=32, blank=True)
    success_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "模拟支付交易"
        verbose_name_plural = "模拟支付交易"

    def __str__(self) -> str:
        return self.out_trade_no


class SimPayRefund(models.Model):
    """A refund at the simulated payment provider (``status`` as WeChat Pay's)."""

    order = models.ForeignKey(SimPayOrder, on_delete=models.CASCADE, related_name="refunds")
    out_refund_no = models.CharField(max_length=64, unique=True)
    refund_id = models.CharField(max_length=32, unique=True)
    refund_fen = models.PositiveBigIntegerField()
    reason = models.CharField(max_length=80, blank=True)
    notify_url = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, default="PROCESSING")  # SUCCESS, CLOSED, ABNORMAL
    success_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "模拟支付退款"
        verbose_name_plural = "模拟支付退款"

    def __str__(self) -> str:
        return self.out_refund_no
