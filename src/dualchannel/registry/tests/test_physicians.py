from datetime import date

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.registry.models import (
    DesignationStatus,
    ExitReason,
    Physician,
    PhysicianAssessment,
    TitleRank,
)
from dualchannel.registry.services import (
    designation_apply,
    designation_transition,
    physician_assess,
    physician_file,
    profile_update,
)
from dualchannel.registry.tests.factories import designate, qualified_hospital, region

S = DesignationStatus


def _file(actor, hospital, title, code="D0001"):
    return physician_file(
        actor=actor,
        hospital=hospital,
        name="赵医生",
        staff_code=code,
        department="肿瘤科",
        title=title,
        practising_certificate_no="110420100001",
    )


def test_reviewer_files_physician_and_officer_accepts(
    profiles, reviewer_user, agency_user, hospital
):
    # given: the hospital is a designated dual-channel hospital
    designate(hospital)

    # when
    physician = _file(reviewer_user, hospital, TitleRank.ASSOCIATE_CHIEF)
    d = physician.designations.get()
    d = designation_transition(actor=agency_user, designation=d, to_status=S.ACTIVE)

    # then
    assert d.status == S.ACTIVE and d.effective_from is not None
    assert list(d.history.values_list("to_status", flat=True)) == [S.APPLIED, S.ACTIVE]
    assert AuditEvent.objects.filter(action="registry.physician_filed").count() == 1


def test_hb_art20_attending_refused_without_relaxation(profiles, reviewer_user, hospital):
    with pytest.raises(DomainError) as exc:
        _file(reviewer_user, hospital, TitleRank.ATTENDING)
    assert exc.value.code == "registry.title_below_minimum"
    assert "副主任医师" in exc.value.fields["title"][0]
    assert not Physician.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="registry.physician").exists()


def test_hb_art20_relaxation_admits_attending_but_not_resident(
    profiles, reviewer_user, agency_user, hospital
):
    # given: Wuhan relaxes the title to 主治医师 "根据当地实际"
    profile_update(
        actor=agency_user, region=region("420100"), changes={"physician_relaxation_allowed": True}
    )

    # when / then
    assert _file(reviewer_user, hospital, TitleRank.ATTENDING).title == TitleRank.ATTENDING
    with pytest.raises(DomainError) as exc:
        _file(reviewer_user, hospital, TitleRank.RESIDENT, code="D0002")
    assert exc.value.code == "registry.title_below_minimum"


def test_ah_s2_2_associate_chief_required(profiles, admin_user):
    hospital = qualified_hospital(region_code="340102")
    with pytest.raises(DomainError):
        _file(admin_user, hospital, TitleRank.ATTENDING)
    assert _file(admin_user, hospital, TitleRank.CHIEF, code="D0003")


def test_cx_art20_attending_minimum_resident_in_level2_hospitals(profiles, admin_user):
    level3 = qualified_hospital(region_code="532301", hospital_level=3)
    level2 = qualified_hospital(region_code="532301", hospital_level=2)
    with pytest.raises(DomainError) as exc:
        _file(admin_user, level3, TitleRank.RESIDENT)
    assert "主治医师" in exc.value.fields["title"][0]
    assert _file(admin_user, level3, TitleRank.ATTENDING, code="D0004")
    assert _file(admin_user, level2, TitleRank.RESIDENT, code="D0005")


def test_sd_has_no_title_minimum(profiles, admin_user):
    hospital = qualified_hospital(region_code="370102")
    assert _file(admin_user, hospital, TitleRank.RESIDENT)


def test_physician_activation_needs_a_designated_hospital(
    profiles, reviewer_user, agency_user, hospital
):
    physician = _file(reviewer_user, hospital, TitleRank.CHIEF)
    d = physician.designations.get()
    with pytest.raises(DomainError) as exc:
        designation_transition(actor=agency_user, designation=d, to_status=S.ACTIVE)
    assert exc.value.code == "registry.hospital_not_designated"
    d.refresh_from_db()
    assert d.status == S.APPLIED


def test_hb_art22_exited_physician_banned_for_two_years(
    profiles, reviewer_user, agency_user, hospital
):

    designate(hospital)
    physician = _file(reviewer_user, hospital, TitleRank.CHIEF)
    d = designation_transition(
        actor=agency_user, designation=physician.designations.get(), to_status=S.ACTIVE
    )
    designation_transition(
        actor=agency_user,
        designation=d,
        to_status=S.EXITED,
        reason="诱导购药",
        exit_reason=ExitReason.STEERING_PATIENTS,
        today=date(2026, 5, 1),
    )
    with pytest.raises(DomainError) as exc:
        designation_apply(actor=reviewer_user, physician=physician, today=date(2028, 4, 30))
    assert exc.value.code == "registry.designation_banned"
    assert designation_apply(actor=reviewer_user, physician=physician, today=date(2028, 5, 1))


def test_outsider_reviewer_cannot_file_for_another_hospital(profiles, outsider_reviewer, hospital):
    with pytest.raises(DomainError) as exc:
        _file(outsider_reviewer, hospital, TitleRank.CHIEF)
    assert exc.value.status == 404


def test_cx_art20_annual_assessment(profiles, reviewer_user, hospital):
    physician = _file(reviewer_user, hospital, TitleRank.CHIEF)
    a = physician_assess(actor=reviewer_user, physician=physician, year=2025, result="passed")
    assert a.assessed_by == reviewer_user
    with pytest.raises(DomainError) as exc:
        physician_assess(actor=reviewer_user, physician=physician, year=2025, result="failed")
    assert exc.value.code == "registry.duplicate_assessment"
    assert PhysicianAssessment.objects.count() == 1
