"""Uploading movements to the national platform (进销存 3501–3506) and retrying failures.

Each movement is one call with the transaction code of its kind and idempotency key
``inventory.movement:<id>``: the client answers a key that already succeeded from its call log,
so a retry never uploads twice (the platform also knows the record by ``fixmedins_bchno``).
``movement_upload_process`` is the job's entry point (``inventory.tasks``); a person retries a
failed or dead upload with ``inventory_upload_retry``. Node names and the fields beyond the
3505 line of reference/nhsa-interface.md follow public vendor code **[uncertain]**.

Network first, then lock (docs/conventions.md): an upload is three steps — a short transaction
locks the movement, checks it still needs sending, counts the attempt and builds the request; the
platform is called with no transaction open; a second short transaction locks the movement
again, re-checks (an outcome another attempt recorded meanwhile stands) and records this one with
its history row and audit event. So both entry points are meant to be called outside any
transaction (inside one, the lock would be held over the call after all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.jobs import backoff_delay, enqueue
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.integration.models import PlatformCall
from dualchannel.integration.nhsa.client import PlatformClient
from dualchannel.integration.nhsa.envelope import SHANGHAI
from dualchannel.integration.nhsa.errors import PlatformError
from dualchannel.registry.models import Pharmacist

from . import error_codes as codes
from .models import (
    INV_DATA_TYPE,
    UPLOAD_MACHINE,
    MovementKind,
    StockMovement,
    UploadStatus,
)
from .service_helpers import UPLOAD_JOB, may_act_for

K = MovementKind
U = UploadStatus
MAX_ATTEMPTS = 5
RETRYABLE = (U.FAILED, U.DEAD)


def upload_key(movement: StockMovement) -> str:
    return f"inventory.movement:{movement.pk}"


# --- the platform input of each kind -----------------------------------------------------------


def _time(value) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _opter_name(movement: StockMovement) -> str:
    actor = movement.actor
    if actor is None:
        return "系统"
    return (actor.display_name or actor.get_username())[:50]


def _pharmacist(movement: StockMovement) -> tuple[str, str]:
    """Name and certificate number of the pharmacist who recorded it (3505 phar_*)."""

    found = Pharmacist.objects.filter(user_id=movement.actor_id).first()
    if found is None:
        return _opter_name(movement), ""
    return found.name, found.practising_certificate_no


def _drug_fields(movement: StockMovement) -> dict[str, Any]:
    item = movement.stock_item
    drug = item.drug
    return {
        "med_list_codg": drug.national_code,
        "fixmedins_hilist_id": drug.national_code or f"DRUG{drug.pk}",
        "fixmedins_hilist_name": drug.generic_name[:200],
        "fixmedins_bchno": movement.fixmedins_bchno,
        "rx_flag": "1",  # negotiated dual-channel drugs are prescription drugs
    }


def _batch_fields(movement: StockMovement) -> dict[str, Any]:
    item = movement.stock_item
    return {
        "manu_lotnum": item.batch_no,
        "manu_date": item.manufacture_date.isoformat() if item.manufacture_date else "",
        "expy_end": item.expiry_date.isoformat(),
    }


def _trace_info(movement: StockMovement) -> list[dict[str, str]]:
    codes_ = movement.trace_code_links.order_by("trace_code__code").values_list(
        "trace_code__code", flat=True
    )
    return [{"drug_trac_codg": code} for code in codes_]


def _person_fields(movement: StockMovement) -> dict[str, str]:
    person = movement.person
    if person is None:
        return {"psn_no": "", "psn_cert_type": "", "certno": ""}
    return {"psn_no": person.person_no, "psn_cert_type": "01", "certno": person.id_number}


def upload_input(movement: StockMovement) -> dict[str, Any]:
    """The ``input`` of the movement's transaction."""
    count = abs(movement.quantity_delta)
    when = _time(movement.occurred_at)
    base = {**_drug_fields(movement), **_batch_fields(movement)}
    trace = _trace_info(movement)
    if movement.kind == K.STOCKTAKE:
        return _stocktake_input(movement, base, trace)
    if movement.kind == K.STOCK_CHANGE:
        return _stock_change_input(movement, base, trace, when)
    if movement.kind in (K.PURCHASE, K.PURCHASE_RETURN):
        return _purchase_input(movement, base, trace, count, when)
    return _sale_input(movement, base, trace, count, when)


def _stocktake_input(
    movement: StockMovement, base: dict[str, Any], trace: list[dict[str, str]]
) -> dict[str, Any]:
    """3501: the counted stock of a batch."""
    return {
        "invinfo": {
            **base,
            "invdate": movement.occurred_at.astimezone(SHANGHAI).date().isoformat(),
            "inv_cnt": movement.quantity_after,
            "memo": movement.note[:500],
            # The packages behind the difference: found (盘盈) or missing (盘亏).
            "drugtracinfo": trace,
        }
    }


def _stock_change_input(
    movement: StockMovement, base: dict[str, Any], trace: list[dict[str, str]], when: str
) -> dict[str, Any]:
    """3502: a stock change other than a purchase or sale."""
    return {
        "invinfo": {
            **base,
            "inv_chg_type": "",  # set by the service that will record stock changes
            "pric": str(movement.stock_item.retail_price),
            "cnt": movement.quantity_delta,
            "inv_chg_time": when,
            "inv_chg_opter_name": _opter_name(movement),
            "trdn_flag": "0",
            "memo": movement.note[:500],
            "drugtracinfo": trace,
        }
    }


def _purchase_input(
    movement: StockMovement,
    base: dict[str, Any],
    trace: list[dict[str, str]],
    count: int,
    when: str,
) -> dict[str, Any]:
    """3503 (purchase) and 3504 (purchase return to the supplier)."""
    item = movement.stock_item
    purchase = {
        **base,
        "dynt_no": "",
        "spler_name": movement.supplier_name or "无",
        "spler_pmtno": "",
        "prodentp_name": item.manufacturer or "无",
        "aprvno": item.approval_no or "无",
        # the actual purchase price recorded at receipt, when the pharmacy recorded it
        "finl_trns_pric": "" if item.purchase_price is None else str(item.purchase_price),
        "purc_retn_cnt": count,
        "purc_invo_codg": "",
        "purc_invo_no": "",
        "purc_retn_stoin_time": when,
        "purc_retn_opter_name": _opter_name(movement),
        "memo": movement.note[:500],
        "drugtracinfo": trace,
    }
    if movement.kind == K.PURCHASE:
        # 商品赠送标志: 1 a donation (赠药, the donor as supplier) [HB art. 31(7)], 0 bought
        purchase["prod_geay_flag"] = "1" if movement.donated else "0"
    return {"purcinfo": purchase}


def _sale_input(
    movement: StockMovement,
    base: dict[str, Any],
    trace: list[dict[str, str]],
    count: int,
    when: str,
) -> dict[str, Any]:
    """3505 (sale) and 3506 (sale return)."""
    extra = movement.platform_fields or {}
    settled = bool(extra.get("setl_id"))
    sale = {
        **base,
        **_person_fields(movement),
        "setl_id": extra.get("setl_id", ""),
        "mdtrt_sn": extra.get("mdtrt_sn", ""),
        "rxno": extra.get("rxno", ""),
        "trdn_flag": extra.get("trdn_flag", "0"),  # not split from a larger package
        "mdtrt_setl_type": extra.get("mdtrt_setl_type", "1" if settled else "2"),
        "sel_retn_cnt": count,
        "sel_retn_time": when,
        "sel_retn_opter_name": _opter_name(movement),
        "drugtracinfo": trace,
    }
    if movement.kind == K.SALE:
        phar_name, phar_cert = _pharmacist(movement)
        sale.update(
            {
                "prsc_dr_name": extra.get("prsc_dr_name", ""),
                "phar_name": phar_name,
                "phar_prac_cert_no": phar_cert,
                "hi_feesetl_type": extra.get("hi_feesetl_type", "1" if settled else "2"),
                # Dual-channel sales dispense prescriptions circulated from a hospital.
                "rx_circ_flag": extra.get("rx_circ_flag", "1"),
                "rtal_docno": extra.get("rtal_docno", movement.reference[:40]),
                "stoout_no": extra.get("stoout_no", movement.fixmedins_bchno),
            }
        )
    else:
        sale.update(
            {
                "finl_trns_pric": str(movement.stock_item.retail_price),
                "memo": movement.note[:500],
                "medins_prod_sel_no": (
                    movement.related_movement.fixmedins_bchno if movement.related_movement else ""
                ),
            }
        )
    return {"selinfo": sale}


def delete_input(movement: StockMovement) -> dict[str, Any]:
    """3507: remove an uploaded record (no service calls it yet)."""
    return {
        "data": {
            "fixmedins_bchno": movement.fixmedins_bchno,
            "inv_data_type": INV_DATA_TYPE[movement.kind],
        }
    }


@dataclass(frozen=True)
class _Attempt:
    """One attempt, claimed under the row lock: what to send, and which attempt it is."""

    movement_id: int
    number: int  # the movement's ``upload_attempts`` once this attempt was counted
    pharmacy: Any
    infno: str
    input: dict[str, Any]
    key: str
    insuplc_admdvs: str


def _claim(movement: StockMovement) -> _Attempt:
    """Step 1, in the caller's short transaction with the movement locked: count the attempt and
    build its request from the locked row."""
    movement.upload_attempts += 1
    movement.save(update_fields=["upload_attempts"])
    person = movement.person
    return _Attempt(
        movement_id=movement.pk,
        number=movement.upload_attempts,
        pharmacy=movement.pharmacy,
        infno=movement.infno,
        input=upload_input(movement),
        key=upload_key(movement),
        insuplc_admdvs=person.enrolment_region_id if person is not None else "",
    )


def _call(attempt: _Attempt, *, actor: User | None) -> PlatformError | DomainError | None:
    """Step 2, with no transaction open: send the attempt; returns its error, if any."""
    try:
        client = PlatformClient(attempt.pharmacy, actor)
        client.call(
            attempt.infno, attempt.input, key=attempt.key, insuplc_admdvs=attempt.insuplc_admdvs
        )
    except (PlatformError, DomainError) as exc:  # DomainError: refused before sending
        return exc
    return None


def _record(
    attempt: _Attempt,
    error: PlatformError | DomainError | None,
    *,
    actor: User | None,
    queue_next: bool = True,
) -> StockMovement:
    """Step 3: lock the movement again, re-check and record the outcome with its history and
    audit; a failure that will be retried queues the worker's next attempt (``queue_next``; the
    job itself backs off instead when it is the worker's own run)."""
    with transaction.atomic():
        movement = _locked(attempt.movement_id)
        if movement is None:
            raise NotFound(codes.MOVEMENT_NOT_FOUND, "进销存记录不存在")
        if not UPLOAD_MACHINE.allowed_from(movement.upload_status):
            return movement  # another attempt uploaded it meanwhile: that outcome stands
        if error is not None and movement.upload_attempts != attempt.number:
            return movement  # a later attempt was claimed meanwhile: its outcome is recorded
        if isinstance(error, PlatformError):
            movement.upload_error = error.err_msg[:2000]
            movement.upload_infcode = error.infcode
            again = error.retryable and movement.upload_attempts < MAX_ATTEMPTS
            transition(
                movement,
                U.FAILED if again else U.DEAD,
                actor=actor,
                reason=movement.upload_error,
                infcode=error.infcode,
                attempt=movement.upload_attempts,
            )
            if again and queue_next:
                _queue_next(movement)
            return movement
        if isinstance(error, DomainError):
            movement.upload_error = error.message[:2000]
            movement.upload_infcode = ""
            transition(
                movement, U.DEAD, actor=actor, reason=error.code, attempt=movement.upload_attempts
            )
            return movement

        call = (
            PlatformCall.objects.filter(
                institution=movement.pharmacy,
                infno=movement.infno,
                idempotency_key=attempt.key,
                infcode="0",
            )
            .only("msgid")
            .first()
        )
        movement.upload_msgid = call.msgid if call is not None else ""
        movement.upload_infcode = "0"
        movement.upload_error = ""
        movement.uploaded_at = timezone.now()
        transition(movement, U.UPLOADED, actor=actor, attempt=movement.upload_attempts)
        return movement


def _queue_next(movement: StockMovement) -> None:
    """The worker's next attempt, with back-off (``failed`` means it will be retried)."""
    enqueue(
        UPLOAD_JOB,
        {"movement_id": movement.pk},
        run_after=timezone.now() + backoff_delay(movement.upload_attempts),
        key=f"{UPLOAD_JOB}:{movement.pk}:attempt:{movement.upload_attempts + 1}",
    )


def _locked(movement_id: int) -> StockMovement | None:
    return (
        StockMovement.objects.select_for_update(of=("self",))
        .select_related("pharmacy", "stock_item", "stock_item__drug", "person", "actor")
        .filter(pk=movement_id)
        .first()
    )


def movement_upload_process(movement_id: int, *, queue_next: bool = True) -> StockMovement:
    """Job entry point: upload a pending or failed movement; anything else is left as it is.

    Network first, then lock: claim the attempt in a short transaction, call the platform with
    none open, then record the outcome in another (so call it outside a transaction).
    ``queue_next=False``: a failure that will be retried queues nothing; the caller (the job)
    backs off and runs again.
    """
    with transaction.atomic():
        movement = _locked(movement_id)
        if movement is None:
            raise NotFound(codes.MOVEMENT_NOT_FOUND, "进销存记录不存在")
        if movement.upload_status not in (U.PENDING, U.FAILED):
            return movement
        attempt = _claim(movement)
    return _record(attempt, _call(attempt, actor=None), actor=None, queue_next=queue_next)


def upload_requeue(*, actor: User, movement_id: int) -> StockMovement:
    """A person re-queues a dead upload (the failed-jobs page, in that page's transaction): the
    movement is ``failed`` again, so the job's next run sends it. A drug still without its
    national code is refused: the platform would refuse it again."""
    require_role(actor, Role.PHARMACIST)
    movement = _locked(movement_id)
    if movement is None or not may_act_for(actor, movement.pharmacy_id):
        raise NotFound(codes.MOVEMENT_NOT_FOUND, "进销存记录不存在或不属于本药店")
    if not movement.stock_item.drug.national_code:
        raise Conflict(
            codes.DRUG_WITHOUT_NATIONAL_CODE,
            "该药品尚无医保药品代码（医疗目录编码），平台会再次拒收；请先在药品目录中补录",
        )
    if movement.upload_status == U.DEAD:
        transition(
            movement, U.FAILED, actor=actor, reason="人工重新排队", attempt=movement.upload_attempts
        )
    return movement


def inventory_upload_retry(*, actor: User, movement_id: int) -> StockMovement:
    """A pharmacist of the pharmacy (or an admin) uploads a failed or dead movement again.

    The answer says how it went, so the upload is made here, not queued; like the job, it holds
    no lock while the platform answers.
    """
    require_role(actor, Role.PHARMACIST)
    with transaction.atomic():
        movement = _locked(movement_id)
        if movement is None or not may_act_for(actor, movement.pharmacy_id):
            raise NotFound(codes.MOVEMENT_NOT_FOUND, "进销存记录不存在或不属于本药店")
        if movement.upload_status not in RETRYABLE:
            raise Conflict(
                codes.UPLOAD_NOT_RETRYABLE,
                f"上传状态为「{movement.get_upload_status_display()}」，不能重新上传",
            )
        attempt = _claim(movement)
    return _record(attempt, _call(attempt, actor=actor), actor=actor)
