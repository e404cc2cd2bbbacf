"""The agency officer's home: what waits for the officer today, with counts, oldest first
(issue 12, point 1) — designations to decide, batches to review, manual claims to decide,
monitoring alerts open, recovery orders pending, confidential standards not yet entered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Min, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dualchannel.catalog.selectors import confidential_amount_missing
from dualchannel.complaints.selectors import waiting_complaints
from dualchannel.core.calendar import calendar_notice
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.monitoring.models import AlertState
from dualchannel.monitoring.selectors import visible_alerts
from dualchannel.registry.models import DesignationStatus
from dualchannel.registry.selectors import officer_region, visible_designations

from . import selectors
from .models import BatchStatus, ClaimStatus, RecoveryStatus

# Rounds the agency still has to move (an active or suspended one waits for nobody).
UNDECIDED = (
    DesignationStatus.APPLIED,
    DesignationStatus.EVALUATED,
    DesignationStatus.PUBLICISED,
    DesignationStatus.AGREEMENT_SIGNED,
)


@dataclass(frozen=True)
class QueueRow:
    key: str
    label: str
    hint: str
    count: int
    oldest: date | None
    url: str

    @property
    def waiting_days(self) -> int | None:
        if self.oldest is None:
            return None
        return (timezone.localdate() - self.oldest).days


def _oldest(qs: QuerySet, field: str) -> date | None:
    value = qs.aggregate(oldest=Min(field))["oldest"]
    if isinstance(value, datetime):
        return timezone.localtime(value).date()
    return value


def _row(key, label, hint, qs, field, url) -> QueueRow:
    count = qs.count()
    return QueueRow(key, label, hint, count, _oldest(qs, field) if count else None, url)


def _designation_rows(actor) -> list[QueueRow]:
    undecided = visible_designations(actor).filter(status__in=UNDECIDED)
    return [
        _row(
            "institutions",
            "定点机构待办",
            "双通道定点申请的评估、公示、签订补充协议",
            undecided.filter(institution__isnull=False),
            "applied_on",
            reverse("agency-institutions") + "?status=applied",
        ),
        _row(
            "physicians",
            "责任医师待纳入",
            "医院备案的责任医师，待经办机构纳入或不予通过",
            undecided.filter(physician__isnull=False),
            "applied_on",
            reverse("agency-physicians"),
        ),
    ]


def _money_rows(actor) -> list[QueueRow]:
    claims = selectors.visible_claims(actor).filter(status=ClaimStatus.SUBMITTED)
    return [
        _row(
            "batches",
            "月度结算申报待审核",
            "定点机构提交的月度申报，逐笔核对后通过或退回",
            selectors.visible_batches(actor).filter(status=BatchStatus.APPLIED),
            "applied_at",
            reverse("agency-settlement") + "#batches",
        ),
        _row(
            "claims",
            "手工报销待审核",
            "须由录入人以外的经办人员审核",
            claims.exclude(submitted_by=actor),
            "submitted_at",
            reverse("agency-claims"),
        ),
        _row(
            "recoveries",
            "基金追回待扣回",
            "已生成的追回单，从机构下一次月度结算中扣回",
            selectors.visible_recoveries(actor).filter(status=RecoveryStatus.PENDING),
            "raised_at",
            reverse("agency-recoveries") + "?status=pending",
        ),
    ]


def _catalogue_row(actor) -> QueueRow:
    missing = confidential_amount_missing()
    region = officer_region(actor)
    if region is not None:  # the drugs the region's institutions equip
        missing = missing.filter(
            equipped_at__institution__region__code__startswith=region.code_prefix
        ).distinct()
    return QueueRow(
        "standards",
        "保密支付标准未录入",
        "本统筹区机构配备的药品，未录入前无法按支付标准结算；请目录管理员录入",
        missing.count(),
        None,
        reverse("agency-catalog") + "?missing_standard=1",
    )


def _complaints_row(actor) -> QueueRow:
    """Complaints not yet answered [HB art. 26, CX art. 30]."""
    return _row(
        "complaints",
        "投诉举报待答复",
        "群众对双通道定点机构的投诉举报，须在答复期限（工作日）内答复",
        waiting_complaints(actor),
        "submitted_at",
        reverse("agency-complaints"),
    )


def officer_queue(actor) -> list[QueueRow]:
    alerts = visible_alerts(actor).filter(state=AlertState.OPEN)
    rows = [
        *_designation_rows(actor),
        *_money_rows(actor),
        _row(
            "alerts",
            "监控预警待核查",
            "智能监控规则触发的预警，核查后确认或排除",
            alerts,
            "created_at",
            reverse("agency-alerts"),
        ),
        _catalogue_row(actor),
        _complaints_row(actor),
    ]
    # what waits longest first; empty rows last
    return sorted(rows, key=lambda r: (r.count == 0, r.oldest or date.max))


@require_GET
@role_required(Role.AGENCY_OFFICER)
def agency_home(request: HttpRequest) -> HttpResponse:
    rows = officer_queue(request.user)
    today = timezone.localdate()
    return TemplateResponse(
        request,
        "settlement/agency_home.html",
        {
            "region": officer_region(request.user),
            "rows": rows,
            "total": sum(r.count for r in rows),
            "today": today,
            # a year whose holiday notice is not loaded: its deadlines are provisional
            "calendar_notice": calendar_notice(request.user, today),
        },
    )
