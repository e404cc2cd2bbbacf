from datetime import date

import pytest
from django.utils import timezone

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.registry.models import Institution, InstitutionKind
from dualchannel.registry.services import institution_create, institution_update
from dualchannel.registry.tests.factories import InstitutionFactory, make_credit_code, region


def _create(actor, **kw):
    values = {
        "kind": InstitutionKind.PHARMACY,
        "name": "江岸新药房",
        "credit_code": make_credit_code("420102", 990001),
        "region": "420102",
        "address": "武汉市江岸区解放大道1号",
        "phone": "027-82345678",
        "has_cold_chain": True,
    }
    values.update(kw)
    region("420102")
    return institution_create(actor=actor, **values)


def test_officer_registers_a_pharmacy_with_capabilities(agency_user):
    # when
    pharmacy = _create(agency_user)

    # then
    assert pharmacy.region_id == "420102" and pharmacy.has_cold_chain
    assert pharmacy.hospital_level is None
    event = AuditEvent.objects.get(action="registry.institution_created")
    assert event.subject_id == str(pharmacy.pk) and event.actor == agency_user


@pytest.mark.parametrize(
    "code, message",
    [
        ("12420102000099000X", "校验位"),  # wrong check character
        ("1242010200009900", "18位"),  # too short
        ("12420102000099000O", "字符"),  # letter O is not allowed
        ("", "18位"),
    ],
)
def test_invalid_credit_code_is_a_field_error_and_nothing_is_written(agency_user, code, message):
    before = Institution.objects.count()
    with pytest.raises(DomainError) as exc:
        _create(agency_user, credit_code=code)
    assert exc.value.code == "registry.invalid_credit_code"
    assert message in exc.value.fields["credit_code"][0]
    assert Institution.objects.count() == before
    assert not AuditEvent.objects.filter(action="registry.institution_created").exists()


def test_duplicate_credit_code_is_refused(agency_user, pharmacy):
    with pytest.raises(DomainError) as exc:
        _create(agency_user, credit_code=pharmacy.credit_code)
    assert exc.value.code == "registry.duplicate_credit_code"
    assert "credit_code" in exc.value.fields


def test_hospital_needs_a_level_and_pharmacy_has_none(agency_user):
    with pytest.raises(DomainError) as exc:
        _create(agency_user, kind=InstitutionKind.HOSPITAL)
    assert exc.value.code == "registry.hospital_level_required"
    with pytest.raises(DomainError) as exc:
        _create(agency_user, hospital_level=2)
    assert exc.value.fields.keys() == {"hospital_level"}


def test_officer_cannot_register_outside_their_region(agency_user):
    region("340102")
    with pytest.raises(DomainError) as exc:
        _create(agency_user, region="340102")
    assert exc.value.code == "registry.region_out_of_scope"


def test_institution_must_sit_in_a_county_level_region(agency_user):
    with pytest.raises(DomainError) as exc:
        _create(agency_user, region="420100")
    assert exc.value.code == "registry.invalid_region"


def test_non_officer_cannot_register(reviewer_user):
    with pytest.raises(DomainError) as exc:
        _create(reviewer_user)
    assert exc.value.status == 403


def test_update_changes_capabilities_and_is_audited(agency_user, pharmacy):
    updated = institution_update(
        actor=agency_user, institution=pharmacy, has_biologics_licence=True, phone="13900001111"
    )
    assert updated.has_biologics_licence and updated.phone == "13900001111"
    event = AuditEvent.objects.get(action="registry.institution_updated")
    assert event.summary["fields"] == ["has_biologics_licence", "phone"]


def test_update_with_bad_credit_code_changes_nothing(agency_user, pharmacy):
    old = pharmacy.credit_code
    with pytest.raises(DomainError) as exc:
        institution_update(
            actor=agency_user, institution=pharmacy, credit_code="91110000600037341X", name="新名"
        )
    assert exc.value.code == "registry.invalid_credit_code"
    pharmacy.refresh_from_db()
    assert pharmacy.credit_code == old and pharmacy.name == "江岸演示大药房"


def test_update_cannot_touch_kind(agency_user, pharmacy):
    with pytest.raises(DomainError) as exc:
        institution_update(actor=agency_user, institution=pharmacy, kind="hospital")
    assert exc.value.fields.keys() == {"kind"}


def test_outsider_officer_cannot_update(outsider_agency, pharmacy):
    with pytest.raises(DomainError) as exc:
        institution_update(actor=outsider_agency, institution=pharmacy, name="x")
    assert exc.value.status == 404


@pytest.mark.django_db
def test_only_an_agency_of_a_province_is_a_provincial_agency():
    # given agencies of Hubei province and of Wuhan, and a hospital registered at province level
    province = InstitutionFactory(kind=InstitutionKind.AGENCY, region_code="420000")
    city = InstitutionFactory(kind=InstitutionKind.AGENCY, region_code="420100")
    hospital = InstitutionFactory(kind=InstitutionKind.HOSPITAL, region_code="420000")

    # then only the provincial agency may load national data (core.calendar asks this)
    assert province.is_provincial_agency
    assert not city.is_provincial_agency
    assert not hospital.is_provincial_agency


def test_realtime_and_e_prescription_flags_are_dated(agency_user):
    # SD §5, §7, §10: the monthly table counts a flag from the day it turned on.
    today = timezone.localdate()
    pharmacy = _create(
        agency_user, realtime_settlement=True, realtime_settlement_since=date(2026, 1, 5)
    )
    assert (pharmacy.realtime_settlement_since, pharmacy.e_prescription_since) == (
        date(2026, 1, 5),
        None,
    )

    turned_on = institution_update(
        actor=agency_user, institution=pharmacy, e_prescription_connected=True
    )
    assert turned_on.e_prescription_since == today
    assert turned_on.realtime_settlement_since == date(2026, 1, 5)  # unchanged while on

    turned_off = institution_update(
        actor=agency_user, institution=pharmacy, realtime_settlement=False
    )
    assert turned_off.realtime_settlement_since is None


@pytest.mark.parametrize(
    "changes",
    [
        {"realtime_settlement_since": date(2026, 1, 5)},  # the flag is off
        {"e_prescription_connected": True, "e_prescription_since": date(2999, 1, 1)},  # future
    ],
)
def test_a_flag_date_without_its_flag_or_in_the_future_is_refused(agency_user, pharmacy, changes):
    with pytest.raises(DomainError) as exc:
        institution_update(
            actor=agency_user, institution=pharmacy, realtime_settlement=False, **changes
        )

    assert exc.value.code == "registry.invalid_field"
    pharmacy.refresh_from_db()
    assert (pharmacy.e_prescription_connected, pharmacy.e_prescription_since) == (False, None)
    assert not AuditEvent.objects.filter(action="registry.institution_updated").exists()


def test_the_api_records_and_shows_the_day_a_flag_turned_on(api_client, agency_user, pharmacy):
    client = api_client.as_user(agency_user)

    response = client.patch(
        f"/api/v1/registry/institutions/{pharmacy.pk}",
        {"realtime_settlement": True, "realtime_settlement_since": "2026-01-05"},
        content_type="application/json",
    )
    future = client.patch(
        f"/api/v1/registry/institutions/{pharmacy.pk}",
        {"e_prescription_connected": True, "e_prescription_since": "2999-01-01"},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["realtime_settlement_since"] == "2026-01-05"
    assert future.status_code == 400
    assert future.json()["error"]["code"] == "registry.invalid_field"
    pharmacy.refresh_from_db()
    assert (pharmacy.e_prescription_connected, pharmacy.e_prescription_since) == (False, None)
