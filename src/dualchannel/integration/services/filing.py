"""Filing to the agency through the national platform: 2503 (file) and 2504 (cancel).

A ``PlatformFiling`` is created inside the caller's transaction. Sending it never holds a
transaction or row lock while the platform answers (docs/conventions.md, "network first, then
lock"): a short transaction claims it (``sent``, attempt counted, committed), the platform is
called holding no lock, and another short transaction locks it again and records the outcome if
it is still ``sent`` with the same attempt. A failed send leaves it ``failed`` (retryable) or
``dead`` with ``last_error``; every attempt uses the filing's one idempotency key, so an
accepted filing is never filed twice (the client returns a key's stored success; the platform
also answers a repeated 2503 with the original ``trt_dcla_detl_sn``).

A person's action sends at once when it is its own transaction; inside another business
action's transaction (e.g. an eligibility stop) the send is queued for the worker instead, which
runs ``filing_process`` outside any transaction (``integration.tasks``). A filing left ``sent``
by a sender that died is sent again with its key: by the same job when it reruns, or by anyone
once it has been silent for ``RESEND_AFTER``.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.jobs import (
    DEFAULT_LEASE,
    backoff_delay,
    enqueue,
    enqueue_chain,
    settle_dead_jobs,
)
from dualchannel.core.locks import in_transaction, lock_rows
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.registry.selectors import officer_region

from .. import error_codes as codes
from ..models import (
    FilingKind,
    FilingStatus,
    PlatformFiling,
    PlatformFilingTransition,
    filing_sender_role,
)
from ..nhsa.client import PlatformClient
from ..nhsa.envelope import platform_connected
from ..nhsa.errors import PlatformError
from ..nhsa.filing_fields import FILING_FIELDS, FILING_LABELS, FILING_REQUIRED

S = FilingStatus
MAX_ATTEMPTS = 5
RETRYABLE_STATUSES = (S.FAILED, S.DEAD)
# A filing ``sent`` this long ago whose outcome was never recorded lost its sender (a crashed
# worker or request): it may be sent again. The job lease, far above a call's timeouts.
RESEND_AFTER = DEFAULT_LEASE
FILING_JOB = "integration.filing"


class FilingInFlight(Exception):
    """Another sender holds the filing's current attempt: the job looks again later."""

    code = "filing_in_flight"


# --- permissions -------------------------------------------------------------------------------


def _officer_covers(actor: User, institution) -> bool:

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
        role=filing_sender_role(actor),
        summary={"kind": kind, "to": S.PENDING, "subject_type": subject_type},
    )
    return filing


# --- sending: claim, call holding no lock, record ----------------------------------------------


def _call_token() -> str:
    return f"call:{uuid.uuid4().hex[:16]}"


def _job_token(job) -> str:
    """This run of the job: its id and the job's attempt number (each run counts one)."""
    return f"job:{job.pk}:{job.attempts}"


def _claimed_by_job(filing: PlatformFiling, job) -> bool:
    """The filing's latest attempt was claimed by a run of this job (``job:<id>`` before runs
    were told apart)."""
    return filing.claimed_by == f"job:{job.pk}" or filing.claimed_by.startswith(f"job:{job.pk}:")


def _recorded_before_a_death(filing: PlatformFiling, job) -> bool:
    """This job's previous run recorded the filing's attempt, then its worker died before the
    job could back off: that attempt is not made again now, the job backs off first."""
    if not job.resumed:
        return False
    return filing.claimed_by in (f"job:{job.pk}", f"job:{job.pk}:{job.attempts - 1}")


def _lock(filing_id: int) -> PlatformFiling | None:
    found = lock_rows(
        PlatformFiling.objects.select_related("institution", "person").filter(pk=filing_id)
    )
    return found[0] if found else None


def _sender_lost(filing: PlatformFiling) -> bool:
    return filing.status == S.SENT and filing.updated_at <= timezone.now() - RESEND_AFTER


def may_retry(filing: PlatformFiling) -> bool:
    """A person may send it again: failed, dead, or sent by a sender that was lost."""
    return filing.status in RETRYABLE_STATUSES or _sender_lost(filing)


def _claim(filing: PlatformFiling, *, actor: User | None, token: str) -> None:
    """Take a locked filing for one attempt, in the caller's transaction (commit before calling)."""
    again = filing.status == S.SENT
    filing.attempts += 1
    filing.claimed_by = token
    transition(
        filing,
        S.SENT,
        actor=actor,
        reason="上次发送未记录结果，重新发送" if again else "",
        attempt=filing.attempts,
        **({"resent": True} if again else {}),
    )


def _deliver(claimed: PlatformFiling, *, actor: User | None, retry_later: bool) -> PlatformFiling:
    """Call the platform for a claimed filing (no transaction open), then record the outcome.

    ``retry_later``: a retryable failure queues the worker's next attempt after a back-off.
    """
    if in_transaction():
        raise RuntimeError("a filing is sent outside any transaction (network first, then lock)")
    client = PlatformClient(claimed.institution, actor)
    try:
        output = client.call(
            claimed.kind,
            {"data": claimed.input},
            key=claimed.idempotency_key,
            insuplc_admdvs=claimed.person.enrolment_region_id,
        )
    except PlatformError as exc:
        return _record(claimed, actor=actor, error=exc, retry_later=retry_later)
    filing = _record(claimed, actor=actor, output=output, retry_later=retry_later)
    if filing.status == S.ACCEPTED:
        # sent by a person or another job: a dead job of it has nothing left to do (after the
        # record's commit, holding no filing lock: the failed-jobs page locks the job first)
        settle_dead_jobs(FILING_JOB, {"filing_id": filing.pk})
    return filing


def _record(
    claimed: PlatformFiling,
    *,
    actor: User | None,
    retry_later: bool,
    output: Any = None,
    error: PlatformError | None = None,
) -> PlatformFiling:
    """Lock the filing again and record the platform's answer to the claimed attempt."""
    with transaction.atomic():
        # A 2504 and the 2503 it cancels, in primary-key order (the 2503 is older).
        rows = {
            row.pk: row
            for row in lock_rows(
                PlatformFiling.objects.select_related("institution", "person").filter(
                    pk__in=[claimed.pk, *([claimed.target_id] if claimed.target_id else [])]
                )
            )
        }
        filing = rows[claimed.pk]
        if filing.status != S.SENT or filing.attempts != claimed.attempts:
            return filing  # another sender took the filing over; its outcome counts
        if error is not None:
            filing.last_error = error.err_msg[:2000]
            filing.last_infcode = error.infcode
            again = error.retryable and filing.attempts < MAX_ATTEMPTS
            transition(
                filing,
                S.FAILED if again else S.DEAD,
                actor=actor,
                reason=filing.last_error,
                infcode=error.infcode,
            )
            if retry_later:
                queue_next_attempt(filing)
            return filing
        result = output.get("result") if isinstance(output, dict) else None
        sn = str((result or {}).get("trt_dcla_detl_sn", ""))
        filing.last_error = ""
        filing.last_infcode = "0"
        if filing.kind == FilingKind.FILE:
            if not sn:
                filing.last_error = "平台应答缺少待遇申报明细流水号"
                transition(filing, S.DEAD, actor=actor, reason=filing.last_error, infcode="0")
                return filing
            filing.trt_dcla_detl_sn = sn
        else:
            filing.trt_dcla_detl_sn = filing.input.get("trt_dcla_detl_sn", "")
        transition(filing, S.ACCEPTED, actor=actor, infcode="0")
        if filing.kind == FilingKind.CANCEL and filing.target_id:
            target = rows[filing.target_id]
            if target.status == S.ACCEPTED:
                transition(target, S.CANCELLED, actor=actor, reason=filing.input.get("memo", ""))
        elif filing.cancel_reason:
            # The subject ended while this 2503 was on its way: cancel it now that it is accepted.
            _queue_cancel(filing, actor=actor, reason=filing.cancel_reason)
    return filing


def queue_next_attempt(filing: PlatformFiling) -> None:
    """A failed filing is sent again by the worker after a back-off: by its job if one is
    waiting or running (it backs off itself), else by its dead job queued again, else a new one
    (one chain per filing, ``core.jobs.enqueue_chain``)."""
    if filing.status != S.FAILED:
        return
    enqueue_chain(
        FILING_JOB,
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
    enqueue(FILING_JOB, {"filing_id": cancel.pk}, key=f"filing:{cancel.pk}")
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
    With ``queue=True``, or when called inside another business transaction, the filing stays
    pending and a durable job sends it after that transaction commits, retrying with back-off
    (``integration.tasks``): a business action such as an approval never waits on the platform.
    """
    _require_sender(actor, institution)
    _require_connected(institution)
    subject_type, subject_id = _subject_ref(subject)
    values = _filing_input(person, institution, input)
    send_now = not queue and not in_transaction()
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
        if not send_now:
            enqueue(FILING_JOB, {"filing_id": filing.pk}, key=f"filing:{filing.pk}")
            return filing
        _claim(filing, actor=actor, token=_call_token())
    # A failure that may be retried is retried by the worker (the status says 将重试).
    return _deliver(filing, actor=actor, retry_later=True)


def _check_cancellable(target: PlatformFiling) -> None:
    if target.kind != FilingKind.FILE or target.status != S.ACCEPTED:
        raise Conflict(codes.FILING_NOT_CANCELLABLE, "只有已受理的备案可以撤销")
    if not target.trt_dcla_detl_sn:
        raise Conflict(codes.FILING_NOT_CANCELLABLE, "该备案没有待遇申报明细流水号")


def _start_cancel(
    target: PlatformFiling, *, actor: User | None, reason: str, now: bool, open_ok: bool = False
) -> tuple[PlatformFiling, bool]:
    """In the caller's transaction, with ``target`` locked: the 2504 of an accepted 2503, new or
    the failed one, claimed to be sent after commit (``now``) or queued for the worker.

    Returns (the 2504, whether it is claimed). A 2504 already pending or on its way is refused,
    or returned untouched with ``open_ok``.
    """
    open_cancel = target.cancellations.exclude(status__in=[S.DEAD, S.CANCELLED]).first()
    if open_cancel is not None:
        cancel = _lock(open_cancel.pk)
        if cancel.status != S.FAILED:
            if open_ok:
                return cancel, False
            raise Conflict(codes.FILING_NOT_CANCELLABLE, "该备案已有撤销申请在处理")
    else:
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
    if now:
        _claim(cancel, actor=actor, token=_call_token())
        return cancel, True
    if cancel.status == S.PENDING:
        enqueue(FILING_JOB, {"filing_id": cancel.pk}, key=f"filing:{cancel.pk}")
    else:
        queue_next_attempt(cancel)  # usually the job its failure queued already
    return cancel, False


def filing_cancel(*, actor: User | None, filing: PlatformFiling, reason: str) -> PlatformFiling:
    """Send a 2504 for an accepted 2503; returns the 2504 filing (the 2503 becomes cancelled).

    Inside another business transaction the 2504 is queued for the worker (returned pending).
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(codes.FILING_INVALID_INPUT, "请填写撤销原因", fields={"reason": ["必填"]})
    now = not in_transaction()
    with transaction.atomic():
        target = _lock(filing.pk)
        if target is None:
            raise NotFound()
        _require_sender(actor, target.institution)
        _check_cancellable(target)
        cancel, claimed = _start_cancel(target, actor=actor, reason=reason, now=now)
    if not claimed:
        return cancel
    # A 2504 the platform could not take now is retried by the worker, not left failed.
    return _deliver(cancel, actor=actor, retry_later=True)


def filing_withdraw(
    *, actor: User | None, filing: PlatformFiling, reason: str
) -> tuple[PlatformFiling | None, str]:
    """End a 2503 whatever its state, because its subject ended (e.g. a stopped eligibility).

    Accepted: a 2504 is sent — now, or by the worker when called inside another business
    transaction. Never sent: withdrawn here, nothing reaches the platform. On its way (sent,
    failed, dead — it may already be at the platform): marked, and the 2504 follows
    automatically once it is accepted. Returns (the 2504 or None, a note for people).
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(codes.FILING_INVALID_INPUT, "请填写撤销原因", fields={"reason": ["必填"]})
    now = not in_transaction()
    with transaction.atomic():
        target = _lock(filing.pk)
        if target is None:
            raise NotFound()
        if target.kind != FilingKind.FILE:
            raise Conflict(codes.FILING_NOT_CANCELLABLE, "只有备案（2503）可以撤销")
        if target.status == S.CANCELLED:
            return None, "备案已撤销"
        _require_sender(actor, target.institution)
        if target.status == S.ACCEPTED:
            _check_cancellable(target)
            cancel, claimed = _start_cancel(
                target, actor=actor, reason=reason, now=now, open_ok=True
            )
            if not claimed:
                return cancel, _cancel_note(cancel)
        elif target.status == S.PENDING and target.attempts == 0:
            transition(
                target, S.CANCELLED, actor=actor, reason=reason, withdrawn_before_sending=True
            )
            return None, "备案尚未发送，已撤回"
        else:
            target.cancel_reason = reason[:2000]
            target.save(update_fields=["cancel_reason"])
            audit.record(
                actor=actor,
                action="integration.filing_cancel_requested",
                subject=target,
                patient=target.person,
                role=filing_sender_role(actor),
                summary={"status": target.status},
            )
            return None, f"备案状态为「{target.get_status_display()}」，受理后将自动撤销（2504）"
    cancel = _deliver(cancel, actor=actor, retry_later=True)
    return cancel, _cancel_note(cancel)


def _cancel_note(cancel: PlatformFiling) -> str:
    """What people are told about the 2504 that ends a filing."""
    if cancel.status == S.ACCEPTED:
        return "已撤销备案（2504）"
    if cancel.status == S.PENDING:
        return "已提交撤销备案（2504），待发送；平台受理后备案即撤销"
    if cancel.status == S.SENT:
        return "撤销备案（2504）发送中；平台受理后备案即撤销"
    return f"撤销备案（2504）状态为「{cancel.get_status_display()}」，待重试"


def filing_retry(filing: PlatformFiling, *, actor: User | None = None) -> PlatformFiling:
    """Send a failed or dead filing (or one whose sender was lost) again with its own key.

    Inside another business transaction the worker sends it: a dead filing is put back to
    failed (the person asked) and the filing's job chain goes on, or starts again if dead
    (``queue_next_attempt``: never a second chain beside a waiting job).
    """
    now = not in_transaction()
    with transaction.atomic():
        locked = _lock(filing.pk)
        if locked is None:
            raise NotFound()
        _require_sender(actor, locked.institution)
        if not may_retry(locked):
            raise Conflict(
                codes.FILING_NOT_RETRYABLE,
                f"备案状态为「{locked.get_status_display()}」，不能重试",
            )
        if not now:
            _requeue(locked, actor=actor)
            return locked
        _claim(locked, actor=actor, token=_call_token())
    return _deliver(locked, actor=actor, retry_later=True)


def _requeue(filing: PlatformFiling, *, actor: User | None) -> None:
    """In the caller's transaction, the filing locked: a dead one is failed again, and the
    worker sends it at once."""
    if filing.status == S.DEAD:
        transition(filing, S.FAILED, actor=actor, reason="人工重新排队")
    if filing.status in (S.FAILED, S.SENT):  # sent: by a sender that was lost
        enqueue_chain(FILING_JOB, {"filing_id": filing.pk})


def filing_job_requeue(*, actor: User, filing_id: int) -> PlatformFiling:
    """A person re-queues a filing's failed or dead job (the failed-jobs page, in that page's
    transaction, which queues the job itself): a dead filing is failed again so that the job
    sends it. Only those who may send the filing."""
    locked = _lock(filing_id)
    if locked is None:
        raise NotFound()
    _require_sender(actor, locked.institution)
    if locked.status == S.DEAD:
        transition(locked, S.FAILED, actor=actor, reason="人工重新排队")
    return locked


def filing_process(filing_id: int, *, job=None, retry: bool = False) -> PlatformFiling:
    """Job entry point, outside any transaction: send a pending or failed filing (a dead one too
    with ``retry``, a job queued before people's retries made a dead filing failed again), or
    one left sent by a lost sender; anything else is left as it is. Returns the filing; the job
    backs off itself while it is failed (``integration.tasks``).

    Per run of a job (``job:<id>:<attempt>``): a rerun after its worker died sends the job's own
    unrecorded attempt again (same key), and leaves the attempt its previous run recorded alone
    (the job backs off first); a run after the job's back-off sends again. Raises
    ``FilingInFlight`` (for a job) while another sender holds it."""
    token = _job_token(job) if job is not None else _call_token()
    sendable = (S.PENDING, S.FAILED, S.DEAD) if retry else (S.PENDING, S.FAILED)
    with transaction.atomic():
        filing = _lock(filing_id)
        if filing is None:
            raise NotFound()
        if filing.status == S.SENT:
            own = job is not None and _claimed_by_job(filing, job)
            if not own and not _sender_lost(filing):
                if job is not None:
                    raise FilingInFlight()
                return filing
        elif filing.status not in sendable:
            return filing  # done, or dead until a person retries it
        elif job is not None and _recorded_before_a_death(filing, job):
            return filing
        _claim(filing, actor=None, token=token)
    return _deliver(filing, actor=None, retry_later=False)
