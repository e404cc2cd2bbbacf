"""The lock-order check (``core.locks``): on in tests, on SQLite as on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import transaction

from dualchannel.core.locks import LockOrderError, lock_ids
from dualchannel.registry.models import Institution, Region


def test_a_lower_level_locked_after_a_higher_one_is_refused(agency):
    with transaction.atomic():
        Institution.objects.select_for_update().get(pk=agency.pk)
        with pytest.raises(LockOrderError, match=r"REGION.*locked after INSTITUTION"):
            Region.objects.select_for_update().get(pk=agency.region_id)


def test_the_order_itself_and_a_row_locked_again_pass(agency):
    with transaction.atomic():
        Region.objects.select_for_update().get(pk=agency.region_id)
        lock_ids(Institution, [agency.pk])
        Region.objects.select_for_update().get(pk=agency.region_id)  # already held: a no-op
        Institution.objects.select_for_update().get(pk=agency.pk)


def test_each_transaction_starts_afresh(agency):
    with transaction.atomic():
        Institution.objects.select_for_update().get(pk=agency.pk)
    with transaction.atomic():
        Region.objects.select_for_update().get(pk=agency.region_id)
