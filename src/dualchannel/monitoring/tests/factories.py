"""Small worlds for the monitoring rules: rows built directly (settlements, prescriptions,
stock movements), each test saying what the rule must find by hand."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from dualchannel.inventory.models import (
    MovementTraceCode,
    StockMovement,
    TraceCode,
    TraceCodeStatus,
)
from dualchannel.inventory.tests.factories import StockItemFactory
from dualchannel.monitoring.engine import Scope, detectors
from dualchannel.monitoring.rules import rules_for
from dualchannel.prescriptions.models import BenefitType, Prescription, PrescriptionItem
from dualchannel.registry.models import Region
from dualchannel.settlement.models import Settlement, SettlementKind, SettlementLine
from dualchannel.settlement.tests.factories import settled_row

SHANGHAI = ZoneInfo("Asia/Shanghai")
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
_serial = itertools.count(1)


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


def settle(
    institution,
    person,
    actor,
    drug,
    on: date,
    *,
    quantity: int = 1,
    prescription=None,
    kind=SettlementKind.PHARMACY,
    dispensing=None,
) -> Settlement:
    """A live settlement of one line of ``drug`` on ``on``."""
    settlement = settled_row(institution, person, actor, drug=drug)
    Settlement.objects.filter(pk=settlement.pk).update(
        settled_on=on, kind=kind, prescription=prescription, dispensing=dispensing
    )
    SettlementLine.objects.filter(settlement=settlement).update(quantity=quantity)
    settlement.refresh_from_db()
    return settlement


def prescribe(physician, patient, drug, actor, *, packages=1, days=28, on=date(2026, 3, 2)):
    """A chronic-disease prescription of one drug issued on ``on``."""
    rx = Prescription.objects.create(
        prescription_no=f"RX{next(_serial):010d}",
        patient=patient,
        hospital=physician.hospital,
        physician=physician,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        diagnosis_name="高血压",
        issued_at=at(on),
        valid_days=3,
        valid_until=on + timedelta(days=3),
        created_by=actor,
    )
    PrescriptionItem.objects.create(
        prescription=rx,
        position=1,
        drug=drug,
        quantity=Decimal(packages * 28),
        unit="片",
        pack_size=Decimal(28),
        packages=packages,
        single_dose=Decimal(1),
        dose_unit="片",
        frequency="每日一次",
        route="口服",
        usage="口服，每日一次",
        days=days,
    )
    return rx


def move(stock_item, kind, delta: int, on: date, *, codes: list[TraceCode] = ()) -> StockMovement:
    """A stock movement of ``delta`` boxes (negative for a sale) with its codes linked."""
    movement = StockMovement.objects.create(
        pharmacy=stock_item.pharmacy,
        stock_item=stock_item,
        kind=kind,
        quantity_delta=delta,
        quantity_after=max(delta, 0),
        occurred_at=at(on),
    )
    for code in codes:
        MovementTraceCode.objects.create(movement=movement, trace_code=code)
    return movement


def code_in(stock_item, serial: int) -> TraceCode:
    return TraceCode.objects.create(
        code=f"8{serial:019d}",
        drug=stock_item.drug,
        stock_item=stock_item,
        status=TraceCodeStatus.SOLD,
    )


def batch(pharmacy, drug):
    return StockItemFactory(pharmacy=pharmacy, drug=drug)


def find(key: str, region_code: str = "420100", period=MARCH, **params):
    """The rule's findings in the region over the period, with the national thresholds unless
    ``params`` say otherwise."""
    region = Region.objects.get(code=region_code)
    rule = rules_for(region)[key]
    scope = Scope(region.code_prefix, period[0], period[1], {**rule.params, **params})
    return detectors()[key](scope)
