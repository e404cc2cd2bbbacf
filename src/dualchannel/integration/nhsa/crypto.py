"""Signatures and encryption of the envelope: none, or SM3withSM2 in ``cainfo`` and SM4 ``input``.

Uses ``gmssl`` (SM2/SM3/SM4). The signature covers the canonical JSON of the plain ``input``;
with encryption on, ``input`` travels as the hex of its SM4-ECB (PKCS#7) ciphertext.
[uncertain] Provinces differ in the exact bytes signed and in the cipher mode: both are one
function each here.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from gmssl import sm4

from dualchannel.core.canonical import canonical_json
from dualchannel.documents import crypto as sm2_keys


def signed_bytes(input_data: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the canonical JSON of the plain ``input``."""
    return canonical_json(input_data).encode()


@dataclass(frozen=True)
class Sm2KeyPair:
    private_key: str  # 64 hex
    public_key: str  # 128 hex (x || y, no 04 prefix)

    @classmethod
    def generate(cls) -> Sm2KeyPair:
        private, public = sm2_keys.generate_keypair()
        return cls(private_key=private, public_key=public)


class Signer:
    """No signature: ``cainfo`` and ``signtype`` stay empty."""

    signtype = ""

    def sign(self, input_data: dict[str, Any]) -> str:
        return ""


class Sm2Signer(Signer):
    """SM3withSM2 over the canonical input JSON (the platform checks it with the public key).

    The SM2 arithmetic is the documents app's, which works around gmssl's habits (a nonce from
    ``random``, a public key starting with 0 or 4 mangled by its constructor).
    """

    signtype = "SM2"

    def __init__(self, private_key: str, public_key: str) -> None:
        self._private_key = private_key
        self._public_key = public_key

    def sign(self, input_data: dict[str, Any]) -> str:
        return sm2_keys.sign(self._private_key, self._public_key, signed_bytes(input_data))


def sm2_verify(public_key: str, signature: str, input_data: dict[str, Any]) -> bool:
    return sm2_keys.verify(public_key, signed_bytes(input_data), signature)


class Sm4Cipher:
    """SM4-ECB with PKCS#7 padding; ciphertext as upper-case hex."""

    def __init__(self, key_hex: str) -> None:
        key = bytes.fromhex(key_hex)
        if len(key) != 16:
            raise ValueError("SM4 key must be 16 bytes")
        self._key = key

    @staticmethod
    def generate_key() -> str:
        return secrets.token_hex(16)

    def encrypt(self, input_data: dict[str, Any]) -> str:
        crypt = sm4.CryptSM4()
        crypt.set_key(self._key, sm4.SM4_ENCRYPT)
        return crypt.crypt_ecb(canonical_json(input_data).encode()).hex().upper()

    def decrypt(self, ciphertext: str) -> dict[str, Any]:
        crypt = sm4.CryptSM4()
        crypt.set_key(self._key, sm4.SM4_DECRYPT)
        plain = crypt.crypt_ecb(bytes.fromhex(ciphertext))
        data = json.loads(plain.decode())
        if not isinstance(data, dict):
            raise ValueError("decrypted input is not an object")
        return data
