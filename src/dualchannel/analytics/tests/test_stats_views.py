"""The statistics page and its .xlsx (issue 13 §1): every section renders for a county's, a
city's and a province's officer; the export holds the page's figures; bad input is refused."""

from __future__ import annotations

import json
import re
from datetime import date
from io import BytesIO
from unittest import mock

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from dualchannel.analytics import rollups
from dualchannel.analytics.stats_sections import SECTIONS
from dualchannel.registry.tests.factories import load_seed_profiles

from .rollup_world import reverse as reverse_settlement

TODAY = date(2026, 4, 20)
URL = reverse("agency-statistics")
XLSX_URL = reverse("agency-statistics-xlsx")


@pytest.fixture
def rolled(stats_world):
    load_seed_profiles()
    reverse_settlement(stats_world["s3"])
    rollups.refresh_all()
    with mock.patch("django.utils.timezone.localdate", return_value=TODAY):
        yield stats_world


@pytest.mark.parametrize("who", ["lixia_officer", "jinan_officer", "province_officer"])
@pytest.mark.parametrize("tab", list(SECTIONS))
def test_every_section_renders_for_each_level(client, rolled, who, tab):
    client.force_login(rolled[who])
    response = client.get(URL, {"tab": tab, "start": "2026-03", "end": "2026-04"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'role="alert"' not in page
    assert f'id="stat-{tab}"' in page
    assert "结算数据截至" in page and "2026-03 至 2026-04" in page
    assert "vendor/echarts/echarts.min.js" in page


def test_the_overview_shows_the_figures_and_the_chart_data(client, rolled):
    client.force_login(rolled["jinan_officer"])
    page = client.get(URL, {"start": "2026-03", "end": "2026-04"}).content.decode()
    assert "<td>1100.00</td>" in page  # March 1000.00 + April 100.00
    data = page.split('id="stat-chart-data" type="application/json">')[1].split("</script>")[0]
    chart = json.loads(data)
    assert chart["categories"] == ["2026-03", "2026-04"]
    assert chart["series"][0]["data"] == [1000.0, 100.0]


def test_the_region_picker_names_regions_without_their_codes(client, rolled):
    client.force_login(rolled["jinan_officer"])
    page = client.get(URL, {"start": "2026-03"}).content.decode()
    picker = page.split('name="region"')[1].split("</select>")[0]
    labels = re.findall(r"<option[^>]*>([^<]*)</option>", picker)
    assert "济南市" in labels and "\u3000济南市 · 历下区" in labels
    assert not any(re.search(r"\d{6}", label) for label in labels)


def test_a_county_officer_cannot_name_another_county(client, rolled):
    client.force_login(rolled["lixia_officer"])
    response = client.get(URL, {"region": "370124", "start": "2026-03"})
    assert response.status_code == 404
    assert "不在您的管辖范围内" in response.content.decode()


def test_a_future_month_is_refused_with_a_message(client, rolled):
    client.force_login(rolled["jinan_officer"])
    response = client.get(URL, {"start": "2026-05"})
    assert response.status_code == 400
    assert "尚未到来" in response.content.decode()


def test_an_unknown_tab_is_refused(client, rolled):
    client.force_login(rolled["jinan_officer"])
    assert client.get(URL, {"tab": "weather", "start": "2026-03"}).status_code == 400


def test_the_xlsx_holds_the_drug_table(client, rolled):
    client.force_login(rolled["jinan_officer"])
    response = client.get(XLSX_URL, {"tab": "drug", "start": "2026-03"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(BytesIO(response.content))
    ws = book.worksheets[0]
    rows = [tuple(c.value for c in row) for row in ws.iter_rows()]
    assert rows[0][0] == "济南市 · 按药品 · 按药品统计"
    assert rows[1][0].startswith("统计期间：2026-03")
    assert rows[2][:4] == ("药品", "结算明细（条）", "数量", "就诊患者")
    assert rows[3] == ("甲药", 2, 3, 2, 900, 570, 30, 30, 4.29, 265.71)
    assert rows[4] == ("丙药", 1, 1, 1, 100, 70, 5, 0, 0.71, 24.29)


def test_the_coverage_xlsx_lists_the_shortfalls(client, rolled):
    client.force_login(rolled["jinan_officer"])
    response = client.get(XLSX_URL, {"tab": "coverage", "start": "2026-03"})
    ws = load_workbook(BytesIO(response.content)).worksheets[0]
    rows = {row[0].value: row for row in ws.iter_rows(min_row=4)}
    assert rows["历城区"][5].value.startswith("双通道药店 0 家，少于 1 家")
    assert rows["历下区"][5].value == "达标"
