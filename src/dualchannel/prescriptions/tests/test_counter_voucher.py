"""The national insurance e-voucher (医保电子凭证, certificate type 01) at the counter (issue 14
point 4): the pharmacist scans the patient's voucher QR code, the platform (simulated, 1101)
resolves it to its holder, and the real-name check compares the holder with the patient."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dualchannel.core.errors import DomainError
from dualchannel.core.masking import mask_id_number
from dualchannel.inventory.models import StockMovement, TraceCode
from dualchannel.prescriptions.models import Dispensing, PrescriptionStatus
from dualchannel.prescriptions.services import counter, counter_checks
from dualchannel.simulators.models import FaultMode, SimVoucher
from dualchannel.simulators.platform import simulator_fail_next, simulator_voucher_issue

from .helpers import TODAY, dispense, line, me, special

S = PrescriptionStatus


@pytest.fixture
def on_platform(bound_pharmacy, pharmacist_user):
    """The pharmacy is connected to the national platform (its 12-character code)."""
    bound_pharmacy.platform_code = "P42010200001"
    bound_pharmacy.save(update_fields=["platform_code"])
    pharmacist_user.institution.refresh_from_db()
    return bound_pharmacy


def voucher(prescription_or_person, **kw) -> str:
    person = getattr(prescription_or_person, "patient", prescription_or_person)
    return simulator_voucher_issue(person.id_number, **kw).token


def by_voucher(token: str) -> counter.Identity:
    return counter.Identity(certificate_type="01", certificate_no=token)


def nothing_written():
    return (
        Dispensing.objects.count(),
        StockMovement.objects.count(),
        TraceCode.objects.filter(status="sold").count(),
    )


def test_voucher_of_the_patient_checks_and_dispenses(
    routed, pharmacist, pharmacist_user, stock, on_platform
):
    # given: 张伟 shows his e-voucher; the pharmacist scans it
    token = voucher(routed)

    # when: 核验 then 发药 with the scanned code only (no ID number typed)
    result = counter.counter_check(
        actor=pharmacist_user, prescription_id=routed.pk, identity=by_voucher(token), today=TODAY
    )
    dispensing = dispense(pharmacist_user, routed, stock[0], identity=by_voucher(token))

    # then: the real-name check passed on the holder the platform named
    person = next(c for c in result.checks if c.label == "人证相符")
    assert person.ok and person.code == "person_match"
    routed.refresh_from_db()
    assert routed.status == S.DISPENSED
    assert dispensing.certificate_type == "01"
    assert dispensing.certificate_masked == mask_id_number(routed.patient.id_number)
    assert len(dispensing.voucher_digest) == 64
    assert token not in dispensing.voucher_digest


def test_voucher_of_another_person_is_refused_and_writes_nothing(
    routed, pharmacist, pharmacist_user, stock, on_platform, insured_person
):
    # given: the voucher of 张三, not the prescription's patient
    token = voucher(insured_person)
    before = nothing_written()

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0], identity=by_voucher(token))

    assert refused.value.code == "counter.person_mismatch"
    assert "不一致" in refused.value.message
    assert nothing_written() == before
    routed.refresh_from_db()
    assert routed.status == S.ROUTED


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        # expired: issued long enough ago
        (lambda p: voucher(p, minutes=-1), "integration.voucher_expired", "过期"),
        # forged: well formed, unknown to the platform
        (lambda p: "EC" + "0" * 32, "integration.voucher_invalid", "未查询到该电子凭证"),
        # forged: not a voucher code at all
        (lambda p: "<script>", "integration.voucher_invalid", "无法识别"),
        # the ID number typed in place of the voucher
        (lambda p: p.patient.id_number, "integration.voucher_invalid", "不能录入身份证号"),
    ],
)
def test_bad_voucher_is_refused_with_a_code_and_writes_nothing(
    routed, pharmacist, pharmacist_user, stock, on_platform, make, code, words, caplog
):
    token = make(routed)
    before = nothing_written()
    caplog.set_level(logging.INFO)

    with pytest.raises(DomainError) as check_refused:
        counter.counter_check(
            actor=pharmacist_user, prescription_id=routed.pk, identity=by_voucher(token)
        )
    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0], identity=by_voucher(token))

    assert check_refused.value.code == refused.value.code == code
    assert words in refused.value.message
    assert nothing_written() == before
    # logged by its code, without the token or the person
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"code={code}" in logged
    assert token not in logged
    assert routed.patient.id_number not in logged


def test_a_voucher_dispenses_once_a_replay_is_refused(
    routed, pharmacist, pharmacist_user, stock, on_platform, physician_user, eligibility
):
    # given: a first prescription dispensed with the voucher
    token = voucher(routed)
    dispense(pharmacist_user, routed, stock[0], identity=by_voucher(token))
    second = special(physician_user, eligibility, today=TODAY + timedelta(days=20))
    second.pharmacy = routed.pharmacy
    second.status = S.ROUTED
    second.save(update_fields=["pharmacy", "status"])
    before = nothing_written()

    # when: the same scanned code again, for another dispensing
    with pytest.raises(DomainError) as refused:
        counter.counter_dispense(
            actor=pharmacist_user,
            prescription_id=second.pk,
            identity=by_voucher(token),
            lines=[line(second, stock[0])],
            idempotency_key="k-2",
            today=TODAY + timedelta(days=20),
        )

    # then
    assert refused.value.code == "counter.voucher_used"
    assert "刷新" in refused.value.message
    assert nothing_written() == before


def test_the_same_dispense_request_again_answers_without_asking_the_platform(
    routed, pharmacist, pharmacist_user, stock, on_platform
):
    token = voucher(routed)
    lines = [line(routed, stock[0])]
    first = dispense(pharmacist_user, routed, stock[0], identity=by_voucher(token), lines=lines)
    # the voucher expires meanwhile: the retried request is still the same dispensing
    SimVoucher.objects.filter(token=token).update(expires_at=timezone.now())

    again = dispense(pharmacist_user, routed, stock[0], identity=by_voucher(token), lines=lines)

    assert again.pk == first.pk


def test_platform_down_says_to_use_the_id_card(
    routed, pharmacist, pharmacist_user, stock, on_platform
):
    token = voucher(routed)
    simulator_fail_next(5, mode=FaultMode.TIMEOUT, infno="1101")
    before = nothing_written()

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0], identity=by_voucher(token))

    assert refused.value.code == "integration.voucher_unavailable"
    assert "身份证" in refused.value.message
    assert nothing_written() == before


def test_a_pharmacy_not_on_the_platform_cannot_read_vouchers(
    routed, pharmacist, pharmacist_user, stock
):
    token = voucher(routed)

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0], identity=by_voucher(token))

    assert refused.value.code == "integration.voucher_unavailable"
    assert "未接入" in refused.value.message


def test_an_e_voucher_not_resolved_by_the_platform_is_refused_by_the_check(routed):
    """01 with an ID number that did not come from the platform's resolution: refused."""
    checks = counter_checks.all_checks(
        routed, routed.pharmacy_id, me(routed, certificate_type="01"), None, TODAY, None
    )

    refusal = next(c for c in checks if not c.ok)
    assert refusal.code == "counter.voucher_required"


# --- over HTTP: the API and the counter page ---------------------------------------------------


@pytest.fixture
def on_today(monkeypatch):
    """The API and the page use today's date: hold it at the fixtures' prescription day."""
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: TODAY)


def api_body(prescription, stock_item, token: str) -> dict:
    return {
        "identity": {"certificate_type": "01", "certificate_no": token},
        "lines": [line(prescription, stock_item)],
    }


def test_api_checks_and_dispenses_by_voucher_showing_only_the_masked_holder(
    api_client, routed, pharmacist, pharmacist_user, stock, on_platform, on_today
):
    token = voucher(routed)
    api_client.as_user(pharmacist_user)
    base = f"/api/v1/prescriptions/{routed.pk}/counter"

    checked = api_client.post_json(f"{base}/check", api_body(routed, stock[0], token))
    dispensed = api_client.post_json(
        f"{base}/dispense", api_body(routed, stock[0], token), HTTP_IDEMPOTENCY_KEY="desk-1-0001"
    )

    assert checked.status_code == 200, checked.content
    person = next(c for c in checked.json()["checks"] if c["label"] == "人证相符")
    assert person["ok"] is True
    assert mask_id_number(routed.patient.id_number) in person["message"]
    assert routed.patient.id_number not in checked.content.decode()
    assert dispensed.status_code == 201, dispensed.content
    assert dispensed.json()["certificate_type"] == "01"
    assert dispensed.json()["certificate_masked"] == mask_id_number(routed.patient.id_number)
    assert routed.patient.id_number not in dispensed.content.decode()


def test_api_refuses_a_replayed_or_forged_voucher_by_its_code(
    api_client,
    routed,
    pharmacist,
    pharmacist_user,
    stock,
    on_platform,
    on_today,
    physician_user,
    eligibility,
):
    token = voucher(routed)
    api_client.as_user(pharmacist_user)
    first = api_client.post_json(
        f"/api/v1/prescriptions/{routed.pk}/counter/dispense",
        api_body(routed, stock[0], token),
        HTTP_IDEMPOTENCY_KEY="desk-1-0001",
    )
    assert first.status_code == 201, first.content
    second = special(physician_user, eligibility)
    second.pharmacy = routed.pharmacy
    second.status = S.ROUTED
    second.save(update_fields=["pharmacy", "status"])
    base = f"/api/v1/prescriptions/{second.pk}/counter"

    replayed = api_client.post_json(f"{base}/check", api_body(second, stock[1], token))
    forged = api_client.post_json(f"{base}/check", api_body(second, stock[1], "EC" + "F" * 32))

    refused = [c for c in replayed.json()["checks"] if not c["ok"]]
    assert "counter.voucher_used" in [c["code"] for c in refused]
    assert forged.status_code >= 400
    assert forged.json()["error"]["code"] == "integration.voucher_invalid"
    assert "医保电子凭证" in forged.json()["error"]["message"]


def counter_form(prescription, stock_item, token: str) -> dict:
    code = line(prescription, stock_item)["trace_codes"][0]
    return {
        "idempotency_key": "page-1",
        "certificate_type": "01",
        "certificate_no": token,
        "line_count": "1",
        "line-0-item": str(prescription.items.get().pk),
        "line-0-stock_item": str(stock_item.pk),
        "line-0-packages": "1",
        "line-0-codes": code,
        "delivery_mode": "pickup",
    }


def test_page_verifies_and_dispenses_by_scanned_voucher(
    client, routed, pharmacist, pharmacist_user, stock, on_platform, on_today
):
    token = voucher(routed)
    client.force_login(pharmacist_user)

    page = client.get(reverse("prescriptions-counter-rx", args=[routed.pk]))
    verified = client.post(
        reverse("prescriptions-counter-check", args=[routed.pk]),
        counter_form(routed, stock[0], token),
    )
    dispensed = client.post(
        reverse("prescriptions-counter-dispense", args=[routed.pk]),
        counter_form(routed, stock[0], token),
    )

    assert "电子凭证二维码" in page.content.decode()
    assert verified.context["checks_ok"], verified.context["checks"]
    html = verified.content.decode()
    assert f"医保电子凭证持有人 {mask_id_number(routed.patient.id_number)}" in html
    assert routed.patient.id_number not in html
    assert dispensed.status_code == 302
    assert Dispensing.objects.get().voucher_digest


def test_page_refuses_another_persons_voucher_and_platform_down_in_chinese(
    client, routed, pharmacist, pharmacist_user, stock, on_platform, on_today, insured_person
):
    client.force_login(pharmacist_user)
    url = reverse("prescriptions-counter-check", args=[routed.pk])

    other = client.post(url, counter_form(routed, stock[0], voucher(insured_person)))
    simulator_fail_next(5, infno="1101")
    down = client.post(url, counter_form(routed, stock[0], voucher(routed)))

    checks = {c.code: c for c in other.context["checks"]}
    assert checks["counter.person_mismatch"].ok is False
    assert "就诊凭证与处方使用人不一致" in other.content.decode()
    assert insured_person.id_number not in other.content.decode()
    assert down.context["error"].code == "integration.voucher_unavailable"
    assert "请改用居民身份证或社会保障卡核验身份" in down.content.decode()
    assert Dispensing.objects.count() == 0


def test_a_voucher_racing_another_dispensing_loses_to_the_unique_digest(
    routed,
    pharmacist,
    pharmacist_user,
    stock,
    on_platform,
    physician_user,
    eligibility,
    monkeypatch,
):
    """Two counters, two prescriptions, one scanned voucher: the check passes on both before
    either commits; the dispensing's unique voucher digest refuses the later one."""
    token = voucher(routed)
    dispense(pharmacist_user, routed, stock[0], identity=by_voucher(token))
    second = special(physician_user, eligibility, today=TODAY + timedelta(days=25))
    second.pharmacy = routed.pharmacy
    second.status = S.ROUTED
    second.save(update_fields=["pharmacy", "status"])
    # the other counter's dispensing was not yet visible when this one checked (neither by the
    # voucher check nor by the early-refill check, which reads the same dispensing)
    monkeypatch.setattr(counter_checks, "_voucher_check", lambda identity: None)
    monkeypatch.setattr(counter_checks, "refill_checks", lambda *a, **k: [])
    before = nothing_written()

    with pytest.raises(DomainError) as refused:
        counter.counter_dispense(
            actor=pharmacist_user,
            prescription_id=second.pk,
            identity=by_voucher(token),
            lines=[line(second, stock[0])],
            idempotency_key="k-2",
            today=TODAY + timedelta(days=25),
        )

    assert refused.value.code == "counter.voucher_used"
    assert nothing_written() == before
    second.refresh_from_db()
    assert second.status == S.ROUTED
