"""Manual (零星) claims: a purchase that could not settle directly — a system failure, a purchase
elsewhere in the province — is claimed at the agency with its receipts and computed with the same
engine, the same non-payable rules and the person's same accumulators as a counter settlement
[HB art. 37, AH §2(5), CX art. 17; DESIGN §5.5].

``claim_submit`` (here) records the claim and its receipts; ``claim_decisions.claim_decide``
approves it (a settlement of kind MANUAL at the purchase institution, settled by the officer,
linked to the claim) or rejects it with a note. One transaction and one audit event each (an
approval also audits the settlement it makes, as the counter does). The officer's scope and the
"not settled directly" check here are shared with the decision.

Facts of the non-payable rules (DESIGN §6), as of the purchase date:

- the purchase institution's dual-channel designation on that date;
- the prescription, when the claim names one: not cancelled, issued on or before the purchase and
  valid on it, and the line's drug on it. Without one, the officer's approval attests the paper
  prescription among the receipts;
- for a separately-paid drug, an eligibility of the person for that drug (the prescription's own
  first) whose benefits were active on the purchase date;
- the payment restriction [HB art. 31(5), 36] (``settlement.restriction``): on the electronic
  prescription's diagnosis, and for an inpatient claim the inpatient setting; without a
  prescription the diagnosis clauses are unknown (within: the officer reads the paper one);
- donated stock [HB art. 31(7)]: when the claim is for a dispensing, a drug the counter
  dispensed from donated stock is not paid.

Locks, in the order of ``counter``: the claim, then the prescription's dispensing (when there is
one), then the person, then the person's accumulators. A claim on a prescription whose dispensing
already has a live settlement is refused; the approved claim's settlement names that dispensing,
so the partial unique constraint of one live settlement per dispensing also refuses a later
counter settlement, even under a race.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from dualchannel.catalog.models import Drug
from dualchannel.catalog.selectors import payment_standards_on
from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import User
from dualchannel.core.money import parse_money
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.uploads import checked_upload
from dualchannel.eligibility.services.materials import MAX_UPLOAD_BYTES
from dualchannel.prescriptions.models import Dispensing, Prescription
from dualchannel.registry.models import (
    Institution,
    InstitutionKind,
    InsuredPerson,
    Region,
)
from dualchannel.registry.out_of_area import out_of_area_of
from dualchannel.registry.selectors import officer_region

from .. import error_codes as codes
from .. import selectors
from ..engine import FEN
from ..models import (
    BenefitCategory,
    ClaimReason,
    ClaimStatus,
    ManualClaim,
    ManualClaimTransition,
    Settlement,
    SettlementKind,
    SettlementStatus,
    claim_reason_for,
)

MAX_LINES = 50
MAX_RECEIPTS = 20
MAX_QUANTITY = 100_000
MAX_UNIT_PRICE = Decimal("9999999.99")
MAX_PACK_SIZE = Decimal("99999999.99")
NOTE_MAX = 500
PURCHASE_INSTITUTIONS = (InstitutionKind.PHARMACY, InstitutionKind.HOSPITAL)


# --- scope -------------------------------------------------------------------------------------


def agency_region(actor: User) -> Region:
    """The region of the officer's agency; an actor without one cannot handle claims."""
    require_role(actor, Role.AGENCY_OFFICER)
    region = officer_region(actor)
    if region is None:
        if actor.is_superuser and actor.institution_id:
            inst = actor.institution
            if inst.kind == InstitutionKind.AGENCY:
                return inst.region
        raise PermissionDenied(codes.CLAIM_NOT_AGENCY, "手工报销须由医保经办机构人员办理")
    return region


def region_covers(region: Region, person: InsuredPerson) -> bool:
    return person.enrolment_region_id.startswith(region.code_prefix)


def _person_in_scope(actor: User, id_number: str) -> InsuredPerson:
    region = agency_region(actor)
    person = InsuredPerson.objects.filter(id_number=(id_number or "").strip().upper()).first()
    if person is None or not region_covers(region, person):
        raise NotFound(codes.NOT_FOUND, "参保人不存在或不属于本经办机构")
    return person


# --- input -------------------------------------------------------------------------------------


def refuse(code: str, message: str, field: str) -> DomainError:
    return DomainError(code, message, fields={field: [message]})


def _text(value: Any, field: str, max_length: int, *, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise refuse(codes.CLAIM_INVALID_LINES, "应为文字", field)
    value = value.strip()
    if len(value) > max_length:
        raise refuse(codes.CLAIM_INVALID_LINES, f"不得超过 {max_length} 字", field)
    return value or default


def _quantity(value: Any, field: str) -> int:
    """A whole, positive number of packages (``2`` or ``"2"``; never 0, -1, 1.5 or True)."""
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        number = None
    if number is None or not 0 < number <= MAX_QUANTITY:
        raise refuse(codes.INVALID_QUANTITY, f"数量应为 1–{MAX_QUANTITY} 的整数", field)
    return number


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _price(value: Any, field: str) -> Decimal:
    """A positive price in yuan with at most two decimals (fen)."""
    return parse_money(
        value,
        field=field,
        code=codes.INVALID_PRICE,
        label="单价",
        positive=True,
        maximum=MAX_UNIT_PRICE,
    )


def _pack_size(value: Any, field: str) -> Decimal:
    number = _decimal(1 if value is None else value)
    if number is None or number <= 0 or number > MAX_PACK_SIZE or number != number.quantize(FEN):
        raise refuse(codes.CLAIM_INVALID_LINES, "每包装数量应为大于 0 的数（最多两位小数）", field)
    return number


def _pricing_unit(drug: Drug, specification: str, package_unit: str, on: date) -> str:
    """The unit the national standard is priced in (片, 粒, 支), when the claim does not say."""
    standards = [s for s in payment_standards_on(drug, on) if s.amount is not None and s.unit]
    same_spec = [s for s in standards if specification and s.specification == specification]
    for standard in sorted(same_spec or standards, key=lambda s: s.amount):
        return standard.unit
    return package_unit


def _lines(raw: Any, on: date) -> list[dict[str, Any]]:
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes) or not raw:
        raise refuse(codes.CLAIM_INVALID_LINES, "请至少填写一条购药明细", "lines")
    if len(raw) > MAX_LINES:
        raise refuse(codes.CLAIM_INVALID_LINES, f"购药明细不得超过 {MAX_LINES} 条", "lines")
    checked = []
    drugs: dict[int, Drug] = {}
    for n, line in enumerate(raw):
        at = f"lines.{n}"
        if not isinstance(line, dict):
            raise refuse(codes.CLAIM_INVALID_LINES, "明细格式错误", at)
        drug_id = line.get("drug_id")
        drug = None
        if isinstance(drug_id, int) and not isinstance(drug_id, bool):
            drug = drugs.get(drug_id) or Drug.objects.filter(pk=drug_id).first()
        if drug is None:
            raise refuse(codes.CLAIM_UNKNOWN_DRUG, "药品不存在", f"{at}.drug_id")
        drugs[drug.pk] = drug
        quantity = _quantity(line.get("quantity"), f"{at}.quantity")
        unit_price = _price(line.get("unit_price"), f"{at}.unit_price")
        specification = _text(line.get("specification"), f"{at}.specification", 300)
        package_unit = _text(line.get("package_unit"), f"{at}.package_unit", 10, default="盒")
        pack_size = _pack_size(line.get("pack_size"), f"{at}.pack_size")
        unit = _text(line.get("unit"), f"{at}.unit", 20) or _pricing_unit(
            drug, specification, package_unit, on
        )
        checked.append(
            {
                "drug_id": drug.pk,
                "drug_name": drug.generic_name,
                "drug_class": drug.drug_class or "乙",
                "quantity": quantity,
                "unit_price": str(unit_price),
                "specification": specification,
                "package_unit": package_unit,
                "pack_size": str(pack_size),
                "unit": unit,
                "manufacturer": _text(line.get("manufacturer"), f"{at}.manufacturer", 200),
            }
        )
    return checked


@dataclass(frozen=True)
class _Receipt:
    name: str
    content: bytes
    mime: str
    extension: str
    sha256: str


def _basename(filename: Any) -> str:
    name = filename if isinstance(filename, str) else ""
    return name.strip().rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200]


def _receipts(raw: Any) -> list[_Receipt]:
    """Every receipt checked before anything is written: PDF, JPEG or PNG by its content (opened,
    agreeing with its declared type and name: core.uploads), not empty, at most 10 MB. Each item
    is ``(name, bytes)`` or ``(name, bytes, declared content type)``."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes) or not raw:
        raise refuse(codes.RECEIPT_REQUIRED, "请上传至少一张购药票据", "receipts")
    if len(raw) > MAX_RECEIPTS:
        raise refuse(codes.RECEIPT_TOO_MANY, f"票据不得超过 {MAX_RECEIPTS} 份", "receipts")
    checked = []
    for n, item in enumerate(raw):
        at = f"receipts.{n}"
        try:
            filename, content, *declared = item
            declared_type = str(declared[0] or "") if declared else ""
        except (TypeError, ValueError, IndexError):
            raise refuse(codes.RECEIPT_BAD_TYPE, "票据格式错误", at) from None
        if not isinstance(content, bytes | bytearray) or not content:
            raise refuse(codes.RECEIPT_EMPTY, "票据文件为空", at)
        content = bytes(content)
        if len(content) > MAX_UPLOAD_BYTES:
            raise refuse(codes.RECEIPT_TOO_LARGE, "票据文件不得超过 10 MB", at)
        mime, extension = checked_upload(
            content,
            filename=str(filename or ""),
            declared_type=declared_type,
            code=codes.RECEIPT_BAD_TYPE,
            field=at,
        )
        name = _basename(filename) or f"票据{n + 1}.{extension}"
        checked.append(
            _Receipt(name, content, mime, extension, hashlib.sha256(content).hexdigest())
        )
    return checked


def _choice(value: Any, choices, code: str, field: str, label: str) -> str:
    if value not in choices.values:
        raise refuse(code, f"未知的{label}", field)
    return value


def _purchase_date(value: Any, today: date) -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, date) or value > today:
        raise refuse(codes.CLAIM_INVALID_DATE, "购药日期应为不晚于今天的日期", "purchased_on")
    return value


def _institution(institution_id: Any) -> Institution:
    found = None
    if isinstance(institution_id, int) and not isinstance(institution_id, bool):
        found = (
            Institution.objects.select_related("region")
            .filter(pk=institution_id, kind__in=PURCHASE_INSTITUTIONS)
            .first()
        )
    if found is None:
        raise NotFound(codes.NOT_FOUND, "购药机构不存在")
    return found


def _prescription(prescription_id: Any, person: InsuredPerson) -> Prescription | None:
    if prescription_id is None:
        return None
    found = None
    if isinstance(prescription_id, int) and not isinstance(prescription_id, bool):
        found = (
            Prescription.objects.select_related("hospital", "eligibility")
            .filter(pk=prescription_id, patient=person)
            .first()
        )
    if found is None:
        raise NotFound(codes.NOT_FOUND, "处方不存在")
    return found


def dispensing_of(prescription: Prescription | None, *, lock: bool) -> Dispensing | None:
    if prescription is None:
        return None
    qs = Dispensing.objects.filter(prescription=prescription)
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.first()


def not_settled_directly(
    prescription: Prescription | None,
    dispensing: Dispensing | None,
    institution: Institution,
    *,
    claim_id: int | None = None,
) -> None:
    """A purchase settled at the counter, returned, or already claimed is not claimed again."""
    if prescription is None:
        return
    if dispensing is not None:
        if dispensing.pharmacy_id != institution.pk:
            raise refuse(
                codes.CLAIM_INSTITUTION_MISMATCH,
                "该处方已在其他机构取药，购药机构与取药机构不一致",
                "institution_id",
            )
        earlier = Settlement.objects.filter(dispensing=dispensing)
        if earlier.filter(status=SettlementStatus.SETTLED).exists():
            raise Conflict(codes.CLAIM_ALREADY_SETTLED, "该笔购药已直接结算，不能再申请手工报销")
        if earlier.filter(goods_returned=True).exists():
            raise Conflict(codes.GOODS_RETURNED, "该笔购药已退药冲销，不能申请手工报销")
    # settled at the hospital's own desk (no pharmacy dispensing) counts as settled directly too
    live = Settlement.objects.filter(prescription=prescription, status=SettlementStatus.SETTLED)
    if live.exclude(kind=SettlementKind.MANUAL).exists():
        raise Conflict(codes.CLAIM_ALREADY_SETTLED, "该笔购药已直接结算，不能再申请手工报销")
    others = ManualClaim.objects.filter(
        prescription=prescription, status__in=(ClaimStatus.SUBMITTED, ClaimStatus.APPROVED)
    )
    if claim_id is not None:
        others = others.exclude(pk=claim_id)
    if others.exists():
        raise Conflict(codes.CLAIM_DUPLICATE, "该处方已有手工报销申请")


# --- submit ------------------------------------------------------------------------------------


def claim_submit(
    *,
    actor: User,
    person_id_number: str,
    institution_id: int,
    prescription_id: int | None = None,
    reason: str,
    category: str,
    purchased_on: date | str,
    lines: list[dict[str, Any]],
    receipts: list[tuple[str, bytes]],
) -> ManualClaim:
    """An agency officer records a purchase that could not settle directly, with its receipts."""
    c = _clean_claim(
        actor,
        person_id_number=person_id_number,
        institution_id=institution_id,
        prescription_id=prescription_id,
        reason=reason,
        category=category,
        purchased_on=purchased_on,
        lines=lines,
        receipts=receipts,
    )
    stored: list[str] = []
    try:
        with transaction.atomic():
            _claim_locked(c)
            claim = _write_claim(actor, c, stored)
    except BaseException:
        for path in stored:  # the transaction rolled back: so do the files
            default_storage.delete(path)
        raise
    return claim


@dataclass(frozen=True)
class _Claim:
    """A claim's checked input."""

    today: date
    person: InsuredPerson
    reason: str
    category: str
    purchased_on: date
    institution: Institution
    prescription: Prescription | None
    lines: list[dict[str, Any]]
    receipts: list[_Receipt]


def _clean_claim(
    actor: User,
    *,
    person_id_number: str,
    institution_id: int,
    prescription_id: int | None,
    reason: str,
    category: str,
    purchased_on: date | str,
    lines: list[dict[str, Any]],
    receipts: list[tuple[str, bytes]],
) -> _Claim:
    today = timezone.localdate()
    person = _person_in_scope(actor, person_id_number)
    reason = _choice(reason, ClaimReason, codes.CLAIM_INVALID_REASON, "reason", "报销原因")
    category = _choice(
        category, BenefitCategory, codes.CLAIM_INVALID_CATEGORY, "category", "待遇类别"
    )
    purchased_on = _purchase_date(purchased_on, today)
    institution = _institution(institution_id)
    prescription = _prescription(prescription_id, person)
    if prescription is not None and prescription.benefit_type != category:
        raise refuse(codes.CLAIM_CATEGORY_MISMATCH, "待遇类别与处方不一致", "category")
    _check_area_reason(person, institution, purchased_on, reason)
    checked_lines = _lines(lines, purchased_on)
    checked_receipts = _receipts(receipts)
    return _Claim(
        today=today,
        person=person,
        reason=reason,
        category=category,
        purchased_on=purchased_on,
        institution=institution,
        prescription=prescription,
        lines=checked_lines,
        receipts=checked_receipts,
    )


def _check_area_reason(
    person: InsuredPerson, institution: Institution, purchased_on: date, reason: str
) -> None:
    """An out-of-area reason must be the one the purchase's place calls for: 省内跨地区 for
    another pooling region of the province, 跨省未备案 for another province without a valid
    filing [HB art. 40–41, AH §2(5), CX art. 17]."""
    if reason not in (ClaimReason.CROSS_REGION, ClaimReason.CROSS_PROVINCE):
        return
    area = out_of_area_of(person, institution.region, purchased_on)
    if not area.is_out_of_area:
        # HB art. 41, AH §2(5), CX art. 17: claimed at home for a purchase made elsewhere
        raise refuse(
            codes.CLAIM_NOT_OUT_OF_AREA, "购药机构位于参保地统筹区内，不属于异地购药", "reason"
        )
    expected = claim_reason_for(area.kind)
    if expected is None:
        raise refuse(
            codes.CLAIM_AREA_REASON_MISMATCH,
            f"购药当日属于{area.label}，可直接结算；未能直接结算的请按系统故障申请报销",
            "reason",
        )
    if expected != reason:
        raise refuse(
            codes.CLAIM_AREA_REASON_MISMATCH,
            f"购药当日属于{area.label}，报销原因应为“{ClaimReason(expected).label}”",
            "reason",
        )


def _claim_locked(c: _Claim) -> None:
    """The prescription (serialises claims of one prescription), then its dispensing; refuses a
    purchase already settled directly or already claimed."""
    if c.prescription is not None:
        Prescription.objects.select_for_update().filter(pk=c.prescription.pk).first()
    dispensing = dispensing_of(c.prescription, lock=True)
    not_settled_directly(c.prescription, dispensing, c.institution)


def _write_claim(actor: User, c: _Claim, stored: list[str]) -> ManualClaim:
    """The claim row, its receipts on storage (their paths appended to ``stored``), its first
    transition and the audit event."""
    claim = ManualClaim.objects.create(
        claim_no=f"tmp-{uuid.uuid4().hex}",
        person=c.person,
        agency=actor.institution,
        institution=c.institution,
        prescription=c.prescription,
        reason=c.reason,
        category=c.category,
        purchased_on=c.purchased_on,
        lines=c.lines,
        submitted_by=actor,
    )
    # a number people can read: the day and the row's own id, never a shared counter row
    claim.claim_no = f"BX{c.today:%Y%m%d}{claim.pk:08d}"
    entries = _store_receipts(claim.claim_no, c, stored)
    claim.receipts = entries
    claim.save(update_fields=["claim_no", "receipts"])
    ManualClaimTransition.objects.create(
        claim=claim, from_status="", to_status=ClaimStatus.SUBMITTED, actor=actor
    )
    audit.record(
        actor=actor,
        action="settlement.claim_submitted",
        subject=claim,
        after=claim,
        patient=c.person,
        role=Role.AGENCY_OFFICER,
        summary={
            "claim_no": claim.claim_no,
            "reason": c.reason,
            "category": c.category,
            "institution_id": c.institution.pk,
            "lines": len(c.lines),
            "receipts": [entry["sha256"] for entry in entries],
            "to": ClaimStatus.SUBMITTED,
        },
    )
    return claim


def _store_receipts(claim_no: str, c: _Claim, stored: list[str]) -> list[dict[str, Any]]:
    entries = []
    for n, receipt in enumerate(c.receipts, 1):
        # the stored name never carries the uploaded name (it may hold personal data)
        path = default_storage.save(
            f"claims/{c.today:%Y/%m}/{claim_no}-{n:02d}-{receipt.sha256[:16]}.{receipt.extension}",
            ContentFile(receipt.content),
        )
        stored.append(path)
        entries.append(
            {
                "name": receipt.name,
                "sha256": receipt.sha256,
                "size": len(receipt.content),
                "mime_type": receipt.mime,
                "path": path,
            }
        )
    return entries


RECEIPT_OPENED = "settlement.claim_receipt_opened"


def claim_receipt_open(*, actor: User, claim_id: int, number: int) -> dict[str, Any]:
    """An officer opens one of a claim's receipts (1-based) to read it: who read which person's
    receipt is recorded (one audit event), as a reviewer's opening of a material is. The claim's
    scope is the officers of the person's region (404 elsewhere). Returns the receipt's entry."""
    require_role(actor, Role.AGENCY_OFFICER)
    claim = selectors.claim_get(actor, claim_id)
    receipts = claim.receipts or []
    entry = receipts[number - 1] if 0 < number <= len(receipts) else None
    if not entry or not entry.get("path"):
        raise NotFound(codes.CLAIM_NOT_FOUND, "票据不存在")
    with transaction.atomic():
        audit.record(
            actor=actor,
            action=RECEIPT_OPENED,
            subject=claim,
            patient=claim.person,
            role=Role.AGENCY_OFFICER,
            summary={"claim_no": claim.claim_no, "receipt": number},
        )
    return entry
