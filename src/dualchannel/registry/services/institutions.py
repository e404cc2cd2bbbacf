"""Institutions and the drugs they carry: create, update, equipped drugs; one transaction each,
locked, checked, audited."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError, PermissionDenied, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role

from .. import error_codes as codes
from ..models import (
    EquippedDrug,
    HospitalLevel,
    Institution,
    InstitutionKind,
    Region,
)
from ..validation import clean_credit_code
from .common import (
    clean_phone,
    clean_region,
    clean_text,
    officer_covers,
    require_officer_for,
    require_staff_or_officer,
)

CAPABILITY_FIELDS = (
    "has_pathology",
    "has_gene_testing",
    "has_biologics_licence",
    "has_cold_chain",
    "realtime_settlement",
    "e_prescription_connected",
    "traceability_enabled",
)
# Flags the Shandong monthly table counts as of a past month's end [SD §5, §7, §10]: each keeps
# the day it last turned on (``Institution.*_since``; null while off).
DATED_FLAGS = {
    "realtime_settlement": "realtime_settlement_since",
    "e_prescription_connected": "e_prescription_since",
}
INSTITUTION_TEXT_FIELDS = ("name", "platform_code", "address", "phone")
INSTITUTION_UPDATABLE = (
    *INSTITUTION_TEXT_FIELDS,
    "credit_code",
    "region",
    "hospital_level",
    *CAPABILITY_FIELDS,
    *DATED_FLAGS.values(),
)


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


def set_flag_dates(
    inst: Institution, capabilities: dict[str, bool], since: dict[str, date | None]
) -> None:
    """Date each dated flag that turns on (``since`` given, else today), clear it when it turns
    off; a given date must not be in the future and needs its flag on."""
    today = timezone.localdate()
    for flag, since_field in DATED_FLAGS.items():
        on = capabilities.get(flag, getattr(inst, flag))
        day = since.get(since_field)
        if day is not None and (not isinstance(day, date) or day > today or not on):
            raise field_error(
                since_field, codes.INVALID_FIELD, "开通日期须为不晚于今天的日期，且须已开通"
            )
        if not on:
            setattr(inst, since_field, None)
        elif day is not None:
            setattr(inst, since_field, day)
        elif getattr(inst, since_field) is None or not getattr(inst, flag):
            setattr(inst, since_field, today)


def _new_flag_dates(
    capabilities: dict[str, bool], realtime_since: date | None, e_rx_since: date | None
) -> dict[str, date | None]:
    new = Institution(realtime_settlement=False, e_prescription_connected=False)
    since = {"realtime_settlement_since": realtime_since, "e_prescription_since": e_rx_since}
    set_flag_dates(new, capabilities, since)
    return {field: getattr(new, field) for field in DATED_FLAGS.values()}


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
    realtime_settlement_since: date | None = None,
    e_prescription_since: date | None = None,
) -> Institution:
    """Register a hospital or pharmacy of the officer's region (agencies: admins only)."""
    require_role(actor, Role.AGENCY_OFFICER)
    if kind not in InstitutionKind.values:
        raise field_error("kind", codes.INVALID_KIND, "机构类型无效")
    if kind == InstitutionKind.AGENCY and not actor.is_superuser:
        raise PermissionDenied("permission_denied", "医保经办机构只能由系统管理员登记")
    name = clean_text("name", name, required=True, max_length=100)
    code = clean_credit_code(credit_code)
    region_obj = clean_region(region, county_only=kind != InstitutionKind.AGENCY)
    if not officer_covers(actor, region_obj.code):
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
    dated = _new_flag_dates(capabilities, realtime_settlement_since, e_prescription_since)
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
                    address=clean_text("address", address),
                    phone=clean_phone(phone),
                    platform_code=clean_text("platform_code", platform_code, max_length=12),
                    hospital_level=hospital_level,
                    **dated,
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
    require_officer_for(actor, institution.region_id)
    with transaction.atomic():
        inst = Institution.objects.select_for_update().get(pk=institution.pk)
        before = snapshot(inst)
        if "region" in changes:
            region_obj = clean_region(
                changes.pop("region"), county_only=inst.kind != InstitutionKind.AGENCY
            )
            if not officer_covers(actor, region_obj.code):
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
                    value = clean_phone(value)
                else:
                    value = clean_text(
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
        since = {f: changes.pop(f) for f in DATED_FLAGS.values() if f in changes}
        set_flag_dates(inst, capabilities, since)
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


# Equipped drugs -------------------------------------------------------------------------------

EQUIP_STAFF_ROLES = (Role.REVIEWER, Role.PHARMACIST)


def equipped_drug_add(
    *, actor: User, institution: Institution, drug, since: date | None = None
) -> EquippedDrug:
    """Publish that an institution carries a drug [SD §4, §8]."""
    if institution.kind == InstitutionKind.AGENCY:
        raise DomainError(codes.NOT_DESIGNATABLE, "医保经办机构不配备药品")
    require_staff_or_officer(actor, institution, EQUIP_STAFF_ROLES)
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
    require_staff_or_officer(actor, institution, EQUIP_STAFF_ROLES)
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
