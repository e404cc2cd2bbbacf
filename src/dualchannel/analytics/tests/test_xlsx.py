"""The .xlsx files [SD §10 annex]: the command writes the city's table in the annex's layout (read
back with openpyxl), and the province's quarterly bulletin is built from the three months."""

from __future__ import annotations

from datetime import date
from io import BytesIO

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from dualchannel.analytics.sd_report import bulletin_file
from dualchannel.analytics.services import (
    county_progress_save,
    flag_late_submissions,
    sd_monthly_submit,
)

from .factories import AFTER_MARCH, EXPECTED, EXPECTED_TOTAL

pytestmark = pytest.mark.django_db


def _rows(ws):
    return [[cell.value for cell in row] for row in ws.iter_rows()]


def test_the_command_writes_the_annex(sd_world, tmp_path):
    county_progress_save(
        actor=sd_world["lixia_officer"],
        county_code="370102",
        month="2026-03",
        text="已开通2家双通道药店，均已实现即时联网结算。",
        today=AFTER_MARCH,
    )
    out = tmp_path / "jinan.xlsx"

    call_command("report_monthly_sd", region="370100", month="2026-03", out=str(out))

    ws = load_workbook(out).active
    assert ws["A1"].value == "附件"
    assert ws["A2"].value == "全市谈判药品“双通道”管理工作情况统计表"
    assert ws["A3"].value == "（2026年3月）"
    assert ws["A4"].value == "填报单位（盖章）：济南市医疗保障局"
    rows = _rows(ws)
    assert rows[4] == [
        "序号",
        "县（市、区）",
        "纳入“双通道”管理的协议期内谈判药品数量",
        "“双通道”药店数量",
        "实现即时联网结算的“双通道”药店数量",
        "实现电子处方流转的“双通道”药店数量",
        "主要工作进展情况（字数控制在600字以内）",
    ]
    assert [row[:6] for row in rows[5:8]] == [list(v) for v in EXPECTED.values()]
    assert rows[5][6] == "已开通2家双通道药店，均已实现即时联网结算。"
    assert rows[8][1:6] == list(EXPECTED_TOTAL)
    assert rows[10][0] == "填报人："
    assert rows[10][3] == "联系电话："
    assert rows[10][5].startswith("填报时间：")


def test_a_submitted_month_is_written_as_submitted(sd_world, tmp_path):
    sd_monthly_submit(
        actor=sd_world["jinan_officer"],
        city_code="370100",
        month="2026-03",
        contact_phone="0531-66668888",
        today=AFTER_MARCH,
    )
    out = tmp_path / "jinan.xlsx"

    call_command("report_monthly_sd", region="370100", month="2026-03", out=str(out))

    rows = _rows(load_workbook(out).active)
    assert rows[10][0] == f"填报人：{sd_world['jinan_officer'].display_name}"
    assert rows[10][3] == "联系电话：0531-66668888"


@pytest.mark.parametrize(
    ("region", "month"), [("370100", "2099-01"), ("370102", "2026-03"), ("999900", "2026-03")]
)
def test_the_command_refuses_a_future_month_or_a_non_city(sd_world, tmp_path, region, month):
    out = tmp_path / "x.xlsx"

    with pytest.raises(CommandError):
        call_command("report_monthly_sd", region=region, month=month, out=str(out))

    assert not out.exists()


def test_the_quarterly_bulletin_is_built_from_the_three_months(sd_world):
    jinan, qingdao = sd_world["jinan_officer"], sd_world["qingdao_officer"]
    for month, today in (("2026-01", date(2026, 2, 3)), ("2026-02", date(2026, 3, 4))):
        sd_monthly_submit(actor=jinan, city_code="370100", month=month, today=today)
        sd_monthly_submit(actor=qingdao, city_code="370200", month=month, today=today)
    sd_monthly_submit(actor=jinan, city_code="370100", month="2026-03", today=date(2026, 4, 9))
    flag_late_submissions(today=date(2026, 4, 11))  # 青岛 has not sent March
    months = [date(2026, m, 1) for m in (1, 2, 3)]

    content = bulletin_file(sd_world["province"], months, [sd_world["jinan"], sd_world["qingdao"]])

    rows = _rows(load_workbook(BytesIO(content)).active)
    assert rows[0][0] == "山东省谈判药品“双通道”管理工作情况通报（2026年第1季度）"
    body = rows[2:8]
    assert [(r[1], r[2], r[3]) for r in body] == [
        ("济南市", "2026年1月", "已报送"),
        ("济南市", "2026年2月", "已报送"),
        ("济南市", "2026年3月", "已报送"),
        ("青岛市", "2026年1月", "已报送"),
        ("青岛市", "2026年2月", "已报送"),
        ("青岛市", "2026年3月", "逾期未报送"),
    ]
    # 济南 in March: the hand-computed totals, and 历城区 without any dual-channel pharmacy
    assert body[2][5:10] == [3, 4, 3, 3, 1]
    # 济南 in January: 甲 丙 庚 and 乙 in period nationally; 历下's list (甲) in force → 历下 1,
    # 历城 4, 平阴 (甲 乙) 2 → 4 distinct; pharmacies active on 1-31: 历下 none, 平阴 P5, P6
    assert body[0][5:10] == [4, 2, 1, 2, 2]
    # 青岛 市南区: P9 (both flags) active since 1-05
    assert body[3][5:10] == [4, 1, 1, 1, 0]
    assert body[5][5:10] == [None] * 5
    summary = [r[0] for r in rows[9:12]]
    assert summary == [
        "本季度应报送 6 份，已报送 5 份。",
        "逾期报送或逾期未报送：青岛市（3月）",
        "尚未报送：青岛市（3月）",
    ]
