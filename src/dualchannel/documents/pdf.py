"""PDF rendering of signed documents with reportlab's built-in CJK font (no system fonts needed).

Each form is a bordered table of label / value cells laid out like the printed annex, then the
signature block (physician, key fingerprint, SM3 digest, time), the blanks left for seals, and a
QR code to the public verification page with its address printed underneath.

The signature covers the full data; the page prints the personal identifiers masked unless the
kind needs them in full (``kinds.PERSONAL_KEYS``, ``KindSpec.printed_in_full``). A page that
masks anything does not print the SM3 digest of the data: with the rest of the form in view,
the few hidden digits (a birth date, four phone digits) could be found by trying each value
against it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from dualchannel.core.masking import mask_id_number, mask_phone

from .kinds import BOOL, CHOICE, DATE, INT, ITEMS, PERSONAL_KEYS, Field, KindSpec

FONT = "STSong-Light"  # Adobe-GB1 CID font shipped with every PDF reader; nothing is embedded
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

PAGE_WIDTH, _ = A4
MARGIN = 18 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
COLUMNS = 6
COLUMN = CONTENT_WIDTH / COLUMNS
QR_SIZE = 32 * mm

_BASE = ParagraphStyle("base", fontName=FONT, fontSize=10.5, leading=14, wordWrap="CJK")
_LABEL = ParagraphStyle("label", parent=_BASE, fontSize=10)
_SMALL = ParagraphStyle("small", parent=_BASE, fontSize=8, leading=10.5)
_TITLE = ParagraphStyle("title", parent=_BASE, fontSize=16, leading=22, alignment=TA_CENTER)
_ANNEX = ParagraphStyle("annex", parent=_BASE, fontSize=9, leading=12)
_MARK = ParagraphStyle("mark", parent=_BASE, fontSize=11, alignment=TA_CENTER)


@dataclass(frozen=True)
class SignatureInfo:
    physician_name: str
    hospital_name: str
    key_fingerprint: str  # short form, as printed
    data_digest: str
    signed_at: datetime
    verify_url: str


MASKS = {"id_number": mask_id_number, "phone": mask_phone}  # one per kinds.PERSONAL_KEYS


def printed_data(spec: KindSpec, data: dict[str, Any]) -> dict[str, Any]:
    """The data as the page prints it: identifiers masked unless the kind needs them in full."""
    shown = dict(data)
    for key in PERSONAL_KEYS:
        if key in spec.by_key and key not in spec.printed_in_full and shown.get(key):
            shown[key] = MASKS[key](str(shown[key]))
    return shown


def _p(text: str, style: ParagraphStyle = _BASE) -> Paragraph:
    # Values are user data: escape them so that "<" or "&" can never become markup.
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def cn_date(value: str | date) -> str:
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{d.year}年{d.month}月{d.day}日"


def _boxes(f: Field, value: Any, other: str = "") -> str:
    parts = []
    for code, label in f.choices:
        detail = f"（{other}）" if code == value and code == "other" and other else ""
        parts.append(("■" if code == value else "□") + label + detail)
    return "　".join(parts)


def format_value(f: Field, value: Any, other: str = "") -> str:
    """The printed text of one value (blank when an optional field is empty)."""
    if value is None or value == "":
        return ""
    if f.type == DATE:
        return cn_date(value)
    if f.type == BOOL:
        if f.key == "anticancer":
            return "抗癌药品" if value else "非抗癌药品"
        return ("■是　□否") if value else ("□是　■否")
    if f.type == CHOICE:
        return f.choice_label(value) if f.key == "sex" else _boxes(f, value, other)
    if f.type == INT:
        return f"{value}岁" if f.key == "age" else str(value)
    return str(value)


def _items_table(f: Field, items: list[dict[str, Any]], width: float) -> Table:
    header = [_p(sub.label, _SMALL) for sub in f.item_fields]
    rows = [header] + [
        [_p(format_value(sub, item.get(sub.key)), _SMALL) for sub in f.item_fields]
        for item in items
    ]
    table = Table(rows, colWidths=[width / len(f.item_fields)] * len(f.item_fields))
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _form_table(spec: KindSpec, data: dict[str, Any]) -> Table:
    rows: list[list[Any]] = []
    spans: list[tuple] = []
    label_cells: list[tuple[int, int]] = []
    for r, keys in enumerate(spec.rows):
        fields = [spec.by_key[k] for k in keys]
        # Cells per field: 6 columns shared equally; the first cell of each share is the label.
        share = COLUMNS // len(fields)
        row: list[Any] = []
        for i, f in enumerate(fields):
            start = i * share
            label_cells.append((start, r))
            row.append(_p(f.label, _LABEL))
            value_width = COLUMN * (share - 1)
            if f.type == ITEMS:
                row.append(_items_table(f, data.get(f.key) or [], value_width - 12))
            else:
                other = data.get(f"{f.key}_other") or ""
                row.append(_p(format_value(f, data.get(f.key), other)))
            row.extend([""] * (share - 2))
            if share > 2:
                spans.append(("SPAN", (start + 1, r), (start + share - 1, r)))
        rows.append(row)
    table = Table(rows, colWidths=[COLUMN] * COLUMNS)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        *spans,
        *[("BACKGROUND", cell, cell, colors.HexColor("#f3f3f3")) for cell in label_cells],
    ]
    table.setStyle(TableStyle(style))
    return table


def _qr(url: str) -> Drawing:
    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(
        QR_SIZE, QR_SIZE, transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0]
    )
    drawing.add(widget)
    return drawing


def _signature_block(spec: KindSpec, sig: SignatureInfo, *, masked: list[str]) -> list[Any]:
    local = timezone.localtime(sig.signed_at)
    digest = (
        f"签名覆盖完整内容；本页{'、'.join(masked)}已脱敏显示。"
        if masked
        else f"内容摘要（SM3）：{sig.data_digest}"
    )
    lines = [
        _p(f"责任医师签章：{sig.physician_name}（电子签名）"),
        _p(f"签名机构：{sig.hospital_name}"),
        _p(f"签署时间：{cn_date(local.date())} {local:%H:%M}"),
        _p(f"签名算法：SM2（SM3 摘要）　公钥指纹：{sig.key_fingerprint}", _SMALL),
        _p(digest, _SMALL),
        Spacer(1, 3 * mm),
        *[_p(line) for line in spec.stamp_lines],
        _p(f"日期：{cn_date(local.date())}"),
    ]
    qr_cell = [_qr(sig.verify_url), _p("扫码核验真伪", _SMALL)]
    block = Table(
        [[lines, qr_cell]], colWidths=[CONTENT_WIDTH - QR_SIZE - 6 * mm, QR_SIZE + 6 * mm]
    )
    block.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOX", (0, 0), (-1, -1), 0.6, colors.black),
                ("ALIGN", (1, 0), (1, 0), "CENTER"),
            ]
        )
    )
    return [block, Spacer(1, 1.5 * mm), _p(f"核验地址：{sig.verify_url}", _SMALL)]


def _footer(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 7.5)
    canvas.drawString(
        MARGIN,
        10 * mm,
        "本文书由责任医师以 SM2 电子签名签署，扫描二维码或访问核验地址可验证其真实性与完整性。",
    )
    canvas.drawRightString(PAGE_WIDTH - MARGIN, 10 * mm, f"第 {doc.page} 页")
    canvas.restoreState()


def render(spec: KindSpec, data: dict[str, Any], sig: SignatureInfo) -> bytes:
    """The document as PDF bytes (identifiers masked as ``printed_data`` says)."""
    shown = printed_data(spec, data)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=spec.title.replace("　", ""),
        author=sig.hospital_name,
        subject="双通道电子签名文书",
        creator="dualchannel",
    )
    story: list[Any] = []
    if spec.annex:
        header = Table(
            [[_p(spec.annex, _ANNEX), _p("双通道" if spec.kind == "prescription" else "", _MARK)]],
            colWidths=[CONTENT_WIDTH - 30 * mm, 30 * mm],
        )
        if spec.kind == "prescription":
            header.setStyle(TableStyle([("BOX", (1, 0), (1, 0), 1, colors.black)]))
        story.append(header)
    story += [_p(spec.title, _TITLE), Spacer(1, 4 * mm), _form_table(spec, shown)]
    story.append(Spacer(1, 4 * mm))
    masked = [spec.by_key[k].label for k in PERSONAL_KEYS if shown.get(k) != data.get(k)]
    story += _signature_block(spec, sig, masked=masked)
    if spec.notes:
        story.append(Spacer(1, 3 * mm))
        story += [
            _p(("注：" if i == 0 else "") + note, _SMALL) for i, note in enumerate(spec.notes)
        ]
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return buffer.getvalue()
