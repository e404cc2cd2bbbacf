"""Inspection [SD §9, HB art. 48]: officers read an institution's 进销存 in their region, and
draw reproducible spot checks of eligibility cases with a checklist and a report."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import AuditEvent
from dualchannel.inspection import services
from dualchannel.inspection.models import SpotCheck, SpotCheckStatus, SpotCheckTransition
from dualchannel.inventory.tests.factories import StockItemFactory

from .factories import decided_applications

pytestmark = pytest.mark.django_db


def period():
    today = timezone.localdate()
    return today - timedelta(days=30), today


def draw(actor, hospital, size=3, seed="fixed-seed"):
    start, end = period()
    return services.spot_check_draw(
        actor=actor,
        hospital_id=hospital.pk,
        period_from=start,
        period_to=end,
        sample_size=size,
        seed=seed,
    )


def test_the_draw_is_reproducible_recorded_and_audited(hospital, agency_user):
    decided_applications(hospital, agency_user, 12)

    first = draw(agency_user, hospital)
    second = draw(agency_user, hospital)

    sample = list(first.cases.values_list("application_id", flat=True))
    assert len(sample) == 3 and first.population == 12
    assert sample == list(second.cases.values_list("application_id", flat=True))
    event = AuditEvent.objects.filter(action="inspection.spot_check_drawn").first()
    assert event.summary["seed"] == "fixed-seed" and event.summary["sample"] == sample
    population = services.spot_check_population(hospital.pk, *period())
    assert services.draw_sample(population, 3, "fixed-seed") == sample


def test_another_seed_draws_another_sample(hospital, agency_user):
    decided_applications(hospital, agency_user, 30)

    a = draw(agency_user, hospital, seed="a")
    b = draw(agency_user, hospital, seed="b")

    assert set(a.cases.values_list("application_id", flat=True)) != set(
        b.cases.values_list("application_id", flat=True)
    )


def test_a_hospital_of_another_city_or_province_is_not_found(
    hospital, agency_user, yichang_officer, outsider_agency
):
    decided_applications(hospital, agency_user, 3)

    for outsider in (yichang_officer, outsider_agency):
        with pytest.raises(NotFound):
            draw(outsider, hospital)
    assert not SpotCheck.objects.exists()


def test_a_period_without_cases_is_refused(hospital, agency_user):
    with pytest.raises(DomainError) as refused:
        draw(agency_user, hospital)

    assert refused.value.code == "inspection.no_cases"
    assert not SpotCheck.objects.exists()


def test_checklist_then_finish_writes_the_report(client, hospital, agency_user):
    decided_applications(hospital, agency_user, 2)
    spot_check = draw(agency_user, hospital, size=2)
    cases = list(spot_check.cases.all())

    with pytest.raises(DomainError) as early:
        services.spot_check_finish(actor=agency_user, spot_check_id=spot_check.pk, conclusion="x")
    services.spot_check_case_record(
        actor=agency_user,
        case_id=cases[0].pk,
        checklist={"materials_complete": True, "criteria_met": True, "within_time_limit": True},
        result="compliant",
    )
    with pytest.raises(DomainError) as no_note:
        services.spot_check_case_record(
            actor=agency_user, case_id=cases[1].pk, checklist={}, result="non_compliant"
        )
    services.spot_check_case_record(
        actor=agency_user,
        case_id=cases[1].pk,
        checklist={"materials_complete": False},
        result="non_compliant",
        note="缺少病历资料",
    )
    services.spot_check_finish(
        actor=agency_user, spot_check_id=spot_check.pk, conclusion="1件材料不全，责令整改"
    )

    assert early.value.code == "inspection.cases_unchecked"
    assert no_note.value.code == "inspection.invalid_spot_check"
    spot_check.refresh_from_db()
    assert spot_check.status == SpotCheckStatus.FINISHED and spot_check.finished_at
    assert SpotCheckTransition.objects.filter(spot_check=spot_check, to_status="finished").exists()
    cases[0].refresh_from_db()
    assert cases[0].checklist == {
        "materials_complete": True,
        "criteria_met": True,
        "within_time_limit": True,
        "forms_signed": False,
    }
    client.force_login(agency_user)
    report = client.get(reverse("agency-spot-check", args=[spot_check.pk])).content.decode()
    assert "报告" in report and "缺少病历资料" in report and "fixed-seed" in report
    assert "不合规 1 件" in report and "鄂医保发〔2023〕35号 第十条" in report
    assert "HB art." not in report


def test_officers_read_stock_movements_and_codes_of_their_region(
    client, pharmacy, county_officer, province_officer, outsider_agency
):
    StockItemFactory(pharmacy=pharmacy, batch_no="B-INSPECT", quantity=7)

    for officer in (county_officer, province_officer):
        client.force_login(officer)
        page = client.get(reverse("agency-inspection-institution", args=[pharmacy.pk]))
        assert page.status_code == 200 and "B-INSPECT" in page.content.decode()
    client.force_login(outsider_agency)
    refused = client.get(reverse("agency-inspection-institution", args=[pharmacy.pk]))
    assert refused.status_code == 404


def test_the_export_is_an_xlsx_of_the_filtered_rows(client, pharmacy, agency_user):
    StockItemFactory(pharmacy=pharmacy, batch_no="B-ONE", quantity=3)
    StockItemFactory(pharmacy=pharmacy, batch_no="B-TWO", quantity=4)
    client.force_login(agency_user)

    response = client.get(
        reverse("agency-inspection-export", args=[pharmacy.pk]), {"view": "stock", "drug": "B-TWO"}
    )

    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][1] == "生产批号"
    assert [r[1] for r in rows[1:]] == ["B-TWO"]


def test_a_region_filter_outside_scope_is_refused(client, agency_user, other_agency):
    client.force_login(agency_user)

    response = client.get(reverse("agency-inspection"), {"region": other_agency.region_id})

    assert response.status_code == 400
    assert "不在您的管辖范围内" in response.content.decode()
