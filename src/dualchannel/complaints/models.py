"""Complaints and reports (投诉举报) from the public, handled by the agency of a region.

[HB art. 26] institutions keep a complaint and report system; [SD §4] complaints about buying
drugs count in the institutions' assessment; [CX art. 30] the agency runs a reporting channel.
A complaint names a region (the institution's, or the one chosen), gets a tracking number the
complainant uses with their contact to read its status and the officer's public reply, and must
be answered within a time limit in working days (the region's policy profile, else
``DEFAULT_REPLY_WORKING_DAYS``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dualchannel.core.masking import mask_email, mask_phone
from dualchannel.core.models import StatusHistory
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import StateMachine
from dualchannel.registry.profiles import DEFAULT_COMPLAINT_REPLY_WORKING_DAYS

from . import error_codes as codes

# None of the seeds names a number of days for answering a complaint; a region sets its own in
# its policy profile (``complaint_reply_working_days``), else 15 working days (registry.profiles).
DEFAULT_REPLY_WORKING_DAYS = DEFAULT_COMPLAINT_REPLY_WORKING_DAYS


class ComplaintCategory(models.TextChoices):
    NOT_STOCKED = "not_stocked", "药品未配备或缺货"  # SD §4: 配备谈判药品
    OVERPRICED = "overpriced", "超支付标准收费"  # HB art. 21(三)
    STEERING = "steering", "诱导到指定药店购药"  # HB art. 21(二)
    REFUSED = "refused", "拒绝处方或拒绝配药"
    SERVICE = "service", "服务态度或办理时限"
    FRAUD = "fraud", "骗取、套取医保基金"  # CX art. 30
    OTHER = "other", "其他"


class ComplaintStatus(models.TextChoices):
    RECEIVED = "received", "已登记"  # submitted by the public, waiting for an officer
    ACCEPTED = "accepted", "已受理"  # an officer took it on and is handling it
    REPLIED = "replied", "已答复"  # the officer published a reply to the complainant
    CLOSED = "closed", "已办结"  # closed with a result


class ComplaintResult(models.TextChoices):
    SUBSTANTIATED = "substantiated", "情况属实，已处理"
    PARTLY = "partly", "部分属实"
    UNSUBSTANTIATED = "unsubstantiated", "经核实不属实"
    NOT_ACCEPTED = "not_accepted", "不予受理（不属于受理范围）"


class Complaint(models.Model):
    tracking_no = models.CharField("受理编号", max_length=20, unique=True)
    region = models.ForeignKey(
        "registry.Region", on_delete=models.PROTECT, related_name="+", verbose_name="受理统筹区"
    )
    institution = models.ForeignKey(
        "registry.Institution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="complaints",
        verbose_name="被投诉机构",
    )
    category = models.CharField("类别", max_length=20, choices=ComplaintCategory.choices)
    text = models.TextField("投诉举报内容")
    # Anonymous allowed, but a way to answer is required (phone or e-mail); masked on screen.
    contact_name = models.CharField("联系人", max_length=50, blank=True)
    contact_phone = models.CharField("联系电话", max_length=20, blank=True)
    contact_email = models.CharField("电子邮箱", max_length=120, blank=True)
    status = models.CharField(
        "状态", max_length=12, choices=ComplaintStatus.choices, default=ComplaintStatus.RECEIVED
    )
    due_on = models.DateField("答复期限")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="承办人",
    )
    public_reply = models.TextField("答复内容", blank=True)
    result = models.CharField(
        "办理结果", max_length=20, choices=ComplaintResult.choices, blank=True
    )
    result_note = models.TextField("办结说明（内部）", blank=True)
    submitted_at = models.DateTimeField("登记时间", default=timezone.now)
    replied_at = models.DateTimeField("答复时间", null=True, blank=True)
    closed_at = models.DateTimeField("办结时间", null=True, blank=True)

    class Meta:
        verbose_name = "投诉举报"
        verbose_name_plural = "投诉举报"
        ordering = ["due_on", "id"]
        indexes = [models.Index(fields=["status", "due_on"])]

    def __str__(self) -> str:
        return self.tracking_no

    @property
    def is_open(self) -> bool:
        return self.status != ComplaintStatus.CLOSED

    @property
    def masked_contact(self) -> str:
        parts = [mask_phone(self.contact_phone), mask_email(self.contact_email)]
        return "，".join(p for p in parts if p)

    @property
    def is_overdue(self) -> bool:
        """Not answered by its due date (a reply or closing stops the clock)."""
        waiting = self.status in (ComplaintStatus.RECEIVED, ComplaintStatus.ACCEPTED)
        return waiting and self.due_on < timezone.localdate()


class ComplaintAttachment(models.Model):
    """The complainant's one file (PDF, JPEG, PNG checked by ``core.uploads``), kept apart from
    the complaint so that its audit snapshots stay small."""

    complaint = models.OneToOneField(Complaint, on_delete=models.CASCADE, related_name="attachment")
    content = models.BinaryField("内容")
    content_type = models.CharField("类型", max_length=40)
    extension = models.CharField("扩展名", max_length=10)

    class Meta:
        verbose_name = "投诉举报附件"
        verbose_name_plural = "投诉举报附件"

    def __str__(self) -> str:
        return f"{self.complaint_id}.{self.extension}"


class ComplaintSerial(models.Model):
    """The last serial given on a day: tracking numbers are TS + date + 4-digit serial."""

    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "投诉举报编号"
        verbose_name_plural = "投诉举报编号"

    def __str__(self) -> str:
        return f"{self.day:%Y%m%d}:{self.last}"


class ComplaintTransition(StatusHistory):
    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = "投诉举报状态变更"
        verbose_name_plural = "投诉举报状态变更"


def _stamp(complaint: Complaint, to_status: str) -> dict:
    if to_status == ComplaintStatus.REPLIED:
        return {"replied_at": timezone.now()}
    if to_status == ComplaintStatus.CLOSED:
        return {"closed_at": timezone.now()}
    return {}


COMPLAINT_MACHINE = StateMachine(
    ComplaintStatus,
    {
        ComplaintStatus.RECEIVED: {ComplaintStatus.ACCEPTED, ComplaintStatus.CLOSED},
        ComplaintStatus.ACCEPTED: {ComplaintStatus.REPLIED, ComplaintStatus.CLOSED},
        ComplaintStatus.REPLIED: {ComplaintStatus.CLOSED},
    },
    error_code=codes.TRANSITION,
    model=Complaint,
    history=ComplaintTransition,
    history_fk="complaint",
    audit_action="complaints.complaint_{to}",
    role=lambda actor: Role.ADMIN if actor.is_superuser else Role.AGENCY_OFFICER,
    summary=lambda complaint, from_status, to_status: {
        "tracking_no": complaint.tracking_no,
        "from": from_status,
        "to": to_status,
    },
    stamp=_stamp,
)
