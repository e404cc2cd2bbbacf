"""Registry API: management for agency officers and staff (``router``) and public queries.

``router`` is mounted at /api/v1/registry (token or page session), ``public_router`` at
/api/v1/public (no authentication, designated institutions only, no personal data).
"""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from dualchannel.core import reveal
from dualchannel.core.auth import api_auth
from dualchannel.core.errors import field_error
from dualchannel.core.masking import mask_id_number, mask_name, mask_phone

from . import error_codes as codes
from . import selectors, services
from .designations import allowed_targets, physician_standing
from .models import (
    Designation,
    EquippedDrug,
    FilingReview,
    InpatientStay,
    Institution,
    InsuredPerson,
    Pharmacist,
    Physician,
    PolicyProfile,
    Region,
)
from .profiles import profile_of
from .public_api import public_router

router = Router(tags=["registry"], auth=api_auth)

__all__ = ["public_router", "router"]


# Schemas --------------------------------------------------------------------------------------


class InstitutionOut(Schema):
    id: int
    kind: str
    kind_label: str
    name: str
    credit_code: str
    platform_code: str
    region: str
    region_name: str
    address: str
    phone: str
    hospital_level: int | None
    has_pathology: bool
    has_gene_testing: bool
    has_biologics_licence: bool
    has_cold_chain: bool
    realtime_settlement: bool
    e_prescription_connected: bool
    traceability_enabled: bool
    realtime_settlement_since: date | None = None  # the day the flag last turned on
    e_prescription_since: date | None = None
    designation_status: str | None = None

    @staticmethod
    def resolve_kind_label(obj) -> str:
        return obj.get_kind_display()

    @staticmethod
    def resolve_region(obj) -> str:
        return obj.region_id

    @staticmethod
    def resolve_region_name(obj) -> str:
        return obj.region.name

    @staticmethod
    def resolve_designation_status(obj) -> str | None:
        return getattr(obj, "designation_status", None)


def _institution_out(inst: Institution) -> InstitutionOut:
    return InstitutionOut.from_orm(inst)


class InstitutionIn(Schema):
    kind: str
    name: str
    credit_code: str
    region: str
    address: str = ""
    phone: str = ""
    platform_code: str = ""
    hospital_level: int | None = None
    has_pathology: bool = False
    has_gene_testing: bool = False
    has_biologics_licence: bool = False
    has_cold_chain: bool = False
    realtime_settlement: bool = False
    e_prescription_connected: bool = False
    traceability_enabled: bool = False
    # the day a flag that is on turned on (default today; not in the future)
    realtime_settlement_since: date | None = None
    e_prescription_since: date | None = None


class InstitutionPatch(Schema):
    name: str | None = None
    credit_code: str | None = None
    region: str | None = None
    address: str | None = None
    phone: str | None = None
    platform_code: str | None = None
    hospital_level: int | None = None
    has_pathology: bool | None = None
    has_gene_testing: bool | None = None
    has_biologics_licence: bool | None = None
    has_cold_chain: bool | None = None
    realtime_settlement: bool | None = None
    e_prescription_connected: bool | None = None
    traceability_enabled: bool | None = None
    realtime_settlement_since: date | None = None
    e_prescription_since: date | None = None


class TransitionOut(Schema):
    from_status: str
    to_status: str
    actor: str | None
    reason: str
    at: str


class DesignationOut(Schema):
    id: int
    subject: str
    institution_id: int | None
    physician_id: int | None
    subject_name: str
    status: str
    status_label: str
    applied_on: date
    effective_from: date | None
    agreement_no: str
    exit_reason: str
    exited_on: date | None
    ban_until: date | None
    allowed_transitions: list[str]

    @staticmethod
    def resolve_subject(obj) -> str:
        return "institution" if obj.institution_id else "physician"

    @staticmethod
    def resolve_subject_name(obj) -> str:
        return obj.institution.name if obj.institution_id else obj.physician.name

    @staticmethod
    def resolve_status_label(obj) -> str:
        return obj.get_status_display()

    @staticmethod
    def resolve_allowed_transitions(obj) -> list[str]:
        return allowed_targets(obj)


class DesignationDetail(DesignationOut):
    history: list[TransitionOut]

    @staticmethod
    def resolve_history(obj) -> list[TransitionOut]:
        return [
            TransitionOut(
                from_status=t.from_status,
                to_status=t.to_status,
                actor=str(t.actor) if t.actor_id else None,
                reason=t.reason,
                at=t.at.isoformat(),
            )
            for t in selectors.designation_history(obj)
        ]


def _designation_out(d: Designation) -> DesignationDetail:
    return DesignationDetail.from_orm(d)


class DesignationApplyIn(Schema):
    institution_id: int | None = None
    physician_id: int | None = None


class TransitionIn(Schema):
    to: str
    reason: str = ""
    exit_reason: str | None = None
    agreement_no: str | None = None


class AssessmentOut(Schema):
    id: int
    physician_id: int
    year: int
    result: str
    note: str
    assessed_by: str = ""
    assessed_at: datetime | None = None


class PhysicianOut(Schema):
    id: int
    hospital_id: int
    hospital_name: str
    name: str
    staff_code: str
    department: str
    title: int
    title_label: str
    designation_status: str | None = None
    # responsible-physician standing: ok / not_designated / assessment_failed /
    # title_below_minimum [CX art. 20]
    standing: str = ""
    standing_message: str = ""
    assessments: list[AssessmentOut] = []

    @staticmethod
    def resolve_standing(obj) -> str:
        standing = physician_standing(obj, profile_of(obj.hospital))
        return "ok" if standing.ok else standing.reason

    @staticmethod
    def resolve_standing_message(obj) -> str:
        return physician_standing(obj, profile_of(obj.hospital)).message

    @staticmethod
    def resolve_assessments(obj) -> list[AssessmentOut]:
        found = obj.assessments.select_related("assessed_by").order_by("-year")
        return [_assessment_out(a) for a in found]

    @staticmethod
    def resolve_hospital_name(obj) -> str:
        return obj.hospital.name

    @staticmethod
    def resolve_title_label(obj) -> str:
        return obj.get_title_display()

    @staticmethod
    def resolve_designation_status(obj) -> str | None:
        return getattr(obj, "designation_status", None)


def _assessment_out(a) -> AssessmentOut:
    return AssessmentOut(
        id=a.pk,
        physician_id=a.physician_id,
        year=a.year,
        result=a.result,
        note=a.note,
        assessed_by=a.assessed_by.username if a.assessed_by_id else "",
        assessed_at=a.assessed_at,
    )


def _physician_out(p: Physician) -> PhysicianOut:
    return PhysicianOut.from_orm(p)


class PhysicianIn(Schema):
    hospital_id: int
    name: str
    staff_code: str
    department: str
    title: int | str = Field(..., description="1–4 或 RESIDENT/ATTENDING/ASSOCIATE_CHIEF/CHIEF")
    practising_certificate_no: str
    responsible: bool = Field(
        True,
        description=(
            "true 备案为责任医师（开启纳入流程）；"
            "false 仅登记为医保医师（鄂医保发〔2023〕35号 第四十二条）"
        ),
    )


class AssessmentIn(Schema):
    year: int
    result: str = Field(..., description="passed / failed")
    note: str = ""


class PharmacistOut(Schema):
    id: int
    pharmacy_id: int
    pharmacy_name: str
    name: str
    practising_certificate_no: str

    @staticmethod
    def resolve_pharmacy_name(obj) -> str:
        return obj.pharmacy.name


def _pharmacist_out(p: Pharmacist) -> PharmacistOut:
    return PharmacistOut.from_orm(p)


class PharmacistIn(Schema):
    pharmacy_id: int
    name: str
    practising_certificate_no: str


class InsuredPersonOut(Schema):
    id: int
    name: str
    id_number: str
    sex: str
    sex_label: str
    birth_date: date
    phone: str
    address: str
    insurance_type: str
    insurance_type_label: str
    enrolment_region: str
    person_no: str
    benefit_status: str
    masked: bool


class InsuredPersonListOut(Schema):
    """List rows: identifiers always masked."""

    id: int
    name: str
    id_number: str
    sex: str
    birth_date: date
    phone: str
    insurance_type: str
    enrolment_region_id: str
    person_no: str
    benefit_status: str

    @staticmethod
    def resolve_id_number(obj) -> str:
        return mask_id_number(obj.id_number)

    @staticmethod
    def resolve_phone(obj) -> str:
        return mask_phone(obj.phone)


FULL_FIELDS = ("id_number", "phone", "address")  # what _person_out shows in full


def _person_out(p: InsuredPerson, *, full: bool = False) -> InsuredPersonOut:
    return InsuredPersonOut(
        id=p.pk,
        name=p.name,
        id_number=p.id_number if full else mask_id_number(p.id_number),
        sex=p.sex,
        sex_label=p.get_sex_display(),
        birth_date=p.birth_date,
        phone=p.phone if full else mask_phone(p.phone),
        address=p.address if full else "",
        insurance_type=p.insurance_type,
        insurance_type_label=p.get_insurance_type_display(),
        enrolment_region=p.enrolment_region_id,
        person_no=p.person_no,
        benefit_status=p.benefit_status,
        masked=not full,
    )


class InsuredPersonIn(Schema):
    id_number: str
    name: str
    insurance_type: str = Field(..., description="310 职工 / 390 居民")
    enrolment_region: str
    phone: str = ""
    address: str = ""
    person_no: str | None = None


class InsuredPersonPatch(Schema):
    id_number: str | None = None
    name: str | None = None
    insurance_type: str | None = None
    enrolment_region: str | None = None
    phone: str | None = None
    address: str | None = None


class PolicyProfileOut(Schema):
    region: str
    region_name: str
    requested_region: str
    name: str
    source_document: str
    physician_min_title: int | None
    physician_relaxation_allowed: bool
    physician_relaxed_title: int | None
    physician_min_title_level2_hospital: int | None
    binding_mode: str
    prescriber_rule: str
    three_fixed_team_allowed: bool
    first_self_pay_ratio: str | None
    first_self_pay_ratio_max: str | None
    deductible_once_per_stay: bool
    inpatient_external_drugs_in_stay: bool
    special_drug_med_type: str
    payment_standard_rule: str
    pharmacy_spend_outside_hospital_budget: bool
    review_deadline_working_days: int | None
    reevaluation_window_working_days: int | None
    exit_ban_months: int | None
    pharmacy_min_drugs_urban: int | None
    pharmacy_min_drugs_county: int | None
    pharmacy_min_negotiated_ratio: str | None
    min_pharmacies_per_county: int | None
    min_hospitals_per_county: int | None
    hospital_min_level: int | None
    hospital_requires_pathology_or_gene: bool
    pharmacy_requires_biologics_licence: bool
    pharmacy_requires_cold_chain: bool
    pharmacy_requires_traceability: bool
    pharmacy_requires_realtime_settlement: bool
    pharmacy_requires_e_prescription: bool
    no_suspension_within_months: int | None
    agreement_grace_days: int | None = None
    sale_price_rule: str = "retail"
    in_province_direct_settlement: bool = True
    monthly_table_due_day: int | None = None
    citations: dict[str, str]


def _profile_out(p: PolicyProfile, requested: str) -> PolicyProfileOut:
    data = {f: getattr(p, f) for f in PolicyProfileOut.model_fields if hasattr(p, f)}
    for f in ("first_self_pay_ratio", "first_self_pay_ratio_max", "pharmacy_min_negotiated_ratio"):
        data[f] = None if data[f] is None else format(data[f], "f")
    data.update(region=p.region_id, region_name=p.region.name, requested_region=requested)
    return PolicyProfileOut(**data)


class ProfilePatch(Schema):
    name: str | None = None
    source_document: str | None = None
    physician_min_title: int | str | None = None
    physician_relaxation_allowed: bool | None = None
    physician_relaxed_title: int | str | None = None
    physician_min_title_level2_hospital: int | str | None = None
    binding_mode: str | None = None
    prescriber_rule: str | None = None
    three_fixed_team_allowed: bool | None = None
    first_self_pay_ratio: str | None = None
    first_self_pay_ratio_max: str | None = None
    deductible_once_per_stay: bool | None = None
    inpatient_external_drugs_in_stay: bool | None = None
    special_drug_med_type: str | None = None
    payment_standard_rule: str | None = None
    pharmacy_spend_outside_hospital_budget: bool | None = None
    review_deadline_working_days: int | None = None
    reevaluation_window_working_days: int | None = None
    exit_ban_months: int | None = None
    pharmacy_min_drugs_urban: int | None = None
    pharmacy_min_drugs_county: int | None = None
    pharmacy_min_negotiated_ratio: str | None = None
    min_pharmacies_per_county: int | None = None
    min_hospitals_per_county: int | None = None
    hospital_min_level: int | None = None
    hospital_requires_pathology_or_gene: bool | None = None
    pharmacy_requires_biologics_licence: bool | None = None
    pharmacy_requires_cold_chain: bool | None = None
    pharmacy_requires_traceability: bool | None = None
    pharmacy_requires_realtime_settlement: bool | None = None
    pharmacy_requires_e_prescription: bool | None = None
    no_suspension_within_months: int | None = None
    agreement_grace_days: int | None = None
    sale_price_rule: str | None = None
    in_province_direct_settlement: bool | None = None
    monthly_table_due_day: int | None = None
    citations: dict[str, str] | None = None


class EquippedDrugIn(Schema):
    drug_id: int
    since: date | None = None


class EquippedDrugOut(Schema):
    drug_id: int
    generic_name: str
    since: date


def _drug(drug_id: int):
    # The catalogue is a floor above the registry (it reads regions): reach its Drug through the
    # registry's own EquippedDrug.drug foreign key ("catalog.Drug") instead of importing catalog.
    drugs = EquippedDrug._meta.get_field("drug").related_model.objects
    drug = drugs.filter(pk=drug_id).first()
    if drug is None:
        raise field_error("drug_id", codes.INVALID_FIELD, "药品不存在")
    return drug


def _region_or_error(code: str, field: str = "region") -> Region:
    region = Region.objects.filter(code=code).first()
    if region is None:
        raise field_error(field, codes.INVALID_REGION, f"区划代码 {code} 不存在")
    return region


# Institutions ---------------------------------------------------------------------------------


@router.get("/institutions", response=list[InstitutionOut], summary="机构列表（按权限范围）")
@paginate(LimitOffsetPagination)
def institutions_list(
    request: HttpRequest,
    kind: str | None = None,
    region: str | None = None,
    status: str | None = None,
    q: str | None = None,
):
    return selectors.institution_list(request.auth, kind=kind, region=region, status=status, q=q)


@router.post("/institutions", response={201: InstitutionOut}, summary="登记医疗机构或药店")
def institutions_create(request: HttpRequest, payload: InstitutionIn):
    inst = services.institution_create(actor=request.auth, **payload.dict())
    return Status(201, _institution_out(selectors.institution_get(request.auth, inst.pk)))


@router.get("/institutions/{institution_id}", response=InstitutionOut, summary="机构详情")
def institutions_detail(request: HttpRequest, institution_id: int):
    return _institution_out(selectors.institution_get(request.auth, institution_id))


@router.patch("/institutions/{institution_id}", response=InstitutionOut, summary="修改机构信息")
def institutions_update(request: HttpRequest, institution_id: int, payload: InstitutionPatch):
    inst = selectors.institution_get(request.auth, institution_id)
    services.institution_update(
        actor=request.auth, institution=inst, **payload.dict(exclude_unset=True)
    )
    return _institution_out(selectors.institution_get(request.auth, institution_id))


@router.get(
    "/institutions/{institution_id}/drugs",
    response=list[EquippedDrugOut],
    summary="机构配备的药品",
)
def equipped_drugs_list(request: HttpRequest, institution_id: int):
    items = selectors.equipped_drug_list(request.auth, institution_id=institution_id)
    return [
        EquippedDrugOut(drug_id=e.drug_id, generic_name=e.drug.generic_name, since=e.since)
        for e in items
    ]


@router.post(
    "/institutions/{institution_id}/drugs",
    response={201: EquippedDrugOut},
    summary="登记配备药品",
)
def equipped_drugs_add(request: HttpRequest, institution_id: int, payload: EquippedDrugIn):
    inst = selectors.institution_get(request.auth, institution_id)
    item = services.equipped_drug_add(
        actor=request.auth, institution=inst, drug=_drug(payload.drug_id), since=payload.since
    )
    return Status(
        201,
        EquippedDrugOut(
            drug_id=item.drug_id, generic_name=item.drug.generic_name, since=item.since
        ),
    )


@router.delete(
    "/institutions/{institution_id}/drugs/{drug_id}",
    response={204: None},
    summary="撤下配备药品",
)
def equipped_drugs_remove(request: HttpRequest, institution_id: int, drug_id: int):
    inst = selectors.institution_get(request.auth, institution_id)
    services.equipped_drug_remove(actor=request.auth, institution=inst, drug=_drug(drug_id))
    return Status(204, None)


# Designations ---------------------------------------------------------------------------------


@router.get("/designations", response=list[DesignationOut], summary="双通道定点资格列表")
@paginate(LimitOffsetPagination)
def designations_list(
    request: HttpRequest,
    institution_id: int | None = None,
    physician_id: int | None = None,
    subject: str | None = None,
    status: str | None = None,
):
    return selectors.designation_list(
        request.auth,
        institution_id=institution_id,
        physician_id=physician_id,
        subject=subject,
        status=status,
    )


@router.post("/designations", response={201: DesignationDetail}, summary="申请双通道定点")
def designations_apply(request: HttpRequest, payload: DesignationApplyIn):
    institution = physician = None
    if payload.institution_id is not None:
        institution = selectors.institution_get(request.auth, payload.institution_id)
    if payload.physician_id is not None:
        physician = selectors.physician_get(request.auth, payload.physician_id)
    d = services.designation_apply(actor=request.auth, institution=institution, physician=physician)
    return Status(201, _designation_out(d))


@router.get("/designations/{designation_id}", response=DesignationDetail, summary="定点资格详情")
def designations_detail(request: HttpRequest, designation_id: int):
    d = selectors.designation_get(request.auth, designation_id)
    return _designation_out(d)


@router.post(
    "/designations/{designation_id}/transitions",
    response=DesignationDetail,
    summary="定点资格状态变更（评估、公示、签约、纳入、暂停、退出、不通过）",
)
def designations_transition(request: HttpRequest, designation_id: int, payload: TransitionIn):
    d = selectors.designation_get(request.auth, designation_id)
    d = services.designation_transition(
        actor=request.auth,
        designation=d,
        to_status=payload.to,
        reason=payload.reason,
        exit_reason=payload.exit_reason,
        agreement_no=payload.agreement_no,
    )
    return _designation_out(selectors.designation_get(request.auth, d.pk))


# Physicians and pharmacists -------------------------------------------------------------------


@router.get("/physicians", response=list[PhysicianOut], summary="责任医师列表")
@paginate(LimitOffsetPagination)
def physicians_list(
    request: HttpRequest, hospital_id: int | None = None, status: str | None = None
):
    return selectors.physician_list(request.auth, hospital_id=hospital_id, status=status)


@router.post("/physicians", response={201: PhysicianOut}, summary="医疗机构备案责任医师")
def physicians_file(request: HttpRequest, payload: PhysicianIn):
    hospital = selectors.institution_get(request.auth, payload.hospital_id)
    title = payload.title
    if isinstance(title, str) and title.isdigit():
        title = int(title)
    write = services.physician_file if payload.responsible else services.physician_register
    p = write(
        actor=request.auth,
        hospital=hospital,
        name=payload.name,
        staff_code=payload.staff_code,
        department=payload.department,
        title=title,
        practising_certificate_no=payload.practising_certificate_no,
    )
    return Status(201, _physician_out(selectors.physician_get(request.auth, p.pk)))


@router.get("/physicians/{physician_id}", response=PhysicianOut, summary="责任医师详情")
def physicians_detail(request: HttpRequest, physician_id: int):
    return _physician_out(selectors.physician_get(request.auth, physician_id))


@router.post(
    "/physicians/{physician_id}/assessments",
    response={201: AssessmentOut},
    summary="责任医师年度考核",
)
def physicians_assess(request: HttpRequest, physician_id: int, payload: AssessmentIn):
    p = selectors.physician_get(request.auth, physician_id)
    a = services.physician_assess(
        actor=request.auth, physician=p, year=payload.year, result=payload.result, note=payload.note
    )
    return Status(201, _assessment_out(a))


@router.post(
    "/physicians/{physician_id}/designations",
    response={201: DesignationDetail},
    summary="责任医师重新申请纳入",
)
def physicians_designate(request: HttpRequest, physician_id: int):
    p = selectors.physician_get(request.auth, physician_id)
    d = services.designation_apply(actor=request.auth, physician=p)
    return Status(201, _designation_out(d))


@router.get("/pharmacists", response=list[PharmacistOut], summary="药师列表")
@paginate(LimitOffsetPagination)
def pharmacists_list(request: HttpRequest, pharmacy_id: int | None = None):
    return selectors.pharmacist_list(request.auth, pharmacy_id=pharmacy_id)


@router.post("/pharmacists", response={201: PharmacistOut}, summary="登记药师")
def pharmacists_create(request: HttpRequest, payload: PharmacistIn):
    pharmacy = selectors.institution_get(request.auth, payload.pharmacy_id)
    p = services.pharmacist_create(
        actor=request.auth,
        pharmacy=pharmacy,
        name=payload.name,
        practising_certificate_no=payload.practising_certificate_no,
    )
    return Status(201, _pharmacist_out(p))


# Insured persons ------------------------------------------------------------------------------


@router.get("/insured-persons", response=list[InsuredPersonListOut], summary="参保人列表（脱敏）")
@paginate(LimitOffsetPagination)
def insured_persons_list(request: HttpRequest, q: str | None = None):
    return selectors.insured_person_list(request.auth, q=q)


@router.post("/insured-persons", response={201: InsuredPersonOut}, summary="登记参保人")
def insured_persons_create(request: HttpRequest, payload: InsuredPersonIn):
    p = services.insured_person_create(actor=request.auth, **payload.dict())
    return Status(201, _person_out(p, full=True))


@router.get(
    "/insured-persons/{person_id}",
    response=InsuredPersonOut,
    summary="参保人详情（经办人员可见完整证件号）",
)
def insured_persons_detail(request: HttpRequest, person_id: int):
    p = selectors.insured_person_get(request.auth, person_id)
    full = selectors.can_see_full_identifiers(request.auth, p)
    if full:  # each unmasked answer is one audited view (core.reveal)
        reveal.record_view(
            actor=request.auth, person=p, subject=p, via=reveal.VIA_API, fields=FULL_FIELDS
        )
    return _person_out(p, full=full)


@router.patch("/insured-persons/{person_id}", response=InsuredPersonOut, summary="更正参保人信息")
def insured_persons_update(request: HttpRequest, person_id: int, payload: InsuredPersonPatch):
    p = selectors.insured_person_get(request.auth, person_id)
    p = services.insured_person_update(
        actor=request.auth, person=p, **payload.dict(exclude_unset=True)
    )
    reveal.record_view(
        actor=request.auth, person=p, subject=p, via=reveal.VIA_API, fields=FULL_FIELDS
    )
    return _person_out(p, full=True)


# Policy profiles ------------------------------------------------------------------------------


@router.get("/profiles/{region_code}", response=PolicyProfileOut, summary="区划适用的政策参数")
def profiles_get(request: HttpRequest, region_code: str):
    return _profile_out(selectors.profile_get(region_code), region_code)


@router.patch(
    "/profiles/{region_code}",
    response=PolicyProfileOut,
    summary="修改政策参数（无本级参数时从上级复制后修改）",
)
def profiles_update(request: HttpRequest, region_code: str, payload: ProfilePatch):
    region = _region_or_error(region_code)
    p = services.profile_update(
        actor=request.auth, region=region, changes=payload.dict(exclude_unset=True)
    )
    return _profile_out(p, region_code)


# Inpatient stays and the inpatient filing form's review [AH §2(5) and annex, CX art. 19] -------


class StayIn(Schema):
    id_number: str = Field(..., max_length=18)
    admission_no: str = Field(..., max_length=40)
    admitted_on: date
    diagnosis_code: str = Field(..., max_length=40)
    diagnosis_name: str = Field(..., max_length=200)


class StayOut(Schema):
    id: int
    hospital_id: int
    admission_no: str
    admitted_on: date
    diagnosis_code: str
    diagnosis_name: str
    person_name: str
    person_id_number: str  # masked


def _stay_out(stay: InpatientStay) -> StayOut:
    return StayOut(
        id=stay.pk,
        hospital_id=stay.hospital_id,
        admission_no=stay.admission_no,
        admitted_on=stay.admitted_on,
        diagnosis_code=stay.diagnosis_code,
        diagnosis_name=stay.diagnosis_name,
        person_name=mask_name(stay.person.name),
        person_id_number=mask_id_number(stay.person.id_number),
    )


@router.post("/stays", response={201: StayOut}, summary="医院医保办登记住院（住院号）")
def stays_register(request: HttpRequest, payload: StayIn):
    stay = services.stay_register(actor=request.auth, **payload.dict())
    return Status(201, _stay_out(selectors.stay_get(request.auth, stay.pk)))


@router.get("/stays", response=list[StayOut], summary="本院住院登记")
@paginate(LimitOffsetPagination)
def stays_list(request: HttpRequest):
    return [_stay_out(s) for s in selectors.stays_for(request.auth)]


class FilingReviewOut(Schema):
    id: int
    document_id: int
    stay_id: int
    admission_no: str
    person_name: str
    status: str
    status_label: str
    opinion: str
    submitted_at: datetime
    reviewed_at: datetime | None


class FilingReviewIn(Schema):
    approve: bool
    opinion: str = Field("", max_length=500)


def _review_out(review: FilingReview) -> FilingReviewOut:
    return FilingReviewOut(
        id=review.pk,
        document_id=review.document_id,
        stay_id=review.stay_id,
        admission_no=review.stay.admission_no,
        person_name=mask_name(review.stay.person.name),
        status=review.status,
        status_label=review.get_status_display(),
        opinion=review.opinion,
        submitted_at=review.submitted_at,
        reviewed_at=review.reviewed_at,
    )


@router.get(
    "/filing-reviews", response=list[FilingReviewOut], summary="住院外购备案表医保办审核队列"
)
@paginate(LimitOffsetPagination)
def filing_reviews_list(request: HttpRequest):
    return [_review_out(r) for r in selectors.filing_reviews_for(request.auth)]


@router.post(
    "/filing-reviews/{review_id}/decide",
    response=FilingReviewOut,
    summary="医院医保办审核住院外购备案表（同意/不同意，附审核意见）",
)
def filing_reviews_decide(request: HttpRequest, review_id: int, payload: FilingReviewIn):
    review = services.filing_review_decide(
        actor=request.auth, review_id=review_id, approve=payload.approve, opinion=payload.opinion
    )
    return _review_out(selectors.filing_reviews_for(request.auth).get(pk=review.pk))
