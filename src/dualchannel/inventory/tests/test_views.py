"""The agency's coverage page: every pharmacy of the region against its profile's minimum."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.inventory.models import StockItem
from dualchannel.registry.tests.factories import load_seed_profiles

pytestmark = pytest.mark.django_db


def test_officer_sees_each_pharmacy_of_the_region_with_its_coverage(
    client, agency_user, pharmacy, other_pharmacy
):
    load_seed_profiles()
    drug = DrugFactory(is_negotiated=True)
    StockItem.objects.create(
        pharmacy=pharmacy,
        drug=drug,
        batch_no="B1",
        expiry_date=date.today() + timedelta(days=100),
        retail_price="10.00",
        quantity=1,
    )
    client.force_login(agency_user)

    body = client.get(reverse("agency-coverage")).content.decode()

    assert pharmacy.name in body
    assert other_pharmacy.name not in body  # another region's
    assert "1 / 1" in body


def test_only_officers_open_it(client, pharmacist_user):
    client.force_login(pharmacist_user)
    assert client.get(reverse("agency-coverage")).status_code == 403
