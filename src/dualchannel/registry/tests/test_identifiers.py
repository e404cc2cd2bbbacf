"""The synthetic identifiers of the demo and its HIS pass the registry's own validation."""

from __future__ import annotations

from datetime import date

from dualchannel.registry.identifiers import synthetic_credit_code, synthetic_id_number
from dualchannel.registry.models import Sex
from dualchannel.registry.validation import clean_credit_code, parse_id_number


def test_a_synthetic_id_number_is_valid_and_carries_birth_date_and_sex():
    # given the demo's 李秀英 (Wuhan Jiang'an, born 1948, serial 4, female)
    number = synthetic_id_number("420102", date(1948, 11, 9), 4, False)

    # then the registry accepts it and reads her birth date and sex from it
    facts = parse_id_number(number, today=date(2026, 1, 5))
    assert facts.number == number and number.startswith("42010219481109042")
    assert (facts.birth_date, facts.sex, facts.place_code) == (
        date(1948, 11, 9),
        Sex.FEMALE,
        "420102",
    )
    assert parse_id_number(synthetic_id_number("420102", date(1962, 3, 14), 1, True)).sex == (
        Sex.MALE
    )


def test_a_synthetic_credit_code_is_valid_and_marks_a_public_institution():
    code = synthetic_credit_code("420100", 2)

    assert clean_credit_code(code) == code
    assert code.startswith("12420100000000002") and len(code) == 18
