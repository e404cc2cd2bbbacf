"""An insured person from the national platform [national 1101].

When a hospital (physician, reviewer) or an officer needs a person who is not yet in the
registry, ``insured_person_fetch`` asks the platform's person query (1101) and writes what it
answers — name, ID number, person number, insurance type (``insutype``), enrolment region
(``insuplc_admdvs``) and benefit status (``psn_insu_stas`` / ``paus_insu_date``) — through the
registry's service. The platform is asked holding no transaction or lock (docs/conventions.md,
"network first, then lock"); then one transaction creates or updates the person with its audit
event. Platform down, person unknown, a name that does not match: a refusal, nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone

from dualchannel.core.errors import DomainError, PermissionDenied, field_error
from dualchannel.core.locks import in_transaction
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.registry.models import BenefitStatus, InsuranceType, InsuredPerson
from dualchannel.registry.services import PlatformPerson, insured_person_record_platform
from dualchannel.registry.validation import parse_id_number

from .. import error_codes as codes
from ..nhsa.client import PlatformClient
from ..nhsa.envelope import platform_connected
from ..nhsa.errors import PlatformError

PERSON_INFO = "1101"
FETCH_ROLES = (Role.PHYSICIAN, Role.REVIEWER, Role.AGENCY_OFFICER)
# psn_insu_stas of the national code list: 1 正常参保, 2 暂停参保, 4 终止参保.
INSURED_STATUS = {"1": BenefitStatus.NORMAL, "2": BenefitStatus.SUSPENDED}
UNREACHABLE_MESSAGE = "医保信息平台暂时无法访问，未能查询参保信息，请稍后重试；未登记任何信息"


@dataclass(frozen=True)
class PersonFetched:
    person: InsuredPerson
    created: bool  # False: a person already in the registry, brought up to date


def insured_person_fetch(*, actor: User, id_number: str, name: str) -> PersonFetched:
    """Ask the platform (1101) for the person with this ID number and name, then record them."""
    require_role(actor, *FETCH_ROLES)
    if in_transaction():
        raise RuntimeError("the platform is asked outside any transaction (network first)")
    number = parse_id_number(id_number).number
    name = (name or "").strip()
    if not name:
        raise field_error("name", codes.PERSON_MISMATCH, "请填写参保人姓名")
    output = _ask(actor, number, name)
    data = platform_person(output, id_number=number, name=name)
    person, created = insured_person_record_platform(actor=actor, data=data)
    return PersonFetched(person=person, created=created)


def _caller(actor: User) -> Any:
    """The institution whose platform connection the query uses: the actor's hospital or
    agency, which must have its 12-character platform code."""
    institution = actor.institution
    if institution is None or not platform_connected(institution):
        raise PermissionDenied(
            codes.INSTITUTION_NOT_CONNECTED,
            "本机构未接入医保信息平台（无定点机构编码），不能从平台查询参保信息",
        )
    return institution


def person_info_input(
    mdtrt_cert_type: str, mdtrt_cert_no: str, *, certno: str = "", psn_name: str = ""
) -> dict[str, Any]:
    """The input of 1101 人员信息获取: the credential shown (02 居民身份证 with the ID number, 01
    医保电子凭证 with its token), and for an ID card the person's certificate and name."""
    return {
        "data": {
            "mdtrt_cert_type": mdtrt_cert_type,
            "mdtrt_cert_no": mdtrt_cert_no,
            "card_sn": "",
            "begntime": "",
            "psn_cert_type": "01" if certno else "",
            "certno": certno,
            "psn_name": psn_name,
        }
    }


def _ask(actor: User, number: str, name: str) -> dict[str, Any]:
    client = PlatformClient(_caller(actor), actor)
    query = person_info_input("02", number, certno=number, psn_name=name)  # 居民身份证
    try:
        return client.call(PERSON_INFO, query)
    except PlatformError as exc:
        if not exc.infcode or exc.retryable:
            raise DomainError(codes.PLATFORM_UNREACHABLE, UNREACHABLE_MESSAGE) from None
        raise DomainError(
            codes.PERSON_NOT_FOUND,
            f"医保信息平台未查询到该人员的参保信息（平台答复：{exc.err_msg}），"
            "请核对身份证号与姓名；未登记任何信息",
        ) from None


def platform_person(
    output: dict[str, Any], *, id_number: str, name: str, today: date | None = None
) -> PlatformPerson:
    """Read a 1101 answer (``baseinfo``, ``insuinfo``) into what the registry keeps."""
    base = output.get("baseinfo") if isinstance(output, dict) else None
    if not isinstance(base, dict) or not base.get("psn_no"):
        raise DomainError(codes.PERSON_NOT_FOUND, "医保信息平台未返回该人员的基本信息")
    certno = str(base.get("certno") or id_number).strip().upper()
    if certno != id_number:
        raise DomainError(codes.PERSON_MISMATCH, "医保信息平台返回的人员与所查身份证号不一致")
    if str(base.get("psn_name", "")).strip() != name:
        raise field_error("name", codes.PERSON_MISMATCH, "姓名与身份证号不符，请核对后重试")
    insu = _basic_insurance(output.get("insuinfo"))
    status = benefit_status(insu, today=today or timezone.localdate())
    return PlatformPerson(
        id_number=id_number,
        name=name,
        person_no=str(base["psn_no"]).strip(),
        insurance_type=str(insu["insutype"]),
        region_code=str(insu.get("insuplc_admdvs", "")).strip(),
        benefit_status=status,
        benefit_status_since=pause_date(insu) if status == BenefitStatus.SUSPENDED else None,
    )


def _basic_insurance(insuinfo: Any) -> dict[str, Any]:
    """The person's basic medical insurance among their insurances: employee (310) or resident
    (390), a normally insured one first."""
    rows = [r for r in insuinfo or [] if isinstance(r, dict)]
    basic = [r for r in rows if str(r.get("insutype", "")) in InsuranceType.values]
    if not basic:
        held = "、".join(sorted({str(r.get("insutype", "")) for r in rows})) or "无"
        raise DomainError(
            codes.PERSON_NOT_INSURED,
            f"该人员未参加职工或城乡居民基本医疗保险（平台险种：{held}），不能登记为双通道参保人",
        )
    basic.sort(key=lambda r: str(r.get("psn_insu_stas", "")) != "1")
    return basic[0]


def pause_date(insu: dict[str, Any]) -> date | None:
    """The day the person's insurance was paused (paus_insu_date), where the platform says."""
    try:
        return date.fromisoformat(str(insu.get("paus_insu_date") or "")[:10])
    except ValueError:
        return None


def benefit_status(insu: dict[str, Any], *, today: date) -> str:
    """正常享受 only while insured normally (psn_insu_stas 1) and not paused as of today
    (paus_insu_date); 2 is a pause, any other status (4 终止参保) an end [HB art. 2, CX art. 5]."""
    status = INSURED_STATUS.get(str(insu.get("psn_insu_stas", "")), BenefitStatus.TERMINATED)
    paused = pause_date(insu)
    if status == BenefitStatus.NORMAL and paused is not None and paused <= today:
        status = BenefitStatus.SUSPENDED
    return status
