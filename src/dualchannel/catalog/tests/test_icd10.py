from dualchannel.catalog.icd10 import diagnoses_starting_with, diagnosis_name


def test_known_code_has_its_name():
    assert diagnosis_name("I10.x00x002") == "高血压"


def test_unknown_code_is_none():
    assert diagnosis_name("Z99.999x999") is None
    assert diagnosis_name("code") is None  # the header row is not a code


def test_codes_under_a_prefix_all_start_with_it():
    found = diagnoses_starting_with("c34", limit=5)

    assert len(found) == 5
    assert all(code.startswith("C34") for code, _ in found)
