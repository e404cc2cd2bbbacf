"""The pharmacy's pages above the counter [issue 12, points 1 and 4]: the home page as a work
queue, the day's settlements with their totals, the monthly 申报 (prepare, reconcile, apply)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from dualchannel.core.jobs import run_once
from dualchannel.core.models import AuditEvent
from dualchannel.settlement import services
from dualchannel.settlement.models import BatchStatus, SettlementBatch

pytestmark = pytest.mark.django_db
PLATFORM_CODE = "P42010200001"


@pytest.fixture
def settled(dispensed, pharmacist_user, bound_pharmacy):
    bound_pharmacy.platform_code = PLATFORM_CODE
    bound_pharmacy.save(update_fields=["platform_code"])
    settlement = services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    for _ in range(50):  # the upload to the platform (a job)
        if not run_once("w1"):
            break
    return settlement


def test_pharmacists_land_on_the_work_queue(client, pharmacist_user, pharmacist, dispensed):
    client.force_login(pharmacist_user)

    assert client.get("/").headers["Location"] == reverse("pharmacy-home")
    page = client.get(reverse("pharmacy-home"))

    assert page.status_code == 200
    html = page.content.decode()
    for section in ("待调剂处方", "待交付配送", "库存不足", "近效期", "上传医保平台失败"):
        assert section in html
    assert page.context["routed_count"] == 0  # the routed prescription was dispensed


def test_the_day_shows_its_settlements_and_their_totals(client, pharmacist_user, settled):
    client.force_login(pharmacist_user)

    page = client.get(reverse("pharmacy-settlements"))

    assert page.status_code == 200
    totals = dict(page.context["totals"])
    assert totals["医疗费总额"] == settled.total and isinstance(totals["医疗费总额"], Decimal)
    assert totals["个人现金支付"] == settled.personal
    assert settled.settlement_no in page.content.decode()
    assert f"{settled.personal} 元" in page.content.decode()


def test_a_bad_day_falls_back_to_today(client, pharmacist_user, pharmacist):
    client.force_login(pharmacist_user)

    page = client.get(reverse("pharmacy-settlements"), {"day": "2026-13-45"})

    assert page.status_code == 200
    assert page.context["day"] == timezone.localdate()


def test_the_month_is_prepared_reconciled_and_applied_from_the_page(
    client, pharmacist_user, settled
):
    client.force_login(pharmacist_user)
    url = reverse("pharmacy-declaration")
    month = timezone.localdate().strftime("%Y-%m")

    client.post(url, {"month": month, "action": "prepare"})
    batch = SettlementBatch.objects.get()
    assert batch.settlement_count == 1 and batch.total == settled.total
    client.post(url, {"month": month, "action": "reconcile", "batch_id": batch.pk})
    batch.refresh_from_db()
    assert batch.reconciliation_matched is True
    client.post(url, {"month": month, "action": "apply", "batch_id": batch.pk})

    batch.refresh_from_db()
    assert batch.status == BatchStatus.APPLIED
    assert AuditEvent.objects.filter(action="settlement.batch_prepared").count() == 1
    page = client.get(url, {"month": month}).content.decode()
    assert "已申报" in page or batch.get_status_display() in page
    assert 'id="apply"' not in page  # applied: frozen


def test_apply_before_reconciling_is_refused_in_chinese(client, pharmacist_user, settled):
    client.force_login(pharmacist_user)
    url = reverse("pharmacy-declaration")
    month = timezone.localdate().strftime("%Y-%m")
    client.post(url, {"month": month, "action": "prepare"})
    batch = SettlementBatch.objects.get()

    response = client.post(url, {"month": month, "action": "apply", "batch_id": batch.pk})

    assert response.status_code == 409
    assert "请先与医保平台对账再申报" in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DRAFT


def test_a_month_outside_the_list_is_refused(client, pharmacist_user, pharmacist):
    client.force_login(pharmacist_user)

    response = client.post(
        reverse("pharmacy-declaration"), {"month": "2099-01", "action": "prepare"}
    )

    assert response.status_code == 400
    assert "请从列表中选择结算月份" in response.content.decode()
    assert not SettlementBatch.objects.exists()


def test_another_pharmacy_does_not_see_or_declare_ours(client, outsider_pharmacist, settled):
    client.force_login(outsider_pharmacist)
    month = timezone.localdate().strftime("%Y-%m")

    day = client.get(reverse("pharmacy-settlements"))
    assert settled.settlement_no not in day.content.decode()
    client.post(reverse("pharmacy-declaration"), {"month": month, "action": "prepare"})
    assert not SettlementBatch.objects.filter(institution=settled.institution).exists()


@pytest.mark.parametrize("name", ["pharmacy-home", "pharmacy-settlements", "pharmacy-declaration"])
def test_other_roles_are_refused(client, physician_user, agency_user, reviewer_user, name):
    for user in (physician_user, agency_user, reviewer_user):
        client.force_login(user)
        assert client.get(reverse(name)).status_code == 403


def test_a_month_without_settlements_is_not_declared(client, pharmacist_user, pharmacist):
    client.force_login(pharmacist_user)
    month = timezone.localdate().strftime("%Y-%m")

    response = client.post(reverse("pharmacy-declaration"), {"month": month, "action": "prepare"})

    assert "本月没有结算记录，无需申报" in response.content.decode()
    assert not SettlementBatch.objects.exists()
