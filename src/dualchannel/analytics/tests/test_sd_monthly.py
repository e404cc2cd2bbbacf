"""The figures of the Shandong monthly table [SD §10 annex], one test per column, against the
hand-computed world of ``factories`` (March 2026, 济南市)."""

from __future__ import annotations

import pytest

from dualchannel.analytics.sd_monthly import HEADERS, TITLE, build_table
from dualchannel.analytics.services import county_progress_save

from .factories import AFTER_MARCH, EXPECTED, EXPECTED_TOTAL, MARCH

pytestmark = pytest.mark.django_db


def _table(world):
    return build_table(world["jinan"], MARCH, today=AFTER_MARCH)


def _column(table, attribute):
    return {row.code: getattr(row, attribute) for row in table.rows}


def test_the_annex_title_and_headers():
    assert TITLE == "全市谈判药品“双通道”管理工作情况统计表"
    assert HEADERS[2] == "纳入“双通道”管理的协议期内谈判药品数量"
    assert HEADERS[-1] == "主要工作进展情况（字数控制在600字以内）"


def test_counted_as_of_the_months_last_day(sd_world):
    assert _table(sd_world).as_of == "2026-03-31"


def test_index_and_county_columns(sd_world):
    table = _table(sd_world)

    assert [(r.index, r.code, r.name) for r in table.rows] == [
        (v[0], code, v[1]) for code, v in EXPECTED.items()
    ]


def test_drugs_column_agreement_period_and_regional_list(sd_world):
    # SD §1: negotiated drugs within their agreement period; 平阴县's own list narrows it.
    assert _column(_table(sd_world), "drugs") == {c: v[2] for c, v in EXPECTED.items()}


def test_pharmacies_column_active_at_the_end_of_the_last_day(sd_world):
    assert _column(_table(sd_world), "pharmacies") == {c: v[3] for c, v in EXPECTED.items()}


def test_realtime_settlement_column(sd_world):
    assert _column(_table(sd_world), "realtime") == {c: v[4] for c, v in EXPECTED.items()}


def test_e_prescription_column(sd_world):
    assert _column(_table(sd_world), "e_prescription") == {c: v[5] for c, v in EXPECTED.items()}


def test_progress_column_is_the_countys_text(sd_world):
    county_progress_save(
        actor=sd_world["lixia_officer"],
        county_code="370102",
        month="2026-03",
        text="已开通2家双通道药店。",
        today=AFTER_MARCH,
    )

    assert _column(_table(sd_world), "progress") == {
        "370102": "已开通2家双通道药店。",
        "370112": "",
        "370124": "",
    }


def test_total_row(sd_world):
    total = _table(sd_world).total

    assert (total.name, total.drugs, total.pharmacies, total.realtime, total.e_prescription) == (
        EXPECTED_TOTAL
    )


def test_a_month_earlier_counts_what_held_then(sd_world):
    # 2026-02-28: 历下 P1 and P2 active, 平阴 P5 and P6 active (P6 exits on 3-1); 乙 still in its
    # agreement period, 历下's own list (甲) still in force.
    table = build_table(sd_world["jinan"], MARCH.replace(month=2), today=AFTER_MARCH)

    assert [(r.drugs, r.pharmacies) for r in table.rows] == [(1, 2), (4, 0), (2, 2)]


def test_one_query_per_column_whatever_the_number_of_counties(sd_world, django_assert_num_queries):
    # counties, agreement drugs, regional lists, their entries, pharmacies (three columns), progress
    with django_assert_num_queries(6):
        _table(sd_world)
