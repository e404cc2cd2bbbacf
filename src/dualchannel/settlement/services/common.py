"""What the counter, the hospital desk and the manual claims share, so a settlement is priced,
recorded and accumulated the same way whichever of them makes it (DESIGN §5.2, §5.5, §6;
HB art. 30–37, CX art. 17): the accumulator scopes and rows, the engine's breakdown, the budget
line, the settlement row with its lines and first history row, the request key and digest of an
idempotent settle, and the queued upload.

Locks are the caller's: take the person's lock (``lock_person``) before ``locked_accumulators``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Subquery
from django.utils import timezone

from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.idempotency import checked_key
from dualchannel.core.jobs import enqueue
from dualchannel.core.models import User
from dualchannel.core.queries import (
    CompiledRead,
    attach,
    attached,
    insert_new,
    keyed_read,
    update_rows,
)
from dualchannel.prescriptions.models import Dispensing, Prescription
from dualchannel.registry.designations import institution_designated
from dualchannel.registry.models import (
    InpatientStay,
    Institution,
    InstitutionKind,
    InsuredPerson,
    PolicyProfile,
)
from dualchannel.registry.out_of_area import OutOfArea
from dualchannel.registry.profiles import cited, profile_or_none, region_citation
from dualchannel.registry.selectors import benefit_status_problem, enrolment_region_on

from .. import error_codes as codes
from .. import rules
from ..engine import Accumulated, Breakdown, LineInput, Person, calculate
from ..models import (
    Accumulator,
    AccumulatorKind,
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
    drug_id: int | None  # None: an item of a hospital's inpatient bill outside the catalogue
    drug_class: str
    quantity: int
    unit: str
    unit_price: Decimal
    standard_amount: Decimal | None
    self_pay_reason: str
    item_name: str = ""  # an inpatient bill's item (bed, examination, a drug) as the bill names it


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
    stay: InpatientStay | None = None  # the registered stay [AH §2(5), CX art. 19]
    # where the person stands when treated here [HB art. 40–41]; None: not asked (local)
    out_of_area: OutOfArea | None = None

    @property
    def settling_institution(self) -> Institution:
        return self.institution or self.dispensing.pharmacy

    @property
    def settled_prescription(self) -> Prescription | None:
        if self.prescription is not None:
            return self.prescription
        return self.dispensing.prescription if self.dispensing is not None else None


def benefit_profile(person: InsuredPerson, on: date | None = None) -> PolicyProfile | None:
    """The enrolment region's profile (on ``on``: after a transfer, the region then in force
    [HB art. 50]): benefits follow 参保地 wherever the person is treated [HB art. 40–41] (its
    deductible per stay, its budget line for a claim); None where none."""
    return profile_or_none(
        person.enrolment_region if on is None else enrolment_region_on(person, on)
    )


def require_direct(area: OutOfArea | None) -> None:
    """A purchase out of area that may not settle directly is refused at the counter or desk:
    the person pays in full and claims at home [HB art. 41, AH §2(5), CX art. 17]."""
    if area is None or area.direct:
        return
    raise Conflict(
        codes.OUT_OF_AREA_NOT_DIRECT,
        cited(
            f"{area.label}：{area.rules_note}",
            region_citation(area.enrolment_region, "out_of_area_claim"),
        ),
    )


def settlement_parameters(priced: Priced) -> dict:
    """The benefit parameters a settlement keeps, with its out-of-area facts when out of area."""
    parameters = rules.parameters_snapshot(priced.rule)
    area = priced.out_of_area
    if area is not None and area.is_out_of_area:
        parameters = {**parameters, "out_of_area": area.as_facts()}
    return parameters


def designated(institution) -> bool:
    return institution_designated(institution.pk)


def accumulator_scopes(
    rule: BenefitRule, on: date, admission: str, stay_deductible: bool
) -> dict[str, str]:
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


def _accumulator_rows(person_id: int, kinds: list[str], scopes: list[str]):
    return Accumulator.objects.filter(
        person_id=person_id, kind__in=kinds, scope__in=scopes
    ).order_by("kind", "scope")


_ACCUMULATORS = CompiledRead(_accumulator_rows, int, [str], [str])
_ACCUMULATORS_LOCKED = CompiledRead(
    lambda *args: _accumulator_rows(*args).select_for_update(), int, [str], [str]
)


def accumulators(person: InsuredPerson, scopes: dict[str, str], *, lock: bool) -> dict:
    """The person's rows for these scopes, created at zero when new; locked in a fixed order."""
    keys = sorted(scopes.items())
    if lock:
        insert_new(
            [Accumulator(person=person, kind=k, scope=s) for k, s in keys], ignore_conflicts=True
        )
    # one statement; locked in (kind, scope) order, after the person's lock (the kinds' and
    # scopes' product: the person's other pairs of them, if any, are locked too)
    read = _ACCUMULATORS_LOCKED if lock else _ACCUMULATORS
    rows = read.all(person.pk, sorted({k for k, _ in keys}), sorted({s for _, s in keys}))
    found = {(row.kind, row.scope): row for row in rows}
    return {
        kind: found.get((kind, scope)) or Accumulator(person=person, kind=kind, scope=scope)
        for kind, scope in keys
    }


def _accumulated(rows: dict) -> Accumulated:
    return Accumulated(**{field: rows[kind].amount for field, kind in ACCUMULATED_KINDS.items()})


def require_benefits(person: InsuredPerson) -> None:
    """Only a person whose benefits are in force is settled with the fund [HB art. 2, CX art. 5]
    (the registry's rule, also checked at application and at prescribing)."""
    problem = benefit_status_problem(person)
    if problem:
        raise DomainError(codes.NO_INSURANCE, problem)


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
    return accumulator_scopes(rule, on, admission, stay_deductible)


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

    if (
        institution.kind == InstitutionKind.PHARMACY
        and profile is not None
        and profile.pharmacy_spend_outside_hospital_budget
    ):
        return BudgetLine.PHARMACY_SEPARATE
    return BudgetLine.HOSPITAL_GLOBAL


def request_digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def request_key(idempotency_key: str | None) -> str:
    return checked_key(idempotency_key, code=codes.KEY_REQUIRED)


_BY_KEY = keyed_read(Settlement, "institution_id")


def settlement_replay(institution_id: int, key: str, digest: str) -> Settlement | None:
    """The settlement this key already made (the same request replayed), else None."""
    found = _BY_KEY.one(institution_id, key)
    if found is not None and found.request_digest != digest:
        raise Conflict(codes.KEY_REUSED, "该幂等键已用于另一笔结算")
    if found is not None:
        found.replayed = True  # the API answers it 200
    return found


def lock_person(person_id: int) -> InsuredPerson:
    """The person's lock serialises every settlement and reversal of that person."""
    return InsuredPerson.objects.select_for_update(no_key=True).get(pk=person_id)


def _patient_locked(prescription_id: int, pharmacy_id: int | None = None):
    named = Prescription.objects.filter(pk=prescription_id)
    if pharmacy_id is not None:
        named = named.filter(pharmacy_id=pharmacy_id)
    return (
        InsuredPerson.objects.select_for_update(no_key=True)
        .filter(pk=Subquery(named.order_by().values("patient_id")[:1]))
        .order_by()[:1]
    )


_PATIENT_LOCKED = {  # compiled once per process: of a pharmacy's prescription, of any
    True: CompiledRead(_patient_locked, int, int),
    False: CompiledRead(_patient_locked, int),
}


def lock_patient_of(prescription_id: int, pharmacy_id: int | None) -> InsuredPerson | None:
    """``lock_person`` for the patient of a prescription routed to ``pharmacy_id`` (None: any),
    in one statement (the person named by a subquery); None when there is no such prescription
    (the caller then says why)."""
    if pharmacy_id is None:
        return _PATIENT_LOCKED[False].one(prescription_id)
    return _PATIENT_LOCKED[True].one(prescription_id, pharmacy_id)


def locked_accumulators(person: InsuredPerson, scopes: dict[str, str]) -> dict:
    """The person's accumulator rows for ``scopes``, created when new, locked in a fixed order
    (take the person's lock first)."""
    return accumulators(person, scopes, lock=True)


def add_used(rows: dict, breakdown: Breakdown) -> None:
    """Advance each accumulator by what the settlement used, in one statement (rows locked)."""
    now = timezone.now()
    moved = []
    for field, kind in ACCUMULATED_KINDS.items():
        amount = getattr(breakdown.used, field)
        if amount:
            row = rows[kind]
            row.amount += amount
            row.updated_at = now
            moved.append(row)
    if moved:
        update_rows(moved, ["amount", "updated_at"])


def accumulator_add(row: Accumulator, amount: Decimal) -> None:
    if not amount:
        return
    row.amount += amount
    row.updated_at = timezone.now()
    row.save(update_fields=["amount", "updated_at"])


def _settlement_lines(settlement: Settlement, priced: Priced) -> list[SettlementLine]:
    """The settlement's lines: each priced line with the engine's result for it."""
    return [
        SettlementLine(
            settlement=settlement,
            position=position,
            drug_id=line.drug_id,
            item_name=line.item_name,
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
        for position, (line, result) in enumerate(
            zip(priced.lines, priced.breakdown.lines, strict=True), 1
        )
    ]


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
    settlement = Settlement(
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
        parameters=settlement_parameters(priced),
        scopes=priced.scopes,
        budget_line=priced.budget_line,
        settled_on=priced.settled_on,
        inpatient_admission_no=priced.admission.split(":", 1)[-1],
        stay=priced.stay,
        used={field: str(getattr(b.used, field)) for field in ACCUMULATED_KINDS},
        idempotency_key=key,
        request_digest=digest,
        settled_by=actor,
        upload_status=upload_status,
        **{name: getattr(b, name) for name in BREAKDOWN_FIELDS},
    )
    insert_new([settlement])
    # a number people can read: the day and the row's own id, never a shared counter row
    settlement.settlement_no = f"JS{priced.settled_on:%Y%m%d}{settlement.pk:08d}"
    update_rows([settlement], ["settlement_no"])
    lines = _settlement_lines(settlement, priced)
    insert_new(lines)
    # the answer is made from the rows written: the lines' drugs as the dispensing's lines
    # were read with them (the counter's pricing), else they are read when asked for
    known = {
        line.drug_id: line.drug
        for line in attached(priced.dispensing, "lines") or ()
        if line.drug_id is not None
    }
    for line in lines:
        if line.drug_id in known:
            line.drug = known[line.drug_id]
    attach(settlement, "lines", lines)
    insert_new(
        [
            SettlementTransition(
                settlement=settlement,
                from_status="",
                to_status=SettlementStatus.SETTLED,
                actor=actor,
                reason=reason,
            )
        ]
    )
    return settlement


def queue_upload(settlement: Settlement) -> None:

    enqueue(
        "settlement.upload",
        {"settlement_id": settlement.pk},
        key=f"settle:{settlement.pk}",
        new_key=True,  # the settlement was created in this transaction
        institution_id=settlement.institution_id,
    )
