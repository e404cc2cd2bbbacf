"""Services for people: responsible physicians, pharmacists and insured persons."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role

from .. import error_codes as codes
from ..designations import title_shortfall
from ..models import (
    BenefitStatus,
    BenefitStatusChange,
    Institution,
    InstitutionKind,
    InsuranceType,
    InsuredPerson,
    Pharmacist,
    Physician,
    PhysicianAssessment,
    Region,
    TitleRank,
)
from ..profiles import profile_for
from ..validation import parse_id_number
from .common import (
    clean_phone,
    clean_region,
    clean_text,
    day_or_today,
    officer_covers,
    require_officer_for,
    require_staff_or_officer,
)
from .designations import designation_apply

# Physicians -----------------------------------------------------------------------------------


def _title(value: Any) -> int:
    if isinstance(value, str) and value in TitleRank.names:
        return TitleRank[value].value
    if value in TitleRank.values:
        return int(value)
    raise field_error("title", codes.INVALID_FIELD, "职称无效")


@dataclass(frozen=True)
class _PhysicianInput:
    name: str
    staff_code: str
    department: str
    title: int
    certificate: str


def _clean_physician(
    actor: User,
    hospital: Institution,
    name: str,
    staff_code: str,
    department: str,
    title: int | str,
    practising_certificate_no: str,
) -> _PhysicianInput:
    if hospital.kind != InstitutionKind.HOSPITAL:
        raise field_error("hospital", codes.NOT_A_HOSPITAL, "医保医师须属于医疗机构")
    require_staff_or_officer(actor, hospital, (Role.REVIEWER,))
    return _PhysicianInput(
        name=clean_text("name", name, required=True, max_length=50),
        staff_code=clean_text("staff_code", staff_code, required=True, max_length=30),
        department=clean_text("department", department, required=True, max_length=50),
        title=_title(title),
        certificate=clean_text(
            "practising_certificate_no", practising_certificate_no, required=True, max_length=30
        ),
    )


def _create_physician(
    actor: User, hospital: Institution, data: _PhysicianInput, user: User | None, action: str
) -> Physician:
    """Inside the transaction: lock the hospital, refuse a known staff code, write and audit."""
    Institution.objects.select_for_update().get(pk=hospital.pk)
    if Physician.objects.filter(staff_code=data.staff_code).exists():
        raise Conflict(
            codes.DUPLICATE_STAFF_CODE,
            "该医保医师代码已登记",
            fields={"staff_code": ["该医保医师代码已登记"]},
        )
    physician = Physician.objects.create(
        hospital=hospital,
        name=data.name,
        staff_code=data.staff_code,
        department=data.department,
        title=data.title,
        practising_certificate_no=data.certificate,
        user=user,
    )
    # designation_apply locks the physician: take it now, before the audit head (core.locks)
    Physician.objects.select_for_update().get(pk=physician.pk)
    audit.record(
        actor=actor,
        role=actor_role(actor),
        action=action,
        subject=physician,
        after=physician,
        summary={"hospital": hospital.pk, "title": data.title},
    )
    return physician


def physician_register(
    *,
    actor: User,
    hospital: Institution,
    name: str,
    staff_code: str,
    department: str,
    title: int | str,
    practising_certificate_no: str,
    user: User | None = None,
) -> Physician:
    """The hospital registers a 医保医师 who is not (yet) a responsible physician.

    Where the profile lets any 医保医师 prescribe the dual-channel drugs that are not separately
    paid [HB art. 13–15, 42], such a physician prescribes them; no title floor applies (the seeds
    set one only for responsible physicians) and no designation round is opened.
    """
    data = _clean_physician(
        actor, hospital, name, staff_code, department, title, practising_certificate_no
    )
    with transaction.atomic():
        return _create_physician(actor, hospital, data, user, "registry.physician_registered")


def physician_file(
    *,
    actor: User,
    hospital: Institution,
    name: str,
    staff_code: str,
    department: str,
    title: int | str,
    practising_certificate_no: str,
    user: User | None = None,
    today: date | None = None,
) -> Physician:
    """The hospital files a responsible physician with the agency [AH §2(2), CX art. 20].

    The title is checked against the profile of the hospital's region; a designation round is
    opened (applied) for the agency to accept.
    """
    data = _clean_physician(
        actor, hospital, name, staff_code, department, title, practising_certificate_no
    )
    profile = profile_for(hospital.region)
    shortfall = title_shortfall(data.title, profile, hospital)
    if shortfall:
        raise field_error("title", codes.TITLE_BELOW_MINIMUM, shortfall)
    with transaction.atomic():
        physician = _create_physician(actor, hospital, data, user, "registry.physician_filed")
        designation_apply(actor=actor, physician=physician, today=today)
    return physician


def physician_assess(
    *,
    actor: User,
    physician: Physician,
    year: int,
    result: str,
    note: str = "",
) -> PhysicianAssessment:
    """Record the hospital's annual assessment of a responsible physician [CX art. 20]."""
    require_staff_or_officer(actor, physician.hospital, (Role.REVIEWER,))
    if result not in PhysicianAssessment.Result.values:
        raise field_error("result", codes.INVALID_FIELD, "考核结果无效")
    this_year = timezone.localdate().year
    if not isinstance(year, int) or not 2000 <= year <= this_year:
        raise field_error("year", codes.INVALID_YEAR, f"考核年度须在2000至{this_year}之间")
    with transaction.atomic():
        Institution.objects.select_for_update().get(pk=physician.hospital_id)
        if PhysicianAssessment.objects.filter(physician=physician, year=year).exists():
            raise Conflict(
                codes.DUPLICATE_ASSESSMENT,
                f"{year}年度考核已登记",
                fields={"year": [f"{year}年度考核已登记"]},
            )
        assessment = PhysicianAssessment.objects.create(
            physician=physician,
            year=year,
            result=result,
            note=clean_text("note", note, max_length=2000),
            assessed_by=actor,
        )
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.physician_assessed",
            subject=assessment,
            after=assessment,
            summary={"physician": physician.pk, "year": year, "result": result},
        )
    return assessment


# Pharmacists ----------------------------------------------------------------------------------


def pharmacist_create(
    *,
    actor: User,
    pharmacy: Institution,
    name: str,
    practising_certificate_no: str,
    user: User | None = None,
) -> Pharmacist:
    if pharmacy.kind != InstitutionKind.PHARMACY:
        raise field_error("pharmacy", codes.NOT_A_PHARMACY, "药师须属于零售药店")
    require_staff_or_officer(actor, pharmacy, (Role.PHARMACIST,))
    name = clean_text("name", name, required=True, max_length=50)
    certificate = clean_text(
        "practising_certificate_no", practising_certificate_no, required=True, max_length=30
    )
    with transaction.atomic():
        Institution.objects.select_for_update().get(pk=pharmacy.pk)
        if Pharmacist.objects.filter(practising_certificate_no=certificate).exists():
            raise Conflict(
                codes.DUPLICATE_CERTIFICATE,
                "该执业药师注册证号已登记",
                fields={"practising_certificate_no": ["该执业药师注册证号已登记"]},
            )
        pharmacist = Pharmacist.objects.create(
            pharmacy=pharmacy, name=name, practising_certificate_no=certificate, user=user
        )
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.pharmacist_created",
            subject=pharmacist,
            after=pharmacist,
            summary={"pharmacy": pharmacy.pk},
        )
    return pharmacist


# Insured persons ------------------------------------------------------------------------------


def _new_person_no(region: Region) -> str:
    while True:
        candidate = f"{region.code}{secrets.randbelow(10**14):014d}"
        if not InsuredPerson.objects.filter(person_no=candidate).exists():
            return candidate


def insured_person_create(
    *,
    actor: User,
    id_number: str,
    name: str,
    insurance_type: str,
    enrolment_region: str | Region,
    phone: str = "",
    address: str = "",
    person_no: str | None = None,
    today: date | None = None,
) -> InsuredPerson:
    """Register an insured person; sex and birth date come from the ID number, never typed."""
    require_role(actor, Role.AGENCY_OFFICER)
    facts = parse_id_number(id_number, today=day_or_today(today))
    name = clean_text("name", name, required=True, max_length=50)
    if insurance_type not in InsuranceType.values:
        raise field_error(
            "insurance_type", codes.INVALID_FIELD, "参保类型须为职工（310）或居民（390）"
        )
    region = clean_region(enrolment_region, field="enrolment_region")
    if not officer_covers(actor, region.code):
        raise field_error(
            "enrolment_region", codes.REGION_OUT_OF_SCOPE, "只能登记本经办机构辖区的参保人"
        )
    phone = clean_phone(phone)
    address = clean_text("address", address)
    person_no = clean_text("person_no", person_no, max_length=30)
    with transaction.atomic():
        Region.objects.select_for_update().filter(code=region.code).first()
        if InsuredPerson.objects.filter(id_number=facts.number).exists():
            raise Conflict(
                codes.DUPLICATE_ID_NUMBER,
                "该身份证号已登记",
                fields={"id_number": ["该身份证号已登记"]},
            )
        if person_no and InsuredPerson.objects.filter(person_no=person_no).exists():
            raise Conflict(
                codes.DUPLICATE_PERSON_NO,
                "该人员编号已登记",
                fields={"person_no": ["该人员编号已登记"]},
            )
        try:
            with transaction.atomic():
                person = InsuredPerson.objects.create(
                    id_number=facts.number,
                    name=name,
                    sex=facts.sex,
                    birth_date=facts.birth_date,
                    phone=phone,
                    address=address,
                    insurance_type=insurance_type,
                    enrolment_region=region,
                    person_no=person_no or _new_person_no(region),
                    benefit_status=BenefitStatus.NORMAL,
                )
        except IntegrityError:
            raise Conflict(
                codes.DUPLICATE_ID_NUMBER,
                "该身份证号已登记",
                fields={"id_number": ["该身份证号已登记"]},
            ) from None
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.insured_person_created",
            subject=person,
            after=person,
            patient=person,
            summary={"insurance_type": insurance_type, "region": region.code},
        )
    return person


PERSON_UPDATABLE = ("id_number", "name", "phone", "address", "insurance_type", "enrolment_region")


def _same_enrolment_region(person: InsuredPerson, value: Any) -> None:
    """A correction may not move the enrolment region: that is a transfer of the insurance
    relation, recorded with its date so that benefits follow the new region from that day and
    the eligibilities move with it [HB art. 50] (the agency's transfer page)."""
    region = clean_region(value, field="enrolment_region")
    if region.code != person.enrolment_region_id:
        raise field_error(
            "enrolment_region",
            codes.ENROLMENT_CHANGE_BY_TRANSFER,
            "参保地变更须办理参保关系转移（用药资格随之转移，自转移生效日起按转入地规定享受待遇），"
            "请在“参保关系转移与用药资格”页面办理",
        )


def insured_person_update(*, actor: User, person: InsuredPerson, **changes: Any) -> InsuredPerson:
    """Correct a person's data; a corrected ID number re-derives sex and birth date."""
    unknown = set(changes) - set(PERSON_UPDATABLE)
    if unknown:
        raise field_error(sorted(unknown)[0], codes.INVALID_FIELD, "该字段不可修改")
    require_officer_for(actor, person.enrolment_region_id)
    with transaction.atomic():
        locked = InsuredPerson.objects.select_for_update().get(pk=person.pk)
        before = snapshot(locked)
        if "id_number" in changes:
            facts = parse_id_number(changes.pop("id_number"))
            if InsuredPerson.objects.filter(id_number=facts.number).exclude(pk=locked.pk).exists():
                raise Conflict(
                    codes.DUPLICATE_ID_NUMBER,
                    "该身份证号已登记",
                    fields={"id_number": ["该身份证号已登记"]},
                )
            locked.id_number = facts.number
            locked.sex = facts.sex
            locked.birth_date = facts.birth_date
        if "name" in changes:
            locked.name = clean_text("name", changes.pop("name"), required=True, max_length=50)
        if "phone" in changes:
            locked.phone = clean_phone(changes.pop("phone"))
        if "address" in changes:
            locked.address = clean_text("address", changes.pop("address"))
        if "insurance_type" in changes:
            value = changes.pop("insurance_type")
            if value not in InsuranceType.values:
                raise field_error(
                    "insurance_type", codes.INVALID_FIELD, "参保类型须为职工（310）或居民（390）"
                )
            locked.insurance_type = value
        if "enrolment_region" in changes:
            _same_enrolment_region(locked, changes.pop("enrolment_region"))
        locked.save()
        changed = sorted(k for k, v in snapshot(locked).items() if before.get(k) != v)
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.insured_person_updated",
            subject=locked,
            before=before,
            after=locked,
            patient=locked,
            summary={"fields": changed},
        )
    return locked


def benefit_status_change_record(
    person: InsuredPerson,
    was: str,
    *,
    actor: User | None,
    since: date | None = None,
    reason: str = "",
) -> BenefitStatusChange:
    """Date a change of the person's benefit status (already saved on the person) from the day
    it took effect, or today where the source gives no day; in the caller's transaction."""
    today = timezone.localdate()
    return BenefitStatusChange.objects.create(
        person=person,
        from_status=was,
        to_status=person.benefit_status,
        effective_on=min(since, today) if since else today,
        actor=actor,
        reason=reason,
    )


@dataclass(frozen=True)
class PlatformPerson:
    """What the national platform's person query (1101) says of an insured person."""

    id_number: str
    name: str
    person_no: str  # psn_no
    insurance_type: str  # insutype of the basic insurance (310 / 390)
    region_code: str  # insuplc_admdvs
    benefit_status: str  # BenefitStatus, from psn_insu_stas / paus_insu_date
    # the day the status took effect where the platform says (paus_insu_date of a pause);
    # None: the day the registry learns it
    benefit_status_since: date | None = None


PLATFORM_FIELDS = ("name", "person_no", "insurance_type", "enrolment_region", "benefit_status")


def _clean_platform_person(data: PlatformPerson) -> tuple[str, str, Region]:
    facts = parse_id_number(data.id_number)
    name = clean_text("name", data.name, required=True, max_length=50)
    if data.insurance_type not in InsuranceType.values:
        raise field_error(
            "insurance_type", codes.INVALID_FIELD, "参保类型须为职工（310）或居民（390）"
        )
    if data.benefit_status not in BenefitStatus.values:
        raise field_error("benefit_status", codes.INVALID_FIELD, "待遇状态无效")
    clean_text("person_no", data.person_no, required=True, max_length=30)
    region = clean_region(data.region_code, field="enrolment_region")
    return facts.number, name, region


def _require_may_update_from_platform(actor: User, person: InsuredPerson) -> None:
    """A registered person is brought up to date by a hospital's staff (the patient is in front
    of them) or by an officer of the person's enrolment region, not by another region's officer."""
    if actor.is_superuser or actor.role_set.intersection((Role.PHYSICIAN, Role.REVIEWER)):
        return
    if not officer_covers(actor, person.enrolment_region_id):
        raise field_error(
            "id_number",
            codes.REGION_OUT_OF_SCOPE,
            "该参保人已由其他统筹区登记，请由其参保地医保经办机构更新",
        )


def insured_person_record_platform(
    *, actor: User, data: PlatformPerson
) -> tuple[InsuredPerson, bool]:
    """Create or bring up to date the person the platform answered for [national 1101]: name,
    person number, insurance type, enrolment region and benefit status come from the platform,
    sex and birth date from the ID number. Returns (person, created).

    The caller asked the platform before, outside any transaction; this is the one transaction
    that writes, with its audit event. Done for a hospital (physician, reviewer) or an officer.
    """
    require_role(actor, Role.PHYSICIAN, Role.REVIEWER, Role.AGENCY_OFFICER)
    number, name, region = _clean_platform_person(data)
    facts = parse_id_number(number)
    with transaction.atomic():
        Region.objects.select_for_update().filter(code=region.code).first()
        person = InsuredPerson.objects.select_for_update().filter(id_number=number).first()
        taken = InsuredPerson.objects.filter(person_no=data.person_no)
        if person is not None:
            taken = taken.exclude(pk=person.pk)
        if taken.exists():
            raise Conflict(
                codes.DUPLICATE_PERSON_NO,
                "医保信息平台返回的人员编号已属于另一参保人，请联系医保经办机构核对",
                fields={"person_no": ["该人员编号已登记"]},
            )
        created = person is None
        if not created:
            _require_may_update_from_platform(actor, person)
        before = {} if created else snapshot(person)
        if created:
            person = InsuredPerson(id_number=number, sex=facts.sex, birth_date=facts.birth_date)
        person.name = name
        person.person_no = data.person_no
        person.insurance_type = data.insurance_type
        person.enrolment_region = region
        was = "" if created else person.benefit_status
        person.benefit_status = data.benefit_status
        try:
            with transaction.atomic():
                person.save()
        except IntegrityError:
            raise Conflict(
                codes.DUPLICATE_ID_NUMBER,
                "该参保人正由他人同时登记，请重试",
                fields={"id_number": ["该身份证号已登记"]},
            ) from None
        if data.benefit_status != (was or BenefitStatus.NORMAL):
            benefit_status_change_record(
                person, was, actor=actor, since=data.benefit_status_since, reason="医保信息平台"
            )
        changed = sorted(k for k, v in snapshot(person).items() if before.get(k) != v)
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.insured_person_fetched",
            subject=person,
            before=before or None,
            after=person,
            patient=person,
            summary={
                "source": "1101",
                "created": created,
                "fields": [] if created else changed,
                "insurance_type": data.insurance_type,
                "region": region.code,
                "benefit_status": data.benefit_status,
            },
        )
    return person, created
