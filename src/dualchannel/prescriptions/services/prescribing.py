"""Issuing prescriptions (DESIGN §5.2 step 1).

One transaction per action with its audit event and the patient's notice. A special-drug
prescription locks its eligibility, so two prescriptions can never together exceed the plan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from dualchannel.catalog import icd10
from dualchannel.catalog.models import Drug, SpecialControl
from dualchannel.catalog.selectors import drug_listed_for, drug_standing
from dualchannel.catalog.usage import DOSE_UNITS, FREQUENCY_CODES, ROUTE_CODES
from dualchannel.core import audit
from dualchannel.core.errors import DomainError, NotFound, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.documents.models import DocumentKind
from dualchannel.documents.services import document_sign
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.selectors import current_plan, eligibility_benefits_active
from dualchannel.notifications.services import notify
from dualchannel.registry.designations import physician_standing
from dualchannel.registry.models import (
    BindingMode,
    Designation,
    DesignationStatus,
    InpatientStay,
    Institution,
    InsuredPerson,
    Physician,
    PolicyProfile,
)
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.selectors import benefit_status_problem, stay_at
from dualchannel.registry.services import filing_review_submit

from .. import error_codes as codes
from .. import filing_form, rules
from ..models import (
    OPEN_PRESCRIPTION,
    BenefitType,
    Prescription,
    PrescriptionItem,
    PrescriptionNumberSequence,
    PrescriptionStatus,
    PrescriptionTransition,
)
from ..workflow import drug_names
from .common import day_or_today

S = PrescriptionStatus
MAX_ITEMS = 5  # 处方管理办法 第六条: at most five drugs per prescription


@dataclass(frozen=True)
class ItemInput:
    drug_id: int
    quantity: Decimal
    unit: str
    single_dose: Decimal
    dose_unit: str
    frequency: str
    route: str
    days: int
    pack_size: Decimal = Decimal(1)
    package_unit: str = "盒"
    specification: str = ""

    @property
    def usage(self) -> str:
        return f"每次{self.single_dose.normalize():f}{self.dose_unit} {self.frequency} {self.route}"


# --- helpers ---------------------------------------------------------------------------------


def _moment_on(day: date) -> datetime:
    """Now, on ``day`` (the current wall-clock time when ``day`` is today)."""
    now = timezone.localtime()
    return now if day == now.date() else now.replace(year=day.year, month=day.month, day=day.day)


def _hospital_designated(hospital: Institution) -> bool:
    return Designation.objects.filter(
        institution=hospital, physician=None, status=DesignationStatus.ACTIVE
    ).exists()


def _physician_of(actor: User) -> Physician:
    """The prescriber: a 医保医师 of a designated hospital [HB art. 14, 42]; whether the
    responsible physician is needed is decided once the drugs are known (``_check_prescriber``)."""
    require_role(actor, Role.PHYSICIAN)
    physician = Physician.objects.select_related("hospital").filter(user=actor).first()
    if physician is None:
        raise PermissionDenied(codes.NOT_PHYSICIAN, "您没有医保医师档案，不能开具处方")
    if not _hospital_designated(physician.hospital):
        raise DomainError(codes.NOT_DESIGNATED, "本院未纳入双通道管理，不能开具双通道处方")
    return physician


def separately_paid_drugs(
    drugs: Mapping[int, Drug], hospital: Institution, on: date
) -> frozenset[int]:
    """The drugs paid apart (单独支付) where and when they are prescribed [HB ch. 2]: flagged so
    in the national catalogue, or on a separately-paid list of the hospital's region (or a region
    above it) in force on ``on``."""
    if not drugs:
        return frozenset()
    listed = drug_listed_for(hospital.region, on, drug_ids=list(drugs))
    return frozenset(
        pk
        for pk, drug in drugs.items()
        if drug_standing(drug, hospital.region, on, listed=listed).separately_paid
    )


def needs_responsible_physician(
    benefit_type: str, paid_apart: frozenset[int], profile: PolicyProfile | None
) -> bool:
    """Separately-paid (filed) drugs always need the responsible physician [HB art. 6, 42];
    other dual-channel drugs only where the profile says so [AH annex 3(1), CX art. 20] —
    under HB any 医保医师 may prescribe them [HB art. 13–15]. No profile: the responsible
    physician (the national default). ``paid_apart``: ``separately_paid_drugs`` of the lines."""
    return _separately_paid(benefit_type, paid_apart) or rules.responsible_physician_only(profile)


def _separately_paid(benefit_type: str, paid_apart: frozenset[int]) -> bool:
    """A special-drug prescription, or a line of a separately-paid (单独支付) drug."""
    return benefit_type == BenefitType.SPECIAL_DRUG or bool(paid_apart)


def _check_prescriber(
    physician: Physician,
    benefit_type: str,
    paid_apart: frozenset[int],
    profile: PolicyProfile | None,
) -> None:
    if not needs_responsible_physician(benefit_type, paid_apart, profile):
        return
    standing = physician_standing(physician, profile)
    if standing.ok:
        return
    if standing.reason == "assessment_failed":
        raise DomainError(
            codes.PHYSICIAN_SUSPENDED,
            f"您{standing.failed_year}年度考核不合格，责任医师资格暂停，"
            "不能开具须由责任医师开具的处方",
        )
    if standing.reason == "title_below_minimum":
        raise DomainError(codes.TITLE_BELOW_MINIMUM, standing.message)
    raise DomainError(
        codes.NOT_DESIGNATED,
        "您未纳入双通道责任医师，单独支付药品须由责任医师开具"
        if _separately_paid(benefit_type, paid_apart)
        else "本统筹区双通道药品须由责任医师开具，您未纳入双通道责任医师",
    )


def _check_bound_physician(
    eligibility: Eligibility, physician: Physician, profile: PolicyProfile | None
) -> None:
    """Three-fixed binds the physician too [HB art. 6]: another physician is refused unless the
    profile allows the responsible physicians' team of the bound hospital."""
    if eligibility.application.binding_mode != BindingMode.THREE_FIXED:
        return
    if eligibility.physician_id == physician.pk:
        return
    team = profile is not None and profile.three_fixed_team_allowed
    if team and physician.hospital_id == eligibility.hospital_id:
        return  # a responsible physician of the bound hospital's team (standing checked before)
    raise DomainError(
        codes.BOUND_PHYSICIAN,
        "该用药资格实行“三定管理”，只能由定点的责任医师开具处方",
        fields={"eligibility_id": ["非本人定点的用药资格"]},
    )


def _check_benefits(patient: InsuredPerson) -> None:
    """HB art. 2, CX art. 5: only a person who 正常享受医保待遇 is covered."""
    problem = benefit_status_problem(patient)
    if problem:
        raise DomainError(codes.BENEFITS_NOT_IN_FORCE, problem)


def _next_number(today: date) -> str:
    seq, _ = PrescriptionNumberSequence.objects.select_for_update().get_or_create(day=today)
    seq.last += 1
    seq.save(update_fields=["last"])
    return f"CF{today:%Y%m%d}{seq.last:05d}"


def _items_error(index: int, field: str, message: str) -> DomainError:
    return DomainError(
        codes.INVALID_ITEMS,
        f"第{index + 1}种药品：{message}",
        fields={f"items.{index}.{field}": [message]},
    )


def _decimal(value: Any, index: int, field: str, label: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise _items_error(index, field, f"{label}应为数字") from None
    if not number.is_finite() or number <= 0:
        raise _items_error(index, field, f"{label}应大于0")
    if number.as_tuple().exponent < -2:
        raise _items_error(index, field, f"{label}最多两位小数")
    return number


def clean_items(raw: Sequence[Mapping[str, Any] | ItemInput]) -> list[ItemInput]:
    """Validate the lines' shape; drug and plan rules are checked by the caller."""
    if not raw:
        raise DomainError(codes.INVALID_ITEMS, "处方至少应有一种药品", fields={"items": ["必填"]})
    if len(raw) > MAX_ITEMS:
        raise DomainError(
            codes.INVALID_ITEMS, f"每张处方不得超过{MAX_ITEMS}种药品", fields={"items": ["过多"]}
        )
    items: list[ItemInput] = []
    for index, value in enumerate(raw):
        data = value.__dict__ if isinstance(value, ItemInput) else dict(value)
        drug_id = data.get("drug_id")
        if not isinstance(drug_id, int) or isinstance(drug_id, bool):
            raise _items_error(index, "drug_id", "请选择药品")
        unit = str(data.get("unit") or "").strip()
        if not unit or len(unit) > 20:
            raise _items_error(index, "unit", "请填写单位")
        dose_unit = str(data.get("dose_unit") or "").strip()
        if dose_unit not in DOSE_UNITS:
            raise _items_error(index, "dose_unit", "请选择单次剂量单位")
        frequency = str(data.get("frequency") or "").strip()
        if frequency not in FREQUENCY_CODES:
            raise _items_error(index, "frequency", "请选择使用频次")
        route = str(data.get("route") or "").strip()
        if route not in ROUTE_CODES:
            raise _items_error(index, "route", "请选择用药途径")
        days = data.get("days")
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise _items_error(index, "days", "用药天数应为正整数")
        items.append(
            ItemInput(
                drug_id=drug_id,
                quantity=_decimal(data.get("quantity"), index, "quantity", "数量"),
                unit=unit,
                single_dose=_decimal(data.get("single_dose"), index, "single_dose", "单次用量"),
                dose_unit=dose_unit,
                frequency=frequency,
                route=route,
                days=days,
                pack_size=_decimal(data.get("pack_size", 1), index, "pack_size", "每包装数量"),
                package_unit=str(data.get("package_unit") or "盒").strip()[:10] or "盒",
                specification=str(data.get("specification") or "").strip()[:300],
            )
        )
    if len({i.drug_id for i in items}) != len(items):
        raise DomainError(
            codes.INVALID_ITEMS, "同一药品请合并为一行", fields={"items": ["药品重复"]}
        )
    return items


def _drugs(items: list[ItemInput]) -> dict[int, Drug]:
    found = Drug.objects.in_bulk([i.drug_id for i in items])
    for index, item in enumerate(items):
        drug = found.get(item.drug_id)
        if drug is None:
            raise _items_error(index, "drug_id", "药品不存在")
        if not drug.is_dual_channel:
            raise DomainError(
                codes.NOT_DUAL_CHANNEL,
                f"{drug.generic_name}不是双通道管理药品",
                fields={f"items.{index}.drug_id": ["非双通道药品"]},
            )
        if drug.special_control != SpecialControl.NONE:
            # CX art. 3: narcotic, psychotropic, toxic and radioactive drugs are excluded.
            raise DomainError(
                codes.SPECIAL_CONTROL,
                f"{drug.generic_name}属于{drug.get_special_control_display()}，不纳入双通道处方流转",
                fields={f"items.{index}.drug_id": ["特殊管理药品"]},
            )
    return found


def reserved_quantity(eligibility: Eligibility, *, exclude_id: int | None = None) -> Decimal:
    """Quantity on open (issued or routed) prescriptions not yet dispensed."""
    qs = PrescriptionItem.objects.filter(
        prescription__eligibility=eligibility,
        prescription__status__in=OPEN_PRESCRIPTION,
        drug_id=eligibility.drug_id,
    )
    if exclude_id is not None:
        qs = qs.exclude(prescription_id=exclude_id)
    return qs.aggregate(total=Sum("quantity"))["total"] or Decimal(0)


def plan_left(eligibility: Eligibility) -> Decimal:
    return eligibility.plan_total_quantity - eligibility.plan_used_quantity


def _check_days(items: list[ItemInput], benefit_type: str, long_rx: bool, profile) -> None:
    if long_rx:
        most = rules.long_prescription_max_days(profile)
        if most is None or benefit_type not in rules.LONG_PRESCRIPTION_BENEFITS:
            raise DomainError(
                codes.LONG_NOT_ALLOWED,
                "本统筹区未规定长期处方，或该待遇类型不适用长期处方（限慢病患者）",
                fields={"long_prescription": ["不适用"]},
            )
    else:
        most = rules.ORDINARY_MAX_DAYS
    for index, item in enumerate(items):
        if item.days > most:
            raise DomainError(
                codes.TOO_MANY_DAYS,
                f"第{index + 1}种药品用药天数超过{most}天"
                + ("" if long_rx else "（慢病患者可按规定开具长期处方）"),
                fields={f"items.{index}.days": [f"不超过{most}天"]},
            )


def _special_drug_checks(
    eligibility: Eligibility, items: list[ItemInput], hospital: Institution, today: date
) -> None:
    application = eligibility.application
    prescribing_hospitals = {eligibility.hospital_id, application.treating_hospital_id}
    if hospital.pk not in prescribing_hospitals:
        raise NotFound(codes.ELIGIBILITY_REQUIRED, "用药资格不存在")
    if not eligibility_benefits_active(eligibility, on=today):
        due = eligibility.next_reevaluation_due
        if eligibility.status == "active" and due is not None and today > due:
            raise DomainError(
                codes.REEVALUATION_DUE,
                f"用药资格已于{due.isoformat()}到期未复查评估，请先进行复查评估",
            )
        raise DomainError(
            codes.ELIGIBILITY_INACTIVE,
            f"用药资格状态为「{eligibility.get_status_display()}」，不能开具单独支付药品处方",
        )
    plan_unit = current_plan(eligibility)["quantity_unit"]
    for index, item in enumerate(items):
        if item.drug_id != eligibility.drug_id:
            raise DomainError(
                codes.DRUG_NOT_IN_ELIGIBILITY,
                "单独支付药品处方只能开具用药资格核准的药品（增加或变更药品须重新申请）",
                fields={f"items.{index}.drug_id": ["不在用药资格内"]},
            )
        if plan_unit and item.unit != plan_unit:
            raise DomainError(
                codes.UNIT_MISMATCH,
                f"数量单位应与治疗用药方案一致（{plan_unit}）",
                fields={f"items.{index}.unit": [f"应为{plan_unit}"]},
            )
    wanted = sum((i.quantity for i in items), Decimal(0))
    left = plan_left(eligibility) - reserved_quantity(eligibility)
    if wanted > left:
        raise DomainError(
            codes.OVER_PLAN,
            f"超出治疗用药方案剩余药量（剩余{left.normalize():f}{plan_unit}，含未取药处方）",
            fields={"items": [f"不超过{left.normalize():f}"]},
        )


def _document_data(prescription: Prescription, today: date) -> dict[str, Any]:
    return {
        "prescription_no": prescription.prescription_no,
        "issue_date": today.isoformat(),
        **filing_form.patient_fields(prescription.patient, today),
        "hospital_name": prescription.hospital.name,
        "department": prescription.department or prescription.physician.department,
        "diagnosis": f"{prescription.diagnosis_name}（{prescription.diagnosis_code}）",
        "items": [
            {
                "drug_name": item.drug.generic_name,
                "specification": item.specification or "—",
                "quantity": f"{item.quantity.normalize():f}",
                "unit": item.unit,
                "usage": item.usage,
                "days": item.days,
            }
            for item in prescription.items.select_related("drug")
        ],
        "valid_until": prescription.valid_until.isoformat(),
        "long_prescription": prescription.long_prescription,
        "notes": f"{prescription.get_benefit_type_display()} · 双通道处方（rxExraAttrCode 01）",
        "physician_name": prescription.physician.name,
    }


# --- issuing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Issue:
    """A prescription as validated before any lock is taken."""

    physician: Physician
    hospital: Institution
    benefit_type: str
    lines: list[ItemInput]
    drugs: dict[int, Drug]
    profile: Any
    today: date
    eligibility_id: int | None
    diagnosis_code: str  # a special-drug prescription takes its diagnosis from the eligibility
    diagnosis_name: str
    long_prescription: bool
    pharmacy_id: int | None
    id_number: str
    admission_no: str = ""  # an inpatient's stay: the filing form's inpatient version [AH annex]


def prescription_issue(
    *,
    actor: User,
    patient_id_number: str,
    benefit_type: str,
    items: Sequence[Mapping[str, Any] | ItemInput],
    eligibility_id: int | None = None,
    diagnosis_code: str = "",
    diagnosis_name: str = "",
    long_prescription: bool = False,
    pharmacy_id: int | None = None,
    today: date | None = None,
    inpatient_admission_no: str = "",
) -> Prescription:
    """The physician issues a signed dual-channel prescription [HB art. 13–15, 38; CX art. 21].

    Under a filing-form profile [AH §2(4)] ``pharmacy_id`` names the pharmacy the patient chose,
    and the external-purchase filing form is signed with the prescription; elsewhere the patient
    chooses the pharmacy when the prescription is routed. With ``inpatient_admission_no`` (a
    stay the hospital registered for this patient) the form is the inpatient version and goes to
    the hospital insurance office's review (医院医保办审核意见) before it is valid [AH annex].
    """
    issue = _clean_issue(
        actor=actor,
        patient_id_number=patient_id_number,
        benefit_type=benefit_type,
        items=items,
        eligibility_id=eligibility_id,
        diagnosis_code=diagnosis_code,
        diagnosis_name=diagnosis_name,
        long_prescription=long_prescription,
        pharmacy_id=pharmacy_id,
        today=today,
        admission_no=inpatient_admission_no,
    )
    with transaction.atomic():
        prescription = _issue_locked(actor, issue)
    return prescription


def _clean_issue(
    *,
    actor: User,
    patient_id_number: str,
    benefit_type: str,
    items: Sequence[Mapping[str, Any] | ItemInput],
    eligibility_id: int | None,
    diagnosis_code: str,
    diagnosis_name: str,
    long_prescription: bool,
    pharmacy_id: int | None,
    today: date | None,
    admission_no: str = "",
) -> _Issue:
    """Every check that needs no lock, in the order the refusals were always given."""
    physician = _physician_of(actor)
    hospital = physician.hospital
    if benefit_type not in BenefitType.values:
        raise DomainError(
            codes.INVALID_BENEFIT_TYPE, "请选择待遇类型", fields={"benefit_type": ["无效"]}
        )
    lines = clean_items(items)
    drugs = _drugs(lines)
    profile = profile_of(hospital)
    today = day_or_today(today)
    paid_apart = separately_paid_drugs(drugs, hospital, today)  # HB ch. 2, with regional lists
    _check_prescriber(physician, benefit_type, paid_apart, profile)
    _check_days(lines, benefit_type, long_prescription, profile)
    code = name = ""
    if benefit_type != BenefitType.SPECIAL_DRUG:
        code, name = _general_diagnosis(
            lines, drugs, paid_apart, eligibility_id, diagnosis_code, diagnosis_name
        )
    elif eligibility_id is None:
        raise DomainError(
            codes.ELIGIBILITY_REQUIRED,
            "单独支付药品处方须关联有效的用药资格",
            fields={"eligibility_id": ["必填"]},
        )
    return _Issue(
        physician=physician,
        hospital=hospital,
        benefit_type=benefit_type,
        lines=lines,
        drugs=drugs,
        profile=profile,
        today=today,
        eligibility_id=eligibility_id,
        diagnosis_code=code,
        diagnosis_name=name,
        long_prescription=long_prescription,
        pharmacy_id=pharmacy_id,
        id_number=(patient_id_number or "").strip().upper(),
        admission_no=_admission_no(admission_no, profile),
    )


def _admission_no(value: Any, profile: Any) -> str:
    """An inpatient's admission number: only where the filing form is used [AH annex]."""
    number = value.strip() if isinstance(value, str) else ""
    if not number:
        return ""
    if not filing_form.needs_filing_form(profile):
        raise DomainError(
            codes.ADMISSION_NOT_ALLOWED,
            "本统筹区无需填写《外购备案表》，开具处方时无需填写住院号",
            fields={"inpatient_admission_no": ["无需填写"]},
        )
    if len(number) > 30:
        raise DomainError(
            codes.ADMISSION_NOT_ALLOWED,
            "住院号不超过30个字符",
            fields={"inpatient_admission_no": ["过长"]},
        )
    return number


def _general_diagnosis(
    lines: list[ItemInput],
    drugs: dict[int, Drug],
    paid_apart: frozenset[int],
    eligibility_id: int | None,
    diagnosis_code: str,
    diagnosis_name: str,
) -> tuple[str, str]:
    """A prescription without eligibility: no separately paid drug (national flag or the
    region's separately-paid list), and a known ICD-10 code."""
    if eligibility_id is not None:
        raise DomainError(codes.INVALID_BENEFIT_TYPE, "只有单独支付药品处方关联用药资格")
    for index, item in enumerate(lines):
        if item.drug_id in paid_apart:
            raise DomainError(
                codes.SEPARATELY_PAID_NEEDS_ELIGIBILITY,
                f"{drugs[item.drug_id].generic_name}为单独支付药品，须凭用药资格开具单独支付药品处方",
                fields={f"items.{index}.drug_id": ["须关联用药资格"]},
            )
    code = (diagnosis_code or "").strip().upper().replace("X", "x")
    if not code or not icd10.category_known(code):
        raise DomainError(
            codes.INVALID_DIAGNOSIS,
            "诊断编码应为 ICD-10 医保版2.0 编码",
            fields={"diagnosis_code": ["不存在的疾病分类"]},
        )
    name = icd10.diagnosis_name(code) or (diagnosis_name or "").strip()[:200]
    if not name:
        raise DomainError(
            codes.INVALID_DIAGNOSIS, "请填写诊断名称", fields={"diagnosis_name": ["必填"]}
        )
    return code, name


def _issue_locked(actor: User, issue: _Issue) -> Prescription:
    """Inside the transaction: lock physician, patient and eligibility, re-check, write."""
    # core.locks order: the signing physician (document_sign locks it) before the patient
    Physician.objects.select_for_update().get(pk=issue.physician.pk)
    patient = InsuredPerson.objects.select_for_update().filter(id_number=issue.id_number).first()
    if patient is None:
        raise NotFound(codes.PATIENT_NOT_FOUND, "参保登记中没有该身份证号的参保人")
    _check_benefits(patient)
    eligibility = None
    code, name = issue.diagnosis_code, issue.diagnosis_name
    if issue.benefit_type == BenefitType.SPECIAL_DRUG:
        eligibility = (
            Eligibility.objects.select_for_update(of=("self",))
            .select_related("application")
            .filter(pk=issue.eligibility_id, patient=patient)
            .first()
        )
        if eligibility is None:
            raise NotFound(codes.ELIGIBILITY_REQUIRED, "用药资格不存在")
        _special_drug_checks(eligibility, issue.lines, issue.hospital, issue.today)
        _check_bound_physician(eligibility, issue.physician, issue.profile)
        code = eligibility.application.diagnosis_code
        name = eligibility.application.diagnosis_name
    # after the patient and eligibility checks: an outsider learns nothing from this one
    stay = None
    if filing_form.needs_filing_form(issue.profile):
        named_pharmacy = filing_form.filing_pharmacy(issue.hospital, issue.pharmacy_id)
        if issue.admission_no:
            stay = stay_at(issue.hospital.pk, issue.admission_no)
            if stay is None or stay.person_id != patient.pk:
                raise DomainError(
                    codes.STAY_NOT_REGISTERED,
                    "本院医保办未为该参保人登记此住院号，请先登记住院",
                    fields={"inpatient_admission_no": ["未登记"]},
                )
    elif issue.pharmacy_id is not None:
        raise DomainError(
            codes.PHARMACY_NOT_ALLOWED,
            "本统筹区由患者在处方流转时选择药店，开具处方时无需选择",
            fields={"pharmacy_id": ["无需选择"]},
        )
    else:
        named_pharmacy = None
    prescription = _write_prescription(
        actor, issue, patient, eligibility, code, name, named_pharmacy
    )
    _sign_issued(actor, issue, prescription, patient, named_pharmacy, stay)
    _record_issued(actor, issue, prescription, patient, eligibility)
    return prescription


def _write_prescription(
    actor: User,
    issue: _Issue,
    patient: InsuredPerson,
    eligibility: Eligibility | None,
    code: str,
    name: str,
    named_pharmacy: Institution | None,
) -> Prescription:
    """The prescription row with its numbered items."""
    today = issue.today
    days = rules.valid_days(issue.profile)
    prescription = Prescription.objects.create(
        prescription_no=_next_number(today),
        patient=patient,
        hospital=issue.hospital,
        physician=issue.physician,
        eligibility=eligibility,
        benefit_type=issue.benefit_type,
        diagnosis_code=code,
        diagnosis_name=name,
        department=issue.physician.department,
        issued_at=_moment_on(today),
        valid_days=days,
        valid_until=today + timedelta(days=days - 1),
        long_prescription=issue.long_prescription,
        filing_pharmacy=named_pharmacy,
        created_by=actor,
    )
    for position, item in enumerate(issue.lines, 1):
        PrescriptionItem.objects.create(
            prescription=prescription,
            position=position,
            drug=issue.drugs[item.drug_id],
            specification=item.specification,
            quantity=item.quantity,
            unit=item.unit,
            pack_size=item.pack_size,
            package_unit=item.package_unit,
            packages=math.ceil(item.quantity / item.pack_size),
            single_dose=item.single_dose,
            dose_unit=item.dose_unit,
            frequency=item.frequency,
            route=item.route,
            usage=item.usage,
            days=item.days,
        )
    return prescription


def _sign_issued(
    actor: User,
    issue: _Issue,
    prescription: Prescription,
    patient: InsuredPerson,
    named_pharmacy: Institution | None,
    stay: InpatientStay | None = None,
) -> None:
    """The physician signs the prescription and, under a filing-form profile, the filing form;
    an inpatient's form (``stay``) goes to the hospital insurance office's review [AH annex]."""
    prescription.document = document_sign(
        actor=actor,
        signer=issue.physician,
        kind=DocumentKind.PRESCRIPTION,
        subject_type=Prescription._meta.label,
        subject_id=str(prescription.pk),
        data=_document_data(prescription, issue.today),
        patient=patient,
    )
    if named_pharmacy is not None:
        prescription.filing_form = document_sign(
            actor=actor,
            signer=issue.physician,
            kind=DocumentKind.AH_FILING_FORM,
            subject_type=Prescription._meta.label,
            subject_id=str(prescription.pk),
            data=filing_form.filing_form_data(prescription, issue.today, stay=stay),
            patient=patient,
        )
        if stay is not None:
            filing_review_submit(stay=stay, document_id=prescription.filing_form.pk)
    prescription.save(update_fields=["document", "filing_form"])


def _record_issued(
    actor: User,
    issue: _Issue,
    prescription: Prescription,
    patient: InsuredPerson,
    eligibility: Eligibility | None,
) -> None:
    """The first history row, the audit event and the patient's notice."""
    PrescriptionTransition.objects.create(
        prescription=prescription, from_status="", to_status=S.ISSUED, actor=actor
    )
    audit.record(
        actor=actor,
        action="prescriptions.prescription_issued",
        subject=prescription,
        after=prescription,
        patient=patient,
        role=actor_role(actor),
        summary={
            "prescription_no": prescription.prescription_no,
            "benefit_type": issue.benefit_type,
            "eligibility": eligibility.pk if eligibility else None,
            "items": len(issue.lines),
            "to": S.ISSUED,
        },
    )
    notify(
        template="prescriptions.issued",
        context={
            "drug_name": drug_names(prescription),
            "prescription_no": prescription.prescription_no,
            "valid_until": prescription.valid_until,
        },
        person=patient,
        actor=actor,
    )
