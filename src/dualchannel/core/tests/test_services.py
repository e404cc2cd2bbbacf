"""Core's writes that other apps ask for (issue 10): a patient's login and its binding."""

from __future__ import annotations

import pytest

from dualchannel.core.errors import Conflict
from dualchannel.core.models import AuditEvent, User
from dualchannel.core.roles import Role
from dualchannel.core.services import (
    user_bind_insured_person,
    user_create_patient,
    user_create_staff,
)
from dualchannel.registry.tests.factories import InsuredPersonFactory

pytestmark = pytest.mark.django_db


def test_a_patient_login_has_no_password_and_the_patient_role():
    user = user_create_patient(username="p_0123456789abcdef0123")

    user = User.objects.get(pk=user.pk)
    assert not user.has_usable_password()
    assert user.role_set == {Role.PATIENT}


def test_a_login_is_bound_once_and_not_to_another_person():
    user = user_create_patient(username="p_0123456789abcdef0123")
    person, other = InsuredPersonFactory(), InsuredPersonFactory()

    bound = user_bind_insured_person(user_id=user.pk, person_id=person.pk)
    assert bound.insured_person == person
    assert user_bind_insured_person(user_id=user.pk, person_id=person.pk).insured_person == person

    with pytest.raises(Conflict) as refused:
        user_bind_insured_person(user_id=user.pk, person_id=other.pk)

    assert refused.value.code == "core.user_already_bound"
    user.refresh_from_db()
    assert user.insured_person == person


def test_a_staff_login_has_its_password_roles_and_one_audit_event():
    user = user_create_staff(
        actor=None,
        username="reviewer2",
        display_name="王审核",
        password="a-long-Passw0rd",
        roles=(Role.REVIEWER,),
    )

    user = User.objects.get(pk=user.pk)
    assert user.check_password("a-long-Passw0rd") and not user.otp_exempt
    assert user.role_set == {Role.REVIEWER}
    (event,) = AuditEvent.objects.filter(action="core.user_created")
    assert event.summary == {"roles": [Role.REVIEWER], "otp_exempt": False}
