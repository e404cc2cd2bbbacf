"""Routing a prescription: the patient picks the pharmacy and consents [CX art. 21].

One transaction with its audit event and the patient's notice; the e-prescription centre's
upload is queued in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.inventory.selectors import stock_status
from dualchannel.notifications.services import notify
from dualchannel.registry.models import (
    Institution,
    InstitutionKind,
)
from dualchannel.registry.out_of_area import (
    OutOfArea,
    out_of_area_of,
    province_code,
    valid_filings,
)
from dualchannel.registry.selectors import public_institutions

from .. import error_codes as codes
from ..models import (
    Prescription,
    PrescriptionStatus,
    StockStatus,
)
from ..workflow import drug_names
from .circulation import rx_centre_submit
from .common import day_or_today, locked_prescription

S = PrescriptionStatus


# --- circulation: the patient's choice and consent [CX art. 21] ------------------------------


@dataclass(frozen=True)
class PharmacyOption:
    pharmacy: Institution
    stock: str  # StockStatus
    area: OutOfArea  # local, in-province or cross-province, and whether it settles directly


def _may_route(actor: User, prescription: Prescription) -> bool:
    if actor.is_superuser:
        return True
    if actor.has_role(Role.PATIENT) and actor.insured_person_id == prescription.patient_id:
        return True
    return actor.has_role(Role.PHYSICIAN) and actor.institution_id == prescription.hospital_id


def _wanted(prescription: Prescription) -> dict[int, int]:
    return {item.drug_id: item.packages for item in prescription.items.all()}


def allowed_pharmacies(prescription: Prescription, on: date | None = None) -> list[Institution]:
    """The bound pharmacy (three-fixed, or named on the filing form); else the designated ones
    of the hospital's area, of the whole enrolment province (省内异地, no filing needed
    [HB art. 40]) and of each place the person holds a valid cross-province filing for
    [HB art. 41]."""
    eligibility = prescription.eligibility
    bound_id = eligibility.pharmacy_id if eligibility is not None else None
    # AH §2(4): the pharmacy named on the signed filing form
    bound_id = bound_id or prescription.filing_pharmacy_id
    if bound_id is not None:
        return list(public_institutions(kind=InstitutionKind.PHARMACY).filter(pk=bound_id))
    person = prescription.patient
    hospital_city = (prescription.hospital.region_id or "")[:4]
    places = Q(region__code__startswith=hospital_city) | Q(
        region__code__startswith=province_code(person.enrolment_region_id)
    )
    for filing in valid_filings(person, day_or_today(on)):
        places |= Q(region__code__startswith=filing.treating_region.code_prefix)
    return list(public_institutions(kind=InstitutionKind.PHARMACY).filter(places))


def pharmacy_options(*, actor: User, prescription_id: int) -> list[PharmacyOption]:
    """Each allowed pharmacy with its stock for this prescription, those with stock first."""

    prescription = (
        Prescription.objects.select_related("hospital", "eligibility", "patient")
        .filter(pk=prescription_id)
        .first()
    )
    if prescription is None or not _may_route(actor, prescription):
        raise NotFound(codes.RX_NOT_FOUND, "处方不存在")
    wanted = _wanted(prescription)
    order = {StockStatus.ALL: 0, StockStatus.PARTLY: 1, StockStatus.NONE: 2}
    today = timezone.localdate()
    person = prescription.patient
    options = [
        PharmacyOption(p, stock_status(p, wanted), out_of_area_of(person, p.region, today))
        for p in allowed_pharmacies(prescription, today)
    ]
    # the local ones first, then by stock [HB art. 40: out of area only where the patient wants]
    return sorted(options, key=lambda o: (o.area.is_out_of_area, order[o.stock], o.pharmacy.name))


def prescription_route(
    *,
    actor: User,
    prescription_id: int,
    pharmacy_id: int,
    consent: bool,
    today: date | None = None,
) -> Prescription:
    """The patient picks the pharmacy and consents; the prescription lands in its inbox."""

    if consent is not True:
        raise DomainError(
            codes.CONSENT_REQUIRED,
            "处方流转须经参保人同意，请勾选同意",
            fields={"consent": ["须同意"]},
        )
    with transaction.atomic():
        prescription = locked_prescription(prescription_id)
        if not _may_route(actor, prescription):
            raise NotFound(codes.RX_NOT_FOUND, "处方不存在")
        allowed = {p.pk: p for p in allowed_pharmacies(prescription, today)}
        pharmacy = allowed.get(pharmacy_id)
        if pharmacy is None:
            bound = prescription.eligibility and prescription.eligibility.pharmacy_id
            if bound:
                raise DomainError(
                    codes.BOUND_PHARMACY,
                    "本用药资格实行“三定”管理，只能到绑定的定点药店购药",
                    fields={"pharmacy_id": ["应为绑定药店"]},
                )
            if prescription.filing_pharmacy_id:
                raise DomainError(
                    codes.BOUND_PHARMACY,
                    "《外购备案表》已列明购药药店，只能流转至该药店（另选药店请重新开具）",
                    fields={"pharmacy_id": ["应为备案表所列药店"]},
                )
            raise DomainError(
                codes.PHARMACY_NOT_ALLOWED,
                "请选择本统筹区或本省的双通道定点零售药店（跨省购药须先办理异地就医备案）",
                fields={"pharmacy_id": ["不可选"]},
            )
        if prescription.valid_until < day_or_today(today):
            raise DomainError(codes.RX_EXPIRED, "处方已超过有效期")
        consented_at = timezone.now()
        stock = stock_status(pharmacy, _wanted(prescription))
        transition(
            prescription,
            S.ROUTED,
            actor=actor,
            reason="参保人选择药店并同意处方流转",
            changes={
                "pharmacy": pharmacy,
                "consented_at": consented_at,
                "consented_by": actor,
                "routed_at": consented_at,
                "stock_status_at_choice": stock,
            },
            pharmacy=pharmacy.pk,
            stock=stock,
        )
        notify(
            template="prescriptions.routed",
            context={
                "drug_name": drug_names(prescription),
                "prescription_no": prescription.prescription_no,
                "pharmacy_name": pharmacy.name,
                "valid_until": prescription.valid_until,
            },
            person=prescription.patient,
            actor=actor,
        )

        rx_centre_submit(prescription)
    return prescription
