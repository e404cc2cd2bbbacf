"""Inpatients [AH §2(5), CX art. 19]: the hospital's inpatient bill is settled against the stay;
under Anhui the stay's deductible is counted once across the hospital and the pharmacy, whichever
comes first; under Chuxiong the pharmacy's purchase is billed to the stay and settled with it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.registry import services as registry_services
from dualchannel.registry.models import Institution, InsuredPerson
from dualchannel.registry.tests.factories import InstitutionFactory, InsuredPersonFactory, region
from dualchannel.settlement import services
from dualchannel.settlement.models import (
    Accumulator,
    Settlement,
    SettlementStatus,
    StayCharge,
    StayChargeStatus,
    UploadStatus,
)

pytestmark = pytest.mark.django_db
D = Decimal
BILL = [
    {"name": "床位费", "amount": "600.00", "category": "甲"},
    {"name": "检查费", "amount": "1400.00", "category": "甲"},
    {"name": "自费耗材", "amount": "100.00", "category": "自费"},
]


def move_to(dispensed, code: str) -> None:
    """The pharmacy, the prescribing hospital and the person into one pooling area."""
    area = region(code)
    Institution.objects.filter(
        pk__in=[dispensed.pharmacy_id, dispensed.prescription.hospital_id]
    ).update(region=area)
    InsuredPerson.objects.filter(pk=dispensed.prescription.patient_id).update(enrolment_region=area)


def register(reviewer_user, dispensed, number="ZY2026-0100"):
    return registry_services.stay_register(
        actor=reviewer_user,
        id_number=dispensed.prescription.patient.id_number,
        admission_no=number,
        admitted_on=date(2026, 1, 5),
        diagnosis_code="C34.900",
        diagnosis_name="肺恶性肿瘤",
    )


def bill(reviewer_user, stay, key="b-1", lines=BILL):
    return services.stay_bill_settle(
        actor=reviewer_user, stay_id=stay.pk, lines=lines, idempotency_key=key
    )


def at_counter(pharmacist_user, dispensed, number="ZY2026-0100", key="s-1"):
    return services.settlement_settle(
        actor=pharmacist_user,
        prescription_id=dispensed.prescription_id,
        idempotency_key=key,
        inpatient_admission_no=number,
    )


def test_ah_deductible_once_hospital_first_then_pharmacy(dispensed, pharmacist_user, reviewer_user):
    """AH §2(5): hospital and pharmacy are paid separately, the deductible is counted once per
    stay — the hospital's bill first pays it, the pharmacy's purchase then finds it met."""
    move_to(dispensed, "340102")  # Hefei: deductible_once_per_stay
    stay = register(reviewer_user, dispensed)

    hospital = bill(reviewer_user, stay)
    pharmacy = at_counter(pharmacist_user, dispensed)

    assert hospital.category == pharmacy.category == "inpatient"
    assert hospital.stay_id == pharmacy.stay_id == stay.pk
    assert hospital.scopes["deductible"] == pharmacy.scopes["deductible"]
    assert hospital.scopes["deductible"] == f"stay:{stay.hospital_id}:ZY2026-0100"
    assert (hospital.deductible, pharmacy.deductible) == (D("800.00"), D("0.00"))
    # the hospital's 2,000.00 of 甲 items: 800.00 deductible, 85 % of 1,200.00 from the fund
    assert hospital.total == D("2100.00") and hospital.full_self_pay == D("100.00")
    assert hospital.fund == D("1020.00")
    assert hospital.upload_status == UploadStatus.NOT_CONNECTED
    assert hospital.lines.get(position=3).self_pay_reason == "outside_catalogue"
    assert Accumulator.objects.get(
        person=stay.person, kind="deductible", scope=hospital.scopes["deductible"]
    ).amount == D("800.00")


def test_ah_deductible_once_pharmacy_first_then_hospital(dispensed, pharmacist_user, reviewer_user):
    """AH §2(5): the pharmacy's purchase first pays the stay's deductible, the hospital's bill
    then finds it met."""
    move_to(dispensed, "340102")
    stay = register(reviewer_user, dispensed)

    pharmacy = at_counter(pharmacist_user, dispensed)
    hospital = bill(reviewer_user, stay)

    assert (pharmacy.deductible, hospital.deductible) == (D("800.00"), D("0.00"))
    assert pharmacy.stay_id == stay.pk
    # the whole 2,000.00 of 甲 items above the deductible: 85 % from the fund
    assert hospital.fund == D("1700.00")


def test_ah_a_registered_stay_of_another_person_is_refused(
    dispensed, pharmacist_user, reviewer_user, zhang
):
    """AH §2(5): the stay named at the counter must be the patient's own."""
    move_to(dispensed, "340102")
    other = InsuredPersonFactory(region_code="340102")
    registry_services.stay_register(
        actor=reviewer_user,
        id_number=other.id_number,
        admission_no="ZY-OTHER",
        admitted_on=date(2026, 1, 5),
        diagnosis_code="C34.900",
        diagnosis_name="肺恶性肿瘤",
    )
    count = Settlement.objects.count()
    with pytest.raises(DomainError) as refused:
        at_counter(pharmacist_user, dispensed, number="ZY-OTHER")
    assert refused.value.code == "settlement.stay_other_person"
    assert Settlement.objects.count() == count


def test_cx_external_drugs_are_billed_to_the_stay_not_settled_at_the_counter(
    dispensed, pharmacist_user, reviewer_user
):
    """CX art. 19: a purchase during a stay is settled in the inpatient bill: the counter records
    the sale and bills it to the stay; the hospital settles it with the stay's bill."""
    move_to(dispensed, "532301")  # Chuxiong: inpatient_external_drugs_in_stay
    stay = register(reviewer_user, dispensed)

    with pytest.raises(Conflict) as refused:
        at_counter(pharmacist_user, dispensed)
    assert refused.value.code == "settlement.billed_in_stay"
    assert not Settlement.objects.exists()

    charge = services.stay_charge_record(
        actor=pharmacist_user,
        prescription_id=dispensed.prescription_id,
        inpatient_admission_no="ZY2026-0100",
        idempotency_key="c-1",
    )
    again = services.stay_charge_record(
        actor=pharmacist_user,
        prescription_id=dispensed.prescription_id,
        inpatient_admission_no="ZY2026-0100",
        idempotency_key="c-1",
    )
    assert again.pk == charge.pk  # replayed, not billed twice
    assert charge.status == StayChargeStatus.BILLED and charge.total == D("2000.00")
    assert not Settlement.objects.exists()  # nothing settled at the counter
    with pytest.raises(Conflict):  # and the counter cannot settle it afterwards
        services.settlement_settle(
            actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="x"
        )

    settled = bill(reviewer_user, stay)

    charge.refresh_from_db()
    assert charge.status == StayChargeStatus.SETTLED and charge.settlement_id == settled.pk
    assert settled.total == D("4100.00")  # the hospital's 2,100.00 and the pharmacy's 2,000.00
    assert settled.lines.count() == 4
    assert settled.deductible == D("800.00")
    assert settled.institution_id == stay.hospital_id
    assert AuditEvent.objects.filter(action="settlement.stay_charge_settled").exists()


def test_cx_a_reversed_stay_settlement_puts_the_purchase_back_on_the_bill(
    dispensed, pharmacist_user, reviewer_user
):
    """CX art. 19: reversing the stay's settlement gives the purchase back to the stay's bill
    and the deductible back to the stay."""
    move_to(dispensed, "532301")
    stay = register(reviewer_user, dispensed)
    services.stay_charge_record(
        actor=pharmacist_user,
        prescription_id=dispensed.prescription_id,
        inpatient_admission_no="ZY2026-0100",
        idempotency_key="c-1",
    )
    settled = bill(reviewer_user, stay)

    services.settlement_reverse(
        actor=reviewer_user, settlement_id=settled.pk, reason="账单有误", idempotency_key="r-1"
    )

    charge = StayCharge.objects.get()
    assert charge.status == StayChargeStatus.BILLED and charge.settlement_id is None
    settled.refresh_from_db()
    assert settled.status == SettlementStatus.REVERSED
    assert Accumulator.objects.get(
        person=stay.person, kind="deductible", scope=settled.scopes["deductible"]
    ).amount == D("0.00")
    assert bill(reviewer_user, stay, key="b-2").total == D("4100.00")


def test_outside_cx_the_purchase_is_not_billed_to_the_stay(
    dispensed, pharmacist_user, reviewer_user
):
    """AH §2(5): under Anhui hospital and pharmacy are paid separately: no stay charge."""
    move_to(dispensed, "340102")
    register(reviewer_user, dispensed)
    with pytest.raises(DomainError) as refused:
        services.stay_charge_record(
            actor=pharmacist_user,
            prescription_id=dispensed.prescription_id,
            inpatient_admission_no="ZY2026-0100",
            idempotency_key="c-1",
        )
    assert refused.value.code == "settlement.not_billed_in_stay"
    assert not StayCharge.objects.exists()


def test_cx_an_unregistered_stay_is_refused(dispensed, pharmacist_user, reviewer_user):
    """CX art. 19: the purchase is billed only to a stay the hospital registered."""
    move_to(dispensed, "532301")
    with pytest.raises(NotFound) as refused:
        services.stay_charge_record(
            actor=pharmacist_user,
            prescription_id=dispensed.prescription_id,
            inpatient_admission_no="ZY-NONE",
            idempotency_key="c-1",
        )
    assert refused.value.code == "settlement.stay_not_found"


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([{"name": "", "amount": "1.00", "category": "甲"}], "lines.0.name"),
        ([{"name": "床位费", "amount": "-1", "category": "甲"}], "lines.0.amount"),
        ([{"name": "床位费", "amount": 1.5, "category": "甲"}], "lines.0.amount"),
        ([{"name": "床位费", "amount": "1.00", "category": "丙"}], "lines.0.category"),
    ],
)
def test_a_bad_stay_bill_is_refused_and_nothing_written(dispensed, reviewer_user, lines, field):
    """AH §2(5): a bill with a bad line is refused with a code and a Chinese message."""
    move_to(dispensed, "340102")
    stay = register(reviewer_user, dispensed)
    with pytest.raises(DomainError) as refused:
        bill(reviewer_user, stay, lines=lines)
    assert refused.value.code == "settlement.stay_bill_invalid"
    assert field in refused.value.fields
    assert not Settlement.objects.exists()


def test_another_hospitals_reviewer_does_not_see_the_stay(dispensed, reviewer_user):
    """AH §2(5): the stay's bill is the stay hospital's insurance office's."""
    move_to(dispensed, "340102")
    stay = register(reviewer_user, dispensed)
    other = UserFactory(
        username="other-reviewer",
        institution=InstitutionFactory(kind="hospital", region_code="340102"),
        roles=[Role.REVIEWER],
    )
    with pytest.raises(NotFound):
        bill(other, stay)


def test_cx_pages_bill_the_purchase_to_the_stay_and_settle_the_stay(
    client, dispensed, pharmacist_user, reviewer_user
):
    """CX art. 19: at the counter page the pharmacist bills the purchase to the stay; at the
    stay bill page the hospital's insurance office settles the bill with it."""
    move_to(dispensed, "532301")
    stay = register(reviewer_user, dispensed)
    client.force_login(pharmacist_user)
    settle = reverse("settlement-counter-settle", args=[dispensed.prescription_id])
    client.post(
        settle,
        {"idempotency_key": "k-1", "inpatient_admission_no": "ZY2026-0100", "bill_to_stay": "1"},
    )
    page = client.get(reverse("prescriptions-counter-result", args=[dispensed.prescription_id]))
    assert 'id="stay-charge"' in page.content.decode()

    client.force_login(reviewer_user)
    url = reverse("settlement-hospital-stay-bill", args=[stay.pk])
    assert "计入住院费用的院外购药" in client.get(url).content.decode()
    response = client.post(
        url, {"lines": "床位费，600.00，甲\n\n检查费,1400.00,甲", "idempotency_key": "p-1"}
    )
    assert response.status_code == 302
    settled = Settlement.objects.get(stay=stay)
    assert settled.total == D("4000.00") and settled.lines.count() == 3
    assert StayCharge.objects.get().status == StayChargeStatus.SETTLED
    stays_page = client.get(reverse("registry-hospital-stays")).content.decode()
    assert "ZY2026-0100" in stays_page


def test_the_stay_bill_is_read_from_the_hospitals_his(
    client, settings, dispensed, pharmacist_user, reviewer_user
):
    """AH §2(5): the hospital's own inpatient bill comes from its HIS (or is entered at the
    desk); the demo HIS itemises the stay, the office checks it and settles it."""
    move_to(dispensed, "340102")
    stay = register(reviewer_user, dispensed)
    settings.HIS_ADAPTER = "demo"
    settings.HIS_HOSPITALS = [stay.hospital.credit_code]
    client.force_login(reviewer_user)
    url = reverse("settlement-hospital-stay-bill", args=[stay.pk])

    page = client.get(url, {"from_his": "1"}).content.decode()

    assert ">床位费,600.00,甲\n检查化验费,1400.00,甲\n自费耗材,100.00,自费</textarea>" in page
    settings.HIS_HOSPITALS = []  # a hospital not connected: entered at the desk by hand
    assert "></textarea>" in client.get(url, {"from_his": "1"}).content.decode()
