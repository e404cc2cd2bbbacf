"""``lock_patient_of``: the settle's first lock, the patient of a prescription routed to the
settling pharmacy, named by a subquery in one statement compiled once per process."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from dualchannel.settlement.services.common import lock_patient_of

pytestmark = pytest.mark.django_db


def test_the_patient_of_a_prescription_routed_to_the_pharmacy_only(dispensed):
    prescription = dispensed.prescription
    other_pharmacy = prescription.pharmacy_id + 1000

    with transaction.atomic(), CaptureQueriesContext(connection) as sent:
        mine = lock_patient_of(prescription.pk, prescription.pharmacy_id)
        anywhere = lock_patient_of(prescription.pk, None)  # a superuser names any pharmacy
        elsewhere = lock_patient_of(prescription.pk, other_pharmacy)
        no_pharmacy = lock_patient_of(prescription.pk, 0)  # a pharmacist without a pharmacy
        no_prescription = lock_patient_of(prescription.pk + 1000, prescription.pharmacy_id)

    assert mine == anywhere == prescription.patient
    assert elsewhere is None and no_pharmacy is None and no_prescription is None
    assert len(sent) == 5  # one statement each
    if connection.vendor == "postgresql":
        assert all("FOR NO KEY UPDATE" in query["sql"] for query in sent)
