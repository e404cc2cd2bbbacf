"""The one failure of an e-prescription-centre call: the centre's refusal, or no answer at all.

``TransportError`` and the "busy" wording (``is_transient``) are shared with the national
platform client.
"""

from __future__ import annotations

from dualchannel.core.errors import DomainError

from .. import error_codes as codes
from ..nhsa.errors import TransportError, is_transient
from .wire import RETRYABLE_CODES

__all__ = ["RxCentreError", "TransportError", "is_retryable"]


class RxCentreError(DomainError):
    """The centre answered a non-zero ``centre_code``, or nothing (``centre_code`` None).

    ``code`` and ``message`` are the project's (``DomainError``); the centre's own code and
    message stay in ``centre_code`` and ``centre_message``.
    """

    status = 502

    def __init__(self, centre_code: int | None, centre_message: str, *, retryable: bool) -> None:
        if centre_code is None:
            code, message = codes.RX_CENTRE_UNREACHABLE, f"电子处方中心无应答：{centre_message}"
        else:
            code, message = codes.RX_CENTRE_ERROR, f"电子处方中心返回错误：{centre_message}"
        super().__init__(code, message)
        self.centre_code = centre_code
        self.centre_message = centre_message
        self.retryable = retryable


def is_retryable(centre_code: int, centre_message: str) -> bool:
    return centre_code in RETRYABLE_CODES or is_transient(centre_message)
