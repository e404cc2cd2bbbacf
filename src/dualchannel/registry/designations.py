"""The designation lifecycle [DESIGN §5.4; AH §2(2-3), HB ch. 4, SD §5-6, CX ch. 3]."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dateutil.relativedelta import relativedelta

from dualchannel.core import refcache
from dualchannel.core.statemachine import StateMachine, machine_of

from .citation_words import citation_in_words
from .models import (
    Designation,
    DesignationStatus,
    DesignationTransition,
    HospitalLevel,
    Institution,
    InstitutionKind,
    Physician,
    PhysicianAssessment,
    PolicyProfile,
    TitleRank,
)

S = DesignationStatus

OPEN_STATUSES = frozenset(S.values) - {S.EXITED, S.REJECTED}
# Transitions that need a written reason.
REASON_REQUIRED = frozenset({S.REJECTED, S.SUSPENDED, S.EXITED})


def machine_for(designation: Designation) -> StateMachine:
    """The institution's or the physician's machine (``models``), as the row is one or the other."""
    return machine_of(designation)


def allowed_targets(designation: Designation) -> list[str]:
    targets = machine_for(designation).allowed_from(designation.status)
    return [s for s in S.values if s in targets]


def ban_end(exited_on: date, profile: PolicyProfile | None) -> date | None:
    """HB art. 21-22: an exited institution or physician is not admitted again for two years."""
    if profile is None or profile.exit_ban_months is None:
        return None
    return exited_on + relativedelta(months=profile.exit_ban_months)


def _basis(profile: PolicyProfile, key: str) -> str:
    """The article behind one of the profile's conditions, in the region's own words (the
    document's number and its article in Chinese), else the profile's name."""
    cited = citation_in_words(str(profile.citations.get(key) or ""))
    return cited.split("：", 1)[0].strip() or profile.name


def institution_shortfalls(
    institution: Institution, profile: PolicyProfile, *, today: date
) -> list[str]:
    """The profile's designation conditions the institution does not meet (Chinese, one each)."""
    missing: list[str] = []
    if institution.kind == InstitutionKind.HOSPITAL:
        if (
            profile.hospital_min_level is not None
            and (institution.hospital_level or 0) < profile.hospital_min_level
        ):
            missing.append(
                f"医院等级须为{HospitalLevel(profile.hospital_min_level).label}及以上"
                f"（{profile.citations_in_words.get('hospital_min_level', profile.name)}）"
            )
        if profile.hospital_requires_pathology_or_gene and not (
            institution.has_pathology or institution.has_gene_testing
        ):
            basis = _basis(profile, "hospital_requires_pathology_or_gene")
            missing.append(f"须具备病理或基因检测能力（{basis}）")
    elif institution.kind == InstitutionKind.PHARMACY:
        checks = [
            (
                profile.pharmacy_requires_biologics_licence,
                institution.has_biologics_licence,
                "《药品经营许可证》须具备“生物制品”经营范围",
            ),
            (
                profile.pharmacy_requires_cold_chain,
                institution.has_cold_chain,
                "须具备冷链储存、配送设施设备",
            ),
            (
                profile.pharmacy_requires_traceability,
                institution.traceability_enabled,
                "须实现药品追溯码扫码及进销存实时上传",
            ),
            (
                profile.pharmacy_requires_realtime_settlement,
                institution.realtime_settlement,
                "须实现即时联网结算",
            ),
            (
                profile.pharmacy_requires_e_prescription,
                institution.e_prescription_connected,
                "须接入电子处方流转平台",
            ),
        ]
        missing.extend(text for required, has, text in checks if required and not has)
    if profile.no_suspension_within_months:
        since = today - relativedelta(months=profile.no_suspension_within_months)
        suspended = DesignationTransition.objects.filter(
            designation__institution=institution,
            to_status=S.SUSPENDED,
            at__date__gte=since,
        ).exists()
        if suspended:
            missing.append(
                f"近{profile.no_suspension_within_months}个月内曾被暂停双通道协议"
                f"（{_basis(profile, 'no_suspension_within_months')}）"
            )
    return missing


def required_title(profile: PolicyProfile, hospital: Institution) -> int | None:
    """The lowest title the profile accepts for a responsible physician of ``hospital``."""
    if profile.physician_min_title is None:
        return None
    required = profile.physician_min_title
    # AH §2(2), HB art. 20(1): may be relaxed to 主治医师 where the pooling region decides so.
    if profile.physician_relaxation_allowed and profile.physician_relaxed_title is not None:
        required = min(required, profile.physician_relaxed_title)
    # CX art. 20: level-2 hospitals may appoint 住院医师.
    if (
        hospital.hospital_level == HospitalLevel.LEVEL2
        and profile.physician_min_title_level2_hospital is not None
    ):
        required = min(required, profile.physician_min_title_level2_hospital)
    return required


def title_shortfall(title: int, profile: PolicyProfile, hospital: Institution) -> str | None:
    required = required_title(profile, hospital)
    if required is None or title >= required:
        return None
    return (
        f"责任医师职称须不低于{TitleRank(required).label}"
        f"（{profile.name}），当前为{TitleRank(title).label}"
    )


def subject_region_code(designation: Designation) -> str:
    if designation.institution_id:
        return designation.institution.region_id
    return designation.physician.hospital.region_id


def subject_name(designation: Designation) -> str:
    return (
        designation.institution.name if designation.institution_id else designation.physician.name
    )


def physician_of(designation: Designation) -> Physician | None:
    return designation.physician if designation.physician_id else None


# Standing of a physician ----------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Whether a physician may act as a responsible physician (责任医师) today, and if not, why."""

    ok: bool
    reason: str = ""  # "not_designated" | "assessment_failed" | "title_below_minimum"
    message: str = ""  # Chinese, names the physician in the third person
    failed_year: int | None = None


def failed_assessment(physician: Physician) -> PhysicianAssessment | None:
    """The failed annual assessment that suspends the physician's standing [CX art. 20].

    The latest assessment by year decides: a failed one suspends the responsible-physician
    standing until the hospital records a passed assessment for a later year.
    """
    latest = physician.assessments.order_by("-year").first()
    if latest is not None and latest.result == PhysicianAssessment.Result.FAILED:
        return latest
    return None


def institution_designated(institution_id: int) -> bool:
    """Whether the institution's dual-channel designation is in force (active), read once per
    worker while the designations are unchanged (``core.refcache``): the counter asks it on
    every check, dispensing and settlement."""
    return refcache.cached(
        ("registry.institution_designated", institution_id),
        (Designation._meta.db_table,),
        lambda: Designation.objects.filter(
            institution_id=institution_id, physician=None, status=S.ACTIVE
        ).exists(),
    )


def physician_designated(physician: Physician) -> bool:
    return Designation.objects.filter(physician=physician, status=S.ACTIVE).exists()


def physician_standing(physician: Physician, profile: PolicyProfile | None = None) -> Standing:
    """A responsible physician in good standing: designated (active), the latest annual
    assessment not failed [CX art. 20], and the title still the profile's minimum [HB art. 20(1),
    CX art. 20, AH §2(2)]."""
    if not physician_designated(physician):
        return Standing(False, "not_designated", f"{physician.name}尚未纳入双通道责任医师")
    failed = failed_assessment(physician)
    if failed is not None:
        return Standing(
            False,
            "assessment_failed",
            f"{physician.name}{failed.year}年度考核不合格，责任医师资格暂停",
            failed_year=failed.year,
        )
    if profile is not None:
        shortfall = title_shortfall(physician.title, profile, physician.hospital)
        if shortfall:
            return Standing(False, "title_below_minimum", shortfall)
    return Standing(True)
