"""Working days on the statutory calendar: the deadlines of HB art. 9 and art. 10."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import CommandError, call_command

from dualchannel.core.calendar import (
    UnknownCalendarYear,
    add_working_days,
    calendar_year_load,
    is_provisional_year,
    is_working_day,
    statutory_holidays,
    subtract_working_days,
    working_days_between,
)
from dualchannel.core.errors import DomainError, PermissionDenied
from dualchannel.core.models import AuditEvent, CalendarYear
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.tests.factories import InstitutionFactory

pytestmark = pytest.mark.django_db

# An invented table for an unknown year: tests must not depend on a real 2027 notice.
TEST_2027 = [
    (date(2027, 1, 1), False, "元旦"),
    (date(2027, 1, 9), True, "元旦"),  # a Saturday made a working day
]


def test_2026_national_day_and_its_make_up_days():
    """State Council notice for 2026: 10-01..10-07 off, 09-20 (Sun) and 10-10 (Sat) worked."""
    assert not is_working_day(date(2026, 10, 1))
    assert not is_working_day(date(2026, 10, 7))
    assert is_working_day(date(2026, 9, 20))
    assert is_working_day(date(2026, 10, 10))


def test_hb_art10_review_deadline_spans_national_day():
    # Complete on Tue 2026-09-29: 9-30, 10-08, 10-09, 10-10 (make-up Sat), 10-12, 10-13, 10-14.
    assert add_working_days(date(2026, 9, 29), 7) == date(2026, 10, 14)


def test_hb_art9_reevaluation_window_opens_seven_working_days_before_the_deadline():
    # Deadline Fri 2026-02-27; 2-15..2-23 is Spring Festival, Sat 2-14 is worked.
    assert subtract_working_days(date(2026, 2, 27), 7) == date(2026, 2, 11)


def test_working_days_between_counts_after_start_up_to_end():
    assert working_days_between(date(2026, 9, 29), date(2026, 10, 14)) == 7
    assert working_days_between(date(2026, 10, 14), date(2026, 9, 29)) == -7
    assert working_days_between(date(2026, 3, 2), date(2026, 3, 2)) == 0


def test_the_law_s_own_days_match_the_notices_of_the_years_it_has_governed():
    """放假办法 (2024 revision, from 2025) art. 2: the thirteen days, lunar ones converted; for
    2025 and 2026 every one of them is a day off in the State Council's notice."""
    for year in (2025, 2026):
        law = statutory_holidays(year)
        named = [name for name in law.values() if not name.endswith("补假")]
        assert len(named) == 13
        assert all(not is_working_day(day) for day in law), year
    assert statutory_holidays(2026)[date(2026, 2, 16)] == "春节"  # 除夕
    assert statutory_holidays(2026)[date(2026, 9, 25)] == "中秋节"


def test_a_year_without_its_notice_is_answered_from_the_law_not_from_weekends_alone():
    # 2027 has no notice loaded and the package does not know it: the law's days still count
    assert is_provisional_year(2027)
    assert not is_working_day(date(2027, 1, 1))  # 元旦 (a Friday)
    assert not is_working_day(date(2027, 2, 5))  # 除夕
    assert not is_working_day(date(2027, 2, 8))  # 正月初三 (a Monday)
    # art. 6: 初一 and 初二 fell on the weekend, given back on the next working days
    assert not is_working_day(date(2027, 2, 9)) and not is_working_day(date(2027, 2, 10))
    assert is_working_day(date(2027, 2, 11))
    # Wed 2026-12-30: 12-31, (1-1 off), 1-4, 1-5, 1-6, 1-7 → the 5th working day is 1-7
    assert add_working_days(date(2026, 12, 30), 5) == date(2027, 1, 7)


def test_a_loaded_notice_ends_the_provisional_answer(admin_user):
    calendar_year_load(actor=admin_user, year=2027, days=TEST_2027, document_no="测试〔2026〕1号")

    assert not is_provisional_year(2027)
    assert not is_provisional_year(2026)  # the package knows it


def test_a_date_beyond_the_law_s_reach_fails_loudly_instead_of_guessing():
    with pytest.raises(UnknownCalendarYear) as caught:
        add_working_days(date(2099, 12, 30), 5)  # runs into 2100

    assert caught.value.code == "calendar.unknown_year"
    assert "2100年" in caught.value.message


def test_agency_loads_a_year_and_deadlines_use_it(admin_user):
    calendar_year_load(actor=admin_user, year=2027, days=TEST_2027, document_no="测试〔2026〕1号")

    assert not is_working_day(date(2027, 1, 1))
    assert is_working_day(date(2027, 1, 9))
    # Wed 2026-12-30: 12-31, (1-1 off), 1-4, 1-5, 1-6, 1-7 → 5th working day is Thu 2027-01-07.
    assert add_working_days(date(2026, 12, 30), 5) == date(2027, 1, 7)
    event = AuditEvent.objects.get(action="calendar.year_loaded")
    assert event.summary["year"] == 2027 and event.summary["days"] == 2
    assert event.summary["replaced"] is False
    assert event.actor == admin_user


def test_reloading_a_year_replaces_its_table(admin_user):
    calendar_year_load(actor=admin_user, year=2027, days=TEST_2027, document_no="测试〔2026〕1号")
    calendar_year_load(
        actor=admin_user, year=2027, days=TEST_2027[:1], document_no="测试〔2026〕2号"
    )

    assert not is_working_day(date(2027, 1, 9))  # a plain Saturday again
    assert CalendarYear.objects.get().document_no == "测试〔2026〕2号"


@pytest.mark.parametrize(
    ("days", "field"),
    [
        ([(date(2028, 1, 3), False, "x")], "days[1]"),  # another year
        ([(date(2027, 1, 4), True, "x")], "days[1]"),  # a Monday "made" a working day
        ([(date(2027, 1, 1), False, "x"), (date(2027, 1, 1), False, "x")], "days[2]"),
    ],
)
def test_bad_tables_are_refused_and_nothing_is_loaded(admin_user, days, field):
    with pytest.raises(DomainError) as caught:
        calendar_year_load(actor=admin_user, year=2027, days=days, document_no="x")

    assert field in caught.value.fields
    assert not CalendarYear.objects.exists()


@pytest.mark.parametrize("user", ["physician_user", "agency_user"])
def test_city_officers_and_physicians_do_not_load_the_national_calendar(request, user):
    with pytest.raises(PermissionDenied):
        calendar_year_load(
            actor=request.getfixturevalue(user), year=2027, days=TEST_2027, document_no="x"
        )
    assert not CalendarYear.objects.exists()


def test_the_provincial_agency_loads_a_year(db):
    # given the Hubei provincial agency's officer (the notice is national; a province loads it)
    province = InstitutionFactory(
        kind=InstitutionKind.AGENCY, name="湖北省医疗保障局经办中心", region_code="420000"
    )
    officer = UserFactory(username="hb_officer", institution=province, roles=[Role.AGENCY_OFFICER])

    loaded = calendar_year_load(actor=officer, year=2027, days=TEST_2027, document_no="国办发明电")

    assert loaded.year == 2027 and loaded.loaded_by == officer
    assert not is_working_day(date(2027, 1, 1))
    assert AuditEvent.objects.filter(action="calendar.year_loaded").count() == 1


def test_command_loads_a_csv(tmp_path, capsys):
    path = tmp_path / "2027.csv"
    path.write_text("date,kind,name\n2027-01-01,holiday,元旦\n2027-01-09,workday,元旦\n")

    call_command("calendar_load_year", "2027", str(path), "--document-no", "测试〔2026〕1号")

    assert "2 个调整日" in capsys.readouterr().out
    assert is_working_day(date(2027, 1, 9))


def test_command_names_the_bad_row(tmp_path):
    path = tmp_path / "2027.csv"
    path.write_text("date,kind,name\n2027-01-01,holiday,元旦\n2027-13-01,holiday,x\n")

    with pytest.raises(CommandError, match="第2行"):
        call_command("calendar_load_year", "2027", str(path), "--document-no", "x")
    assert not CalendarYear.objects.exists()


def test_api_loads_a_year_for_admins_and_computes_deadlines(api_client, admin_user):
    client = api_client.as_user(admin_user)
    body = {
        "document_no": "测试〔2026〕1号",
        "days": [{"date": d.isoformat(), "working": w, "name": n} for d, w, n in TEST_2027],
    }

    loaded = client.put_json("/api/v1/calendar/years/2027", body)
    deadline = client.get("/api/v1/calendar/working-days", {"start": "2026-12-30", "days": 5})

    assert loaded.status_code == 200
    assert deadline.json()["deadline"] == "2027-01-07"


def test_api_unknown_year_is_an_error_with_its_code(api_client, agency_user):
    response = api_client.as_user(agency_user).get(
        "/api/v1/calendar/working-days", {"start": "2099-12-30", "days": 3}
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "calendar.unknown_year"
