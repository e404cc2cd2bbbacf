"""The pharmacy counter in a real browser: the pharmacist opens the routed prescription by its
number, finds the first-expiring batch pre-selected, scans one code, verifies (all green) and
dispenses; the result says 已取药."""

from __future__ import annotations

import re

import pytest

from dualchannel.inventory.models import TraceCode
from dualchannel.prescriptions.models import Dispensing, PrescriptionStatus

# The prescriptions app's world (granted eligibility, bound pharmacy, pharmacist, two batches).
from dualchannel.prescriptions.tests.conftest import (  # noqa: F401
    bound_pharmacy,
    eligibility,
    lung_drug,
    media_root,
    pharmacist,
    physician,
    stock,
    zhang,
)
from dualchannel.prescriptions.tests.today import in_force_today, issue, route

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def routed(eligibility, physician_user, patient_user, bound_pharmacy, stock):  # noqa: F811
    prescription = issue(physician_user, in_force_today(eligibility))
    return route(patient_user, prescription, bound_pharmacy)


def _first_code(stock_item) -> str:
    """The batch's first traceability code on the shelf (what the scanner reads)."""
    in_stock = TraceCode.objects.filter(stock_item=stock_item, status="in_stock")
    return in_stock.order_by("code").values_list("code", flat=True).first()


def test_pharmacist_verifies_and_dispenses_at_the_counter(
    page,
    live_server,
    login,
    pharmacist_user,
    pharmacist,  # noqa: F811
    routed,
    stock,  # noqa: F811
):
    code = _first_code(stock[0])
    login(page, pharmacist_user)

    # the prescription number typed (or scanned) into the box, then Enter
    page.goto(f"{live_server.url}/pharmacy/counter/")
    page.fill("#q", routed.prescription_no)
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(rf"/pharmacy/counter/{routed.pk}/$"))
    page.wait_for_load_state("load")  # htmx and the counter script run deferred

    # first expiry, first out: batch B2401 is already chosen
    assert page.locator("#line-0-stock_item").input_value() == str(stock[0].pk)
    assert "B2401" in page.locator("#line-0-stock_item option:checked").inner_text()
    key = page.locator("input[name=idempotency_key]").input_value()
    assert len(key) == 32

    # the person's ID card, and one code scanned (the scanner types it and presses Enter)
    page.select_option("#certificate_type", "02")
    page.fill("#certificate_no", routed.patient.id_number)
    page.locator("#line-0-codes").press_sequentially(code)
    page.press("#line-0-codes", "Enter")
    assert page.locator("#line-0-note").inner_text().startswith("已扫 1 / 应扫 1")

    # 核验: every check green, and the page stays (htmx swaps only the check list)
    page.evaluate("window.__sameDocument = true")
    page.click("#verify")
    page.wait_for_selector("#checks-passed")
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("#checks li[data-ok=false]").count() == 0
    assert page.locator("#checks li[data-ok=true]").count() >= 4

    # 发药
    page.click("#dispense")
    page.wait_for_url(re.compile(rf"/pharmacy/counter/{routed.pk}/result/$"))
    assert page.locator("#rx-status").inner_text() == "已取药"
    assert code in page.locator("#lines").inner_text()

    dispensing = Dispensing.objects.get(prescription=routed)
    assert dispensing.idempotency_key == key
    routed.refresh_from_db()
    assert routed.status == PrescriptionStatus.DISPENSED


def test_an_agent_signs_and_chooses_the_relation_to_the_patient(
    page,
    live_server,
    login,
    pharmacist_user,
    pharmacist,  # noqa: F811
    routed,
    stock,  # noqa: F811
):
    # HB art. 24: the agent registers ID, phone and signature; the counter also asks how the
    # agent is related to the patient (monitoring counts agents buying for unrelated persons)
    code = _first_code(stock[0])
    login(page, pharmacist_user)
    page.goto(f"{live_server.url}/pharmacy/counter/{routed.pk}/")
    page.wait_for_load_state("load")
    page.select_option("#certificate_type", "02")
    page.fill("#certificate_no", routed.patient.id_number)
    page.locator("#line-0-codes").press_sequentially(code)
    page.press("#line-0-codes", "Enter")

    # the agent's part: name, ID number, phone, and a signature drawn on the pad
    page.click("#agent summary")
    page.fill("input[name=agent_name]", "张小伟")
    page.fill("input[name=agent_id_number]", "420102199001011236")
    page.fill("input[name=agent_phone]", "13900000009")
    box = page.locator("#signature-pad").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 90, steps=8)
    page.mouse.move(box["x"] + 220, box["y"] + 50, steps=8)
    page.mouse.up()
    assert page.locator("#agent_signature").input_value().startswith("data:image/png;base64,")

    # no relation chosen: the check says so in words
    page.click("#verify")
    page.wait_for_selector("#checks-failed")
    refused = page.locator('#checks li[data-code="counter.agent_relation_required"]')
    assert "请选择代办人与参保人的关系" in refused.inner_text()

    # the relation chosen from the list: all green, dispensed, the result says it in Chinese
    options = page.locator("#agent_relation option").all_inner_texts()
    assert options[0] == "请选择" and "其他（受委托人）" in options
    page.select_option("#agent_relation", label="父母")
    page.click("#verify")
    page.wait_for_selector("#checks-passed")
    page.click("#dispense")
    page.wait_for_url(re.compile(rf"/pharmacy/counter/{routed.pk}/result/$"))
    assert page.locator("#agent-relation").inner_text() == "父母"

    dispensing = Dispensing.objects.get(prescription=routed)
    assert dispensing.agent_relation == "parent"
    assert dispensing.agent_name == "张小伟"
