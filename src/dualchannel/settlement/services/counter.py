"""Settling a dispensing with the fund at the pharmacy counter, and reversing it (DESIGN §5.2(5),
§6; HB art. 30–35, CX art. 17).

One transaction each. Locks, always in this order: the dispensing (or the settlement), then the
insured person, then the person's accumulator rows sorted by (kind, scope). The person's lock
serialises every settlement and reversal of that person, so accumulators stay exact under
concurrent counters; the partial unique constraint on live settlements per dispensing backs up
"settled once" even if a lock were forgotten.

The helpers that price, lock, write and accumulate are in ``common.py``, shared with the hospital
desk (``hospital.py``) and the manual claims (``claims.py``), so a claim is computed and recorded
exactly like a counter settlement. A manual settlement is never reversed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from dualchannel.core import audit, refcache
from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.jobs import enqueue
from dualchannel.core.locks import lock_ids, lock_rows
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.queries import CompiledRead, attach
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.selectors import eligibility_benefits_active
from dualchannel.eligibility.services.plan import eligibility_plan_release
from dualchannel.inventory.models import StockItem, TraceCode
from dualchannel.inventory.sales import sale_return
from dualchannel.inventory.selectors import sold_as_donation
from dualchannel.prescriptions.models import (
    Dispensing,
    DispensingLine,
    Prescription,
    PrescriptionStatus,
)
from dualchannel.registry.models import InpatientStay
from dualchannel.registry.out_of_area import OutOfArea, out_of_area_of
from dualchannel.registry.profiles import profile_for, profile_of
from dualchannel.registry.selectors import enrolment_region_on, filing_form_problem, stay_at

from .. import error_codes as codes
from .. import payable, rules
from ..models import (
    BatchStatus,
    BenefitCategory,
    BenefitRule,
    RecoveryStatus,
    Settlement,
    SettlementKind,
    SettlementStatus,
    StayCharge,
    StayChargeStatus,
    UploadStatus,
    claim_reason_for,
)
from ..restriction import INPATIENT, OUTPATIENT, RestrictionCheck
from ..surveillance import settlement_follow
from .common import (
    ACCUMULATED_KINDS,
    Priced,
    PricedLine,
    accumulator_add,
    accumulators,
    add_used,
    benefit_profile,
    benefit_scopes,
    breakdown_of,
    budget_line_for,
    designated,
    lock_patient_of,
    lock_person,
    locked_accumulators,
    queue_upload,
    request_digest,
    request_key,
    require_benefits,
    require_direct,
    settlement_replay,
    write_settlement,
)
from .hospital import give_back_plan
from .online_paid import queue_online_refund, require_payable_here

# who reverses a settlement of each kind at its institution (a manual one is never reversed here)
REVERSED_BY = {
    SettlementKind.PHARMACY: Role.PHARMACIST,
    SettlementKind.HOSPITAL: Role.REVIEWER,
}


# --- context -----------------------------------------------------------------------------------


_DISPENSING_JOINS = (
    "prescription",
    "prescription__hospital",
    "prescription__eligibility__application__criteria_set",  # the restriction's set
    "prescription__patient__enrolment_region",
    "pharmacy",
    "pharmacy__region",
)


def _dispensing_read(*, lock: bool) -> CompiledRead:
    def build(prescription_id: int):
        qs = Dispensing.objects.select_related(*_DISPENSING_JOINS)
        if lock:
            qs = qs.select_for_update(of=("self",)).annotate(
                # what ``_check_not_settled`` asks, read in the lock's own statement
                settled_already=Exists(
                    Settlement.objects.filter(
                        dispensing=OuterRef("pk"), status=SettlementStatus.SETTLED
                    )
                ),
                goods_returned_already=Exists(
                    Settlement.objects.filter(dispensing=OuterRef("pk"), goods_returned=True)
                ),
                billed_in_stay_already=Exists(StayCharge.objects.filter(dispensing=OuterRef("pk"))),
            )
        return qs.filter(prescription_id=prescription_id).order_by()[:1]

    return CompiledRead(build, int)


_DISPENSING = {lock: _dispensing_read(lock=lock) for lock in (False, True)}
_LINES = CompiledRead(  # a dispensing's lines, what pricing reads of them
    lambda dispensing_id: (
        DispensingLine.objects.select_related("drug", "item", "stock_item")
        .filter(dispensing_id=dispensing_id)
        .order_by("pk")
    ),
    int,
)


def _dispensing_for(actor: User, prescription_id: int, *, lock: bool) -> Dispensing:
    """The dispensing of a prescription routed to the actor's pharmacy, with its prescription,
    people and places in one statement (locked when settling: see ``_settling``)."""

    require_role(actor, Role.PHARMACIST)
    dispensing = _DISPENSING[lock].one(prescription_id)
    prescription = (
        dispensing.prescription
        if dispensing is not None
        else Prescription.objects.filter(pk=prescription_id).first()  # only to say why not
    )
    if prescription is None or not (
        actor.is_superuser or actor.institution_id == prescription.pharmacy_id
    ):
        raise NotFound(codes.NOT_FOUND, "处方不存在或未流转至本药店")
    if dispensing is None or prescription.status != PrescriptionStatus.DISPENSED:
        raise Conflict(codes.NOT_DISPENSED, "处方尚未发药，不能结算")
    return dispensing


def _settling(actor: User, prescription_id: int) -> Dispensing:
    """Lock in core.locks order the person, then the dispensing (with what
    ``_check_not_settled`` reads): two statements.

    The person is named by a subquery in the lock's statement (a prescription's patient never
    changes). The person's lock serialises every settlement, stay charge and reversal of that
    person, and is taken by an earlier statement than the dispensing's: the latter's snapshot
    (READ COMMITTED) already holds whatever a concurrent one of them committed."""
    # a pharmacist without a pharmacy names none (0): the read below says why not
    lock_patient_of(prescription_id, None if actor.is_superuser else actor.institution_id or 0)
    return _dispensing_for(actor, prescription_id, lock=True)


def _price(
    dispensing: Dispensing, on: date, *, inpatient: bool = False
) -> tuple[BenefitRule, str, list[PricedLine], str]:
    prescription = dispensing.prescription
    person = prescription.patient
    require_benefits(person)
    # AH §2(5): an inpatient's purchase at the pharmacy is paid under the inpatient policy
    category = BenefitCategory.INPATIENT if inpatient else prescription.benefit_type
    enrolment_region = enrolment_region_on(person, on)  # 参保地 on the day
    rule = rules.benefit_rule_for(
        region=enrolment_region,  # 参保地待遇 (the insured's own pooling region)
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
        "institution_designated": designated(dispensing.pharmacy),
        "has_valid_prescription": prescription.valid_until >= on,
        # AH annex note 3(2): bought while staying at a hospital not designated for it
        "inpatient_at_non_designated": inpatient and not designated(prescription.hospital),
    }
    # HB art. 31(5), 36: each line against its drug's payment restriction (``restriction``)
    restriction = RestrictionCheck(
        region=enrolment_region,
        diagnoses=[prescription.diagnosis_code],
        setting=INPATIENT if inpatient else OUTPATIENT,
    )
    priced = []
    lines = _LINES.all(dispensing.pk)
    attach(dispensing, "lines", lines)  # ``dispensing.lines.all()`` from memory from here on
    for line in lines:
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
        standing = rules.standing_of(
            line.drug, region=dispensing.pharmacy.region, profile=profile, on=on
        )
        reason = payable.nonpayable_reason(
            payable.LineFacts(
                **rules.listing_facts(standing),
                within_restriction=restriction.within(line.drug, eligibility),
                # HB art. 31(7): a box of stock received as a donation
                donated=sold_as_donation(
                    line.stock_item_id,
                    line.trace_codes,
                    batch_donated=bool(stock and stock.donated),  # read with the line
                ),
                **facts_common,
            )
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


def _admission(dispensing: Dispensing, admission_no: str) -> tuple[str, InpatientStay | None]:
    """The stay a purchase belongs to: the prescribing hospital and its admission number, and
    the stay registered under it (if the hospital registered it); a registered stay of another
    person is refused."""
    number = (admission_no or "").strip()
    if not number:
        return "", None
    if len(number) > 30:
        raise DomainError(
            codes.INVALID_ADMISSION,
            "住院号不超过30个字符",
            fields={"inpatient_admission_no": ["过长"]},
        )
    prescription = dispensing.prescription
    stay = stay_at(prescription.hospital_id, number)
    if stay is not None and stay.person_id != prescription.patient_id:
        raise DomainError(
            codes.STAY_OTHER_PERSON,
            "该住院号登记的不是本处方的参保人",
            fields={"inpatient_admission_no": ["不是本人的住院号"]},
        )
    return f"{prescription.hospital_id}:{number}", stay


def billed_in_stay(dispensing: Dispensing) -> bool:
    """CX art. 19: the prescribing hospital's profile bills external drugs in the stay."""
    profile = profile_of(dispensing.prescription.hospital)
    return profile is not None and profile.inpatient_external_drugs_in_stay


def require_valid_filing_form(prescription: Prescription) -> None:
    """AH annex: an inpatient filing form is valid only once the hospital's insurance office
    approved it (医院医保办审核意见)."""
    problem = filing_form_problem(prescription.filing_form_id)
    if problem:
        raise Conflict(codes.FILING_NOT_REVIEWED, problem)


def _compute(dispensing: Dispensing, rows_for, *, admission_no: str = "") -> tuple[Priced, dict]:
    """The breakdown under the enrolment region's benefits (参保地待遇: rule, deductible,
    ceilings, accumulators) with the pharmacy's drug list in force (就医地目录) [HB art. 40–41]."""
    on = timezone.localdate(dispensing.dispensed_at)
    admission, stay = _admission(dispensing, admission_no)
    rule, category, lines, profile = _price(dispensing, on, inpatient=bool(admission))
    person = dispensing.prescription.patient
    area: OutOfArea = out_of_area_of(person, dispensing.pharmacy.region, on)
    home = benefit_profile(person) if area.is_out_of_area else profile
    scopes = benefit_scopes(rule, home, category, on, admission)
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
        stay=stay,
        out_of_area=area,
    ), rows


# --- preview, settle, reverse ---------------------------------------------------------------


@refcache.reading()  # the reference data's versions read once (core.refcache)
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
        lambda person, scopes: accumulators(person, scopes, lock=False),
        admission_no=inpatient_admission_no,
    )
    return priced


@refcache.reading()
def settlement_settle(
    *,
    actor: User,
    prescription_id: int,
    idempotency_key: str,
    inpatient_admission_no: str = "",
    paid_online: bool = False,
) -> Settlement:
    """Settle a dispensed prescription (2102): the person pays only their part [CX art. 17].
    ``inpatient_admission_no`` as for ``settlement_preview``; ``paid_online``: the personal part
    was paid on the phone (an online order shipping, ``online.py``), else the counter takes it."""
    key = request_key(idempotency_key)
    admission_no = (inpatient_admission_no or "").strip()
    body = {"prescription_id": prescription_id}
    digest = request_digest(body | {"admission": admission_no} if admission_no else body)
    with transaction.atomic():
        dispensing = _settling(actor, prescription_id)
        replay = settlement_replay(dispensing.pharmacy_id, key, digest)
        if replay is not None:
            return replay
        _check_not_settled(dispensing)
        require_payable_here(dispensing, paid_online=paid_online)
        require_valid_filing_form(dispensing.prescription)
        if admission_no and billed_in_stay(dispensing):
            # CX art. 19: not settled at the counter; billed to the stay (``stay_charge_record``)
            raise Conflict(
                codes.BILLED_IN_STAY,
                "本统筹区住院期间院外购药计入住院费用，请记入住院账单，由医院随住院费用结算",
            )
        priced, rows = _compute(dispensing, locked_accumulators, admission_no=admission_no)
        require_direct(priced.out_of_area)  # HB art. 41: otherwise self-pay, claimed at home
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
        queue_upload(settlement)
        settlement_follow(settlement)  # monitoring rules, queued after the commit
    return settlement


def _check_not_settled(dispensing: Dispensing) -> None:
    """Read with the dispensing's lock (``_dispensing_for(lock=True)``)."""
    if dispensing.settled_already:
        raise Conflict(codes.ALREADY_SETTLED, "该笔发药已结算，不能重复结算")
    if dispensing.goods_returned_already:
        raise Conflict(codes.GOODS_RETURNED, "该笔发药已退药冲销，不能再结算")
    if dispensing.billed_in_stay_already:
        raise Conflict(codes.ALREADY_SETTLED, "该笔发药已计入住院费用，由医院随住院费用结算")


@refcache.reading()
def stay_charge_record(
    *, actor: User, prescription_id: int, inpatient_admission_no: str, idempotency_key: str
) -> StayCharge:
    """CX art. 19: an inpatient's purchase where the profile bills external drugs in the stay is
    not settled at the counter: the counter records the sale (already dispensed) and bills it to
    the stay registered by the hospital; the hospital settles it with the stay's bill
    (``hospital_stay.stay_bill_settle``). Each line is priced as the counter would (inpatient
    setting, with its non-payable reason)."""
    key = request_key(idempotency_key)
    number = (inpatient_admission_no or "").strip()
    if not number:
        raise DomainError(
            codes.INVALID_ADMISSION,
            "请填写住院号",
            fields={"inpatient_admission_no": ["必填"]},
        )
    with transaction.atomic():
        dispensing = _settling(actor, prescription_id)
        seen = StayCharge.objects.filter(dispensing=dispensing).first()
        if seen is not None and seen.idempotency_key == key:
            return seen  # the same request replayed
        if not billed_in_stay(dispensing):
            raise DomainError(
                codes.NOT_BILLED_IN_STAY,
                "本统筹区住院期间院外购药由药店直接结算，不计入住院费用",
            )
        _check_not_settled(dispensing)
        require_valid_filing_form(dispensing.prescription)
        _, stay = _admission(dispensing, number)
        if stay is None:
            raise NotFound(
                codes.STAY_NOT_FOUND,
                "开方医院未登记该住院号，请医院医保办先登记住院",
            )
        on = timezone.localdate(dispensing.dispensed_at)
        _, _, lines, _ = _price(dispensing, on, inpatient=True)
        charge = StayCharge.objects.create(
            stay=stay,
            dispensing=dispensing,
            pharmacy=dispensing.pharmacy,
            total=sum((line.unit_price * line.quantity for line in lines), Decimal("0.00")),
            lines=[charge_line(line) for line in lines],
            idempotency_key=key,
            recorded_by=actor,
        )
        audit.record(
            actor=actor,
            action="settlement.stay_charge_billed",
            subject=charge,
            after=charge,
            patient=stay.person,
            role=Role.PHARMACIST,
            summary={"stay": stay.pk, "total": str(charge.total), "to": "billed"},
        )
    return charge


def charge_line(line: PricedLine) -> dict:
    """A priced line as kept on a stay charge (strings for the amounts)."""
    return {
        "dispensing_line_id": line.dispensing_line_id,
        "drug_id": line.drug_id,
        "drug_class": line.drug_class,
        "quantity": line.quantity,
        "unit": line.unit,
        "unit_price": str(line.unit_price),
        "standard_amount": None if line.standard_amount is None else str(line.standard_amount),
        "self_pay_reason": line.self_pay_reason,
    }


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
    key = request_key(idempotency_key)
    reason = _clean_reversal_reason(reason)
    require_role(actor, Role.PHARMACIST, Role.REVIEWER)
    with transaction.atomic():
        found, role = _find_for_reversal(actor, settlement_id)
        settlement = _reversal_locked(found, return_goods=return_goods)
        if _check_reversible(settlement, key):
            return settlement  # the same reversal replayed
        _write_reversal(
            actor, settlement, key=key, reason=reason, role=role, return_goods=return_goods
        )
        queue_online_refund(settlement)  # the personal part paid on the phone goes back
    return settlement


@dataclass(frozen=True)
class SelfPaySale:
    """A purchase out of area that the counter may not settle with the fund: the person pays
    it all and claims at home [HB art. 41, AH §2(5), CX art. 17]. Nothing is written: the sale
    is the dispensing itself (uploaded to the platform as a self-pay sale, 3505
    ``mdtrt_setl_type`` 2); the receipt says why and what to claim."""

    dispensing: Dispensing
    area: OutOfArea
    total: Decimal

    @property
    def claim_reason(self) -> str | None:
        """The reason to claim it under at home (跨省未备案 or 省内跨地区) [HB art. 41]."""
        return claim_reason_for(self.area.kind)


def self_pay_sale(*, actor: User, prescription_id: int) -> SelfPaySale:
    """The self-pay sale of a dispensed prescription that may not settle directly here."""
    dispensing = _dispensing_for(actor, prescription_id, lock=False)
    on = timezone.localdate(dispensing.dispensed_at)
    person = dispensing.prescription.patient
    area = out_of_area_of(person, dispensing.pharmacy.region, on)
    if area.direct:
        raise Conflict(codes.OUT_OF_AREA_DIRECT, "本次购药可直接结算，请使用医保结算")
    if Settlement.objects.filter(dispensing=dispensing, status=SettlementStatus.SETTLED).exists():
        raise Conflict(codes.ALREADY_SETTLED, "该笔发药已结算")
    total = sum(
        (line.unit_price * line.packages for line in dispensing.lines.all()), Decimal("0.00")
    )
    return SelfPaySale(dispensing=dispensing, area=area, total=total)


def _clean_reversal_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(codes.REASON_REQUIRED, "请填写冲销原因", fields={"reason": ["必填"]})
    return reason


def _find_for_reversal(actor: User, settlement_id: int) -> tuple[Settlement, str | None]:
    """An unlocked read checks the scope; returns the settlement and the role that reverses it."""
    found = Settlement.objects.filter(pk=settlement_id).select_related("prescription").first()
    role = REVERSED_BY.get(found.kind) if found is not None else None
    if found is None or not (
        actor.is_superuser
        or (actor.institution_id == found.institution_id and (role is None or actor.has_role(role)))
    ):
        raise NotFound(codes.NOT_FOUND, "结算记录不存在或不属于本机构")
    return found, role


def _reversal_locked(found: Settlement, *, return_goods: bool) -> Settlement:
    """Locks in core.locks order: the person, the eligibility (its plan is given back), the
    settlement; the accumulators, batches and codes follow in ``_write_reversal``."""
    lock_person(found.person_id)
    eligibility_id = found.prescription.eligibility_id if found.prescription else None
    if return_goods and eligibility_id:
        Eligibility.objects.select_for_update(no_key=True).get(pk=eligibility_id)
    return (
        Settlement.objects.select_for_update(of=("self",)).select_related("person").get(pk=found.pk)
    )


def _check_reversible(settlement: Settlement, key: str) -> bool:
    """Refuse what may not be reversed; True when this is the same reversal replayed."""
    if settlement.kind == SettlementKind.MANUAL:
        # the agency paid the person back [HB art. 37]: not the counter's to undo
        raise Conflict(codes.MANUAL_NOT_REVERSIBLE, "手工（零星）报销结算不能在柜台冲销")
    if settlement.status == SettlementStatus.REVERSED:
        if settlement.reversal_key == key:
            return True
        raise Conflict(codes.ALREADY_REVERSED, "该笔结算已冲销，不能再次冲销")
    if settlement.batch_id and settlement.batch.status in (
        BatchStatus.APPLIED,
        BatchStatus.APPROVED,
    ):
        # HB art. 33: the month was applied for with it; the agency must send it back first
        raise Conflict(codes.IN_APPLIED_BATCH, "该笔结算所在的月度申报已提交，不能冲销")
    if settlement.recovery_items.filter(
        order__status__in=(RecoveryStatus.PENDING, RecoveryStatus.DEDUCTED)
    ).exists():
        # HB art. 21–22: the fund's part is being recovered; reversing would take it back twice
        raise Conflict(
            codes.RECOVERY_OPEN, "该笔结算已列入基金追回单，须经办机构撤销追回单后方可冲销"
        )
    return False


def _write_reversal(
    actor: User,
    settlement: Settlement,
    *,
    key: str,
    reason: str,
    role: str | None,
    return_goods: bool,
) -> None:
    """Accumulators back, goods (or a hospital's plan) back, the transition, the upload job."""
    # the stay's charges locked at the settlement's level, before the accumulators; moved (with
    # their audit events, which take the audit head) after them (core.locks)
    charges = list(settlement.stay_charges.select_for_update().order_by("pk"))
    rows = locked_accumulators(settlement.person, settlement.scopes)
    for field, kind in ACCUMULATED_KINDS.items():
        accumulator_add(rows[kind], -Decimal(settlement.used[field]))  # the CHECK keeps it ≥ 0
    for charge in charges:
        # CX art. 19: the pharmacy's purchases go back on the stay's bill, to be settled again
        transition(
            charge,
            StayChargeStatus.BILLED,
            actor=actor,
            reason=reason,
            role=Role.REVIEWER,
            changes={"settlement": None},
        )
    hospital = settlement.kind == SettlementKind.HOSPITAL
    if return_goods and settlement.dispensing_id:
        _return_goods(actor, settlement, key, reason)
    elif return_goods and hospital:
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

    enqueue(
        "settlement.upload_reversal",
        {"settlement_id": settlement.pk},
        key=f"reverse:{settlement.pk}",
    )


def _return_goods(actor: User, settlement: Settlement, key: str, reason: str) -> None:
    """The dispensed packages come back: a sale return per line, the plan's quantity restored."""

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
