"""The one format of an idempotency key (the ``Idempotency-Key`` header, or ``idempotency_key``
in a body): 1 to 80 (or the column's) ASCII letters, digits and ``- _ . :``, starting with a
letter or digit — a UUID, ``desk-1-0001`` or ``20260315:42`` all fit. A missing or malformed key
is refused before anything is written, with a message that says what is expected."""

from __future__ import annotations

import re
from typing import Any

from .errors import DomainError

KEY_MAX = 80
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def key_format(max_length: int = KEY_MAX) -> str:
    return f"1–{max_length} 个英文字母、数字或 - _ . : 组成，以字母或数字开头"


def checked_key(
    value: Any, *, code: str, max_length: int = KEY_MAX, field: str = "idempotency_key"
) -> str:
    """The key, stripped of surrounding spaces; missing or malformed raises DomainError(code)."""
    key = value.strip() if isinstance(value, str) else ""
    if not key:
        raise DomainError(
            code,
            "缺少幂等键（Idempotency-Key）：重发同一请求时请带同一个键",
            fields={field: ["必填"]},
        )
    if len(key) > max_length or not _KEY.fullmatch(key):
        raise DomainError(
            code,
            f"幂等键（Idempotency-Key）格式不正确：应由{key_format(max_length)}",
            fields={field: [f"应由{key_format(max_length)}"]},
        )
    return key
