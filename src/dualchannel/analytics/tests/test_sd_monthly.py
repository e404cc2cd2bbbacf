"""The figures of the Shandong monthly table [SD §10 annex], one test per column, against the
hand-computed world of ``factories`` (March 2026, 济南市)."""

from __future__ import annotations

from datetime import date

import pytest

from dualchannel.analytics.sd_monthly import HEADERS, TITLE, build_table
from dualchannel.analytics.services import county_progress_save
from dualchannel.registry.models import DesignationStatus, RegionLevel
from dualchannel.registry.tests.factories import region

from .factories import (
    AFTER_MARCH,
    EXPECTED,
    EXPECTED_TOTAL,
    MARCH,
    at,
    extra_region,
    pharmacy,
    regional_list,
)

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


def test_a_city_list_applies_where_the_county_has_none(sd_world):
    # 济南's own list (丙 only) in force: 历下 and 历城 follow it, 平阴's own list still wins.
    regional_list(sd_world["jinan"], [sd_world["drugs"]["丙"]], date(2026, 3, 1), None)

    table = _table(sd_world)

    assert _column(table, "drugs") == {"370102": 1, "370112": 1, "370124": 1}
    assert table.total.drugs == 2  # 丙 and 甲


def test_a_city_without_counties_is_its_own_row(db):
    province = region("370000")
    city = extra_region("379900", "测试直筒市", RegionLevel.CITY, province, False)
    city.is_county_level = True
    city.save()
    pharmacy(city, [(at(2026, 3, 1, 9), DesignationStatus.ACTIVE)], realtime=True)

    table = build_table(city, MARCH, today=AFTER_MARCH)

    assert [(r.code, r.pharmacies, r.realtime, r.e_prescription) for r in table.rows] == [
        ("379900", 1, 1, 0)
    ]


def test_a_flag_turned_on_after_the_months_end_is_not_counted_for_it(sd_world):
    # SD §5, §7: 历城 P10 designated in February, real-time settlement from 2026-04-02 and
    # e-prescriptions from 2026-03-31: March counts it as a pharmacy with e-prescriptions only.
    p10 = pharmacy(sd_world["licheng"], [(at(2026, 2, 1, 9), DesignationStatus.ACTIVE)])
    p10.realtime_settlement, p10.realtime_settlement_since = True, date(2026, 4, 2)
    p10.e_prescription_connected, p10.e_prescription_since = True, date(2026, 3, 31)
    p10.save()

    row = {r.code: r for r in _table(sd_world).rows}["370112"]
    april = {
        r.code: r
        for r in build_table(sd_world["jinan"], date(2026, 4, 1), today=date(2026, 5, 3)).rows
    }

    assert (row.pharmacies, row.realtime, row.e_prescription) == (1, 0, 1)
    assert (april["370112"].realtime, april["370112"].e_prescription) == (1, 1)
