"""The admin edits a criteria set's items on drafts only, as the services do: a published set is
a version applications were judged on, and processes keep its items in memory."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.catalog.models import CriteriaStatus

from .factories import lung_cancer_set

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "editable"), [(CriteriaStatus.DRAFT, True), (CriteriaStatus.PUBLISHED, False)]
)
def test_items_are_editable_in_the_admin_on_drafts_only(admin_client, status, editable):
    criteria_set = lung_cancer_set(status=status)

    page = admin_client.get(reverse("admin:catalog_criteriaset_change", args=[criteria_set.pk]))

    body = page.content.decode()
    assert page.status_code == 200
    assert ('name="items-0-expression"' in body) is editable
    assert "非小细胞肺癌" in body  # the items are still shown
