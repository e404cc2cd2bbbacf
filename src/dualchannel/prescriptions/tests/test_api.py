"""The prescriptions API over HTTP: issue, choose a pharmacy, the counter with its idempotency
key and refusal codes, delivery, the dispensing result back to the hospital, and masking."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from dualchannel.core.masking import mask_id_number
from dualchannel.core.models import AuditEvent
from dualchannel.inventory.models import StockItem, StockMovement
from dualchannel.prescriptions.models import Dispensing, PrescriptionStatus

from .helpers import PACK, PNG, TODAY, USAGE, stock_codes

BASE = "/api/v1/prescriptions"
S = PrescriptionStatus
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def on_today(monkeypatch):
    """The API uses today's date: hold it at the day the fixtures' prescriptions are valid."""
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: TODAY)


def issue_body(eligibility, quantity="50") -> dict:
    return {
        "patient_id_number": eligibility.patient.id_number,
        "benefit_type": "special_drug",
        "eligibility_id": eligibility.pk,
        "items": [
            {
                "drug_id": eligibility.drug_id,
                "quantity": quantity,
                "unit": "粒",
                "pack_size": str(PACK),
                **USAGE,
                "days": 25,
                "specification": "150mg*50粒",
            }
        ],
    }


def identity(prescription, **kw) -> dict:
    return {"certificate_type": "02", "certificate_no": prescription.patient.id_number, **kw}


def dispense_body(prescription, stock_item, **kw) -> dict:
    item = prescription.items.get()
    return {
        "identity": kw.pop("identity", identity(prescription)),
        "lines": [
            {
                "item_id": item.pk,
                "stock_item_id": stock_item.pk,
                "packages": 1,
                "trace_codes": [stock_codes(stock_item)[0]],
            }
        ],
        **kw,
    }


def counted():
    return (
        Dispensing.objects.count(),
        StockMovement.objects.count(),
        list(StockItem.objects.order_by("pk").values_list("quantity", flat=True)),
    )


@pytest.fixture
def patient(patient_user, eligibility):
    patient_user.insured_person = eligibility.patient
    patient_user.save(update_fields=["insured_person"])
    return patient_user


# --- issuing, reading, masking -----------------------------------------------------------------


def test_physician_issues_and_each_role_reads_what_it_may(
    api_client, eligibility, physician_user, agency_user, patient, outsider_physician
):
    id_number = eligibility.patient.id_number

    response = api_client.as_user(physician_user).post_json(f"{BASE}/", issue_body(eligibility))

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == S.ISSUED
    # masked even for the prescribing physician: the full number only on request, audited
    assert created["patient_id_number"] == mask_id_number(id_number)
    assert [i["packages"] for i in created["items"]] == [1]
    assert [h["to_status"] for h in created["history"]] == [S.ISSUED]
    assert created["plan"]["left"] == "180.00" and created["plan_quantity"] == "50.00"
    assert created["circulation"]["rx_centre_status_label"] == "未流转"
    url = f"{BASE}/{created['id']}"

    officer = api_client.as_user(agency_user).get(url).json()
    assert officer["patient_id_number"] == mask_id_number(id_number)
    assert officer["patient_name"] == "张*"
    mine = api_client.as_user(patient).get(f"{BASE}/").json()
    assert [p["id"] for p in mine] == [created["id"]]
    assert mine[0]["patient_id_number"] == mask_id_number(id_number)  # a list never shows it

    refused = api_client.as_user(outsider_physician).get(url)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "counter.rx_not_found"
    assert api_client.as_user(outsider_physician).get(f"{BASE}/").json() == []


def test_invalid_items_come_back_in_the_standard_error_shape(
    api_client, eligibility, physician_user, physician
):
    body = issue_body(eligibility)
    body["items"][0]["frequency"] = "随便"

    response = api_client.as_user(physician_user).post_json(f"{BASE}/", body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "prescriptions.invalid_items"
    assert error["fields"] == {"items.0.frequency": ["请选择使用频次"]}


def test_physician_cancels_with_a_reason(api_client, eligibility, physician_user):
    created = api_client.as_user(physician_user).post_json(f"{BASE}/", issue_body(eligibility))
    url = f"{BASE}/{created.json()['id']}/cancel"

    missing = api_client.post_json(url, {"reason": " "})
    cancelled = api_client.post_json(url, {"reason": "患者改用其他方案"})

    assert missing.json()["error"]["code"] == "prescriptions.reason_required"
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == S.CANCELLED
    assert cancelled.json()["cancel_reason"] == "患者改用其他方案"


# --- the patient's choice ----------------------------------------------------------------------


def test_patient_sees_stock_then_routes_with_consent(
    api_client, eligibility, physician_user, patient, bound_pharmacy, stock
):
    created = api_client.as_user(physician_user).post_json(f"{BASE}/", issue_body(eligibility))
    rx = created.json()["id"]
    api_client.as_user(patient)

    options = api_client.get(f"{BASE}/{rx}/pharmacies").json()
    refused = api_client.post_json(
        f"{BASE}/{rx}/route", {"pharmacy_id": bound_pharmacy.pk, "consent": False}
    )
    chosen = api_client.post_json(
        f"{BASE}/{rx}/route", {"pharmacy_id": bound_pharmacy.pk, "consent": True}
    )

    assert [(o["pharmacy_id"], o["stock"], o["stock_code"]) for o in options] == [
        (bound_pharmacy.pk, "all", "1")
    ]
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "prescriptions.consent_required"
    assert chosen.status_code == 200
    circulation = chosen.json()["circulation"]
    assert circulation["pharmacy_id"] == bound_pharmacy.pk
    assert circulation["consented_at"] is not None
    assert (circulation["stock_status_at_choice"], circulation["stock_code"]) == ("all", "1")
    assert circulation["rx_centre_status"] == "not_connected"


# --- the counter -------------------------------------------------------------------------------


def test_counter_opens_a_scanned_prescription_with_masked_id_and_fefo_batches(
    api_client,
    routed,
    pharmacist,
    pharmacist_user,
    stock,
):
    qr = f"https://dc.example.cn/verify/{routed.document.verification_token}/"

    response = api_client.as_user(pharmacist_user).post_json(
        f"{BASE}/counter/open", {"reference": qr}
    )

    assert response.status_code == 200, response.content
    summary = response.json()
    assert summary["routed_here"] is True
    assert summary["prescription"]["patient_id_number"] == mask_id_number(routed.patient.id_number)
    assert summary["prescription"]["patient_name"] == routed.patient.name
    (item,) = summary["items"]
    assert (item["packages"], item["available"], item["shortfall"]) == (1, 1, 0)
    assert [(p["batch_no"], p["quantity"]) for p in item["fefo"]] == [("B2401", 1)]
    assert summary["plan"]["left"] == "180.00"
    detail = api_client.get(f"{BASE}/{routed.pk}").json()
    assert detail["patient_id_number"] == mask_id_number(routed.patient.id_number)


def test_a_prescription_not_routed_here_opens_without_its_diagnosis(
    api_client, eligibility, physician_user, pharmacist, pharmacist_user, stock
):
    created = api_client.as_user(physician_user).post_json(f"{BASE}/", issue_body(eligibility))
    number = created.json()["prescription_no"]

    guessed = api_client.as_user(pharmacist_user).post_json(
        f"{BASE}/counter/open", {"reference": number}
    )
    response = api_client.post_json(
        f"{BASE}/counter/open",
        {"reference": number, "patient_id_number": eligibility.patient.id_number},
    )

    # the number alone is not found [issue 9]; with the patient's ID number it opens
    assert guessed.status_code == 404
    assert guessed.json()["error"]["code"] == "counter.rx_not_found"
    assert response.status_code == 200
    summary = response.json()
    assert summary["routed_here"] is False
    assert summary["prescription"]["diagnosis_name"] == ""
    assert summary["prescription"]["patient_name"] == "张*"


def test_counter_check_lists_every_check_with_its_code(
    api_client,
    routed,
    pharmacist,
    pharmacist_user,
    stock,
):
    body = dispense_body(
        routed, stock[0], identity=identity(routed, certificate_no="420102199001011236")
    )
    response = api_client.as_user(pharmacist_user).post_json(
        f"{BASE}/{routed.pk}/counter/check", body
    )

    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is False
    refused = [c for c in result["checks"] if not c["ok"]]
    assert [c["code"] for c in refused] == ["counter.person_mismatch"]
    assert refused[0]["label"] == "人证相符" and refused[0]["message"]
    assert {"lines_match", "within_plan"} <= {c["code"] for c in result["checks"]}


def test_dispense_without_an_idempotency_key_is_refused(
    api_client,
    routed,
    pharmacist,
    pharmacist_user,
    stock,
):
    before = counted()

    response = api_client.as_user(pharmacist_user).post_json(
        f"{BASE}/{routed.pk}/counter/dispense", dispense_body(routed, stock[0])
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "counter.idempotency_key_required"
    assert counted() == before


def test_the_same_dispense_again_answers_the_same_dispensing_another_body_is_refused(
    api_client,
    routed,
    pharmacist,
    pharmacist_user,
    stock,
):
    url = f"{BASE}/{routed.pk}/counter/dispense"
    body = dispense_body(routed, stock[0])
    api_client.as_user(pharmacist_user)

    first = api_client.post_json(url, body, HTTP_IDEMPOTENCY_KEY="desk-1-0001")
    after_first = counted()
    again = api_client.post_json(url, body, HTTP_IDEMPOTENCY_KEY="desk-1-0001")
    other = api_client.post_json(
        url, dispense_body(routed, stock[1]), HTTP_IDEMPOTENCY_KEY="desk-1-0001"
    )

    assert first.status_code == 201, first.content
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "counter.idempotency_mismatch"
    assert counted() == after_first
    dispensing = first.json()
    assert dispensing["certificate_masked"] == mask_id_number(routed.patient.id_number)
    (line,) = dispensing["lines"]
    assert (line["batch_no"], line["packages"], line["quantity"]) == ("B2401", 1, "50.00")
    assert dispensing["delivery"]["status"] == "picked_up"


@pytest.mark.parametrize("how", ["pickup", "home_delivery", "cold_chain", "agent"])
def test_the_dispense_answer_built_in_memory_is_the_answer_read_again(
    api_client, routed, pharmacist, pharmacist_user, stock, lung_drug, how
):
    """A new dispensing is answered from the rows the request wrote (no re-read, issue 15); its
    replay reads them from the database: both answers are the same, field for field."""
    body = dispense_body(routed, stock[0])
    if how == "home_delivery":
        body["delivery"] = {
            "mode": how,
            "address": "江岸区解放大道1号",
            "recipient_name": "张伟",
            "recipient_phone": "13900000001",
        }
    elif how == "cold_chain":
        lung_drug.is_injectable = True
        lung_drug.save(update_fields=["is_injectable"])
        body["delivery"] = {"mode": how}
    elif how == "agent":
        body["identity"] = identity(
            routed,
            agent_name="张小伟",
            agent_id_number="420102199001011236",
            agent_phone="13900000009",
            agent_relation="child",
            agent_signature=base64.b64encode(PNG).decode(),
        )
    url = f"{BASE}/{routed.pk}/counter/dispense"
    api_client.as_user(pharmacist_user)

    first = api_client.post_json(url, body, HTTP_IDEMPOTENCY_KEY="same-1")
    again = api_client.post_json(url, body, HTTP_IDEMPOTENCY_KEY="same-1")

    assert (first.status_code, again.status_code) == (201, 200), first.content
    assert first.json() == again.json()
    assert first.json()["lines"] and first.json()["delivery"]["history"]


def test_a_counter_refusal_names_its_code_in_the_error_body(
    api_client,
    routed,
    pharmacist,
    pharmacist_user,
    stock,
):
    before = counted()
    body = dispense_body(routed, stock[0], identity=identity(routed, certificate_type="03"))

    response = api_client.as_user(pharmacist_user).post_json(
        f"{BASE}/{routed.pk}/counter/dispense", body, HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "counter.card_sn_required"
    assert error["message"] == "社会保障卡须读取卡识别码"
    assert error["fields"]["checks"] == ["counter.card_sn_required：社会保障卡须读取卡识别码"]
    assert counted() == before


def test_an_agents_signature_travels_as_base64_and_their_numbers_are_masked(
    api_client,
    routed,
    pharmacist,
    pharmacist_user,
    physician_user,
    stock,
):
    agent = identity(
        routed,
        agent_name="张小伟",
        agent_id_number="420102199001011236",
        agent_phone="13900000009",
        agent_relation="entrusted",
    )
    url = f"{BASE}/{routed.pk}/counter/dispense"
    api_client.as_user(pharmacist_user)

    garbled = api_client.post_json(
        url,
        dispense_body(routed, stock[0], identity={**agent, "agent_signature": "不是图片"}),
        HTTP_IDEMPOTENCY_KEY="k-0",
    )
    signed = {**agent, "agent_signature": "data:image/png;base64," + base64.b64encode(PNG).decode()}
    response = api_client.post_json(
        url, dispense_body(routed, stock[0], identity=signed), HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert garbled.status_code == 400
    assert garbled.json()["error"]["code"] == "counter.agent_signature_required"
    assert response.status_code == 201, response.content
    dispensing = response.json()
    assert dispensing["agent_signed"] is True
    assert dispensing["agent_id_number"] == "420102********1236"
    assert dispensing["agent_phone"] == "139****0009"
    assert dispensing["agent_relation"] == "entrusted"
    assert dispensing["agent_relation_label"] == "其他（受委托人）"
    assert Dispensing.objects.get().agent_signature.read() == PNG
    hospital_view = api_client.as_user(physician_user).get(f"{BASE}/{routed.pk}").json()
    assert hospital_view["dispensing"]["agent_name"] == "张**"
    assert "13900000009" not in str(hospital_view)


@pytest.mark.parametrize(
    ("relation", "code", "message"),
    [
        (None, "counter.agent_relation_required", "请选择代办人与参保人的关系"),
        ("", "counter.agent_relation_required", "请选择代办人与参保人的关系"),
        ("neighbour", "counter.agent_relation_invalid", "代办人与参保人的关系无效"),
    ],
)
def test_an_agent_without_a_valid_relation_is_refused_and_nothing_is_written(
    api_client, routed, pharmacist, pharmacist_user, stock, relation, code, message
):
    agent = identity(
        routed,
        agent_name="张小伟",
        agent_id_number="420102199001011236",
        agent_phone="13900000009",
        agent_signature=base64.b64encode(PNG).decode(),
    )
    if relation is not None:
        agent["agent_relation"] = relation
    api_client.as_user(pharmacist_user)
    before = counted()

    response = api_client.post_json(
        f"{BASE}/{routed.pk}/counter/dispense",
        dispense_body(routed, stock[0], identity=agent),
        HTTP_IDEMPOTENCY_KEY="k-relation",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(message)
    assert counted() == before
    checked = api_client.post_json(f"{BASE}/{routed.pk}/counter/check", {"identity": agent}).json()
    assert code in [c["code"] for c in checked["checks"] if not c["ok"]]


# --- delivery and the result back to the hospital ----------------------------------------------


def test_home_delivery_phone_is_for_the_pharmacy_and_patient_only(
    api_client,
    routed,
    pharmacist,
    pharmacist_user,
    physician_user,
    patient,
    stock,
):
    delivery = {
        "mode": "home_delivery",
        "address": "江岸区解放大道1号",
        "recipient_name": "张伟",
        "recipient_phone": "13900000001",
    }
    created = api_client.as_user(pharmacist_user).post_json(
        f"{BASE}/{routed.pk}/counter/dispense",
        dispense_body(routed, stock[0], delivery=delivery),
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    dispensing_id = created.json()["id"]

    moved = api_client.post_json(
        f"{BASE}/dispensings/{dispensing_id}/delivery", {"to_status": "in_transit"}
    )
    wrong = api_client.post_json(
        f"{BASE}/dispensings/{dispensing_id}/delivery", {"to_status": "handed_over"}
    )

    assert moved.status_code == 200
    assert moved.json()["recipient_phone"] == "13900000001"
    assert moved.json()["next_statuses"] == ["delivered"]
    assert wrong.status_code == 409
    assert wrong.json()["error"]["code"] == "counter.delivery_wrong_mode"
    physician_view = api_client.as_user(physician_user).get(f"{BASE}/{routed.pk}").json()
    assert physician_view["dispensing"]["delivery"]["recipient_phone"] == "139****0001"
    assert physician_view["dispensing"]["delivery"]["address"] == ""
    patient_view = api_client.as_user(patient).get(f"{BASE}/{routed.pk}").json()
    assert patient_view["dispensing"]["delivery"]["recipient_phone"] == "13900000001"


def test_cold_chain_hand_over_is_confirmed_by_the_hospital_and_the_result_goes_back(
    api_client,
    routed,
    pharmacist,
    pharmacist_user,
    reviewer_user,
    physician_user,
    stock,
    lung_drug,
    eligibility,
):
    lung_drug.is_injectable = True
    lung_drug.save(update_fields=["is_injectable"])
    created = api_client.as_user(pharmacist_user).post_json(
        f"{BASE}/{routed.pk}/counter/dispense",
        dispense_body(routed, stock[0], delivery={"mode": "cold_chain"}),
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    url = f"{BASE}/dispensings/{created.json()['id']}/delivery"
    api_client.post_json(url, {"to_status": "in_transit"})

    incomplete = api_client.as_user(reviewer_user).post_json(url, {"to_status": "handed_over"})
    handed = api_client.post_json(url, {"to_status": "handed_over", "handed_over_by": "李四"})
    results = (
        api_client.as_user(physician_user)
        .get(f"{BASE}/eligibilities/{eligibility.pk}/dispensing-results")
        .json()
    )

    assert incomplete.status_code == 400
    assert incomplete.json()["error"]["fields"] == {"handed_over_by": ["必填"]}
    assert handed.status_code == 200, handed.content
    assert handed.json()["status"] == "handed_over"
    assert handed.json()["received_by"] == str(reviewer_user)
    assert AuditEvent.objects.filter(action="prescriptions.delivery_handed_over").exists()
    assert results["plan"] == {
        "eligibility_id": eligibility.pk,
        "total": "180.00",
        "used": "50.00",
        "left": "130.00",
        "unit": "粒",
    }
    (result,) = results["results"]
    assert result["prescription_no"] == routed.prescription_no
    assert result["pharmacy_name"] == routed.pharmacy.name
    assert result["delivery_status"] == "handed_over"
    assert result["plan_quantity"] == "50.00"
    assert [(b["batch_no"], b["expiry_date"], b["packages"]) for b in result["batches"]] == [
        ("B2401", "2027-06-30", 1)
    ]


def test_openapi_documents_the_idempotency_key_header(settings):

    settings.API_DOCS_PUBLIC = True  # as in DEBUG/DEMO_MODE; staff only otherwise
    schema = Client().get("/api/v1/openapi.json").json()
    operation = schema["paths"][f"{BASE}/{{prescription_id}}/counter/dispense"]["post"]

    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
