"""The only writers of the registry: one transaction each, locked, checked, audited."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition

from . import error_codes as codes
from .designations import (
    OPEN_STATUSES,
    REASON_REQUIRED,
    institution_shortfalls,
    machine_for,
    title_shortfall,
)
from .designations import ban_end as compute_ban_end
from .models import (
    Designation,
    DesignationStatus,
    DesignationTransition,
    EquippedDrug,
    ExitReason,
    HospitalLevel,
    Institution,
    InstitutionKind,
    Physician,
    PolicyProfile,
    Region,
)
from .people_services import (
    insured_person_create,
    insured_person_update,
    pharmacist_create,
    physician_assess,
    physician_file,
)
from .profiles import clean_profile_values, profile_for
from .service_helpers import (
    _officer_covers,
    _phone,
    _region,
    _require_officer_for,
    _require_staff_or_officer,
    _text,
    _today,
)
from .validation import clean_credit_code

S = DesignationStatus

CAPABILITY_FIELDS = (
    "has_pathology",
    "has_gene_testing",
    "has_biologics_licence",
    "has_cold_chain",
    "realtime_settlement",
    "e_prescription_connected",
    "traceability_enabled",
)
INSTITUTION_TEXT_FIELDS = ("name", "platform_code", "address", "phone")
INSTITUTION_UPDATABLE = (
    *INSTITUTION_TEXT_FIELDS,
    "credit_code",
    "region",
    "hospital_level",
    *CAPABILITY_FIELDS,
)


__all__ = [
    "designation_apply",
    "designation_transition",
    "equipped_drug_add",
    "equipped_drug_remove",
    "institution_create",
    "institution_update",
    "insured_person_create",
    "insured_person_update",
    "pharmacist_create",
    "physician_assess",
    "physician_file",
    "profile_update",
]


# Institutions ---------------------------------------------------------------------------------


def _check_institution_shape(
    kind: str, hospital_level: int | None, capabilities: dict[str, bool]
) -> None:
    if kind == InstitutionKind.HOSPITAL:
        if hospital_level not in HospitalLevel.values:
            raise field_error(
                "hospital_level",
                codes.HOSPITAL_LEVEL_REQUIRED,
                "医疗机构须填写医院等级（一至三级）",
            )
    elif hospital_level is not None:
        raise field_error("hospital_level", codes.INVALID_FIELD, "只有医疗机构有医院等级")
    for name, value in capabilities.items():
        if not isinstance(value, bool):
            raise field_error(name, codes.INVALID_FIELD, "须为是或否")


def institution_create(
    *,
    actor: User,
    kind: str,
    name: str,
    credit_code: str,
    region: str | Region,
    address: str = "",
    phone: str = "",
    platform_code: str = "",
    hospital_level: int | None = None,
    has_pathology: bool = False,
    has_gene_testing: bool = False,
    has_biologics_licence: bool = False,
    has_cold_chain: bool = False,
    realtime_settlement: bool = False,
    e_prescription_connected: bool = False,
    traceability_enabled: bool = False,
) -> Institution:
    """Register a hospital or pharmacy of the officer's region (agencies: admins only)."""
    require_role(actor, Role.AGENCY_OFFICER)
    if kind not in InstitutionKind.values:
        raise field_error("kind", codes.INVALID_KIND, "机构类型无效")
    if kind == InstitutionKind.AGENCY and not actor.is_superuser:
        raise PermissionDenied("permission_denied", "医保经办机构只能由系统管理员登记")
    name = _text("name", name, required=True, max_length=100)
    code = clean_credit_code(credit_code)
    region_obj = _region(region, county_only=kind != InstitutionKind.AGENCY)
    if not _officer_covers(actor, region_obj.code):
        raise field_error("region", codes.REGION_OUT_OF_SCOPE, "只能登记本经办机构辖区内的机构")
    capabilities = {
        "has_pathology": has_pathology,
        "has_gene_testing": has_gene_testing,
        "has_biologics_licence": has_biologics_licence,
        "has_cold_chain": has_cold_chain,
        "realtime_settlement": realtime_settlement,
        "e_prescription_connected": e_prescription_connected,
        "traceability_enabled": traceability_enabled,
    }
    _check_institution_shape(kind, hospital_level, capabilities)
    with transaction.atomic():
        Region.objects.select_for_update().filter(code=region_obj.code).first()
        if Institution.objects.filter(credit_code=code).exists():
            raise Conflict(
                codes.DUPLICATE_CREDIT_CODE,
                "该统一社会信用代码已登记",
                fields={"credit_code": ["该统一社会信用代码已登记"]},
            )
        try:
            with transaction.atomic():
                institution = Institution.objects.create(
                    kind=kind,
                    name=name,
                    credit_code=code,
                    region=region_obj,
                    address=_text("address", address),
                    phone=_phone(phone),
                    platform_code=_text("platform_code", platform_code, max_length=12),
                    hospital_level=hospital_level,
                    **capabilities,
                )
        except IntegrityError:
            raise Conflict(
                codes.DUPLICATE_CREDIT_CODE,
                "该统一社会信用代码已登记",
                fields={"credit_code": ["该统一社会信用代码已登记"]},
            ) from None
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.institution_created",
            subject=institution,
            after=institution,
            summary={"kind": kind, "region": region_obj.code},
        )
    return institution


def institution_update(*, actor: User, institution: Institution, **changes: Any) -> Institution:
    """Change an institution's data and capabilities (never its kind or designation status)."""
    unknown = set(changes) - set(INSTITUTION_UPDATABLE)
    if unknown:
        name = sorted(unknown)[0]
        raise field_error(name, codes.INVALID_FIELD, "该字段不可修改")
    _require_officer_for(actor, institution.region_id)
    with transaction.atomic():
        inst = Institution.objects.select_for_update().get(pk=institution.pk)
        before = snapshot(inst)
        if "region" in changes:
            region_obj = _region(
                changes.pop("region"), county_only=inst.kind != InstitutionKind.AGENCY
            )
            if not _officer_covers(actor, region_obj.code):
                raise field_error(
                    "region", codes.REGION_OUT_OF_SCOPE, "只能迁入本经办机构辖区内的区划"
                )
            inst.region = region_obj
        if "credit_code" in changes:
            code = clean_credit_code(changes.pop("credit_code"))
            if Institution.objects.filter(credit_code=code).exclude(pk=inst.pk).exists():
                raise Conflict(
                    codes.DUPLICATE_CREDIT_CODE,
                    "该统一社会信用代码已登记",
                    fields={"credit_code": ["该统一社会信用代码已登记"]},
                )
            inst.credit_code = code
        for field in INSTITUTION_TEXT_FIELDS:
            if field in changes:
                value = changes.pop(field)
                if field == "phone":
                    value = _phone(value)
                else:
                    value = _text(
                        field,
                        value,
                        required=field == "name",
                        max_length={"name": 100, "platform_code": 12}.get(field, 200),
                    )
                setattr(inst, field, value)
        if "hospital_level" in changes:
            inst.hospital_level = changes.pop("hospital_level")
        capabilities = {f: changes.pop(f) for f in CAPABILITY_FIELDS if f in changes}
        _check_institution_shape(inst.kind, inst.hospital_level, capabilities)
        for f, v in capabilities.items():
            setattr(inst, f, v)
        inst.save()
        changed = sorted(k for k, v in snapshot(inst).items() if before.get(k) != v)
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.institution_updated",
            subject=inst,
            before=before,
            after=inst,
            summary={"fields": changed},
        )
    return inst


# Designations ---------------------------------------------------------------------------------


def _latest_ban(*, institution: Institution | None, physician: Physician | None) -> date | None:
    qs = Designation.objects.filter(status=S.EXITED, ban_until__isnull=False)
    qs = qs.filter(institution=institution) if institution else qs.filter(physician=physician)
    return qs.order_by("-ban_until").values_list("ban_until", flat=True).first()


def designation_apply(
    *,
    actor: User,
    institution: Institution | None = None,
    physician: Physician | None = None,
    today: date | None = None,
) -> Designation:
    """Open a designation round for a hospital, pharmacy or physician.

    Refused while a round is open, or while the ban after the latest exit lasts [HB art. 21-22].
    """
    today = _today(today)
    if (institution is None) == (physician is None):
        raise DomainError(codes.INVALID_FIELD, "须指定一个机构或一名医师")
    if institution is not None:
        if institution.kind == InstitutionKind.AGENCY:
            raise DomainError(codes.NOT_DESIGNATABLE, "医保经办机构不参与双通道定点")
        staff_roles = (
            (Role.REVIEWER,) if institution.kind == InstitutionKind.HOSPITAL else (Role.PHARMACIST,)
        )
        _require_staff_or_officer(actor, institution, staff_roles)
        lock_inst_id = institution.pk
    else:
        _require_staff_or_officer(actor, physician.hospital, (Role.REVIEWER,))
        lock_inst_id = physician.hospital_id
    with transaction.atomic():
        locked_inst = Institution.objects.select_for_update().get(pk=lock_inst_id)
        if physician is not None:
            physician = Physician.objects.select_for_update().get(pk=physician.pk)
            profile = profile_for(locked_inst.region)
            shortfall = title_shortfall(physician.title, profile, locked_inst)
            if shortfall:
                raise field_error("title", codes.TITLE_BELOW_MINIMUM, shortfall)
        subject = {"institution": locked_inst} if institution else {"physician": physician}
        if Designation.objects.filter(status__in=OPEN_STATUSES, **subject).exists():
            raise Conflict(codes.DESIGNATION_OPEN, "已有进行中的双通道定点申请或资格")
        banned_until = _latest_ban(institution=institution and locked_inst, physician=physician)
        if banned_until is not None and today < banned_until:
            raise Conflict(
                codes.DESIGNATION_BANNED,
                f"退出双通道管理后禁入至{banned_until:%Y年%m月%d日}，"
                f"{banned_until:%Y年%m月%d日}起方可重新申请",
                fields={"ban_until": [banned_until.isoformat()]},
            )
        try:
            with transaction.atomic():
                designation = Designation.objects.create(applied_on=today, **subject)
        except IntegrityError:
            raise Conflict(codes.DESIGNATION_OPEN, "已有进行中的双通道定点申请或资格") from None
        DesignationTransition.objects.create(
            designation=designation, from_status="", to_status=S.APPLIED, actor=actor, reason=""
        )
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.designation_applied",
            subject=designation,
            after=designation,
            summary={
                "subject": "institution" if institution else "physician",
                "subject_id": (locked_inst.pk if institution else physician.pk),
                "to": S.APPLIED,
            },
        )
    return designation


def designation_transition(
    *,
    actor: User,
    designation: Designation,
    to_status: str,
    reason: str = "",
    exit_reason: str | None = None,
    agreement_no: str | None = None,
    today: date | None = None,
) -> Designation:
    """Move a designation along its state machine; every refusal leaves it unchanged."""
    today = _today(today)
    require_role(actor, Role.AGENCY_OFFICER)
    if to_status not in S.values:
        raise field_error("to", codes.INVALID_FIELD, "目标状态无效")
    reason = _text("reason", reason, max_length=2000)
    with transaction.atomic():
        current = Designation.objects.select_related("physician").get(pk=designation.pk)
        inst_id = current.institution_id or current.physician.hospital_id
        inst = Institution.objects.select_for_update().get(pk=inst_id)
        if not _officer_covers(actor, inst.region_id):
            raise NotFound()
        locked = Designation.objects.select_for_update().get(pk=designation.pk)
        physician = (
            Physician.objects.select_for_update().get(pk=locked.physician_id)
            if locked.physician_id
            else None
        )
        machine_for(locked).check(locked.status, to_status)
        if to_status in REASON_REQUIRED and not reason:
            raise field_error("reason", codes.INVALID_FIELD, "请填写原因")
        if to_status == S.EXITED:
            if exit_reason not in ExitReason.values:
                raise field_error("exit_reason", codes.EXIT_REASON_REQUIRED, "退出须选择退出原因")
        elif exit_reason:
            raise field_error(
                "exit_reason", codes.EXIT_REASON_NOT_ALLOWED, "只有退出时填写退出原因"
            )
        agreement_no = _text("agreement_no", agreement_no, max_length=50)
        if to_status == S.AGREEMENT_SIGNED and not agreement_no:
            raise field_error(
                "agreement_no", codes.AGREEMENT_NO_REQUIRED, "签订补充协议须填写协议编号"
            )
        profile = profile_for(inst.region)
        if to_status == S.EVALUATED:
            missing = institution_shortfalls(inst, profile, today=today)
            if missing:
                raise DomainError(
                    codes.CONDITIONS_NOT_MET,
                    "不符合双通道定点条件：" + "；".join(missing),
                    fields={"conditions": missing},
                )
        if physician is not None and to_status == S.ACTIVE:
            shortfall = title_shortfall(physician.title, profile, inst)
            if shortfall:
                raise field_error("title", codes.TITLE_BELOW_MINIMUM, shortfall)
            hospital_active = Designation.objects.filter(institution=inst, status=S.ACTIVE).exists()
            if not hospital_active:
                raise DomainError(
                    codes.HOSPITAL_NOT_DESIGNATED,
                    f"{inst.name}不是双通道定点医疗机构，不能备案责任医师",
                )

        changes: dict[str, Any] = {}
        facts: dict[str, Any] = {}
        if to_status == S.AGREEMENT_SIGNED:
            changes["agreement_no"] = agreement_no
        if to_status == S.ACTIVE and locked.effective_from is None:
            changes["effective_from"] = today
        if to_status == S.EXITED:
            ban_until = compute_ban_end(today, profile)
            changes |= {"exit_reason": exit_reason, "exited_on": today, "ban_until": ban_until}
            facts = {
                "exit_reason": exit_reason,
                "ban_until": ban_until.isoformat() if ban_until else None,
            }
        transition(locked, to_status, actor=actor, reason=reason, changes=changes, **facts)
    return locked


# Equipped drugs -------------------------------------------------------------------------------

EQUIP_STAFF_ROLES = (Role.REVIEWER, Role.PHARMACIST)


def equipped_drug_add(
    *, actor: User, institution: Institution, drug, since: date | None = None
) -> EquippedDrug:
    """Publish that an institution carries a drug [SD §4, §8]."""
    if institution.kind == InstitutionKind.AGENCY:
        raise DomainError(codes.NOT_DESIGNATABLE, "医保经办机构不配备药品")
    _require_staff_or_officer(actor, institution, EQUIP_STAFF_ROLES)
    with transaction.atomic():
        Institution.objects.select_for_update().get(pk=institution.pk)
        if EquippedDrug.objects.filter(institution=institution, drug=drug).exists():
            raise Conflict(codes.DUPLICATE_EQUIPPED_DRUG, f"已配备{drug}")
        item = EquippedDrug.objects.create(
            institution=institution, drug=drug, since=since or timezone.localdate()
        )
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.equipped_drug_added",
            subject=item,
            after=item,
            summary={"institution": institution.pk, "drug": drug.pk},
        )
    return item


def equipped_drug_remove(*, actor: User, institution: Institution, drug) -> None:
    _require_staff_or_officer(actor, institution, EQUIP_STAFF_ROLES)
    with transaction.atomic():
        Institution.objects.select_for_update().get(pk=institution.pk)
        item = (
            EquippedDrug.objects.select_for_update()
            .filter(institution=institution, drug=drug)
            .first()
        )
        if item is None:
            raise DomainError(codes.DRUG_NOT_EQUIPPED, f"未配备{drug}")
        before = snapshot(item)
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.equipped_drug_removed",
            subject=item,
            before=before,
            summary={"institution": institution.pk, "drug": drug.pk},
        )
        item.delete()


# Policy profiles ------------------------------------------------------------------------------


def profile_update(*, actor: User, region: Region, changes: dict[str, Any]) -> PolicyProfile:
    """Change the policy numbers of ``region``.

    A region without its own profile gets one, copied from the inherited profile, so a city can
    e.g. relax the physician title [HB art. 20(1)] without touching the province's rules.
    """
    require_role(actor, Role.AGENCY_OFFICER)
    if not _officer_covers(actor, region.code):
        raise NotFound()
    values = clean_profile_values(changes)
    with transaction.atomic():
        Region.objects.select_for_update().get(code=region.code)
        profile = PolicyProfile.objects.select_for_update().filter(region=region).first()
        created = profile is None
        if created:
            inherited = profile_for(region)
            profile = PolicyProfile(region=region)
            for field in inherited._meta.concrete_fields:
                if field.name not in ("id", "region", "updated_at"):
                    setattr(profile, field.attname, getattr(inherited, field.attname))
            profile.name = f"{region.name}双通道政策（继承{inherited.name}）"
            before = None
        else:
            before = snapshot(profile)
        for field, value in values.items():
            setattr(profile, field, value)
        if profile.physician_relaxation_allowed and profile.physician_relaxed_title is None:
            raise field_error(
                "physician_relaxed_title", codes.INVALID_PROFILE_VALUE, "允许放宽时须填写放宽后职称"
            )
        profile.save()
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.profile_updated",
            subject=profile,
            before=before,
            after=profile,
            summary={"region": region.code, "created": created, "fields": sorted(values)},
        )
    return profile
