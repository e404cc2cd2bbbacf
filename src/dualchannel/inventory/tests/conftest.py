from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dualchannel.core.models import AuditEvent, Job
from dualchannel.inventory.models import (
    MovementTraceCode,
    StockItem,
    StockMovement,
    StockMovementUploadTransition,
    TraceCode,
)
from dualchannel.inventory.services import stock_receive

from .factories import negotiated_drug, trace_codes

PHARMACY_CODE = "P42010200001"
OTHER_PHARMACY_CODE = "P34010200001"
PREFIX = "8123456"  # product identifier of ``drug``'s codes
OTHER_PREFIX = "8654321"  # of ``other_drug``'s codes


@pytest.fixture
def scanning_pharmacy(pharmacy):
    """The Wuhan pharmacy, scanning traceability codes and connected to the platform."""
    pharmacy.traceability_enabled = True
    pharmacy.platform_code = PHARMACY_CODE
    pharmacy.save()
    return pharmacy


@pytest.fixture
def drug(db):
    return negotiated_drug(generic_name="甲磺酸奥希替尼片")


@pytest.fixture
def other_drug(db):
    return negotiated_drug(generic_name="克唑替尼胶囊")


def in_days(days: int):
    return timezone.localdate() + timedelta(days=days)


def receive(actor, drug, quantity, *, prefix=PREFIX, codes=None, batch_no="L2401", **kwargs):
    """Receive ``quantity`` packages with fresh codes; returns (result, codes)."""
    codes = trace_codes(prefix, quantity) if codes is None else codes
    values = {
        "expiry_date": in_days(365),
        "retail_price": Decimal("1280.50"),
        "manufacturer": "演示制药有限公司",
        "approval_no": "国药准字H20170001",
        "specification": "80mg*30片",
        "idempotency_key": None,
    }
    values.update(kwargs)
    result = stock_receive(
        actor=actor,
        drug_id=drug.pk,
        batch_no=batch_no,
        quantity=quantity,
        trace_codes=codes,
        **values,
    )
    return result, codes


@pytest.fixture
def stocked(scanning_pharmacy, pharmacist_user, drug):
    """Five packages of ``drug`` in batch L2401 with their codes."""
    result, codes = receive(pharmacist_user, drug, 5)
    return result.movement.stock_item, codes


def inventory_state() -> dict:
    """Everything a refused inventory action must leave as it was (alerts aside)."""

    return {
        "items": list(StockItem.objects.order_by("pk").values_list("pk", "quantity")),
        "movements": StockMovement.objects.count(),
        "codes": list(
            TraceCode.objects.order_by("code").values_list(
                "code", "status", "stock_item_id", "last_movement_id"
            )
        ),
        "links": MovementTraceCode.objects.count(),
        "upload_history": StockMovementUploadTransition.objects.count(),
        "jobs": Job.objects.count(),
        "audit": AuditEvent.objects.exclude(action__startswith="monitoring.").count(),
    }
