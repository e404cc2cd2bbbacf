"""The e-voucher (医保电子凭证) at the counter in a real browser: the pharmacist keeps 01, scans
the patient's voucher QR code (the scanner types the code and presses Enter), verifies — the
real-name check names the holder masked — and dispenses."""

from __future__ import annotations

import re

import pytest

from dualchannel.core.masking import mask_id_number
from dualchannel.inventory.models import TraceCode
from dualchannel.prescriptions.models import Dispensing

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
from dualchannel.simulators.platform import simulator_voucher_issue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def routed(eligibility, physician_user, patient_user, bound_pharmacy, stock):  # noqa: F811
    bound_pharmacy.platform_code = "P42010200001"
    bound_pharmacy.save(update_fields=["platform_code"])
    prescription = issue(physician_user, in_force_today(eligibility))
    return route(patient_user, prescription, bound_pharmacy)


def test_pharmacist_scans_the_patients_e_voucher_and_dispenses(
    page,
    live_server,
    login,
    pharmacist_user,
    pharmacist,  # noqa: F811
    routed,
    stock,  # noqa: F811
):
    code = (
        TraceCode.objects.filter(stock_item=stock[0], status="in_stock")
        .order_by("code")
        .values_list("code", flat=True)
        .first()
    )
    token = simulator_voucher_issue(routed.patient.id_number).token
    login(page, pharmacist_user)
    page.goto(f"{live_server.url}/pharmacy/counter/{routed.pk}/")
    page.wait_for_load_state("load")

    # 医保电子凭证 is the default; the scanner types the voucher's code and presses Enter
    assert page.locator("#certificate_type").input_value() == "01"
    page.locator("#certificate_no").press_sequentially(token)
    page.press("#certificate_no", "Enter")
    page.locator("#line-0-codes").press_sequentially(code)
    page.press("#line-0-codes", "Enter")

    page.click("#verify")
    page.wait_for_selector("#checks-passed")
    person = page.locator("#checks li[data-code=person_match]").inner_text()
    assert f"医保电子凭证持有人 {mask_id_number(routed.patient.id_number)}" in person
    assert routed.patient.id_number not in page.content()

    page.click("#dispense")
    page.wait_for_url(re.compile(rf"/pharmacy/counter/{routed.pk}/result/$"))
    dispensing = Dispensing.objects.get(prescription=routed)
    assert dispensing.certificate_type == "01"
    assert dispensing.voucher_digest
