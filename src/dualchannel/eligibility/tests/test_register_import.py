"""Import of the eligibilities a region already has [HB art. 49]: a dry run lists every row's
problem, the import is all or nothing, imported eligibilities are marked with their history,
persons not yet registered are created from the row."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from dualchannel.core.errors import DomainError, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.eligibility.models import (
    Application,
    Eligibility,
    EligibilityImport,
    EligibilitySource,
    EligibilityStatus,
)
from dualchannel.eligibility.selectors import eligibility_benefits_active
from dualchannel.eligibility.services import register_import
from dualchannel.registry.models import InsuredPerson
from dualchannel.registry.tests.factories import make_id_number

pytestmark = pytest.mark.django_db
TODAY = date(2026, 3, 10)
HEADER = (
    "身份证号,姓名,参保类型,医保药品代码,诊断编码,诊断名称,医疗机构统一社会信用代码,"
    "责任医师代码,定点零售药店统一社会信用代码,生效日期,下次复查评估截止日,方案总药量,总药量单位"
)


@pytest.fixture
def coded_drug(lung_drug):
    lung_drug.national_code = "XL01EDS123A001010104425"
    lung_drug.save(update_fields=["national_code"])
    return lung_drug


@pytest.fixture
def world(coded_drug, physician, bound_pharmacy, zhang):
    return {"drug": coded_drug, "physician": physician, "pharmacy": bound_pharmacy, "zhang": zhang}


def line(world, *, id_number=None, name=None, drug_code=None, insurance="", **over) -> str:
    values = [
        id_number or world["zhang"].id_number,
        name or world["zhang"].name,
        insurance,
        drug_code or world["drug"].national_code,
        "C34.100x004",
        "右肺上叶恶性肿瘤",
        world["physician"].hospital.credit_code,
        world["physician"].staff_code,
        over.get("pharmacy", world["pharmacy"].credit_code),
        over.get("effective_from", "2025-11-01"),
        over.get("due", "2026-05-01"),
        over.get("quantity", "600"),
        "粒",
    ]
    return ",".join(values)


def csv_of(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode("utf-8")


def xlsx_of(*rows: list | None) -> bytes:
    """A workbook as Excel saves it: Chinese headers, then rows (``None``: an empty row)."""
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    for row in rows:
        sheet.append(row or [])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_line(world, **over) -> list:
    """A row with typed cells: a date cell, codes and the quantity typed as numbers."""
    cells: list = line(world, **over).split(",")
    cells[2] = int(cells[2]) if cells[2] else None  # 参保类型 310 as a number
    cells[9] = date.fromisoformat(cells[9])  # 生效日期 as a date cell
    cells[11] = float(cells[11])  # 方案总药量 600.0 shown as 600
    return cells


def new_id(serial: int = 777) -> str:
    return make_id_number("420102", date(1970, 5, 6), serial)


def bad_check_digit(number: str) -> str:
    last = "0" if number[-1] != "0" else "1"
    return number[:-1] + last


def state():
    return (
        Eligibility.objects.count(),
        Application.objects.count(),
        InsuredPerson.objects.count(),
        EligibilityImport.objects.count(),
        AuditEvent.objects.count(),
    )


def test_the_register_is_imported_and_marked_imported_with_history(world, agency_user):
    """HB art. 49: an eligibility assessed before the platform needs no new application; it is
    entered as imported, active from its own date, with its history; an unregistered person is
    created from the row."""
    content = csv_of(
        line(world),
        line(world, id_number=new_id(), name="王新", insurance="390"),
    )

    batch = register_import.register_import(
        actor=agency_user, content=content, filename="台账.csv", today=TODAY
    )

    assert batch.rows == 2 and batch.persons_created == 1
    assert batch.import_no.startswith("DR20260310")
    imported = list(Eligibility.objects.filter(import_batch=batch).order_by("pk"))
    assert [e.source for e in imported] == [EligibilitySource.IMPORTED] * 2
    first = imported[0]
    assert first.patient == world["zhang"] and first.status == EligibilityStatus.ACTIVE
    assert first.effective_from == date(2025, 11, 1)
    assert first.next_reevaluation_due == date(2026, 5, 1)
    assert first.pharmacy == world["pharmacy"] and first.physician == world["physician"]
    assert eligibility_benefits_active(first, on=TODAY)
    assert list(first.history.values_list("from_status", "to_status")) == [("", "active")]
    assert first.application.status == "approved"
    assert list(first.application.history.values_list("to_status", flat=True)) == ["approved"]
    created = InsuredPerson.objects.get(id_number=new_id())
    assert created.name == "王新" and created.insurance_type == "390"
    assert created.enrolment_region_id == agency_user.institution.region_id
    assert AuditEvent.objects.filter(action="eligibility.imported").count() == 2
    assert AuditEvent.objects.filter(action="registry.insured_person_created").count() == 1
    (event,) = AuditEvent.objects.filter(action="eligibility.register_imported")
    assert event.summary["rows"] == 2


def test_the_dry_run_lists_every_rows_problem_and_writes_nothing(world, agency_user):
    """HB art. 49 (bad input): a bad ID check digit and an unknown drug code are each listed with
    their code and Chinese message; the dry run writes nothing."""
    content = csv_of(
        line(world),
        line(world, id_number=bad_check_digit(new_id()), name="王新", insurance="390"),
        line(world, id_number=new_id(778), name="李新", insurance="310", drug_code="X000"),
        line(world, pharmacy=""),
    )
    before = state()

    report = register_import.register_import_check(actor=agency_user, content=content, today=TODAY)

    assert not report.ok and [r.row for r in report.rows] == [2]
    problems = [(p.row, p.field, p.code) for p in report.problems]
    assert problems == [
        (3, "id_number", "registry.invalid_id_number"),
        (4, "drug_code", "eligibility.import_unknown_drug"),
        (5, "pharmacy", "eligibility.pharmacy_required"),  # HB art. 6: three-fixed
    ]
    assert report.problems[0].message == "身份证号校验位不正确"
    assert state() == before


def test_one_bad_row_refuses_the_whole_file_and_nothing_is_written(world, agency_user):
    """HB art. 49: all or nothing — the good rows are not imported either."""
    content = csv_of(
        line(world),
        line(world, id_number=new_id(), name="王新", insurance="390", drug_code="X000"),
    )
    before = state()

    with pytest.raises(DomainError) as refused:
        register_import.register_import(actor=agency_user, content=content, today=TODAY)

    assert refused.value.code == "eligibility.import_rows"
    assert refused.value.fields == {
        "row3.drug_code": ["eligibility.import_unknown_drug：医保药品代码不存在"]
    }
    assert state() == before


def test_a_person_with_a_live_eligibility_and_a_repeated_row_are_refused(world, agency_user):
    """HB art. 8: one live right per drug — a second import of the same row is refused."""
    register_import.register_import(actor=agency_user, content=csv_of(line(world)), today=TODAY)

    report = register_import.register_import_check(
        actor=agency_user, content=csv_of(line(world), line(world)), today=TODAY
    )

    assert [p.code for p in report.problems] == ["eligibility.duplicate", "eligibility.duplicate"]


def test_only_an_officer_of_the_region_imports(world, physician_user, outsider_agency):
    """HB art. 49: the enrolment region's agency; a Hefei officer finds no Wuhan hospital."""
    with pytest.raises(PermissionDenied):
        register_import.register_import_check(
            actor=physician_user, content=csv_of(line(world)), today=TODAY
        )
    report = register_import.register_import_check(
        actor=outsider_agency, content=csv_of(line(world)), today=TODAY
    )
    assert {p.code for p in report.problems} <= {
        "eligibility.import_not_found",
    } and report.problems


def test_an_empty_or_damaged_file_is_refused(agency_user):
    """HB art. 49 (bad input): the file must be a CSV or .xlsx with the columns."""
    for content, code in (
        (b"", "eligibility.import_empty"),
        (b"PK\x03\x04xlsx", "eligibility.import_bad_file"),
        ("姓名\n张三\n".encode(), "eligibility.import_bad_file"),
    ):
        with pytest.raises(DomainError) as refused:
            register_import.register_import_check(actor=agency_user, content=content)
        assert refused.value.code == code


def test_the_officer_page_shows_the_dry_run_table_and_imports(world, agency_user, client):
    """HB art. 49: the page's dry run lists the problems; the import then writes all rows."""
    client.force_login(agency_user)
    url = reverse("agency-eligibility-import")
    assert "既有用药资格导入" in client.get(url).content.decode()
    bad = csv_of(line(world, drug_code="X000"))

    page = client.post(url, {"action": "check", "file": SimpleUploadedFile("a.csv", bad)})

    text = page.content.decode()
    assert page.status_code == 200 and 'data-code="eligibility.import_unknown_drug"' in text
    # the problem in words, under its column's Chinese header; the code only in an attribute
    assert "<td>医保药品代码</td><td>医保药品代码不存在" in text.replace("\n", "")
    assert ">eligibility.import_unknown_drug<" not in text and "<code>" not in text
    assert "<td>drug_code</td>" not in text and "列名（英文）" not in text
    done = client.post(
        url, {"action": "import", "file": SimpleUploadedFile("a.csv", csv_of(line(world)))}
    )
    assert done.status_code == 200 and "已导入 1 条用药资格" in done.content.decode()
    assert Eligibility.objects.filter(source=EligibilitySource.IMPORTED).count() == 1


def test_the_api_dry_run_and_import(world, agency_user, api_client):
    """HB art. 49: the API's dry run answers every problem; a bad file is refused with its code."""
    api = api_client.as_user(agency_user)
    bad = csv_of(line(world, id_number=bad_check_digit(new_id()), name="王新", insurance="390"))

    check = api.post(
        "/api/v1/eligibility/register-imports/check", {"file": SimpleUploadedFile("a.csv", bad)}
    )
    assert check.status_code == 200
    assert check.json()["problems"][0]["code"] == "registry.invalid_id_number"
    refused = api.post(
        "/api/v1/eligibility/register-imports", {"file": SimpleUploadedFile("a.csv", bad)}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "eligibility.import_rows"
    done = api.post(
        "/api/v1/eligibility/register-imports",
        {"file": SimpleUploadedFile("a.csv", csv_of(line(world)))},
    )
    assert done.status_code == 201 and done.json()["rows"] == 1


def test_an_xlsx_register_is_checked_row_by_row_and_imported(world, agency_user):
    """HB art. 49: the register as Excel saves it (.xlsx, a date cell, a code typed as a number)
    is read like the CSV; the dry run lists each row's problem by the row number the sheet shows
    (an empty row skipped, its number kept), and writes nothing; the corrected file imports."""
    newcomer = xlsx_line(world, id_number=new_id(), name="王新", insurance="310")
    unknown_drug = xlsx_line(
        world, id_number=new_id(778), name="李新", insurance="390", drug_code="X000"
    )
    future = xlsx_line(
        world, id_number=new_id(779), name="赵新", insurance="390", effective_from="2099-01-01"
    )
    content = xlsx_of(xlsx_line(world), None, unknown_drug, future, newcomer)
    before = state()

    report = register_import.register_import_check(
        actor=agency_user, content=content, filename="台账.xlsx", today=TODAY
    )

    assert [r.row for r in report.rows] == [2, 6]
    assert [(p.row, p.field, p.code) for p in report.problems] == [
        (4, "drug_code", "eligibility.import_unknown_drug"),
        (5, "effective_from", "eligibility.import_bad_value"),
    ]
    assert report.rows[0].effective_from == date(2025, 11, 1)
    assert report.rows[0].quantity == 600
    assert report.rows[1].insurance_type == "310"
    assert state() == before

    batch = register_import.register_import(
        actor=agency_user, content=xlsx_of(xlsx_line(world), newcomer), filename="台账.xlsx",
        today=TODAY,
    )  # fmt: skip
    assert batch.rows == 2 and batch.persons_created == 1
    assert InsuredPerson.objects.get(name="王新").insurance_type == "310"


def test_a_corrupt_encrypted_or_xls_workbook_is_refused_and_nothing_written(world, agency_user):
    """HB art. 49 (bad input): a damaged .xlsx, an encrypted workbook (an OLE2 container) and a
    legacy .xls are refused with ``eligibility.import_bad_file`` and a Chinese message; nothing
    is written."""
    good = xlsx_of(xlsx_line(world))
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600
    before = state()
    for content, filename, words in (
        (good[: len(good) // 2], "台账.xlsx", "已损坏"),
        (ole2, "台账.xlsx", "已加密"),
        (ole2, "台账.xls", ".xls"),
        (good, "台账.xls", ".xls"),
    ):
        with pytest.raises(DomainError) as refused:
            register_import.register_import(
                actor=agency_user, content=content, filename=filename, today=TODAY
            )
        assert refused.value.code == "eligibility.import_bad_file"
        assert words in refused.value.message
    assert state() == before


def test_the_officer_page_takes_an_xlsx_upload(world, agency_user, client):
    """HB art. 49: the page's upload accepts the .xlsx and its dry run names the problem."""
    client.force_login(agency_user)
    bad = xlsx_of(xlsx_line(world, drug_code="X000"))

    page = client.post(
        reverse("agency-eligibility-import"),
        {"action": "check", "file": SimpleUploadedFile("台账.xlsx", bad)},
    )

    text = page.content.decode()
    assert page.status_code == 200 and "医保药品代码不存在" in text
    assert ".xlsx" in text and "Excel 请另存为 CSV" not in text
