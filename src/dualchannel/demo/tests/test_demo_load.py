"""The demo world that ``make demo`` serves: loaded from the real catalogue, every background
job it leaves behind (uploads to the platform and the prescription centre, notices, checkpoints)
succeeds, so the first pages a visitor opens show no failed or dead uploads."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from dualchannel.analytics.models import MonthlySubmission, SubmissionStatus
from dualchannel.analytics.sd_monthly import build_table
from dualchannel.complaints.models import Complaint
from dualchannel.core import jobs
from dualchannel.core.models import Job, JobStatus, User
from dualchannel.core.months import previous_month
from dualchannel.inspection.models import SpotCheck
from dualchannel.inventory.models import (
    StockMovement,
    TraceCode,
    TraceCodeStatus,
    UploadStatus,
)
from dualchannel.registry.models import Region
from dualchannel.settlement.models import Settlement

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_load_leaves_no_failed_job_nor_upload(settings, tmp_path):
    settings.DEMO_MODE = True
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"

    printed = io.StringIO()
    call_command("demo_load", stdout=printed)
    for _ in range(20):
        if not jobs.run_once("demo-test", limit=100):
            break

    failed = Job.objects.filter(status__in=[JobStatus.DEAD, JobStatus.RETRY])
    assert not failed.exists(), list(failed.values_list("kind", "last_error"))
    movements = StockMovement.objects.all()
    assert movements.exists()
    assert set(movements.values_list("upload_status", flat=True)) == {UploadStatus.UPLOADED}, list(
        movements.exclude(upload_status=UploadStatus.UPLOADED).values_list("upload_error")
    )
    assert all(m.stock_item.drug.national_code for m in movements)
    # the demo hospital's inpatient bill is settled against its stay through the hospital's own
    # HIS connection, never uploaded from here [AH §2(5), CX art. 19]
    stay_bills = Settlement.objects.filter(stay__isnull=False)
    assert list(stay_bills.values_list("upload_status", "stay__admission_no")) == [
        ("not_connected", "ZY2026000101")
    ]
    assert (
        not Settlement.objects.exclude(upload_status="accepted").exclude(pk__in=stay_bills).exists()
    )

    # every login the demo made is printed (patient_yang, who uploaded a material, too)
    logins = printed.getvalue().split("演示账号", 1)[1].split("登录页", 1)[0]
    printed_names = {line.split()[0] for line in logins.splitlines()[1:] if line.strip()}
    assert "patient_yang" in printed_names
    assert set(User.objects.values_list("username", flat=True)) <= printed_names

    # the counter walkthrough's boxes are printed, and they are in stock at the routed pharmacy
    walkthrough = printed.getvalue().split("柜台演示：", 1)[1]
    codes = [line.split()[-1] for line in walkthrough.splitlines()[1:] if line.strip()]
    assert codes
    assert set(TraceCode.objects.filter(code__in=codes).values_list("status", flat=True)) == {
        TraceCodeStatus.IN_STOCK
    }

    # the agency's supervision: 济南市's table for last month (a pharmacy connected to the
    # e-prescription platform only this month is not counted for it), 历下区's progress entered
    # and the table not yet submitted; a complaint in Wuhan's queue; a spot check drawn
    table = build_table(Region.objects.get(code="370100"), previous_month(timezone.localdate()))
    filled = {
        r.name: (r.pharmacies, r.realtime, r.e_prescription) for r in table.rows if r.pharmacies
    }
    assert filled == {"历下区": (2, 2, 1), "平阴县": (1, 1, 1)}
    assert "即时联网结算" in next(r.progress for r in table.rows if r.name == "历下区")
    assert not MonthlySubmission.objects.filter(status=SubmissionStatus.SUBMITTED).exists()
    assert Complaint.objects.filter(region_id="420106", status="received").count() == 1
    assert SpotCheck.objects.filter(hospital__name="武汉演示协和医院").count() == 1
