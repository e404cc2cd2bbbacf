"""Dispensings and reversals with the goods returned, on the same eligibility and the same batch,
from several threads at once on PostgreSQL: both follow ``core.locks``' order, so none of them
dies of a deadlock, and the batch and the plan come out exact."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from dualchannel.eligibility.models import Eligibility
from dualchannel.inventory.models import StockItem
from dualchannel.inventory.services import stock_receive
from dualchannel.prescriptions.models import PrescriptionItem
from dualchannel.prescriptions.services import counter
from dualchannel.prescriptions.tests.conftest import trace_codes
from dualchannel.prescriptions.tests.helpers import me
from dualchannel.prescriptions.tests.today import in_force_today, issue, route
from dualchannel.settlement import services

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS, ROUNDS = 2, 3  # per kind: dispensers and reversers
BOX = Decimal(50)  # 粒 per box; each prescription is one box


def _dispense(pharmacist_user, prescription, batch, code, key):
    item = prescription.items.get()
    return counter.counter_dispense(
        actor=pharmacist_user,
        prescription_id=prescription.pk,
        identity=me(prescription),
        lines=[
            {"item_id": item.pk, "stock_item_id": batch.pk, "packages": 1, "trace_codes": [code]}
        ],
        idempotency_key=key,
    )


def test_dispensings_and_reversals_on_one_eligibility_and_batch_never_deadlock(
    eligibility,
    physician_user,
    patient_user,
    bound_pharmacy,
    pharmacist,
    pharmacist_user,
    lung_drug,
    standard,
    benefit_rules,
):
    # given one batch of 30 boxes, a plan large enough, and refills allowed at once
    in_force_today(eligibility)
    Eligibility.objects.filter(pk=eligibility.pk).update(plan_total_quantity=Decimal(5000))
    codes = trace_codes("8123456", 30)
    batch = stock_receive(
        actor=pharmacist_user,
        drug_id=lung_drug.pk,
        batch_no="B2501",
        expiry_date="2027-12-31",
        quantity=30,
        trace_codes=codes,
        retail_price=Decimal("1000.00"),
        specification="150mg*50粒",
        idempotency_key="receive-race",
    ).movement.stock_item
    reversals, fresh = THREADS * ROUNDS, THREADS * ROUNDS
    prescriptions = [issue(physician_user, eligibility) for _ in range(reversals + fresh)]
    for prescription in prescriptions:
        route(patient_user, prescription, bound_pharmacy)
    PrescriptionItem.objects.filter(prescription__in=prescriptions).update(days=0)
    # ... and half of them dispensed and settled, to be reversed with the goods returned
    settled = []
    for n, prescription in enumerate(prescriptions[:reversals]):
        _dispense(pharmacist_user, prescription, batch, codes[n], f"pre-{n}")
        settled.append(
            services.settlement_settle(
                actor=pharmacist_user, prescription_id=prescription.pk, idempotency_key=f"s-{n}"
            )
        )
    left = codes[reversals:]

    # when dispensers and reversers loop at the same time
    def dispenser(t):
        for r in range(ROUNDS):
            n = t * ROUNDS + r
            _dispense(pharmacist_user, prescriptions[reversals + n], batch, left[n], f"race-{n}")

    def reverser(t):
        for r in range(ROUNDS):
            services.settlement_reverse(
                actor=pharmacist_user,
                settlement_id=settled[t * ROUNDS + r].pk,
                reason="退药",
                idempotency_key=f"r-{t}-{r}",
            )

    failures: list[str] = []
    barrier = threading.Barrier(2 * THREADS)

    def run(job, t):
        try:
            barrier.wait()
            job(t)
        except Exception as exc:  # a deadlock surfaces as psycopg's DeadlockDetected
            failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(job, t))
        for t in range(THREADS)
        for job in (dispenser, reverser)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then nothing failed, and the batch and the plan hold exactly what the dispensings left
    assert failures == []
    batch.refresh_from_db()
    eligibility.refresh_from_db()
    assert batch.quantity == 30 - fresh  # the reversed boxes came back, the new ones went
    assert eligibility.plan_used_quantity == fresh * BOX
    assert StockItem.objects.get(pk=batch.pk).quantity >= 0
