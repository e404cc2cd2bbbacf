"""The pharmacy counter: open, verify, dispense [HB art. 24, 29; CX art. 10, 21]."""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dualchannel.catalog.tests.factories import DrugFactory, PaymentStandardFactory
from dualchannel.core import refcache
from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.masking import mask_id_number
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.eligibility.services.reevaluation_deadlines import suspend_overdue
from dualchannel.eligibility.tests.factories import liu_fang
from dualchannel.inventory.models import StockItem, StockMovement, TraceCode
from dualchannel.inventory.sales import SaleLine, sale_record
from dualchannel.inventory.services import stock_receive
from dualchannel.monitoring.models import Alert
from dualchannel.notifications.models import Channel, Notification
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import (
    BenefitType,
    DeliveryMode,
    DeliveryStatus,
    Dispensing,
    PrescriptionStatus,
)
from dualchannel.prescriptions.services import counter, counter_checks
from dualchannel.registry.models import Designation, DesignationStatus, InstitutionKind
from dualchannel.registry.profiles import profile_of
from dualchannel.registry.tests.factories import InstitutionFactory, PharmacistFactory, designate

from .conftest import receive_stock, trace_codes
from .helpers import PNG, TODAY, USAGE, dispense, line, me, ordinary, special, stock_codes

S = PrescriptionStatus
pytestmark = pytest.mark.django_db


def fingerprint():
    return (
        Dispensing.objects.count(),
        StockMovement.objects.count(),
        list(StockItem.objects.order_by("pk").values_list("quantity", flat=True)),
        TraceCode.objects.filter(status="sold").count(),
    )


# --- open and check ----------------------------------------------------------------------------


def test_pharmacist_opens_by_number_or_by_scanning_the_qr_code(routed, pharmacist, pharmacist_user):
    by_number = counter.counter_open(actor=pharmacist_user, reference=routed.prescription_no)
    token = routed.document.verification_token
    by_qr = counter.counter_open(
        actor=pharmacist_user, reference=f"https://dc.example.cn/verify/{token}/"
    )
    assert by_number == by_qr == routed

    with pytest.raises(NotFound) as refused:
        counter.counter_open(actor=pharmacist_user, reference="CF2026031099999")
    assert refused.value.code == "counter.rx_not_found"


def test_a_good_case_passes_every_check(routed, pharmacist, pharmacist_user, stock):
    result = counter.counter_check(
        actor=pharmacist_user,
        prescription_id=routed.pk,
        identity=me(routed),
        lines=[line(routed, stock[0])],
        today=TODAY,
    )
    assert result.ok, result.refusals
    labels = {c.label for c in result.checks}
    assert {"处方有效且未使用", "人证相符", "用药资格有效", "数量在治疗方案剩余药量内"} <= labels


# --- dispensing ----------------------------------------------------------------------------------


def test_dispensing_takes_stock_sells_the_codes_and_uses_the_plan(
    routed, pharmacist, pharmacist_user, stock, eligibility
):
    code = stock_codes(stock[0])[0]

    dispensing = dispense(pharmacist_user, routed, stock[0])

    routed.refresh_from_db()
    assert routed.status == S.DISPENSED
    stock[0].refresh_from_db()
    assert stock[0].quantity == 2
    assert TraceCode.objects.get(code=code).status == "sold"
    eligibility.refresh_from_db()
    assert eligibility.plan_used_quantity == Decimal("50")
    (dl,) = dispensing.lines.all()
    assert (dl.batch_no, dl.packages, dl.quantity, dl.trace_codes) == ("B2401", 1, 50, [code])
    assert dispensing.certificate_masked.startswith("4201") and "*" in dispensing.certificate_masked
    assert dispensing.delivery.status == DeliveryStatus.PICKED_UP
    assert AuditEvent.objects.filter(action="prescriptions.dispensed").count() == 1
    assert Notification.objects.filter(
        template_code="prescriptions.dispensed", channel=Channel.IN_APP
    ).exists()


def test_the_same_request_again_returns_the_same_dispensing(
    routed, pharmacist, pharmacist_user, stock
):
    lines = [line(routed, stock[0])]
    first = dispense(pharmacist_user, routed, stock[0], lines=lines)
    again = dispense(pharmacist_user, routed, stock[0], lines=lines)

    assert again.pk == first.pk
    assert Dispensing.objects.count() == 1
    stock[0].refresh_from_db()
    assert stock[0].quantity == 2


def test_a_reused_key_with_another_body_is_refused_and_nothing_is_written(
    routed, pharmacist, pharmacist_user, stock
):
    dispense(pharmacist_user, routed, stock[0])
    before = fingerprint()

    with pytest.raises(Conflict) as refused:
        dispense(pharmacist_user, routed, stock[1], lines=[line(routed, stock[1])])

    assert refused.value.code == "counter.idempotency_mismatch"
    assert fingerprint() == before


def test_a_used_prescription_is_refused_with_a_new_key(routed, pharmacist, pharmacist_user, stock):
    dispense(pharmacist_user, routed, stock[0])
    before = fingerprint()

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[1], key="k-2", lines=[line(routed, stock[1])])

    assert refused.value.code == "counter.rx_used"
    assert fingerprint() == before


def test_an_agent_is_registered_with_id_phone_and_signature(
    routed, pharmacist, pharmacist_user, stock
):
    agent = me(
        routed,
        agent_name="张小伟",
        agent_id_number="420102199001011236",
        agent_phone="13900000009",
        agent_signature=PNG,
        agent_relation="child",
    )
    dispensing = dispense(pharmacist_user, routed, stock[0], identity=agent)

    assert dispensing.agent_id_number == "420102199001011236"
    assert dispensing.agent_signature.read() == PNG
    assert len(dispensing.agent_signature_sha256) == 64
    assert dispensing.agent_relation == "child"
    assert dispensing.get_agent_relation_display() == "子女"


def test_a_patient_in_person_has_no_agent_relation(routed, pharmacist, pharmacist_user, stock):
    dispensing = dispense(pharmacist_user, routed, stock[0])

    assert dispensing.agent_id_number == ""
    assert dispensing.agent_relation == ""


AGENT = {
    "agent_name": "张小伟",
    "agent_id_number": "420102199001011236",
    "agent_phone": "13900000009",
    "agent_signature": PNG,
}


@pytest.mark.parametrize(
    ("identity", "code"),
    [
        ({"certificate_no": "420102199001011236"}, "counter.person_mismatch"),
        ({"certificate_type": "09"}, "counter.cert_type_invalid"),
        ({"certificate_type": "03"}, "counter.card_sn_required"),
        ({"agent_name": "张小伟"}, "counter.agent_incomplete"),
        (
            {
                "agent_name": "张小伟",
                "agent_id_number": "420102199001011230",
                "agent_phone": "13900000009",
                "agent_signature": PNG,
                "agent_relation": "spouse",
            },
            "counter.agent_invalid_id",
        ),
        (
            {
                "agent_name": "张小伟",
                "agent_id_number": "420102199001011236",
                "agent_phone": "13900000009",
                "agent_relation": "spouse",
            },
            "counter.agent_signature_required",
        ),
        # the relation is required once an agent is registered, and one of the list
        (AGENT, "counter.agent_relation_required"),
        ({**AGENT, "agent_relation": "  "}, "counter.agent_relation_required"),
        ({**AGENT, "agent_relation": "friend"}, "counter.agent_relation_invalid"),
        ({**AGENT, "agent_relation": "配偶"}, "counter.agent_relation_invalid"),
        # a relation alone names an agent: the agent's identity is asked for
        ({"agent_relation": "spouse"}, "counter.agent_incomplete"),
    ],
)
def test_identity_refusals_have_a_reason_code_and_write_nothing(
    routed, pharmacist, pharmacist_user, stock, identity, code
):
    before = fingerprint()

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0], identity=me(routed, **identity))

    assert refused.value.code == code
    assert refused.value.message  # shown in Chinese at the counter
    assert fingerprint() == before


def test_the_relation_refusals_say_what_to_choose(routed, pharmacist, pharmacist_user, stock):
    with pytest.raises(DomainError) as missing:
        dispense(pharmacist_user, routed, stock[0], identity=me(routed, **AGENT))
    with pytest.raises(DomainError) as invalid:
        dispense(
            pharmacist_user,
            routed,
            stock[0],
            identity=me(routed, **AGENT, agent_relation="friend"),
        )

    assert missing.value.message == "请选择代办人与参保人的关系"
    assert "配偶、父母、子女、其他近亲属或其他（受委托人）" in invalid.value.message
    assert Dispensing.objects.count() == 0


def test_the_database_keeps_a_relation_only_with_an_agent(routed, pharmacist, pharmacist_user):
    # given a dispensing row with a relation but no agent (or a relation not in the list)
    def row(**kw):
        return Dispensing(
            prescription=routed,
            pharmacy=pharmacist.pharmacy,
            pharmacist=pharmacist,
            actor=pharmacist_user,
            idempotency_key="k-direct",
            request_digest="0" * 64,
            certificate_type="02",
            certificate_masked="4201**********1234",
            **kw,
        )

    # then the check constraint refuses both
    for bad in ({"agent_relation": "spouse"}, {"agent_id_number": "X", "agent_relation": "x"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            row(**bad).save()
    assert Dispensing.objects.count() == 0


def test_an_expired_prescription_is_refused(routed, pharmacist, pharmacist_user, stock):
    with pytest.raises(DomainError) as refused:
        counter.counter_dispense(
            actor=pharmacist_user,
            prescription_id=routed.pk,
            identity=me(routed),
            lines=[line(routed, stock[0])],
            idempotency_key="k-1",
            today=routed.valid_until + timedelta(days=1),
        )
    assert refused.value.code == "counter.rx_expired"


def test_another_pharmacy_sees_nothing(routed, outsider_pharmacist, stock):

    # given a designated pharmacy of another region, with the patient's number and ID number
    designate(outsider_pharmacist.institution)
    PharmacistFactory(user=outsider_pharmacist, pharmacy=outsider_pharmacist.institution)
    for id_number in ("", routed.patient.id_number):
        with pytest.raises(NotFound) as refused:
            counter.counter_open(
                actor=outsider_pharmacist,
                reference=routed.prescription_no,
                patient_id_number=id_number,
            )
        assert refused.value.code == "counter.rx_not_found"
    with pytest.raises(NotFound):
        dispense(outsider_pharmacist, routed, stock[0])


def test_a_walk_in_needs_what_the_patient_brings(
    eligibility, physician_user, pharmacist, pharmacist_user
):
    # given an issued prescription, not routed yet, three-fixed to this pharmacy
    issued = special(physician_user, eligibility)
    number = issued.prescription_no
    token = issued.document.verification_token

    def open_(reference, id_number=""):
        return counter.counter_open(
            actor=pharmacist_user, reference=reference, patient_id_number=id_number
        )

    # then its number alone, or with another person's ID number, is not found (no guessing)
    for id_number in ("", liu_fang().id_number):
        with pytest.raises(NotFound) as refused:
            open_(number, id_number)
        assert refused.value.code == "counter.rx_not_found"
    # and the number with the patient's ID number, or the QR code, opens it
    assert open_(number, issued.patient.id_number.lower()) == issued
    assert open_(f"https://dc.example.cn/verify/{token}/") == issued


def test_a_walk_in_only_opens_at_a_pharmacy_that_may_dispense_it(
    eligibility, physician_user, pharmacist_user
):

    # given a designated pharmacy of the same city that the three-fixed eligibility does not bind
    issued = special(physician_user, eligibility)
    other = InstitutionFactory(kind=InstitutionKind.PHARMACY, region_code="420106")
    designate(other)
    clerk = UserFactory(institution=other, roles=[Role.PHARMACIST])
    PharmacistFactory(user=clerk, pharmacy=other)

    # then even with the patient's ID number it is not found there
    with pytest.raises(NotFound):
        counter.counter_open(
            actor=clerk,
            reference=issued.prescription_no,
            patient_id_number=issued.patient.id_number,
        )


def test_quantity_beyond_what_the_plan_has_left_is_refused(
    routed, pharmacist, pharmacist_user, stock, eligibility
):
    eligibility.plan_used_quantity = Decimal("170")  # e.g. bought elsewhere under the plan
    eligibility.save(update_fields=["plan_used_quantity"])
    before = fingerprint()

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0])

    assert refused.value.code == "counter.quantity_over_plan"
    assert fingerprint() == before


def test_early_refill_beyond_the_tolerance_is_refused(
    routed,
    pharmacist,
    pharmacist_user,
    patient_user,
    physician_user,
    eligibility,
    bound_pharmacy,
    stock,
):
    first = dispense(pharmacist_user, routed, stock[0])  # 25 days' supply
    runs_out = timezone.localtime(first.dispensed_at).date() + timedelta(days=25)
    second = special(physician_user, eligibility)
    services.prescription_route(
        actor=patient_user,
        prescription_id=second.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=TODAY,
    )

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, second, stock[0], key="k-2")

    assert refused.value.code == "counter.early_refill"
    assert f"最早{(runs_out - timedelta(days=7)).isoformat()}可再次购药" in refused.value.message
    # within the tolerance (7 days before the supply runs out) it is allowed
    (allowed,) = counter_checks.refill_checks(second, runs_out - timedelta(days=7))
    assert allowed.ok


def test_a_price_above_the_payment_standard_is_refused(
    routed, pharmacist, pharmacist_user, stock, lung_drug
):
    # 20.00 元/粒 × 50 粒 = 1000.00 元 per box
    PaymentStandardFactory(
        drug=lung_drug, unit="粒", amount=Decimal("20.00"), specification="150mg*50粒"
    )
    assert counter.counter_check(
        actor=pharmacist_user,
        prescription_id=routed.pk,
        identity=me(routed),
        lines=[line(routed, stock[0])],
        today=TODAY,
    ).ok
    StockItem.objects.filter(pk=stock[0].pk).update(retail_price=Decimal("1000.01"))

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0])

    assert refused.value.code == "counter.price_above_standard"
    assert "1000.00" in refused.value.message


def test_a_batch_of_another_drug_is_refused(routed, pharmacist, pharmacist_user, stock):

    other = DrugFactory()
    wrong = stock_receive(
        actor=pharmacist_user,
        drug_id=other.pk,
        batch_no="X1",
        expiry_date="2027-12-31",
        quantity=1,
        trace_codes=trace_codes("8999999", 1),
        retail_price=Decimal("10.00"),
        idempotency_key="other",
    ).movement.stock_item
    before = fingerprint()

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, wrong, lines=[line(routed, wrong)])

    assert refused.value.code == "counter.batch_wrong_drug"
    assert fingerprint() == before


def test_a_traceability_code_of_another_drug_is_refused(routed, pharmacist, pharmacist_user, stock):

    other = DrugFactory()
    stock_receive(
        actor=pharmacist_user,
        drug_id=other.pk,
        batch_no="X1",
        expiry_date="2027-12-31",
        quantity=1,
        trace_codes=["89999990000000000001"],
        retail_price=Decimal("10.00"),
        idempotency_key="other",
    )
    before = fingerprint()

    with pytest.raises(DomainError) as refused:
        dispense(
            pharmacist_user,
            routed,
            stock[0],
            lines=[line(routed, stock[0], ["89999990000000000001"])],
        )

    assert refused.value.code == "inventory.trace_code_wrong_drug"
    assert fingerprint() == before


def test_scanned_packages_must_match_the_prescription(routed, pharmacist, pharmacist_user, stock):
    with pytest.raises(DomainError) as refused:
        dispense(
            pharmacist_user,
            routed,
            stock[0],
            lines=[line(routed, stock[0], stock_codes(stock[0])[:2], packages=2)],
        )
    assert refused.value.code == "counter.lines_invalid"


def test_injectables_go_by_free_cold_chain_to_the_treating_hospital(
    routed, pharmacist, pharmacist_user, stock, lung_drug
):
    lung_drug.is_injectable = True
    lung_drug.save(update_fields=["is_injectable"])

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0])
    assert refused.value.code == "counter.cold_chain_required"

    dispensing = dispense(
        pharmacist_user,
        routed,
        stock[0],
        key="k-2",
        delivery=counter.DeliveryInput(mode=DeliveryMode.COLD_CHAIN_TO_HOSPITAL),
    )
    delivery = dispensing.delivery
    assert delivery.cold_chain and delivery.fee == 0
    assert delivery.destination == routed.hospital
    assert delivery.status == DeliveryStatus.PREPARING


def test_home_delivery_needs_address_recipient_and_phone(
    routed, pharmacist, pharmacist_user, stock
):
    with pytest.raises(DomainError) as refused:
        dispense(
            pharmacist_user,
            routed,
            stock[0],
            delivery=counter.DeliveryInput(mode=DeliveryMode.HOME_DELIVERY, address="江岸区1号"),
        )
    assert refused.value.code == "counter.delivery_invalid"
    assert set(refused.value.fields) == {"delivery.recipient_name", "delivery.recipient_phone"}


def test_ordinary_prescription_needs_no_eligibility_at_the_counter(
    physician, zhang, physician_user, patient_user, bound_pharmacy, pharmacist, pharmacist_user
):

    drug = DrugFactory(generic_name="测试慢病片")
    item = stock_receive(
        actor=pharmacist_user,
        drug_id=drug.pk,
        batch_no="M1",
        expiry_date="2027-12-31",
        quantity=2,
        trace_codes=trace_codes("8555555", 2),
        retail_price=Decimal("30.00"),
        idempotency_key="m1",
    ).movement.stock_item
    prescription = services.prescription_issue(
        actor=physician_user,
        patient_id_number=zhang.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[
            {
                "drug_id": drug.pk,
                "quantity": "28",
                "unit": "片",
                "pack_size": "28",
                **USAGE,
                "days": 28,
            }
        ],
        today=TODAY,
    )
    services.prescription_route(
        actor=physician_user,
        prescription_id=prescription.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=TODAY,
    )

    dispensing = dispense(pharmacist_user, prescription, item)

    assert dispensing.lines.get().quantity == Decimal("28")


# --- certificate types [HB art. 24] -------------------------------------------------------------


@pytest.mark.parametrize(
    ("certificate_type", "card_sn"),
    [
        # social security card with its card serial number; the e-voucher (01): test_counter_voucher
        ("03", "K42010212345678"),
    ],
)
def test_the_patient_dispenses_with_a_social_security_card(
    routed, pharmacist, pharmacist_user, stock, certificate_type, card_sn
):
    # given: 张伟 at the counter with his e-credential or his social security card
    identity = me(routed, certificate_type=certificate_type, card_sn=card_sn)
    code = stock_codes(stock[0])[0]

    # when
    dispensing = dispense(pharmacist_user, routed, stock[0], identity=identity)

    # then: dispensed, with the credential recorded as read
    routed.refresh_from_db()
    assert routed.status == S.DISPENSED
    assert dispensing.certificate_type == certificate_type
    assert dispensing.card_sn == card_sn
    assert dispensing.certificate_masked == mask_id_number(routed.patient.id_number)
    stock[0].refresh_from_db()
    assert stock[0].quantity == 2
    assert TraceCode.objects.get(code=code).status == "sold"


def test_a_social_security_card_with_a_blank_card_serial_is_refused(
    routed, pharmacist, pharmacist_user, stock
):
    blank_serial = me(routed, certificate_type="03", card_sn="  ")
    before = fingerprint()

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0], identity=blank_serial)

    assert refused.value.code == "counter.card_sn_required"
    assert fingerprint() == before
    routed.refresh_from_db()
    assert routed.status == S.ROUTED


# --- the early-refill tolerance comes from the policy profile -----------------------------------


def test_the_profiles_early_refill_tolerance_is_used(
    routed,
    pharmacist,
    pharmacist_user,
    patient_user,
    physician_user,
    eligibility,
    bound_pharmacy,
    stock,
):
    # given: the pooling area tolerates 3 days (the national fallback is 7), and 25 days'
    # supply was dispensed on TODAY, so it lasts until TODAY + 25
    profile = profile_of(routed.hospital)
    profile.early_refill_tolerance_days = 3
    profile.save(update_fields=["early_refill_tolerance_days"])
    first = dispense(pharmacist_user, routed, stock[0])
    Dispensing.objects.filter(pk=first.pk).update(
        dispensed_at=timezone.make_aware(datetime.combine(TODAY, time(10, 0)))
    )
    runs_out = TODAY + timedelta(days=25)
    earliest = runs_out - timedelta(days=3)

    # when: the next prescription comes 4 days before the supply runs out (allowed under 7)
    too_early = earliest - timedelta(days=1)
    second = special(physician_user, eligibility, today=too_early)
    services.prescription_route(
        actor=patient_user,
        prescription_id=second.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=too_early,
    )
    before = fingerprint()
    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, second, stock[1], key="k-2", today=too_early)

    # then: refused with the profile's date, nothing written
    assert refused.value.code == "counter.early_refill"
    assert f"最早{earliest.isoformat()}可再次购药" in refused.value.message
    assert fingerprint() == before

    # and three days before it runs out the same prescription is dispensed
    third = special(physician_user, eligibility, today=earliest)
    services.prescription_route(
        actor=patient_user,
        prescription_id=third.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=earliest,
    )
    dispensing = dispense(pharmacist_user, third, stock[1], key="k-3", today=earliest)
    third.refresh_from_db()
    assert third.status == S.DISPENSED
    assert dispensing.lines.get().batch_no == "B2402"


# --- refusals: the prescription, the eligibility, the pharmacy ----------------------------------


def test_a_suspended_eligibility_is_refused_and_nothing_is_written(
    routed, pharmacist, pharmacist_user, stock, eligibility
):
    # given: re-evaluation overdue, the nightly job suspends the eligibility

    assert suspend_overdue(today=eligibility.next_reevaluation_due + timedelta(days=1)) == 1
    eligibility.refresh_from_db()
    assert eligibility.status == "suspended"
    before = fingerprint()

    # when
    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0])

    # then
    assert refused.value.code == "counter.eligibility_inactive"
    assert "暂停" in refused.value.message
    assert fingerprint() == before
    eligibility.refresh_from_db()
    assert eligibility.plan_used_quantity == 0
    routed.refresh_from_db()
    assert routed.status == S.ROUTED


def test_a_cancelled_prescription_is_refused_and_nothing_is_written(
    routed, pharmacist, pharmacist_user, physician_user, stock
):
    services.prescription_cancel(
        actor=physician_user, prescription_id=routed.pk, reason="患者病情变化"
    )
    before = fingerprint()

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0])

    assert refused.value.code == "counter.rx_cancelled"
    assert fingerprint() == before
    routed.refresh_from_db()
    assert routed.status == S.CANCELLED


def test_a_prescription_expired_by_the_nightly_job_is_refused_within_its_dates(
    routed, pharmacist, pharmacist_user, stock
):
    # given: the expiry job ran (e.g. a clock ahead); the counter's day is still within valid_until
    services.prescriptions_expire(today=routed.valid_until + timedelta(days=1))
    routed.refresh_from_db()
    assert routed.status == S.EXPIRED
    before = fingerprint()

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0], today=routed.valid_until)

    assert refused.value.code == "counter.rx_expired"
    assert fingerprint() == before


def test_a_pharmacy_whose_designation_is_suspended_may_not_dispense(
    routed, pharmacist, pharmacist_user, stock, bound_pharmacy
):

    Designation.objects.filter(institution=bound_pharmacy, physician=None).update(
        status=DesignationStatus.SUSPENDED
    )
    before = fingerprint()

    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0])

    assert refused.value.code == "counter.pharmacy_not_designated"
    assert fingerprint() == before
    routed.refresh_from_db()
    assert routed.status == S.ROUTED
    check = counter.counter_check(
        actor=pharmacist_user, prescription_id=routed.pk, identity=me(routed), today=TODAY
    )
    assert check.refusals[0].code == "counter.pharmacy_not_designated"


# --- traceability codes at the counter ----------------------------------------------------------

IMPORTED_CODE = "GS1ABC0000000123"  # an imported drug's code: not 20 digits


def test_a_code_that_is_not_20_digits_warns_at_the_check_and_on_the_dispensing(
    routed, pharmacist, pharmacist_user, stock
):
    lines = [line(routed, stock[0], [IMPORTED_CODE])]

    # when: the pharmacist checks the scanned lines before dispensing
    result = counter.counter_check(
        actor=pharmacist_user,
        prescription_id=routed.pk,
        identity=me(routed),
        lines=lines,
        today=TODAY,
    )

    # then: a warning, not a refusal
    assert result.ok
    (warned,) = [c for c in result.checks if c.warning and c.code.startswith("inventory.")]
    assert warned.code == "inventory.trace_code_nonstandard"
    assert IMPORTED_CODE in warned.message and "20位" in warned.message

    # and the dispensing carries it once (plus the code never received), and sells it
    dispensing = dispense(pharmacist_user, routed, stock[0], lines=lines)
    codes_ = [w["code"] for w in dispensing.warnings]
    assert codes_.count("inventory.trace_code_nonstandard") == 1
    assert "inventory.trace_code_unknown" in codes_
    assert TraceCode.objects.get(code=IMPORTED_CODE).status == "sold"


def test_the_check_and_dispense_answers_carry_the_warning_over_http(
    api_client, routed, pharmacist, pharmacist_user, stock, monkeypatch
):
    # the API uses today's date: hold it at the day the prescription is valid
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: TODAY)
    url = f"/api/v1/prescriptions/{routed.pk}/counter"
    identity = {"certificate_type": "02", "certificate_no": routed.patient.id_number}
    body = {"identity": identity, "lines": [line(routed, stock[0], [IMPORTED_CODE])]}
    api_client.as_user(pharmacist_user)

    checked = api_client.post_json(f"{url}/check", body)
    dispensed = api_client.post_json(f"{url}/dispense", body, HTTP_IDEMPOTENCY_KEY="http-1")

    assert checked.status_code == 200, checked.content
    assert checked.json()["ok"] is True
    (warned,) = [
        c for c in checked.json()["checks"] if c["code"] == "inventory.trace_code_nonstandard"
    ]
    assert (warned["ok"], warned["warning"]) == (True, True)
    assert IMPORTED_CODE in warned["message"]
    assert dispensed.status_code == 201, dispensed.content
    assert "inventory.trace_code_nonstandard" in [w["code"] for w in dispensed.json()["warnings"]]


def sell_over_the_counter(actor, pharmacy, stock_item, code):
    """A sale of one package outside the counter flow (e.g. a cash sale)."""

    return sale_record(
        actor=actor,
        pharmacy=pharmacy,
        lines=[SaleLine(stock_item.pk, 1, (code,))],
        reference="cash:1",
        idempotency_key="cash-1",
    )


def test_a_code_already_sold_is_refused_at_the_counter_and_nothing_is_written(
    routed, pharmacist, pharmacist_user, stock, bound_pharmacy
):
    # given: the box's code was sold before
    code = stock_codes(stock[0])[0]
    sell_over_the_counter(pharmacist_user, bound_pharmacy, stock[0], code)
    before = fingerprint()

    # when: it is scanned again for this prescription
    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0], lines=[line(routed, stock[0], [code])])

    # then
    assert refused.value.code == "inventory.trace_code_sold"
    assert fingerprint() == before
    routed.refresh_from_db()
    assert routed.status == S.ROUTED


# --- idempotency keys -------------------------------------------------------------------------


@pytest.fixture
def other_routed(physician_user, pharmacist_user, bound_pharmacy, chronic_drug, insured_person):
    """张三's ordinary prescription of one box, routed to the same pharmacy, with its stock."""
    stock_item = receive_stock(pharmacist_user, chronic_drug, prefix="8555555", key="chronic")[0]
    prescription = ordinary(physician_user, insured_person, chronic_drug)
    services.prescription_route(
        actor=physician_user,
        prescription_id=prescription.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=TODAY,
    )
    prescription.refresh_from_db()
    return prescription, stock_item


def test_a_key_reused_for_another_prescription_is_refused_and_nothing_is_written(
    routed, other_routed, pharmacist, pharmacist_user, stock
):
    # given: the key dispensed 张伟's prescription
    dispense(pharmacist_user, routed, stock[0], key="desk-1")
    other, other_stock = other_routed
    before = fingerprint()

    # when: the same key comes with 张三's prescription
    with pytest.raises(Conflict) as refused:
        dispense(pharmacist_user, other, other_stock, key="desk-1")

    # then
    assert refused.value.code == "counter.idempotency_mismatch"
    assert fingerprint() == before
    other.refresh_from_db()
    assert other.status == S.ROUTED


@pytest.mark.parametrize("met_on", ["stock movements", "dispensing"])
def test_a_key_lost_in_a_race_is_refused_with_the_counters_code(
    routed, other_routed, pharmacist, pharmacist_user, stock, monkeypatch, met_on
):
    # given: the key dispensed 张伟's prescription, but a concurrent request for 张三's read
    # before that commit and saw no dispensing with it: it meets the key only later, on the
    # unique key of the stock movements ("dispense:<key>") or of the dispensing itself
    first = dispense(pharmacist_user, routed, stock[0], key="desk-0")
    Dispensing.objects.filter(pk=first.pk).update(idempotency_key="desk-1")
    if met_on == "stock movements":
        StockMovement.objects.filter(idempotency_key="dispense:desk-0").update(
            idempotency_key="dispense:desk-1"
        )
    other, other_stock = other_routed
    before = fingerprint()
    real, calls = counter._replay, []

    def stale_then_real(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(counter, "_replay", stale_then_real)

    # when
    with pytest.raises(Conflict) as refused:
        dispense(pharmacist_user, other, other_stock, key="desk-1")

    # then: the counter's refusal (not an IntegrityError, not the inventory's code)
    assert refused.value.code == "counter.idempotency_mismatch"
    assert fingerprint() == before
    other.refresh_from_db()
    assert other.status == S.ROUTED


# --- races on PostgreSQL -------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_counters_dispensing_the_same_prescription_exactly_one_succeeds(
    routed, pharmacist, pharmacist_user, stock
):
    codes_ = stock_codes(stock[0]) + stock_codes(stock[1])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def counter_desk(n: int) -> None:
        try:
            barrier.wait()
            dispense(
                pharmacist_user,
                routed,
                stock[n],
                key=f"desk-{n}",
                lines=[line(routed, stock[n], [codes_[n * 3]])],
            )
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=counter_desk, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["counter.rx_used", "ok"]
    assert Dispensing.objects.count() == 1
    assert sum(s.quantity for s in StockItem.objects.all()) == 5
    assert TraceCode.objects.filter(status="sold").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_code_already_sold_is_refused_at_the_counter_and_the_alert_survives(
    routed, pharmacist, pharmacist_user, stock, bound_pharmacy
):
    # given: the box's code was sold before
    code = stock_codes(stock[0])[0]
    sold = sell_over_the_counter(pharmacist_user, bound_pharmacy, stock[0], code)
    before = fingerprint()

    # when: it is scanned again at the counter (the dispensing's transaction rolls back)
    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, routed, stock[0], lines=[line(routed, stock[0], [code])])

    # then: refused, nothing of the dispensing written, the alert committed apart
    assert refused.value.code == "inventory.trace_code_sold"
    assert fingerprint() == before
    routed.refresh_from_db()
    assert routed.status == S.ROUTED
    alert = Alert.objects.get()
    assert (alert.rule, alert.severity, alert.state) == ("trace_code_resold", "high", "open")
    assert alert.institution_id == bound_pharmacy.pk
    assert alert.evidence["trace_code"] == code
    assert alert.evidence["recorded_movement_id"] == sold.movements[0].pk
    assert alert.evidence["attempt_reference"] == f"prescription:{routed.prescription_no}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_key_for_two_prescriptions_at_the_same_moment_one_succeeds_one_is_refused(
    routed, other_routed, pharmacist, pharmacist_user, stock
):
    other, other_stock = other_routed
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def desk(prescription, stock_item) -> None:
        try:
            barrier.wait(timeout=10)
            dispense(pharmacist_user, prescription, stock_item, key="same-key")
            result = "ok"
        except DomainError as exc:
            result = exc.code
        except Exception as exc:  # e.g. an IntegrityError: what the API would answer as 500
            result = type(exc).__name__
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [
        threading.Thread(target=desk, args=(routed, stock[0])),
        threading.Thread(target=desk, args=(other, other_stock)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(outcomes) == ["counter.idempotency_mismatch", "ok"]
    (dispensing,) = Dispensing.objects.all()
    assert dispensing.idempotency_key == "same-key"
    assert StockMovement.objects.filter(kind="sale").count() == 1
    assert TraceCode.objects.filter(status="sold").count() == 1
    statuses = sorted(p.status for p in type(routed).objects.filter(pk__in=[routed.pk, other.pk]))
    assert statuses == sorted([S.DISPENSED, S.ROUTED])


def test_the_pharmacist_at_the_counter_is_read_once_until_an_officer_changes_the_registry(
    routed, pharmacist, pharmacist_user, stock
):
    """``_pharmacist_of`` is cached per worker (``core.refcache``) while the pharmacists and the
    institutions are unchanged: a second check reads no pharmacist; moved to another pharmacy,
    the pharmacist is refused at the next check."""

    def check():
        return counter.counter_check(
            actor=pharmacist_user,
            prescription_id=routed.pk,
            identity=me(routed),
            lines=[line(routed, stock[0])],
            today=TODAY,
        )

    assert check().ok
    with CaptureQueriesContext(connection) as again, refcache.reading():
        assert check().ok
    assert not [q for q in again.captured_queries if "registry_pharmacist" in q["sql"]]
    elsewhere = InstitutionFactory(kind=InstitutionKind.PHARMACY)
    type(pharmacist).objects.filter(pk=pharmacist.pk).update(pharmacy=elsewhere)
    with pytest.raises(DomainError) as refused:
        check()
    assert refused.value.code == "counter.not_pharmacist"
