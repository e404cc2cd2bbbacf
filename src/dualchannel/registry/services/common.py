"""What the registry services share: the business day, role and scope checks, text, region and
phone fields."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.utils import timezone

from dualchannel.core.errors import NotFound, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role

from .. import error_codes as codes
from ..models import Institution, Region
from ..regions import is_within
from ..selectors import officer_region, staff_institution_id

_PHONE = re.compile(r"[0-9][0-9\- ]{5,18}[0-9]")


# Helpers --------------------------------------------------------------------------------------


def day_or_today(today: date | None) -> date:
    return today or timezone.localdate()


def officer_covers(actor: User, region_code: str) -> bool:
    if actor.is_superuser:
        return True
    region = officer_region(actor)
    return region is not None and is_within(region_code, region)


def require_officer_for(actor: User, region_code: str) -> None:
    """Officers act only inside their region; an object outside it is reported as missing."""
    require_role(actor, Role.AGENCY_OFFICER)
    if not officer_covers(actor, region_code):
        raise NotFound()


def require_staff_or_officer(actor: User, institution: Institution, staff_roles) -> None:
    """The institution's own staff (``staff_roles``) or an officer of its region."""
    require_role(actor, Role.AGENCY_OFFICER, *staff_roles)
    if actor.is_superuser:
        return
    if staff_institution_id(actor, frozenset(staff_roles)) == institution.pk:
        return
    if officer_covers(actor, institution.region_id):
        return
    raise NotFound()


def clean_region(code: str | Region, *, field: str = "region", county_only: bool = False) -> Region:
    if isinstance(code, Region):
        region = code
    else:
        region = Region.objects.filter(code=code or "").first()
        if region is None:
            raise field_error(field, codes.INVALID_REGION, f"区划代码 {code} 不存在")
    if county_only and not region.is_county_level:
        raise field_error(field, codes.INVALID_REGION, "请选择县级区划（区、县、县级市）")
    return region


def clean_text(field: str, value: Any, *, required: bool = False, max_length: int = 200) -> str:
    value = (value or "").strip() if isinstance(value, str) or value is None else value
    if not isinstance(value, str):
        raise field_error(field, codes.INVALID_FIELD, "须为文本")
    if required and not value:
        raise field_error(field, codes.INVALID_FIELD, "不能为空")
    if len(value) > max_length:
        raise field_error(field, codes.INVALID_FIELD, f"不能超过{max_length}个字符")
    return value


def clean_phone(value: str | None) -> str:
    value = (value or "").strip()
    if value and not _PHONE.fullmatch(value):
        raise field_error("phone", codes.INVALID_FIELD, "联系电话格式不正确")
    return value
