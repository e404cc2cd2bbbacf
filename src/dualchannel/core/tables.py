"""One reader for the tables officers upload (CSV or Excel .xlsx) [HB art. 49; CX art. 4].

``read_table(raw, filename)`` gives the header (the first row) and the data rows, each with its
row number as the spreadsheet shows it (the header is row 1), every cell as stripped text:

- CSV: UTF-8 (with or without BOM), else GB18030 (which covers GBK), as Excel saves it in China.
- .xlsx: the first sheet through ``openpyxl`` (read-only, cached values of formulas); a date as
  ``YYYY-MM-DD`` (with `` HH:MM:SS`` only when it has a time of day), a whole number without
  ``.0`` (a code typed as a number stays ``"310"``), other numbers as written.
- Empty rows are skipped (their numbers are not reused); size, rows and columns are bounded, and
  the unpacked size of an .xlsx too (a zip bomb is refused before it is read).
- Refused with ``TableRefused`` (a ``DomainError``; ``kind`` bad_file / empty / too_many): a
  legacy .xls, an encrypted workbook, a damaged .xlsx, an unknown file type, an unknown encoding,
  too large a file, no data rows, too many rows. Callers map ``kind`` to their own error code.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from .errors import DomainError

BAD_FILE = "bad_file"
EMPTY = "empty"
TOO_MANY = "too_many"
MAX_COLUMNS = 64
MAX_UNPACKED_FACTOR = 40  # an .xlsx may unpack to at most 40 × the upload limit
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and Office's encrypted .xlsx
_ZIP = b"PK\x03\x04"


class TableRefused(DomainError):
    """An uploaded table that cannot be read; ``kind`` says which refusal it is."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"core.table_{kind}", message, fields={"file": [message]})


@dataclass(frozen=True)
class TableRow:
    line: int  # the row number as the spreadsheet shows it (header = 1)
    cells: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[TableRow] = field(default_factory=list)

    def keyed(self, keys: list[str | None]) -> list[tuple[int, dict[str, str]]]:
        """Each row as (row number, key → text), ``keys`` naming the header's columns."""
        return [
            (row.line, {k: v for k, v in zip(keys, row.cells, strict=False) if k})
            for row in self.rows
        ]


def read_table(
    raw: bytes, filename: str = "", *, max_bytes: int = 5 * 1024 * 1024, max_rows: int = 5000
) -> Table:
    """The header and the non-empty rows of an uploaded CSV or .xlsx file."""
    if not raw or not raw.strip():
        raise TableRefused(EMPTY, "导入文件为空")
    if len(raw) > max_bytes:
        raise TableRefused(BAD_FILE, f"文件超过 {_size(max_bytes)}")
    name = (filename or "").lower().rsplit("/", 1)[-1]
    if name.endswith(".xls") or (raw.startswith(_OLE2) and not name.endswith(".xlsx")):
        raise TableRefused(BAD_FILE, "不支持旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV 后导入")
    if raw.startswith(_OLE2):
        raise TableRefused(BAD_FILE, "Excel 文件已加密或已损坏，请取消密码后另存为 .xlsx 再导入")
    if name.endswith(".xlsx") or (not name and raw.startswith(_ZIP)):
        rows = _xlsx_rows(raw, max_bytes)
    elif name and not name.endswith((".csv", ".txt")):
        raise TableRefused(BAD_FILE, "只支持 CSV 或 Excel（.xlsx）文件")
    elif raw.startswith(_ZIP):
        raise TableRefused(BAD_FILE, "文件内容不是 CSV，Excel 文件请以 .xlsx 扩展名上传")
    else:
        rows = _csv_rows(raw)
    return _table(rows, max_rows)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def _table(rows, max_rows: int) -> Table:
    table: Table | None = None
    for line, values in rows:
        cells = [_text(v) for v in values[:MAX_COLUMNS]]
        while cells and not cells[-1]:
            cells.pop()
        if table is None:
            if line != 1 or not cells:
                raise TableRefused(BAD_FILE, "第 1 行应为列名（表头）")
            table = Table(header=cells)
            continue
        if not cells:
            continue
        if len(table.rows) >= max_rows:
            raise TableRefused(TOO_MANY, f"一次最多导入 {max_rows} 行")
        table.rows.append(TableRow(line, cells))
    if table is None or not table.rows:
        raise TableRefused(EMPTY, "导入文件没有数据行")
    return table


def _csv_rows(raw: bytes):
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise TableRefused(BAD_FILE, "文件编码无法识别，请另存为 UTF-8 的 CSV 或 .xlsx 文件")
    try:
        # each record is one spreadsheet row, even with a line break inside a quoted cell
        return list(enumerate(csv.reader(io.StringIO(text)), start=1))
    except csv.Error:
        raise TableRefused(BAD_FILE, "CSV 文件格式有误（引号不配对或含空字符）") from None


def _xlsx_rows(raw: bytes, max_bytes: int):
    from openpyxl import load_workbook  # noqa: PLC0415 - only officers' uploads need it

    broken = "Excel 文件已损坏或不是有效的 .xlsx 文件，请重新保存后导入"
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise TableRefused(BAD_FILE, broken) from None
    if unpacked > max_bytes * MAX_UNPACKED_FACTOR:
        raise TableRefused(BAD_FILE, "Excel 文件解压后过大，请删去无关的工作表或另存为 CSV")
    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            return [
                (line, list(values))
                for line, values in enumerate(
                    sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1
                )
            ]
        finally:
            workbook.close()
    except TableRefused:
        raise
    except Exception:  # openpyxl raises many types for a damaged archive or sheet
        raise TableRefused(BAD_FILE, broken) from None


def _text(value) -> str:
    """A cell as the officer sees it: dates as YYYY-MM-DD, whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    return str(value).strip()
