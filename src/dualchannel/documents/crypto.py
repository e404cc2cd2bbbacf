"""SM2 signatures with SM3 digests (GB/T 32918, GB/T 32905) and encryption of private keys at rest.

The curve arithmetic comes from ``gmssl`` (pure Python). Two of its habits are worked around here:
its default signing nonce comes from ``random`` (not a CSPRNG — a predictable nonce reveals the
private key), so every nonce is drawn from ``secrets``; and its constructor strips leading
``0``/``4`` characters from a public key with ``lstrip("04")``, so the key is set afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from gmssl import sm2, sm3

ALGORITHM = "SM2"
_CURVE = sm2.default_ecc_table
_N = int(_CURVE["n"], 16)
_HEX_128 = re.compile(r"^[0-9a-f]{128}$")

# HKDF parameters of the key that encrypts physicians' private keys. Changing them makes every
# stored private key undecryptable (the keys then rotate on next use; old documents still verify).
_HKDF_SALT = b"dualchannel.documents.signing-keys"
_HKDF_INFO_DEDICATED = b"fernet:v1:DOCUMENT_KEY_ENCRYPTION_KEY"
_HKDF_INFO_SECRET_KEY = b"fernet:v1:SECRET_KEY"
MIN_DEDICATED_KEY_LENGTH = 32


def sm3_hex(data: bytes) -> str:
    """SM3 digest of ``data`` as 64 lowercase hex characters."""
    return sm3.sm3_hash(list(data))


def _crypt(private_key_hex: str, public_key_hex: str) -> sm2.CryptSM2:
    crypt = sm2.CryptSM2(private_key=private_key_hex, public_key="")
    crypt.public_key = public_key_hex  # see module docstring: never through the constructor
    return crypt


def generate_keypair() -> tuple[str, str]:
    """A new SM2 key pair as (private key, 64 hex; public key x||y, 128 hex)."""
    while True:
        d = secrets.randbelow(_N - 2) + 1  # 1 <= d <= n-2 (GB/T 32918.1 §6.1)
        private_hex = f"{d:064x}"
        public_hex = _crypt(private_hex, "")._kg(d, _CURVE["g"])
        if public_hex and _HEX_128.match(public_hex):
            return private_hex, public_hex


def public_key_fingerprint(public_key_hex: str) -> str:
    """SM3 of the uncompressed public key (04||x||y), the key's name on forms and pages."""
    return sm3_hex(bytes.fromhex("04" + public_key_hex))


def sign(private_key_hex: str, public_key_hex: str, message: bytes) -> str:
    """SM2 signature (r||s, 128 hex) of SM3(Z_A || message), default user ID 1234567812345678."""
    crypt = _crypt(private_key_hex, public_key_hex)
    while True:
        nonce = f"{secrets.randbelow(_N - 1) + 1:064x}"
        signature = crypt.sign_with_sm3(message, nonce)
        if signature:  # gmssl returns None for the rare degenerate nonce; draw another
            return signature


def verify(public_key_hex: str, message: bytes, signature: str) -> bool:
    """True only for a well-formed signature that verifies under the public key."""
    if not isinstance(signature, str) or not _HEX_128.match(signature):
        return False
    if not isinstance(public_key_hex, str) or not _HEX_128.match(public_key_hex):
        return False
    r, s = int(signature[:64], 16), int(signature[64:], 16)
    if not (1 <= r < _N and 1 <= s < _N):
        return False
    try:
        return bool(_crypt("", public_key_hex).verify_with_sm3(signature, message))
    except (ValueError, TypeError, ArithmeticError):
        return False


# --- private keys at rest --------------------------------------------------------------------


def _derive(material: bytes, info: bytes) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=info).derive(material)
    return base64.urlsafe_b64encode(raw)


def key_encryption_key() -> bytes:
    """The Fernet key that wraps private keys.

    Production sets ``DOCUMENT_KEY_ENCRYPTION_KEY`` (at least 32 random characters, e.g. a Fernet
    key from ``Fernet.generate_key()``); it is stretched with HKDF-SHA256. Without it the key is
    derived from ``SECRET_KEY`` with a different HKDF ``info``, so the two never coincide — a
    fallback for demos only (``manage.py check --deploy`` warns, see ``apps.py``): rotating
    ``SECRET_KEY`` would then strand every stored private key.
    """
    dedicated = settings.DOCUMENT_KEY_ENCRYPTION_KEY
    if dedicated:
        if len(dedicated) < MIN_DEDICATED_KEY_LENGTH:
            raise ImproperlyConfigured(
                "DOCUMENT_KEY_ENCRYPTION_KEY must be at least "
                f"{MIN_DEDICATED_KEY_LENGTH} characters"
            )
        return _derive(dedicated.encode(), _HKDF_INFO_DEDICATED)
    return _derive(settings.SECRET_KEY.encode(), _HKDF_INFO_SECRET_KEY)


def key_encryption_key_id(kek: bytes | None = None) -> str:
    """A short public name of the key-encryption key, stored next to each wrapped key."""
    return hashlib.sha256(b"kek-id:" + (kek or key_encryption_key())).hexdigest()[:16]


def encrypt_private_key(private_key_hex: str) -> tuple[str, str]:
    """(Fernet token, key-encryption key id)."""
    kek = key_encryption_key()
    token = Fernet(kek).encrypt(private_key_hex.encode()).decode()
    return token, key_encryption_key_id(kek)


class PrivateKeyUnavailable(Exception):
    """The wrapped key cannot be opened with the configured key-encryption key."""


def decrypt_private_key(token: str) -> str:
    try:
        return Fernet(key_encryption_key()).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise PrivateKeyUnavailable from exc
