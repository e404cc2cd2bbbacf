"""Money entered by people or programs: yuan with at most two decimals (fen), never rounded.

``1.005`` is refused, not stored as ``1.01``: a price nobody typed must not reach a settlement.
Every money input (stock receipts, claims, hospital prices, payment standards) goes through
``parse_money``; API schemas can say the same with the ``Money`` type.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import Field

from .errors import field_error

FEN = Decimal("0.01")
# 9,999,999,999.99: more than any price or claim; fits every money column (max_digits 12).
MAX_MONEY = Decimal("9999999999.99")

# For API schemas: refused by validation (422) when it has more than two decimals.
Money = Annotated[Decimal, Field(ge=0, le=MAX_MONEY, decimal_places=2)]


def parse_money(
    value: Any,
    *,
    field: str,
    code: str,
    label: str = "金额",
    positive: bool = False,
    maximum: Decimal = MAX_MONEY,
) -> Decimal:
    """``value`` as an exact amount in yuan (two decimals); anything else raises DomainError."""
    kind = "大于0" if positive else "不小于0"
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal | float):
        raise field_error(field, code, f"{label}应为{kind}的数值（元）")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise field_error(field, code, f"{label}应为{kind}的数值（元）") from None
    if not amount.is_finite() or amount < 0 or (positive and amount == 0) or amount > maximum:
        raise field_error(field, code, f"{label}应为{kind}的数值（元）")
    if amount != amount.quantize(FEN):
        raise field_error(field, code, f"{label}最多两位小数（元，精确到分）")
    return amount.quantize(FEN)
