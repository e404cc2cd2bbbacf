"""Inpatient stays and the hospital insurance office's review of an inpatient filing form
[AH §2(5) and annex, CX art. 19].

- ``stay_register``: the hospital's reviewer (医保办) registers a stay by its admission number
  (住院号), or the HIS adapter does on the hospital's behalf; the stay is the unit of the
  inpatient deductible and of the stay's bill.
- ``filing_review_submit``: an inpatient 外购备案表 signed by the responsible physician is
  submitted for the 医院医保办审核意见 (called inside the prescribing transaction).
- ``filing_review_decide``: the stay hospital's reviewer approves or refuses it, with the opinion;
  until approved the form is not valid and the counter refuses the sale.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, NotFound, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition

from .. import error_codes as codes
from ..models import (
    FilingReview,
    FilingReviewStatus,
    InpatientStay,
    Institution,
    InstitutionKind,
    InsuredPerson,
)
from .common import clean_text

MAX_ADMISSION_NO = 30


def clean_admission_no(value: Any, *, field: str = "admission_no") -> str:
    """An admission number: required, at most 30 characters, no spaces inside."""
    number = value.strip() if isinstance(value, str) else ""
    if not number:
        raise field_error(field, codes.INVALID_ADMISSION, "请填写住院号")
    if len(number) > MAX_ADMISSION_NO or any(c.isspace() for c in number):
        raise field_error(
            field, codes.INVALID_ADMISSION, f"住院号不超过{MAX_ADMISSION_NO}个字符且不含空格"
        )
    return number


def _hospital_of(actor: User, hospital_id: int | None) -> Institution:
    require_role(actor, Role.REVIEWER)
    wanted = hospital_id if actor.is_superuser and hospital_id else actor.institution_id
    hospital = Institution.objects.filter(pk=wanted, kind=InstitutionKind.HOSPITAL).first()
    if hospital is None:
        raise NotFound(codes.NOT_A_HOSPITAL, "只有医疗机构医保办可以登记住院")
    return hospital


def stay_register(
    *,
    actor: User,
    id_number: str,
    admission_no: str,
    admitted_on: date,
    diagnosis_code: str,
    diagnosis_name: str,
    hospital_id: int | None = None,
) -> InpatientStay:
    """Register a stay at the actor's hospital [AH §2(5), CX art. 19]."""
    hospital = _hospital_of(actor, hospital_id)
    number = clean_admission_no(admission_no)
    if not isinstance(admitted_on, date):
        raise field_error("admitted_on", codes.INVALID_FIELD, "请填写入院日期")
    if admitted_on > timezone.localdate():
        raise field_error("admitted_on", codes.INVALID_FIELD, "入院日期不能晚于今天")
    code = clean_text("diagnosis_code", diagnosis_code, required=True, max_length=20)
    name = clean_text("diagnosis_name", diagnosis_name, required=True, max_length=200)
    person = InsuredPerson.objects.filter(id_number=(id_number or "").strip().upper()).first()
    # a person insured in another province is out of this hospital's reach here: that stay needs
    # the person's cross-province filing (异地就医备案) [HB art. 41], not a registration of ours
    if person is None or person.enrolment_region_id[:2] != (hospital.region_id or "")[:2]:
        raise NotFound(codes.STAY_NOT_FOUND, "参保登记中没有该身份证号的本省参保人")
    try:
        with transaction.atomic():
            stay = InpatientStay.objects.create(
                hospital=hospital,
                person=person,
                admission_no=number,
                admitted_on=admitted_on,
                diagnosis_code=code,
                diagnosis_name=name,
                registered_by=actor,
            )
            audit.record(
                actor=actor,
                action="registry.stay_registered",
                subject=stay,
                after=stay,
                patient=person,
                role=Role.REVIEWER,
                summary={"hospital": hospital.pk, "admission_no": number},
            )
    except IntegrityError:
        raise Conflict(codes.DUPLICATE_ADMISSION, f"本院住院号{number}已登记") from None
    return stay


def filing_review_submit(*, stay: InpatientStay, document_id: int) -> FilingReview:
    """Submit a signed inpatient filing form for the hospital insurance office's review; inside
    the caller's transaction (the physician's prescribing)."""
    return FilingReview.objects.create(stay=stay, document_id=document_id)


def filing_review_decide(
    *, actor: User, review_id: int, approve: bool, opinion: str
) -> FilingReview:
    """The stay hospital's reviewer approves or refuses the form, with the opinion (required when
    refusing) [AH annex: 医院医保办审核意见]."""
    require_role(actor, Role.REVIEWER)
    if not isinstance(approve, bool):
        raise field_error("approve", codes.INVALID_FIELD, "请选择同意或不同意")
    opinion = clean_text("opinion", opinion, max_length=500)
    if not approve and not opinion:
        raise field_error("opinion", codes.OPINION_REQUIRED, "不同意时请填写审核意见")
    with transaction.atomic():
        qs = FilingReview.objects.select_for_update(of=("self",)).select_related(
            "stay", "stay__person"
        )
        if not actor.is_superuser:
            qs = qs.filter(stay__hospital_id=actor.institution_id)
        review = qs.filter(pk=review_id).first()
        if review is None:
            raise NotFound(codes.FILING_REVIEW_NOT_FOUND, "备案表审核不存在或不属于本院")
        if review.status != FilingReviewStatus.SUBMITTED:
            raise Conflict(codes.FILING_REVIEW_DECIDED, "该备案表已审核，不能再次审核")
        target = FilingReviewStatus.APPROVED if approve else FilingReviewStatus.REFUSED
        transition(
            review,
            target,
            actor=actor,
            reason=opinion or "同意",
            role=Role.REVIEWER,
            changes={
                "opinion": opinion or "同意",
                "reviewed_by": actor,
                "reviewed_at": timezone.now(),
            },
        )
    return review
