"""JSON API of settlement at the counter (mounted at /api/v1/settlement): pre-settle, settle with
an ``Idempotency-Key``, reverse, and read a settlement. Services check roles and scope."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from ninja import Field, File, Form, Header, Router, Schema, UploadedFile
from ninja.responses import Status

from dualchannel.core.auth import api_auth
from dualchannel.core.errors import DomainError
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.eligibility.materials import MAX_UPLOAD_BYTES

from . import claims, selectors, services
from .engine import Breakdown
from .models import Settlement
from .payable import REASON_LABELS
from .receipt import render_receipt

router = Router(tags=["settlement"], auth=api_auth)
KEY_HEADER = Header(None, alias="Idempotency-Key", description="幂等键：重发同一请求时保持不变")
AMOUNTS = (
    "total",
    "full_self_pay",
    "over_standard",
    "payable_base",
    "first_self_pay",
    "in_policy",
    "deductible",
    "co_pay",
    "over_ceiling",
    "fund",
    "critical_illness",
    "assistance",
    "commercial",
    "personal",
)


class AmountsOut(Schema):
    total: Decimal = Field(..., description="医疗费总额")
    full_self_pay: Decimal = Field(..., description="全自费（不予支付情形）")
    over_standard: Decimal = Field(..., description="超出支付标准部分")
    payable_base: Decimal
    first_self_pay: Decimal = Field(..., description="乙类先行自付")
    in_policy: Decimal = Field(..., description="政策范围内金额")
    deductible: Decimal = Field(..., description="起付线")
    co_pay: Decimal = Field(..., description="统筹段个人自付")
    over_ceiling: Decimal = Field(..., description="超年度限额")
    fund: Decimal = Field(..., description="统筹基金支付")
    critical_illness: Decimal = Field(..., description="大病保险")
    assistance: Decimal = Field(..., description="医疗救助")
    commercial: Decimal = Field(..., description="城市定制型商业医疗保险")
    personal: Decimal = Field(..., description="个人支付")


class LineOut(Schema):
    drug_name: str
    quantity: int
    unit_price: Decimal
    amount: Decimal
    full_self_pay: Decimal
    self_pay_reason: str
    self_pay_reason_label: str
    over_standard: Decimal
    first_self_pay: Decimal
    in_policy: Decimal


class PreviewOut(AmountsOut):
    med_type: str
    category: str
    lines: list[LineOut]


class SettlementOut(AmountsOut):
    id: int
    settlement_no: str
    status: str
    status_label: str
    kind: str
    institution_name: str
    person_name: str
    person_id_number: str
    med_type: str
    category: str
    budget_line: str
    settled_on: date
    settled_at: datetime
    upload_status: str
    setl_id: str
    lines: list[LineOut]


class ReverseIn(Schema):
    reason: str = Field(..., max_length=200)
    return_goods: bool = Field(True, description="患者退药：药品与追溯码退回库存")


def _label(code: str) -> str:
    return REASON_LABELS.get(code, "")


def _preview_payload(priced: services.Priced, names: dict[int, str]) -> dict:
    b: Breakdown = priced.breakdown
    return {
        **{name: getattr(b, name) for name in AMOUNTS},
        "med_type": priced.rule.med_type,
        "category": priced.category,
        "lines": [
            {
                "drug_name": names.get(line.drug_id, ""),
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount": result.amount,
                "full_self_pay": result.full_self_pay,
                "self_pay_reason": result.self_pay_reason,
                "self_pay_reason_label": _label(result.self_pay_reason),
                "over_standard": result.over_standard,
                "first_self_pay": result.first_self_pay,
                "in_policy": result.in_policy,
            }
            for line, result in zip(priced.lines, b.lines, strict=True)
        ],
    }


def settlement_payload(settlement: Settlement) -> dict:
    person = settlement.person
    return {
        **{name: getattr(settlement, name) for name in AMOUNTS},
        "id": settlement.pk,
        "settlement_no": settlement.settlement_no,
        "status": settlement.status,
        "status_label": settlement.get_status_display(),
        "kind": settlement.kind,
        "institution_name": settlement.institution.name,
        "person_name": mask_name(person.name),
        "person_id_number": mask_id_number(person.id_number),
        "med_type": settlement.med_type,
        "category": settlement.category,
        "budget_line": settlement.budget_line,
        "settled_on": settlement.settled_on,
        "settled_at": settlement.settled_at,
        "upload_status": settlement.upload_status,
        "setl_id": settlement.setl_id,
        "lines": [
            {
                "drug_name": line.drug.generic_name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount": line.amount,
                "full_self_pay": line.full_self_pay,
                "self_pay_reason": line.self_pay_reason,
                "self_pay_reason_label": _label(line.self_pay_reason),
                "over_standard": line.over_standard,
                "first_self_pay": line.first_self_pay,
                "in_policy": line.in_policy,
            }
            for line in settlement.lines.all()
        ],
    }


@router.post(
    "/prescriptions/{int:prescription_id}/preview",
    response=PreviewOut,
    summary="预结算（2101）：按当前累计计算各方支付，不写入",
)
def settlement_preview(request: HttpRequest, prescription_id: int):
    priced = services.settlement_preview(actor=request.auth, prescription_id=prescription_id)
    names = {line.drug_id: line.drug.generic_name for line in priced.dispensing.lines.all()}
    return _preview_payload(priced, names)


@router.post(
    "/prescriptions/{int:prescription_id}/settle",
    response={200: SettlementOut, 201: SettlementOut},
    summary="结算（2102，须带 Idempotency-Key；同键同请求返回同一结算）",
)
def settlement_settle(request: HttpRequest, prescription_id: int, idempotency_key=KEY_HEADER):
    actor = request.auth
    key = (idempotency_key or "").strip()
    seen = Settlement.objects.filter(
        institution_id=actor.institution_id, idempotency_key=key
    ).exists()
    settlement = services.settlement_settle(
        actor=actor, prescription_id=prescription_id, idempotency_key=key
    )
    found = selectors.settlement_get(actor, settlement.pk)
    return Status(200 if seen else 201, settlement_payload(found))


@router.post(
    "/settlements/{int:settlement_id}/reverse",
    response=SettlementOut,
    summary="冲销结算（2103，须带 Idempotency-Key）：累计回退，退药时药品退回库存",
)
def settlement_reverse(
    request: HttpRequest, settlement_id: int, payload: ReverseIn, idempotency_key=KEY_HEADER
):
    settlement = services.settlement_reverse(
        actor=request.auth,
        settlement_id=settlement_id,
        reason=payload.reason,
        return_goods=payload.return_goods,
        idempotency_key=(idempotency_key or "").strip(),
    )
    return settlement_payload(selectors.settlement_get(request.auth, settlement.pk))


@router.get("/settlements/{int:settlement_id}", response=SettlementOut, summary="结算详情")
def settlement_detail(request: HttpRequest, settlement_id: int):
    return settlement_payload(selectors.settlement_get(request.auth, settlement_id))


@router.get(
    "/settlements/{int:settlement_id}/receipt",
    summary="结算单（PDF）：明细与各方支付，身份证号脱敏",
)
def settlement_receipt(request: HttpRequest, settlement_id: int):
    settlement = selectors.settlement_get(request.auth, settlement_id)
    response = HttpResponse(render_receipt(settlement), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{settlement.settlement_no}.pdf"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- manual claims [HB art. 37] -----------------------------------------------------------------


class ClaimOut(Schema):
    id: int
    claim_no: str
    status: str
    status_label: str
    reason: str
    category: str
    purchased_on: date
    institution_name: str
    person_name: str
    person_id_number: str
    receipts: list[dict]
    decision_note: str
    settlement: SettlementOut | None


class DecideIn(Schema):
    approve: bool
    note: str = Field("", max_length=500)


def claim_payload(claim) -> dict:
    person = claim.person
    return {
        "id": claim.pk,
        "claim_no": claim.claim_no,
        "status": claim.status,
        "status_label": claim.get_status_display(),
        "reason": claim.reason,
        "category": claim.category,
        "purchased_on": claim.purchased_on,
        "institution_name": claim.institution.name,
        "person_name": mask_name(person.name),
        "person_id_number": mask_id_number(person.id_number),
        "receipts": [
            {"name": r.get("name", ""), "sha256": r.get("sha256", ""), "size": r.get("size", 0)}
            for r in claim.receipts
        ],
        "decision_note": claim.decision_note,
        "settlement": settlement_payload(claim.settlement) if claim.settlement_id else None,
    }


def _json_lines(raw: str) -> list:
    try:
        value = json.loads(raw or "[]")
    except ValueError as exc:
        raise DomainError(
            "settlement.claim_invalid_lines", "明细应为 JSON 数组", fields={"lines": ["格式错误"]}
        ) from exc
    return value


@router.post("/claims", response={201: ClaimOut}, summary="手工（零星）报销：录入并上传票据")
def claim_submit(
    request: HttpRequest,
    person_id_number: Form[str],
    institution_id: Form[int],
    reason: Form[str],
    category: Form[str],
    purchased_on: Form[str],
    lines: Form[str],
    prescription_id: Form[int | None] = None,
    receipts: list[UploadedFile] = File(...),  # noqa: B008
):
    claim = claims.claim_submit(
        actor=request.auth,
        person_id_number=person_id_number,
        institution_id=institution_id,
        prescription_id=prescription_id,
        reason=reason,
        category=category,
        purchased_on=purchased_on,
        lines=_json_lines(lines),
        receipts=[(f.name, f.read(MAX_UPLOAD_BYTES + 1)) for f in receipts],
    )
    return Status(201, claim_payload(selectors.claim_get(request.auth, claim.pk)))


@router.post(
    "/claims/{int:claim_id}/decide",
    response=ClaimOut,
    summary="审核手工报销：核准即按同一待遇规则结算；不予报销须说明原因",
)
def claim_decide(request: HttpRequest, claim_id: int, payload: DecideIn):
    claim = claims.claim_decide(
        actor=request.auth, claim_id=claim_id, approve=payload.approve, note=payload.note
    )
    return claim_payload(selectors.claim_get(request.auth, claim.pk))


@router.get("/claims/{int:claim_id}", response=ClaimOut, summary="手工报销详情")
def claim_detail(request: HttpRequest, claim_id: int):
    return claim_payload(selectors.claim_get(request.auth, claim_id))
