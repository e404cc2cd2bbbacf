"""Phones and codes as keyed hashes, and the mainland mobile-number rule."""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(value: str | None) -> str | None:
    """An 11-digit mainland mobile number, or ``None`` (spaces, dashes and +86 are dropped)."""
    digits = re.sub(r"[\s\-]", "", value or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits if MOBILE_RE.match(digits) else None


def _keyed(purpose: str, value: str) -> str:
    message = f"dualchannel.portal.{purpose}:{value}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def phone_hash(phone: str) -> str:
    """HMAC-SHA256 of a normalised phone: unlike a plain hash, not reversible by enumeration
    of the 10^10 mobile numbers without the key."""
    return _keyed("phone", phone)


def code_hash(phone_digest: str, code: str) -> str:
    return _keyed("code", f"{phone_digest}:{code}")


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
