"""Checks every API operation's validated input before the view runs (NinjaAPI.add_decorator).

Pydantic accepts any ``int`` and any string; the database does not. An integer beyond 64 bits
(``eligibility_id=338983658673022763008``, a huge ``offset``) or a string holding NUL (which
PostgreSQL refuses) is the client's error: 422 with the error shape, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django.db import DataError, IntegrityError
from pydantic import BaseModel

from .errors import DomainError
from .request_guard import nul_refused

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NUL = "\x00"


def number_out_of_range(field: str = "__all__") -> DomainError:
    return DomainError(
        "request.number_out_of_range",
        "数值超出允许范围",
        fields={field: ["数值超出允许范围"]},
        status=422,
    )


def _problem(value: Any, at: str, depth: int = 0) -> DomainError | None:
    """The first integer out of range or string with NUL inside ``value``, as a refusal."""
    if depth > 32 or value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else number_out_of_range(at)
    if isinstance(value, str):
        if NUL in value:
            return nul_refused(at)
        return None
    if isinstance(value, BaseModel):
        items = ((name, getattr(value, name, None)) for name in type(value).model_fields)
    elif isinstance(value, Mapping):
        items = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        items = ((str(n), v) for n, v in enumerate(value))
    else:
        return None
    for name, inner in items:
        found = _problem(inner, f"{at}.{name}" if at else name, depth + 1)
        if found is not None:
            return found
    return None


def checked_values(view: Callable) -> Callable:
    """An operation decorator: refuse the call when an input holds what no column can store."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        for name, value in kwargs.items():
            # a schema's fields are named by themselves, like the validation errors name them
            at = "" if isinstance(value, BaseModel) else name
            found = _problem(value, at)
            if found is not None:
                raise found
        return view(request, *args, **kwargs)

    return wrapper


def out_of_range_error(exc: BaseException) -> DomainError | None:
    """A number the database refused (a 32-bit column, an overflow the checks did not see)."""
    chain = [exc, exc.__cause__, exc.__context__]
    if any(isinstance(e, OverflowError) for e in chain):
        return number_out_of_range()
    if isinstance(exc, DataError | IntegrityError):
        text = str(exc).lower()
        if "out of range" in text or "overflow" in text or "too large" in text:
            return number_out_of_range()
    return None
