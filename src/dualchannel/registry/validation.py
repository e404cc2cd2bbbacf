"""Validation of identifiers: unified social credit codes and resident ID numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils import timezone
from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from dualchannel.core.errors import DomainError, field_error

from . import error_codes as codes
from .models import Sex


def clean_credit_code(value: str) -> str:
    """The code in canonical form, or a field error ``credit_code``."""
    try:
        return uscc.validate(value or "")
    except InvalidLength:
        message = "统一社会信用代码应为18位"
    except InvalidFormat:
        message = "统一社会信用代码含有不允许的字符"
    except InvalidChecksum:
        message = "统一社会信用代码校验位不正确"
    raise field_error("credit_code", codes.INVALID_CREDIT_CODE, message)


@dataclass(frozen=True)
class IdNumberFacts:
    number: str
    birth_date: date
    sex: str
    place_code: str


def _place_known(place_code: str, birth_year: int) -> bool:
    """Whether the 6-digit address code existed when the number could have been issued.

    ``stdnum.cn.ric`` requires the code to exist in the birth year, which refuses real numbers of
    people born before the code was created (numbers are assigned at registration, and the
    table's history starts in 1983). We refuse only unknown codes and codes abolished before
    the person was born.
    """
    parts = numdb.get("cn/loc").info(place_code)
    info = {k: v for _, props in parts for k, v in props.items()}
    county = info.get("county")
    if not county:
        return False
    for entry in county.split(","):
        if not entry.startswith("["):
            return True
        start_end = entry[1:].split("]")[0]
        _, end = start_end.split("-")
        if not end or birth_year <= int(end):
            return True
    return False


def parse_id_number(value: str, *, today: date | None = None) -> IdNumberFacts:
    """Validate an 18-character resident ID number and derive birth date and sex from it.

    Raises a field error ``id_number`` (code ``registry.invalid_id_number``) naming the fault.
    """
    today = today or timezone.localdate()

    def bad(message: str) -> DomainError:
        return field_error("id_number", codes.INVALID_ID_NUMBER, message)

    number = ric.compact(value or "")
    if len(number) != 18:
        raise bad("身份证号应为18位")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise bad("身份证号前17位应为数字，末位为数字或X")
    if number[17] != ric.calc_check_digit(number):
        raise bad("身份证号校验位不正确")
    try:
        birth = ric.get_birth_date(number)
    except InvalidComponent:
        raise bad("身份证号中的出生日期不存在") from None
    if birth > today or birth.year < 1900:
        raise bad("身份证号中的出生日期不合理")
    if not _place_known(number[:6], birth.year):
        raise bad("身份证号中的地址码不存在")
    sex = Sex.MALE if int(number[16]) % 2 == 1 else Sex.FEMALE  # odd 17th digit: male
    return IdNumberFacts(number=number, birth_date=birth, sex=sex, place_code=number[:6])
