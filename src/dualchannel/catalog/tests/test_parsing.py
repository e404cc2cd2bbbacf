"""Parsing of list strings: no database needed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dualchannel.catalog.models import SpecialControl
from dualchannel.catalog.parsing import (
    ParseError,
    dosage_form_of,
    is_anti_cancer,
    needs_cold_chain,
    parse_payment_standards,
    parse_restriction,
    pinyin_of,
    special_control_of,
    split_top_level,
)
from dualchannel.catalog.workflow import drafted_items


def test_multi_spec_row_is_parsed_exactly():
    standards = parse_payment_standards("8.97元(1mg/片)；15.25元(2mg/片)；25.93元(4mg/片)")

    assert [(s.amount, s.specification, s.unit) for s in standards] == [
        (Decimal("8.97"), "1mg/片", "片"),
        (Decimal("15.25"), "2mg/片", "片"),
        (Decimal("25.93"), "4mg/片", "片"),
    ]
    assert [s.source_text for s in standards] == [
        "8.97元(1mg/片)",
        "15.25元(2mg/片)",
        "25.93元(4mg/片)",
    ]
    assert not any(s.is_confidential for s in standards)


def test_semicolon_inside_brackets_does_not_split():
    text = (
        "90.00元(625ml/袋[中长链脂肪乳注射液125ml；复方氨基酸(16)注射液250ml；"
        "复方葡萄糖(36%)注射液250ml])；153.00元(1250ml/袋[中长链脂肪乳注射液250ml；"
        "复方氨基酸(16)注射液500ml；复方葡萄糖(36%)注射液500ml])"
    )

    standards = parse_payment_standards(text)

    assert len(standards) == 2
    assert standards[0].specification == (
        "625ml/袋[中长链脂肪乳注射液125ml；复方氨基酸(16)注射液250ml；复方葡萄糖(36%)注射液250ml]"
    )
    assert standards[0].unit == "袋"
    assert standards[1].amount == Decimal("153.00")


def test_full_width_closing_bracket_and_ascii_separator():
    standards = parse_payment_standards("65.00元(0.3ml/瓶)；31.03元(0.1ml/支 预灌封注射器）")
    assert standards[1].specification == "0.1ml/支 预灌封注射器"
    assert standards[1].unit == "支"
    ascii_split = parse_payment_standards("23.98元(1.0g/袋);30.27元(2.0g/袋)")
    assert [s.amount for s in ascii_split] == [Decimal("23.98"), Decimal("30.27")]


def test_price_per_box_and_trailing_remark():
    box = parse_payment_standards("479.00元/盒(先诺特韦片0.375g/利托那韦片0.1g,每盒30片)")[0]
    assert (box.amount, box.unit) == (Decimal("479.00"), "盒")
    remark = parse_payment_standards("113.53元(60mg/粒)(协议有效期内,谈判企业负责免费提供)")[0]
    assert remark.specification == "60mg/粒"
    assert remark.note == "协议有效期内,谈判企业负责免费提供"


def test_confidential_and_tiered_standards():
    (confidential,) = parse_payment_standards("*")
    assert confidential.is_confidential and confidential.amount is None

    note = {"text": "备注2：……", "table": [["规格(毫居)", "阶梯内单价(元/毫居)", "计算举例"]]}
    (tiered,) = parse_payment_standards("见备注2(每粒胶囊含碘[131I]的放射性活度为37-3700MBq)", note)
    assert tiered.tiered_note == note
    assert tiered.amount is None and not tiered.is_confidential
    assert tiered.specification == "每粒胶囊含碘[131I]的放射性活度为37-3700MBq"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "52.60(10mg/瓶)",
        "52.601元(10mg/瓶)",
        "0.00元(10mg/瓶)",
        "52.60元",
        "52.60元(10mg/瓶",
        "52.60元(10mg/瓶))",
        "52.60元(10mg/瓶)；",
        "52.60元(10mg/瓶)abc",
        "52.60元(10mg/瓶)；60.00元(10mg/瓶)",
    ],
)
def test_malformed_payment_standards_are_refused(text):
    with pytest.raises(ParseError):
        parse_payment_standards(text)


def test_split_top_level_refuses_unbalanced_brackets():
    with pytest.raises(ParseError):
        split_top_level("a(b；c")


def test_numbered_restriction_becomes_alternatives():
    clauses = parse_restriction("限：1.预防重症患者应激性溃疡出血；2.消化性溃疡出血。")
    assert clauses.alternatives == ["预防重症患者应激性溃疡出血", "消化性溃疡出血"]
    assert clauses.scope == ""


def test_restriction_with_scope_and_joint_conditions():
    text = (
        "限：1.视网膜静脉阻塞(RVO)的黄斑水肿；2.糖尿病性黄斑水肿(DME)。应同时符合以下条件："
        "1.需三级医院眼科或二级及以上眼科专科医院医师处方；2.首次处方时病眼基线矫正视力0.05-0.5。"
    )
    items = drafted_items(text)

    assert [(i["code"], i["group"]) for i in items] == [
        ("indication-1", "indication"),
        ("indication-2", "indication"),
        ("requirement-1", ""),
        ("requirement-2", ""),
    ]
    assert items[2]["text"] == "需三级医院眼科或二级及以上眼科专科医院医师处方"

    scoped = drafted_items("限因慢性肾脏病引起的贫血，包括：1.成人非透析患者；2.成人透析患者。")
    assert scoped[0] == {
        "code": "scope",
        "kind": "attestation",
        "group": "",
        "text": "限因慢性肾脏病引起的贫血，包括：",
    }


def test_variant_numbering_and_unnumbered_restriction():
    assert parse_restriction("限：1、成人患者；2、儿童患者。").alternatives == [
        "成人患者",
        "儿童患者",
    ]
    items = drafted_items("限十二指肠溃疡。")
    assert items == [
        {"code": "restriction", "kind": "attestation", "group": "", "text": "限十二指肠溃疡。"}
    ]
    assert drafted_items("") == []


def test_derived_dosage_form_and_flags():
    assert dosage_form_of("洛拉替尼片") == "片"
    assert dosage_form_of("注射用艾普拉唑钠") == "注射剂"
    assert dosage_form_of("阿加糖酶α注射用浓溶液") == "注射剂"
    assert dosage_form_of("盐酸二甲双胍缓释片(Ⅳ)") == "缓释片"
    assert dosage_form_of("利司扑兰口服溶液用散") == "口服溶液用散"
    assert is_anti_cancer("XL01ED") and is_anti_cancer("XL02B") and not is_anti_cancer("XL04AC")
    assert special_control_of("羟考酮纳洛酮缓释片") == SpecialControl.NARCOTIC
    assert special_control_of("治疗用碘[131I]化钠胶囊") == SpecialControl.RADIOACTIVE
    assert special_control_of("注射用苯磺酸瑞马唑仑") == SpecialControl.PSYCHOTROPIC
    assert special_control_of("洛拉替尼片") == SpecialControl.NONE
    assert needs_cold_chain("西妥昔单抗注射液", "XL01FE", "注射剂")
    assert not needs_cold_chain("洛拉替尼片", "XL01ED", "片")


def test_pinyin_initials_and_full_pinyin():
    assert pinyin_of("洛拉替尼片") == ("lltnp", "luolatinipian")
    assert pinyin_of("注射用罗普司亭N01")[0] == "zsylpstn01"
