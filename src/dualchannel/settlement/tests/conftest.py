"""A dispensed special-drug prescription of 张伟 (Wuhan, employee) at the demo pharmacy, and the
shipped benefit rules of the four demo pooling regions."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from dualchannel.catalog.tests.factories import PaymentStandardFactory
from dualchannel.inventory.models import TraceCode
from dualchannel.prescriptions import services
from dualchannel.prescriptions.models import BenefitType
from dualchannel.prescriptions.services import counter
from dualchannel.prescriptions.tests.conftest import *  # noqa: F403  (shared fixtures)
from dualchannel.prescriptions.tests.conftest import receive_stock
from dualchannel.prescriptions.tests.helpers import USAGE, line, me
from dualchannel.prescriptions.tests.today import in_force_today, issue, route
from dualchannel.registry.tests.factories import region
from dualchannel.settlement.rules import benefit_rules_load

DEMO_REGIONS = ("420100", "340100", "370100", "532300")


@pytest.fixture
def benefit_rules(physician):  # physician loads the seed profiles
    for code in DEMO_REGIONS:
        region(code)
    return benefit_rules_load()


@pytest.fixture
def standard(lung_drug):
    """塞瑞替尼胶囊: 22.00 元/粒 → 1,100.00 元 per box of 50 (the pharmacy sells at 1,000.00)."""
    return PaymentStandardFactory(
        drug=lung_drug, specification="150mg*50粒", unit="粒", amount=Decimal("22.00")
    )


def dispense(pharmacist_user, prescription, stock_item, *, packages=1, key="d-1"):
    return counter.counter_dispense(
        actor=pharmacist_user,
        prescription_id=prescription.pk,
        identity=me(prescription),
        lines=[
            {
                **line(prescription, stock_item),
                "packages": packages,
                "trace_codes": _codes(stock_item, packages),
            }
        ],
        idempotency_key=key,
    )


def _codes(stock_item, packages):

    return sorted(
        TraceCode.objects.filter(stock_item=stock_item, status="in_stock").values_list(
            "code", flat=True
        )
    )[:packages]


@pytest.fixture
def dispensed(
    eligibility,
    physician_user,
    patient_user,
    bound_pharmacy,
    stock,
    pharmacist,
    pharmacist_user,
    standard,
    benefit_rules,
):
    """Two boxes (100 粒) dispensed today at 1,000.00 元 each, the eligibility in force."""
    prescription = issue(physician_user, in_force_today(eligibility), quantity="100")
    route(patient_user, prescription, bound_pharmacy)
    return dispense(pharmacist_user, prescription, stock[0], packages=2)


@pytest.fixture
def chronic_dispensed(
    zhang,
    chronic_drug,
    physician,
    physician_user,
    patient_user,
    bound_pharmacy,
    pharmacist,
    pharmacist_user,
    benefit_rules,
):
    """张伟's hypertension drug (门诊慢特病, 乙 class, no payment standard): one box at 1,000.00."""

    batches = receive_stock(pharmacist_user, chronic_drug, prefix="8555555", key="chronic")
    prescription = services.prescription_issue(
        actor=physician_user,
        patient_id_number=zhang.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[
            {"drug_id": chronic_drug.pk, "quantity": "28", "unit": "片", "pack_size": "28"}
            | USAGE
            | {"days": 28}
        ],
    )
    route(patient_user, prescription, bound_pharmacy)
    return dispense(pharmacist_user, prescription, batches[0], packages=1, key="d-chronic")


FEE = Decimal("8.00")  # the pharmacy's delivery fee in ``orderable``


@pytest.fixture
def orderable(
    eligibility,
    physician_user,
    patient_user,
    bound_pharmacy,
    stock,
    pharmacist,
    pharmacist_user,
    standard,
    benefit_rules,
):
    """张伟's lung-cancer drug (one box of 1,000.00 under a standard of 1,100.00) routed to the
    demo pharmacy, which delivers to 江岸区 and 武昌区 for 8.00; his saved address in 武昌区.
    Answers the prescription and the address (an online delivery order is placed by the test)."""
    region("420102"), region("420106")
    services.delivery_settings_save(
        actor=pharmacist_user,
        opens_at=time(0, 0),
        closes_at=time(23, 59),
        delivers=True,
        fee=FEE,
        area_codes=["420102", "420106"],
    )
    prescription = issue(physician_user, in_force_today(eligibility))
    route(patient_user, prescription, bound_pharmacy)
    address = services.address_add(
        actor=patient_user,
        region_code="420106",
        detail="中山路100号",
        recipient_name="张伟",
        recipient_phone="13800000001",
    )
    return prescription, address
