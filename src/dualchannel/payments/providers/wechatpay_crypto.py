"""The cryptography of WeChat Pay API v3 (``cryptography``): SHA256-RSA2048 signatures of
requests, answers and callbacks, and AEAD_AES_256_GCM of callback resources.

Shared by the client (``wechatpay.py``) and the bundled simulator, which signs as the platform.
"""

from __future__ import annotations

import base64
import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the merchant key must be an RSA private key")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """A platform certificate (PEM) or a platform public key (微信支付公钥, PEM)."""
    if b"BEGIN CERTIFICATE" in pem:
        key = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the platform key must be an RSA public key")
    return key


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def request_message(method: str, path: str, timestamp: str, nonce: str, body: str) -> str:
    """What a request's signature covers: method, path with query, time, nonce, body."""
    return f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n"


def response_message(timestamp: str, nonce: str, body: str) -> str:
    """What an answer's or a callback's signature covers (Wechatpay-Timestamp/Nonce, body)."""
    return f"{timestamp}\n{nonce}\n{body}\n"


def sign(key: rsa.RSAPrivateKey, message: str) -> str:
    signature = key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def authorization(
    *,
    mchid: str,
    serial_no: str,
    key: rsa.RSAPrivateKey,
    method: str,
    path: str,
    body: str,
    timestamp: str,
    nonce: str,
) -> str:
    signature = sign(key, request_message(method, path, timestamp, nonce, body))
    return (
        f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    """The parameters of an ``Authorization`` header of the v3 schema ({} for another)."""
    if not header.startswith(SCHEMA + " "):
        return {}
    return dict(_AUTH_PARAM.findall(header[len(SCHEMA) + 1 :]))


def aead_encrypt(key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    sealed = AESGCM(key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return base64.b64encode(sealed).decode()


def aead_decrypt(key: bytes, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """The resource's plaintext; raises ValueError when it was not sealed with ``key``."""
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
        return AESGCM(key).decrypt(nonce.encode(), sealed, associated_data.encode())
    except (InvalidTag, ValueError) as exc:
        raise ValueError("resource does not decrypt") from exc
