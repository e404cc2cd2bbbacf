"""Factories and helpers for stock rows (services make the real ones)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.jobs import run_once
from dualchannel.inventory.models import StockItem

_serial = itertools.count(1)
_national = itertools.count(1)


def national_code() -> str:
    """A 23-character national insurance drug code (X + ATC-like class + serial)."""
    return f"XL01XEA{next(_national):016d}"


def negotiated_drug(**kwargs):
    return DrugFactory(national_code=national_code(), **kwargs)


def trace_codes(prefix: str, count: int) -> list[str]:
    """``count`` fresh 20-digit codes of the product ``prefix`` (7 digits)."""
    assert len(prefix) == 7 and prefix.isdigit()
    return [f"{prefix}{next(_serial):013d}" for _ in range(count)]


class StockItemFactory(factory.django.DjangoModelFactory):
    """A batch row set up directly (e.g. an expired one, which receiving refuses)."""

    class Meta:
        model = StockItem

    drug = factory.SubFactory(DrugFactory)
    batch_no = factory.Sequence(lambda n: f"B{n:05d}")
    expiry_date = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=365))
    retail_price = Decimal("100.00")
    quantity = 0


def receipt(drug, codes, key="po-1", **kwargs):
    """A purchase as the receipt API takes it (a year to expiry)."""
    return {
        "drug_id": drug.pk,
        "batch_no": "L2401",
        "expiry_date": (timezone.localdate() + timedelta(days=365)).isoformat(),
        "quantity": len(codes),
        "trace_codes": codes,
        "retail_price": "1280.50",
        "idempotency_key": key,
        **kwargs,
    }


def drain(now=None) -> None:
    """Run due jobs until none is left (bounded)."""
    for _ in range(20):
        if not run_once("test-worker", now=now):
            return
