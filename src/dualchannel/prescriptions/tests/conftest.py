"""A granted eligibility for 张伟 (ALK+ lung cancer, three-fixed to the demo pharmacy), a
pharmacist at that pharmacy, and stock with traceability codes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.eligibility import services as eligibility_services
from dualchannel.eligibility.tests.factories import (
    PLAN,
    designated_physician,
    drug_with_criteria,
    zhang_wei,
)
from dualchannel.integration.models import FilingStatus
from dualchannel.inventory.services import stock_receive
from dualchannel.prescriptions import services
from dualchannel.registry.tests.factories import (
    PharmacistFactory,
    designate,
    load_seed_profiles,
    region,
)
from dualchannel.settlement.rules import benefit_rules_load

from .helpers import TODAY, special

APPROVED_ON = date(2026, 3, 4)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path, demo_his):
    settings.MEDIA_ROOT = tmp_path / "private"
    settings.PUBLIC_BASE_URL = "https://dc.example.cn"
    return settings.MEDIA_ROOT


@pytest.fixture
def physician(physician_user):
    load_seed_profiles()
    return designated_physician(physician_user)


@pytest.fixture
def settlement_rules(physician):
    """The shipped benefit rules of Wuhan (physician loads the seed profiles): an online delivery
    order is pre-settled when it is placed, its personal part paid on the phone."""
    region("420100")
    return benefit_rules_load()


@pytest.fixture
def bound_pharmacy(pharmacy):
    designate(pharmacy)
    pharmacy.traceability_enabled = True
    pharmacy.save(update_fields=["traceability_enabled"])
    return pharmacy


@pytest.fixture
def pharmacist(bound_pharmacy, pharmacist_user):
    return PharmacistFactory(user=pharmacist_user, pharmacy=bound_pharmacy, name="王药师")


@pytest.fixture
def lung_drug(db):
    drug, _ = drug_with_criteria(generic_name="塞瑞替尼胶囊")
    return drug


@pytest.fixture
def zhang(db):
    return zhang_wei()


@pytest.fixture
def eligibility(physician, bound_pharmacy, lung_drug, zhang, physician_user, reviewer_user):
    """Approved on 2026-03-04 (filing not sent: the hospital has no platform code here)."""
    granted = grant_eligibility(physician_user, reviewer_user, zhang, lung_drug, bound_pharmacy)
    assert granted.filing_id is None or granted.filing.status != FilingStatus.ACCEPTED
    return granted


def grant_eligibility(physician_user, reviewer_user, patient, drug, pharmacy):
    """An eligibility applied for on 2026-03-02 and approved on APPROVED_ON, three-fixed to
    ``pharmacy`` (also used to build the access matrix's world)."""
    application = eligibility_services.application_create(
        actor=physician_user,
        patient_id_number=patient.id_number,
        drug_id=drug.pk,
        diagnosis_code="C34.100x004",
        diagnosis_name="右肺上叶恶性肿瘤",
        pharmacy_id=pharmacy.pk,
    )
    eligibility_services.application_answer(
        actor=physician_user, application_id=application.pk, answers={"advanced": True}
    )
    eligibility_services.application_set_plan(
        actor=physician_user, application_id=application.pk, **PLAN
    )
    eligibility_services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    return eligibility_services.application_approve(
        actor=reviewer_user, application_id=application.pk, today=APPROVED_ON
    )


def trace_codes(prefix: str, count: int, start: int = 1) -> list[str]:
    """20-digit codes: a 7-digit product prefix, then a serial."""
    return [f"{prefix}{n:013d}" for n in range(start, start + count)]


@pytest.fixture
def stock(pharmacist, pharmacist_user, lung_drug):
    """Two batches: the earlier expiry first (FEFO), 3 boxes each, priced under the standard."""
    return receive_stock(pharmacist_user, lung_drug)


@pytest.fixture
def routed(eligibility, physician_user, patient_user, bound_pharmacy, stock):
    prescription = special(physician_user, eligibility)
    patient_user.insured_person = eligibility.patient
    patient_user.save(update_fields=["insured_person"])
    return services.prescription_route(
        actor=patient_user,
        prescription_id=prescription.pk,
        pharmacy_id=bound_pharmacy.pk,
        consent=True,
        today=TODAY,
    )


def receive_stock(actor, drug, *, prefix="8123456", key="receive"):
    """Batches B2401 (expires 2027-06-30) and B2402 (2027-12-31), 3 boxes of ``drug`` each."""

    items = []
    for n, (batch, expiry) in enumerate((("B2401", "2027-06-30"), ("B2402", "2027-12-31"))):
        result = stock_receive(
            actor=actor,
            drug_id=drug.pk,
            batch_no=batch,
            expiry_date=expiry,
            quantity=3,
            trace_codes=trace_codes(prefix, 3, start=n * 10 + 1),
            retail_price=Decimal("1000.00"),
            specification="150mg*50粒",
            idempotency_key=f"{key}-{batch}",
        )
        items.append(result.movement.stock_item)
    return items


@pytest.fixture
def chronic_drug(db):
    """An ordinary (not separately paid) chronic-disease drug, 28 tablets a box."""

    return DrugFactory(generic_name="测试慢病片", is_separately_paid=False)


@pytest.fixture
def connected(hospital, bound_pharmacy, eligibility):
    """Both connected to the centre; today's prescriptions (the simulator keeps real time)."""
    hospital.platform_code = "H42010200001"
    hospital.save(update_fields=["platform_code"])
    bound_pharmacy.platform_code = "P42010200001"
    bound_pharmacy.save(update_fields=["platform_code"])
    eligibility.next_reevaluation_due = timezone.localdate() + timedelta(days=60)
    eligibility.save(update_fields=["next_reevaluation_due"])
