"""The one failure of a platform call: the platform's answer, or no answer at all."""

from __future__ import annotations

from dualchannel.core.errors import DomainError

from .. import error_codes as codes

# Words of an err_msg that mark a passing condition; the platform answers "-1" for everything,
# so the text is all there is. [uncertain] Provinces word these differently: kept in one place.
TRANSIENT_MARKERS = ("繁忙", "稍后", "超时", "timeout", "暂不可用")
# An err_msg that asks for a new sign-in (9001).
SESSION_MARKERS = ("签到",)


class PlatformError(DomainError):
    """A call the platform refused (``infcode`` "-1") or that got no answer (``infcode`` "")."""

    status = 502

    def __init__(self, infcode: str, err_msg: str, *, retryable: bool) -> None:
        message = (
            f"医保信息平台返回错误：{err_msg}" if infcode else f"医保信息平台无应答：{err_msg}"
        )
        super().__init__(codes.PLATFORM_ERROR if infcode else codes.PLATFORM_UNREACHABLE, message)
        self.infcode = infcode
        self.err_msg = err_msg
        self.retryable = retryable

    @property
    def is_session_error(self) -> bool:
        return bool(self.infcode) and any(m in self.err_msg for m in SESSION_MARKERS)


class TransportError(Exception):
    """No usable answer: connection refused, timeout, HTTP status other than 200, bad JSON."""


def is_transient(err_msg: str) -> bool:
    return any(marker in err_msg for marker in TRANSIENT_MARKERS)
