"""The counter's settlement queues the monitoring rules that follow purchases once it commits
[HB art. 47]: the settle itself stays cheap (one job row), the job raises what it finds."""

from __future__ import annotations

import pytest
from django.utils import timezone

from dualchannel.core.errors import DomainError
from dualchannel.core.jobs import run_once
from dualchannel.core.models import Job
from dualchannel.monitoring.engine import FOLLOW_WINDOW, INCREMENTAL_JOB
from dualchannel.monitoring.models import Alert
from dualchannel.registry.models import BenefitStatus, InsuredPerson
from dualchannel.settlement import services
from dualchannel.settlement.surveillance import SETTLEMENT_RULES

pytestmark = pytest.mark.django_db


def test_a_settlement_queues_the_follow_up_after_commit_and_the_job_raises_the_alert(
    dispensed, pharmacist_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        settlement = services.settlement_settle(
            actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
        )

    job = Job.objects.get(kind=INCREMENTAL_JOB)
    assert job.payload["keys"] == sorted(SETTLEMENT_RULES)
    assert job.payload["region"] == settlement.institution.region_id[:4] + "00"
    assert job.payload["day"] == settlement.settled_on.isoformat()
    assert not Alert.objects.exists()  # nothing computed on the counter's path

    # the registry learns the person's benefits were suspended; the follow-up finds it
    InsuredPerson.objects.filter(pk=settlement.person_id).update(
        benefit_status=BenefitStatus.SUSPENDED
    )
    while run_once("test-worker", now=timezone.now() + FOLLOW_WINDOW):
        pass

    alert = Alert.objects.get(rule="benefit_status_purchase")
    assert alert.evidence["settlement_ids"] == [settlement.pk]
    assert alert.institution_id == settlement.institution_id


def test_a_refused_settlement_queues_nothing(
    dispensed, pharmacist_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.settlement_settle(
            actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
        )
        with pytest.raises(DomainError):  # already settled: refused
            services.settlement_settle(
                actor=pharmacist_user,
                prescription_id=dispensed.prescription_id,
                idempotency_key="s-2",
            )

    assert Job.objects.filter(kind=INCREMENTAL_JOB).count() == 1
