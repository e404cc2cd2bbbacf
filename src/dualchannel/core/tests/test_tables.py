"""The shared reader of officers' uploads (``core.tables``) [HB art. 49; CX art. 4]: CSV in UTF-8
or GB18030 and .xlsx read alike, cells as the officer sees them, rows numbered as the sheet shows
them, and every unreadable file refused with a code and a Chinese message."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time

import pytest
from openpyxl import Workbook

from dualchannel.core.tables import TableRefused, read_table


def _xlsx(*rows: list | None) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row or [])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_csv_and_xlsx_give_the_same_text():
    """HB art. 49: the register as CSV (UTF-8 or GBK) or .xlsx reads the same."""
    header = ["身份证号", "参保类型", "生效日期", "方案总药量", "时刻"]
    book = _xlsx(
        header,
        ["420102197005060777", 310, date(2025, 11, 1), 600.0, time(8, 30)],
        None,
        [" 张三 ", None, datetime(2025, 11, 1, 9, 15), 12.5, True],
    )
    text = ",".join(header) + "\n420102197005060777,310,2025-11-01,600,08:30:00\n"
    text += ",,,,\n 张三 ,,2025-11-01 09:15:00,12.5,TRUE\n"

    read = [read_table(book, "a.xlsx"), read_table(text.encode("gb18030"), "a.csv")]
    read.append(read_table(text.encode("utf-8-sig"), ""))

    for table in read:
        assert table.header == header
        assert [(r.line, r.cells) for r in table.rows] == [
            (2, ["420102197005060777", "310", "2025-11-01", "600", "08:30:00"]),
            (4, ["张三", "", "2025-11-01 09:15:00", "12.5", "TRUE"]),
        ]


@pytest.mark.parametrize(
    ("raw", "filename", "kind", "words"),
    [
        (b"", "a.csv", "empty", "为空"),
        ("列\n\n".encode(), "a.csv", "empty", "没有数据行"),
        (b"\n\xe5\x88\x97\n1\n", "a.csv", "bad_file", "第 1 行"),
        (b"\xff\xfe\x00\x00\xff", "a.csv", "bad_file", "编码"),
        (b"PK\x03\x04broken", "a.xlsx", "bad_file", "已损坏"),
        (b"PK\x03\x04broken", "", "bad_file", "已损坏"),
        (b"PK\x03\x04broken", "a.csv", "bad_file", ".xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "a.xlsx", "bad_file", "已加密"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "", "bad_file", ".xls"),
        (b"a,b\n1,2\n", "a.xls", "bad_file", ".xls"),
        (b"a,b\n1,2\n", "a.pdf", "bad_file", "只支持"),
        (b"a,b\n" + b"1,2\n" * 4, "a.csv", "too_many", "最多导入 3 行"),
        (b"a,b\n" + b"1,2\n" * 400, "a.csv", "bad_file", "文件超过 1 KB"),
    ],
)
def test_an_unreadable_file_is_refused_with_a_code_and_a_chinese_message(
    raw, filename, kind, words
):
    """HB art. 49 (bad input): empty, no header, unknown encoding, damaged or encrypted .xlsx,
    legacy .xls, another type, too many rows or bytes — each a ``core.table_*`` refusal."""
    with pytest.raises(TableRefused) as refused:
        read_table(raw, filename, max_bytes=1024, max_rows=3)

    assert refused.value.kind == kind and refused.value.code == f"core.table_{kind}"
    assert words in refused.value.message


def test_an_xlsx_that_unpacks_too_large_is_refused_before_it_is_read():
    """Bad input: a zip bomb (a tiny .xlsx unpacking to far more than the limit) is refused."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (2 * 1024 * 1024))

    with pytest.raises(TableRefused) as refused:
        read_table(out.getvalue(), "a.xlsx", max_bytes=20 * 1024)

    assert "解压后过大" in refused.value.message
