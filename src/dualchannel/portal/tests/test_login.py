"""SMS login codes and the phone-keyed patient account."""

from __future__ import annotations

import logging

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent, User
from dualchannel.core.roles import Role
from dualchannel.portal import services
from dualchannel.portal.hashing import code_hash, phone_hash
from dualchannel.portal.models import PatientAccount, PhoneLoginCode

from .conftest import CODE

pytestmark = pytest.mark.django_db

PHONE = "13900000001"


def test_code_is_six_random_digits(sms):
    codes = {services._new_code() for _ in range(50)}

    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 1


def test_request_sends_the_code_by_sms_and_stores_only_hashes(sms, fixed_code, clock):
    issued = services.login_code_request(phone=PHONE)

    row = PhoneLoginCode.objects.get()
    assert sms == [(PHONE, "DC_LOGIN_CODE", {"code": CODE})]
    assert issued.code == CODE
    assert row.phone_hash == phone_hash(PHONE)
    assert row.code_hash == code_hash(row.phone_hash, CODE)
    assert PHONE not in (row.phone_hash + row.code_hash)
    assert row.expires_at == clock.now + services.CODE_TTL == issued.expires_at
    assert row.attempts == 0 and row.consumed_at is None


def test_phone_hash_is_keyed_with_the_secret_key(settings):
    before = phone_hash(PHONE)
    settings.SECRET_KEY = "another-secret-key-for-this-test"

    assert phone_hash(PHONE) != before


@pytest.mark.parametrize("phone", ["1390000000", "12900000001", "139000000012", "abc", ""])
def test_invalid_phone_is_a_field_error_and_nothing_is_sent(sms, phone):
    with pytest.raises(DomainError) as err:
        services.login_code_request(phone=phone)

    assert err.value.code == "portal.invalid_phone"
    assert "phone" in err.value.fields
    assert sms == [] and not PhoneLoginCode.objects.exists()


def test_phone_with_country_code_and_spaces_is_accepted(sms, fixed_code):
    services.login_code_request(phone="+86 139 0000 0001")

    assert PhoneLoginCode.objects.get().phone_hash == phone_hash(PHONE)


def test_a_second_code_within_60_seconds_is_refused(sms, clock):
    services.login_code_request(phone=PHONE)
    clock.advance(seconds=59)

    with pytest.raises(DomainError) as err:
        services.login_code_request(phone=PHONE)

    assert err.value.code == "portal.too_many_codes" and err.value.status == 429
    assert PhoneLoginCode.objects.count() == 1 and len(sms) == 1


def test_a_second_code_after_60_seconds_is_sent(sms, clock):
    services.login_code_request(phone=PHONE)
    clock.advance(seconds=61)

    services.login_code_request(phone=PHONE)

    assert PhoneLoginCode.objects.count() == 2 and len(sms) == 2


def test_the_throttle_is_per_phone(sms, clock):
    services.login_code_request(phone=PHONE)

    services.login_code_request(phone="13900000002")

    assert PhoneLoginCode.objects.count() == 2


def test_at_most_ten_codes_per_phone_per_day(sms, clock):
    for _ in range(10):
        services.login_code_request(phone=PHONE)
        clock.advance(minutes=2)

    with pytest.raises(DomainError) as err:
        services.login_code_request(phone=PHONE)

    assert err.value.code == "portal.too_many_codes"
    assert PhoneLoginCode.objects.count() == 10
    clock.advance(hours=14)  # past midnight in Shanghai: a new day's allowance
    services.login_code_request(phone=PHONE)
    assert PhoneLoginCode.objects.count() == 11


def test_a_failed_sms_leaves_no_code_and_no_spent_allowance(settings, clock):
    settings.SMS_PROVIDER = "dualchannel.portal.tests.conftest.FailingSmsProvider"

    with pytest.raises(DomainError) as err:
        services.login_code_request(phone=PHONE)

    assert err.value.code == "portal.sms_failed" and err.value.status == 503
    assert not PhoneLoginCode.objects.exists()


def test_login_creates_a_patient_user_keyed_by_the_phone_hash(sms, fixed_code, clock):
    services.login_code_request(phone=PHONE)

    user = services.patient_login(phone=PHONE, code=CODE)

    account = PatientAccount.objects.get(user=user)
    assert account.phone_hash == phone_hash(PHONE)
    assert user.username == f"p_{account.phone_hash[:20]}"
    assert PHONE not in user.username
    assert not user.has_usable_password()
    assert user.has_role(Role.PATIENT)
    assert user.insured_person is None
    assert PhoneLoginCode.objects.get().consumed_at == clock.now
    event = AuditEvent.objects.get(action="portal.account_created")
    assert event.actor == user and event.subject_id == str(account.pk)


def test_second_login_with_the_same_phone_is_the_same_user(sms, fixed_code, clock):
    services.login_code_request(phone=PHONE)
    first = services.patient_login(phone=PHONE, code=CODE)
    clock.advance(minutes=2)
    services.login_code_request(phone=PHONE)

    second = services.patient_login(phone=PHONE, code=CODE)

    assert second == first
    assert User.objects.filter(patient_account__isnull=False).count() == 1
    assert AuditEvent.objects.filter(action="portal.account_created").count() == 1


def test_a_code_works_once(sms, fixed_code, clock):
    services.login_code_request(phone=PHONE)
    services.patient_login(phone=PHONE, code=CODE)

    with pytest.raises(DomainError) as err:
        services.patient_login(phone=PHONE, code=CODE)

    assert err.value.code == "portal.code_expired"


def test_a_code_expires_after_five_minutes(sms, fixed_code, clock):
    services.login_code_request(phone=PHONE)
    clock.advance(minutes=5)

    with pytest.raises(DomainError) as err:
        services.patient_login(phone=PHONE, code=CODE)

    assert err.value.code == "portal.code_expired"
    assert not User.objects.exists()


def test_a_code_is_valid_just_before_it_expires(sms, fixed_code, clock):
    services.login_code_request(phone=PHONE)
    clock.advance(minutes=4, seconds=59)

    assert services.patient_login(phone=PHONE, code=CODE).has_role(Role.PATIENT)


def test_a_wrong_code_counts_an_attempt(sms, fixed_code, clock):
    services.login_code_request(phone=PHONE)

    with pytest.raises(DomainError) as err:
        services.patient_login(phone=PHONE, code="000000")

    assert err.value.code == "portal.invalid_code" and "code" in err.value.fields
    assert PhoneLoginCode.objects.get().attempts == 1
    assert not User.objects.exists()


def test_a_code_dies_after_five_wrong_tries(sms, fixed_code, clock):
    services.login_code_request(phone=PHONE)
    refusals = []
    for _ in range(5):
        with pytest.raises(DomainError) as err:
            services.patient_login(phone=PHONE, code="000000")
        refusals.append(err.value.code)

    with pytest.raises(DomainError) as err:
        services.patient_login(phone=PHONE, code=CODE)  # the right code, too late

    assert refusals == ["portal.invalid_code"] * 4 + ["portal.code_expired"]
    assert err.value.code == "portal.code_expired"
    assert PhoneLoginCode.objects.get().attempts == 5
    assert not User.objects.exists()


def test_a_new_code_replaces_the_previous_one(sms, clock, monkeypatch):
    monkeypatch.setattr(services, "_new_code", lambda: "111111")
    services.login_code_request(phone=PHONE)
    clock.advance(seconds=61)
    monkeypatch.setattr(services, "_new_code", lambda: "222222")
    services.login_code_request(phone=PHONE)

    with pytest.raises(DomainError):
        services.patient_login(phone=PHONE, code="111111")

    assert services.patient_login(phone=PHONE, code="222222").has_role(Role.PATIENT)


def test_a_code_is_bound_to_its_phone(sms, fixed_code, clock):
    services.login_code_request(phone=PHONE)

    with pytest.raises(DomainError) as err:
        services.patient_login(phone="13900000002", code=CODE)

    assert err.value.code == "portal.code_expired"
    assert PhoneLoginCode.objects.get().consumed_at is None


def test_a_disabled_account_cannot_log_in(sms, fixed_code, clock):
    services.login_code_request(phone=PHONE)
    user = services.patient_login(phone=PHONE, code=CODE)
    User.objects.filter(pk=user.pk).update(is_active=False)
    clock.advance(minutes=2)
    services.login_code_request(phone=PHONE)

    with pytest.raises(DomainError) as err:
        services.patient_login(phone=PHONE, code=CODE)

    assert err.value.code == "portal.account_disabled"


def test_neither_code_nor_phone_reaches_the_log(settings, fixed_code, clock, caplog):
    settings.SMS_PROVIDER = "log"  # the demo provider, which writes a log line per SMS
    caplog.set_level(logging.DEBUG)

    services.login_code_request(phone=PHONE)
    with pytest.raises(DomainError):
        services.patient_login(phone=PHONE, code="999999")
    services.patient_login(phone=PHONE, code=CODE)

    assert caplog.records  # the provider and the service did log
    assert "139****0001" in caplog.text
    assert PHONE not in caplog.text
    assert CODE not in caplog.text and "999999" not in caplog.text
