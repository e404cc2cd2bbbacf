"""Filing to the agency through the national platform: 2503 (file) and 2504 (cancel).

A ``PlatformFiling`` is created inside the caller's transaction and sent at once. A failed send
leaves it ``failed`` (retryable) or ``dead`` with ``last_error``; ``filing_retry`` sends it
again with the same idempotency key, so an accepted filing is never filed twice (the platform
also answers a repeated 2503 with the original ``trt_dcla_detl_sn``). ``filing_process`` is the
plain entry point for a background job handler.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import StateMachine

from . import error_codes as codes
from .models import FilingKind, FilingStatus, PlatformFiling, PlatformFilingTransition
from .nhsa.client import PlatformClient
from .nhsa.envelope import platform_connected
from .nhsa.errors import PlatformError
from .nhsa.filing_fields import FILING_FIELDS, FILING_LABELS, FILING_REQUIRED

S = FilingStatus
MAX_ATTEMPTS = 5
RETRYABLE_STATUSES = (S.FAILED, S.DEAD)

FILING_MACHINE = StateMachine(
    FilingStatus,
    {
        S.PENDING: {S.SENT, S.CANCELLED},  # withdrawn before it was ever sent
        S.SENT: {S.ACCEPTED, S.FAILED, S.DEAD},
        S.FAILED: {S.SENT, S.DEAD},
        S.DEAD: {S.SENT},  # a person retries after the cause is fixed
        S.ACCEPTED: {S.CANCELLED},  # an accepted 2504 cancels its 2503
    },
    error_code=codes.FILING_TRANSITION,
)


# --- permissions -------------------------------------------------------------------------------


def _officer_covers(actor: User, institution) -> bool:
    from dualchannel.registry.selectors import officer_region

    region = officer_region(actor)
    return region is not None and institution.region_id.startswith(region.code_prefix)


def can_send(actor: User | None, institution) -> bool:
    """Who may file, cancel or retry: the institution's reviewers, its agency, admins, jobs."""
    if actor is None:
        return True  # the system itself (a background job)
    if not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    if actor.has_role(Role.REVIEWER) and actor.institution_id == institution.pk:
        return True
    return actor.has_role(Role.AGENCY_OFFICER) and _officer_covers(actor, institution)


def _require_sender(actor: User | None, institution) -> None:
    if not can_send(actor, institution):
        raise PermissionDenied()


def _role(actor: User | None) -> str:
    if actor is None:
        return ""
    for role in (Role.AGENCY_OFFICER, Role.REVIEWER, Role.ADMIN):
        if actor.has_role(role):
            return role
    return ""


# --- the state machine -------------------------------------------------------------------------


def _move(
    filing: PlatformFiling, to_status: str, *, actor: User | None, reason: str = "", **facts: Any
) -> None:
    """The one place a filing's status changes: check the edge, write history and audit."""
    FILING_MACHINE.check(filing.status, to_status)
    before = snapshot(filing)
    from_status = filing.status
    filing.status = to_status
    filing.updated_at = timezone.now()
    if to_status == S.ACCEPTED:
        filing.accepted_at = filing.updated_at
    filing.save()
    PlatformFilingTransition.objects.create(
        filing=filing, from_status=from_status, to_status=to_status, actor=actor, reason=reason
    )
    audit.record(
        actor=actor,
        action=f"integration.filing_{to_status}",
        subject=filing,
        before=before,
        after=filing,
        patient=filing.person,
        role=_role(actor),
        summary={"kind": filing.kind, "from": from_status, "to": to_status, **facts},
    )


def _create(
    *,
    actor: User | None,
    kind: str,
    subject_type: str,
    subject_id: str,
    person,
    institution,
    input: dict[str, Any],
    target: PlatformFiling | None = None,
) -> PlatformFiling:
    filing = PlatformFiling.objects.create(
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        person=person,
        institution=institution,
        target=target,
        input=input,
        idempotency_key=f"filing:{uuid.uuid4().hex}",
        created_by=actor,
    )
    PlatformFilingTransition.objects.create(
        filing=filing, from_status="", to_status=S.PENDING, actor=actor, reason="创建"
    )
    audit.record(
        actor=actor,
        action="integration.filing_created",
        subject=filing,
        after=filing,
        patient=person,
        role=_role(actor),
        summary={"kind": kind, "to": S.PENDING, "subject_type": subject_type},
    )
    return filing


def _send(filing: PlatformFiling, *, actor: User | None) -> PlatformFiling:
    """Hand a locked filing to the platform client and record the outcome."""
    filing.attempts += 1
    _move(filing, S.SENT, actor=actor, attempt=filing.attempts)
    client = PlatformClient(filing.institution, actor)
    try:
        output = client.call(
            filing.kind,
            {"data": filing.input},
            key=filing.idempotency_key,
            insuplc_admdvs=filing.person.enrolment_region_id,
        )
    except PlatformError as exc:
        filing.last_error = exc.err_msg[:2000]
        filing.last_infcode = exc.infcode
        again = exc.retryable and filing.attempts < MAX_ATTEMPTS
        _move(
            filing,
            S.FAILED if again else S.DEAD,
            actor=actor,
            reason=filing.last_error,
            infcode=exc.infcode,
        )
        return filing
    result = output.get("result") if isinstance(output, dict) else None
    sn = str((result or {}).get("trt_dcla_detl_sn", ""))
    filing.last_error = ""
    filing.last_infcode = "0"
    if filing.kind == FilingKind.FILE:
        if not sn:
            filing.last_error = "平台应答缺少待遇申报明细流水号"
            _move(filing, S.DEAD, actor=actor, reason=filing.last_error, infcode="0")
            return filing
        filing.trt_dcla_detl_sn = sn
    else:
        filing.trt_dcla_detl_sn = filing.input.get("trt_dcla_detl_sn", "")
    _move(filing, S.ACCEPTED, actor=actor, infcode="0")
    if filing.kind == FilingKind.CANCEL and filing.target_id:
        target = PlatformFiling.objects.select_for_update().get(pk=filing.target_id)
        if target.status == S.ACCEPTED:
            _move(target, S.CANCELLED, actor=actor, reason=filing.input.get("memo", ""))
    elif filing.cancel_reason:
        # The subject ended while this 2503 was on its way: cancel it now that it is accepted.
        _queue_cancel(filing, actor=actor, reason=filing.cancel_reason)
    return filing


def queue_next_attempt(filing: PlatformFiling) -> None:
    """A failed filing is sent again by the worker after a back-off (one job per attempt)."""
    from dualchannel.core.jobs import backoff_delay, enqueue

    if filing.status != S.FAILED:
        return
    enqueue(
        "integration.filing",
        {"filing_id": filing.pk},
        run_after=timezone.now() + backoff_delay(filing.attempts),
        key=f"filing:{filing.pk}:attempt:{filing.attempts + 1}",
    )


def _cancel_input(target: PlatformFiling, reason: str) -> dict[str, Any]:
    return {
        "trt_dcla_detl_sn": target.trt_dcla_detl_sn,
        "psn_no": target.input.get("psn_no", target.person.person_no),
        "memo": reason[:500],
    }


def _queue_cancel(target: PlatformFiling, *, actor: User | None, reason: str) -> PlatformFiling:
    from dualchannel.core.jobs import enqueue

    cancel = _create(
        actor=actor,
        kind=FilingKind.CANCEL,
        subject_type=target.subject_type,
        subject_id=target.subject_id,
        person=target.person,
        institution=target.institution,
        target=target,
        input=_cancel_input(target, reason),
    )
    enqueue("integration.filing", {"filing_id": cancel.pk}, key=f"filing:{cancel.pk}")
    return cancel


# --- input -------------------------------------------------------------------------------------


def _subject_ref(subject: models.Model | tuple[str, Any]) -> tuple[str, str]:
    if isinstance(subject, models.Model):
        if subject.pk is None:
            raise DomainError(codes.FILING_INVALID_INPUT, "备案对象尚未保存")
        return subject._meta.label, str(subject.pk)
    subject_type, subject_id = subject
    return str(subject_type), str(subject_id)


def _filing_input(person, institution, input: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(input, dict):
        raise DomainError(codes.FILING_INVALID_INPUT, "备案内容应为对象")
    unknown = sorted(set(input) - set(FILING_FIELDS))
    if unknown:
        raise DomainError(
            codes.FILING_INVALID_INPUT,
            "备案内容含有接口规范以外的字段",
            fields={name: ["不是2503交易的字段"] for name in unknown},
        )
    today = timezone.localdate().isoformat()
    values: dict[str, Any] = {
        "psn_no": person.person_no,
        "insutype": person.insurance_type,
        "insu_optins": person.enrolment_region_id,
        "ide_fixmedins_no": institution.platform_code,
        "ide_fixmedins_name": institution.name,
        "hosp_ide_date": today,
        "begndate": today,
        "enddate": "",
        "tel": person.phone,
        "addr": person.address,
    }
    values.update({k: ("" if v is None else v) for k, v in input.items()})
    values = {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in values.items()}
    errors = {
        name: [f"{FILING_LABELS[name]}不能为空"]
        for name in FILING_REQUIRED
        if not values.get(name, "").strip()
    }
    for name in ("begndate", "enddate", "hosp_ide_date"):
        if values.get(name):
            try:
                date.fromisoformat(values[name])
            except ValueError:
                errors.setdefault(name, []).append("日期格式应为 YYYY-MM-DD")
    if errors:
        raise DomainError(codes.FILING_INVALID_INPUT, "备案内容不完整或有误", fields=errors)
    return values


def _require_connected(institution) -> None:
    if not platform_connected(institution):
        raise DomainError(
            codes.INSTITUTION_NOT_CONNECTED, "该机构未登记12位医保定点机构编码，不能向平台备案"
        )


# --- services ----------------------------------------------------------------------------------


def filing_submit(
    *,
    actor: User | None,
    subject: models.Model | tuple[str, Any],
    person,
    institution,
    input: dict[str, Any],
    queue: bool = False,
) -> PlatformFiling:
    """Record a 2503 filing of ``subject`` and send it; returns it accepted, failed or dead.

    ``input`` holds the 2503 fields (opsp_dise_code, opsp_dise_name, diag_dr_codg,
    diag_dr_name, begndate, enddate, …); person and institution fields are filled in.
    With ``queue=True`` the filing stays pending and a durable job sends it after the caller's
    transaction commits, retrying with back-off (``integration.tasks``): a business action
    such as an approval then never waits on the platform.
    """
    _require_sender(actor, institution)
    _require_connected(institution)
    subject_type, subject_id = _subject_ref(subject)
    values = _filing_input(person, institution, input)
    with transaction.atomic():
        filing = _create(
            actor=actor,
            kind=FilingKind.FILE,
            subject_type=subject_type,
            subject_id=subject_id,
            person=person,
            institution=institution,
            input=values,
        )
        if queue:
            from dualchannel.core.jobs import enqueue

            enqueue("integration.filing", {"filing_id": filing.pk}, key=f"filing:{filing.pk}")
            return filing
        return _send(filing, actor=actor)


def filing_cancel(*, actor: User | None, filing: PlatformFiling, reason: str) -> PlatformFiling:
    """Send a 2504 for an accepted 2503; returns the 2504 filing (the 2503 becomes cancelled)."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(codes.FILING_INVALID_INPUT, "请填写撤销原因", fields={"reason": ["必填"]})
    with transaction.atomic():
        target = (
            PlatformFiling.objects.select_for_update()
            .select_related("institution", "person")
            .get(pk=filing.pk)
        )
        _require_sender(actor, target.institution)
        if target.kind != FilingKind.FILE or target.status != S.ACCEPTED:
            raise Conflict(codes.FILING_NOT_CANCELLABLE, "只有已受理的备案可以撤销")
        if not target.trt_dcla_detl_sn:
            raise Conflict(codes.FILING_NOT_CANCELLABLE, "该备案没有待遇申报明细流水号")
        open_cancel = target.cancellations.exclude(status__in=[S.DEAD, S.CANCELLED]).first()
        if open_cancel is not None:
            if open_cancel.status != S.FAILED:
                raise Conflict(codes.FILING_NOT_CANCELLABLE, "该备案已有撤销申请在处理")
            cancel = _send(open_cancel, actor=actor)
            queue_next_attempt(cancel)
            return cancel
        cancel = _create(
            actor=actor,
            kind=FilingKind.CANCEL,
            subject_type=target.subject_type,
            subject_id=target.subject_id,
            person=target.person,
            institution=target.institution,
            target=target,
            input=_cancel_input(target, reason),
        )
        # A 2504 the platform could not take now is retried by the worker, not left failed.
        cancel = _send(cancel, actor=actor)
        queue_next_attempt(cancel)
        return cancel


def filing_withdraw(
    *, actor: User | None, filing: PlatformFiling, reason: str
) -> tuple[PlatformFiling | None, str]:
    """End a 2503 whatever its state, because its subject ended (e.g. a stopped eligibility).

    Accepted: a 2504 is sent now. Never sent: withdrawn here, nothing reaches the platform.
    On its way (sent, failed, dead — it may already be at the platform): marked, and the 2504
    follows automatically once it is accepted. Returns (the 2504 or None, a note for people).
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(codes.FILING_INVALID_INPUT, "请填写撤销原因", fields={"reason": ["必填"]})
    with transaction.atomic():
        target = PlatformFiling.objects.select_for_update().get(pk=filing.pk)
        if target.kind != FilingKind.FILE:
            raise Conflict(codes.FILING_NOT_CANCELLABLE, "只有备案（2503）可以撤销")
        if target.status == S.ACCEPTED:
            cancel = filing_cancel(actor=actor, filing=target, reason=reason)
            if cancel.status == S.ACCEPTED:
                return cancel, "已撤销备案（2504）"
            return cancel, f"撤销备案（2504）状态为「{cancel.get_status_display()}」，待重试"
        if target.status == S.CANCELLED:
            return None, "备案已撤销"
        _require_sender(actor, target.institution)
        if target.status == S.PENDING and target.attempts == 0:
            _move(target, S.CANCELLED, actor=actor, reason=reason, withdrawn_before_sending=True)
            return None, "备案尚未发送，已撤回"
        target.cancel_reason = reason[:2000]
        target.save(update_fields=["cancel_reason"])
        audit.record(
            actor=actor,
            action="integration.filing_cancel_requested",
            subject=target,
            patient=target.person,
            role=_role(actor),
            summary={"status": target.status},
        )
        return None, f"备案状态为「{target.get_status_display()}」，受理后将自动撤销（2504）"


def filing_retry(filing: PlatformFiling, *, actor: User | None = None) -> PlatformFiling:
    """Send a failed or dead filing again with its own idempotency key."""
    with transaction.atomic():
        locked = (
            PlatformFiling.objects.select_for_update()
            .select_related("institution", "person")
            .get(pk=filing.pk)
        )
        _require_sender(actor, locked.institution)
        if locked.status not in RETRYABLE_STATUSES:
            raise Conflict(
                codes.FILING_NOT_RETRYABLE,
                f"备案状态为「{locked.get_status_display()}」，不能重试",
            )
        return _send(locked, actor=actor)


def filing_process(filing_id: int) -> PlatformFiling:
    """Job entry point: send a pending or failed filing; anything else is left as it is."""
    with transaction.atomic():
        filing = (
            PlatformFiling.objects.select_for_update()
            .select_related("institution", "person")
            .filter(pk=filing_id)
            .first()
        )
        if filing is None:
            raise NotFound()
        if filing.status in (S.PENDING, S.FAILED):
            return _send(filing, actor=None)
        return filing
