"""The fund's part of an online order whose personal part is paid on the phone (网订店送; 网订店取
when the patient chose 在线支付) [CX art. 22 网上支付、移动支付; HB art. 30–35 as at the counter].

Handed down to prescriptions (``online_payment.personal_pricing_register``, in this app's
``ready()``):

- ``online_order_quote``: when the patient places the order its boxes are held, so the price is
  known; the held batches are pre-settled (2101) exactly as the counter prices a dispensing
  (``counter._price``: the batch's sale price, its payment standard, the drug's listing and
  restriction, the enrolment region's rule and the person's accumulators), and the patient pays
  the personal part with the fee. Nothing is settled or accumulated then.
- ``online_order_settle``: settlement (2102, uploaded to the platform by the counter's job) runs
  when the pharmacy ships the dispensed order, in the shipping transaction. Why then: the sale
  with its traceability codes is recorded when the pharmacist dispenses the held boxes at the
  counter, but until the parcel leaves the pharmacy the order may still be cancelled or expire
  (the money is then refunded whole); settling at shipping means no fund money is ever paid
  for goods that were not handed over for the patient. The settled personal part must equal
  what the patient paid, to the fen; if it does not (the person's accumulators moved since it
  was dispensed), shipping is refused and nothing is written. The dispensing itself was refused
  unless its 2101 asked what was paid (another batch, a batch repriced: ``online_personal_now``),
  while the order could still be cancelled and refunded whole (a dispensed order cannot be).
  The settlement records the payment order (``Settlement.online_payment``); its reversal
  refunds it (``online_paid``).
  A 网订店取 order paid online is handed over at the counter when it is dispensed; the counter's
  settle then runs this same path (``settlement_settle_at_counter``): the counter collects
  nothing.
- ``online_personal_now``: that 2101 of the dispensed boxes, read in the dispensing transaction
  (nothing locked: the counter's own pre-settlement).

Why the pick-up order is settled by the counter's button, not inside the hand-over: the
dispensing transaction locks the eligibility, the prescription and the batches before it could
know it needs the person, whom a settlement locks first (core.locks); the counter's settle takes
the person first, then the order, as shipping does.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.models import User
from dualchannel.core.queries import CompiledRead
from dualchannel.core.roles import Role
from dualchannel.eligibility.selectors import eligibility_benefits_active
from dualchannel.inventory.models import HoldStatus, StockHold
from dualchannel.inventory.selectors import sold_as_donation
from dualchannel.payments.models import PaymentOrder, PaymentStatus
from dualchannel.prescriptions.models import (
    DeliveryMode,
    OnlineOrder,
    OrderStatus,
    Prescription,
)
from dualchannel.prescriptions.services.counter_checks import sale_price
from dualchannel.prescriptions.services.online_payment import SPLIT, amount_due
from dualchannel.prescriptions.services.orders import locked_order
from dualchannel.prescriptions.workflow import sale_reference
from dualchannel.registry.out_of_area import out_of_area_of
from dualchannel.registry.profiles import profile_for, profile_of
from dualchannel.registry.selectors import enrolment_region_on

from .. import error_codes as codes
from .. import payable, rules
from ..models import Settlement, SettlementStatus
from ..restriction import OUTPATIENT, RestrictionCheck
from .common import (
    PricedLine,
    accumulators,
    benefit_profile,
    benefit_scopes,
    breakdown_of,
    designated,
    lock_person,
    request_key,
    require_benefits,
    require_direct,
)
from .counter import require_valid_filing_form, settlement_preview, settlement_settle
from .online_paid import online_key


def _held(prescription: Prescription) -> list[StockHold]:
    return list(
        StockHold.objects.filter(reference=sale_reference(prescription), status=HoldStatus.ACTIVE)
        .select_related("stock_item", "stock_item__drug")
        .order_by("stock_item_id", "pk")
    )


def _held_lines(prescription: Prescription, on) -> list[PricedLine]:
    """Each held batch priced as the counter prices a dispensed line (``counter._price``)."""
    pharmacy, person = prescription.pharmacy, prescription.patient
    profile = profile_for(pharmacy.region)
    province = rules.province_of(pharmacy.region)
    eligibility = prescription.eligibility
    facts_common = {
        "has_eligibility": eligibility is not None,
        "eligibility_active": eligibility is not None
        and eligibility_benefits_active(eligibility, on=on),
        "institution_designated": designated(pharmacy),
        "has_valid_prescription": prescription.valid_until >= on,
        "inpatient_at_non_designated": False,
    }
    restriction = RestrictionCheck(
        region=enrolment_region_on(person, on),
        diagnoses=[prescription.diagnosis_code],
        setting=OUTPATIENT,
    )
    items = {item.drug_id: item for item in prescription.items.all()}
    sale_profile = profile_of(pharmacy)
    lines = []
    for hold in _held(prescription):
        stock, item = hold.stock_item, items[hold.stock_item.drug_id]
        standard = rules.package_standard(
            stock.drug,
            profile=profile,
            province=province,
            manufacturer=stock.manufacturer,
            specification=stock.specification or item.specification,
            unit=item.unit,
            package_unit=item.package_unit,
            pack_size=item.pack_size,
            on=on,
        )
        standing = rules.standing_of(stock.drug, region=pharmacy.region, profile=profile, on=on)
        reason = payable.nonpayable_reason(
            payable.LineFacts(
                **rules.listing_facts(standing),
                within_restriction=restriction.within(stock.drug, eligibility),
                # HB art. 31(7): a batch received as a donation (codes are scanned later)
                donated=sold_as_donation(stock.pk, []),
                **facts_common,
            )
        )
        lines.append(
            PricedLine(
                dispensing_line_id=None,
                drug_id=stock.drug_id,
                drug_class=stock.drug.drug_class or "乙",
                quantity=hold.quantity,
                unit=item.package_unit,
                unit_price=sale_price(stock, sale_profile),
                standard_amount=None if standard is None else standard.amount * hold.quantity,
                self_pay_reason=reason,
            )
        )
    return lines


def online_order_quote(actor: User, order: OnlineOrder) -> dict[str, Decimal]:
    """The pre-settlement (2101) of the boxes held for ``order``: its split, nothing written.
    Refused (the order with it) where the counter would refuse to settle with the fund."""
    prescription = order.prescription
    person = prescription.patient
    on = timezone.localdate()
    require_benefits(person)
    require_valid_filing_form(prescription)
    pharmacy = prescription.pharmacy
    area = out_of_area_of(person, pharmacy.region, on)
    require_direct(area)  # HB art. 41: otherwise self-pay at the counter, claimed at home
    rule = rules.benefit_rule_for(
        region=enrolment_region_on(person, on),
        insurance_type=person.insurance_type,
        category=prescription.benefit_type,
        hospital_level=prescription.hospital.hospital_level,
        on=on,
    )
    home = benefit_profile(person) if area.is_out_of_area else profile_for(pharmacy.region)
    scopes = benefit_scopes(rule, home, prescription.benefit_type, on)
    lines = _held_lines(prescription, on)
    if not lines or any(line.unit_price is None for line in lines):
        raise DomainError(codes.NOT_PRICED, "药店未登记该批次的售价，暂不能网上支付，请到店购药")
    breakdown = breakdown_of(lines, rule, person, accumulators(person, scopes, lock=False))
    return {name: getattr(breakdown, name) for name in SPLIT}


def _paid(order: OnlineOrder) -> PaymentOrder | None:
    """The order's payment, paid to the fen of what it asks; None when nothing was due."""
    then = "不能结算" if order.mode == DeliveryMode.ONLINE_PICKUP else "不能发货"
    due = amount_due(order)
    if due == 0:
        return None
    payment = PaymentOrder.objects.filter(pk=order.payment_id).first()
    if (
        payment is None
        or payment.status not in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
        or payment.paid_amount != due
    ):
        raise Conflict(codes.NOT_PAID_ONLINE, f"订单个人自付部分尚未支付，{then}")
    return payment


def _settleable(order: OnlineOrder) -> bool:
    """Dispensed and on its way: a delivery order about to ship, a pick-up order handed over."""
    if order.dispensing_id is None:
        return False
    if order.mode == DeliveryMode.ONLINE_PICKUP:
        return order.status == OrderStatus.PICKED_UP
    return order.status == OrderStatus.PREPARING


def online_order_settle(actor: User, order_id: int) -> Settlement | None:
    """Settle a dispensed, paid online order (2102) in the shipping transaction, or a pick-up
    order's at the counter (see above); None when it is not ready (``order_ship`` refuses it
    with its own words). Again for an order settled so: the same settlement, nothing redone."""
    named = OnlineOrder.objects.filter(pk=order_id).values("prescription__patient_id").first()
    if named is None:
        return None
    # core.locks: the person, then the order (with the prescription), then the settlement's rows
    lock_person(named["prescription__patient_id"])
    order = locked_order(order_id)
    if not _settleable(order):
        return None
    payment = _paid(order)
    settlement = settlement_settle(
        actor=actor,
        prescription_id=order.prescription_id,
        idempotency_key=online_key(order.pk),
        paid_online=True,
    )
    if getattr(settlement, "replayed", False):
        return settlement  # settled so before (a double click): recorded then
    if settlement.personal != order.personal_due:
        then = (
            "不能按线上已付结算，请联系医保经办机构处理"
            if order.mode == DeliveryMode.ONLINE_PICKUP
            else "不能发货（发药后参保人的医保累计或药品价格有变动），请联系医保经办机构处理"
        )
        raise Conflict(
            codes.ONLINE_AMOUNT_MISMATCH,
            f"本次结算个人自付{settlement.personal}元，与参保人线上已付{order.personal_due}元"
            f"不符，{then}",
        )
    if payment is not None:
        Settlement.objects.filter(pk=settlement.pk).update(online_payment=payment)
        settlement.online_payment = payment
        audit.record(
            actor=actor,
            action="settlement.personal_paid_online",
            subject=settlement,
            patient=order.prescription.patient,
            role=Role.PHARMACIST,
            summary={
                "settlement_no": settlement.settlement_no,
                "order_no": order.order_no,
                "out_trade_no": payment.out_trade_no,
                "personal": str(settlement.personal),
            },
        )
    return settlement


def online_personal_now(actor: User, prescription_id: int) -> Decimal:
    """The personal part the counter's 2101 of the dispensed boxes asks now (nothing locked or
    written): a paid-online pick-up order is handed over only when it equals what was paid."""
    return settlement_preview(actor=actor, prescription_id=prescription_id).breakdown.personal


_PAID_PICKUP = CompiledRead(  # the newest order of a prescription to pick up, paid online
    lambda prescription_id: (
        OnlineOrder.objects.filter(
            prescription_id=prescription_id,
            mode=DeliveryMode.ONLINE_PICKUP,
            personal_due__isnull=False,
            dispensing__isnull=False,
        )
        .values("pk", "dispensing_id")
        .order_by("-created_at", "-id")[:1]
    ),
    int,
)


def _online_pickup_order(prescription_id: int) -> int | None:
    """The paid-online pick-up order of this dispensing whose settlement is still to be made
    (or was made by this path and stands); None: the counter settles and collects as usual
    (paid at the counter, or its online settlement was reversed)."""
    order = _PAID_PICKUP.one(prescription_id)
    if order is None:
        return None
    reversed_before = Settlement.objects.filter(
        dispensing_id=order["dispensing_id"],
        idempotency_key=online_key(order["pk"]),
        status=SettlementStatus.REVERSED,
    ).exists()
    return None if reversed_before else order["pk"]


def settlement_settle_at_counter(
    *, actor: User, prescription_id: int, idempotency_key: str, inpatient_admission_no: str = ""
) -> Settlement:
    """The counter's settle button and API: a 网订店取 order whose personal part was paid on the
    phone settles through the online path (``paid_online``, the settled personal part checked to
    the fen against the payment, the payment recorded; the counter collects nothing); any other
    dispensing as ``settlement_settle``, which collects the personal part. The caller's key is
    checked as for any settle; the online path settles under the order's own key (once)."""
    request_key(idempotency_key)  # a missing or malformed key refused first, whichever path
    order_id = _online_pickup_order(prescription_id)
    if order_id is None or (inpatient_admission_no or "").strip():
        return settlement_settle(
            actor=actor,
            prescription_id=prescription_id,
            idempotency_key=idempotency_key,
            inpatient_admission_no=inpatient_admission_no,
        )
    with transaction.atomic():
        settlement = online_order_settle(actor, order_id)
    if settlement is None:  # not handed over yet (or ended): the counter's own words
        return settlement_settle(
            actor=actor, prescription_id=prescription_id, idempotency_key=idempotency_key
        )
    return settlement
