"""Settlement on the counter's result page: preview, one click to settle, reversal."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from dualchannel.prescriptions.counter_sections import result_sections
from dualchannel.settlement import services
from dualchannel.settlement.models import (
    BatchStatus,
    BudgetLine,
    Settlement,
    SettlementBatch,
    SettlementStatus,
)
from dualchannel.settlement.views import counter_settlement_context

pytestmark = pytest.mark.django_db


def result_page(client, dispensed) -> str:
    url = reverse("prescriptions-counter-result", args=[dispensed.prescription_id])
    return client.get(url).content.decode()


def test_settlement_adds_its_part_to_the_counter_result_page_from_above():
    # prescriptions (a floor below) does not import settlement: settlement registers at start-up
    [section] = result_sections()

    assert section.template == "settlement/_counter.html"
    assert section.context is counter_settlement_context


def test_the_pharmacist_sees_the_preview_settles_with_one_click_and_reverses(
    client, dispensed, pharmacist_user
):
    client.force_login(pharmacist_user)

    page = result_page(client, dispensed)
    assert "预结算" in page and 'id="settle"' in page and "110202" in page
    key = page.split('name="idempotency_key" value="')[1].split('"')[0]

    settle = reverse("settlement-counter-settle", args=[dispensed.prescription_id])
    client.post(settle, {"idempotency_key": key})
    client.post(settle, {"idempotency_key": key})  # a double click settles once

    settlement = Settlement.objects.get()
    assert settlement.personal == Decimal("500.00")
    page = result_page(client, dispensed)
    assert settlement.settlement_no in page and "请向患者收取个人支付" in page
    assert 'id="settle"' not in page
    receipt = client.get(f"/api/v1/settlement/settlements/{settlement.pk}/receipt")
    assert f"/api/v1/settlement/settlements/{settlement.pk}/receipt" in page
    assert receipt.status_code == 200 and receipt["Content-Type"] == "application/pdf"
    assert receipt.content.startswith(b"%PDF")

    reverse_key = page.split('name="idempotency_key" value="')[1].split('"')[0]
    client.post(
        reverse("settlement-counter-reverse", args=[settlement.pk]),
        {"reason": "患者退药", "idempotency_key": reverse_key},
    )
    settlement.refresh_from_db()
    assert settlement.status == SettlementStatus.REVERSED and settlement.goods_returned
    assert "已退药冲销" in result_page(client, dispensed)


def test_a_reversal_reason_outside_the_list_is_refused(client, dispensed, pharmacist_user):

    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    client.force_login(pharmacist_user)

    client.post(
        reverse("settlement-counter-reverse", args=[settled.pk]),
        {"reason": "随便写的", "idempotency_key": "r-1"},
    )

    settled.refresh_from_db()
    assert settled.status == SettlementStatus.SETTLED


def test_another_pharmacy_cannot_settle_from_the_page(client, dispensed, outsider_pharmacist):
    client.force_login(outsider_pharmacist)

    response = client.post(
        reverse("settlement-counter-settle", args=[dispensed.prescription_id]),
        {"idempotency_key": "x"},
    )

    assert response.status_code == 404
    assert not Settlement.objects.exists()


def test_the_agency_sees_fund_spending_by_budget_line_and_approves_an_applied_batch(
    client, dispensed, pharmacist_user, agency_user, bound_pharmacy
):

    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    batch = SettlementBatch.objects.create(
        institution=bound_pharmacy,
        month=date(2026, 2, 1),
        budget_line=BudgetLine.HOSPITAL_GLOBAL,
        status=BatchStatus.APPLIED,
    )
    client.force_login(agency_user)

    page = client.get(
        reverse("agency-settlement"), {"month": settled.settled_on.strftime("%Y-%m")}
    ).content.decode()
    assert "基金支出" in page and bound_pharmacy.name in page and str(settled.fund) in page
    assert f'id="batch-{batch.pk}"' in page and "通过" in page

    row = client.post(
        reverse("agency-batch-review", args=[batch.pk]),
        {"decision": "approve"},
        HTTP_HX_REQUEST="true",
    ).content.decode()

    batch.refresh_from_db()
    assert batch.status == BatchStatus.APPROVED and "已审核通过" in row


def test_the_patient_sees_what_the_fund_paid_and_opens_the_receipt(
    client, dispensed, pharmacist_user, patient_user
):

    settled = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    client.force_login(patient_user)  # bound to 张伟 by the fixture's routing

    page = client.get(
        reverse("portal-prescription", args=[dispensed.prescription_id])
    ).content.decode()
    receipt = client.get(f"/api/v1/settlement/settlements/{settled.pk}/receipt")

    assert "医保结算" in page and str(settled.fund) in page and str(settled.personal) in page
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
