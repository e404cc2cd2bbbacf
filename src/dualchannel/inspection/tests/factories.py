"""Decided eligibility applications of a hospital, the population of a spot check."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from dualchannel.catalog.tests.factories import CriteriaSetFactory, DrugFactory
from dualchannel.eligibility.models import Application, ApplicationStatus
from dualchannel.registry.tests.factories import InsuredPersonFactory, PhysicianFactory


def decided_applications(hospital, user, count: int, *, decided: datetime | None = None):
    """``count`` approved applications of ``hospital`` decided at ``decided`` (default now)."""
    drug = DrugFactory()
    criteria_set = CriteriaSetFactory(drug=drug)
    physician = PhysicianFactory(hospital=hospital)
    when = decided or timezone.now()
    return [
        Application.objects.create(
            application_no=f"SQ{hospital.pk:04d}{n:06d}",
            patient=InsuredPersonFactory(),
            drug=drug,
            diagnosis_code="C34.9",
            diagnosis_name="肺恶性肿瘤",
            hospital=hospital,
            physician=physician,
            criteria_set=criteria_set,
            status=ApplicationStatus.APPROVED,
            created_by=user,
            decided_at=when,
        )
        for n in range(count)
    ]
