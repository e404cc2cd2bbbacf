"""The statistics page's tables as .xlsx (issue 13 §1): one sheet per table of a section, with
the region, the months and the time the rollups were brought up to date (数据截至)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from .stats import StatsScope
from .stats_sections import Section

MONEY_FORMAT = "#,##0.00"
INVALID_SHEET_CHARS = str.maketrans({c: "" for c in "[]:*?/\\"})


def _cell(value):
    if isinstance(value, Decimal):
        return value  # openpyxl writes it as a number; the format shows two places
    if isinstance(value, date | int | float) or value is None:
        return value
    return str(value)


def section_file(section: Section, scope: StatsScope, as_of: datetime | None) -> bytes:
    """The section's tables, one sheet each."""
    book = Workbook()
    book.remove(book.active)
    for index, table in enumerate(section.tables, 1):
        title = table.title.translate(INVALID_SHEET_CHARS)[:28] or f"表{index}"
        ws = book.create_sheet(title=f"{index}.{title}"[:31])
        ws.append([f"{scope.region.name} · {section.title} · {table.title}"])
        ws["A1"].font = Font(bold=True, size=13)
        stamp = f"{as_of:%Y-%m-%d %H:%M}" if as_of else "尚未汇总"
        ws.append([f"统计期间：{scope.label}　结算数据截至：{stamp}"])
        ws.append(list(table.headers))
        for cell in ws[3]:
            cell.font = Font(bold=True)
        for row in table.rows:
            ws.append([_cell(value) for value in row])
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, Decimal):
                    cell.number_format = MONEY_FORMAT
        if table.note:
            ws.append([])
            ws.append([f"说明：{table.note}"])
        for col in range(1, len(table.headers) + 1):
            ws.column_dimensions[get_column_letter(col)].width = 16 if col > 1 else 28
    out = BytesIO()
    book.save(out)
    return out.getvalue()
