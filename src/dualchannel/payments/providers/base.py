"""What every payment provider answers, in our terms (integer fen, aware datetimes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class ProviderError(Exception):
    """The provider answered an error (``code``: its code, e.g. ``ORDERPAID``) or not at all
    (``code`` ``NETWORK``)."""

    def __init__(self, code: str, message: str = "", *, status: int = 0) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.status = status


class NotifyInvalid(Exception):
    """A callback that is not the provider's: bad or missing signature, stale, undecryptable."""


@dataclass(frozen=True)
class Prepay:
    prepay_id: str
    pay_url: str  # the cashier page the phone opens (H5 ``h5_url``)


@dataclass(frozen=True)
class TradeState:
    out_trade_no: str
    # SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR (WeChat Pay v3 trade_state)
    state: str
    total_fen: int
    transaction_id: str = ""
    payer_total_fen: int | None = None
    success_time: datetime | None = None
    mchid: str = ""
    appid: str = ""


@dataclass(frozen=True)
class RefundState:
    out_refund_no: str
    status: str  # SUCCESS, PROCESSING, ABNORMAL, CLOSED
    refund_fen: int
    total_fen: int
    out_trade_no: str = ""
    transaction_id: str = ""
    refund_id: str = ""
    success_time: datetime | None = None


@dataclass(frozen=True)
class Notice:
    """A verified, decrypted callback: about a transaction or a refund."""

    notify_id: str
    event_type: str  # TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED
    trade: TradeState | None = None
    refund: RefundState | None = None


class PaymentProvider(Protocol):
    name: str

    def create(
        self,
        *,
        out_trade_no: str,
        description: str,
        total_fen: int,
        time_expire: datetime,
        payer_client_ip: str,
        return_url: str,
    ) -> Prepay: ...

    def query(self, out_trade_no: str) -> TradeState: ...

    def close(self, out_trade_no: str) -> None: ...

    def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        reason: str,
        refund_fen: int,
        total_fen: int,
    ) -> RefundState: ...

    def refund_query(self, out_refund_no: str) -> RefundState: ...

    def parse_notify(self, headers: Mapping[str, str], body: bytes) -> Notice: ...

    def notify_answer(self, ok: bool) -> tuple[int, bytes]: ...
