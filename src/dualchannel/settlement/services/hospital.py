"""Hospital outpatient special drugs (特药门诊): the prescribing hospital's own outpatient pharmacy
dispenses a separately-paid drug against an eligibility and settles it with the fund — pre-settle
(2206) and settle (2207); the reversal (2208) is ``counter.settlement_reverse`` [HB art. 34–35,
DESIGN §5.2, §6].

The desk is run by the hospital's insurance office (医保办): the actor is a REVIEWER of the
prescribing hospital (or an administrator); anyone else is told "not found". The prescription must
still be ISSUED at that hospital and within its validity: one the patient routed to a pharmacy
belongs to that pharmacy's counter. Dispensing and settling are one act here, so they are one
transaction: the prescription goes ISSUED → DISPENSED (prescriptions'
``prescription_mark_dispensed``: its history row, audit event and the patient's notice), the
treatment plan's used quantity moves (eligibility's ``eligibility_plan_use``), and the settlement
of kind HOSPITAL is written with the same engine, rules, payment standards (the hospital's profile
and province) and accumulators as a counter settlement (the shared helpers of ``common``), on the
hospital's global budget line, and its 2207 upload is queued. The hospital's own stock is outside
this system: ``lines`` carry the price and batch the desk dispensed (so donated stock, rule 7
[HB art. 31(7)], is known at a pharmacy's counter only). Each line is judged against its drug's
payment restriction on the prescription's diagnosis, outpatient [HB art. 31(5), 36].

Locks, in ``core.locks`` order: the insured person, the eligibility, the prescription, then the
person's accumulator rows; the two services take the eligibility's and the prescription's locks
again (held already). Idempotent per hospital and key: the same key with the same body answers the
first settlement, with another body it is refused, also when two such requests race (the loser's
unique-key violation is answered as the replay).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.core.money import parse_money
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.selectors import eligibility_benefits_active
from dualchannel.eligibility.services.plan import eligibility_plan_release, eligibility_plan_use
from dualchannel.prescriptions.models import (
    BenefitType,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)
from dualchannel.prescriptions.services import prescription_mark_dispensed
from dualchannel.registry.models import InsuredPerson
from dualchannel.registry.out_of_area import out_of_area_of
from dualchannel.registry.profiles import profile_for
from dualchannel.registry.selectors import enrolment_region_on

from .. import error_codes as codes
from .. import payable, rules
from ..models import (
    ClaimStatus,
    ManualClaim,
    Settlement,
    SettlementKind,
    SettlementStatus,
)
from ..restriction import OUTPATIENT, RestrictionCheck
from ..surveillance import settlement_follow
from . import common

S = PrescriptionStatus
MAX_LINES = 20
DISPENSE_REASON = "本院门诊发药"
DELIVERY_LABEL = "本院门诊药房取药"


@dataclass(frozen=True)
class HospitalLine:
    """One dispensed line: packages of a prescription item at the desk's price, from a batch."""

    item_id: int
    packages: int
    unit_price: Decimal  # per package, in fen
    batch_no: str


# --- input -------------------------------------------------------------------------------------


def _refuse(code: str, message: str, field: str) -> DomainError:
    return DomainError(code, message, fields={field: [message]})


def _price(value: Any, field: str) -> Decimal:
    if isinstance(value, float):
        raise _refuse(codes.INVALID_PRICE, "单价应为大于0的金额", field)
    return parse_money(value, field=field, code=codes.INVALID_PRICE, label="单价", positive=True)


def clean_lines(raw: Sequence[Mapping[str, Any] | HospitalLine]) -> list[HospitalLine]:
    """The lines' shape: item, positive whole packages, a price in fen above zero, a batch."""
    if not isinstance(raw, list | tuple) or not raw:
        raise _refuse(codes.HOSPITAL_LINES_INVALID, "请填写发药明细", "lines")
    if len(raw) > MAX_LINES:
        raise _refuse(codes.HOSPITAL_LINES_INVALID, f"发药明细不得超过{MAX_LINES}行", "lines")
    lines = []
    for n, value in enumerate(raw):
        data = value.__dict__ if isinstance(value, HospitalLine) else value
        if not isinstance(data, Mapping):
            raise _refuse(codes.HOSPITAL_LINES_INVALID, f"第{n + 1}行发药明细无效", f"lines.{n}")
        item_id = data.get("item_id")
        if not isinstance(item_id, int) or isinstance(item_id, bool):
            raise _refuse(
                codes.HOSPITAL_LINES_INVALID, f"第{n + 1}行请选择处方药品", f"lines.{n}.item_id"
            )
        packages = data.get("packages")
        if not isinstance(packages, int) or isinstance(packages, bool) or packages <= 0:
            raise _refuse(
                codes.INVALID_QUANTITY, f"第{n + 1}行发药数量应为正整数", f"lines.{n}.packages"
            )
        batch_no = data.get("batch_no")
        batch_no = batch_no.strip() if isinstance(batch_no, str) else ""
        if not batch_no or len(batch_no) > 50:
            raise _refuse(
                codes.HOSPITAL_LINES_INVALID,
                f"第{n + 1}行请填写药品批号（不超过50个字符）",
                f"lines.{n}.batch_no",
            )
        lines.append(
            HospitalLine(
                item_id=item_id,
                packages=packages,
                unit_price=_price(data.get("unit_price"), f"lines.{n}.unit_price"),
                batch_no=batch_no,
            )
        )
    return lines


def _body(prescription_id: Any, lines: list[HospitalLine]) -> dict[str, Any]:
    return {
        "kind": SettlementKind.HOSPITAL.value,
        "prescription_id": prescription_id,
        "lines": [
            {
                "item_id": line.item_id,
                "packages": line.packages,
                "unit_price": str(line.unit_price),
                "batch_no": line.batch_no,
            }
            for line in lines
        ],
    }


# --- context -----------------------------------------------------------------------------------


def _prescription_for(actor: User, prescription_id: Any, *, lock: bool) -> Prescription:
    """A prescription of the actor's hospital (locked when settling); others are not found."""
    require_role(actor, Role.REVIEWER)
    if not isinstance(prescription_id, int) or isinstance(prescription_id, bool):
        raise NotFound(codes.NOT_FOUND, "处方不存在或不是本院开具")
    qs = Prescription.objects.select_related(
        "patient", "hospital", "hospital__region", "eligibility"
    ).filter(pk=prescription_id)
    if not actor.is_superuser:
        qs = qs.filter(hospital_id=actor.institution_id)  # an outsider locks nothing
    if lock:
        qs = qs.select_for_update(of=("self",))
    prescription = qs.first()
    if prescription is None:
        raise NotFound(codes.NOT_FOUND, "处方不存在或不是本院开具")
    return prescription


def _check_open(prescription: Prescription, today: date) -> None:
    """Still issued here, valid today, a special-drug prescription, not claimed by hand."""
    status = prescription.status
    if status == S.CANCELLED:
        raise Conflict(codes.HOSPITAL_RX_CANCELLED, "处方已被医师撤销，不能发药结算")
    if status == S.DISPENSED:
        raise Conflict(codes.HOSPITAL_RX_DISPENSED, "处方已取药，不能重复发药结算")
    if status == S.EXPIRED or prescription.valid_until < today:
        raise DomainError(
            codes.HOSPITAL_RX_EXPIRED,
            f"处方有效期至{prescription.valid_until.isoformat()}，已过期",
        )
    if status == S.ROUTED:
        raise DomainError(
            codes.HOSPITAL_RX_ROUTED,
            "处方已流转至定点零售药店，由该药店调剂结算，本院不能发药",
        )
    if prescription.benefit_type != BenefitType.SPECIAL_DRUG or prescription.eligibility_id is None:
        raise DomainError(
            codes.HOSPITAL_NOT_SPECIAL_DRUG, "特药门诊只结算凭用药资格开具的单独支付药品处方"
        )
    claimed = ManualClaim.objects.filter(
        prescription=prescription, status__in=(ClaimStatus.SUBMITTED, ClaimStatus.APPROVED)
    ).exists()
    if claimed:
        raise Conflict(codes.HOSPITAL_RX_CLAIMED, "该处方已申请手工报销，不能再直接结算")


def _items_for(
    prescription: Prescription, lines: list[HospitalLine]
) -> dict[int, PrescriptionItem]:
    """The prescription's items; each line names one, and no item exceeds its packages."""
    items = {i.pk: i for i in prescription.items.select_related("drug")}
    given: dict[int, int] = defaultdict(int)
    for n, line in enumerate(lines):
        if line.item_id not in items:
            raise _refuse(
                codes.HOSPITAL_LINES_INVALID, f"第{n + 1}行不是本处方的药品", f"lines.{n}.item_id"
            )
        given[line.item_id] += line.packages
    for item_id, packages in given.items():
        item = items[item_id]
        if packages > item.packages:
            raise _refuse(
                codes.OVER_PRESCRIBED,
                f"{item.drug.generic_name}处方{item.packages}{item.package_unit}，"
                f"本次发药{packages}{item.package_unit}，不得超过处方数量",
                "lines",
            )
    return items


def plan_quantity(
    items: Mapping[int, PrescriptionItem],
    packages: Mapping[int, int],
    eligibility: Eligibility | None,
) -> Decimal:
    """What a dispensing of ``packages`` per item takes from the treatment plan: packages × the
    item's pack size, never more than prescribed (the last package may hold more), as the
    counter counts it; only the eligibility's drug counts."""
    if eligibility is None:
        return Decimal(0)
    return sum(
        (
            min(items[item_id].quantity, count * items[item_id].pack_size)
            for item_id, count in packages.items()
            if items[item_id].drug_id == eligibility.drug_id
        ),
        Decimal(0),
    )


def _packages(lines: list[HospitalLine]) -> dict[int, int]:
    given: dict[int, int] = defaultdict(int)
    for line in lines:
        given[line.item_id] += line.packages
    return dict(given)


def _priced_line(
    item: PrescriptionItem,
    line: HospitalLine,
    hospital,
    profile,
    province,
    on: date,
    restriction: RestrictionCheck,
    eligibility: Eligibility | None,
    facts: dict,
) -> common.PricedLine:
    """One line of the hospital's own stock, priced against its standard, with its payability."""
    standard = rules.package_standard(
        item.drug,
        profile=profile,
        province=province,
        manufacturer="",  # the hospital's own stock: no listed manufacturer here
        specification=item.specification,
        unit=item.unit,
        package_unit=item.package_unit,
        pack_size=item.pack_size,
        on=on,
    )
    standing = rules.standing_of(item.drug, region=hospital.region, profile=profile, on=on)
    return common.PricedLine(
        dispensing_line_id=None,
        drug_id=item.drug_id,
        drug_class=item.drug.drug_class or "乙",
        quantity=line.packages,
        unit=item.package_unit,
        unit_price=line.unit_price,
        standard_amount=None if standard is None else standard.amount * line.packages,
        self_pay_reason=payable.nonpayable_reason(
            payable.LineFacts(
                **rules.listing_facts(standing),
                within_restriction=restriction.within(item.drug, eligibility),
                **facts,
            )
        ),
    )


def _compute(
    prescription: Prescription,
    person: InsuredPerson,
    items: Mapping[int, PrescriptionItem],
    lines: list[HospitalLine],
    on: date,
    rows_for: Callable[[InsuredPerson, dict[str, str]], dict],
    eligibility_for: Callable[[Prescription], Eligibility | None],
) -> tuple[common.Priced, dict, Eligibility | None]:
    """Price the lines at the hospital and run the engine (as ``counter`` does at a counter)."""
    common.require_benefits(person)
    hospital = prescription.hospital
    category = prescription.benefit_type
    rule = rules.benefit_rule_for(
        region=enrolment_region_on(person, on),  # 参保地待遇 (the insured's own pooling region)
        insurance_type=person.insurance_type,
        category=category,
        hospital_level=hospital.hospital_level,
        on=on,
    )
    profile = profile_for(hospital.region)
    province = rules.province_of(hospital.region)
    # HB art. 40–41: out of area, the enrolment region's benefits, the hospital's drug list
    area = out_of_area_of(person, hospital.region, on)
    home = common.benefit_profile(person) if area.is_out_of_area else profile
    scopes = common.benefit_scopes(rule, home, category, on)
    rows = rows_for(person, scopes)
    eligibility = eligibility_for(prescription)
    facts = {
        "has_eligibility": eligibility is not None,
        "eligibility_active": eligibility is not None
        and eligibility_benefits_active(eligibility, on=on),
        "institution_designated": common.designated(hospital),
        "has_valid_prescription": prescription.valid_until >= on,
    }
    # HB art. 31(5), 36: each line against its drug's payment restriction (an outpatient visit)
    restriction = RestrictionCheck(
        region=enrolment_region_on(person, on),
        diagnoses=[prescription.diagnosis_code],
        setting=OUTPATIENT,
    )
    priced = [
        _priced_line(
            items[line.item_id],
            line,
            hospital,
            profile,
            province,
            on,
            restriction,
            eligibility,
            facts,
        )
        for line in lines
    ]
    breakdown = common.breakdown_of(priced, rule, person, rows)
    return (
        common.Priced(
            dispensing=None,
            person=person,
            rule=rule,
            category=category,
            scopes={str(k): v for k, v in scopes.items()},
            lines=tuple(priced),
            breakdown=breakdown,
            budget_line=common.budget_line_for(profile, hospital),  # the hospital's global
            settled_on=on,
            kind=SettlementKind.HOSPITAL,
            institution=hospital,
            prescription=prescription,
            out_of_area=area,
        ),
        rows,
        eligibility,
    )


# --- preview, settle -------------------------------------------------------------------------


def hospital_preview(
    *, actor: User, prescription_id: int, lines: Sequence[Mapping[str, Any] | HospitalLine]
) -> common.Priced:
    """Pre-settle (2206): the breakdown of these lines as it would be now; nothing is written
    or locked."""
    clean = clean_lines(lines)
    prescription = _prescription_for(actor, prescription_id, lock=False)
    today = timezone.localdate()
    _check_open(prescription, today)
    items = _items_for(prescription, clean)
    priced, _, _ = _compute(
        prescription,
        prescription.patient,
        items,
        clean,
        today,
        lambda person, scopes: common.accumulators(person, scopes, lock=False),
        lambda rx: rx.eligibility,
    )
    return priced


def hospital_settle(
    *,
    actor: User,
    prescription_id: int,
    lines: Sequence[Mapping[str, Any] | HospitalLine],
    idempotency_key: str,
) -> Settlement:
    """Dispense at the hospital's outpatient pharmacy and settle (2207) in one transaction: the
    person pays only their part [CX art. 17, HB art. 34–35]."""
    key = common.request_key(idempotency_key)
    clean = clean_lines(lines)
    digest = common.request_digest(_body(prescription_id, clean))
    try:
        return _settle(actor, prescription_id, clean, key, digest)
    except IntegrityError:
        # Lost a race on the key to a request that committed first (the settlement's unique key
        # per institution): its settlement is visible now, answer as the later request.
        hospital_id = (
            Prescription.objects.filter(pk=prescription_id)
            .values_list("hospital_id", flat=True)
            .first()
        )
        seen = common.settlement_replay(hospital_id, key, digest) if hospital_id else None
        if seen is None:
            raise
        return seen


def _settle(
    actor: User, prescription_id: int, clean: list[HospitalLine], key: str, digest: str
) -> Settlement:
    with transaction.atomic():
        # core.locks order: the person and the eligibility (named by an unlocked read), then the
        # prescription, then the accumulators
        found = _prescription_for(actor, prescription_id, lock=False)
        person = common.lock_person(found.patient_id)
        eligibility = (
            Eligibility.objects.select_for_update(no_key=True).get(pk=found.eligibility_id)
            if found.eligibility_id
            else None
        )
        prescription = _prescription_for(actor, prescription_id, lock=True)
        replay = common.settlement_replay(prescription.hospital_id, key, digest)
        if replay is not None:
            return replay
        today = timezone.localdate()
        _check_open(prescription, today)
        items = _items_for(prescription, clean)
        priced, rows, eligibility = _compute(
            prescription,
            person,
            items,
            clean,
            today,
            common.locked_accumulators,
            lambda rx: eligibility,
        )
        common.require_direct(priced.out_of_area)  # HB art. 41: else self-pay, claimed at home
        used = plan_quantity(items, _packages(clean), eligibility)
        left = eligibility.plan_total_quantity - eligibility.plan_used_quantity
        if used > left:
            raise DomainError(
                codes.HOSPITAL_OVER_PLAN,
                f"本次{used.normalize():f}，治疗方案剩余{left.normalize():f}，超出治疗方案剩余药量",
            )
        settlement = common.write_settlement(actor, priced, key, digest, reason=DISPENSE_REASON)
        common.add_used(rows, priced.breakdown)
        if used:
            eligibility_plan_use(actor=actor, eligibility_id=eligibility.pk, quantity=used)
        settlement.prescription = prescription = prescription_mark_dispensed(
            actor=actor,
            prescription_id=prescription.pk,
            dispensed_at=settlement.settled_at,
            reason=DISPENSE_REASON,
            dispensed_by=prescription.hospital.name,
            delivery=DELIVERY_LABEL,
            facts={"settlement": settlement.pk, "plan_used": str(used)},
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
                "kind": SettlementKind.HOSPITAL.value,
                "prescription_no": prescription.prescription_no,
                "total": str(settlement.total),
                "fund": str(settlement.fund),
                "personal": str(settlement.personal),
                "batches": [line.batch_no for line in clean],
                "plan_used": str(used),
                "to": SettlementStatus.SETTLED,
            },
        )
        common.queue_upload(settlement)  # 2207 through CHANNEL[HOSPITAL]
        settlement_follow(settlement)  # monitoring rules, queued after the commit
    return settlement


# --- reversal (called by counter.settlement_reverse) ------------------------------------------


def give_back_plan(settlement: Settlement, *, actor: User) -> Decimal:
    """A hospital settlement reversed with the goods returned (2208): the plan's used quantity
    goes back by what the settlement took (eligibility's ``eligibility_plan_release``). The
    packages go back to the hospital's own stock, which this system does not hold. The caller
    holds the person's, the eligibility's and the settlement's locks."""
    prescription = settlement.prescription
    if prescription is None or prescription.eligibility_id is None:
        return Decimal(0)
    items = {i.pk: i for i in prescription.items.all()}
    item_of_drug = {i.drug_id: i.pk for i in items.values()}  # one item per drug on a prescription
    packages: dict[int, int] = defaultdict(int)
    for line in settlement.lines.all():
        item_id = item_of_drug.get(line.drug_id)
        if item_id is not None:
            packages[item_id] += line.quantity
    given_back = plan_quantity(items, packages, prescription.eligibility)
    if given_back:
        eligibility_plan_release(
            actor=actor, eligibility_id=prescription.eligibility_id, quantity=given_back
        )
    return given_back
