"""JSON API of the pharmacy counter and of delivery (mounted beside ``api.py`` at
/api/v1/prescriptions): open a prescription by number or QR code, check, dispense with an
``Idempotency-Key``, and move the delivery. Services check roles and scope."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Header, Router, Schema
from ninja.responses import Status

from dualchannel.core import refcache
from dualchannel.core.auth import api_auth, reference_versions
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.inventory.selectors import fefo_suggestion

from . import error_codes as codes
from . import selectors
from .api import (
    DeliveryOut,
    DispensingOut,
    PlanOut,
    PrescriptionOut,
    delivery_payload,
    dispensing_payload,
    plan_payload,
    prescription_payload,
)
from .services import counter, counter_checks
from .services import delivery as deliveries

router = Router(tags=["prescriptions"], auth=api_auth)

# base64 of the largest signature the counter accepts, plus a data: URL prefix
MAX_SIGNATURE_CHARS = (counter_checks.MAX_SIGNATURE_BYTES + 2) // 3 * 4 + 64


class OpenIn(Schema):
    reference: str = Field(..., max_length=500, description="处方编号，或扫描处方二维码所得的网址")
    patient_id_number: str = Field(
        "", max_length=18, description="参保人身份证号：按编号调取尚未流转至本店的处方时必填"
    )


class IdentityIn(Schema):
    certificate_type: str = Field(..., description="01 医保电子凭证，02 居民身份证，03 社会保障卡")
    certificate_no: str
    card_sn: str = ""
    agent_name: str = ""
    agent_id_number: str = ""
    agent_phone: str = ""
    agent_relation: str = Field(
        "",
        description="代办人与参保人关系（登记代办人时必填）：spouse 配偶，parent 父母，child 子女，"
        "relative 其他近亲属（兄弟姐妹、祖父母、外祖父母、孙子女、外孙子女），"
        "entrusted 其他（受委托人）",
    )
    agent_signature: str = Field(
        "", max_length=MAX_SIGNATURE_CHARS, description="代办人签字：PNG 图片的 base64"
    )


class LineIn(Schema):
    item_id: int
    stock_item_id: int
    packages: int
    trace_codes: list[str] = []


class DeliveryIn(Schema):
    mode: str = "pickup"
    address: str = ""
    recipient_name: str = ""
    recipient_phone: str = ""


class CheckIn(Schema):
    identity: IdentityIn
    lines: list[LineIn] | None = None


class DispenseIn(Schema):
    identity: IdentityIn
    lines: list[LineIn]
    delivery: DeliveryIn = Field(default_factory=DeliveryIn)


class DeliveryAdvanceIn(Schema):
    to_status: str
    handed_over_by: str = ""
    received_by: str = ""


class CounterFefoPickOut(Schema):
    stock_item_id: int
    batch_no: str
    expiry_date: date
    in_stock: int
    quantity: int


class CounterItemOut(Schema):
    item_id: int
    drug_id: int
    drug_name: str
    specification: str
    quantity: Decimal
    unit: str
    packages: int
    package_unit: str
    usage: str
    days: int
    available: int
    shortfall: int
    fefo: list[CounterFefoPickOut]


class CounterOpenOut(Schema):
    prescription: PrescriptionOut
    routed_here: bool
    items: list[CounterItemOut]
    plan: PlanOut | None


class CounterCheckOut(Schema):
    code: str
    ok: bool
    label: str
    message: str
    warning: bool


class CheckResultOut(Schema):
    ok: bool
    checks: list[CounterCheckOut]


def _identity(data: IdentityIn) -> counter.Identity:
    signature = None
    text = data.agent_signature.strip()
    if text:
        if text.startswith("data:"):
            text = text.partition(",")[2]
        try:
            signature = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise DomainError(
                codes.AGENT_SIGNATURE_REQUIRED,
                "代办人签字应为 PNG 图片（base64 编码）",
                fields={"identity.agent_signature": ["不是有效的 base64"]},
            ) from None
    return counter.Identity(
        certificate_type=data.certificate_type,
        certificate_no=data.certificate_no,
        card_sn=data.card_sn,
        agent_name=data.agent_name,
        agent_id_number=data.agent_id_number,
        agent_phone=data.agent_phone,
        agent_signature=signature,
        agent_relation=data.agent_relation,
    )


def _lines(lines: list[LineIn] | None) -> list[dict] | None:
    return None if lines is None else [line.model_dump() for line in lines]


# --- the pharmacy counter ----------------------------------------------------------------------


@router.post("/counter/open", response=CounterOpenOut, summary="药师按处方编号或扫码调取处方")
def counter_open(request: HttpRequest, payload: OpenIn):
    actor = request.auth
    prescription = counter.counter_open(
        actor=actor, reference=payload.reference, patient_id_number=payload.patient_id_number
    )
    pharmacy_id = actor.institution_id
    items = []
    for item in prescription.items.select_related("drug"):
        suggestion = fefo_suggestion(pharmacy_id, item.drug_id, item.packages)
        items.append(
            {
                "item_id": item.pk,
                "drug_id": item.drug_id,
                "drug_name": item.drug.generic_name,
                "specification": item.specification,
                "quantity": item.quantity,
                "unit": item.unit,
                "packages": item.packages,
                "package_unit": item.package_unit,
                "usage": item.usage,
                "days": item.days,
                "available": suggestion.available,
                "shortfall": suggestion.shortfall,
                "fefo": [
                    {
                        "stock_item_id": pick.stock_item.pk,
                        "batch_no": pick.stock_item.batch_no,
                        "expiry_date": pick.stock_item.expiry_date,
                        "in_stock": pick.stock_item.quantity,
                        "quantity": pick.quantity,
                    }
                    for pick in suggestion.picks
                ],
            }
        )
    summary = prescription_payload(actor, prescription)
    routed_here = prescription.pharmacy_id == pharmacy_id
    if not routed_here:
        # not yet routed here [CX art. 21]: enough to tell the patient to choose this pharmacy
        summary.update(diagnosis_code="", diagnosis_name="")
    eligibility = prescription.eligibility
    return {
        "prescription": summary,
        "routed_here": routed_here,
        "items": items,
        "plan": plan_payload(selectors.plan_progress(eligibility) if eligibility else None),
    }


@router.post(
    "/{int:prescription_id}/counter/check",
    response=CheckResultOut,
    summary="柜台逐项核验（人证相符、处方有效、资格、方案剩余量、购药间隔、价格）",
)
def counter_check(request: HttpRequest, prescription_id: int, payload: CheckIn):
    with refcache.reading(reference_versions(request)):  # read with the token
        result = counter.counter_check(
            actor=request.auth,
            prescription_id=prescription_id,
            identity=_identity(payload.identity),
            lines=_lines(payload.lines),
        )
    return {"ok": result.ok, "checks": [c.__dict__ for c in result.checks]}


@router.post(
    "/{int:prescription_id}/counter/dispense",
    response={200: DispensingOut, 201: DispensingOut},
    summary="核验并发药（须带 Idempotency-Key；同键同请求返回同一发药记录）",
)
def counter_dispense(
    request: HttpRequest,
    prescription_id: int,
    payload: DispenseIn,
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", description="幂等键：重发同一请求时保持不变"
    ),
):
    actor = request.auth
    key = (idempotency_key or "").strip()
    with refcache.reading(reference_versions(request)):  # read with the token
        dispensing = counter.counter_dispense(
            actor=actor,
            prescription_id=prescription_id,
            identity=_identity(payload.identity),
            lines=_lines(payload.lines),
            idempotency_key=key,
            delivery=counter.DeliveryInput(**payload.delivery.model_dump()),
        )
    # the same key again answers 200 with the first dispensing; a new dispensing is 201
    replayed = getattr(dispensing, "replayed", False)
    if replayed or not getattr(dispensing, "answer_in_memory", False):
        dispensing = selectors.dispensing_get(actor, dispensing.pk)
    # else the rows this request wrote, as written (the service checked the actor's pharmacy)
    return Status(200 if replayed else 201, dispensing_payload(actor, dispensing))


@router.post(
    "/dispensings/{int:dispensing_id}/delivery",
    response=DeliveryOut,
    summary="更新取药配送状态（冷链送达医院须登记交接）",
)
def delivery_advance(request: HttpRequest, dispensing_id: int, payload: DeliveryAdvanceIn):
    actor = request.auth
    deliveries.delivery_advance(
        actor=actor,
        dispensing_id=dispensing_id,
        to_status=payload.to_status,
        handed_over_by=payload.handed_over_by,
        received_by=payload.received_by,
    )
    found = selectors.dispensing_get(actor, dispensing_id)
    if getattr(found, "delivery", None) is None:
        raise NotFound(codes.DISPENSING_NOT_FOUND, "发药记录不存在")
    return delivery_payload(actor, found.delivery, found)
