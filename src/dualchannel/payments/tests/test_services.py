"""The payment flow against the bundled simulator: order → cashier → notify / query → refund,
expiry, and the callbacks that must be refused with nothing written."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest

from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.payments import error_codes as codes
from dualchannel.payments.models import PaymentOrder, PaymentStatus, RefundStatus
from dualchannel.payments.services import (
    payment_expire,
    payment_notify_receive,
    payment_query,
    payment_refund,
)
from dualchannel.simulators import wxpay
from dualchannel.simulators.wxpay_notify import refund_notify, trade_notify

from .helpers import new_order, run_jobs, sim_order, sim_refunds, written

pytestmark = pytest.mark.django_db


def receive(notify) -> int:
    status, _ = payment_notify_receive("wechatpay", *notify)
    return status


def test_an_order_is_created_at_the_provider_with_its_cashier_page(patient_user, calls):
    order = new_order(patient_user)

    assert order.status == PaymentStatus.CREATED
    assert order.out_trade_no.startswith("DC") and len(order.out_trade_no) <= 32
    assert "/simulators/wxpay/cashier/?prepay_id=" in order.pay_url
    assert "redirect_url=" in order.pay_url and order.prepay_id.startswith("wx")
    assert sim_order(order).total_fen == 1234
    event = AuditEvent.objects.get(action="payments.order_created")
    assert event.summary["out_trade_no"] == order.out_trade_no
    assert "patient" not in str(event.summary) and patient_user.username not in str(event.summary)


def test_the_same_key_returns_the_same_order_and_another_amount_is_refused(patient_user, calls):
    first = new_order(patient_user)

    again = new_order(patient_user)

    assert again.pk == first.pk and PaymentOrder.objects.count() == 1
    with pytest.raises(Conflict) as refused:
        new_order(patient_user, amount="12.35")
    assert refused.value.code == codes.IDEMPOTENCY_MISMATCH


@pytest.mark.parametrize("amount", ["0", "-1", "1.001", "abc"])
def test_a_bad_amount_is_refused_before_anything_is_written(patient_user, calls, amount):
    with pytest.raises(DomainError):
        new_order(patient_user, amount=amount)
    assert PaymentOrder.objects.count() == 0


def test_an_unknown_purpose_is_refused(patient_user):
    with pytest.raises(DomainError) as refused:
        new_order(patient_user)
    assert refused.value.code == codes.UNKNOWN_PURPOSE


def test_paying_at_the_cashier_sends_the_notify_and_the_order_is_paid_once(patient_user, calls):
    order = new_order(patient_user)

    wxpay.pay(order.prepay_id)

    order.refresh_from_db()
    assert order.status == PaymentStatus.PAID
    assert order.transaction_id == sim_order(order).transaction_id
    assert order.paid_amount == Decimal("12.34")
    assert calls.events == [("paid", order.out_trade_no)]
    assert [(h.from_status, h.to_status) for h in order.history.all()] == [("created", "paid")]
    assert (
        AuditEvent.objects.filter(action="payments.order_paid", subject_id=str(order.pk)).count()
        == 1
    )


def test_a_repeated_notify_and_a_later_query_change_nothing(patient_user, calls, manual_notify):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)
    notify = trade_notify(sim_order(order))
    assert receive(notify) == 204
    before = written()

    assert receive(notify) == 204  # WeChat resends until it hears success: answered, not redone
    assert receive(trade_notify(sim_order(order))) == 204
    payment_query(order)

    assert written() == before
    assert calls.events == [("paid", order.out_trade_no)]


def test_the_return_from_the_cashier_queries_when_no_notify_came(
    patient_user, calls, manual_notify
):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)

    order = payment_query(order)

    assert order.status == PaymentStatus.PAID
    assert order.history.get().to_status == "paid"


@pytest.mark.parametrize(
    "bad",
    [
        {"total_delta": 1},
        {"total_delta": -1},
        {"forge": "signature"},
        {"forge": "key"},
        {"timestamp": int(time.time()) - 3600},  # an old notify replayed
    ],
    ids=["one-fen-more", "one-fen-less", "forged-signature", "other-api-key", "replayed"],
)
def test_a_forged_replayed_or_mismatched_notify_is_refused_with_nothing_written(
    patient_user, calls, manual_notify, bad, caplog
):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)
    before = written()

    status = receive(trade_notify(sim_order(order), **bad))

    assert status == 400
    order.refresh_from_db()
    assert order.status == PaymentStatus.CREATED and order.transaction_id is None
    assert written() == before and calls.events == []
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "refused" in logged
    assert patient_user.username not in logged
    assert patient_user.insured_person.id_number not in logged


def test_a_query_with_an_amount_off_by_a_fen_is_refused(patient_user, calls, manual_notify):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)
    sim = sim_order(order)
    sim.total_fen += 1
    sim.save()

    with pytest.raises(DomainError) as refused:
        payment_query(order)

    assert refused.value.code == codes.NOTIFY_REFUSED
    order.refresh_from_db()
    assert order.status == PaymentStatus.CREATED


def test_an_unpaid_order_expires_closes_at_the_provider_and_releases(patient_user, calls):
    order = new_order(patient_user)

    order = payment_expire(order, now=order.expires_at + timedelta(seconds=1))

    assert order.status == PaymentStatus.CLOSED and order.closed_at is not None
    assert sim_order(order).trade_state == "CLOSED"
    assert calls.events == [("expired", order.out_trade_no)]
    assert wxpay.pay(order.prepay_id) is None  # the cashier no longer takes it


def test_an_order_not_yet_due_does_not_expire(patient_user, calls):
    order = new_order(patient_user)

    assert payment_expire(order).status == PaymentStatus.CREATED
    assert sim_order(order).trade_state == "NOTPAY"


def test_expiry_of_an_order_paid_without_a_notify_records_the_payment(
    patient_user, calls, manual_notify
):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)

    order = payment_expire(order, now=order.expires_at + timedelta(seconds=1))

    assert order.status == PaymentStatus.PAID
    assert calls.events == [("paid", order.out_trade_no)]


def test_a_payment_after_expiry_is_recorded_and_refunded_exactly_once(
    patient_user, calls, manual_notify
):
    order = new_order(patient_user)
    order = payment_expire(order, now=order.expires_at + timedelta(seconds=1))
    sim = wxpay.pay_closed(order.out_trade_no)  # the provider took it anyway
    notify = trade_notify(sim)

    assert receive(notify) == 204
    assert receive(notify) == 204
    order.refresh_from_db()
    assert order.status == PaymentStatus.REFUNDING and order.late_paid
    assert order.refunds.get().automatic

    run_jobs()
    (refund,) = sim_refunds(order)
    refund = wxpay.refund_settle(refund)
    assert receive(refund_notify(refund)) == 204
    assert receive(refund_notify(refund)) == 204

    order.refresh_from_db()
    assert order.status == PaymentStatus.REFUNDED
    assert order.refunded_amount == order.paid_amount == Decimal("12.34")
    assert len(sim_refunds(order)) == 1
    assert [e[0] for e in calls.events] == ["expired", "late_paid", "refunded"]


def test_a_full_refund_on_reversal(patient_user, calls):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)
    order.refresh_from_db()

    refund = payment_refund(order, Decimal("12.34"), "结算冲正", "rev-1")
    assert refund.status == RefundStatus.SUBMITTING
    run_jobs()

    refund.refresh_from_db()
    order.refresh_from_db()
    assert refund.status == RefundStatus.SUCCESS
    assert order.status == PaymentStatus.REFUNDED and order.refunded_amount == Decimal("12.34")
    assert calls.events[-1] == ("refunded", refund.out_refund_no)
    assert payment_refund(order, Decimal("12.34"), "结算冲正", "rev-1").pk == refund.pk
    with pytest.raises(Conflict):
        payment_refund(order, Decimal("0.01"), "再退", "rev-2")


def test_partial_refunds_add_up_to_the_payment_and_no_further(patient_user, calls):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)
    order.refresh_from_db()

    payment_refund(order, Decimal("10.00"), "部分退药", "part-1")
    run_jobs()
    order.refresh_from_db()
    assert order.status == PaymentStatus.PARTIALLY_REFUNDED
    with pytest.raises(DomainError) as refused:
        payment_refund(order, Decimal("2.35"), "超额", "part-2")
    assert refused.value.code == codes.REFUND_EXCEEDS_PAID
    payment_refund(order, Decimal("2.34"), "余额", "part-3")
    run_jobs()

    order.refresh_from_db()
    assert order.status == PaymentStatus.REFUNDED and order.refunded_amount == order.paid_amount


def test_an_unpaid_order_cannot_be_refunded(patient_user, calls):
    order = new_order(patient_user)

    with pytest.raises(Conflict) as refused:
        payment_refund(order, Decimal("1.00"), "冲正", "r-unpaid")

    assert refused.value.code == codes.NOT_PAID


def test_a_refund_notify_before_the_submit_answer_settles_it_once(
    patient_user, calls, manual_notify
):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)
    order = payment_query(order)
    payment_refund(order, Decimal("12.34"), "冲正", "r-ooo")
    run_jobs()  # the provider answers PROCESSING
    (refund,) = sim_refunds(order)
    refund = wxpay.refund_settle(refund)
    notify = refund_notify(refund)

    for _ in range(3):
        assert receive(notify) == 204
    order.refresh_from_db()

    assert order.status == PaymentStatus.REFUNDED and order.refunded_amount == Decimal("12.34")
    assert [e[0] for e in calls.events] == ["paid", "refunded"]


def test_a_closed_refund_returns_the_order_to_paid(patient_user, calls, manual_notify):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)
    order = payment_query(order)
    payment_refund(order, Decimal("12.34"), "冲正", "r-closed")
    run_jobs()
    (refund,) = sim_refunds(order)
    refund = wxpay.refund_settle(refund, "CLOSED")

    assert receive(refund_notify(refund)) == 204

    order.refresh_from_db()
    assert order.status == PaymentStatus.PAID and order.refunded_amount == 0
    assert order.refunds.get().status == RefundStatus.CLOSED


def test_the_notify_view_answers_the_provider(client, patient_user, calls, manual_notify):
    order = new_order(patient_user)
    wxpay.pay(order.prepay_id)
    headers, body = trade_notify(sim_order(order))

    ok = client.post(
        "/payments/notify/wechatpay/",
        body,
        content_type="application/json",
        headers={k: v for k, v in headers.items()},
    )
    forged_headers, forged_body = trade_notify(sim_order(order), forge="signature")
    forged = client.post(
        "/payments/notify/wechatpay/",
        forged_body,
        content_type="application/json",
        headers=forged_headers,
    )
    unknown = client.post("/payments/notify/alipay/", body, content_type="application/json")

    assert ok.status_code == 204
    assert forged.status_code == 400 and forged.json() == {"code": "FAIL", "message": "失败"}
    assert unknown.status_code == 404
    order.refresh_from_db()
    assert order.status == PaymentStatus.PAID


def test_the_cashier_page_pays_and_returns_to_the_result_page(client, patient_user, calls):
    order = new_order(patient_user)
    cashier = order.pay_url.split("127.0.0.1:8000", 1)[-1].split("testserver", 1)[-1]

    page = client.get(cashier)
    paid = client.post(
        "/simulators/wxpay/cashier/",
        {
            "prepay_id": order.prepay_id,
            "redirect_url": page.context["redirect_url"],
            "action": "pay",
        },
    )
    client.force_login(patient_user)
    result = client.get(paid["Location"].split("127.0.0.1:8000", 1)[-1])

    assert "¥12.34" in page.content.decode() and "支付" in page.content.decode()
    assert paid.status_code == 302
    assert result.status_code == 200 and "已支付" in result.content.decode()


def test_the_return_page_is_the_payers_only(client, patient_user, outsider_physician, calls):
    order = new_order(patient_user)
    url = f"/payments/return/{order.out_trade_no}/"
    client.force_login(outsider_physician)
    assert client.get(url).status_code == 403
    client.force_login(patient_user)
    assert client.get(url).status_code == 200
    assert client.get("/payments/return/DC0000/").status_code == 404


def test_the_provider_api_over_http_checks_the_merchant_signature(client):
    response = client.get("/simulators/wxpay/v3/pay/transactions/out-trade-no/DC1?mchid=1900000109")

    assert response.status_code == 401 and response.json()["code"] == "SIGN_ERROR"
