"""The counter's checks (DESIGN §5.2 step 4): status, identity and agent, eligibility and plan,
early refill, lines, price against the payment standard, trace codes, the pharmacy's designation.
Each gives a ``Check`` (code, Chinese reason); ``all_checks`` runs them in order. They write
nothing: ``counter`` runs them for the screen and again under the prescription's row lock."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from dualchannel.catalog.selectors import drug_standing, payment_standards_on
from dualchannel.core.errors import DomainError
from dualchannel.core.masking import mask_id_number
from dualchannel.core.queries import CompiledRead
from dualchannel.eligibility.models import Eligibility
from dualchannel.eligibility.selectors import eligibility_benefits_active
from dualchannel.inventory import tracecodes
from dualchannel.inventory.models import StockItem
from dualchannel.inventory.sales import SaleLine, sale_items, sale_verify
from dualchannel.registry.designations import institution_designated
from dualchannel.registry.models import (
    Institution,
    PolicyProfile,
    SalePriceRule,
)
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.selectors import filing_form_problem
from dualchannel.registry.validation import parse_id_number

from .. import error_codes as codes
from .. import rules
from ..models import (
    AgentRelation,
    CertificateType,
    Dispensing,
    DispensingLine,
    Prescription,
    PrescriptionStatus,
)
from ..workflow import sale_reference

S = PrescriptionStatus
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
MAX_SIGNATURE_BYTES = 512 * 1024
VOUCHER_USED_MESSAGE = "该医保电子凭证二维码已用于一次发药，请参保人刷新电子凭证后重新扫码"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Identity:
    """Who stands at the counter [HB art. 24]. 02 is the ID card, 03 the social security card
    (their ID number as read). For the e-voucher (01) the pharmacist scans its QR code: the form
    carries the scanned code, and ``counter`` resolves it through the platform (1101) before any
    check, into the holder's ID number here with ``voucher_digest`` naming the token."""

    certificate_type: str
    certificate_no: str
    card_sn: str = ""
    voucher_digest: str = ""  # set by counter's resolution only, never from a form
    agent_name: str = ""
    agent_id_number: str = ""
    agent_phone: str = ""
    agent_signature: bytes | None = None
    agent_relation: str = ""  # an AgentRelation value, declared by the agent

    @property
    def has_agent(self) -> bool:
        return bool(
            self.agent_name
            or self.agent_id_number
            or self.agent_phone
            or self.agent_signature
            or self.agent_relation
        )


@dataclass(frozen=True)
class Check:
    code: str  # the check's name, or the refusal's reason code when it fails
    ok: bool
    label: str  # what was checked, in Chinese
    message: str = ""  # the reason when it fails (or a warning)
    warning: bool = False


# --- the checks ------------------------------------------------------------------------------


def _status_checks(prescription: Prescription, pharmacy_id: int, today: date) -> list[Check]:
    label = "处方有效且未使用"
    status = prescription.status
    if status == S.CANCELLED:
        return [Check(codes.RX_CANCELLED, False, label, "处方已被医师撤销")]
    if status == S.DISPENSED:
        return [Check(codes.RX_USED, False, label, "处方已取药，不能重复使用")]
    if status == S.EXPIRED or prescription.valid_until < today:
        return [
            Check(
                codes.RX_EXPIRED,
                False,
                label,
                f"处方有效期至{prescription.valid_until.isoformat()}，已过期",
            )
        ]
    if status != S.ROUTED or prescription.pharmacy_id != pharmacy_id:
        return [
            Check(
                codes.RX_NOT_ROUTED_HERE,
                False,
                label,
                "处方尚未流转至本店，请参保人先选择本店并同意处方流转",
            )
        ]
    return [Check("rx_valid", True, label)]


def _filing_form_check(prescription: Prescription) -> list[Check]:
    """AH annex: an inpatient filing form is valid only once the hospital insurance office
    approved it (医院医保办审核意见); an outpatient form has no such review."""
    if not prescription.filing_form_id:
        return []
    label = "外购备案表经医院医保办审核同意"
    problem = filing_form_problem(prescription.filing_form_id)
    if problem:
        return [Check(codes.FILING_NOT_REVIEWED, False, label, problem)]
    return [Check("filing_form_valid", True, label)]


def _identity_checks(prescription: Prescription, identity: Identity) -> list[Check]:
    checks: list[Check] = []
    label = "人证相符"
    if identity.certificate_type not in CertificateType.values:
        return [Check(codes.CERT_TYPE_INVALID, False, label, "请选择就诊凭证类型（01/02/03）")]
    if (
        identity.certificate_type == CertificateType.SOCIAL_SECURITY_CARD
        and not (identity.card_sn or "").strip()
    ):
        checks.append(Check(codes.CARD_SN_REQUIRED, False, label, "社会保障卡须读取卡识别码"))
    number = (identity.certificate_no or "").strip().upper()
    if identity.certificate_type == CertificateType.E_CREDENTIAL and not number:
        # nothing scanned yet: ask for the voucher, or the ID number by another certificate
        return [
            Check(
                codes.CERT_NO_REQUIRED,
                False,
                label,
                "请扫描参保人的医保电子凭证二维码，或改选居民身份证、社会保障卡后"
                "录入参保人身份证号",
            )
        ]
    if identity.certificate_type == CertificateType.E_CREDENTIAL:
        voucher = _voucher_check(identity)
        if voucher is not None:
            return [voucher]
    if not number:
        checks.append(
            Check(
                codes.CERT_NO_REQUIRED,
                False,
                label,
                "请录入参保人身份证号（刷医保电子凭证、读身份证或社会保障卡）",
            )
        )
    elif number != prescription.patient.id_number:
        checks.append(
            Check(codes.PERSON_MISMATCH, False, label, "就诊凭证与处方使用人不一致，不能购药")
        )
    if not checks:
        held = f"医保电子凭证持有人 {mask_id_number(number)}" if identity.voucher_digest else ""
        checks.append(Check("person_match", True, label, held))
    if identity.has_agent:
        checks.extend(_agent_checks(identity))
    return checks


def _voucher_check(identity: Identity) -> Check | None:
    """An e-voucher must have been resolved by the platform, and dispenses once."""
    label = "人证相符"
    if not identity.voucher_digest:
        return Check(codes.VOUCHER_REQUIRED, False, label, "请扫描参保人出示的医保电子凭证二维码")
    if Dispensing.objects.filter(voucher_digest=identity.voucher_digest).exists():
        return Check(
            codes.VOUCHER_USED,
            False,
            label,
            VOUCHER_USED_MESSAGE,
        )
    return None


def _agent_checks(identity: Identity) -> list[Check]:
    label = "代办人登记"
    missing = [
        name
        for name, value in (
            ("姓名", identity.agent_name),
            ("身份证号", identity.agent_id_number),
            ("联系电话", identity.agent_phone),
        )
        if not (value or "").strip()
    ]
    if missing:
        return [Check(codes.AGENT_INCOMPLETE, False, label, f"请登记代办人{'、'.join(missing)}")]
    checks: list[Check] = []
    try:
        parse_id_number(identity.agent_id_number)
    except DomainError as exc:
        reason = "；".join(exc.fields.get("id_number", [])) or exc.message
        checks.append(Check(codes.AGENT_INVALID_ID, False, label, f"代办人身份证号无效：{reason}"))
    if not PHONE.match(identity.agent_phone.strip()):
        checks.append(Check(codes.AGENT_INVALID_PHONE, False, label, "代办人联系电话格式不正确"))
    relation = (identity.agent_relation or "").strip()
    if not relation:
        checks.append(
            Check(codes.AGENT_RELATION_REQUIRED, False, label, "请选择代办人与参保人的关系")
        )
    elif relation not in AgentRelation.values:
        checks.append(
            Check(
                codes.AGENT_RELATION_INVALID,
                False,
                label,
                "代办人与参保人的关系无效，请选择配偶、父母、子女、其他近亲属或其他（受委托人）",
            )
        )
    signature = identity.agent_signature or b""
    if not signature.startswith(PNG_MAGIC) or len(signature) > MAX_SIGNATURE_BYTES:
        checks.append(
            Check(codes.AGENT_SIGNATURE_REQUIRED, False, label, "请代办人在购药清单上签字确认")
        )
    return checks or [Check("agent_registered", True, label)]


def _eligibility_checks(
    prescription: Prescription, eligibility: Eligibility | None, today: date
) -> list[Check]:
    if eligibility is None:
        return []
    checks: list[Check] = []
    if not eligibility_benefits_active(eligibility, on=today):
        checks.append(
            Check(
                codes.ELIGIBILITY_NOT_ACTIVE,
                False,
                "用药资格有效",
                f"用药资格为「{eligibility.get_status_display()}」或已到期未复查评估，不能享受待遇",
            )
        )
    else:
        checks.append(Check("eligibility_active", True, "用药资格有效"))
    wanted = sum(
        (i.quantity for i in prescription.items.all() if i.drug_id == eligibility.drug_id),
        Decimal(0),
    )
    left = eligibility.plan_total_quantity - eligibility.plan_used_quantity
    if wanted > left:
        checks.append(
            Check(
                codes.QUANTITY_OVER_PLAN,
                False,
                "数量在治疗方案剩余药量内",
                f"本次{wanted.normalize():f}，治疗方案剩余{left.normalize():f}",
            )
        )
    else:
        checks.append(Check("within_plan", True, "数量在治疗方案剩余药量内"))
    return checks


# the patient's last supply of a drug on another prescription (the refill interval's start)
_LAST_SUPPLY = CompiledRead(
    lambda patient_id, drug_id, prescription_id: (
        DispensingLine.objects.filter(
            dispensing__prescription__patient_id=patient_id, drug_id=drug_id
        )
        .exclude(dispensing__prescription_id=prescription_id)
        .select_related("item", "dispensing")
        .order_by("-dispensing__dispensed_at")[:1]
    ),
    int,
    int,
    int,
)


def refill_checks(
    prescription: Prescription, today: date, profile: PolicyProfile | None = None
) -> list[Check]:
    """No refill of the same drug while the last supply has more than the tolerance left
    (``profile``: the prescribing hospital's, read here when not given)."""
    profile = profile if profile is not None else profile_of(prescription.hospital)
    tolerance = rules.refill_tolerance_days(profile)
    label = "购药间隔"
    checks: list[Check] = []
    for item in prescription.items.all():
        last = _LAST_SUPPLY.one(prescription.patient_id, item.drug_id, prescription.pk)
        if last is None:
            continue
        runs_out = timezone.localtime(last.dispensing.dispensed_at).date() + timedelta(
            days=last.item.days
        )
        earliest = runs_out - timedelta(days=tolerance)
        if today < earliest:
            checks.append(
                Check(
                    codes.EARLY_REFILL,
                    False,
                    label,
                    f"{item.drug.generic_name}上次购药可用至{runs_out.isoformat()}，"
                    f"最早{earliest.isoformat()}可再次购药",
                )
            )
    return checks or [Check("refill_interval", True, label)]


def _standards(drug, on: date) -> list:
    return [s for s in payment_standards_on(drug, on) if s.amount is not None]


def _package_standard(item, stock, on: date) -> tuple[Decimal, Any] | None:
    """The payment standard of one package of ``stock``, or None when no standard compares.

    National standards are per pricing unit (片, 粒, 支 …): a package holds ``pack_size`` of
    the prescription's unit; a standard per package unit (盒, 瓶) applies as it is.
    """
    standards = _standards(stock.drug, on)
    if stock.specification:
        same_spec = [s for s in standards if s.specification == stock.specification]
        standards = same_spec or standards
    for standard in sorted(standards, key=lambda s: s.amount):
        if standard.unit and standard.unit == item.package_unit:
            return standard.amount, standard
        if standard.unit and standard.unit == item.unit:
            return standard.amount * item.pack_size, standard
    return None


def sale_price(stock: Any, profile: PolicyProfile | None) -> Decimal | None:
    """What the counter charges for one box of ``stock``: its retail price, or, under a profile
    whose sale price is the actual purchase price [CX art. 14(2)], the purchase price recorded at
    receipt (None when the batch has none)."""
    if profile is not None and profile.sale_price_rule == SalePriceRule.PURCHASE_PRICE:
        return stock.purchase_price
    return stock.retail_price


def _price_checks(
    prescription: Prescription,
    lines: list,
    stock_items: Mapping[int, Any],
    today: date,
    profile: PolicyProfile | None = None,
) -> list[Check]:
    """The pharmacy's price may not exceed the payment standard [CX art. 10, AH §2(3)]; where
    the profile says so, the price is the purchase price recorded at receipt [CX art. 14(2)]."""
    label = "价格不高于支付标准"
    items = {i.pk: i for i in prescription.items.all()}
    checks: list[Check] = []
    seen: set[int] = set()
    for line in lines:
        stock = stock_items.get(line.stock_item_id)
        item = items.get(line.item_id)
        if stock is None or item is None or stock.pk in seen:
            continue
        seen.add(stock.pk)
        price = sale_price(stock, profile)
        if price is None:
            checks.append(
                Check(
                    codes.PURCHASE_PRICE_MISSING,
                    False,
                    "以实际采购价格作为销售价格",
                    f"{stock.drug.generic_name}批号{stock.batch_no}入库时未登记实际采购价格，"
                    "本地区以实际采购价格作为销售价格，请先补登入库采购价",
                )
            )
            continue
        found = _package_standard(item, stock, today)
        if found is None:
            checks.append(
                Check(
                    "no_payment_standard",
                    True,
                    label,
                    f"{stock.drug.generic_name}未找到可比对的支付标准，结算时核定",
                    warning=True,
                )
            )
            continue
        limit, standard = found
        if price > limit:
            # confidential standards are compared but never shown
            shown = "保密支付标准" if standard.is_confidential else f"支付标准{limit}元"
            checks.append(
                Check(
                    codes.PRICE_ABOVE_STANDARD,
                    False,
                    label,
                    f"{stock.drug.generic_name}批号{stock.batch_no}每{item.package_unit}"
                    f"售价{price}元，高于{shown}",
                )
            )
    return checks or [Check("price_ok", True, label)]


@dataclass(frozen=True)
class DispenseLine:
    item_id: int
    stock_item_id: int
    packages: int
    trace_codes: Sequence[str] = ()


def clean_lines(raw: Sequence[Mapping[str, Any] | DispenseLine]) -> list[DispenseLine]:
    if not raw:
        raise DomainError(codes.LINES_INVALID, "请扫码选择发药批次", fields={"lines": ["必填"]})
    lines = []
    for n, value in enumerate(raw):
        data = value.__dict__ if isinstance(value, DispenseLine) else dict(value)
        ints = [data.get(k) for k in ("item_id", "stock_item_id", "packages")]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
            raise DomainError(
                codes.LINES_INVALID, f"第{n + 1}行发药信息不完整", fields={f"lines.{n}": ["无效"]}
            )
        if data["packages"] <= 0:
            raise DomainError(
                codes.LINES_INVALID, "发药数量应大于0", fields={f"lines.{n}.packages": ["应大于0"]}
            )
        codes_ = data.get("trace_codes") or []
        if not isinstance(codes_, list | tuple) or not all(isinstance(c, str) for c in codes_):
            raise DomainError(
                codes.LINES_INVALID, "追溯码格式不正确", fields={f"lines.{n}.trace_codes": ["无效"]}
            )
        lines.append(
            DispenseLine(
                item_id=data["item_id"],
                stock_item_id=data["stock_item_id"],
                packages=data["packages"],
                trace_codes=tuple(c.strip() for c in codes_),
            )
        )
    return lines


def _line_checks(
    prescription: Prescription, lines: list[DispenseLine], stock_items: Mapping[int, Any]
) -> list[Check]:
    items = {i.pk: i for i in prescription.items.all()}
    label = "发药批次与处方一致"
    given: dict[int, int] = defaultdict(int)
    for line in lines:
        item = items.get(line.item_id)
        stock = stock_items.get(line.stock_item_id)
        if item is None or stock is None:
            return [Check(codes.LINES_INVALID, False, label, "发药明细与处方不符，请重新扫码")]
        if stock.drug_id != item.drug_id:
            return [
                Check(
                    codes.BATCH_WRONG_DRUG,
                    False,
                    label,
                    f"批号{stock.batch_no}是「{stock.drug.generic_name}」，不是处方药品"
                    f"「{item.drug.generic_name}」",
                )
            ]
        given[item.pk] += line.packages
    for item in items.values():
        if given.get(item.pk, 0) != item.packages:
            return [
                Check(
                    codes.LINES_INVALID,
                    False,
                    label,
                    f"{item.drug.generic_name}应发{item.packages}{item.package_unit}，"
                    f"扫码{given.get(item.pk, 0)}{item.package_unit}",
                )
            ]
    return [Check("lines_match", True, label)]


def _trace_code_checks(lines: list[DispenseLine]) -> list[Check]:
    """A scanned code that is not 20 digits warns before the sale, as the sale itself does."""

    return [
        Check(w["code"], True, "药品追溯码", w["message"], warning=True)
        for line in lines
        for w in tracecodes.nonstandard_warnings(line.trace_codes)
    ]


def stock_checks(
    prescription: Prescription,
    pharmacy: Institution,
    lines: list[DispenseLine],
    stock_items: Mapping[int, Any] | None = None,
) -> list[Check]:
    """What the sale will check (batches, stock, every trace code), as 发药 runs it: 核验 never
    passes what 发药 refuses [issue 12]. ``stock_items``: read by ``sale_items``."""
    label = "库存与药品追溯码"
    drugs = {i.pk: i.drug_id for i in prescription.items.all()}
    sale_lines = [
        SaleLine(
            stock_item_id=line.stock_item_id,
            quantity=line.packages,
            trace_codes=tuple(line.trace_codes),
            drug_id=drugs.get(line.item_id),
        )
        for line in lines
    ]
    try:
        sale_verify(
            pharmacy=pharmacy,
            lines=sale_lines,
            reference=sale_reference(prescription),
            items=stock_items,
        )
    except DomainError as exc:
        return [Check(exc.code, False, label, exc.message)]
    return [Check("stock_ok", True, label)]


def _stock_items(
    prescription: Prescription, pharmacy_id: int, lines: list[DispenseLine], *, held: bool
) -> dict[int, Any]:
    """The lines' batches at this pharmacy; with ``held`` also their boxes held for others
    (what ``stock_checks`` needs), in the same statement."""
    if held:
        return sale_items(
            pharmacy_id, [line.stock_item_id for line in lines], sale_reference(prescription)
        )
    return {
        s.pk: s
        for s in StockItem.objects.select_related("drug").filter(
            pk__in=[line.stock_item_id for line in lines], pharmacy_id=pharmacy_id
        )
    }


def listing_checks(
    prescription: Prescription,
    pharmacy: Institution,
    today: date,
    profile: PolicyProfile | None = None,
) -> list[Check]:
    """Warn at verification when a drug is not a dual-channel drug of the pharmacy's region today:
    its agreement period (and the agency's grace) has ended [SD §1], or it is off the region's
    list in force [CX art. 4, 6]. The sale may go on; the fund will not pay for that line.
    ``profile``: the pharmacy's, read here when not given."""
    profile = profile if profile is not None else profile_of(pharmacy)
    grace = profile.agreement_grace_days if profile else None
    label = "药品在医保支付范围内（协议期、地方目录）"
    checks = []
    for item in prescription.items.all():
        standing = drug_standing(item.drug, pharmacy.region, today, grace_days=grace)
        if not standing.payable:
            checks.append(
                Check(
                    codes.DRUG_NOT_IN_FORCE,
                    True,
                    label,
                    f"{standing.message}，该药品将按全自费结算",
                    warning=True,
                )
            )
    return checks or [Check("drug_in_force", True, label)]


def _designation_check(pharmacy_id: int) -> list[Check]:
    if institution_designated(pharmacy_id):
        return []
    return [
        Check(
            "counter.pharmacy_not_designated",
            False,
            "本店双通道定点资格",
            "本店双通道定点资格未生效或已暂停，不能调剂双通道处方",
        )
    ]


def _pharmacy(prescription: Prescription, pharmacy_id: int) -> Institution | None:
    """The counter's pharmacy with its region: the prescription's own when routed here."""
    if prescription.pharmacy_id == pharmacy_id:
        return prescription.pharmacy
    return Institution.objects.select_related("region").filter(pk=pharmacy_id).first()


def all_checks(
    prescription: Prescription,
    pharmacy_id: int,
    identity: Identity,
    lines: list[DispenseLine] | None,
    today: date,
    eligibility: Eligibility | None,
    *,
    stock: bool = True,
    stock_items: Mapping[int, Any] | None = None,
) -> list[Check]:
    """Every check of the counter. ``stock=False`` leaves the sale's checks out for the
    dispensing, whose ``sale_record`` runs the same ``sale_refusals`` under its locks;
    ``stock_items``: the lines' batches as the dispensing locked them (else read here)."""
    checks = _designation_check(pharmacy_id)
    checks += _status_checks(prescription, pharmacy_id, today)
    if not checks[-1].ok:
        return checks  # an unusable prescription: nothing else is worth checking
    checks += _filing_form_check(prescription)
    checks += _identity_checks(prescription, identity)
    checks += _eligibility_checks(prescription, eligibility, today)
    hospital_profile = profile_of(prescription.hospital)
    checks += refill_checks(prescription, today, hospital_profile)
    pharmacy = _pharmacy(prescription, pharmacy_id)
    profile = None
    if pharmacy is not None:
        same_region = pharmacy.region_id == prescription.hospital.region_id
        profile = hospital_profile if same_region else profile_of(pharmacy)
        checks += listing_checks(prescription, pharmacy, today, profile)
    if lines is not None:
        if stock_items is None:
            stock_items = _stock_items(
                prescription, pharmacy_id, lines, held=stock and pharmacy is not None
            )
        line_checks = _line_checks(prescription, lines, stock_items)
        checks += line_checks
        checks += _price_checks(prescription, lines, stock_items, today, profile)
        checks += _trace_code_checks(lines)
        if stock and pharmacy is not None and line_checks[-1].ok:
            checks += stock_checks(prescription, pharmacy, lines, stock_items)
    return checks
