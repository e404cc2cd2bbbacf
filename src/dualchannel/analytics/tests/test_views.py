"""The pages and the API of the Shandong table [SD §10]: a county sees its county, a city its
city, the province all its cities; nobody another province."""

from __future__ import annotations

from io import BytesIO

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from dualchannel.analytics.models import CountyProgress, MonthlySubmission, SubmissionStatus

pytestmark = pytest.mark.django_db


def _get(client, user, name, **query):
    client.force_login(user)
    return client.get(reverse(name), query)


def test_the_county_sees_its_own_row_and_enters_its_text(client, sd_world):
    response = _get(client, sd_world["lixia_officer"], "agency-sd-monthly", month="2026-03")

    text = response.content.decode()
    assert response.status_code == 200
    assert "历下区" in text and "平阴县" not in text and "历城区" not in text

    response = client.post(
        reverse("agency-sd-progress"), {"county": "370102", "month": "2026-03", "text": "已开通"}
    )

    assert response.status_code == 200
    assert "已保存历下区的工作进展情况" in response.content.decode()
    assert CountyProgress.objects.get().text == "已开通"


def test_the_page_refuses_601_characters_in_words(client, sd_world):
    client.force_login(sd_world["lixia_officer"])

    response = client.post(
        reverse("agency-sd-progress"),
        {"county": "370102", "month": "2026-03", "text": "字" * 601},
        HTTP_HX_REQUEST="true",
    )

    assert "600字以内" in response.content.decode()
    assert not CountyProgress.objects.exists()


def test_the_city_sees_its_table_with_the_total_and_submits(client, sd_world):
    response = _get(client, sd_world["jinan_officer"], "agency-sd-monthly", month="2026-03")

    text = response.content.decode()
    assert all(name in text for name in ("历下区", "历城区", "平阴县", "合计", "报送省医保局"))

    response = client.post(reverse("agency-sd-submit"), {"region": "370100", "month": "2026-03"})

    assert response.status_code == 200
    assert "统计表已报送省医保局" in response.content.decode()
    assert MonthlySubmission.objects.get().status == SubmissionStatus.SUBMITTED


def test_the_city_downloads_the_xlsx(client, sd_world):
    response = _get(
        client,
        sd_world["jinan_officer"],
        "agency-sd-monthly-xlsx",
        region="370100",
        month="2026-03",
    )

    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(BytesIO(response.content)).active
    assert ws["A4"].value == "填报单位（盖章）：济南市医疗保障局"
    assert ws["B9"].value == "合计"


def test_the_province_sees_which_cities_submitted(client, sd_world):
    client.force_login(sd_world["jinan_officer"])
    client.post(reverse("agency-sd-submit"), {"region": "370100", "month": "2026-03"})

    response = _get(client, sd_world["province_officer"], "agency-sd-province", month="2026-03")

    text = response.content.decode()
    assert "已报送 1 / 2 个市" in text
    assert "济南市" in text and "青岛市" in text
    quarterly = client.get(reverse("agency-sd-quarterly-xlsx"), {"quarter": "2026-Q1"})
    ws = load_workbook(BytesIO(quarterly.content)).active
    assert ws["A1"].value.startswith("山东省谈判药品")


def test_a_province_officer_with_no_region_is_sent_to_the_overview(client, sd_world):
    response = _get(client, sd_world["province_officer"], "agency-sd-monthly", month="2026-03")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("agency-sd-province"))


@pytest.mark.parametrize(
    ("actor", "name", "query"),
    [
        ("lixia_officer", "agency-sd-monthly", {"region": "370100"}),  # the county: not the city
        ("lixia_officer", "agency-sd-monthly", {"region": "370124"}),  # nor another county
        ("lixia_officer", "agency-sd-province", {}),
        ("qingdao_officer", "agency-sd-monthly", {"region": "370100"}),  # another city
        ("qingdao_officer", "agency-sd-monthly-xlsx", {"region": "370100"}),
        ("other_province", "agency-sd-monthly", {"region": "370100"}),
        ("other_province", "agency-sd-province", {"region": "370000"}),
        ("other_province", "agency-sd-quarterly-xlsx", {"region": "370000", "quarter": "2026-Q1"}),
    ],
)
def test_outside_ones_scope_is_not_found(client, sd_world, agency_user, actor, name, query):
    user = agency_user if actor == "other_province" else sd_world[actor]

    response = _get(client, user, name, month="2026-03", **query)

    assert response.status_code == 404
    assert "区划不存在或不在您的管辖范围内" in response.content.decode()


def test_a_future_month_page_is_refused(client, sd_world):
    response = _get(client, sd_world["jinan_officer"], "agency-sd-monthly", month="2099-01")

    assert response.status_code == 400
    assert "尚未到来" in response.content.decode()


def test_other_roles_get_403(client, sd_world, pharmacist_user):
    response = _get(client, pharmacist_user, "agency-sd-monthly", month="2026-03")

    assert response.status_code == 403


def test_the_api_returns_the_table_in_scope_only(client, sd_world, agency_user):
    client.force_login(sd_world["jinan_officer"])

    data = client.get(
        "/api/v1/analytics/sd-monthly", {"region": "370100", "month": "2026-03"}
    ).json()

    assert [r["pharmacies"] for r in data["rows"]] == [2, 0, 2]
    assert data["total"]["realtime"] == 3
    assert data["submission_status"] == "逾期未报送"  # due 2026-04-10, nothing submitted
    client.force_login(agency_user)
    refused = client.get("/api/v1/analytics/sd-monthly", {"region": "370100", "month": "2026-03"})
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "analytics.region_not_found"


def test_the_api_enters_progress_and_submits(client, sd_world):
    client.force_login(sd_world["lixia_officer"])
    too_long = client.post(
        "/api/v1/analytics/sd-monthly/progress",
        {"county": "370102", "month": "2026-03", "text": "字" * 601},
        content_type="application/json",
    )
    saved = client.post(
        "/api/v1/analytics/sd-monthly/progress",
        {"county": "370102", "month": "2026-03", "text": "已开通"},
        content_type="application/json",
    )
    client.force_login(sd_world["jinan_officer"])
    submitted = client.post(
        "/api/v1/analytics/sd-monthly/submit",
        {"region": "370100", "month": "2026-03"},
        content_type="application/json",
    )
    client.force_login(sd_world["province_officer"])
    listed = client.get(
        "/api/v1/analytics/sd-submissions", {"region": "370000", "month": "2026-03"}
    )

    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "analytics.progress_too_long"
    assert saved.json() == {"county": "370102", "month": "2026-03", "text": "已开通"}
    assert submitted.json()["status"] == "submitted"
    assert [(c["city_name"], c["status_label"]) for c in listed.json()] == [
        ("济南市", "已报送"),
        ("青岛市", "逾期未报送"),
    ]


def test_a_city_officer_lists_only_its_city(client, sd_world):
    client.force_login(sd_world["qingdao_officer"])

    listed = client.get(
        "/api/v1/analytics/sd-submissions", {"region": "370000", "month": "2026-03"}
    )

    assert [c["city_code"] for c in listed.json()] == ["370200"]


def test_an_admin_reads_the_shandong_overview_by_default(client, sd_world, admin_user):
    response = _get(client, admin_user, "agency-sd-province", month="2026-03")

    text = response.content.decode()
    assert response.status_code == 200
    assert "山东省" in text and "济南市" in text and "青岛市" in text
