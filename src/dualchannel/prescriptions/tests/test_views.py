"""Prescription pages: the physician prescribes typing only the quantity and sees what became of
the prescription; the pharmacist opens, verifies and dispenses at the counter [HB art. 24, 29]."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from dualchannel.core.models import AuditEvent
from dualchannel.inventory.models import StockItem, StockMovement, TraceCode
from dualchannel.prescriptions.models import (
    Dispensing,
    Prescription,
    PrescriptionStatus,
)

from .helpers import PACK
from .today import in_force_today, issue, route

S = PrescriptionStatus
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
pytestmark = pytest.mark.django_db


@pytest.fixture
def active(eligibility):
    return in_force_today(eligibility)


@pytest.fixture
def issued(active, physician_user):
    return issue(physician_user, active)


@pytest.fixture
def routed(issued, patient_user, bound_pharmacy, stock):
    return route(patient_user, issued, bound_pharmacy)


def codes_of(stock_item) -> list[str]:
    return sorted(
        TraceCode.objects.filter(stock_item=stock_item, status="in_stock").values_list(
            "code", flat=True
        )
    )


def counter_form(prescription, stock_item, *, codes=None, key="key-1", **overrides) -> dict:
    item = prescription.items.get()
    data = {
        "idempotency_key": key,
        "certificate_type": "02",
        "certificate_no": prescription.patient.id_number,
        "line_count": "1",
        "line-0-item": str(item.pk),
        "line-0-stock_item": str(stock_item.pk),
        "line-0-packages": "1",
        "line-0-codes": "\n".join(codes if codes is not None else codes_of(stock_item)[:1]),
        "delivery_mode": "pickup",
    }
    data.update(overrides)
    return data


def fingerprint():
    return (
        Dispensing.objects.count(),
        StockMovement.objects.count(),
        list(StockItem.objects.order_by("pk").values_list("quantity", flat=True)),
        list(Prescription.objects.order_by("pk").values_list("status", flat=True)),
    )


# --- the physician prescribes ------------------------------------------------------------------


def test_the_prescribe_page_is_filled_from_the_plan_and_shows_what_is_left(
    client, physician_user, active, stock
):
    client.force_login(physician_user)

    response = client.get(reverse("prescriptions-doctor-prescribe", args=[active.pk]))

    assert response.status_code == 200
    form = response.context["form"]
    assert form["quantity"] == ""  # the only thing to type
    assert (form["single_dose"], form["dose_unit"]) == ("250", "mg")
    assert (form["frequency"], form["route"]) == ("每日两次", "口服")
    assert form["days"] == "30"  # the plan's period is over: the ordinary 30 days
    # the package size read from what the bound pharmacy stocks ("150mg*50粒")
    assert (form["specification"], form["pack_size"]) == ("150mg*50粒", "50")
    figures = response.context["figures"]
    assert (figures.total, figures.used, figures.reserved, figures.left) == (180, 0, 0, 180)
    assert 'data-figure="left"><strong>180粒' in response.content.decode()


def test_the_physician_types_only_the_quantity_and_the_prescription_is_issued(
    client, physician_user, active, stock
):
    client.force_login(physician_user)
    url = reverse("prescriptions-doctor-prescribe", args=[active.pk])
    prefilled = client.get(url).context["form"]

    response = client.post(url, {**prefilled, "quantity": "100"})

    assert response.status_code == 302
    assert response["Location"] == reverse("prescriptions-doctor-list")
    prescription = Prescription.objects.get()
    assert (prescription.status, prescription.eligibility_id) == (S.ISSUED, active.pk)
    item = prescription.items.get()
    assert (item.quantity, item.unit, item.pack_size, item.packages) == (100, "粒", PACK, 2)
    assert (item.single_dose, item.dose_unit, item.frequency, item.route, item.days) == (
        Decimal("250"),
        "mg",
        "每日两次",
        "口服",
        30,
    )
    assert list(prescription.history.values_list("to_status", flat=True)) == [S.ISSUED]
    assert AuditEvent.objects.filter(action="prescriptions.prescription_issued").count() == 1
    page = client.get(reverse("prescriptions-doctor-prescribe", args=[active.pk])).context
    assert (page["figures"].reserved, page["figures"].left) == (100, 80)


def test_a_quantity_over_the_plan_is_refused_on_the_page_and_nothing_is_issued(
    client, physician_user, active, stock
):
    client.force_login(physician_user)
    url = reverse("prescriptions-doctor-prescribe", args=[active.pk])
    prefilled = client.get(url).context["form"]

    response = client.post(url, {**prefilled, "quantity": "181"})

    assert response.status_code == 400
    assert 'data-code="prescriptions.over_plan"' in response.content.decode()
    assert "超出治疗用药方案剩余药量" in response.content.decode()
    assert response.context["form"]["quantity"] == "181"  # kept for correction
    assert not Prescription.objects.exists()


def test_a_readable_specification_fills_the_pack_size_and_it_is_not_asked(
    client, physician_user, active, stock
):
    client.force_login(physician_user)
    url = reverse("prescriptions-doctor-prescribe", args=[active.pk])

    page = client.get(url)

    body = page.content.decode()
    assert 'id="pack-known"' in body and "每盒 50粒" in body
    assert 'type="number" name="pack_size"' not in body
    # a typed pack size that contradicts the specification loses to it
    posted = client.post(url, {**page.context["form"], "quantity": "100", "pack_size": "7"})
    assert posted.status_code == 302
    item = Prescription.objects.get().items.get()
    assert (item.pack_size, item.packages) == (50, 2)


def test_without_a_readable_specification_the_package_size_is_typed(client, physician_user, active):
    client.force_login(physician_user)  # no stock anywhere: no specification to read
    url = reverse("prescriptions-doctor-prescribe", args=[active.pk])
    prefilled = client.get(url).context["form"]
    assert (prefilled["specification"], prefilled["pack_size"]) == ("", "")

    blank = client.post(url, {**prefilled, "quantity": "60"})
    typed = client.post(url, {**prefilled, "quantity": "60", "pack_size": "30"})

    assert blank.status_code == 400
    assert 'data-code="prescriptions.invalid_items"' in blank.content.decode()
    assert typed.status_code == 302
    item = Prescription.objects.get().items.get()
    assert (item.pack_size, item.packages) == (30, 2)


def test_an_eligibility_past_its_reevaluation_date_cannot_be_prescribed(
    client, physician_user, eligibility
):
    client.force_login(physician_user)  # the conftest's grant of 2026-03-04: due long ago
    url = reverse("prescriptions-doctor-prescribe", args=[eligibility.pk])

    page = client.get(url)
    refused = client.post(url, {**page.context["form"], "quantity": "50", "pack_size": "50"})

    assert 'id="inactive"' in page.content.decode()
    assert refused.status_code == 400
    assert 'data-code="prescriptions.reevaluation_due"' in refused.content.decode()
    assert not Prescription.objects.exists()


def test_the_approved_application_page_links_to_prescribing(client, physician_user, active):
    client.force_login(physician_user)

    response = client.get(reverse("eligibility-doctor-application", args=[active.application_id]))

    url = reverse("prescriptions-doctor-prescribe", args=[active.pk])
    assert f'href="{url}"' in response.content.decode()
    assert "开具处方" in response.content.decode()


def test_the_hospital_sees_the_dispensing_result(
    client, physician_user, pharmacist_user, pharmacist, routed, stock
):
    client.force_login(pharmacist_user)
    client.post(
        reverse("prescriptions-counter-dispense", args=[routed.pk]), counter_form(routed, stock[0])
    )
    client.force_login(physician_user)

    response = client.get(reverse("prescriptions-doctor-list"))

    html = response.content.decode()
    row = html[html.index(f'id="rx-{routed.pk}"') :]
    assert 'data-status="dispensed"' in row[:200]
    assert "江岸演示大药房" in row and "批号 B2401" in row and "× 1" in row
    assert "到店自取 · 已取药" in row
    assert "撤销" not in row.split("</tr>")[0]  # dispensed: no cancel button


def test_the_insurance_office_sees_the_dispensing_result_but_cannot_cancel(
    client, reviewer_user, pharmacist_user, pharmacist, routed, issued, stock
):
    # given a dispensed prescription of the reviewer's hospital
    client.force_login(pharmacist_user)
    client.post(
        reverse("prescriptions-counter-dispense", args=[routed.pk]), counter_form(routed, stock[0])
    )
    dispensing = Dispensing.objects.get(prescription=routed)
    client.force_login(reviewer_user)

    # when the hospital's insurance office opens the hospital's prescriptions
    response = client.get(reverse("prescriptions-doctor-list"))

    # then it sees pharmacy, time, batch and quantity, and has no cancel button
    html = response.content.decode()
    row = html[html.index(f'id="rx-{routed.pk}"') :].split("</tr>")[0]
    moment = timezone.localtime(dispensing.dispensed_at).strftime("%Y-%m-%d %H:%M")
    assert "江岸演示大药房" in row and moment in row and "批号 B2401" in row and "× 1" in row
    assert "撤销" not in html.split('id="rx-')[1]


def test_the_physician_cancels_with_a_reason_from_the_list(client, physician_user, issued):
    client.force_login(physician_user)
    url = reverse("prescriptions-doctor-cancel", args=[issued.pk])

    typed = client.post(url, {"reason": "随便写的原因"})
    issued.refresh_from_db()
    assert issued.status == S.ISSUED  # only the listed reasons

    picked = client.post(url, {"reason": "患者要求撤销"})

    assert picked.status_code == 302
    issued.refresh_from_db()
    assert (issued.status, issued.cancel_reason) == (S.CANCELLED, "患者要求撤销")
    assert typed.status_code == 302  # back to the list with the message


# --- the pharmacy counter ---------------------------------------------------------------------


def test_the_inbox_lists_prescriptions_routed_here(client, pharmacist_user, pharmacist, routed):
    client.force_login(pharmacist_user)

    response = client.get(reverse("prescriptions-pharmacy-inbox"))

    html = response.content.decode()
    assert routed.prescription_no in html
    assert reverse("prescriptions-counter-rx", args=[routed.pk]) in html
    assert "张*" in html and "张伟" not in html


@pytest.mark.parametrize("how", ["number", "qr"])
def test_the_scan_box_opens_the_prescription(client, pharmacist_user, pharmacist, routed, how):
    client.force_login(pharmacist_user)
    token = routed.document.verification_token
    reference = (
        routed.prescription_no if how == "number" else f"https://dc.example.cn/verify/{token}/"
    )

    response = client.get(reverse("prescriptions-counter"), {"q": reference})

    assert response.status_code == 302
    assert response["Location"] == reverse("prescriptions-counter-rx", args=[routed.pk])


def test_the_scan_box_says_why_it_cannot_open(client, pharmacist_user, pharmacist, issued):
    client.force_login(pharmacist_user)

    url = reverse("prescriptions-counter")
    unknown = client.get(url, {"q": "CF2026010199999"})
    guessed = client.get(url, {"q": issued.prescription_no})
    walk_in = client.get(
        url, {"q": issued.prescription_no, "patient_id_number": issued.patient.id_number}
    )

    # a number alone, not routed here, is as unknown as a number nobody issued [issue 9]
    for refused in (unknown, guessed):
        assert refused.status_code == 404
        assert 'data-code="counter.rx_not_found"' in refused.content.decode()
    assert issued.patient.name[0] + "*" not in guessed.content.decode()
    # with the patient's ID number the walk-in is told to route the prescription here first
    assert walk_in.status_code == 400
    assert 'data-code="counter.rx_other_pharmacy"' in walk_in.content.decode()
    assert "尚未流转" in walk_in.content.decode()


def test_the_counter_preselects_the_first_expiring_batch(
    client, pharmacist_user, pharmacist, routed, stock
):
    client.force_login(pharmacist_user)

    response = client.get(reverse("prescriptions-counter-rx", args=[routed.pk]))

    assert response.status_code == 200
    (row,) = response.context["form"].rows
    assert (row.stock_item_id, row.packages, row.fefo) == (stock[0].pk, 1, True)
    html = response.content.decode()
    assert f'<option value="{stock[0].pk}" selected' in html
    assert 'name="idempotency_key" value="' in html
    assert len(response.context["values"]["idempotency_key"]) == 32
    assert routed.patient.id_number not in html  # masked
    assert "张*" in html


def test_verify_shows_every_check_green(client, pharmacist_user, pharmacist, routed, stock):
    client.force_login(pharmacist_user)
    url = reverse("prescriptions-counter-check", args=[routed.pk])
    before = fingerprint()

    fragment = client.post(url, counter_form(routed, stock[0]), HTTP_HX_REQUEST="true")
    page = client.post(url, counter_form(routed, stock[0]))

    assert fragment.status_code == page.status_code == 200
    assert fragment.context["checks_ok"] is True
    html = fragment.content.decode()
    assert 'data-ok="false"' not in html
    assert "✓" in html and "核验通过" in html
    assert page.context["checks_ok"] is True
    assert page.context["values"]["idempotency_key"] == "key-1"  # the form keeps its key
    assert fingerprint() == before  # nothing written


def test_verify_shows_the_reason_of_a_failed_check(
    client, pharmacist_user, pharmacist, routed, stock
):
    client.force_login(pharmacist_user)

    response = client.post(
        reverse("prescriptions-counter-check", args=[routed.pk]),
        counter_form(routed, stock[0], certificate_no="420102196203140000"),
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert 'data-code="counter.person_mismatch" data-ok="false"' in html
    assert "✗" in html and "就诊凭证与处方使用人不一致" in html


def test_dispense_then_the_result_page(client, pharmacist_user, pharmacist, routed, stock):
    client.force_login(pharmacist_user)
    code = codes_of(stock[0])[0]

    response = client.post(
        reverse("prescriptions-counter-dispense", args=[routed.pk]),
        counter_form(routed, stock[0], codes=[code]),
    )

    result_url = reverse("prescriptions-counter-result", args=[routed.pk])
    assert (response.status_code, response["Location"]) == (302, result_url)
    routed.refresh_from_db()
    assert routed.status == S.DISPENSED
    dispensing = Dispensing.objects.get()
    assert dispensing.idempotency_key == "key-1"
    stock[0].refresh_from_db()
    assert stock[0].quantity == 2
    assert TraceCode.objects.get(code=code).status == "sold"
    html = client.get(result_url).content.decode()
    assert "已取药" in html and "B2401" in html and code in html
    # the counter page of a dispensed prescription shows the result
    again = client.get(reverse("prescriptions-counter-rx", args=[routed.pk]))
    assert again["Location"] == result_url


def test_a_double_post_with_the_same_key_dispenses_once(
    client, pharmacist_user, pharmacist, routed, stock
):
    client.force_login(pharmacist_user)
    url = reverse("prescriptions-counter-dispense", args=[routed.pk])
    form = counter_form(routed, stock[0])

    first = client.post(url, form, follow=True)
    second = client.post(url, form, follow=True)  # a double click, or the page resent
    other_key = client.post(url, {**form, "idempotency_key": "key-2"}, follow=True)

    result = reverse("prescriptions-counter-result", args=[routed.pk])
    for response in (first, second, other_key):
        assert response.redirect_chain == [(result, 302)]
    # the same key is the same request: answered as done, not refused as a used prescription
    done = f"处方 {routed.prescription_no} 已发药"
    assert [str(m) for m in first.context["messages"]] == [done]
    assert [str(m) for m in second.context["messages"]] == [done]
    assert [str(m) for m in other_key.context["messages"]] == [
        "处方已取药，不能重复使用，本次未重复发药"
    ]
    assert Dispensing.objects.count() == 1
    assert StockMovement.objects.filter(kind="sale").count() == 1
    stock[0].refresh_from_db()
    assert stock[0].quantity == 2


def test_a_refused_dispense_keeps_the_form_and_writes_nothing(
    client, pharmacist_user, pharmacist, routed, stock
):
    client.force_login(pharmacist_user)
    before = fingerprint()

    response = client.post(
        reverse("prescriptions-counter-dispense", args=[routed.pk]),
        counter_form(routed, stock[0], codes=[]),  # traceability on: one code per package
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="dispense-error" data-code="inventory.trace_code_count"' in html
    assert response.context["values"]["idempotency_key"] == "key-1"
    assert response.context["form"].rows[0].stock_item_id == stock[0].pk
    assert fingerprint() == before


def test_an_agent_signs_on_the_pad(client, pharmacist_user, pharmacist, routed, stock):
    client.force_login(pharmacist_user)
    agent = {
        "agent_name": "张小伟",
        "agent_id_number": "420102199001011236",
        "agent_phone": "13900000009",
        "agent_relation": "parent",
    }
    url = reverse("prescriptions-counter-dispense", args=[routed.pk])

    unsigned = client.post(url, counter_form(routed, stock[0], **agent))
    assert 'data-code="counter.agent_signature_required"' in unsigned.content.decode()
    signature = "data:image/png;base64," + base64.b64encode(PNG).decode()
    signed = client.post(url, counter_form(routed, stock[0], agent_signature=signature, **agent))

    assert signed.status_code == 302
    dispensing = Dispensing.objects.get()
    assert dispensing.agent_name == "张小伟"
    assert dispensing.agent_signature.read() == PNG
    assert dispensing.agent_relation == "parent"
    result = client.get(reverse("prescriptions-counter-result", args=[routed.pk])).content.decode()
    assert '<dd id="agent-relation">父母</dd>' in result


@pytest.mark.parametrize(
    ("relation", "code", "message"),
    [
        ("", "counter.agent_relation_required", "请选择代办人与参保人的关系"),
        ("friend", "counter.agent_relation_invalid", "代办人与参保人的关系无效"),
    ],
)
def test_the_counter_page_refuses_an_agent_without_a_valid_relation(
    client, pharmacist_user, pharmacist, routed, stock, relation, code, message
):
    client.force_login(pharmacist_user)
    signature = "data:image/png;base64," + base64.b64encode(PNG).decode()
    agent = {
        "agent_name": "张小伟",
        "agent_id_number": "420102199001011236",
        "agent_phone": "13900000009",
        "agent_signature": signature,
        "agent_relation": relation,
    }
    before = fingerprint()

    response = client.post(
        reverse("prescriptions-counter-dispense", args=[routed.pk]),
        counter_form(routed, stock[0], **agent),
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert f'data-code="{code}"' in html
    assert message in html
    # the form comes back with the agent kept, the relation list to choose from
    assert '<details id="agent" open>' in html
    assert 'value="spouse"' in html and "配偶" in html
    assert "其他（受委托人）" in html
    assert fingerprint() == before


def test_cold_chain_is_the_only_mode_for_injectables(
    client, pharmacist_user, pharmacist, routed, lung_drug
):
    lung_drug.is_injectable = True
    lung_drug.save(update_fields=["is_injectable"])
    client.force_login(pharmacist_user)

    response = client.get(reverse("prescriptions-counter-rx", args=[routed.pk]))

    assert [m for m, _ in response.context["delivery_modes"]] == ["cold_chain"]
    assert "免费配送至就诊的定点医疗机构" in response.content.decode()


# --- who may open the pages ---------------------------------------------------------------------

DOCTOR_PAGES = [
    ("get", "prescriptions-doctor-prescribe", "eligibility"),
    ("post", "prescriptions-doctor-prescribe", "eligibility"),
    ("get", "prescriptions-doctor-list", None),
    ("post", "prescriptions-doctor-cancel", "prescription"),
]
COUNTER_PAGES = [
    ("get", "prescriptions-pharmacy-inbox", None),
    ("get", "prescriptions-counter", None),
    ("get", "prescriptions-counter-rx", "prescription"),
    ("post", "prescriptions-counter-check", "prescription"),
    ("post", "prescriptions-counter-dispense", "prescription"),
    ("get", "prescriptions-counter-result", "prescription"),
]


def _url(name, arg, routed):
    ids = {"eligibility": routed.eligibility_id, "prescription": routed.pk}
    return reverse(name, args=[ids[arg]] if arg else [])


@pytest.mark.parametrize(("method", "name", "arg"), DOCTOR_PAGES + COUNTER_PAGES)
def test_anonymous_visitors_are_sent_to_login(client, routed, method, name, arg):
    response = getattr(client, method)(_url(name, arg, routed))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("method", "name", "arg", "wrong_role"),
    [(*page, "pharmacist_user") for page in DOCTOR_PAGES]
    + [(*page, "physician_user") for page in COUNTER_PAGES],
)
def test_the_wrong_role_is_refused(request, client, routed, method, name, arg, wrong_role):
    client.force_login(request.getfixturevalue(wrong_role))
    before = fingerprint()

    response = getattr(client, method)(_url(name, arg, routed))

    assert response.status_code == 403
    assert fingerprint() == before


@pytest.mark.parametrize(
    ("method", "name", "arg", "outsider"),
    [(*page, "outsider_physician") for page in DOCTOR_PAGES if page[2]]
    + [(*page, "outsider_pharmacist") for page in COUNTER_PAGES if page[2]],
)
def test_another_institution_gets_not_found(
    request, client, routed, stock, method, name, arg, outsider
):
    client.force_login(request.getfixturevalue(outsider))
    before = fingerprint()
    data = counter_form(routed, stock[0]) if method == "post" else {}

    response = getattr(client, method)(_url(name, arg, routed), data)

    assert response.status_code == 404
    assert routed.patient.name not in response.content.decode()
    assert fingerprint() == before


def test_other_institutions_lists_do_not_show_the_prescription(
    client, routed, outsider_physician, outsider_pharmacist
):
    for user, name in (
        (outsider_physician, "prescriptions-doctor-list"),
        (outsider_pharmacist, "prescriptions-pharmacy-inbox"),
    ):
        client.force_login(user)
        assert routed.prescription_no not in client.get(reverse(name)).content.decode()
