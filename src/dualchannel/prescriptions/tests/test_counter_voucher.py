"""The national insurance e-voucher (医保电子凭证, certificate type 01) at the counter (issue 14
point 4): the pharmacist scans the patient's voucher QR code, the platform (simulated, 1101)
resolves it to its holder, and the real-name check compares the holder with the patient."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
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
