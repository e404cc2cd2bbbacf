"""The agency's statistics page in a real browser (issue 13 §1): the vendored ECharts draws the
month-over-month chart under the CSP, and the section downloads as .xlsx."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from dualchannel.core.months import previous_month

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_officer_sees_the_chart_and_downloads_the_xlsx(page, live_server, login, agency_user):
    login(page, agency_user)
    page.wait_for_url(re.compile(r"/agency/$"))
    page.click("nav >> text=统计分析")
    page.wait_for_url(re.compile(r"/agency/statistics/"))
    start = previous_month(previous_month(timezone.localdate())).strftime("%Y-%m")
    page.fill("input[name=start]", start)
    page.click("#stat-picker button[type=submit]")
    page.wait_for_selector('#stat-chart[data-ready="1"] canvas', timeout=30_000)
    width = page.eval_on_selector("#stat-chart canvas", "c => c.width")
    assert width > 100

    with page.expect_download() as download_info:
        page.click("#stat-xlsx")
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    book = load_workbook(BytesIO(Path(download.path()).read_bytes()))
    assert book.worksheets[0]["A3"].value == "指标"

    page.click(".stat-tabs >> text=定点覆盖")
    page.wait_for_selector("#stat-coverage")
    assert page.csp_violations == []
