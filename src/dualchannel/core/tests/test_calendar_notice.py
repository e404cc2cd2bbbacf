"""A year whose State Council holiday notice is not loaded is counted from the 放假办法 alone: from
1 December of the year before, the officer's work queue and the admin index say so, with a link
to the year's page for those who may load it (provincial officers, admins)."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from dualchannel.core.calendar import calendar_year_load, provisional_year_notice
from dualchannel.core.models import AuditEvent, CalendarYear
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.tests.factories import InstitutionFactory

pytestmark = pytest.mark.django_db

BANNER = "2027年节假日安排尚未导入，期限暂按《全国年节及纪念日放假办法》推算"
TABLE_2027 = [(date(2027, 1, 1), False, "元旦"), (date(2027, 1, 9), True, "元旦")]


@pytest.fixture
def provincial_officer(db):
    province = InstitutionFactory(
        kind=InstitutionKind.AGENCY, name="湖北省医疗保障局经办中心", region_code="420000"
    )
    return UserFactory(username="hb_officer", institution=province, roles=[Role.AGENCY_OFFICER])


def _today(monkeypatch, day: date) -> None:
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args, **kwargs: day)


def test_the_next_year_is_announced_from_the_first_of_december_until_it_is_loaded(
    provincial_officer,
):
    assert provisional_year_notice(date(2026, 11, 30)) is None  # 2027 not yet due
    assert provisional_year_notice(date(2026, 12, 1)) == 2027
    assert provisional_year_notice(date(2027, 3, 1)) == 2027  # the year itself, still provisional
    assert provisional_year_notice(date(2026, 6, 1)) is None  # 2026 is known

    calendar_year_load(actor=provincial_officer, year=2027, days=TABLE_2027, document_no="国办")

    assert provisional_year_notice(date(2026, 12, 1)) is None


def test_the_officers_queue_shows_the_banner_and_a_city_officer_is_told_who_loads_it(
    client, agency_user, monkeypatch
):
    _today(monkeypatch, date(2026, 12, 3))
    client.force_login(agency_user)

    page = client.get(reverse("agency-home")).content.decode()

    assert BANNER in page
    assert reverse("core-calendar-year", args=[2027]) not in page  # a city officer cannot load
    assert "由省级医保经办机构导入" in page


def test_a_provincial_officer_gets_the_link_and_the_banner_goes_once_loaded(
    client, provincial_officer, monkeypatch
):
    _today(monkeypatch, date(2026, 12, 3))
    client.force_login(provincial_officer)
    link = reverse("core-calendar-year", args=[2027])
    assert f'href="{link}"' in client.get(reverse("agency-home")).content.decode()

    response = client.post(
        link,
        {"document_no": "国办发明电〔2026〕9号", "days": "2027-01-01 休 元旦\n2027-01-09 班 元旦"},
    )

    assert response.status_code == 302
    loaded = CalendarYear.objects.get(year=2027)
    assert loaded.document_no == "国办发明电〔2026〕9号" and loaded.days.count() == 2
    assert AuditEvent.objects.filter(action="calendar.year_loaded").count() == 1
    assert BANNER not in client.get(reverse("agency-home")).content.decode()


def test_no_banner_in_november(client, agency_user, monkeypatch):
    _today(monkeypatch, date(2026, 11, 20))
    client.force_login(agency_user)

    assert "节假日安排尚未导入" not in client.get(reverse("agency-home")).content.decode()


def test_the_admin_index_shows_the_banner_with_the_link(client, admin_user, monkeypatch):
    _today(monkeypatch, date(2026, 12, 3))
    client.force_login(admin_user)

    page = client.get(reverse("admin:index")).content.decode()

    assert BANNER in page
    assert reverse("core-calendar-year", args=[2027]) in page


def test_a_city_officer_cannot_load_a_year_from_the_page(client, agency_user):
    client.force_login(agency_user)
    url = reverse("core-calendar-year", args=[2027])

    page = client.get(url).content.decode()
    response = client.post(url, {"document_no": "x", "days": "2027-01-01 休 元旦"})

    assert "尚未导入" in page and 'id="calendar-load"' not in page
    assert response.status_code == 302  # refused: back with the message, nothing loaded
    assert not CalendarYear.objects.exists()
    follow = client.get(response["Location"], follow=True).content.decode()
    assert "全国节假日安排仅省级医保经办机构或系统管理员可导入" in follow


def test_a_bad_line_is_refused_in_words_and_the_input_is_kept(client, provincial_officer):
    client.force_login(provincial_officer)
    url = reverse("core-calendar-year", args=[2027])

    response = client.post(url, {"document_no": "国办", "days": "2027-01-01 休 元旦\n明年元旦"})

    page = response.content.decode()
    assert response.status_code == 400
    assert "第2行应为" in page and "明年元旦" in page
    assert not CalendarYear.objects.exists()
