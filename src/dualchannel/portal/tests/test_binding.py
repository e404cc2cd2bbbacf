"""Identity binding: ID number and exact name against the registry, plus the login phone."""

from __future__ import annotations

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.portal import services
from dualchannel.portal.models import BindingAttempt
from dualchannel.registry.tests.factories import InsuredPersonFactory, make_id_number

from .conftest import CODE

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(db):
    return InsuredPersonFactory(name="张三", phone="13900000001")


def log_in(phone: str):
    services.login_code_request(phone=phone)
    return services.patient_login(phone=phone, code=CODE)


@pytest.fixture
def patient(sms, fixed_code, person):
    """A patient who logged in with the phone on record for ``person``."""
    return log_in(person.phone)


def test_binding_links_the_user_to_the_person_and_audits_it(patient, person):
    bound = services.identity_bind(actor=patient, id_number=person.id_number, name="张三")

    patient.refresh_from_db()
    assert bound == person and patient.insured_person == person
    event = AuditEvent.objects.get(action="portal.identity_bound")
    assert event.patient == person and event.actor == patient
    assert event.actor_role == Role.PATIENT
    assert not BindingAttempt.objects.exists()


def test_binding_accepts_a_lower_case_x_and_spaces(sms, fixed_code):
    birth = InsuredPersonFactory.birth_date
    numbers = (make_id_number("420102", birth, serial) for serial in range(200))
    number = next(n for n in numbers if n.endswith("X"))
    person = InsuredPersonFactory(name="李四", phone="13900000009", id_number=number)
    user = log_in("13900000009")

    services.identity_bind(actor=user, id_number=f" {number.lower()} ", name=" 李四 ")

    user.refresh_from_db()
    assert user.insured_person == person


def test_binding_the_same_person_again_is_harmless(patient, person):
    services.identity_bind(actor=patient, id_number=person.id_number, name="张三")

    services.identity_bind(actor=patient, id_number=person.id_number, name="张三")

    assert AuditEvent.objects.filter(action="portal.identity_bound").count() == 1


def _refusal(user, id_number, name) -> DomainError:
    with pytest.raises(DomainError) as err:
        services.identity_bind(actor=user, id_number=id_number, name=name)
    return err.value


def test_wrong_name_and_unknown_number_get_the_same_answer(patient, person):
    unknown = make_id_number("420102", person.birth_date, 98)

    wrong_name = _refusal(patient, person.id_number, "张四")
    not_found = _refusal(patient, unknown, "张三")

    assert wrong_name.code == not_found.code == "portal.identity_mismatch"
    assert wrong_name.message == not_found.message
    assert wrong_name.fields == not_found.fields == {}
    patient.refresh_from_db()
    assert patient.insured_person is None
    assert not AuditEvent.objects.filter(action="portal.identity_bound").exists()
    assert BindingAttempt.objects.filter(user=patient).count() == 2


def test_an_invalid_id_number_is_a_field_error(patient):
    error = _refusal(patient, "420102199003071235", "张三")

    assert error.code == "registry.invalid_id_number" and "id_number" in error.fields
    patient.refresh_from_db()
    assert patient.insured_person is None


def test_an_empty_name_is_a_field_error(patient, person):
    error = _refusal(patient, person.id_number, "  ")

    assert error.code == "portal.invalid_name" and "name" in error.fields


def test_a_person_bound_to_another_user_is_refused(patient, person):
    other = UserFactory(insured_person=person, roles=[Role.PATIENT])

    error = _refusal(patient, person.id_number, "张三")

    assert error.code == "portal.already_bound"
    patient.refresh_from_db()
    other.refresh_from_db()
    assert patient.insured_person is None and other.insured_person == person


def test_a_login_phone_other_than_the_registry_phone_is_refused(sms, fixed_code, person):
    stranger = log_in("13700000000")  # knows the ID number and name, not the phone

    error = _refusal(stranger, person.id_number, "张三")

    assert error.code == "portal.phone_mismatch"
    stranger.refresh_from_db()
    assert stranger.insured_person is None
    assert BindingAttempt.objects.get(user=stranger).code == "portal.phone_mismatch"


def test_any_login_phone_binds_when_the_registry_has_no_phone(sms, fixed_code):
    person = InsuredPersonFactory(name="王五", phone="")
    user = log_in("13700000000")

    services.identity_bind(actor=user, id_number=person.id_number, name="王五")

    user.refresh_from_db()
    assert user.insured_person == person


def test_a_user_already_bound_cannot_bind_someone_else(patient, person):
    services.identity_bind(actor=patient, id_number=person.id_number, name="张三")
    other = InsuredPersonFactory(name="赵六", phone="")

    error = _refusal(patient, other.id_number, "赵六")

    assert error.code == "portal.user_already_bound"
    patient.refresh_from_db()
    assert patient.insured_person == person


def test_five_failures_a_day_then_even_the_right_answer_is_refused(patient, person, clock):
    for _ in range(5):
        assert _refusal(patient, person.id_number, "张四").code == "portal.identity_mismatch"

    error = _refusal(patient, person.id_number, "张三")

    assert error.code == "portal.too_many_attempts" and error.status == 429
    patient.refresh_from_db()
    assert patient.insured_person is None
    assert BindingAttempt.objects.filter(user=patient).count() == 5
    clock.advance(days=1)
    services.identity_bind(actor=patient, id_number=person.id_number, name="张三")
    patient.refresh_from_db()
    assert patient.insured_person == person


def test_only_patients_may_bind(physician_user, person):
    error = _refusal(physician_user, person.id_number, "张三")

    assert error.code == "permission_denied"
    physician_user.refresh_from_db()
    assert physician_user.insured_person is None
