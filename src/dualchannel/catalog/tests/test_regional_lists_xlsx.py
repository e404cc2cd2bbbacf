"""Regional lists uploaded as Excel .xlsx [CX art. 4, 7; SD §1]: the prefecture's list as the
office keeps it (a sheet with Chinese headers, date cells, codes typed as numbers) is read like
the CSV; a damaged, encrypted or legacy workbook is refused and nothing is written.

The ``agency_user`` works for the Wuhan agency (420100).
"""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from dualchannel.catalog.models import RegionalList, RegionalListEntry, RegionalListKind
from dualchannel.catalog.regional_lists import RegionalListFileError, regional_list_import
from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.models import AuditEvent
from dualchannel.registry.tests.factories import region

pytestmark = pytest.mark.django_db
HEADER = ["医保药品代码", "通用名", "生效日期", "失效日期", "备注"]


def _xlsx(*rows: list | None, header: list = HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "双通道目录"
    sheet.append(header)
    for row in rows:
        sheet.append(row or [])
    book.create_sheet("说明").append(["本页不导入"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _import(actor, raw: bytes, *, filename="目录.xlsx", dry_run=False):
    return regional_list_import(
        actor=actor,
        region_code="420100",
        kind=RegionalListKind.DUAL_CHANNEL,
        title="武汉市2027年双通道管理药品目录",
        valid_from="2027-01-01",
        valid_to="2027-12-31",
        raw=raw,
        filename=filename,
        dry_run=dry_run,
    )


def _written() -> tuple[int, int, int]:
    return (
        RegionalList.objects.count(),
        RegionalListEntry.objects.count(),
        AuditEvent.objects.filter(action__startswith="catalog.regional_list").count(),
    )


def test_an_xlsx_list_is_checked_and_imported_with_its_date_cells(agency_user):
    """CX art. 4, 7: the list as an .xlsx — a date cell (and a date-time cell at midnight), a
    code typed as a number, an empty row — is read from its first sheet; the dry run writes
    nothing, the import writes the entries with their rows as the sheet shows them."""
    by_code = DrugFactory(national_code="20270101")
    by_name = DrugFactory()
    raw = _xlsx(
        [20270101, None, date(2027, 2, 1), datetime(2027, 6, 30), "首批"],
        None,
        [None, by_name.generic_name, None, None, 2027.5],
    )

    report = _import(agency_user, raw, dry_run=True)

    assert report.dry_run and report.rows == 2 and _written() == (0, 0, 0)
    assert [(e.row, e.drug, e.valid_from, e.valid_to, e.note) for e in report.entries] == [
        (2, by_code, date(2027, 2, 1), date(2027, 6, 30), "首批"),
        (4, by_name, date(2027, 1, 1), date(2027, 12, 31), "2027.5"),
    ]
    listing = _import(agency_user, raw).regional_list
    assert listing.row_count == 2
    assert sorted(listing.entries.values_list("row", flat=True)) == [2, 4]


def test_the_dry_run_of_an_xlsx_lists_each_rows_problem(agency_user):
    """Bad input (CX art. 4): an unknown code, a text date that is no date, a date outside the
    list — each reported with the row number the sheet shows; nothing written."""
    drug = DrugFactory()
    raw = _xlsx(
        [123, None, None, None, None],
        [None, drug.generic_name, "2027-02-30", None, None],
        None,
        [None, drug.generic_name, date(2026, 12, 1), None, None],
    )

    with pytest.raises(RegionalListFileError) as caught:
        _import(agency_user, raw, dry_run=True)

    problems = {(row, name): text for row, name, text in caught.value.errors}
    assert "未知药品代码「123」" in problems[(2, "drug_code")]
    assert "格式有误" in problems[(3, "valid_from")]
    assert "早于目录执行日期" in problems[(5, "valid_from")]
    assert caught.value.code == "catalog.regional_list_invalid"
    assert _written() == (0, 0, 0)


def test_a_corrupt_encrypted_or_legacy_workbook_is_refused(agency_user):
    """Bad input: a damaged .xlsx, an encrypted workbook (an OLE2 container), a legacy .xls,
    a file of another type — refused with a Chinese message, nothing written."""
    good = _xlsx([None, DrugFactory().generic_name, None, None, None])
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600
    for raw, filename, words in (
        (good[:300], "目录.xlsx", "已损坏"),
        (b"PK\x03\x04not a workbook", "目录.xlsx", "已损坏"),
        (ole2, "目录.xlsx", "已加密"),
        (ole2, "目录.xls", ".xls"),
        (good, "目录.pdf", "只支持 CSV 或 Excel"),
    ):
        with pytest.raises(RegionalListFileError) as caught:
            _import(agency_user, raw, filename=filename)
        assert caught.value.code == "catalog.regional_list_invalid"
        assert words in caught.value.message, filename
    assert _written() == (0, 0, 0)


def test_the_console_takes_an_xlsx_upload(client, agency_user):
    """CX art. 4: the console's 校验 accepts the .xlsx upload; its text no longer asks for CSV."""
    region("420100")
    drug = DrugFactory()
    client.force_login(agency_user)
    form = {
        "region": "420100",
        "kind": "chronic_disease",
        "title": "武汉市门诊慢特病双通道用药",
        "valid_from": "2027-01-01",
        "action": "dry_run",
        "file": SimpleUploadedFile("目录.xlsx", _xlsx([None, drug.generic_name, None, None, None])),
    }

    checked = client.post(reverse("agency-regional-list-import"), form, HTTP_HX_REQUEST="true")
    page = client.get(reverse("agency-regional-lists")).content.decode()

    assert "校验通过（未导入）" in checked.content.decode()
    assert drug.generic_name in checked.content.decode()
    assert ".xlsx" in page and "Excel 文件请另存为 CSV" not in page
    assert RegionalList.objects.count() == 0


def test_the_console_offers_the_officers_regions_by_name(client, agency_user):
    """SD §1 (issue 12): the publishing region is picked by name among the officer's region and
    those inside it, the officer's own preselected; no code to type, none of another region;
    the imported list's page names its region without the code."""
    for code in ("420100", "420106", "340100"):
        region(code)
    drug = DrugFactory()
    client.force_login(agency_user)

    page = client.get(reverse("agency-regional-lists")).content.decode()

    assert '<option value="420100" selected>武汉市</option>' in page
    assert '<option value="420106">武昌区</option>' in page
    assert 'value="340100"' not in page and "区划代码" not in page
    form = {
        "region": "420106",
        "kind": "chronic_disease",
        "title": "武昌区门诊慢特病双通道用药",
        "valid_from": "2027-01-01",
        "action": "import",
        "file": SimpleUploadedFile("目录.xlsx", _xlsx([None, drug.generic_name, None, None, None])),
    }
    client.post(reverse("agency-regional-list-import"), form, HTTP_HX_REQUEST="true")
    listing = RegionalList.objects.get()
    detail = client.get(reverse("agency-regional-list", args=[listing.pk])).content.decode()
    assert listing.region_id == "420106"
    assert "<dd>武昌区</dd>" in detail and "420106" not in detail
