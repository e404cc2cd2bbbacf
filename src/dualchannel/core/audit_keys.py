"""The audit ledger's HMAC keys, read from the environment by settings (no models imported here).

``AUDIT_HMAC_KEYS`` is ``kid:hexkey[,kid:hexkey…]`` (each key at least 32 random bytes, e.g.
``openssl rand -hex 32``) and ``AUDIT_HMAC_KEY_ID`` names the key new events use (optional when
only one key is listed). Rotation: add a new ``kid:hexkey``, point ``AUDIT_HMAC_KEY_ID`` at it and
keep the old keys listed, since every stored event names the key it was hashed with.

Outside DEBUG/DEMO_MODE/tests the keys are required: a key derived silently from ``SECRET_KEY``
would make a routine rotation of ``SECRET_KEY`` turn every stored event unverifiable.
"""

from __future__ import annotations

import hashlib
import re

from django.core.exceptions import ImproperlyConfigured

MIN_KEY_BYTES = 32
DEV_KEY_ID = "dev"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,16}$")


def parse_audit_keys(raw: str, current: str) -> tuple[dict[str, bytes], str]:
    """``("k1:ab…,k2:cd…", "k2")`` → ``({"k1": b…, "k2": b…}, "k2")``; a bad value fails loudly."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        kid, sep, hexkey = item.partition(":")
        kid = kid.strip()
        if not sep or not _KEY_ID.match(kid):
            raise ImproperlyConfigured(
                "AUDIT_HMAC_KEYS must be kid:hexkey pairs; a kid is 1-16 of A-Z a-z 0-9 _ . -"
            )
        if kid in keys:
            raise ImproperlyConfigured(f"AUDIT_HMAC_KEYS lists key id {kid!r} twice")
        try:
            key = bytes.fromhex(hexkey.strip())
        except ValueError as exc:
            raise ImproperlyConfigured(f"AUDIT_HMAC_KEYS: key {kid!r} is not hex") from exc
        if len(key) < MIN_KEY_BYTES:
            raise ImproperlyConfigured(
                f"AUDIT_HMAC_KEYS: key {kid!r} must be at least {MIN_KEY_BYTES} bytes"
            )
        keys[kid] = key
    if not keys:
        raise ImproperlyConfigured("AUDIT_HMAC_KEYS lists no key")
    if not current:
        if len(keys) > 1:
            raise ImproperlyConfigured("AUDIT_HMAC_KEY_ID must name the current key")
        current = next(iter(keys))
    if current not in keys:
        raise ImproperlyConfigured(f"AUDIT_HMAC_KEY_ID {current!r} is not in AUDIT_HMAC_KEYS")
    return keys, current


def read_audit_keys(
    raw: str, current: str, *, secret_key: str, insecure_default_ok: bool
) -> tuple[dict[str, bytes], str]:
    """The configured keys; in DEBUG/DEMO_MODE/tests a key derived from ``SECRET_KEY`` if unset."""
    if raw.strip():
        return parse_audit_keys(raw, current)
    if not insecure_default_ok:
        raise ImproperlyConfigured(
            "AUDIT_HMAC_KEYS must be set outside DEBUG/DEMO_MODE (see README: Audit ledger)"
        )
    derived = hashlib.sha256(b"dualchannel-audit-dev-key:" + secret_key.encode()).digest()
    return {DEV_KEY_ID: derived}, DEV_KEY_ID
