"""The hospital insurance office's page [P §1.2.2]: its own business per month and its open
alerts, nobody else's."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from dualchannel.inspection.tests.factories import decided_applications
from dualchannel.monitoring.services import alert_raise
from dualchannel.settlement import office

pytestmark = pytest.mark.django_db


def test_the_office_sees_its_own_months_and_open_alerts(
    client, hospital, other_hospital, reviewer_user
):
    decided_applications(hospital, reviewer_user, 3)
    decided_applications(other_hospital, reviewer_user, 5)
    alert_raise(
        rule="reevaluation_overdue",
        severity="warning",
        institution=hospital,
        subject=("eligibility.Eligibility", "1"),
        evidence={},
    )
    alert_raise(
        rule="reevaluation_overdue",
        severity="high",
        institution=other_hospital,
        subject=("eligibility.Eligibility", "2"),
        evidence={},
    )
    client.force_login(reviewer_user)

    response = client.get(reverse("hospital-insurance-office"))

    months = response.context["months"]
    this_month = timezone.localdate().replace(day=1)
    row = next(r for r, _ in months if r.month == this_month)
    assert (row.applications, row.approved, row.rejected) == (3, 3, 0)
    assert row.total == Decimal("0.00")
    assert [a.institution_id for a in response.context["alerts"]] == [hospital.pk]
    assert "警告" in response.content.decode()


def test_other_roles_are_refused(client, agency_user, physician_user):
    for user in (agency_user, physician_user):
        client.force_login(user)
        assert client.get(reverse("hospital-insurance-office")).status_code == 403


def test_the_office_hospital_is_the_reviewers_own(reviewer_user, hospital):
    assert office.office_hospital(reviewer_user) == hospital
