"""Spot checks of eligibility cases [HB art. 48]: draw a reproducible sample, check each case,
finish with a conclusion. Each action is one transaction with its audit event."""

from __future__ import annotations

import random
import secrets
from datetime import date

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import DomainError, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.eligibility.models import Application, ApplicationStatus

from . import error_codes as codes
from .models import CHECKLIST_KEYS, CaseResult, SpotCheck, SpotCheckCase, SpotCheckStatus
from .selectors import inspected_institution, spot_check_get

MAX_SAMPLE = 100
# The cases a hospital decided (approved or rejected) within the period [HB art. 7-10].
DECIDED = (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED)


def spot_check_population(hospital_id: int, period_from: date, period_to: date) -> list[int]:
    """The ids of the hospital's decided applications of the period, in id order."""
    return list(
        Application.objects.filter(
            hospital_id=hospital_id,
            status__in=DECIDED,
            decided_at__date__gte=period_from,
            decided_at__date__lte=period_to,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def draw_sample(population: list[int], size: int, seed: str) -> list[int]:
    """The same population, size and seed always give the same sample (in drawn order)."""
    return random.Random(seed).sample(population, min(size, len(population)))


def _checked_draw(period_from: date, period_to: date, sample_size: int) -> None:
    if period_from > period_to:
        raise field_error("period_to", codes.INVALID_SPOT_CHECK, "期间止不得早于期间起")
    if period_to > timezone.localdate():
        raise field_error("period_to", codes.INVALID_SPOT_CHECK, "期间止不得晚于今天")
    if not 1 <= sample_size <= MAX_SAMPLE:
        raise field_error(
            "sample_size", codes.INVALID_SPOT_CHECK, f"抽取数量须在 1 到 {MAX_SAMPLE} 之间"
        )


def spot_check_draw(
    *,
    actor: User,
    hospital_id: int,
    period_from: date,
    period_to: date,
    sample_size: int,
    seed: str = "",
) -> SpotCheck:
    """Draw ``sample_size`` decided cases of a hospital of the officer's region; the seed,
    population and sample are recorded (and audited) so that the draw can be repeated."""
    require_role(actor, Role.AGENCY_OFFICER)
    _checked_draw(period_from, period_to, sample_size)
    hospital = inspected_institution(actor, hospital_id)
    if hospital.kind != "hospital":
        raise field_error("hospital", codes.INVALID_SPOT_CHECK, "抽查对象须为双通道医疗机构")
    seed = (seed or "").strip()[:40] or secrets.token_hex(8)
    with transaction.atomic():
        population = spot_check_population(hospital.pk, period_from, period_to)
        if not population:
            raise DomainError(codes.NO_CASES, "该机构在所选期间没有已办结的用药资格认定案例")
        sample = draw_sample(population, sample_size, seed)
        spot_check = SpotCheck.objects.create(
            hospital=hospital,
            period_from=period_from,
            period_to=period_to,
            sample_size=sample_size,
            seed=seed,
            population=len(population),
            created_by=actor,
        )
        SpotCheckCase.objects.bulk_create(
            SpotCheckCase(spot_check=spot_check, application_id=pk, position=n)
            for n, pk in enumerate(sample, start=1)
        )
        audit.record(
            actor=actor,
            action="inspection.spot_check_drawn",
            subject=spot_check,
            after=spot_check,
            role=Role.AGENCY_OFFICER,
            summary={
                "hospital": hospital.pk,
                "period": [period_from.isoformat(), period_to.isoformat()],
                "seed": seed,
                "population": len(population),
                "sample": sample,
            },
        )
    return spot_check


def spot_check_case_record(
    *, actor: User, case_id: int, checklist: dict[str, bool], result: str, note: str = ""
) -> SpotCheckCase:
    """Record the checklist, result and note of one sampled case (while the check is open)."""
    if result not in (CaseResult.COMPLIANT, CaseResult.NON_COMPLIANT):
        raise field_error("result", codes.INVALID_SPOT_CHECK, "请选择合规或不合规")
    unknown = set(checklist) - set(CHECKLIST_KEYS)
    if unknown:
        raise field_error("checklist", codes.INVALID_SPOT_CHECK, "检查项无效")
    note = (note or "").strip()
    if result == CaseResult.NON_COMPLIANT and not note:
        raise field_error("note", codes.INVALID_SPOT_CHECK, "不合规须说明问题")
    with transaction.atomic():
        case = SpotCheckCase.objects.select_related("spot_check").get(pk=case_id)
        spot_check_get(actor, case.spot_check_id)  # scope: 404 outside the region
        spot_check = SpotCheck.objects.select_for_update().get(pk=case.spot_check_id)
        if spot_check.status != SpotCheckStatus.DRAWN:
            raise DomainError(codes.SPOT_CHECK_TRANSITION, "抽查已完成，不能再修改")
        case = SpotCheckCase.objects.select_for_update().get(pk=case_id)
        case.checklist = {key: bool(checklist.get(key)) for key in CHECKLIST_KEYS}
        case.result, case.note = result, note
        case.checked_by, case.checked_at = actor, timezone.now()
        case.save()
        audit.record(
            actor=actor,
            action="inspection.spot_check_case_checked",
            subject=case,
            after=case,
            role=Role.AGENCY_OFFICER,
            summary={"spot_check": spot_check.pk, "position": case.position, "result": result},
        )
    return case


def spot_check_finish(*, actor: User, spot_check_id: int, conclusion: str) -> SpotCheck:
    """Finish when every case is checked; the conclusion stands in the report."""
    conclusion = (conclusion or "").strip()
    if not conclusion:
        raise field_error("conclusion", codes.INVALID_SPOT_CHECK, "请填写检查结论")
    with transaction.atomic():
        spot_check_get(actor, spot_check_id)
        spot_check = SpotCheck.objects.select_for_update().get(pk=spot_check_id)
        if spot_check.cases.filter(result=CaseResult.PENDING).exists():
            raise DomainError(codes.CASES_UNCHECKED, "尚有未检查的案例，不能完成抽查")
        transition(
            spot_check, SpotCheckStatus.FINISHED, actor=actor, changes={"conclusion": conclusion}
        )
    return spot_check
