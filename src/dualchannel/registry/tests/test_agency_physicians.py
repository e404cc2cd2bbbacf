"""The agency's physicians page (issue 12, point 5): the responsible physicians its hospitals
filed, accepted or refused from the page [CX art. 20, AH §2(2)]; one filed by the officer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.core.models import AuditEvent
from dualchannel.registry.models import Designation, DesignationStatus, Physician, TitleRank
from dualchannel.registry.services import physician_file
from dualchannel.registry.tests.factories import designate

pytestmark = pytest.mark.django_db
S = DesignationStatus


@pytest.fixture
def filed(profiles, reviewer_user, hospital):
    designate(hospital)
    return physician_file(
        actor=reviewer_user,
        hospital=hospital,
        name="赵医生",
        staff_code="D0001",
        department="肿瘤科",
        title=TitleRank.ASSOCIATE_CHIEF,
        practising_certificate_no="110420100001",
    )


def _state():
    return (
        list(Designation.objects.order_by("pk").values_list("status", flat=True)),
        Physician.objects.count(),
        AuditEvent.objects.count(),
    )


def test_the_officer_sees_the_filed_physician_waiting_and_accepts_him(client, agency_user, filed):
    client.force_login(agency_user)

    page = client.get(reverse("agency-physicians")).content.decode()
    round_ = filed.designations.get()
    client.post(reverse("agency-physician-decide", args=[round_.pk]), {"decision": "accept"})

    assert "赵医生" in page and "待纳入 1 人" in page and 'value="accept"' in page
    round_.refresh_from_db()
    assert round_.status == S.ACTIVE
    assert list(round_.history.values_list("to_status", flat=True)) == [S.APPLIED, S.ACTIVE]
    after = client.get(reverse("agency-physicians")).content.decode()
    assert "赵医生：已纳入双通道责任医师" in after and "待纳入 0 人" in after


def test_a_refusal_without_a_reason_is_refused_in_chinese_and_changes_nothing(
    client, agency_user, filed
):
    client.force_login(agency_user)
    before = _state()
    round_ = filed.designations.get()

    response = client.post(
        reverse("agency-physician-decide", args=[round_.pk]),
        {"decision": "reject"},
        HTTP_REFERER=reverse("agency-physicians"),
        follow=True,
    )

    page = response.content.decode()
    assert "请填写原因" in page and "registry." not in page
    assert _state() == before


def test_an_officer_of_another_region_neither_sees_nor_decides(client, outsider_agency, filed):
    client.force_login(outsider_agency)
    before = _state()
    round_ = filed.designations.get()

    page = client.get(reverse("agency-physicians")).content.decode()
    response = client.post(
        reverse("agency-physician-decide", args=[round_.pk]), {"decision": "accept"}
    )

    assert "赵医生" not in page
    assert response.status_code == 404 and _state() == before


def test_the_officer_files_a_physician_for_a_hospital_of_the_region(
    client, agency_user, profiles, hospital
):
    designate(hospital)
    client.force_login(agency_user)

    client.post(
        reverse("agency-physician-file"),
        {
            "hospital_id": str(hospital.pk),
            "name": "钱医生",
            "department": "血液科",
            "title": str(TitleRank.CHIEF.value),
            "staff_code": "D0002",
            "practising_certificate_no": "110420100002",
        },
    )

    physician = Physician.objects.get(staff_code="D0002")
    assert physician.designations.get().status == S.APPLIED


def test_other_roles_are_refused(client, reviewer_user):
    client.force_login(reviewer_user)

    assert client.get(reverse("agency-physicians")).status_code == 403
