"""The settlement receipt (结算单) a patient takes home: who paid what, to the fen (issue 5 item 8).

A5 portrait, reportlab's built-in CJK font (STSong-Light, nothing embedded, no system fonts). The
person's name and ID number are masked (``core.masking``); each line shows its self-pay reason in
words (``payable.REASON_LABELS``); a reversed settlement is marked 已冲销 in the title, in a
note with the reversal time and on a stamp across the page.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A5
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.registry.models import InsuranceType
from dualchannel.registry.profiles import cited, region_citation

from .models import (
    BenefitCategory,
    ClaimReason,
    ManualClaim,
    Settlement,
    SettlementKind,
    SettlementStatus,
)
from .payable import BREAKDOWN_LABELS, REASON_LABELS

FONT = "STSong-Light"  # Adobe-GB1 CID font every PDF reader has
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

PAGE_WIDTH, PAGE_HEIGHT = A5
MARGIN = 10 * mm
WIDTH = PAGE_WIDTH - 2 * MARGIN
REVERSED = "已冲销"

_BASE = ParagraphStyle("receipt", fontName=FONT, fontSize=8.5, leading=11, wordWrap="CJK")
_SMALL = ParagraphStyle("receipt-small", parent=_BASE, fontSize=7, leading=9)
_NUM = ParagraphStyle("receipt-num", parent=_SMALL, alignment=TA_RIGHT)
_TITLE = ParagraphStyle("receipt-title", parent=_BASE, fontSize=13, leading=18, alignment=TA_CENTER)
_MARK = ParagraphStyle("receipt-mark", parent=_BASE, fontSize=11, leading=15, textColor=colors.red)

BREAKDOWN = BREAKDOWN_LABELS  # as printed, in the engine's order (DESIGN §6; SD §2–3)
TITLES = {
    SettlementKind.PHARMACY: "定点药店医保结算单",
    SettlementKind.HOSPITAL: "医疗机构门诊医保结算单",
    SettlementKind.MANUAL: "手工（零星）报销结算单",
}


def yuan(value: Decimal | None) -> str:
    """``Decimal("2000.00")`` → ``2,000.00`` (yuan to the fen)."""
    return f"{value or Decimal(0):,.2f}"


def _p(text: str, style: ParagraphStyle = _BASE) -> Paragraph:
    # the values are data: escaped so that "<" or "&" never become markup
    return Paragraph(escape(text), style)


def _date(value) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def _claim(settlement: Settlement) -> ManualClaim | None:
    try:
        return settlement.claim
    except ManualClaim.DoesNotExist:
        return None


def _category(settlement: Settlement) -> str:
    label = dict(BenefitCategory.choices).get(settlement.category, settlement.category)
    return f"{settlement.med_type}（{label}）"


def _header(settlement: Settlement) -> Table:
    person = settlement.person
    claim = _claim(settlement)
    cells = [
        ("定点机构", settlement.institution.name),
        ("结算单号", settlement.settlement_no),
        ("结算日期", _date(settlement.settled_on)),
        ("医疗类别", _category(settlement)),
        ("姓名", mask_name(person.name)),
        ("身份证号", mask_id_number(person.id_number)),
        ("险种", dict(InsuranceType.choices).get(settlement.insurance_type, "")),
        ("处方编号", settlement.prescription.prescription_no if settlement.prescription else "—"),
    ]
    if claim is not None:
        cells += [
            ("报销单号", claim.claim_no),
            ("购药日期", _date(claim.purchased_on)),
            ("报销原因", claim.get_reason_display()),
            ("经办机构", claim.agency.name),
        ]
    rows = []
    for i in range(0, len(cells), 2):
        pair = cells[i : i + 2]
        row: list[Any] = []
        for label, value in pair:
            row += [_p(label, _SMALL), _p(value, _SMALL)]
        row += [""] * (4 - len(row))
        rows.append(row)
    table = Table(rows, colWidths=[WIDTH * w for w in (0.14, 0.36, 0.14, 0.36)])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f3f3f3")),
                ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#f3f3f3")),
            ]
        )
    )
    return table


def _lines(settlement: Settlement) -> Table:
    header = ["序号", "药品", "甲乙类", "数量", "单价", "金额", "自付（自费）原因"]
    rows: list[list[Any]] = [[_p(h, _SMALL) for h in header]]
    for line in settlement.lines.select_related("drug").order_by("position"):
        rows.append(
            [
                _p(str(line.position), _SMALL),
                _p(line.drug.generic_name if line.drug else line.item_name, _SMALL),
                _p(line.drug_class, _SMALL),
                _p(f"{line.quantity}{line.unit}", _SMALL),
                _p(yuan(line.unit_price), _NUM),
                _p(yuan(line.amount), _NUM),
                _p(REASON_LABELS.get(line.self_pay_reason, line.self_pay_reason), _SMALL),
            ]
        )
    widths = (0.06, 0.24, 0.07, 0.1, 0.13, 0.14, 0.26)
    table = Table(rows, colWidths=[WIDTH * w for w in widths], repeatRows=1)
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


def _breakdown(settlement: Settlement) -> Table:
    cells = [(label, yuan(getattr(settlement, name))) for name, label in BREAKDOWN]
    rows = []
    for i in range(0, len(cells), 2):
        (l1, v1), (l2, v2) = cells[i], cells[i + 1]
        rows.append([_p(l1, _SMALL), _p(v1, _NUM), _p(l2, _SMALL), _p(v2, _NUM)])
    table = Table(rows, colWidths=[WIDTH * w for w in (0.25, 0.25, 0.25, 0.25)])
    last = len(rows) - 1
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f3f3f3")),
                ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#f3f3f3")),
                ("LINEABOVE", (2, last), (3, last), 1, colors.black),
            ]
        )
    )
    return table


def _stamp(canvas, doc) -> None:
    """A red 已冲销 stamp across a reversed settlement's pages; the footer on every page."""
    canvas.saveState()
    canvas.setFont(FONT, 6.5)
    canvas.drawString(
        MARGIN, 6 * mm, "本结算单由双通道管理平台生成；个人信息已按规定隐去部分内容。"
    )
    canvas.drawRightString(PAGE_WIDTH - MARGIN, 6 * mm, f"第 {doc.page} 页")
    if doc.reversed_mark:
        canvas.setFillColor(colors.red)
        canvas.setStrokeColor(colors.red)
        canvas.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
        canvas.rotate(30)
        canvas.setFont(FONT, 40)
        canvas.drawCentredString(0, 0, REVERSED)
    canvas.restoreState()


def render_receipt(settlement: Settlement) -> bytes:
    """The receipt of one settlement as PDF bytes (A5, Chinese)."""
    reversed_ = settlement.status == SettlementStatus.REVERSED
    title = TITLES.get(settlement.kind, "医保结算单")
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A5,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=10 * mm,
        bottomMargin=12 * mm,
        title=f"{title} {settlement.settlement_no}",
        author=settlement.institution.name,
        subject="双通道药品医保结算单",
        creator="dualchannel",
    )
    doc.reversed_mark = reversed_
    story: list[Any] = [_p(f"{title}（{REVERSED}）" if reversed_ else title, _TITLE)]
    if reversed_:
        when = timezone.localtime(settlement.reversed_at) if settlement.reversed_at else None
        detail = f"冲销时间：{_date(when)} {when:%H:%M}" if when else ""
        story.append(_p(f"【{REVERSED}】本笔结算已冲销，各项支付均已退回。{detail}", _MARK))
    story += [
        Spacer(1, 2 * mm),
        _header(settlement),
        Spacer(1, 3 * mm),
        _p("费用明细", _BASE),
        Spacer(1, 1 * mm),
        _lines(settlement),
        Spacer(1, 3 * mm),
        _p("结算信息（元）", _BASE),
        Spacer(1, 1 * mm),
        _breakdown(settlement),
        Spacer(1, 3 * mm),
        _p(
            "统筹基金、大病保险、医疗救助、惠民保支付部分由医保经办机构与定点机构结算；"
            "个人现金支付部分由参保人支付。",
            _SMALL,
        ),
    ]
    if settlement.kind == SettlementKind.MANUAL:
        story.append(_p("手工（零星）报销：基金支付部分由经办机构支付给参保人。", _SMALL))
    if settlement.online_payment_id:
        story.append(_p(online_paid_words(settlement), _SMALL))
    doc.build(story, onFirstPage=_stamp, onLaterPages=_stamp)
    return buffer.getvalue()


def online_paid_words(settlement: Settlement) -> str:
    """How the personal part was paid when it was paid on the phone [CX art. 22]."""
    payment = settlement.online_payment
    channel = CHANNEL_WORDS.get(payment.provider, "线上支付")
    words = (
        f"个人现金支付部分 {yuan(settlement.personal)} 元已由参保人通过{channel}在线支付"
        f"（商户订单号 {payment.out_trade_no}）。"
    )
    if settlement.status == SettlementStatus.REVERSED:
        words += "本笔结算冲销后，该部分原路退回。"
    return words


# the payment providers by their names in the payments app's settings
CHANNEL_WORDS = {"wechatpay": "微信支付", "alipay": "支付宝"}


# --- the self-pay receipt of a purchase out of area [HB art. 41, AH §2(5), CX art. 17] ---------

SELF_PAY_TITLE = "定点药店购药收据（全额自费）"


def _self_pay_lines(dispensing) -> Table:
    header = ["序号", "药品", "批号", "数量", "单价", "金额"]
    rows: list[list[Any]] = [[_p(h, _SMALL) for h in header]]
    for n, line in enumerate(dispensing.lines.select_related("drug", "item").order_by("pk"), 1):
        rows.append(
            [
                _p(str(n), _SMALL),
                _p(line.drug.generic_name, _SMALL),
                _p(line.batch_no, _SMALL),
                _p(f"{line.packages}{line.item.package_unit}", _SMALL),
                _p(yuan(line.unit_price), _NUM),
                _p(yuan(line.unit_price * line.packages), _NUM),
            ]
        )
    widths = (0.07, 0.33, 0.16, 0.12, 0.16, 0.16)
    table = Table(rows, colWidths=[WIDTH * w for w in widths], repeatRows=1)
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


def render_self_pay_receipt(sale) -> bytes:
    """The receipt of a self-pay sale (``services.SelfPaySale``): what was paid, why the fund
    did not settle it, and where to claim it (the enrolment region's agency)."""
    dispensing, area = sale.dispensing, sale.area
    prescription = dispensing.prescription
    person = prescription.patient
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A5,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=10 * mm,
        bottomMargin=12 * mm,
        title=f"{SELF_PAY_TITLE} {prescription.prescription_no}",
        author=dispensing.pharmacy.name,
        subject="双通道药品异地购药自费收据",
        creator="dualchannel",
    )
    doc.reversed_mark = False
    cells = [
        ("定点药店", dispensing.pharmacy.name),
        ("购药日期", _date(timezone.localdate(dispensing.dispensed_at))),
        ("姓名", mask_name(person.name)),
        ("身份证号", mask_id_number(person.id_number)),
        ("处方编号", prescription.prescription_no),
        ("异地类型", area.label),
        ("参保地", area.enrolment_name or area.enrolment_region),
        ("就医地", area.treating_name or area.treating_region),
    ]
    if sale.claim_reason:
        cells.append(("报销原因", ClaimReason(sale.claim_reason).label))
    header = Table(
        [
            [_p(text, _SMALL) for pair in cells[i : i + 2] for text in pair]
            for i in range(0, len(cells), 2)
        ],
        colWidths=[WIDTH * w for w in (0.14, 0.36, 0.14, 0.36)],
    )
    header.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey)]))
    story: list[Any] = [
        _p(SELF_PAY_TITLE, _TITLE),
        _p(f"未与医保基金结算：{area.rules_note}", _MARK),
        Spacer(1, 2 * mm),
        header,
        Spacer(1, 3 * mm),
        _self_pay_lines(dispensing),
        Spacer(1, 3 * mm),
        _p(f"个人现金支付（全额自费）：{yuan(sale.total)} 元", _BASE),
        Spacer(1, 2 * mm),
        _p(
            cited(
                "参保人可凭本收据、处方及药品追溯信息，到参保地医保经办机构申请手工（零星）报销，"
                "按参保地待遇政策计算",
                region_citation(area.enrolment_region, "out_of_area_claim"),
            )
            + "。",
            _SMALL,
        ),
    ]
    doc.build(story, onFirstPage=_stamp, onLaterPages=_stamp)
    return buffer.getvalue()
