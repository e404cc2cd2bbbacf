"""The .xlsx files of the Shandong report [SD §10]: the monthly table in the annex's layout,
and the province's quarterly bulletin (按季通报) built from the three months' submissions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from .sd_monthly import HEADERS, TITLE, MonthlyTable

THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="center")
CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
WIDTHS = (6, 14, 18, 12, 18, 18, 60)
HEADER_ROW = 4


@dataclass(frozen=True)
class Filler:
    """The annex's 填报单位 / 填报人 / 联系电话 / 填报时间."""

    unit: str
    person: str = ""
    phone: str = ""
    on: date | None = None


def _chinese_date(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "    年  月  日"


def _boxed(ws, row: int, values, *, bold: bool = False) -> None:
    for col, value in enumerate(values, 1):
        cell = ws.cell(row=row, column=col, value=value)
        cell.border = BOX
        cell.alignment = WRAP if col == len(values) else CENTRE
        if bold:
            cell.font = Font(bold=True)


def monthly_workbook(table: MonthlyTable, filler: Filler) -> bytes:
    """The annex: 附件, the title, (YYYY年M月), 填报单位（盖章）, the header, one row per county,
    合计, then 填报人 / 联系电话 / 填报时间."""
    wb = Workbook()
    ws = wb.active
    ws.title = "统计表"
    last = get_column_letter(len(HEADERS))
    year, month = table.month.split("-")
    ws["A1"] = "附件"
    ws.merge_cells(f"A2:{last}2")
    ws["A2"] = TITLE
    ws["A2"].font = Font(bold=True, size=16)
    ws["A2"].alignment = CENTRE
    ws.merge_cells(f"A3:{last}3")
    ws["A3"] = f"（{int(year)}年{int(month)}月）"
    ws["A3"].alignment = CENTRE
    ws.merge_cells("A4:G4")
    ws["A4"] = f"填报单位（盖章）：{filler.unit}"
    header = HEADER_ROW + 1
    _boxed(ws, header, HEADERS, bold=True)
    row = header
    for county in table.rows:
        row += 1
        _boxed(
            ws,
            row,
            (
                county.index,
                county.name,
                county.drugs,
                county.pharmacies,
                county.realtime,
                county.e_prescription,
                county.progress,
            ),
        )
    row += 1
    total = table.total
    _boxed(
        ws,
        row,
        ("", total.name, total.drugs, total.pharmacies, total.realtime, total.e_prescription, ""),
        bold=True,
    )
    row += 2
    ws.cell(row=row, column=1, value=f"填报人：{filler.person}")
    ws.cell(row=row, column=4, value=f"联系电话：{filler.phone}")
    ws.cell(row=row, column=6, value=f"填报时间：{_chinese_date(filler.on)}")
    for col, width in enumerate(WIDTHS, 1):
        ws.column_dimensions[get_column_letter(col)].width = width
    return _bytes(wb)


BULLETIN_HEADERS = (
    "序号",
    "市",
    "月份",
    "报送情况",
    "报送日期",
    "纳入“双通道”管理的协议期内谈判药品数量",
    "“双通道”药店数量",
    "实现即时联网结算的“双通道”药店数量",
    "实现电子处方流转的“双通道”药店数量",
    "未开通“双通道”药店的县（市、区）数",
)


@dataclass(frozen=True)
class BulletinLine:
    """One city's month in the bulletin: what it submitted (None: nothing submitted)."""

    city_name: str
    month: date
    status_label: str
    submitted_on: date | None
    table: MonthlyTable | None


def bulletin_workbook(
    province_name: str, quarter_label: str, lines: list[BulletinLine], summary: list[str]
) -> bytes:
    """按季通报: each city's three months as submitted, then the submission summary."""
    wb = Workbook()
    ws = wb.active
    ws.title = "按季通报"
    last = get_column_letter(len(BULLETIN_HEADERS))
    ws.merge_cells(f"A1:{last}1")
    ws["A1"] = f"{province_name}谈判药品“双通道”管理工作情况通报（{quarter_label}）"
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = CENTRE
    _boxed(ws, 2, BULLETIN_HEADERS, bold=True)
    for number, line in enumerate(lines, 1):
        table = line.table
        figures: tuple = ("", "", "", "", "")
        if table is not None:
            t = table.total
            empty = sum(1 for r in table.rows if r.pharmacies == 0)
            figures = (t.drugs, t.pharmacies, t.realtime, t.e_prescription, empty)
        _boxed(
            ws,
            2 + number,
            (
                number,
                line.city_name,
                f"{line.month.year}年{line.month.month}月",
                line.status_label,
                _chinese_date(line.submitted_on) if line.submitted_on else "",
                *figures,
            ),
        )
    row = 3 + len(lines)
    for text in summary:
        row += 1
        ws.cell(row=row, column=1, value=text)
    for col in range(1, len(BULLETIN_HEADERS) + 1):
        ws.column_dimensions[get_column_letter(col)].width = 14 if col > 2 else 8
    return _bytes(wb)


def _bytes(wb: Workbook) -> bytes:
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
