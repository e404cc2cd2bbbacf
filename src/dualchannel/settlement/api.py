"""JSON API of settlement at the counter (mounted at /api/v1/settlement): pre-settle, settle with
an ``Idempotency-Key``, reverse, and read a settlement. Services check roles and scope."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from ninja import Field, File, Form, Header, Query, Router, Schema, UploadedFile
from ninja.responses import Status

from dualchannel.core import refcache
from dualchannel.core.auth import api_auth, reference_versions
from dualchannel.core.errors import DomainError
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.eligibility.services.materials import MAX_UPLOAD_BYTES

from . import selectors, services
from .engine import Breakdown
from .models import Settlement
from .payable import REASON_LABELS
from .platform import platform_pre_settle
from .receipt import render_receipt, render_self_pay_receipt
from .services import batches, claim_decisions, claims, hospital, reconcile

router = Router(tags=["settlement"], auth=api_auth)
KEY_HEADER = Header(None, alias="Idempotency-Key", description="幂等键：重发同一请求时保持不变")
AMOUNTS = services.BREAKDOWN_FIELDS


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


class SettlementLineOut(Schema):
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


class PlatformCheckOut(Schema):
    checked: bool = Field(..., description="医保平台已应答预结算（2101/2206）")
    agrees: bool | None = Field(..., description="平台统筹基金支付与本地计算一致")
    message: str


class PreviewOut(AmountsOut):
    med_type: str
    category: str
    lines: list[SettlementLineOut]
    platform_check: PlatformCheckOut


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
    lines: list[SettlementLineOut]


ADMISSION_QUERY = Query(
    "", max_length=30, description="住院患者外购时填写住院号：按住院待遇结算，起付线按次计算"
)


class ReverseIn(Schema):
    reason: str = Field(..., max_length=200)
    return_goods: bool = Field(True, description="患者退药：药品与追溯码退回库存")


def _key_used(actor, key: str) -> bool:
    """The same key again answers 200 with the first settlement; a new settlement is 201."""
    return Settlement.objects.filter(
        institution_id=actor.institution_id, idempotency_key=key
    ).exists()


def _label(code: str) -> str:
    return REASON_LABELS.get(code, "")


def _preview_payload(priced: services.Priced, names: dict[int, str]) -> dict:
    b: Breakdown = priced.breakdown
    check = platform_pre_settle(priced)
    return {
        "platform_check": {
            "checked": check.checked,
            "agrees": check.agrees,
            "message": check.message,
        },
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
                "drug_name": line.drug.generic_name if line.drug else line.item_name,
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
def settlement_preview(
    request: HttpRequest, prescription_id: int, inpatient_admission_no: str = ADMISSION_QUERY
):
    priced = services.settlement_preview(
        actor=request.auth,
        prescription_id=prescription_id,
        inpatient_admission_no=inpatient_admission_no,
    )
    names = {line.drug_id: line.drug.generic_name for line in priced.dispensing.lines.all()}
    return _preview_payload(priced, names)


@router.post(
    "/prescriptions/{int:prescription_id}/settle",
    response={200: SettlementOut, 201: SettlementOut},
    summary="结算（2102，须带 Idempotency-Key；同键同请求返回同一结算）",
)
def settlement_settle(
    request: HttpRequest,
    prescription_id: int,
    inpatient_admission_no: str = ADMISSION_QUERY,
    idempotency_key=KEY_HEADER,
):
    actor = request.auth
    key = (idempotency_key or "").strip()
    # a pick-up order whose personal part was paid on the phone: settled without collecting
    with refcache.reading(reference_versions(request)):  # read with the token
        settlement = services.settlement_settle_at_counter(
            actor=actor,
            prescription_id=prescription_id,
            idempotency_key=key,
            inpatient_admission_no=inpatient_admission_no,
        )
    found = selectors.settlement_answer_of(settlement)  # the service checked the actor
    # the same key again answers 200 with the first settlement (``settlement_replay``)
    replayed = getattr(settlement, "replayed", False)
    return Status(200 if replayed else 201, settlement_payload(found))


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


@router.get(
    "/counter/{int:prescription_id}/self-pay-receipt",
    summary="异地未能直接结算的全额自费收据（PDF）：说明原因，凭此回参保地手工报销",
)
def self_pay_receipt(request: HttpRequest, prescription_id: int):
    """HB art. 41, AH §2(5), CX art. 17: the pharmacist prints it for a purchase out of area
    that may not settle with the fund here."""
    sale = services.self_pay_sale(actor=request.auth, prescription_id=prescription_id)
    response = HttpResponse(render_self_pay_receipt(sale), content_type="application/pdf")
    name = f"ZF{sale.dispensing.prescription.prescription_no}"
    response["Content-Disposition"] = f'inline; filename="{name}.pdf"'
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
        receipts=[(f.name, f.read(MAX_UPLOAD_BYTES + 1), f.content_type or "") for f in receipts],
    )
    return Status(201, claim_payload(selectors.claim_get(request.auth, claim.pk)))


@router.post(
    "/claims/{int:claim_id}/decide",
    response=ClaimOut,
    summary="审核手工报销：核准即按同一待遇规则结算；不予报销须说明原因",
)
def claim_decide(request: HttpRequest, claim_id: int, payload: DecideIn):
    claim = claim_decisions.claim_decide(
        actor=request.auth, claim_id=claim_id, approve=payload.approve, note=payload.note
    )
    return claim_payload(selectors.claim_get(request.auth, claim.pk))


@router.get("/claims/{int:claim_id}", response=ClaimOut, summary="手工报销详情")
def claim_detail(request: HttpRequest, claim_id: int):
    return claim_payload(selectors.claim_get(request.auth, claim_id))


# --- monthly batches [HB art. 33] and budget lines [AH §2(6), CX art. 18] -----------------------


class TotalsOut(Schema):
    count: int
    total: Decimal
    fund: Decimal
    critical_illness: Decimal
    assistance: Decimal
    commercial: Decimal
    personal: Decimal


class DeductionOut(Schema):
    order_id: int
    order_no: str
    status: str
    amount: Decimal


class SettlementBatchOut(Schema):
    id: int
    institution_id: int
    institution_name: str
    month: date
    budget_line: str
    status: str
    status_label: str
    totals: TotalsOut
    reconciled_at: datetime | None
    reconciliation_matched: bool | None
    mismatches: list[dict]
    review_note: str
    deductions: list[DeductionOut] = Field(..., description="本月扣回的基金追回单")
    recovery_deduction: Decimal = Field(..., description="扣回合计")
    net_funds: Decimal = Field(..., description="基金应付合计（各基金支付减扣回）")


class PrepareIn(Schema):
    institution_id: int
    month: date = Field(..., description="结算月份（任一日期，取其所在月份）")
    budget_line: str | None = None


class ApplyIn(Schema):
    acknowledge_mismatches: bool = False
    note: str = Field("", max_length=500)


class SettlementReviewIn(Schema):
    approve: bool
    note: str = Field("", max_length=500)


class InstitutionSpendOut(Schema):
    institution_id: int
    name: str
    kind: str
    totals: TotalsOut


class LineSpendOut(Schema):
    budget_line: str
    label: str
    institutions: list[InstitutionSpendOut]
    totals: TotalsOut


class BudgetOut(Schema):
    region_code: str
    month: date
    lines: list[LineSpendOut]
    totals: TotalsOut


def _totals(source) -> dict:
    return {
        "count": getattr(source, "count", getattr(source, "settlement_count", 0)),
        **{
            name: getattr(source, name)
            for name in ("total", "fund", "critical_illness", "assistance", "commercial")
        },
        "personal": source.personal,
    }


def batch_payload(batch) -> dict:
    orders = selectors.batch_deductions(batch)
    deduction = sum((o.amount for o in orders), Decimal("0.00"))
    funds = batch.fund + batch.critical_illness + batch.assistance + batch.commercial
    return {
        "deductions": [
            {"order_id": o.pk, "order_no": o.order_no, "status": o.status, "amount": o.amount}
            for o in orders
        ],
        "recovery_deduction": deduction,
        "net_funds": funds - deduction,
        "id": batch.pk,
        "institution_id": batch.institution_id,
        "institution_name": batch.institution.name,
        "month": batch.month,
        "budget_line": batch.budget_line,
        "status": batch.status,
        "status_label": batch.get_status_display(),
        "totals": _totals(batch),
        "reconciled_at": batch.reconciled_at,
        "reconciliation_matched": batch.reconciliation_matched,
        "mismatches": batch.mismatches,
        "review_note": batch.review_note,
    }


def _batch_answer(request: HttpRequest, batch) -> dict:
    return batch_payload(selectors.batch_get(request.auth, batch.pk))


@router.post("/batches", response=SettlementBatchOut, summary="生成或重算本机构某月的结算申报")
def batch_prepare(request: HttpRequest, payload: PrepareIn):
    batch = batches.batch_prepare(
        actor=request.auth,
        institution_id=payload.institution_id,
        month=payload.month,
        budget_line=payload.budget_line,
    )
    return _batch_answer(request, batch)


@router.get("/batches/{int:batch_id}", response=SettlementBatchOut, summary="月度结算申报详情")
def batch_detail(request: HttpRequest, batch_id: int):
    return batch_payload(selectors.batch_get(request.auth, batch_id))


@router.post(
    "/batches/{int:batch_id}/reconcile",
    response=SettlementBatchOut,
    summary="对账：3201 总额对账，不一致时 3202 明细对账并列出差异",
)
def batch_reconcile(request: HttpRequest, batch_id: int):
    return _batch_answer(request, reconcile.batch_reconcile(actor=request.auth, batch_id=batch_id))


@router.post("/batches/{int:batch_id}/apply", response=SettlementBatchOut, summary="向经办机构申报")
def batch_apply(request: HttpRequest, batch_id: int, payload: ApplyIn):
    batch = batches.batch_apply(
        actor=request.auth,
        batch_id=batch_id,
        acknowledge_mismatches=payload.acknowledge_mismatches,
        note=payload.note,
    )
    return _batch_answer(request, batch)


@router.post(
    "/batches/{int:batch_id}/review", response=SettlementBatchOut, summary="经办机构审核申报"
)
def batch_review(request: HttpRequest, batch_id: int, payload: SettlementReviewIn):
    batch = batches.batch_review(
        actor=request.auth, batch_id=batch_id, approve=payload.approve, note=payload.note
    )
    return _batch_answer(request, batch)


@router.get("/budget", response=BudgetOut, summary="双通道基金支出按预算口径（药店单列／医院总额）")
def budget(request: HttpRequest, region_code: str, month: date):
    report = batches.budget_report(actor=request.auth, region_code=region_code, month=month)
    return {
        "region_code": report.region_code,
        "month": report.month,
        "totals": _totals(report.totals),
        "lines": [
            {
                "budget_line": line.budget_line,
                "label": line.label,
                "totals": _totals(line.totals),
                "institutions": [
                    {
                        "institution_id": i.institution_id,
                        "name": i.name,
                        "kind": i.kind,
                        "totals": _totals(i.totals),
                    }
                    for i in line.institutions
                ],
            }
            for line in report.lines
        ],
    }


# --- hospital outpatient special drugs (2206/2207) ---------------------------------------------


class HospitalLineIn(Schema):
    item_id: int
    packages: int
    unit_price: str = Field(..., description="单价（元/包装），最多两位小数")
    batch_no: str = Field("", max_length=50)


class HospitalIn(Schema):
    lines: list[HospitalLineIn]


def _hospital_lines(payload: HospitalIn) -> list[dict]:
    return [line.model_dump() for line in payload.lines]


@router.post(
    "/hospital/prescriptions/{int:prescription_id}/preview",
    response=PreviewOut,
    summary="医院特药门诊预结算（2206）：不写入",
)
def hospital_preview(request: HttpRequest, prescription_id: int, payload: HospitalIn):
    priced = hospital.hospital_preview(
        actor=request.auth, prescription_id=prescription_id, lines=_hospital_lines(payload)
    )
    drugs = {i.drug_id: i.drug.generic_name for i in priced.prescription.items.all()}
    return _preview_payload(priced, drugs)


@router.post(
    "/hospital/prescriptions/{int:prescription_id}/settle",
    response={200: SettlementOut, 201: SettlementOut},
    summary="医院特药门诊发药并结算（2207，须带 Idempotency-Key）",
)
def hospital_settle(
    request: HttpRequest, prescription_id: int, payload: HospitalIn, idempotency_key=KEY_HEADER
):
    actor = request.auth
    key = (idempotency_key or "").strip()
    seen = _key_used(actor, key)
    settlement = hospital.hospital_settle(
        actor=actor,
        prescription_id=prescription_id,
        lines=_hospital_lines(payload),
        idempotency_key=key,
    )
    return Status(
        200 if seen else 201, settlement_payload(selectors.settlement_get(actor, settlement.pk))
    )
