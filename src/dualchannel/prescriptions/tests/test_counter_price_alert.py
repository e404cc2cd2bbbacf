"""A price above the payment standard attempted at the counter is refused and leaves a
monitoring alert [CX art. 26, HB art. 30, 47]: the dispensing rolls back, the alert stays;
a region that switched the rule off gets none."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dualchannel.catalog.tests.factories import PaymentStandardFactory
from dualchannel.core import after_rollback
from dualchannel.core.errors import DomainError
from dualchannel.inventory.models import StockItem
from dualchannel.monitoring.models import Alert
from dualchannel.monitoring.services import rule_update
from dualchannel.prescriptions.models import Dispensing

from .helpers import dispense

pytestmark = pytest.mark.django_db


@pytest.fixture
def overpriced(routed, pharmacist, stock, lung_drug):
    """20.00 元/粒 × 50 粒 = 1000.00 元 per box; the batch sells at 1000.01."""
    PaymentStandardFactory(
        drug=lung_drug, unit="粒", amount=Decimal("20.00"), specification="150mg*50粒"
    )
    StockItem.objects.filter(pk=stock[0].pk).update(retail_price=Decimal("1000.01"))
    return routed


def test_the_refused_attempt_leaves_an_alert(overpriced, pharmacist, pharmacist_user, stock):
    with pytest.raises(DomainError) as refused:
        dispense(pharmacist_user, overpriced, stock[0])
    after_rollback.run_pending()

    assert refused.value.code == "counter.price_above_standard"
    assert not Dispensing.objects.exists()
    alert = Alert.objects.get(rule="price_over_standard")
    assert (alert.subject_type, alert.subject_id) == (
        "prescriptions.Prescription",
        str(overpriced.pk),
    )
    assert alert.institution_id == pharmacist.pharmacy_id
    assert alert.evidence == {"prescription_ids": [overpriced.pk], "attempted_lines": 1}
    assert alert.severity == "warning"  # the national rule's


def test_no_alert_where_the_region_switched_the_rule_off(
    overpriced, pharmacist_user, stock, agency_user
):
    rule_update(
        actor=agency_user,
        key="price_over_standard",
        region_code="420100",
        params={},
        enabled=False,
    )

    with pytest.raises(DomainError):
        dispense(pharmacist_user, overpriced, stock[0])
    after_rollback.run_pending()

    assert not Alert.objects.filter(rule="price_over_standard").exists()
