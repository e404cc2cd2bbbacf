"""Import of the national list: the real shipped file, idempotency, versioning, bad files."""

from __future__ import annotations

import copy
import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from dualchannel.catalog.importer import SHIPPED_FILE, ImportFileError, import_list_file
from dualchannel.catalog.models import (
    CriteriaOrigin,
    CriteriaSet,
    CriteriaStatus,
    Drug,
    ListEdition,
    PaymentStandard,
    Restriction,
    SpecialControl,
)
from dualchannel.core.audit import verify_chain
from dualchannel.core.errors import Conflict
from dualchannel.core.models import AuditEvent

SHIPPED_ROWS = json.loads(SHIPPED_FILE.read_text(encoding="utf-8"))


def _write(tmp_path, rows, name="list.json"):
    path = tmp_path / name
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def _table_counts():
    return {
        model.__name__: model.objects.count()
        for model in (ListEdition, Drug, PaymentStandard, Restriction, CriteriaSet, AuditEvent)
    }


def test_shipped_list_imports_all_rows(db):
    report = import_list_file()

    assert report.rows == 411
    assert Drug.objects.count() == 411
    assert PaymentStandard.objects.count() == 458
    assert PaymentStandard.objects.filter(is_confidential=True, amount__isnull=True).count() == 316
    multi = Drug.objects.annotate(n=Count("payment_standards")).filter(n__gt=1).count()
    assert multi == 36
    edition = ListEdition.objects.get()
    assert (edition.code, edition.document_no, edition.effective_from) == (
        "NRDL2025",
        "医保发〔2025〕33号",
        date(2026, 1, 1),
    )
    assert edition.row_count == 411 and len(edition.source_sha256) == 64

    roxadustat = Drug.objects.get(generic_name="恩那度司他片")
    assert [
        (s.amount, s.specification, s.unit) for s in roxadustat.payment_standards.order_by("id")
    ] == [
        (Decimal("8.97"), "1mg/片", "片"),
        (Decimal("15.25"), "2mg/片", "片"),
        (Decimal("25.93"), "4mg/片", "片"),
    ]
    bracketed = Drug.objects.get(generic_name="中长链脂肪乳/氨基酸(16)/葡萄糖(36%)注射液")
    specs = list(bracketed.payment_standards.order_by("id").values_list("specification", flat=True))
    assert len(specs) == 2 and "；复方氨基酸(16)注射液250ml；" in specs[0]

    iodine = Drug.objects.get(list_no=398, section="negotiated_western")
    (tiered,) = iodine.payment_standards.all()
    assert tiered.amount is None and tiered.tiered_note["table"][1] == [
        "1-10",
        "59.00",
        "1毫居价格为1*59=59.00",
    ]
    assert iodine.special_control == SpecialControl.RADIOACTIVE

    lorlatinib = Drug.objects.get(generic_name="洛拉替尼片")
    assert lorlatinib.pinyin_initials == "lltnp" and lorlatinib.is_anti_cancer
    assert lorlatinib.restrictions.get().text == (
        "限间变性淋巴瘤激酶(ALK)阳性的局部晚期或转移性非小细胞肺癌患者。"
    )
    assert lorlatinib.agreement_end == date(2026, 12, 31)
    assert Drug.objects.get(generic_name="西妥昔单抗注射液").needs_cold_chain
    assert Drug.objects.get(generic_name="羟考酮纳洛酮缓释片").special_control == "narcotic"
    # Bidding no. 9 keeps the source's U+2F09 for 儿.
    assert "⼉" in Restriction.objects.get(drug__generic_name="他克莫司颗粒").text

    event = AuditEvent.objects.get(action="catalog.list_imported")
    assert event.subject_id == str(edition.pk) and event.actor is None
    assert event.summary["drugs_created"] == 411 and event.summary["standards_added"] == 458
    assert verify_chain() == []


def test_numbered_restrictions_become_drafted_checklists(db):
    import_list_file()

    drafted = CriteriaSet.objects.filter(origin=CriteriaOrigin.DRAFTED)
    with_text = Restriction.objects.exclude(text="").count()
    assert drafted.count() == with_text == 350
    assert set(drafted.values_list("status", flat=True)) == {CriteriaStatus.DRAFT}
    ppi = drafted.get(drug__generic_name="注射用艾普拉唑钠")
    assert [(i.code, i.kind, i.group, i.text) for i in ppi.items.order_by("position")] == [
        ("indication-1", "attestation", "indication", "预防重症患者应激性溃疡出血"),
        ("indication-2", "attestation", "indication", "消化性溃疡出血"),
    ]
    plain = drafted.get(drug__generic_name="安奈拉唑钠肠溶片")
    assert [(i.code, i.group, i.text) for i in plain.items.all()] == [
        ("restriction", "", "限十二指肠溃疡。")
    ]
    assert ppi.status_history.get().to_status == CriteriaStatus.DRAFT


def test_reimport_of_the_same_edition_changes_nothing(db):
    import_list_file()
    before = _table_counts()
    ids = set(PaymentStandard.objects.values_list("id", "effective_to"))

    report = import_list_file()

    after = _table_counts()
    assert after.pop("AuditEvent") == before.pop("AuditEvent") + 1  # the import itself is audited
    assert after == before
    assert set(PaymentStandard.objects.values_list("id", "effective_to")) == ids
    assert report.drugs_created == report.drugs_updated == report.drafts_created == 0
    assert report.drugs_unchanged == 411


def test_later_edition_versions_changed_drugs_and_keeps_history(db, tmp_path):
    rows = copy.deepcopy(SHIPPED_ROWS[:6])  # nos. 1-6
    first = _write(tmp_path, rows, "2025.json")
    import_list_file(first, code="E1", title="第一版", effective_from=date(2026, 1, 1))
    unchanged = Drug.objects.get(generic_name="安奈拉唑钠肠溶片")
    unchanged_rows = set(unchanged.payment_standards.values_list("id", "effective_to"))

    later = copy.deepcopy(rows[:5])  # no. 6 (甲磺酸多拉司琼注射液) is no longer listed
    later[0]["payment_standard"] = "48.00元(10mg/瓶)"  # 注射用艾普拉唑钠: new price
    later[2]["restriction"] = "限反流性食管炎。"  # 替戈拉生片: narrower restriction
    second = _write(tmp_path, later, "2026.json")
    report = import_list_file(second, code="E2", title="第二版", effective_from=date(2027, 1, 1))

    assert (report.drugs_updated, report.drugs_unchanged, report.drugs_missing_from_list) == (
        2,
        3,
        1,
    )
    ilaprazole = Drug.objects.get(generic_name="注射用艾普拉唑钠")
    history = list(ilaprazole.payment_standards.order_by("effective_from"))
    assert [(s.amount, s.effective_from, s.effective_to) for s in history] == [
        (Decimal("52.60"), date(2026, 1, 1), date(2026, 12, 31)),
        (Decimal("48.00"), date(2027, 1, 1), None),
    ]
    tegoprazan = Drug.objects.get(generic_name="替戈拉生片")
    restrictions = list(tegoprazan.restrictions.order_by("effective_from"))
    assert [(r.effective_to, r.text) for r in restrictions] == [
        (date(2026, 12, 31), rows[2]["restriction"]),
        (None, "限反流性食管炎。"),
    ]
    # A new drafted checklist for the new restriction; the stale draft is retired.
    sets = list(tegoprazan.criteria_sets.order_by("version"))
    assert [(s.version, s.status, s.restriction_id) for s in sets] == [
        (1, CriteriaStatus.RETIRED, restrictions[0].id),
        (2, CriteriaStatus.DRAFT, restrictions[1].id),
    ]
    assert set(unchanged.payment_standards.values_list("id", "effective_to")) == unchanged_rows
    dropped = Drug.objects.get(generic_name="甲磺酸多拉司琼注射液")
    assert dropped.payment_standards.filter(effective_to__isnull=True).count() == 2
    assert dropped.edition.code == "E1"


def test_older_edition_after_a_later_one_is_refused(db, tmp_path):
    path = _write(tmp_path, SHIPPED_ROWS[:3])
    import_list_file(path, code="E2", title="第二版", effective_from=date(2027, 1, 1))

    with pytest.raises(Conflict) as caught:
        import_list_file(path, code="E1", title="第一版", effective_from=date(2026, 1, 1))

    assert caught.value.code == "catalog.edition_out_of_order"
    assert ListEdition.objects.count() == 1


def test_same_edition_code_with_another_file_is_refused(db, tmp_path):
    import_list_file(_write(tmp_path, SHIPPED_ROWS[:3], "a.json"), code="E1", title="第一版")
    before = _table_counts()

    with pytest.raises(Conflict) as caught:
        import_list_file(_write(tmp_path, SHIPPED_ROWS[:4], "b.json"), code="E1", title="第一版")

    assert caught.value.code == "catalog.edition_conflict"
    assert _table_counts() == before


def _mutate(field, value, row=1):
    def change(rows):
        if value is KeyError:
            rows[row].pop(field)
        else:
            rows[row][field] = value
        return rows

    return change


BAD_FILES = [
    (
        "malformed payment standard",
        _mutate("payment_standard", "52.60元10mg/瓶"),
        2,
        "payment_standard",
    ),
    (
        "amount with three decimals",
        _mutate("payment_standard", "1.234元(1mg/片)"),
        2,
        "payment_standard",
    ),
    ("bad agreement date", _mutate("agreement_end", "2027-02-30"), 2, "agreement_end"),
    ("end before start", _mutate("agreement_end", "2025-06-30"), 2, "agreement_end"),
    ("missing name", _mutate("name_zh", KeyError), 2, "name_zh"),
    ("blank name", _mutate("name_zh", "  "), 2, "name_zh"),
    ("duplicate name", _mutate("name_zh", "注射用艾普拉唑钠"), 2, "name_zh"),
    ("duplicate number", _mutate("no", "1"), 2, "no"),
    ("bad category", _mutate("category_code", "A02BC"), 2, "category_code"),
    ("confidential flag disagrees", _mutate("price_confidential", False), 2, "price_confidential"),
    ("unknown section", _mutate("section", "中成药"), 2, "section"),
    ("bad class", _mutate("class", "丙"), 2, "class"),
    ("row not an object", lambda rows: [*rows[:2], "oops", *rows[3:]], 3, "row"),
]


@pytest.mark.parametrize(
    ("case", "mutate", "row", "field"), BAD_FILES, ids=[c[0] for c in BAD_FILES]
)
def test_malformed_file_is_refused_with_row_and_field(db, tmp_path, case, mutate, row, field):
    path = _write(tmp_path, mutate(copy.deepcopy(SHIPPED_ROWS[:5])))

    with pytest.raises(ImportFileError) as caught:
        import_list_file(path, code="BAD", title="坏文件")

    error = caught.value
    assert error.code == "catalog.import_invalid"
    assert f"rows[{row}].{field}" in error.fields
    assert f"第{row}行「{field}」" in error.message
    assert _table_counts() == dict.fromkeys(_table_counts(), 0)


@pytest.mark.parametrize(
    ("content", "name", "field"),
    [
        (b"{not json", "list.json", "file"),
        (b'{"rows": []}', "list.json", "file"),
        (b"[]", "list.json", "file"),
        (b"\xff\xfe\x00", "list.json", "file"),
        (b"section,no,name_zh\n", "list.csv", "header"),
        (b"[]", "list.xlsx", "file"),
    ],
)
def test_unreadable_files_are_refused(db, tmp_path, content, name, field):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(ImportFileError) as caught:
        import_list_file(path, code="BAD", title="坏文件")

    assert field in caught.value.fields
    assert ListEdition.objects.count() == 0


def test_bad_later_file_leaves_the_catalogue_untouched(db, tmp_path):
    rows = copy.deepcopy(SHIPPED_ROWS[:5])
    import_list_file(_write(tmp_path, rows, "ok.json"), code="E1", title="第一版")
    before = _table_counts()
    rows[0]["payment_standard"] = "48.00元(10mg/瓶)"  # a valid change …
    rows[4]["agreement_start"] = "2026/01/01"  # … but a bad row further down
    with pytest.raises(ImportFileError) as caught:
        import_list_file(
            _write(tmp_path, rows, "bad.json"),
            code="E2",
            title="第二版",
            effective_from=date(2027, 1, 1),
        )
    assert "rows[5].agreement_start" in caught.value.fields
    assert _table_counts() == before
    assert PaymentStandard.objects.filter(source_text="48.00元(10mg/瓶)").count() == 0


def test_csv_file_with_the_same_columns_imports(db, tmp_path):
    source = (SHIPPED_FILE.parent / "nrdl2025_negotiated_west_and_bidding.csv").read_text(
        encoding="utf-8"
    )
    reader = list(csv.DictReader(io.StringIO(source)))[:10]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(reader[0]))
    writer.writeheader()
    writer.writerows(reader)
    path = tmp_path / "list.csv"
    path.write_text(out.getvalue(), encoding="utf-8")

    report = import_list_file(path, code="CSV", title="CSV")

    assert report.drugs_created == 10
    assert Drug.objects.get(generic_name="甲磺酸多拉司琼注射液").payment_standards.count() == 2


def test_import_command_prints_counts_and_refuses_bad_files(db, tmp_path):
    out = io.StringIO()
    path = _write(tmp_path, SHIPPED_ROWS[:4])
    call_command(
        "catalog_import",
        str(path),
        "--edition",
        "CMD",
        "--effective-from",
        "2026-01-01",
        "--title",
        "命令导入",
        "--document-no",
        "测试",
        stdout=out,
    )
    assert "新增药品 4" in out.getvalue()
    assert ListEdition.objects.get().document_no == "测试"

    bad = copy.deepcopy(SHIPPED_ROWS[:4])
    bad[3]["payment_standard"] = "abc"
    with pytest.raises(CommandError, match=r"rows\[4\]\.payment_standard"):
        call_command(
            "catalog_import",
            str(_write(tmp_path, bad, "bad.json")),
            "--edition",
            "CMD2",
            "--effective-from",
            "2027-01-01",
            stdout=io.StringIO(),
        )
    assert ListEdition.objects.count() == 1
