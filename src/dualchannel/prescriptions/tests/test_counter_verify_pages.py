"""核验 runs every check 发药 runs (trace codes included), so 核验通过 is never followed by a
refusal at 发药; an empty ID asks for the ID; no code or field path in the page's words
[issue 12, points 4 and 7]."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from dualchannel.inventory.models import StockItem, StockMovement, TraceCode
from dualchannel.prescriptions.models import Dispensing, Prescription

from .today import in_force_today, issue, route

pytestmark = pytest.mark.django_db


@pytest.fixture
def routed(eligibility, physician_user, patient_user, bound_pharmacy, stock):
    return route(patient_user, issue(physician_user, in_force_today(eligibility)), bound_pharmacy)


def _form(prescription, stock_item, codes: list[str], **overrides) -> dict:
    data = {
        "idempotency_key": "verify-1",
        "certificate_type": "02",
        "certificate_no": prescription.patient.id_number,
        "line_count": "1",
        "line-0-item": str(prescription.items.get().pk),
        "line-0-stock_item": str(stock_item.pk),
        "line-0-packages": "1",
        "line-0-codes": "\n".join(codes),
        "delivery_mode": "pickup",
    }
    return {**data, **overrides}


def _state():
    return (
        Dispensing.objects.count(),
        StockMovement.objects.count(),
        list(StockItem.objects.order_by("pk").values_list("quantity", flat=True)),
        list(TraceCode.objects.order_by("code").values_list("status", flat=True)),
        list(Prescription.objects.order_by("pk").values_list("status", flat=True)),
    )


def _visible_text(html: str) -> str:
    """The page's words without its collapsed support details (what a person reads)."""
    while '<details class="support">' in html:
        start = html.index('<details class="support">')
        html = html[:start] + html[html.index("</details>", start) + len("</details>") :]
    return re.sub(r"<[^>]*>", " ", html)


def test_verify_refuses_a_code_of_another_batch_as_dispense_does(
    client, pharmacist_user, pharmacist, routed, stock
):
    # Given a 20-digit code in stock, but of the other batch of the same drug
    other = TraceCode.objects.filter(stock_item=stock[1], status="in_stock").first().code
    client.force_login(pharmacist_user)
    before = _state()

    # When the pharmacist verifies, then dispenses, with it
    verified = client.post(
        reverse("prescriptions-counter-check", args=[routed.pk]), _form(routed, stock[0], [other])
    )
    dispensed = client.post(
        reverse("prescriptions-counter-dispense", args=[routed.pk]),
        _form(routed, stock[0], [other]),
    )

    # Then 核验 already fails for the reason 发药 gives, and nothing is written
    checks = {c.code: c for c in verified.context["checks"]}
    assert not verified.context["checks_ok"]
    assert checks["inventory.trace_code_wrong_batch"].ok is False
    assert dispensed.status_code >= 400
    assert dispensed.context["error"].code == "inventory.trace_code_wrong_batch"
    assert "核验通过" not in verified.content.decode()
    assert _state() == before


def test_whatever_verify_passes_dispense_accepts(
    client, pharmacist_user, pharmacist, routed, stock
):
    code = TraceCode.objects.filter(stock_item=stock[0], status="in_stock").first().code
    client.force_login(pharmacist_user)

    verified = client.post(
        reverse("prescriptions-counter-check", args=[routed.pk]), _form(routed, stock[0], [code])
    )
    dispensed = client.post(
        reverse("prescriptions-counter-dispense", args=[routed.pk]), _form(routed, stock[0], [code])
    )

    assert verified.context["checks_ok"]
    assert dispensed.status_code == 302
    assert Dispensing.objects.count() == 1


def test_verify_refuses_a_bad_delivery_as_dispense_does(
    client, pharmacist_user, pharmacist, routed, stock
):
    code = TraceCode.objects.filter(stock_item=stock[0], status="in_stock").first().code
    client.force_login(pharmacist_user)

    verified = client.post(
        reverse("prescriptions-counter-check", args=[routed.pk]),
        _form(routed, stock[0], [code], delivery_mode="home_delivery"),
    )

    assert not verified.context["checks_ok"]
    assert "送药上门须填写地址、收货人和电话" in verified.content.decode()


def test_an_empty_id_asks_for_the_id_in_chinese(client, pharmacist_user, pharmacist, routed, stock):
    code = TraceCode.objects.filter(stock_item=stock[0], status="in_stock").first().code
    client.force_login(pharmacist_user)
    before = _state()

    verified = client.post(
        reverse("prescriptions-counter-check", args=[routed.pk]),
        _form(routed, stock[0], [code], certificate_no=""),
    )
    dispensed = client.post(
        reverse("prescriptions-counter-dispense", args=[routed.pk]),
        _form(routed, stock[0], [code], certificate_no=""),
    )

    for response in (verified, dispensed):
        text = _visible_text(response.content.decode())
        assert "请录入参保人身份证号" in text
        assert "不一致" not in text  # not "the credential does not match"
    assert _state() == before


def test_refusals_show_no_code_or_field_path_outside_the_support_details(
    client, pharmacist_user, pharmacist, routed, stock
):
    client.force_login(pharmacist_user)

    response = client.post(
        reverse("prescriptions-counter-dispense", args=[routed.pk]),
        _form(routed, stock[0], ["12345678901234567890", "12345678901234567891"]),
    )

    html = response.content.decode()
    text = _visible_text(html)
    assert response.context["error"] is not None
    assert "counter." not in text and "inventory." not in text
    assert "lines." not in text and "trace_codes" not in text
    assert '<details class="support">' in html  # the code is there for support, collapsed
