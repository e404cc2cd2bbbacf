"""Deciding a manual (零星) claim at the agency [HB art. 37, AH §2(5), CX art. 17; DESIGN §5.5]:
``claim_decide`` approves it — a settlement of kind MANUAL at the purchase institution, priced
with the same engine, non-payable rules and accumulators as a counter settlement — or rejects it
with a note. The facts of the non-payable rules and the lock order are set out in ``claims``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from dualchannel.catalog.models import Drug
from dualchannel.core import audit
from dualchannel.core.errors import NotFound, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.selectors import eligibility_benefits_active
from dualchannel.inventory.selectors import sold_as_donation
from dualchannel.prescriptions.models import Dispensing, Prescription, PrescriptionStatus
from dualchannel.registry.models import (
    Designation,
    DesignationStatus,
    Institution,
    InsuredPerson,
)
from dualchannel.registry.out_of_area import out_of_area_of
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.selectors import enrolment_region_on

from .. import error_codes as codes
from .. import payable, rules
from ..models import (
    CLAIM_MACHINE,
    BenefitCategory,
    ClaimStatus,
    ManualClaim,
    Settlement,
    SettlementKind,
    SettlementStatus,
    UploadStatus,
)
from ..restriction import INPATIENT, OUTPATIENT, RestrictionCheck
from . import common
from .claims import (
    NOTE_MAX,
    agency_region,
    dispensing_of,
    not_settled_directly,
    refuse,
    region_covers,
)

# --- decide ------------------------------------------------------------------------------------


def designated_on(institution: Institution, on: date) -> bool:
    """Whether the institution held an active dual-channel designation on ``on``: active now
    (since its start), exited after that day, or suspended after it (by its history)."""
    designations = Designation.objects.filter(
        institution=institution,
        status__in=(
            DesignationStatus.ACTIVE,
            DesignationStatus.SUSPENDED,
            DesignationStatus.EXITED,
        ),
    )
    for d in designations:
        if d.effective_from is not None and d.effective_from > on:
            continue
        if d.status == DesignationStatus.ACTIVE:
            return True
        if d.status == DesignationStatus.EXITED and d.exited_on is not None and d.exited_on > on:
            return True
        if d.status == DesignationStatus.SUSPENDED:
            since = d.history.filter(to_status=DesignationStatus.SUSPENDED).order_by("-at").first()
            if since is not None and timezone.localdate(since.at) > on:
                return True
    return False


def _prescription_valid(prescription: Prescription | None, on: date) -> bool:
    if prescription is None:
        return True  # the paper prescription is among the receipts the officer approves
    return (
        prescription.status != PrescriptionStatus.CANCELLED
        and timezone.localdate(prescription.issued_at) <= on <= prescription.valid_until
    )


def _eligibility_facts(
    person: InsuredPerson, prescription: Prescription | None, drug: Drug, on: date
) -> tuple[bool, bool, Eligibility | None]:
    """(has an eligibility for the drug, its benefits were active on ``on``, the eligibility the
    line is under: the prescription's, else one active on ``on``, else the latest)."""
    own = prescription.eligibility if prescription is not None else None
    found: list[Eligibility] = [own] if own is not None and own.drug_id == drug.pk else []
    if not found:
        found = list(
            Eligibility.objects.filter(patient=person, drug=drug)
            .select_related("application__criteria_set")
            .order_by("-effective_from", "-pk")
        )
    active = [e for e in found if eligibility_benefits_active(e, on=on)]
    under = (active or found or [None])[0]
    return bool(found), bool(active), under


def _claim_restriction(
    claim: ManualClaim, person: InsuredPerson, prescription: Prescription | None
) -> RestrictionCheck:
    """HB art. 31(5), 36: the lines against their drugs' payment restriction, on the electronic
    prescription's diagnosis (none with a paper prescription: the diagnosis clauses are then
    unknown, and a line under an eligibility is judged on the eligibility's own set)."""
    return RestrictionCheck(
        region=enrolment_region_on(person, claim.purchased_on),
        diagnoses=[prescription.diagnosis_code] if prescription is not None else [],
        setting=INPATIENT if claim.category == BenefitCategory.INPATIENT else OUTPATIENT,
    )


def _donated_drugs(dispensing: Dispensing | None) -> set[int]:
    """HB art. 31(7): the drugs the counter dispensed from donated stock, when the claim is for
    a dispensing (its lines are the receipt's, so a drug any of whose boxes was donated)."""
    if dispensing is None:
        return set()
    return {
        line.drug_id
        for line in dispensing.lines.order_by("pk")
        if sold_as_donation(line.stock_item_id, line.trace_codes)
    }


def _price_claim(claim: ManualClaim, person: InsuredPerson, dispensing: Dispensing | None = None):
    """The claim's rule, profile and priced lines, with the non-payable facts of its purchase."""
    on = claim.purchased_on
    prescription = claim.prescription
    institution = claim.institution
    common.require_benefits(person)
    level = (
        prescription.hospital.hospital_level
        if prescription is not None
        else institution.hospital_level
    )
    rule = rules.benefit_rule_for(
        region=enrolment_region_on(person, on),  # 参保地待遇 on the day, as at the counter
        insurance_type=person.insurance_type,
        category=claim.category,
        hospital_level=level,
        on=on,
    )
    # the purchase place's drug list and prices (就医地目录; national defaults where that place
    # has no profile, e.g. another province's pharmacy [HB art. 41])
    profile = profile_of(institution)
    province = rules.province_of(institution.region)
    designated = designated_on(institution, on)
    valid = _prescription_valid(prescription, on)
    on_prescription = (
        set(prescription.items.values_list("drug_id", flat=True)) if prescription else None
    )
    drugs = Drug.objects.in_bulk([line["drug_id"] for line in claim.lines])
    restriction = _claim_restriction(claim, person, prescription)
    donated = _donated_drugs(dispensing)
    priced = []
    for line in claim.lines:
        drug = drugs[line["drug_id"]]
        quantity = int(line["quantity"])
        standard = rules.package_standard(
            drug,
            profile=profile,
            province=province,
            manufacturer=line.get("manufacturer", ""),
            specification=line.get("specification", ""),
            unit=line.get("unit", ""),
            package_unit=line.get("package_unit") or "盒",
            pack_size=Decimal(line.get("pack_size") or 1),
            on=on,
        )
        has_eligibility, active, under = _eligibility_facts(person, prescription, drug, on)
        reason = payable.nonpayable_reason(
            payable.LineFacts(
                **rules.listing_facts(
                    rules.standing_of(drug, region=institution.region, profile=profile, on=on)
                ),
                has_eligibility=has_eligibility,
                eligibility_active=active,
                institution_designated=designated,
                has_valid_prescription=valid
                and (on_prescription is None or drug.pk in on_prescription),
                within_restriction=restriction.within(drug, under),
                donated=drug.pk in donated,
            )
        )
        priced.append(
            common.PricedLine(
                dispensing_line_id=None,
                drug_id=drug.pk,
                drug_class=line.get("drug_class") or drug.drug_class or "乙",
                quantity=quantity,
                unit=line.get("package_unit") or "盒",
                unit_price=Decimal(line["unit_price"]),
                standard_amount=None if standard is None else standard.amount * quantity,
                self_pay_reason=reason,
            )
        )
    return rule, profile, priced


def _lock_claim(actor: User, claim_id: int, *, lock: bool = True) -> ManualClaim:
    region = agency_region(actor)
    qs = ManualClaim.objects.select_for_update(of=("self",)) if lock else ManualClaim.objects
    claim = (
        qs.select_related(
            "person",
            "person__enrolment_region",
            "institution",
            "institution__region",
            "prescription",
            "prescription__hospital",
            "prescription__eligibility",
        )
        .filter(pk=claim_id)
        .first()
    )
    if claim is None or not region_covers(region, claim.person):
        raise NotFound(codes.CLAIM_NOT_FOUND, "报销申请不存在或不属于本经办机构")
    return claim


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def claim_decide(*, actor: User, claim_id: int, approve: bool, note: str = "") -> ManualClaim:
    """Approve a claim (computed and settled like the counter, kind MANUAL) or reject it with a
    note. A decided claim is never decided again."""
    note = (note or "").strip() if isinstance(note, str) else ""
    if len(note) > NOTE_MAX:
        raise refuse(codes.CLAIM_NOTE_TOO_LONG, f"审核意见不得超过 {NOTE_MAX} 字", "note")
    target = ClaimStatus.APPROVED if approve else ClaimStatus.REJECTED
    if not approve and not note:
        raise refuse(codes.CLAIM_NOTE_REQUIRED, "不予报销时请说明原因", "note")
    with transaction.atomic():
        if approve:
            # core.locks order: the person and the dispensing the settlement takes (named by an
            # unlocked read), then the claim
            found = _lock_claim(actor, claim_id, lock=False)
            common.lock_person(found.person_id)
            dispensing_of(found.prescription, lock=True)
        claim = _lock_claim(actor, claim_id)
        CLAIM_MACHINE.check(claim.status, target)
        if claim.submitted_by_id == actor.pk and not actor.is_superuser:
            # four eyes: the officer who entered the claim does not decide it
            raise PermissionDenied(codes.CLAIM_SAME_OFFICER, "手工报销须由录入人以外的经办人员审核")
        settlement = _settle(actor, claim) if approve else None
        facts: dict[str, Any] = {}
        if settlement is not None:
            facts = {
                "settlement_no": settlement.settlement_no,
                "total": str(settlement.total),
                "fund": str(settlement.fund),
                "personal": str(settlement.personal),
            }
        transition(
            claim,
            target,
            actor=actor,
            reason=note,
            changes={
                "settlement": settlement,
                "decision_note": note,
                "decided_by": actor,
                "decided_at": timezone.now(),
            },
            **facts,
        )
    return claim


def _settle(actor: User, claim: ManualClaim) -> Settlement:
    """The claim's settlement: the same engine, rules and accumulators as the counter."""
    dispensing = dispensing_of(claim.prescription, lock=True)
    not_settled_directly(claim.prescription, dispensing, claim.institution, claim_id=claim.pk)
    person = common.lock_person(claim.person_id)
    rule, _, lines = _price_claim(claim, person, dispensing)
    home = common.benefit_profile(person, claim.purchased_on)  # 参保地待遇 [HB art. 41, 50]
    scopes = common.benefit_scopes(rule, home, claim.category, claim.purchased_on)
    rows = common.locked_accumulators(person, scopes)
    breakdown = common.breakdown_of(lines, rule, person, rows)
    priced = common.Priced(
        dispensing=dispensing,
        person=person,
        rule=rule,
        category=claim.category,
        scopes={str(k): v for k, v in scopes.items()},
        lines=tuple(lines),
        breakdown=breakdown,
        budget_line=common.budget_line_for(home, claim.institution),
        settled_on=timezone.localdate(),
        kind=SettlementKind.MANUAL,
        institution=claim.institution,
        prescription=claim.prescription,
        out_of_area=out_of_area_of(person, claim.institution.region, claim.purchased_on),
    )
    settlement = common.write_settlement(
        actor,
        priced,
        f"claim:{claim.claim_no}",
        _digest({"claim_id": claim.pk}),
        # the agency settles it by hand: nothing is uploaded as a counter settlement
        upload_status=UploadStatus.NOT_CONNECTED,
        reason=f"手工（零星）报销 {claim.claim_no}",
    )
    common.add_used(rows, breakdown)
    audit.record(
        actor=actor,
        action="settlement.settled",
        subject=settlement,
        after=settlement,
        patient=person,
        role=Role.AGENCY_OFFICER,
        summary={
            "settlement_no": settlement.settlement_no,
            "kind": SettlementKind.MANUAL,
            "claim_no": claim.claim_no,
            "total": str(settlement.total),
            "fund": str(settlement.fund),
            "personal": str(settlement.personal),
            "to": SettlementStatus.SETTLED,
        },
    )
    return settlement
