"""The benefit engine: a pure calculation from lines, person, parameters and accumulators to the
breakdown of what the fund, the further layers and the person pay. No database, no clock.

Order, per settlement [HB art. 30–31, SD §2–3, CX art. 10, AH §2(5)]:

1. Each line: a line a non-payable rule hits is **full self-pay** with its reason code (DESIGN §6).
   Otherwise the part of its amount above the payment standard is **over standard** (self-pay,
   reason ``over_standard``); the rest is the **payable base**. For a 乙-class drug the person
   first pays ``first_self_pay_ratio`` of the base (**first self-pay**, 先行自付); what is left is
   the line's **in-policy** amount (政策范围内).
2. The person pays the **deductible** (起付线) not yet met in its scope (the year, or the inpatient
   stay where the profile counts it once per stay [AH §2(5)]) out of the in-policy total.
3. The fund pays ``fund_ratio`` of what is above the deductible, up to what is left of the annual
   ceiling; the rest of that amount is **co-pay**, and what the ceiling cut is **over ceiling**.
4. Layers on the person's in-policy burden (first self-pay + deductible + co-pay + over ceiling)
   [SD §2–3]: **critical-illness insurance** (大病保险) pays its ratio above its own yearly
   deductible, up to its ceiling; **medical assistance** (医疗救助, only for persons entitled to it)
   pays its ratio of what is left, up to its ceiling; **city commercial insurance** (惠民保, only
   for persons enrolled) pays its ratio of what is still left above its own deductible, up to its
   ceiling. Out-of-policy amounts (full self-pay, over standard) are never covered by a layer.
5. The person pays the rest (**personal pay**).

Rounding: inputs are fen amounts (prices with at most two decimals, whole quantities, payment
standards per package already in fen). Every amount that comes from a ratio is rounded to the fen
once, ROUND_HALF_UP, where it is computed — by ``share()`` and nowhere else; every other amount is
a sum, difference or minimum of fen amounts and needs no rounding. So the parts sum to the total
to the fen, none is negative, and no ceiling is exceeded (``share`` is monotone, bounds are fen).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
ONE = Decimal(1)

# Self-pay reason of the part above the payment standard (DESIGN §6 rule 4, HB art. 31(4)).
OVER_STANDARD = "over_standard"


def share(amount: Decimal, ratio: Decimal) -> Decimal:
    """``ratio`` of a fen amount, rounded to the fen once (ROUND_HALF_UP): the only rounding."""
    return (amount * ratio).quantize(FEN, rounding=ROUND_HALF_UP)


def _left(limit: Decimal | None, used: Decimal) -> Decimal | None:
    return None if limit is None else max(limit - used, ZERO)


def _capped(value: Decimal, left: Decimal | None) -> Decimal:
    return value if left is None else min(value, left)


@dataclass(frozen=True)
class LineInput:
    """One priced line: ``amount`` = unit price × quantity (fen); ``standard_amount`` the payment
    standard for the same quantity (fen), None when the drug has none to compare."""

    key: str
    amount: Decimal
    standard_amount: Decimal | None
    drug_class: str  # 甲 or 乙
    self_pay_reason: str = ""  # a non-payable rule's code: the whole line is self-pay


@dataclass(frozen=True)
class Parameters:
    """The benefit parameters in force (from the profile's benefit rule); None = no ceiling."""

    deductible: Decimal = ZERO
    fund_ratio: Decimal = ZERO
    annual_ceiling: Decimal | None = None
    first_self_pay_ratio: Decimal = ZERO
    critical_illness_deductible: Decimal = ZERO
    critical_illness_ratio: Decimal = ZERO
    critical_illness_ceiling: Decimal | None = None
    assistance_ratio: Decimal = ZERO
    assistance_ceiling: Decimal | None = None
    commercial_deductible: Decimal = ZERO
    commercial_ratio: Decimal = ZERO
    commercial_ceiling: Decimal | None = None


@dataclass(frozen=True)
class Person:
    entitled_to_assistance: bool = False  # 医疗救助对象
    commercial_insured: bool = False  # enrolled in the city commercial insurance


@dataclass(frozen=True)
class Accumulated:
    """What the person used so far in each scope (fen): the deductible of the year or stay, the
    fund of the year against its ceiling, and each layer's deductible and payments of the year."""

    deductible: Decimal = ZERO
    fund: Decimal = ZERO
    critical_illness_deductible: Decimal = ZERO
    critical_illness: Decimal = ZERO
    assistance: Decimal = ZERO
    commercial_deductible: Decimal = ZERO
    commercial: Decimal = ZERO

    def plus(self, other: Accumulated) -> Accumulated:
        return Accumulated(**{k: getattr(self, k) + getattr(other, k) for k in _ACC_FIELDS})

    def minus(self, other: Accumulated) -> Accumulated:
        return Accumulated(**{k: getattr(self, k) - getattr(other, k) for k in _ACC_FIELDS})


_ACC_FIELDS = tuple(Accumulated.__dataclass_fields__)


@dataclass(frozen=True)
class LineResult:
    key: str
    amount: Decimal
    full_self_pay: Decimal
    self_pay_reason: str
    over_standard: Decimal
    payable_base: Decimal
    first_self_pay: Decimal
    in_policy: Decimal


@dataclass(frozen=True)
class Breakdown:
    lines: tuple[LineResult, ...]
    total: Decimal
    full_self_pay: Decimal
    over_standard: Decimal
    payable_base: Decimal
    first_self_pay: Decimal
    in_policy: Decimal
    deductible: Decimal
    co_pay: Decimal
    over_ceiling: Decimal
    fund: Decimal
    critical_illness: Decimal
    assistance: Decimal
    commercial: Decimal
    personal: Decimal
    # what this settlement adds to the person's accumulators (a reversal subtracts it)
    used: Accumulated = field(default_factory=Accumulated)

    @property
    def basic_parts(self) -> tuple[Decimal, ...]:
        """The basic fund's split of the total: these always sum to ``total``."""
        return (
            self.full_self_pay,
            self.over_standard,
            self.first_self_pay,
            self.deductible,
            self.co_pay,
            self.over_ceiling,
            self.fund,
        )

    @property
    def payers(self) -> tuple[Decimal, ...]:
        """Who pays the total: fund, the three layers and the person (sum = ``total``)."""
        return (self.fund, self.critical_illness, self.assistance, self.commercial, self.personal)


class EngineInputError(ValueError):
    """A programming error in the caller: the services validate people's input before this."""


def _check_fen(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or value < 0 or value != value.quantize(FEN):
        raise EngineInputError(f"{name} must be a non-negative Decimal in fen, got {value!r}")


def _check_ratio(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not ZERO <= value <= ONE:
        raise EngineInputError(f"{name} must be a Decimal ratio in [0, 1], got {value!r}")


def _validate(lines: Sequence[LineInput], params: Parameters, acc: Accumulated) -> None:
    for line in lines:
        _check_fen(f"line {line.key} amount", line.amount)
        if line.standard_amount is not None:
            _check_fen(f"line {line.key} standard", line.standard_amount)
        if line.drug_class not in ("甲", "乙"):
            raise EngineInputError(f"line {line.key}: drug class must be 甲 or 乙")
    for name, value in vars(params).items():
        if value is not None:  # None: no ceiling
            (_check_ratio if name.endswith("_ratio") else _check_fen)(name, value)
    for name in _ACC_FIELDS:
        _check_fen(f"accumulated {name}", getattr(acc, name))


def _line(line: LineInput, first_self_pay_ratio: Decimal) -> LineResult:
    if line.self_pay_reason:
        return LineResult(line.key, line.amount, line.amount, line.self_pay_reason, *([ZERO] * 4))
    standard = line.amount if line.standard_amount is None else line.standard_amount
    over = max(line.amount - standard, ZERO)
    base = line.amount - over
    first = share(base, first_self_pay_ratio) if line.drug_class == "乙" else ZERO
    return LineResult(
        key=line.key,
        amount=line.amount,
        full_self_pay=ZERO,
        self_pay_reason=OVER_STANDARD if over else "",
        over_standard=over,
        payable_base=base,
        first_self_pay=first,
        in_policy=base - first,
    )


def calculate(
    lines: Sequence[LineInput],
    params: Parameters,
    accumulated: Accumulated,
    person: Person = Person(),
) -> Breakdown:
    """The breakdown of one settlement (see the module docstring for the order)."""
    _validate(lines, params, accumulated)
    results = tuple(_line(line, params.first_self_pay_ratio) for line in lines)

    def total_of(name: str) -> Decimal:
        return sum((getattr(r, name) for r in results), ZERO)

    total = total_of("amount")
    in_policy = total_of("in_policy")
    first_self_pay = total_of("first_self_pay")

    # 2. deductible, 3. fund with its ceiling
    deductible = min(in_policy, _left(params.deductible, accumulated.deductible))
    above = in_policy - deductible
    fund_due = share(above, params.fund_ratio)
    fund = _capped(fund_due, _left(params.annual_ceiling, accumulated.fund))
    co_pay = above - fund_due
    over_ceiling = fund_due - fund

    # 4. layers on the in-policy burden
    burden = first_self_pay + deductible + co_pay + over_ceiling
    ci_deductible = min(
        burden, _left(params.critical_illness_deductible, accumulated.critical_illness_deductible)
    )
    critical_illness = _capped(
        share(burden - ci_deductible, params.critical_illness_ratio),
        _left(params.critical_illness_ceiling, accumulated.critical_illness),
    )
    left = burden - critical_illness
    assistance = ZERO
    if person.entitled_to_assistance:
        assistance = _capped(
            share(left, params.assistance_ratio),
            _left(params.assistance_ceiling, accumulated.assistance),
        )
    left -= assistance
    commercial_deductible = commercial = ZERO
    if person.commercial_insured:
        commercial_deductible = min(
            left, _left(params.commercial_deductible, accumulated.commercial_deductible)
        )
        commercial = _capped(
            share(left - commercial_deductible, params.commercial_ratio),
            _left(params.commercial_ceiling, accumulated.commercial),
        )
    payers = fund + critical_illness + assistance + commercial
    return Breakdown(
        lines=results,
        total=total,
        full_self_pay=total_of("full_self_pay"),
        over_standard=total_of("over_standard"),
        payable_base=total_of("payable_base"),
        first_self_pay=first_self_pay,
        in_policy=in_policy,
        deductible=deductible,
        co_pay=co_pay,
        over_ceiling=over_ceiling,
        fund=fund,
        critical_illness=critical_illness,
        assistance=assistance,
        commercial=commercial,
        personal=total - payers,
        used=Accumulated(
            deductible=deductible,
            fund=fund,
            critical_illness_deductible=ci_deductible,
            critical_illness=critical_illness,
            assistance=assistance,
            commercial_deductible=commercial_deductible,
            commercial=commercial,
        ),
    )
