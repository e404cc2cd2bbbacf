"""Client of the national medical-insurance information platform (国家医保信息平台)."""

from .client import PlatformClient
from .crypto import Signer, Sm2KeyPair, Sm2Signer, Sm4Cipher
from .envelope import Operator, build_envelope, next_msgid, platform_connected
from .errors import PlatformError, TransportError
from .transport import (
    HttpTransport,
    OAuth2ClientCredentials,
    SimulatorTransport,
    TifHeaderAuth,
    Transport,
    default_transport,
)

__all__ = [
    "HttpTransport",
    "OAuth2ClientCredentials",
    "Operator",
    "PlatformClient",
    "PlatformError",
    "Signer",
    "SimulatorTransport",
    "Sm2KeyPair",
    "Sm2Signer",
    "Sm4Cipher",
    "TifHeaderAuth",
    "Transport",
    "TransportError",
    "build_envelope",
    "default_transport",
    "next_msgid",
    "platform_connected",
]
