"""The payer's own payment orders over the API; anyone else's answer 404, staff 403."""

from __future__ import annotations

import pytest

from dualchannel.simulators import wxpay

from .helpers import new_order

pytestmark = pytest.mark.django_db


def test_the_payer_reads_and_queries_their_order(api_client, patient_user, calls, manual_notify):
    order = new_order(patient_user)
    url = f"/api/v1/payments/orders/{order.out_trade_no}"
    api_client.as_user(patient_user)

    before = api_client.get(url).json()
    wxpay.pay(order.prepay_id)
    queried = api_client.post(f"{url}/query")

    assert before["status"] == "created" and before["amount"] == "12.34"
    assert before["pay_url"] == order.pay_url
    assert queried.status_code == 200
    assert queried.json()["status"] == "paid" and queried.json()["status_label"] == "已支付"
    assert queried.json()["pay_url"] is None


def test_another_patient_or_staff_cannot_see_an_order(
    api_client, patient_user, other_patient, pharmacist_user, calls
):
    order = new_order(patient_user)
    url = f"/api/v1/payments/orders/{order.out_trade_no}"

    other = api_client.as_user(other_patient).get(url)
    other_query = api_client.as_user(other_patient).post(f"{url}/query")
    staff = api_client.as_user(pharmacist_user).get(url)
    anonymous = api_client.__class__().get(url)

    assert other.status_code == 404 and other_query.status_code == 404
    assert order.out_trade_no not in other.content.decode()
    assert staff.status_code == 403
    assert anonymous.status_code == 401
