"""The pharmacy counter: open a prescription, verify, dispense (DESIGN §5.2 steps 3–4, 6).

``counter_check`` runs every check and returns them all (for the screen: each with its reason
code and Chinese reason). ``counter_dispense`` runs them again under the prescription's row lock
and, in one transaction, takes the stock (inventory ``sale_record``: batches locked, codes
checked), records the dispensing with its identity check and delivery, moves the plan's used
quantity and the prescription to dispensed. Two counters dispensing the same prescription: the
second waits for the lock and then finds it dispensed. Every call carries an idempotency key: the
same key and body returns the first result; the same key with another body (or another
prescription) is refused, also when two such requests race: the loser's unique-constraint
violation is rolled back and answered as the later request (replay, or the same refusal).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import DecimalField, OuterRef, Subquery
from django.utils import timezone

from dualchannel.core import audit, refcache
from dualchannel.core.canonical import digest
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.idempotency import checked_key
from dualchannel.core.masking import mask_id_number
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.queries import CompiledRead, attach, insert_new, keyed_read
from dualchannel.core.roles import Role
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.services.plan import eligibility_plan_use
from dualchannel.integration.services import e_voucher_resolve
from dualchannel.inventory.error_codes import IDEMPOTENCY_MISMATCH as INVENTORY_IDEMPOTENCY_MISMATCH
from dualchannel.inventory.sales import SaleLine, sale_lock_items, sale_record
from dualchannel.registry.models import Institution, Pharmacist
from dualchannel.registry.profiles import profile_of

from .. import error_codes as codes
from ..models import (
    CertificateType,
    Delivery,
    DeliveryMode,
    DeliveryStatus,
    DeliveryTransition,
    Dispensing,
    DispensingLine,
    OnlineOrder,
    Prescription,
    PrescriptionItem,
)
from ..workflow import sale_reference
from .circulation import rx_centre_dispensed
from .counter_alerts import price_attempt_alert
from .counter_checks import (
    PHONE,
    VOUCHER_USED_MESSAGE,
    Check,
    DispenseLine,
    Identity,
    all_checks,
    clean_lines,
    sale_price,
)
from .lifecycle import prescription_mark_dispensed
from .orders import (
    holding_order_id,
    open_order,
    order_delivery_fields,
    order_on_dispensed,
    order_take_holds,
)
from .routing import allowed_pharmacies

RX_NO = re.compile(r"^CF\d{13}$")
KEY_REUSED = "该幂等键已用于另一笔发药请求"


@dataclass
class CounterResult:
    prescription: Prescription
    checks: list[Check] = field(default_factory=list)

    @property
    def refusals(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.refusals

    def raise_first(self) -> None:
        if self.refusals:
            first = self.refusals[0]
            raise DomainError(
                first.code,
                first.message,
                fields={"checks": [f"{c.code}：{c.message}" for c in self.refusals]},
            )


# --- who is at the counter -------------------------------------------------------------------


_PHARMACIST = CompiledRead(
    lambda user_id: (
        Pharmacist.objects.select_related("pharmacy").filter(user_id=user_id).order_by()[:1]
    ),
    int,
)


_PHARMACIST_TABLES = (Pharmacist._meta.db_table, Institution._meta.db_table)


def _pharmacist_of(actor: User) -> Pharmacist:
    require_role(actor, Role.PHARMACIST)
    # read once per worker while the pharmacists and institutions are unchanged (core.refcache):
    # every check and dispense asks; an officer's edit of either table moves its version
    pharmacist = refcache.cached(
        ("counter.pharmacist", actor.pk), _PHARMACIST_TABLES, lambda: _PHARMACIST.one(actor.pk)
    )
    if pharmacist is None or pharmacist.pharmacy_id != actor.institution_id:
        raise PermissionDenied("counter.not_pharmacist", "您没有本店执业药师档案，不能审核发药")
    return pharmacist


NOT_FOUND_MESSAGE = (
    "未找到该处方，请核对处方编号或重新扫码（未流转至本店的处方须同时录入参保人身份证号）"
)


def _ref_to_lookup(reference: str) -> dict[str, str]:
    """A prescription number, or what the prescription's QR code holds (its verify URL)."""
    value = (reference or "").strip()
    if RX_NO.match(value.upper()):
        return {"prescription_no": value.upper()}
    path = urlparse(value).path if "/" in value else f"/verify/{value}/"
    parts = [p for p in path.split("/") if p]
    if (
        len(parts) >= 2
        and parts[-2] == "verify"
        and re.fullmatch(r"[A-Za-z0-9_-]{8,100}", parts[-1])
    ):
        return {"document__verification_token": parts[-1]}
    raise NotFound(codes.RX_NOT_FOUND, NOT_FOUND_MESSAGE)


def counter_open(*, actor: User, reference: str, patient_id_number: str = "") -> Prescription:
    """The pharmacist opens a prescription by its number or by scanning its QR code.

    One routed to (or dispensed at) this pharmacy opens by its number. Any other opens only for
    a walk-in, with what the patient brings — the QR code, or the number together with the
    patient's ID number — and only at a pharmacy that may dispense it (the bound or named
    pharmacy, else the area's designated ones); everything else is not found, so that nobody
    learns of a prescription by guessing its sequential number [issue 9].
    """

    pharmacist = _pharmacist_of(actor)
    lookup = _ref_to_lookup(reference)
    prescription = (
        Prescription.objects.select_related(
            "patient", "hospital", "physician", "pharmacy", "eligibility", "document"
        )
        .filter(**lookup)
        .first()
    )
    if prescription is None:
        raise NotFound(codes.RX_NOT_FOUND, NOT_FOUND_MESSAGE)
    if prescription.pharmacy_id == pharmacist.pharmacy_id:
        return prescription
    brought = "document__verification_token" in lookup or (
        (patient_id_number or "").strip().upper() == prescription.patient.id_number
    )
    may_dispense = pharmacist.pharmacy_id in {p.pk for p in allowed_pharmacies(prescription)}
    if not (brought and may_dispense):
        raise NotFound(codes.RX_NOT_FOUND, NOT_FOUND_MESSAGE)
    if prescription.pharmacy_id is not None:
        raise DomainError(codes.RX_NOT_ROUTED_HERE, "该处方已流转至其他药店，本店不能调剂")
    return prescription


@refcache.reading()  # the reference data's versions read once (core.refcache)
def counter_check(
    *,
    actor: User,
    prescription_id: int,
    identity: Identity,
    lines: Sequence[Mapping[str, Any] | DispenseLine] | None = None,
    today: date | None = None,
    delivery: DeliveryInput | None = None,
) -> CounterResult:
    """Every check for the screen, without writing anything: those ``counter_dispense`` runs
    (``dispense_checks``) and the sale's own (batches, stock, trace codes)."""
    pharmacist = _pharmacist_of(actor)
    prescription = _visible(prescription_id, pharmacist)
    identity = identity_resolve(actor, identity)
    today = today or timezone.localdate()
    clean = clean_lines(lines) if lines else None
    checks = dispense_checks(
        prescription, pharmacist, identity, clean, today, prescription.eligibility, delivery
    )
    return CounterResult(prescription, checks)


def dispense_checks(
    prescription: Prescription,
    pharmacist: Pharmacist,
    identity: Identity,
    clean: list[DispenseLine] | None,
    today: date,
    eligibility: Eligibility | None,
    delivery: DeliveryInput | None,
    *,
    stock: bool = True,
    stock_items: Mapping[int, Any] | None = None,
) -> list[Check]:
    """The one list of checks 核验 shows and 发药 enforces. 发药 passes ``stock=False`` and no
    ``delivery``: its sale (``sale_refusals`` under the batch locks) and ``_delivery_plan`` run
    those parts themselves, refusing with their own fields (``stock_items``: the batches it
    locked)."""
    checks = all_checks(
        prescription,
        pharmacist.pharmacy_id,
        identity,
        clean,
        today,
        eligibility,
        stock=stock,
        stock_items=stock_items,
    )
    if delivery is not None:
        try:
            _delivery_plan(prescription, delivery)
        except DomainError as exc:
            checks.append(Check(exc.code, False, "取药方式", exc.message))
    return checks


def identity_resolve(actor: User, identity: Identity) -> Identity:
    """An e-voucher (01) as scanned, resolved through the platform (1101) into its holder's ID
    number and the token's digest; other certificates as read. Asked holding no transaction or
    lock (network first); a refusal (forged, expired, platform down) is a ``DomainError`` with
    its code and Chinese message, nothing written."""
    if identity.certificate_type != CertificateType.E_CREDENTIAL:
        return replace(identity, voucher_digest="")
    code = (identity.certificate_no or "").strip()
    if not code:
        return replace(identity, voucher_digest="")
    holder = e_voucher_resolve(actor=actor, code=code)
    return replace(identity, certificate_no=holder.id_number, voucher_digest=holder.digest)


def _visible_read(*, lock: bool) -> CompiledRead:
    # Everything the checks and the dispensing read, in two statements: the prescription with
    # its people and places, then its items with their drugs (``items.all()`` from memory).
    def build(prescription_id: int):
        qs = Prescription.objects.select_related(
            "patient",
            "rx_centre",  # the dispensing is reported to the centre where it was submitted
            "hospital__region",
            "eligibility",
            "pharmacy__region",
            "physician",
        )
        if lock:
            # the dispensing notifies the patient: their account (if any) with the same read;
            # and takes over an online order holding stock for it (its id with the same read)
            qs = (
                qs.select_related("patient__user")
                .annotate(holding_order_id=holding_order_id(OuterRef("pk")))
                .select_for_update(of=("self",))
            )
        return qs.filter(pk=prescription_id).order_by()[:1]

    return CompiledRead(build, int)


_VISIBLE = {lock: _visible_read(lock=lock) for lock in (False, True)}
_ITEMS = CompiledRead(  # a prescription's items with their drugs, as a prefetch reads them
    lambda prescription_id: (
        PrescriptionItem.objects.select_related("drug")
        .filter(prescription_id=prescription_id)
        .order_by("position")
    ),  # Meta.ordering's "prescription" would join the prescriptions
    int,
)


def _visible(prescription_id: int, pharmacist: Pharmacist, *, lock: bool = False) -> Prescription:
    prescription = _VISIBLE[lock].one(prescription_id)
    # only a prescription routed here: a walk-in is first routed by the patient [CX art. 21]
    if prescription is None or prescription.pharmacy_id != pharmacist.pharmacy_id:
        raise NotFound(codes.RX_NOT_FOUND, "处方不存在")
    attach(prescription, "items", _ITEMS.all(prescription_id))
    return prescription


# --- dispensing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryInput:
    mode: str = DeliveryMode.PICKUP
    address: str = ""
    recipient_name: str = ""
    recipient_phone: str = ""
    fee: Decimal = Decimal(0)  # an online order's delivery fee (网订店送)


def _delivery_plan(prescription: Prescription, delivery: DeliveryInput):
    """HB art. 29: injectables (and cold-chain drugs) go to the treating hospital, free."""
    if delivery.mode not in DeliveryMode.values:
        raise DomainError(
            codes.DELIVERY_INVALID, "请选择取药方式", fields={"delivery.mode": ["无效"]}
        )
    cold = any(i.drug.is_injectable or i.drug.needs_cold_chain for i in prescription.items.all())
    if cold and delivery.mode != DeliveryMode.COLD_CHAIN_TO_HOSPITAL:
        raise DomainError(
            codes.COLD_CHAIN_REQUIRED,
            "注射剂或冷链药品须由药店按冷链要求免费配送至就诊的定点医疗机构",
            fields={"delivery.mode": ["应为冷链配送"]},
        )
    destination = None
    if delivery.mode == DeliveryMode.COLD_CHAIN_TO_HOSPITAL:
        application = prescription.eligibility.application if prescription.eligibility else None
        destination = (application.treating_hospital if application else None) or (
            prescription.hospital
        )
    if delivery.mode == DeliveryMode.HOME_DELIVERY:
        missing = {
            f"delivery.{name}": ["必填"]
            for name in ("address", "recipient_name", "recipient_phone")
            if not getattr(delivery, name).strip()
        }
        if missing:
            raise DomainError(
                codes.DELIVERY_INVALID, "送药上门须填写地址、收货人和电话", fields=missing
            )
        if not PHONE.match(delivery.recipient_phone.strip()):
            raise DomainError(
                codes.DELIVERY_INVALID,
                "收货电话格式不正确",
                fields={"delivery.recipient_phone": ["格式不正确"]},
            )
    first_status = {
        DeliveryMode.PICKUP: DeliveryStatus.PICKED_UP,
        DeliveryMode.ONLINE_PICKUP: DeliveryStatus.READY,
        DeliveryMode.HOME_DELIVERY: DeliveryStatus.PREPARING,
        DeliveryMode.COLD_CHAIN_TO_HOSPITAL: DeliveryStatus.PREPARING,
    }[delivery.mode]
    return destination, first_status


def _warnings(checks: list[Check], sale_warnings: Sequence[Mapping[str, Any]]) -> list[dict]:
    """The checks' warnings, then the sale's; one the sale repeats (a code's) is kept once."""
    sold = [dict(w) for w in sale_warnings]
    said = {(w.get("code"), w.get("message")) for w in sold}
    return [
        {"code": c.code, "message": c.message}
        for c in checks
        if c.warning and (c.code, c.message) not in said
    ] + sold


def _body_digest(prescription_id, identity: Identity, lines, delivery: DeliveryInput) -> str:
    return digest(
        {
            "prescription": prescription_id,
            "identity": {
                # a blank relation is left out: a request digested before the relation was
                # asked still replays as the same request
                **{
                    k: v
                    for k, v in identity.__dict__.items()
                    if k != "agent_signature" and not (k == "agent_relation" and not v)
                },
                "agent_signature": hashlib.sha256(identity.agent_signature or b"").hexdigest(),
            },
            "lines": [line.__dict__ | {"trace_codes": list(line.trace_codes)} for line in lines],
            "delivery": delivery.__dict__,
        }
    )


@refcache.reading()
def counter_dispense(
    *,
    actor: User,
    prescription_id: int,
    identity: Identity,
    lines: Sequence[Mapping[str, Any] | DispenseLine],
    idempotency_key: str,
    delivery: DeliveryInput | None = None,
    today: date | None = None,
) -> Dispensing:
    """Verify and dispense in one transaction; exactly one dispensing per prescription. The
    returned dispensing's ``replayed`` is True when the key answered an earlier request's; its
    ``answer_in_memory`` is True when its lines and delivery (with history) are on it as written,
    so that the answer needs no re-read."""
    pharmacist = _pharmacist_of(actor)
    key = checked_key(idempotency_key, code=codes.IDEMPOTENCY_KEY_REQUIRED)
    clean = clean_lines(lines)
    delivery = delivery or DeliveryInput()
    request_digest = _body_digest(prescription_id, identity, clean, delivery)
    today = today or timezone.localdate()
    if identity.certificate_type == CertificateType.E_CREDENTIAL:
        # The same request again answers the first dispensing without asking the platform (its
        # e-voucher may have expired since); else the voucher is resolved before the lock.
        seen = _replay(pharmacist.pharmacy_id, key, prescription_id, request_digest)
        if seen is not None:
            return seen
    identity = identity_resolve(actor, identity)  # no query for other certificates
    try:
        return _dispense(
            actor=actor,
            pharmacist=pharmacist,
            prescription_id=prescription_id,
            identity=identity,
            clean=clean,
            key=key,
            request_digest=request_digest,
            delivery=delivery,
            today=today,
        )
    except IntegrityError:
        # Lost a race on the key to a request that committed first (the dispensing's unique
        # key per pharmacy): its dispensing is visible now, answer as the later request.
        seen = _replay(pharmacist.pharmacy_id, key, prescription_id, request_digest)
        if seen is not None:
            return seen
        if identity.voucher_digest and (
            Dispensing.objects.filter(voucher_digest=identity.voucher_digest).exists()
        ):
            # the same e-voucher dispensed another prescription meanwhile
            raise DomainError(codes.VOUCHER_USED, VOUCHER_USED_MESSAGE) from None
        raise
    except Conflict as exc:
        if exc.code != INVENTORY_IDEMPOTENCY_MISMATCH:
            raise
        # The stock movements carry this key ("dispense:<key>"): another dispensing request
        # with the same key (another body or prescription) committed them meanwhile.
        raise Conflict(codes.IDEMPOTENCY_MISMATCH, KEY_REUSED) from None


_BY_KEY = keyed_read(Dispensing, "pharmacy_id")


def _replay(
    pharmacy_id: int, key: str, prescription_id: int, request_digest: str
) -> Dispensing | None:
    """The dispensing this key made: the same request answers it again, another is refused."""
    seen = _BY_KEY.one(pharmacy_id, key)
    if seen is None:
        return None
    if seen.request_digest == request_digest and seen.prescription_id == prescription_id:
        seen.replayed = True  # the same request again: the same answer (the API's 200)
        return seen
    raise Conflict(codes.IDEMPOTENCY_MISMATCH, KEY_REUSED)


def _dispense(
    *,
    actor: User,
    pharmacist: Pharmacist,
    prescription_id: int,
    identity: Identity,
    clean: list[DispenseLine],
    key: str,
    request_digest: str,
    delivery: DeliveryInput,
    today: date,
) -> Dispensing:
    """The locked transaction of ``counter_dispense``; its audit events (the stock movement,
    the prescription's transition, the dispensing) are written together at its end."""
    with transaction.atomic(), audit.batched():
        eligibility, prescription = _dispense_locked(pharmacist, prescription_id)
        seen = _replay(pharmacist.pharmacy_id, key, prescription.pk, request_digest)
        if seen is not None:
            return seen
        order = open_order(prescription.holding_order_id)
        if order is not None:  # an online order: its way to the patient, its held boxes
            order_take_holds(actor=actor, order=order)
            delivery = DeliveryInput(**order_delivery_fields(order))
        # the batches, locked once (core.locks: after the holds) for the checks and the sale
        batches = sale_lock_items(pharmacist.pharmacy, [line.stock_item_id for line in clean])
        result = _checked(prescription, pharmacist, identity, clean, today, eligibility, batches)
        destination, first_status = _delivery_plan(prescription, delivery)
        items = {i.pk: i for i in prescription.items.all()}  # read with the prescription
        sale = _take_stock(actor, pharmacist, prescription, clean, items, key, batches)
        signature = identity.agent_signature if identity.has_agent else None
        dispensing = _write_dispensing(
            actor=actor,
            pharmacist=pharmacist,
            prescription=prescription,
            identity=identity,
            signature=signature,
            key=key,
            request_digest=request_digest,
            delivery=delivery,
            warnings=_warnings(result.checks, sale.warnings),
        )
        quantity_used = _write_dispensing_lines(dispensing, clean, sale, items, eligibility)
        delivery_row = _write_delivery(actor, dispensing, delivery, destination, first_status)
        if eligibility is not None and quantity_used:
            eligibility_plan_use(
                actor=actor,
                eligibility_id=eligibility.pk,
                quantity=quantity_used,
                locked=eligibility,
            )
        _record_dispensed(
            actor, pharmacist, dispensing, delivery_row, clean, sale, bool(signature), quantity_used
        )
        _order_follows(actor, order, identity, prescription, dispensing)
    return dispensing


def _checked(
    prescription: Prescription,
    pharmacist: Pharmacist,
    identity: Identity,
    clean: list[DispenseLine],
    today: date,
    eligibility: Eligibility | None,
    batches,
) -> CounterResult:
    """The counter's checks on the locked rows; the first refusal raised (a price above the
    payment standard alerted first)."""
    result = CounterResult(
        prescription,
        # the sale and the delivery plan run their own parts of the same checks
        dispense_checks(
            prescription,
            pharmacist,
            identity,
            clean,
            today,
            eligibility,
            None,
            stock=False,
            stock_items=batches,
        ),
    )
    price_attempt_alert(result.refusals, prescription.pk, pharmacist.pharmacy)
    result.raise_first()
    return result


def _order_follows(
    actor: User,
    order: OnlineOrder | None,
    identity: Identity,
    prescription: Prescription,
    dispensing: Dispensing,
) -> None:
    """An online order names its dispensing (a pick-up handed over now); otherwise the answer
    is built from memory."""
    if order is not None:
        received_by = identity.agent_name.strip() if identity.has_agent else ""
        order_on_dispensed(
            actor=actor,
            order=order,
            dispensing=dispensing,
            received_by=received_by or f"{prescription.patient.name}（本人）",
        )
    else:
        # what the answer shows (the lines, the delivery and its history, the pharmacy, the
        # pharmacist, the prescription) is in memory as this transaction wrote it; an order's
        # hand-over moved the delivery in another read, so that answer reads it again
        dispensing.answer_in_memory = True


def _locked_eligibility(prescription_id: int, pharmacy_id: int):
    named = (
        Prescription.objects.filter(pk=prescription_id, pharmacy_id=pharmacy_id)
        .order_by()
        .values("eligibility_id")[:1]
    )
    return (
        Eligibility.objects.select_for_update(no_key=True).filter(pk=Subquery(named)).order_by()[:1]
    )


_LOCKED_ELIGIBILITY = CompiledRead(_locked_eligibility, int, int)


def _dispense_locked(
    pharmacist: Pharmacist, prescription_id: int
) -> tuple[Eligibility | None, Prescription]:
    """Lock the prescription's eligibility (if any), then the prescription itself."""
    # core.locks order: the eligibility, then the prescription, then (in sale_record) the
    # batches. A prescription's eligibility is fixed when it is issued, so the unlocked read
    # names the row to lock first, read in the lock's own statement (one not visible here is
    # refused by ``_visible`` below).
    eligibility = _LOCKED_ELIGIBILITY.one(prescription_id, pharmacist.pharmacy_id)
    prescription = _visible(prescription_id, pharmacist, lock=True)
    return eligibility, prescription


def _take_stock(
    actor: User,
    pharmacist: Pharmacist,
    prescription: Prescription,
    clean: list[DispenseLine],
    items: dict[int, Any],
    key: str,
    batches: Mapping[int, Any],
):
    """The inventory sale (``batches`` locked already): trace codes checked, stock taken."""

    return sale_record(
        actor=actor,
        pharmacy=pharmacist.pharmacy,
        lines=[
            SaleLine(
                stock_item_id=line.stock_item_id,
                quantity=line.packages,
                trace_codes=tuple(line.trace_codes),
                drug_id=items[line.item_id].drug_id,
            )
            for line in clean
        ],
        reference=sale_reference(prescription),
        idempotency_key=f"dispense:{key}",
        replayed_by_caller=True,  # the prescription is locked and _dispense replayed the key
        locked_items=batches,
        person=prescription.patient,
        platform_fields={
            "rxno": prescription.prescription_no,
            "prsc_dr_name": prescription.physician.name,
            "rx_flag": "1",
            "rx_circ_flag": "1",
            "mdtrt_setl_type": "1",  # insurance settlement
        },
    )


def _write_dispensing(
    *,
    actor: User,
    pharmacist: Pharmacist,
    prescription: Prescription,
    identity: Identity,
    signature: bytes | None,
    key: str,
    request_digest: str,
    delivery: DeliveryInput,
    warnings: list[dict],
) -> Dispensing:
    """The dispensing row with its identity check (and the agent's signature, if any)."""
    dispensing = Dispensing(
        prescription=prescription,
        pharmacy=pharmacist.pharmacy,
        pharmacist=pharmacist,
        actor=actor,
        idempotency_key=key,
        request_digest=request_digest,
        certificate_type=identity.certificate_type,
        certificate_masked=mask_id_number(identity.certificate_no.strip().upper()),
        card_sn=(identity.card_sn or "").strip()[:40],
        voucher_digest=identity.voucher_digest,
        agent_name=identity.agent_name.strip()[:50] if signature else "",
        agent_id_number=identity.agent_id_number.strip().upper() if signature else "",
        agent_phone=identity.agent_phone.strip() if signature else "",
        agent_relation=identity.agent_relation.strip() if signature else "",
        agent_signature_sha256=hashlib.sha256(signature).hexdigest() if signature else "",
        delivery_mode=delivery.mode,
        warnings=warnings,
    )
    if signature:
        dispensing.agent_signature.save(
            f"{prescription.prescription_no}.png", ContentFile(signature), save=False
        )
    insert_new([dispensing])
    return dispensing


def _write_dispensing_lines(
    dispensing: Dispensing,
    clean: list[DispenseLine],
    sale: Any,
    items: dict[int, Any],
    eligibility: Eligibility | None,
) -> Decimal:
    """One line per stock movement, in one INSERT; returns the quantity the eligibility's plan
    used. The lines are kept on ``dispensing`` as if prefetched (``dispensing.lines.all()``)."""
    quantity_used = Decimal(0)
    rows = []
    item_left = {pk: item.quantity for pk, item in items.items()}
    # the sale price rule [CX art. 14(2)]; the prescription's pharmacy is this one, region read
    profile = profile_of(dispensing.prescription.pharmacy)
    for line, movement in zip(clean, sale.movements, strict=True):
        item = items[line.item_id]
        stock = movement.stock_item
        # the plan counts what was prescribed; the last package may hold more than that
        quantity = min(item_left[item.pk], line.packages * item.pack_size)
        item_left[item.pk] -= quantity
        if eligibility is not None and item.drug_id == eligibility.drug_id:
            quantity_used += quantity
        rows.append(
            _as_stored(
                DispensingLine(
                    dispensing=dispensing,
                    item=item,
                    stock_item=stock,
                    movement=movement,
                    drug=item.drug,
                    batch_no=stock.batch_no,
                    expiry_date=stock.expiry_date,
                    packages=line.packages,
                    quantity=quantity,
                    unit_price=sale_price(stock, profile),
                    trace_codes=list(line.trace_codes),
                )
            )
        )
    insert_new(rows)
    attach(dispensing, "lines", rows)
    return quantity_used


def _as_stored(row):
    """``row`` with its decimals as a read of the saved row gives them (their column's places),
    so that the answer built from the objects in memory is the answer a re-read would give."""
    for f in row._meta.concrete_fields:
        value = getattr(row, f.attname)
        if isinstance(f, DecimalField) and value is not None:
            setattr(row, f.attname, Decimal(value).quantize(Decimal(1).scaleb(-f.decimal_places)))
    return row


def _write_delivery(
    actor: User,
    dispensing: Dispensing,
    delivery: DeliveryInput,
    destination: Any,
    first_status: str,
) -> Delivery:
    """The delivery row in its first status, with its first history row."""
    delivery_row = Delivery(
        dispensing=dispensing,
        mode=delivery.mode,
        status=first_status,
        address=delivery.address.strip()[:200],
        recipient_name=delivery.recipient_name.strip()[:50],
        recipient_phone=delivery.recipient_phone.strip()[:20],
        destination=destination,
        cold_chain=delivery.mode == DeliveryMode.COLD_CHAIN_TO_HOSPITAL,
        fee=delivery.fee,
    )
    insert_new([_as_stored(delivery_row)])
    first = DeliveryTransition(
        delivery=delivery_row, from_status="", to_status=first_status, actor=actor
    )
    insert_new([first])
    attach(delivery_row, "history", [first])
    return delivery_row


def _record_dispensed(
    actor: User,
    pharmacist: Pharmacist,
    dispensing: Dispensing,
    delivery_row: Delivery,
    clean: list[DispenseLine],
    sale: Any,
    agent: bool,
    quantity_used: Decimal,
) -> None:
    """The prescription moves to dispensed; the audit event; the circulation centre is told."""
    dispensing.prescription = prescription = prescription_mark_dispensed(
        actor=actor,
        prescription_id=dispensing.prescription.pk,
        locked=dispensing.prescription,
        dispensed_at=dispensing.dispensed_at,
        reason="药店审核发药",
        dispensed_by=pharmacist.pharmacy.name,
        delivery=delivery_row.get_mode_display(),
        facts={
            "dispensing": dispensing.pk,
            "agent": agent,
            "delivery": delivery_row.mode,
            "plan_used": str(quantity_used),
        },
    )
    audit.record(
        actor=actor,
        action="prescriptions.dispensed",
        subject=dispensing,
        after=dispensing,
        patient=prescription.patient,
        role=actor_role(actor),
        summary={
            "prescription_no": prescription.prescription_no,
            "lines": len(clean),
            "packages": sum(line.packages for line in clean),
            "movements": [m.pk for m in sale.movements],
        },
    )

    rx_centre_dispensed(dispensing)
