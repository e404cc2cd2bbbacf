"""Properties of the benefit engine over random lines, parameters and accumulators (Hypothesis):
the parts sum to the total, none is negative, the fund never pays more than the payable base, no
ceiling is exceeded, and settling then reversing leaves every accumulator where it was."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from dualchannel.settlement.engine import (
    ZERO,
    Accumulated,
    LineInput,
    Parameters,
    Person,
    calculate,
)

fen = st.integers(min_value=0, max_value=5_000_000).map(lambda n: Decimal(n).scaleb(-2))
positive_fen = st.integers(min_value=1, max_value=2_000_000).map(lambda n: Decimal(n).scaleb(-2))
ratio = st.integers(min_value=0, max_value=10_000).map(lambda n: Decimal(n).scaleb(-4))
ceiling = st.one_of(st.none(), fen)


@st.composite
def lines(draw):
    count = draw(st.integers(min_value=1, max_value=5))
    result = []
    for n in range(count):
        price = draw(positive_fen)
        quantity = draw(st.integers(min_value=1, max_value=30))
        standard = draw(st.one_of(st.none(), positive_fen))
        result.append(
            LineInput(
                key=str(n),
                amount=price * quantity,
                standard_amount=None if standard is None else standard * quantity,
                drug_class=draw(st.sampled_from(["甲", "乙"])),
                self_pay_reason=draw(st.sampled_from(["", "", "", "no_prescription"])),
            )
        )
    return result


parameters = st.builds(
    Parameters,
    deductible=fen,
    fund_ratio=ratio,
    annual_ceiling=ceiling,
    first_self_pay_ratio=ratio,
    critical_illness_deductible=fen,
    critical_illness_ratio=ratio,
    critical_illness_ceiling=ceiling,
    assistance_ratio=ratio,
    assistance_ceiling=ceiling,
    commercial_deductible=fen,
    commercial_ratio=ratio,
    commercial_ceiling=ceiling,
)
accumulated = st.builds(
    Accumulated,
    deductible=fen,
    fund=fen,
    critical_illness_deductible=fen,
    critical_illness=fen,
    assistance=fen,
    commercial_deductible=fen,
    commercial=fen,
)
people = st.builds(Person, entitled_to_assistance=st.booleans(), commercial_insured=st.booleans())


def _within(value: Decimal, limit: Decimal | None, used: Decimal) -> bool:
    return limit is None or value <= max(limit - used, ZERO)


@settings(max_examples=400, deadline=None)
@given(lines(), parameters, accumulated, people)
def test_parts_sum_to_the_total_and_none_is_negative(rows, params, acc, person):
    result = calculate(rows, params, acc, person)

    assert sum(result.basic_parts) == result.total == sum(r.amount for r in rows)
    assert sum(result.payers) == result.total
    for part in (*result.basic_parts, *result.payers):
        assert part >= 0 and part == part.quantize(Decimal("0.01"))
    for line in result.lines:
        assert line.full_self_pay + line.over_standard + line.first_self_pay + line.in_policy == (
            line.amount
        )
        assert min(line.full_self_pay, line.over_standard, line.first_self_pay) >= 0
        assert line.in_policy >= 0


@settings(max_examples=400, deadline=None)
@given(lines(), parameters, accumulated, people)
def test_the_fund_never_pays_above_the_payable_base_and_no_ceiling_is_exceeded(
    rows, params, acc, person
):
    result = calculate(rows, params, acc, person)

    assert result.fund <= result.in_policy <= result.payable_base
    assert _within(result.fund, params.annual_ceiling, acc.fund)
    assert _within(result.critical_illness, params.critical_illness_ceiling, acc.critical_illness)
    assert _within(result.assistance, params.assistance_ceiling, acc.assistance)
    assert _within(result.commercial, params.commercial_ceiling, acc.commercial)
    assert result.deductible <= max(params.deductible - acc.deductible, ZERO)
    # layers cover only the in-policy burden, never the out-of-policy self-pay
    layers = result.critical_illness + result.assistance + result.commercial
    assert layers <= result.total - result.fund - result.full_self_pay - result.over_standard
    assert result.personal >= result.full_self_pay + result.over_standard
    if not person.entitled_to_assistance:
        assert result.assistance == 0
    if not person.commercial_insured:
        assert result.commercial == 0


@settings(max_examples=300, deadline=None)
@given(lines(), lines(), parameters, accumulated, people)
def test_settle_then_reverse_restores_every_accumulator(first, second, params, acc, person):
    # two settlements in a row, then the first reversed: back to where the second alone left it
    one = calculate(first, params, acc, person)
    after_one = acc.plus(one.used)
    two = calculate(second, params, after_one, person)
    after_two = after_one.plus(two.used)

    assert after_two.minus(two.used).minus(one.used) == acc
    # a settlement never makes an accumulator pass its ceiling
    assert _within(after_one.fund - acc.fund, params.annual_ceiling, acc.fund)
    for name in vars(one.used):
        assert getattr(one.used, name) >= 0


@settings(max_examples=200, deadline=None)
@given(lines(), parameters, accumulated, people)
def test_the_same_input_gives_the_same_breakdown(rows, params, acc, person):
    assert calculate(rows, params, acc, person) == calculate(list(rows), params, acc, person)
