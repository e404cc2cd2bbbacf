"""医保医师 and responsible physicians: registering, the prescriber rule of each profile, the
annual assessment's effect on standing, and the hospital's physicians page [HB art. 6, 13–15,
20, 42; AH annex 3(1); CX art. 20]."""

from __future__ import annotations

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.registry.designations import failed_assessment, physician_standing
from dualchannel.registry.models import (
    DesignationStatus,
    Physician,
    PhysicianAssessment,
    PrescriberRule,
    TitleRank,
)
from dualchannel.registry.services import physician_assess, physician_register
from dualchannel.registry.tests.factories import (
    DesignationFactory,
    PhysicianFactory,
    designate,
    region,
)

pytestmark = pytest.mark.django_db


def _register(actor, hospital, title=TitleRank.RESIDENT, code="Y0001"):
    return physician_register(
        actor=actor,
        hospital=hospital,
        name="王医保",
        staff_code=code,
        department="内分泌科",
        title=title,
        practising_certificate_no="110420100009",
    )


def _responsible(hospital, **kwargs):
    physician = PhysicianFactory(hospital=hospital, **kwargs)
    DesignationFactory(institution=None, physician=physician, status=DesignationStatus.ACTIVE)
    return physician


def test_seed_prescriber_rules(profiles):
    """HB art. 13–15, 42: any 医保医师 for drugs not separately paid; AH annex 3(1) and CX art.
    20: the responsible physician for every dual-channel drug; no seed allows a team under
    three-fixed (HB art. 6)."""
    assert profiles["420000"].prescriber_rule == PrescriberRule.INSURANCE_PHYSICIAN
    assert profiles["340000"].prescriber_rule == PrescriberRule.RESPONSIBLE_ONLY
    assert profiles["532300"].prescriber_rule == PrescriberRule.RESPONSIBLE_ONLY
    assert profiles["370000"].prescriber_rule == PrescriberRule.RESPONSIBLE_ONLY
    for profile in profiles.values():
        assert profile.three_fixed_team_allowed is False
        assert "prescriber_rule" in profile.citations
        assert "three_fixed_team_allowed" in profile.citations


def test_hb_art14_reviewer_registers_an_insurance_physician_without_designation(
    profiles, reviewer_user, hospital
):
    """HB art. 14, 42: a 医保医师 is registered with their title, no title floor and no
    designation round (that is for responsible physicians, HB art. 20)."""
    designate(hospital)

    physician = _register(reviewer_user, hospital)

    assert physician.title == TitleRank.RESIDENT
    assert not physician.designations.exists()
    assert physician_standing(physician).reason == "not_designated"
    event = AuditEvent.objects.get(action="registry.physician_registered")
    assert event.summary["title"] == TitleRank.RESIDENT


def test_registering_refuses_bad_input_and_writes_nothing(profiles, reviewer_user, hospital):
    """Bad input: a title that does not exist, a duplicate staff code — code and Chinese message."""
    with pytest.raises(DomainError) as bad_title:
        _register(reviewer_user, hospital, title=9)
    assert bad_title.value.code == "registry.invalid_field"
    assert bad_title.value.fields["title"] == ["职称无效"]
    _register(reviewer_user, hospital)
    with pytest.raises(DomainError) as duplicate:
        _register(reviewer_user, hospital)
    assert duplicate.value.code == "registry.duplicate_staff_code"
    assert Physician.objects.count() == 1


def test_outsider_reviewer_cannot_register_at_another_hospital(
    profiles, outsider_reviewer, hospital
):
    with pytest.raises(DomainError) as refused:
        _register(outsider_reviewer, hospital)
    assert refused.value.status == 404
    assert not Physician.objects.exists()


def test_cx_art20_failed_assessment_suspends_until_a_later_pass(profiles, reviewer_user, hospital):
    """CX art. 20: the latest annual assessment decides; failed suspends the standing."""
    physician = _responsible(hospital)
    assert physician_standing(physician).ok

    physician_assess(actor=reviewer_user, physician=physician, year=2025, result="failed")

    standing = physician_standing(physician)
    assert (standing.ok, standing.reason, standing.failed_year) == (
        False,
        "assessment_failed",
        2025,
    )
    assert failed_assessment(physician).assessed_by == reviewer_user
    physician_assess(actor=reviewer_user, physician=physician, year=2026, result="passed")
    assert physician_standing(physician).ok


def test_hb_art20_standing_rechecks_the_title_against_the_profile(profiles, hospital):
    """HB art. 20(1): a responsible physician below the profile's title is not in standing."""
    physician = _responsible(hospital, title=TitleRank.ATTENDING)

    standing = physician_standing(physician, profiles["420000"])

    assert standing.reason == "title_below_minimum"
    assert "副主任医师" in standing.message


def test_assessment_bad_input_is_refused(profiles, reviewer_user, hospital):
    physician = _responsible(hospital)
    with pytest.raises(DomainError) as bad_result:
        physician_assess(actor=reviewer_user, physician=physician, year=2025, result="maybe")
    assert bad_result.value.code == "registry.invalid_field"
    with pytest.raises(DomainError) as bad_year:
        physician_assess(actor=reviewer_user, physician=physician, year=1999, result="failed")
    assert bad_year.value.code == "registry.invalid_year"
    assert not PhysicianAssessment.objects.exists()


# --- API ---------------------------------------------------------------------------------------


def test_api_registers_an_insurance_physician_and_shows_standing(
    profiles, api_client, reviewer_user, hospital
):
    """HB art. 42 / CX art. 20 through the API: ``responsible: false`` registers a 医保医师; the
    physician's answer carries the standing and the assessments (year, result, by whom)."""
    client = api_client.as_user(reviewer_user)
    resp = client.post_json(
        "/api/v1/registry/physicians",
        {
            "hospital_id": hospital.pk,
            "name": "王医保",
            "staff_code": "Y0002",
            "department": "内分泌科",
            "title": "RESIDENT",
            "practising_certificate_no": "110420100010",
            "responsible": False,
        },
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["standing"] == "not_designated"
    assert resp.json()["designation_status"] is None

    responsible = _responsible(hospital, name="李责任")
    resp = client.post_json(
        f"/api/v1/registry/physicians/{responsible.pk}/assessments",
        {"year": 2025, "result": "failed", "note": "处方点评不合格"},
    )
    assert resp.status_code == 201
    assert resp.json()["assessed_by"] == reviewer_user.username
    detail = client.get(f"/api/v1/registry/physicians/{responsible.pk}").json()
    assert detail["standing"] == "assessment_failed"
    assert "2025年度考核不合格" in detail["standing_message"]
    assert [(a["year"], a["result"]) for a in detail["assessments"]] == [(2025, "failed")]


# --- the page ----------------------------------------------------------------------------------


def test_hospital_physicians_page_registers_and_assesses(profiles, client, reviewer_user, hospital):
    """The hospital insurance office's page [HB art. 14, 42; CX art. 20]."""
    responsible = _responsible(hospital, name="李责任")
    client.force_login(reviewer_user)

    page = client.get("/hospital/physicians/")
    assert page.status_code == 200
    assert "李责任" in page.content.decode()

    resp = client.post(
        "/hospital/physicians/new/",
        {
            "hospital_id": hospital.pk,
            "name": "王医保",
            "staff_code": "Y0003",
            "department": "内分泌科",
            "title": "1",
            "practising_certificate_no": "110420100011",
            "responsible": "0",
        },
    )
    assert resp.status_code == 302
    assert Physician.objects.get(staff_code="Y0003").designations.count() == 0

    resp = client.post(
        f"/hospital/physicians/{responsible.pk}/assessments/",
        {"year": "2025", "result": "failed", "note": ""},
    )
    assert resp.status_code == 302
    html = client.get("/hospital/physicians/").content.decode()
    assert "2025年度考核不合格" in html and "王医保" in html


def test_hospital_physicians_page_refuses_a_bad_year(profiles, client, reviewer_user, hospital):
    responsible = _responsible(hospital)
    client.force_login(reviewer_user)

    resp = client.post(
        f"/hospital/physicians/{responsible.pk}/assessments/",
        {"year": "去年", "result": "failed"},
        HTTP_REFERER="/hospital/physicians/",
        follow=True,
    )

    assert "请填写考核年度" in resp.content.decode()
    assert not PhysicianAssessment.objects.exists()


def test_physician_cannot_open_the_hospital_physicians_page(client, physician_user):
    client.force_login(physician_user)
    assert client.get("/hospital/physicians/").status_code == 403


def test_cx_art20_the_agency_sees_the_suspension_on_the_institution_page(
    profiles, client, agency_user, hospital
):
    """CX art. 20 / HB art. 46: the officer sees which responsible physicians are suspended."""
    region("420102")
    physician = _responsible(hospital, name="孙责任")
    PhysicianAssessment.objects.create(physician=physician, year=2025, result="failed")
    client.force_login(agency_user)

    html = client.get(f"/agency/institutions/{hospital.pk}/").content.decode()

    assert "孙责任" in html and "2025年度考核不合格，责任医师资格暂停" in html
