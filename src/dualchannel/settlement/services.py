"""Settling a dispensing with the fund at the pharmacy counter, and reversing it (DESIGN §5.2(5),
§6; HB art. 30–35, CX art. 17).

One transaction each. Locks, always in this order: the dispensing (or the settlement), then the
insured person, then the person's accumulator rows sorted by (kind, scope). The person's lock
serialises every settlement and reversal of that person, so accumulators stay exact under
concurrent counters; the partial unique constraint on live settlements per dispensing backs up
"settled once" even if a lock were forgotten.

The helpers that price, lock, write and accumulate (``breakdown_of``, ``benefit_scopes``,
``budget_line_for``, ``lock_person``, ``locked_accumulators``, ``add_used``,
``write_settlement``) are shared with the manual claims of ``claims.py``, so a claim is computed
and recorded exactly like a counter settlement. A manual settlement is never reversed here.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.idempotency import checked_key
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.eligibility.selectors import eligibility_benefits_active
from dualchannel.eligibility.services.plan import eligibility_plan_release
from dualchannel.prescriptions.models import Dispensing, Prescription, PrescriptionStatus
from dualchannel.registry.models import (
    BenefitStatus,
    Designation,
    DesignationStatus,
    Institution,
    InsuredPerson,
    PolicyProfile,
)
from dualchannel.registry.profiles import profile_for

from . import error_codes as codes
from . import payable, rules
from .engine import Accumulated, Breakdown, LineInput, Person, calculate
from .models import (
    Accumulator,
    AccumulatorKind,
    BatchStatus,
    BenefitCategory,
    BenefitRule,
    BudgetLine,
    Settlement,
    SettlementKind,
    SettlementLine,
    SettlementStatus,
    SettlementTransition,
    UploadStatus,
)

K = AccumulatorKind
ACCUMULATED_KINDS = {  # engine field → accumulator kind
    "deductible": K.DEDUCTIBLE,
    "fund": K.FUND,
    "critical_illness_deductible": K.CRITICAL_ILLNESS_DEDUCTIBLE,
    "critical_illness": K.CRITICAL_ILLNESS,
    "assistance": K.ASSISTANCE,
    "commercial_deductible": K.COMMERCIAL_DEDUCTIBLE,
    "commercial": K.COMMERCIAL,
}
# who reverses a settlement of each kind at its institution (a manual one is never reversed here)
REVERSED_BY = {
    SettlementKind.PHARMACY: Role.PHARMACIST,
    SettlementKind.HOSPITAL: Role.REVIEWER,
}
BREAKDOWN_FIELDS = (
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


@dataclass(frozen=True)
class PricedLine:
    dispensing_line_id: int | None  # None for a manual claim's line (priced from its receipt)
    drug_id: int
    drug_class: str
    quantity: int
    unit: str
    unit_price: Decimal
    standard_amount: Decimal | None
    self_pay_reason: str


@dataclass(frozen=True)
class Priced:
    """Everything a settlement is computed from, and its breakdown (a preview writes nothing).

    A counter settlement names its dispensing (institution and prescription follow from it); a
    manual claim's settlement [HB art. 37] names the purchase institution and, when known, the
    prescription and its dispensing, with ``kind`` MANUAL.
    """

    dispensing: Dispensing | None
    person: InsuredPerson
    rule: BenefitRule
    category: str
    scopes: dict[str, str]
    lines: tuple[PricedLine, ...]
    breakdown: Breakdown
    budget_line: str
    settled_on: date
    kind: str = SettlementKind.PHARMACY
    admission: str = ""  # the inpatient stay (hospital:admission number) the purchase is for
    institution: Institution | None = None  # None: the dispensing's pharmacy
    prescription: Prescription | None = None  # None: the dispensing's prescription

    @property
    def settling_institution(self) -> Institution:
        return self.institution or self.dispensing.pharmacy

    @property
    def settled_prescription(self) -> Prescription | None:
        if self.prescription is not None:
            return self.prescription
        return self.dispensing.prescription if self.dispensing is not None else None


# --- context -----------------------------------------------------------------------------------


def _dispensing_for(actor: User, prescription_id: int, *, lock: bool) -> Dispensing:
    """The dispensing of a prescription routed to the actor's pharmacy (locked when settling)."""
    from dualchannel.prescriptions.models import Prescription

    require_role(actor, Role.PHARMACIST)
    prescription = Prescription.objects.filter(pk=prescription_id).first()
    if prescription is None or not (
        actor.is_superuser or actor.institution_id == prescription.pharmacy_id
    ):
        raise NotFound(codes.NOT_FOUND, "处方不存在或未流转至本药店")
    qs = Dispensing.objects.select_related(
        "prescription",
        "prescription__hospital",
        "prescription__eligibility",
        "prescription__patient",
        "pharmacy",
        "pharmacy__region",
    )
    if lock:
        qs = qs.select_for_update(of=("self",))
    dispensing = qs.filter(prescription_id=prescription.pk).first()
    if dispensing is None or prescription.status != PrescriptionStatus.DISPENSED:
        raise Conflict(codes.NOT_DISPENSED, "处方尚未发药，不能结算")
    return dispensing


def _designated(institution) -> bool:
    return Designation.objects.filter(
        institution=institution, status=DesignationStatus.ACTIVE
    ).exists()


def _scopes(rule: BenefitRule, on: date, admission: str, stay_deductible: bool) -> dict[str, str]:
    year = f"{on.year}"
    group = f"{year}:{rule.ceiling_group}"
    deductible = f"stay:{admission}" if admission and stay_deductible else group
    return {
        K.DEDUCTIBLE: deductible,
        K.FUND: group,
        K.CRITICAL_ILLNESS_DEDUCTIBLE: f"{year}:critical_illness",
        K.CRITICAL_ILLNESS: f"{year}:critical_illness",
        K.ASSISTANCE: f"{year}:assistance",
        K.COMMERCIAL_DEDUCTIBLE: f"{year}:commercial",
        K.COMMERCIAL: f"{year}:commercial",
    }


def _accumulators(person: InsuredPerson, scopes: dict[str, str], *, lock: bool) -> dict:
    """The person's rows for these scopes, created at zero when new; locked in a fixed order."""
    keys = sorted(scopes.items())
    if lock:
        Accumulator.objects.bulk_create(
            [Accumulator(person=person, kind=k, scope=s) for k, s in keys],
            ignore_conflicts=True,
        )
    rows = {}
    for kind, scope in keys:
        qs = Accumulator.objects.filter(person=person, kind=kind, scope=scope)
        row = (qs.select_for_update() if lock else qs).first()
        rows[kind] = row or Accumulator(person=person, kind=kind, scope=scope)
    return rows


def _accumulated(rows: dict) -> Accumulated:
    return Accumulated(**{field: rows[kind].amount for field, kind in ACCUMULATED_KINDS.items()})


def require_benefits(person: InsuredPerson) -> None:
    """Only a person whose benefits are in force is settled with the fund."""
    if person.benefit_status != BenefitStatus.NORMAL:
        raise DomainError(
            codes.NO_INSURANCE, f"参保人待遇状态为「{person.get_benefit_status_display()}」"
        )


def _price(
    dispensing: Dispensing, on: date, *, inpatient: bool = False
) -> tuple[BenefitRule, str, list[PricedLine], str]:
    prescription = dispensing.prescription
    person = prescription.patient
    require_benefits(person)
    # AH §2(5): an inpatient's purchase at the pharmacy is paid under the inpatient policy
    category = BenefitCategory.INPATIENT if inpatient else prescription.benefit_type
    rule = rules.benefit_rule_for(
        region=person.enrolment_region,  # 参保地待遇 (the insured's own pooling region)
        insurance_type=person.insurance_type,
        category=category,
        hospital_level=prescription.hospital.hospital_level,
        on=on,
    )
    profile = profile_for(dispensing.pharmacy.region)
    province = rules.province_of(dispensing.pharmacy.region)
    eligibility = prescription.eligibility
    facts_common = {
        "has_eligibility": eligibility is not None,
        "eligibility_active": eligibility is not None
        and eligibility_benefits_active(eligibility, on=on),
        "institution_designated": _designated(dispensing.pharmacy),
        "has_valid_prescription": prescription.valid_until >= on,
        # AH annex note 3(2): bought while staying at a hospital not designated for it
        "inpatient_at_non_designated": inpatient and not _designated(prescription.hospital),
    }
    priced = []
    for line in dispensing.lines.select_related("drug", "item", "stock_item").order_by("pk"):
        item, stock = line.item, line.stock_item
        standard = rules.package_standard(
            line.drug,
            profile=profile,
            province=province,
            manufacturer=stock.manufacturer if stock else "",
            specification=(stock.specification if stock else "") or item.specification,
            unit=item.unit,
            package_unit=item.package_unit,
            pack_size=item.pack_size,
            on=on,
        )
        reason = payable.nonpayable_reason(
            payable.LineFacts(separately_paid=line.drug.is_separately_paid, **facts_common)
        )
        priced.append(
            PricedLine(
                dispensing_line_id=line.pk,
                drug_id=line.drug_id,
                drug_class=line.drug.drug_class or "乙",
                quantity=line.packages,
                unit=item.package_unit,
                unit_price=line.unit_price,
                standard_amount=None if standard is None else standard.amount * line.packages,
                self_pay_reason=reason,
            )
        )
    return rule, category, priced, profile


def benefit_scopes(
    rule: BenefitRule,
    profile: PolicyProfile | None,
    category: str,
    on: date,
    admission: str = "",
) -> dict[str, str]:
    """The accumulator scopes of a settlement of ``category`` made on ``on`` under ``rule``."""
    stay_deductible = (
        category == BenefitCategory.INPATIENT
        and profile is not None
        and profile.deductible_once_per_stay
    )
    return _scopes(rule, on, admission, stay_deductible)


def breakdown_of(
    lines: list[PricedLine] | tuple[PricedLine, ...],
    rule: BenefitRule,
    person: InsuredPerson,
    rows: dict,
) -> Breakdown:
    """The engine's breakdown of priced lines under ``rule`` with the person's accumulators."""
    return calculate(
        [
            LineInput(
                str(n),
                p.unit_price * p.quantity,
                p.standard_amount,
                p.drug_class,
                p.self_pay_reason,
            )
            for n, p in enumerate(lines)
        ],
        rules.parameters_of(rule),
        _accumulated(rows),
        Person(
            entitled_to_assistance=person.medical_assistance,
            commercial_insured=person.commercial_insured,
        ),
    )


def budget_line_for(profile: PolicyProfile | None, institution: Institution) -> str:
    """AH §2(6), CX art. 18: pharmacy spending on its own line where the profile says so."""
    from dualchannel.registry.models import InstitutionKind

    if (
        institution.kind == InstitutionKind.PHARMACY
        and profile is not None
        and profile.pharmacy_spend_outside_hospital_budget
    ):
        return BudgetLine.PHARMACY_SEPARATE
    return BudgetLine.HOSPITAL_GLOBAL


def _admission(dispensing: Dispensing, admission_no: str) -> str:
    """The stay a purchase belongs to: the prescribing hospital and its admission number."""
    number = (admission_no or "").strip()
    if not number:
        return ""
    if len(number) > 30:
        raise DomainError(
            codes.INVALID_ADMISSION,
            "住院号不超过30个字符",
            fields={"inpatient_admission_no": ["过长"]},
        )
    return f"{dispensing.prescription.hospital_id}:{number}"


def _compute(dispensing: Dispensing, rows_for, *, admission_no: str = "") -> tuple[Priced, dict]:
    on = timezone.localdate(dispensing.dispensed_at)
    admission = _admission(dispensing, admission_no)
    rule, category, lines, profile = _price(dispensing, on, inpatient=bool(admission))
    person = dispensing.prescription.patient
    scopes = benefit_scopes(rule, profile, category, on, admission)
    rows = rows_for(person, scopes)
    breakdown = breakdown_of(lines, rule, person, rows)
    budget = budget_line_for(profile, dispensing.pharmacy)
    return Priced(
        dispensing=dispensing,
        person=person,
        rule=rule,
        category=category,
        scopes={str(k): v for k, v in scopes.items()},
        lines=tuple(lines),
        breakdown=breakdown,
        budget_line=budget,
        settled_on=on,
        admission=admission,
    ), rows


# --- preview, settle, reverse ---------------------------------------------------------------


def settlement_preview(
    *, actor: User, prescription_id: int, inpatient_admission_no: str = ""
) -> Priced:
    """Pre-settle (2101): the breakdown as it would be now; nothing is written or locked.

    ``inpatient_admission_no``: the purchase is for a patient staying at the prescribing hospital;
    it is paid under the inpatient policy, and where the profile counts the deductible once per
    stay [AH §2(5)] it shares the stay's deductible with the hospital's bill.
    """
    dispensing = _dispensing_for(actor, prescription_id, lock=False)
    priced, _ = _compute(
        dispensing,
        lambda person, scopes: _accumulators(person, scopes, lock=False),
        admission_no=inpatient_admission_no,
    )
    return priced


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _key(idempotency_key: str | None) -> str:
    return checked_key(idempotency_key, code=codes.KEY_REQUIRED)


def _replay(institution_id: int, key: str, digest: str) -> Settlement | None:
    """The settlement this key already made (the same request replayed), else None."""
    found = Settlement.objects.filter(institution_id=institution_id, idempotency_key=key).first()
    if found is not None and found.request_digest != digest:
        raise Conflict(codes.KEY_REUSED, "该幂等键已用于另一笔结算")
    return found


def settlement_settle(
    *, actor: User, prescription_id: int, idempotency_key: str, inpatient_admission_no: str = ""
) -> Settlement:
    """Settle a dispensed prescription (2102): the person pays only their part [CX art. 17].
    ``inpatient_admission_no`` as for ``settlement_preview``."""
    key = _key(idempotency_key)
    admission_no = (inpatient_admission_no or "").strip()
    body = {"prescription_id": prescription_id}
    digest = _digest(body | {"admission": admission_no} if admission_no else body)
    with transaction.atomic():
        # core.locks order: the person (named by an unlocked read), then the dispensing
        person_id = _dispensing_for(actor, prescription_id, lock=False).prescription.patient_id
        lock_person(person_id)
        dispensing = _dispensing_for(actor, prescription_id, lock=True)
        replay = _replay(dispensing.pharmacy_id, key, digest)
        if replay is not None:
            return replay
        earlier = Settlement.objects.filter(dispensing=dispensing)
        if earlier.filter(status=SettlementStatus.SETTLED).exists():
            raise Conflict(codes.ALREADY_SETTLED, "该笔发药已结算，不能重复结算")
        if earlier.filter(goods_returned=True).exists():
            raise Conflict(codes.GOODS_RETURNED, "该笔发药已退药冲销，不能再结算")
        priced, rows = _compute(dispensing, locked_accumulators, admission_no=admission_no)
        settlement = write_settlement(actor, priced, key, digest)
        add_used(rows, priced.breakdown)
        audit.record(
            actor=actor,
            action="settlement.settled",
            subject=settlement,
            after=settlement,
            patient=priced.person,
            role=Role.PHARMACIST,
            summary={
                "settlement_no": settlement.settlement_no,
                "total": str(settlement.total),
                "fund": str(settlement.fund),
                "personal": str(settlement.personal),
                "to": SettlementStatus.SETTLED,
            },
        )
        _queue_upload(settlement)
    return settlement


def lock_person(person_id: int) -> InsuredPerson:
    """The person's lock serialises every settlement and reversal of that person."""
    return InsuredPerson.objects.select_for_update(no_key=True).get(pk=person_id)


def locked_accumulators(person: InsuredPerson, scopes: dict[str, str]) -> dict:
    """The person's accumulator rows for ``scopes``, created when new, locked in a fixed order
    (take the person's lock first)."""
    return _accumulators(person, scopes, lock=True)


def add_used(rows: dict, breakdown: Breakdown) -> None:
    """Advance each accumulator by what the settlement used."""
    for field, kind in ACCUMULATED_KINDS.items():
        _add(rows[kind], getattr(breakdown.used, field))


def _add(row: Accumulator, amount: Decimal) -> None:
    if not amount:
        return
    row.amount += amount
    row.updated_at = timezone.now()
    row.save(update_fields=["amount", "updated_at"])


def write_settlement(
    actor: User,
    priced: Priced,
    key: str,
    digest: str,
    *,
    upload_status: str = UploadStatus.PENDING,
    reason: str = "",
) -> Settlement:
    """The settlement row, its lines and its first history row (the caller audits it)."""
    b = priced.breakdown
    settlement = Settlement.objects.create(
        settlement_no=f"tmp-{uuid.uuid4().hex}",
        kind=priced.kind,
        institution=priced.settling_institution,
        person=priced.person,
        prescription=priced.settled_prescription,
        dispensing=priced.dispensing,
        category=priced.category,
        insurance_type=priced.person.insurance_type,
        med_type=priced.rule.med_type,
        rule=priced.rule,
        parameters=rules.parameters_snapshot(priced.rule),
        scopes=priced.scopes,
        budget_line=priced.budget_line,
        settled_on=priced.settled_on,
        inpatient_admission_no=priced.admission.split(":", 1)[-1],
        used={field: str(getattr(b.used, field)) for field in ACCUMULATED_KINDS},
        idempotency_key=key,
        request_digest=digest,
        settled_by=actor,
        upload_status=upload_status,
        **{name: getattr(b, name) for name in BREAKDOWN_FIELDS},
    )
    # a number people can read: the day and the row's own id, never a shared counter row
    settlement.settlement_no = f"JS{priced.settled_on:%Y%m%d}{settlement.pk:08d}"
    settlement.save(update_fields=["settlement_no"])
    for position, (line, result) in enumerate(zip(priced.lines, b.lines, strict=True), 1):
        SettlementLine.objects.create(
            settlement=settlement,
            position=position,
            drug_id=line.drug_id,
            dispensing_line_id=line.dispensing_line_id,
            drug_class=line.drug_class,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            amount=result.amount,
            standard_amount=line.standard_amount,
            full_self_pay=result.full_self_pay,
            self_pay_reason=result.self_pay_reason,
            over_standard=result.over_standard,
            payable_base=result.payable_base,
            first_self_pay=result.first_self_pay,
            in_policy=result.in_policy,
        )
    SettlementTransition.objects.create(
        settlement=settlement,
        from_status="",
        to_status=SettlementStatus.SETTLED,
        actor=actor,
        reason=reason,
    )
    return settlement


def _queue_upload(settlement: Settlement) -> None:
    from dualchannel.core.jobs import enqueue

    enqueue("settlement.upload", {"settlement_id": settlement.pk}, key=f"settle:{settlement.pk}")


def settlement_reverse(
    *,
    actor: User,
    settlement_id: int,
    reason: str,
    idempotency_key: str,
    return_goods: bool = True,
) -> Settlement:
    """Reverse a settlement (2103; 2208 for a hospital's): every accumulator goes back by what
    it added.

    A pharmacy's settlement is reversed by its pharmacist, a hospital outpatient settlement
    (``hospital.py``) by the hospital's reviewer (医保办). With ``return_goods`` (the patient
    brings the drugs back) the treatment plan's used quantity is given back and, at a pharmacy,
    the packages and their codes go back into stock as a sale return (a hospital's own stock is
    outside this system); without it (a settlement made wrongly) a pharmacy's dispensing may be
    settled again.
    """
    key = _key(idempotency_key)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(codes.REASON_REQUIRED, "请填写冲销原因", fields={"reason": ["必填"]})
    require_role(actor, Role.PHARMACIST, Role.REVIEWER)
    with transaction.atomic():
        # An unlocked read checks the scope and names the rows to lock in core.locks order:
        # the person, the eligibility (its plan is given back), the settlement, the
        # accumulators, then the batches and codes the goods return to.
        found = Settlement.objects.filter(pk=settlement_id).select_related("prescription").first()
        role = REVERSED_BY.get(found.kind) if found is not None else None
        if found is None or not (
            actor.is_superuser
            or (
                actor.institution_id == found.institution_id
                and (role is None or actor.has_role(role))
            )
        ):
            raise NotFound(codes.NOT_FOUND, "结算记录不存在或不属于本机构")
        lock_person(found.person_id)
        eligibility_id = found.prescription.eligibility_id if found.prescription else None
        if return_goods and eligibility_id:
            from dualchannel.eligibility.models import Eligibility

            Eligibility.objects.select_for_update(no_key=True).get(pk=eligibility_id)
        settlement = (
            Settlement.objects.select_for_update(of=("self",))
            .select_related("person")
            .get(pk=found.pk)
        )
        if settlement.kind == SettlementKind.MANUAL:
            # the agency paid the person back [HB art. 37]: not the counter's to undo
            raise Conflict(codes.MANUAL_NOT_REVERSIBLE, "手工（零星）报销结算不能在柜台冲销")
        if settlement.status == SettlementStatus.REVERSED:
            if settlement.reversal_key == key:
                return settlement  # the same reversal replayed
            raise Conflict(codes.ALREADY_REVERSED, "该笔结算已冲销，不能再次冲销")
        if settlement.batch_id and settlement.batch.status in (
            BatchStatus.APPLIED,
            BatchStatus.APPROVED,
        ):
            # HB art. 33: the month was applied for with it; the agency must send it back first
            raise Conflict(codes.IN_APPLIED_BATCH, "该笔结算所在的月度申报已提交，不能冲销")
        rows = locked_accumulators(settlement.person, settlement.scopes)
        for field, kind in ACCUMULATED_KINDS.items():
            _add(rows[kind], -Decimal(settlement.used[field]))  # the CHECK keeps it ≥ 0
        hospital = settlement.kind == SettlementKind.HOSPITAL
        if return_goods and settlement.dispensing_id:
            _return_goods(actor, settlement, key, reason)
        elif return_goods and hospital:
            from .hospital import give_back_plan

            give_back_plan(settlement, actor=actor)
        goods_returned = return_goods and (bool(settlement.dispensing_id) or hospital)
        transition(
            settlement,
            SettlementStatus.REVERSED,
            actor=actor,
            reason=reason,
            role=role or Role.PHARMACIST,
            changes={
                "reversed_at": timezone.now(),
                "reversed_by": actor,
                "reversal_reason": reason[:200],
                "reversal_key": key,
                "goods_returned": goods_returned,
                "reversal_upload_status": UploadStatus.PENDING,
            },
            goods_returned=goods_returned,
        )
        from dualchannel.core.jobs import enqueue

        enqueue(
            "settlement.upload_reversal",
            {"settlement_id": settlement.pk},
            key=f"reverse:{settlement.pk}",
        )
    return settlement


def _return_goods(actor: User, settlement: Settlement, key: str, reason: str) -> None:
    """The dispensed packages come back: a sale return per line, the plan's quantity restored."""
    from dualchannel.core.locks import lock_ids, lock_rows
    from dualchannel.inventory.models import StockItem, TraceCode
    from dualchannel.inventory.sales import sale_return

    dispensing = settlement.dispensing
    eligibility = dispensing.prescription.eligibility
    lines = list(dispensing.lines.order_by("pk"))
    # every batch, then every code, before the first return writes its audit event (core.locks)
    lock_ids(StockItem, [line.stock_item_id for line in lines if line.stock_item_id])
    lock_rows(
        TraceCode.objects.filter(code__in=[c for line in lines for c in line.trace_codes]),
        order_by="code",
    )
    given_back = Decimal(0)
    for line in lines:
        sale_return(
            actor=actor,
            movement_id=line.movement_id,
            quantity=line.packages,
            trace_codes=line.trace_codes,
            reason=f"退药冲销结算{settlement.settlement_no}：{reason}"[:500],
            idempotency_key=f"{key}:return:{line.pk}"[:80],
        )
        if eligibility is not None and line.drug_id == eligibility.drug_id:
            given_back += line.quantity
    if given_back:
        eligibility_plan_release(actor=actor, eligibility_id=eligibility.pk, quantity=given_back)
