"""Yuan in our tables, integer fen at the provider: converted here, exactly, both ways."""

from __future__ import annotations

from decimal import Decimal

from dualchannel.core.money import FEN

_HUNDRED = Decimal(100)


def to_fen(amount: Decimal) -> int:
    """``amount`` yuan as integer fen; an amount with a fraction of a fen is a bug, not rounded."""
    fen = amount * _HUNDRED
    if fen != fen.to_integral_value():
        raise ValueError("an amount in yuan has at most two decimals")
    return int(fen)


def from_fen(fen: int) -> Decimal:
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise ValueError("fen is an integer")
    return (Decimal(fen) / _HUNDRED).quantize(FEN)
