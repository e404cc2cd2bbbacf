from datetime import date

import pytest
from stdnum.cn import ric

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.registry.models import EnrolmentChange, InsuredPerson, Sex
from dualchannel.registry.services import insured_person_create, insured_person_update
from dualchannel.registry.tests.factories import make_id_number, region
from dualchannel.registry.validation import parse_id_number


def _valid(birth=date(1990, 3, 7), sex=Sex.FEMALE, serial=23):
    return make_id_number("420102", birth, serial, sex)


def test_id_number_gives_birth_date_and_sex():
    facts = parse_id_number(_valid())
    assert facts.birth_date == date(1990, 3, 7)
    assert facts.sex == Sex.FEMALE
    assert parse_id_number(_valid(sex=Sex.MALE)).sex == Sex.MALE  # odd 17th digit


def test_older_people_with_codes_created_later_are_accepted():
    # Numbers were issued at registration (1984 on): a person born 1950 has a 1983+ code.
    facts = parse_id_number(make_id_number("420102", date(1950, 1, 2), 1))
    assert facts.birth_date == date(1950, 1, 2)


@pytest.fixture(autouse=True)
def _regions(db):
    region("420102")


def test_officer_registers_person_with_derived_fields(agency_user):
    # when
    person = insured_person_create(
        actor=agency_user,
        id_number=_valid().lower(),
        name="李四",
        insurance_type="390",
        enrolment_region="420102",
        phone="13912345678",
    )

    # then: sex and birth date come from the number, person_no is assigned
    assert (person.sex, person.birth_date) == (Sex.FEMALE, date(1990, 3, 7))
    assert person.person_no.startswith("420102")
    event = AuditEvent.objects.get(action="registry.insured_person_created")
    assert event.patient == person
    assert "李四" not in str(event.summary)


def _bad_check_digit():
    number = _valid()
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


@pytest.mark.parametrize(
    "number, message",
    [
        (_bad_check_digit(), "校验位"),
        ("42010219900230" + "0231", "出生日期"),  # 30 February (check digit fixed below)
        ("4201021990030712", "18位"),
        ("42010219900307123", "18位"),
        ("4201021990030712A5", "数字"),
        ("999999199003071236", "地址码"),
    ],
)
def test_invalid_id_number_is_a_field_error_and_nothing_written(agency_user, number, message):

    if len(number) == 18 and number[:17].isdigit() and message != "校验位":
        number = number[:17] + ric.calc_check_digit(number[:17] + "0")
    with pytest.raises(DomainError) as exc:
        insured_person_create(
            actor=agency_user,
            id_number=number,
            name="王五",
            insurance_type="310",
            enrolment_region="420102",
        )
    assert exc.value.code == "registry.invalid_id_number"
    assert message in exc.value.fields["id_number"][0]
    assert not InsuredPerson.objects.exists()
    assert not AuditEvent.objects.exists()


def test_birth_date_in_the_future_is_refused():
    number = make_id_number("420102", date(2030, 1, 1), 3)
    with pytest.raises(DomainError) as exc:
        parse_id_number(number, today=date(2026, 1, 1))
    assert exc.value.code == "registry.invalid_id_number"


def test_insurance_type_must_be_310_or_390(agency_user):
    with pytest.raises(DomainError) as exc:
        insured_person_create(
            actor=agency_user,
            id_number=_valid(),
            name="王五",
            insurance_type="320",
            enrolment_region="420102",
        )
    assert exc.value.fields.keys() == {"insurance_type"}


def test_duplicate_id_number_is_refused(agency_user, insured_person):
    with pytest.raises(DomainError) as exc:
        insured_person_create(
            actor=agency_user,
            id_number=insured_person.id_number,
            name="重复",
            insurance_type="310",
            enrolment_region="420102",
        )
    assert exc.value.code == "registry.duplicate_id_number"


def test_correcting_the_id_number_rederives_sex_and_birth(agency_user, insured_person):
    new = make_id_number("420102", date(1985, 12, 31), 44, Sex.FEMALE)
    person = insured_person_update(actor=agency_user, person=insured_person, id_number=new)
    assert (person.sex, person.birth_date) == (Sex.FEMALE, date(1985, 12, 31))


def test_sex_cannot_be_typed(agency_user, insured_person):
    with pytest.raises(DomainError) as exc:
        insured_person_update(actor=agency_user, person=insured_person, sex="2")
    assert exc.value.fields.keys() == {"sex"}


def test_outsider_officer_cannot_register_in_another_region(outsider_agency):
    with pytest.raises(DomainError) as exc:
        insured_person_create(
            actor=outsider_agency,
            id_number=_valid(),
            name="王五",
            insurance_type="310",
            enrolment_region="420102",
        )
    assert exc.value.code == "registry.region_out_of_scope"


def test_a_correction_may_not_move_the_enrolment_region_hb_art_50(agency_user, insured_person):
    """HB art. 50: a change of enrolment region is a transfer of the insurance relation (dated,
    with history, the eligibilities moving with it); a correction refuses it, nothing written,
    and the message points to the transfer page."""
    region("420106")
    events = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        insured_person_update(
            actor=agency_user, person=insured_person, name="改名", enrolment_region="420106"
        )

    assert refused.value.code == "registry.enrolment_change_by_transfer"
    assert "参保关系转移与用药资格" in refused.value.message
    assert refused.value.fields == {"enrolment_region": [refused.value.message]}
    insured_person.refresh_from_db()
    assert insured_person.enrolment_region_id == "420102" and insured_person.name != "改名"
    assert not EnrolmentChange.objects.exists() and AuditEvent.objects.count() == events


def test_a_correction_that_repeats_the_enrolment_region_is_accepted(agency_user, insured_person):
    """HB art. 50: only a move needs the transfer; the same region sent back with a correction
    (a form sends every field) changes nothing of it."""
    person = insured_person_update(
        actor=agency_user, person=insured_person, name="李四", enrolment_region="420102"
    )

    assert (person.name, person.enrolment_region_id) == ("李四", "420102")
    assert not EnrolmentChange.objects.exists()
