"""Inpatient stays at the settlement API [AH §2(5), CX art. 19]: the hospital insurance office
settles the stay's bill (with the pharmacy's purchases billed to it), and a pharmacy bills an
inpatient's purchase to the stay where the profile says so. Mounted at /api/v1/settlement."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from dualchannel.core.auth import api_auth

from . import selectors
from .api import KEY_HEADER, AmountsOut, SettlementLineOut, SettlementOut, settlement_payload
from .engine import Breakdown
from .models import Settlement, StayCharge
from .payable import REASON_LABELS
from .services import counter, hospital_stay

router = Router(tags=["settlement"], auth=api_auth)


class StayBillLineIn(Schema):
    name: str = Field(..., max_length=100, description="项目名称（床位费、检查费、药品…）")
    amount: str = Field(..., description="金额（元），最多两位小数")
    category: str = Field(..., description="甲、乙或自费")


class StayBillIn(Schema):
    lines: list[StayBillLineIn]


class StayPreviewOut(AmountsOut):
    med_type: str
    category: str
    lines: list[SettlementLineOut]


def _bill(payload: StayBillIn) -> list[dict]:
    return [line.model_dump() for line in payload.lines]


def stay_preview_payload(priced) -> dict:
    b: Breakdown = priced.breakdown
    fields = AmountsOut.model_fields
    return {
        **{name: getattr(b, name) for name in fields},
        "med_type": priced.rule.med_type,
        "category": priced.category,
        "lines": [
            {
                "drug_name": line.item_name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount": result.amount,
                "full_self_pay": result.full_self_pay,
                "self_pay_reason": result.self_pay_reason,
                "self_pay_reason_label": REASON_LABELS.get(result.self_pay_reason, ""),
                "over_standard": result.over_standard,
                "first_self_pay": result.first_self_pay,
                "in_policy": result.in_policy,
            }
            for line, result in zip(priced.lines, b.lines, strict=True)
        ],
    }


@router.post(
    "/stays/{int:stay_id}/preview",
    response=StayPreviewOut,
    summary="住院费用预结算：本院住院账单与计入住院费用的院外购药，不写入",
)
def stay_preview(request: HttpRequest, stay_id: int, payload: StayBillIn):
    priced = hospital_stay.stay_bill_preview(
        actor=request.auth, stay_id=stay_id, lines=_bill(payload)
    )
    return stay_preview_payload(priced)


@router.post(
    "/stays/{int:stay_id}/settle",
    response={200: SettlementOut, 201: SettlementOut},
    summary="住院费用结算（起付线按住院次计算一次；须带 Idempotency-Key）",
)
def stay_settle(
    request: HttpRequest, stay_id: int, payload: StayBillIn, idempotency_key=KEY_HEADER
):
    actor = request.auth
    key = (idempotency_key or "").strip()
    seen = Settlement.objects.filter(
        institution_id=actor.institution_id, idempotency_key=key
    ).exists()
    settlement = hospital_stay.stay_bill_settle(
        actor=actor, stay_id=stay_id, lines=_bill(payload), idempotency_key=key
    )
    found = selectors.settlement_get(actor, settlement.pk)
    return Status(200 if seen else 201, settlement_payload(found))


class StayChargeIn(Schema):
    inpatient_admission_no: str = Field(..., max_length=30)


class StayChargeOut(Schema):
    id: int
    stay_id: int
    admission_no: str
    total: Decimal
    status: str
    status_label: str
    recorded_at: datetime


def stay_charge_payload(charge: StayCharge) -> dict:
    return {
        "id": charge.pk,
        "stay_id": charge.stay_id,
        "admission_no": charge.stay.admission_no,
        "total": charge.total,
        "status": charge.status,
        "status_label": charge.get_status_display(),
        "recorded_at": charge.recorded_at,
    }


@router.post(
    "/prescriptions/{int:prescription_id}/stay-charge",
    response={201: StayChargeOut},
    summary="住院患者院外购药计入住院费用（不在药店结算；须带 Idempotency-Key）",
)
def stay_charge(
    request: HttpRequest, prescription_id: int, payload: StayChargeIn, idempotency_key=KEY_HEADER
):
    charge = counter.stay_charge_record(
        actor=request.auth,
        prescription_id=prescription_id,
        inpatient_admission_no=payload.inpatient_admission_no,
        idempotency_key=(idempotency_key or "").strip(),
    )
    return Status(201, stay_charge_payload(charge))
