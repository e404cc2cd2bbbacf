"""Canonical JSON and digests: the same data always gives the same bytes and the same hash."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return str(value)


def canonical_json(data: Any) -> str:
    return json.dumps(
        data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_default
    )


def digest(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The concrete field values of a row, foreign keys as ids, ready for ``digest``."""
    values: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        values[field.attname] = getattr(instance, field.attname)
    return values
