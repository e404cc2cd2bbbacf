"""The hospital's inpatient bill, settled against the stay [AH §2(5), CX art. 19].

The hospital insurance office (医保办, a REVIEWER of the stay's hospital) enters the stay's bill
(from its HIS or at the desk): items with their amount and class (甲/乙, or 自费 outside the
catalogue). It is settled with the same engine, rules and accumulators as every other settlement,
under the inpatient benefit of the insured's enrolment region, as a settlement of kind HOSPITAL
linked to the stay (``Settlement.stay``):

- **the deductible once per stay** [AH §2(5)]: where the profile counts it once across hospital
  and pharmacy, the deductible's scope is the stay (``stay:<hospital>:<admission no>``), the
  same scope the pharmacy's counter uses for that admission number; whichever is settled first
  pays it, the other finds it met.
- **external drugs billed in the stay** [CX art. 19]: where the hospital's profile says so, the
  pharmacy's sales to the inpatient were not settled at the counter but billed to the stay
  (``StayCharge``); they are added to this bill as lines at the pharmacy's price, each with the
  non-payable reason the counter found, and move to SETTLED with it.

The platform's inpatient settlement (2304/2305) is not among the interfaces this system speaks:
the settlement is written ``NOT_CONNECTED`` (applied for in the monthly batch by hand).

Locks, in ``core.locks`` order: the insured person, the stay's billed charges, then the
accumulators. Idempotent per hospital and key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.core.money import parse_money
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.registry.models import InpatientStay
from dualchannel.registry.profiles import profile_for

from .. import error_codes as codes
from .. import payable, rules
from ..models import (
    BenefitCategory,
    Settlement,
    SettlementKind,
    SettlementStatus,
    StayCharge,
    StayChargeStatus,
    UploadStatus,
)
from . import common

MAX_BILL_LINES = 50
CLASSES = {"甲": ("甲", ""), "乙": ("乙", ""), "自费": ("甲", payable.OUTSIDE_CATALOGUE)}
STAY_REASON = "住院费用结算"


def _refuse(message: str, field: str) -> DomainError:
    return DomainError(codes.STAY_BILL_INVALID, message, fields={field: [message]})


def clean_bill(raw: Any) -> list[common.PricedLine]:
    """The bill's items: a name, an amount above zero, a class (甲, 乙 or 自费)."""
    if not isinstance(raw, list | tuple) or not raw:
        raise _refuse("请填写住院费用明细", "lines")
    if len(raw) > MAX_BILL_LINES:
        raise _refuse(f"住院费用明细不得超过{MAX_BILL_LINES}行", "lines")
    lines = []
    for n, data in enumerate(raw):
        if not isinstance(data, Mapping):
            raise _refuse(f"第{n + 1}行费用明细无效", f"lines.{n}")
        name = data.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name or len(name) > 100:
            raise _refuse(f"第{n + 1}行请填写项目名称（不超过100个字符）", f"lines.{n}.name")
        category = data.get("category")
        if category not in CLASSES:
            raise _refuse(f"第{n + 1}行类别应为甲、乙或自费", f"lines.{n}.category")
        amount = data.get("amount")
        if isinstance(amount, float):
            raise _refuse(f"第{n + 1}行金额应为大于0的金额", f"lines.{n}.amount")
        amount = parse_money(
            amount,
            field=f"lines.{n}.amount",
            code=codes.STAY_BILL_INVALID,
            label=f"第{n + 1}行金额",
            positive=True,
        )
        drug_class, reason = CLASSES[category]
        lines.append(
            common.PricedLine(
                dispensing_line_id=None,
                drug_id=None,
                drug_class=drug_class,
                quantity=1,
                unit="项",
                unit_price=amount,
                standard_amount=None,
                self_pay_reason=reason,
                item_name=name,
            )
        )
    return lines


def _charge_lines(charge: StayCharge) -> list[common.PricedLine]:
    return [
        common.PricedLine(
            dispensing_line_id=line["dispensing_line_id"],
            drug_id=line["drug_id"],
            drug_class=line["drug_class"],
            quantity=line["quantity"],
            unit=line["unit"],
            unit_price=Decimal(line["unit_price"]),
            standard_amount=(
                None if line["standard_amount"] is None else Decimal(line["standard_amount"])
            ),
            self_pay_reason=line["self_pay_reason"],
            item_name=f"院外购药（{charge.pharmacy.name}）",
        )
        for line in charge.lines
    ]


def _stay_for(actor: User, stay_id: Any) -> InpatientStay:
    require_role(actor, Role.REVIEWER)
    qs = InpatientStay.objects.select_related("hospital", "hospital__region", "person")
    if not actor.is_superuser:
        qs = qs.filter(hospital_id=actor.institution_id)
    stay = qs.filter(pk=stay_id).first() if isinstance(stay_id, int) else None
    if stay is None:
        raise NotFound(codes.STAY_NOT_FOUND, "住院登记不存在或不是本院的")
    return stay


def _compute(
    stay: InpatientStay,
    bill: list[common.PricedLine],
    charges: list[StayCharge],
    on: date,
    rows_for,
) -> tuple[common.Priced, dict]:
    person = stay.person
    common.require_benefits(person)
    hospital = stay.hospital
    category = BenefitCategory.INPATIENT
    rule = rules.benefit_rule_for(
        region=person.enrolment_region,  # 参保地待遇
        insurance_type=person.insurance_type,
        category=category,
        hospital_level=hospital.hospital_level,
        on=on,
    )
    profile = profile_for(hospital.region)
    admission = f"{hospital.pk}:{stay.admission_no}"
    scopes = common.benefit_scopes(rule, profile, category, on, admission)
    rows = rows_for(person, scopes)
    lines = [*bill, *(line for charge in charges for line in _charge_lines(charge))]
    breakdown = common.breakdown_of(lines, rule, person, rows)
    return (
        common.Priced(
            dispensing=None,
            person=person,
            rule=rule,
            category=category,
            scopes={str(k): v for k, v in scopes.items()},
            lines=tuple(lines),
            breakdown=breakdown,
            budget_line=common.budget_line_for(profile, hospital),
            settled_on=on,
            kind=SettlementKind.HOSPITAL,
            admission=admission,
            institution=hospital,
            stay=stay,
        ),
        rows,
    )


def _billed(stay: InpatientStay, *, lock: bool) -> list[StayCharge]:
    qs = StayCharge.objects.filter(stay=stay, status=StayChargeStatus.BILLED).select_related(
        "pharmacy"
    )
    if lock:
        qs = qs.select_for_update(of=("self",))
    return list(qs.order_by("pk"))


def stay_bill_preview(*, actor: User, stay_id: int, lines: Sequence[Any]) -> common.Priced:
    """The stay bill's breakdown as it would be now (with the external purchases billed to the
    stay); nothing is written or locked."""
    bill = clean_bill(lines)
    stay = _stay_for(actor, stay_id)
    priced, _ = _compute(
        stay,
        bill,
        _billed(stay, lock=False),
        timezone.localdate(),
        lambda person, scopes: common.accumulators(person, scopes, lock=False),
    )
    return priced


def stay_bill_settle(
    *, actor: User, stay_id: int, lines: Sequence[Any], idempotency_key: str
) -> Settlement:
    """Settle the hospital's inpatient bill against the stay [AH §2(5), CX art. 19]."""
    key = common.request_key(idempotency_key)
    bill = clean_bill(lines)
    digest = common.request_digest(
        {
            "kind": "stay",
            "stay_id": stay_id,
            "lines": [
                [p.item_name, str(p.unit_price), p.drug_class, p.self_pay_reason] for p in bill
            ],
        }
    )
    found = _stay_for(actor, stay_id)
    with transaction.atomic():
        person = common.lock_person(found.person_id)
        stay = _stay_for(actor, stay_id)
        replay = common.settlement_replay(stay.hospital_id, key, digest)
        if replay is not None:
            return replay
        charges = _billed(stay, lock=True)
        priced, rows = _compute(
            stay, bill, charges, timezone.localdate(), common.locked_accumulators
        )
        settlement = common.write_settlement(
            actor, priced, key, digest, upload_status=UploadStatus.NOT_CONNECTED, reason=STAY_REASON
        )
        common.add_used(rows, priced.breakdown)
        for charge in charges:
            transition(
                charge,
                StayChargeStatus.SETTLED,
                actor=actor,
                reason=STAY_REASON,
                role=Role.REVIEWER,
                changes={"settlement": settlement},
            )
        audit.record(
            actor=actor,
            action="settlement.settled",
            subject=settlement,
            after=settlement,
            patient=person,
            role=Role.REVIEWER,
            summary={
                "settlement_no": settlement.settlement_no,
                "kind": "stay",
                "stay": stay.pk,
                "external_charges": [c.pk for c in charges],
                "total": str(settlement.total),
                "fund": str(settlement.fund),
                "personal": str(settlement.personal),
                "to": SettlementStatus.SETTLED,
            },
        )
    return settlement
