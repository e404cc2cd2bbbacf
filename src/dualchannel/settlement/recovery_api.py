"""JSON API of violations and recovery orders (mounted at /api/v1/settlement beside ``api.py``)
[HB art. 21–22, 31(6); CX art. 13]: an officer records a finding against settlements of the
region (which raises the recovery orders), lists, reads and cancels orders; the institution's
own staff list and read theirs. Services and selectors check roles and scope."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from dualchannel.core.auth import api_auth

from . import selectors
from .models import RecoveryOrder
from .payable import REASON_LABELS
from .services import recovery

router = Router(tags=["settlement"], auth=api_auth)
LIST_LIMIT = 200


class FindingIn(Schema):
    kind: str = Field(
        ..., description="违规情形：over_treatment / fake_treatment / identity_mismatch"
    )
    reason: str = Field(..., max_length=500, description="认定理由")
    evidence: str = Field("", max_length=2000, description="证据说明")
    settlement_ids: list[int] = Field(..., description="涉及的结算")


class CancelIn(Schema):
    reason: str = Field(..., max_length=500, description="撤销原因")


class RecoveryItemOut(Schema):
    settlement_id: int
    settlement_no: str
    settled_on: str
    paid_out: bool = Field(..., description="发起时已拨付（追回）；否则为拒付")
    fund: Decimal
    critical_illness: Decimal
    assistance: Decimal
    commercial: Decimal
    amount: Decimal
    reasons: list[str] = Field(..., description="重算后各明细的不予支付原因")


class RecoveryOut(Schema):
    id: int
    order_no: str
    institution_id: int
    institution_name: str
    basis: str
    basis_label: str
    finding_no: str
    reason: str
    status: str
    status_label: str
    fund: Decimal
    critical_illness: Decimal
    assistance: Decimal
    commercial: Decimal
    amount: Decimal
    batch_id: int | None
    raised_at: datetime
    cancel_reason: str


class RecoveryDetailOut(RecoveryOut):
    evidence: str
    items: list[RecoveryItemOut]


class FindingOut(Schema):
    finding_no: str
    kind: str
    orders: list[RecoveryOut]


def recovery_payload(order: RecoveryOrder) -> dict:
    return {
        "id": order.pk,
        "order_no": order.order_no,
        "institution_id": order.institution_id,
        "institution_name": order.institution.name,
        "basis": order.basis,
        "basis_label": order.get_basis_display(),
        "finding_no": order.finding.finding_no if order.finding_id else "",
        "reason": order.reason,
        "status": order.status,
        "status_label": order.get_status_display(),
        "fund": order.fund,
        "critical_illness": order.critical_illness,
        "assistance": order.assistance,
        "commercial": order.commercial,
        "amount": order.amount,
        "batch_id": order.batch_id,
        "raised_at": order.raised_at,
        "cancel_reason": order.cancel_reason,
    }


def _item(item) -> dict:
    reasons = sorted({line["reason"] for line in item.rerun.get("lines", [])})
    return {
        "settlement_id": item.settlement_id,
        "settlement_no": item.settlement.settlement_no,
        "settled_on": item.settlement.settled_on.isoformat(),
        "paid_out": item.paid_out,
        "fund": item.fund,
        "critical_illness": item.critical_illness,
        "assistance": item.assistance,
        "commercial": item.commercial,
        "amount": item.amount,
        "reasons": [REASON_LABELS.get(r, r) for r in reasons],
    }


def _detail(request: HttpRequest, order_id: int) -> dict:
    order = selectors.recovery_get(request.auth, order_id)
    return {
        **recovery_payload(order),
        "evidence": order.evidence,
        "items": [_item(i) for i in order.items.all()],
    }


@router.post(
    "/findings",
    response={201: FindingOut},
    summary="违规认定（过度诊疗、虚假诊疗、人证不符）并生成基金追回单",
)
def finding_record(request: HttpRequest, payload: FindingIn):
    finding, orders = recovery.violation_record(
        actor=request.auth,
        kind=payload.kind,
        reason=payload.reason,
        evidence=payload.evidence,
        settlement_ids=payload.settlement_ids,
    )
    visible = selectors.visible_recoveries(request.auth)
    return Status(
        201,
        {
            "finding_no": finding.finding_no,
            "kind": finding.kind,
            "orders": [recovery_payload(o) for o in visible.filter(pk__in=[o.pk for o in orders])],
        },
    )


@router.get(
    "/recoveries",
    response=list[RecoveryOut],
    summary="基金追回单（经办机构：本区域；定点机构：本机构）",
)
def recovery_list(request: HttpRequest, status: str | None = None):
    qs = selectors.visible_recoveries(request.auth)
    if status:
        qs = qs.filter(status=status)
    return [recovery_payload(o) for o in qs.order_by("-raised_at", "-id")[:LIST_LIMIT]]


@router.get("/recoveries/{int:recovery_id}", response=RecoveryDetailOut, summary="基金追回单详情")
def recovery_detail(request: HttpRequest, recovery_id: int):
    return _detail(request, recovery_id)


@router.post(
    "/recoveries/{int:recovery_id}/cancel",
    response=RecoveryDetailOut,
    summary="撤销待扣回的基金追回单（须填写原因）",
)
def recovery_cancel(request: HttpRequest, recovery_id: int, payload: CancelIn):
    recovery.recovery_cancel(actor=request.auth, order_id=recovery_id, reason=payload.reason)
    return _detail(request, recovery_id)
