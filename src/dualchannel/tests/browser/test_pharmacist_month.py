"""The pharmacist's month on the demo data, through the pages only [issue 12, points 4 and 9]:
赵药师 of 江岸演示大药房 lands on the work queue, takes in a delivery by scanning its codes,
verifies, dispenses and settles the routed prescription, reverses the settlement and settles
again, counts a batch short at the stocktake, reads the day's totals and declares the month
(prepare, reconcile, apply). The test only reads the database (the codes a scanner would read,
the patient's ID a card reader would read); every write is a click on a page."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from dualchannel.inventory.models import StockItem, TraceCode
from dualchannel.prescriptions.models import Prescription, PrescriptionStatus
from dualchannel.settlement.models import Settlement, SettlementStatus
from dualchannel.tests.browser.conftest import sqlite_pass_only

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]


def _routed() -> Prescription:
    return (
        Prescription.objects.filter(
            status=PrescriptionStatus.ROUTED, pharmacy__name="江岸演示大药房"
        )
        .select_related("patient")
        .get()
    )


def _intake(page, url: str, drug_id: int) -> None:
    """A delivery of 2 boxes of the routed drug, scanned box by box."""
    prefix = TraceCode.objects.filter(drug_id=drug_id).values_list("code", flat=True).first()[:7]
    codes = [f"{prefix}777{n:010d}" for n in (1, 2)]
    page.goto(f"{url}/pharmacy/stock/receive/")
    page.select_option("#drug_id", str(drug_id))
    page.fill("#batch_no", "PW2612")
    expiry = timezone.localdate().replace(year=timezone.localdate().year + 2)
    page.fill("#expiry_date", expiry.isoformat())
    page.fill("#retail_price", "12.00")
    page.fill("#supplier_name", "九州通医药")
    page.fill("#reference", "PS-2612-001")
    for code in codes:
        page.locator("#trace_codes").press_sequentially(code)
        page.press("#trace_codes", "Enter")
    page.click("#confirm-receive")
    page.wait_for_url(re.compile(r"/pharmacy/stock/$"))
    assert "已入库" in page.inner_text("body") and "PW2612" in page.inner_text("#stock")


def _dispense(page, url: str, rx: Prescription) -> None:
    page.goto(f"{url}/pharmacy/")
    page.click(f"#routed a:has-text('{rx.prescription_no}')")
    page.wait_for_url(re.compile(rf"/pharmacy/counter/{rx.pk}/$"))
    page.wait_for_load_state("load")
    batch = page.locator("#line-0-stock_item").input_value()
    code = (
        TraceCode.objects.filter(stock_item_id=int(batch), status="in_stock")
        .order_by("code")
        .values_list("code", flat=True)
        .first()
    )
    # nothing scanned: 核验 asks for the e-voucher (the default), or the ID number
    page.click("#verify")
    page.wait_for_selector("#checks-failed")
    asked = page.inner_text("#checks")
    assert "医保电子凭证二维码" in asked and "录入参保人身份证号" in asked
    page.select_option("#certificate_type", "02")
    page.fill("#certificate_no", rx.patient.id_number)
    page.locator("#line-0-codes").press_sequentially(code)
    page.press("#line-0-codes", "Enter")
    page.click("#verify")
    page.wait_for_selector("#checks-passed")
    page.click("#dispense")  # one click, no confirmation dialog
    page.wait_for_url(re.compile(rf"/pharmacy/counter/{rx.pk}/result/$"))
    assert page.inner_text("#rx-status") == "已取药"


def _settle(page) -> str:
    page.click("#settle")
    page.wait_for_selector("#settlement-no")
    return page.inner_text("#settlement-no")


def test_the_pharmacists_month_through_the_pages(page, live_server, demo_login):
    url = live_server.url
    rx = _routed()
    demo_login(page, "pharmacist")

    # The home page is the work queue: the routed prescription waits, oldest first.
    assert page.url.endswith("/pharmacy/")
    assert int(page.inner_text("#count-routed")) >= 1
    assert rx.prescription_no in page.inner_text("#routed")

    _intake(page, url, rx.items.get().drug_id)
    _dispense(page, url, rx)

    # 结算, then 冲销 (结算信息有误) and 结算 again: each one click.
    first = _settle(page)
    page.click("#settlement summary")
    page.select_option("select[name=reason]", "结算信息有误，需重新结算")
    page.click("#reverse")
    page.wait_for_selector("#settle")
    assert "已冲销" in page.inner_text("body")
    second = _settle(page)
    assert second != first
    settled = Settlement.objects.get(settlement_no=second)
    assert settled.status == SettlementStatus.SETTLED

    # 盘点: one box of another drug is missing from the shelf.
    item = (
        StockItem.objects.filter(pharmacy=rx.pharmacy, quantity__gt=0)
        .exclude(drug_id=rx.items.get().drug_id)
        .order_by("pk")
        .first()
    )
    missing = TraceCode.objects.filter(stock_item=item, status="in_stock").order_by("code").first()
    page.goto(f"{url}/pharmacy/stock/")
    page.click(f"#item-{item.pk} a:has-text('盘点')")
    page.fill("#counted_quantity", str(item.quantity - 1))
    page.locator("#trace_codes").press_sequentially(missing.code)
    page.fill("#reason", "月末盘点")
    page.click("#confirm-stocktake")
    page.wait_for_url(re.compile(r"/pharmacy/stock/$"))
    assert "盘亏1" in page.inner_text("body")

    # The day's settlements: one live, one reversed, the totals in 元.
    page.goto(f"{url}/pharmacy/settlements/")
    totals = page.inner_text("#totals")
    assert "有效结算 1 笔" in totals and "已冲销 1 笔不计" in totals
    assert f"{settled.total} 元" in totals and f"{settled.personal} 元" in totals

    # The month: prepare, reconcile with the platform, apply.
    page.goto(f"{url}/pharmacy/declaration/")
    page.click("#prepare")
    page.wait_for_selector("#reconcile")
    assert page.inner_text("#month-count") == "1"
    page.click("#reconcile")
    page.wait_for_selector("#apply")
    if page.locator("input[name=acknowledge]").count():
        # a difference the platform reports (e.g. an upload not yet made): acknowledged with a note
        page.check("input[name=acknowledge]")
        page.fill("input[name=note]", "结算上传待平台受理，已核对")
    page.click("#apply")
    page.wait_for_selector("#batch-status")
    assert page.inner_text("#batch-status") == "已申报"
    assert page.locator("#apply").count() == 0
