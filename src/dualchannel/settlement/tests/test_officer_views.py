"""The agency officer's pages (issue 12, points 1, 5, 7): the work queue, a batch opened to its
settlements and exported, manual claims entered and decided with four eyes, the settlements of a
finding picked from a list, the budget text from the region's profile, months in Chinese."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from dualchannel.core.models import AuditEvent
from dualchannel.core.tests.files import PDF
from dualchannel.registry.tests.factories import designate, qualified_pharmacy
from dualchannel.settlement.models import (
    BatchStatus,
    BudgetLine,
    ClaimStatus,
    ManualClaim,
    RecoveryOrder,
    SettlementBatch,
    ViolationFinding,
)
from dualchannel.settlement.tests.factories import settled_row
from dualchannel.settlement.views import month_choices

from .helpers import colleague, submit

pytestmark = pytest.mark.django_db


def _pharmacy():
    pharmacy = qualified_pharmacy(name="硚口演示药房", region_code="420102")
    designate(pharmacy)
    return pharmacy


@pytest.fixture
def chronic_world(zhang, chronic_drug, physician, benefit_rules):
    """张伟 (Wuhan, employee) and an ordinary chronic-disease drug, the Wuhan rules loaded."""
    return zhang, chronic_drug


@pytest.fixture
def batch_world(zhang, agency_user, benefit_rules):
    """A pharmacy's applied batch of two settlements (one of 张伟's for 2,000.00)."""
    pharmacy = _pharmacy()
    batch = SettlementBatch.objects.create(
        institution=pharmacy,
        month=timezone.localdate().replace(day=1),
        budget_line=BudgetLine.HOSPITAL_GLOBAL,
        status=BatchStatus.APPLIED,
        applied_at=timezone.now(),
    )
    rows = [
        settled_row(pharmacy, zhang, agency_user, amount="2000.00", settlement_no="JS-A-0001"),
        settled_row(pharmacy, zhang, agency_user, amount="300.00", settlement_no="JS-A-0002"),
    ]
    for row in rows:
        row.batch = batch
        row.save(update_fields=["batch"])
    return batch, rows


def test_the_officer_lands_on_the_work_queue_with_counts_oldest_first(
    client, agency_user, batch_world, chronic_world, media_root
):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "100.00", "pack_size": "28"}
    submit(colleague(agency_user), person, _pharmacy(), [line], category="chronic_disease")
    client.force_login(agency_user)

    landing = client.get(reverse("home"))
    page = client.get(reverse("agency-home")).content.decode()

    assert landing.url == reverse("agency-home")
    assert '<tr id="queue-batches" data-count="1">' in page
    assert '<tr id="queue-claims" data-count="1">' in page
    assert '<tr id="queue-alerts" data-count="0">' in page
    assert page.index('id="queue-batches"') < page.index('id="queue-alerts"')  # waiting first


def test_the_queue_does_not_count_a_claim_the_officer_entered_himself(
    client, agency_user, chronic_world, media_root
):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "100.00", "pack_size": "28"}
    submit(agency_user, person, _pharmacy(), [line], category="chronic_disease")
    client.force_login(agency_user)

    page = client.get(reverse("agency-home")).content.decode()

    assert '<tr id="queue-claims" data-count="0">' in page


def test_a_batch_opens_to_its_settlements_filtered_and_exported(client, agency_user, batch_world):
    batch, rows = batch_world
    client.force_login(agency_user)
    url = reverse("agency-batch-detail", args=[batch.pk])

    page = client.get(url).content.decode()
    filtered = client.get(url, {"q": "JS-A-0002"}).content.decode()
    exported = client.get(url, {"export": "csv"})
    workbook = client.get(url, {"export": "xlsx"})

    assert "JS-A-0001" in page and "JS-A-0002" in page and "共 2 笔" in page
    assert "通过" in page and "退回" in page  # reviewed from here
    assert "JS-A-0001" not in filtered and "共 1 笔" in filtered
    text = exported.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("结算单号,结算日期,参保人,身份证号")
    assert "JS-A-0001" in text and rows[0].person.id_number not in text  # masked
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert [c.value for c in sheet[1]][:3] == ["结算单号", "结算日期", "参保人"]
    assert sheet.max_row == 3


def test_an_officer_of_another_region_cannot_open_the_batch(client, outsider_agency, batch_world):
    batch, _ = batch_world
    client.force_login(outsider_agency)

    for query in ({}, {"export": "csv"}):
        response = client.get(reverse("agency-batch-detail", args=[batch.pk]), query)
        assert response.status_code == 404


def _claim_form(person, pharmacy, drug, **overrides):
    return {
        "id_number": person.id_number,
        "institution": str(pharmacy.pk),
        "reason": "system_failure",
        "category": "chronic_disease",
        "purchased_on": timezone.localdate().isoformat(),
        "drug": str(drug.pk),
        "quantity": "1",
        "unit_price": "1000.00",
        "specification": "",
        "pack_size": "28",
        "receipts": io.BytesIO(PDF),
    } | overrides


def test_one_officer_enters_a_claim_and_another_decides_it(
    client, agency_user, chronic_world, media_root
):
    person, drug = chronic_world
    pharmacy = _pharmacy()
    client.force_login(agency_user)
    form = _claim_form(person, pharmacy, drug)
    form["receipts"].name = "发票.pdf"

    entered = client.post(reverse("agency-claims"), form)
    claim = ManualClaim.objects.get()
    own = client.get(reverse("agency-claim", args=[claim.pk])).content.decode()
    refused = client.post(
        reverse("agency-claim-decide", args=[claim.pk]),
        {"decision": "approve"},
        HTTP_REFERER=reverse("agency-claim", args=[claim.pk]),
    )
    claim.refresh_from_db()
    assert entered.url == reverse("agency-claim", args=[claim.pk])
    assert "须由另一位经办人员审核" in own and 'value="approve"' not in own
    assert refused.status_code == 302 and claim.status == ClaimStatus.SUBMITTED

    client.force_login(colleague(agency_user))
    page = client.get(reverse("agency-claim", args=[claim.pk])).content.decode()
    client.post(reverse("agency-claim-decide", args=[claim.pk]), {"decision": "approve"})

    claim.refresh_from_db()
    assert 'value="approve"' in page
    assert claim.status == ClaimStatus.APPROVED and claim.settlement is not None
    assert claim.decided_by == colleague(agency_user)
    decided = client.get(reverse("agency-claim", args=[claim.pk])).content.decode()
    assert claim.settlement.settlement_no in decided and "已同意报销" in decided


def test_a_bad_claim_is_refused_in_chinese_keeps_what_was_entered_and_writes_nothing(
    client, agency_user, chronic_world, media_root
):
    person, drug = chronic_world
    pharmacy = _pharmacy()
    client.force_login(agency_user)
    audits = AuditEvent.objects.count()

    response = client.post(
        reverse("agency-claims"), _claim_form(person, pharmacy, drug, quantity="0")
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "数量应为 1–100000 的整数" in page
    assert "lines.0" not in page and "settlement.invalid_quantity" not in page
    assert f'value="{person.id_number}"' in page and 'value="1000.00"' in page
    assert not ManualClaim.objects.exists() and AuditEvent.objects.count() == audits


def test_an_officer_of_another_region_neither_sees_nor_decides_the_claim(
    client, agency_user, outsider_agency, chronic_world, media_root
):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "100.00", "pack_size": "28"}
    claim = submit(agency_user, person, _pharmacy(), [line], category="chronic_disease")
    client.force_login(outsider_agency)

    seen = client.get(reverse("agency-claim", args=[claim.pk]))
    decided = client.post(reverse("agency-claim-decide", args=[claim.pk]), {"decision": "approve"})
    listed = client.get(reverse("agency-claims")).content.decode()

    claim.refresh_from_db()
    assert seen.status_code == 404 and decided.status_code == 404
    assert claim.claim_no not in listed and person.name not in listed
    assert claim.status == ClaimStatus.SUBMITTED


def test_the_officer_picks_a_findings_settlements_from_a_filtered_list(
    client, agency_user, batch_world
):
    _, rows = batch_world
    client.force_login(agency_user)

    page = client.get(reverse("agency-recoveries"), {"q": "JS-A-0001"}).content.decode()
    assert f'name="settlement_ids" value="{rows[0].pk}"' in page
    assert f'value="{rows[1].pk}"' not in page

    client.post(
        reverse("agency-finding-record"),
        {"kind": "fake_treatment", "reason": "虚假诊治", "settlement_ids": [str(rows[0].pk)]},
    )

    finding = ViolationFinding.objects.get()
    assert list(finding.settlements.all()) == [rows[0]]
    assert RecoveryOrder.objects.get().institution == rows[0].institution


def test_a_settlement_of_another_region_cannot_be_picked(
    client, agency_user, outsider_agency, batch_world
):
    _, rows = batch_world
    client.force_login(outsider_agency)

    response = client.post(
        reverse("agency-finding-record"),
        {"kind": "fake_treatment", "reason": "虚假诊治", "settlement_ids": [str(rows[0].pk)]},
    )

    assert response.status_code == 404
    assert not ViolationFinding.objects.exists() and not RecoveryOrder.objects.exists()


def test_the_budget_text_is_the_regions_and_the_month_picker_speaks_chinese(
    client, agency_user, batch_world
):
    client.force_login(agency_user)

    page = client.get(reverse("agency-settlement")).content.decode()

    today = timezone.localdate()
    assert f'<option value="{today:%Y-%m}" selected>{today.year}年{today.month}月</option>' in page
    assert 'type="month"' not in page
    # Wuhan (Hubei) keeps no separate pharmacy line: no Anhui or Chuxiong document is cited
    assert "皖医保" not in page and "楚医保" not in page
    assert "未规定药店双通道药品费用单列预算" in page and "鄂医保发〔2023〕35号" in page
    assert "药店双通道费用单列" not in page.split('id="budget"')[1].split("</section>")[0]


def test_the_months_offered_go_back_across_the_year():
    months = month_choices(date(2027, 2, 15), count=3)

    assert months == [("2027-02", "2027年2月"), ("2027-01", "2027年1月"), ("2026-12", "2026年12月")]


def test_a_claims_receipts_open_inline_for_the_officers_of_its_region_only(
    client, agency_user, outsider_agency, pharmacist_user, chronic_world, media_root
):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "100.00", "pack_size": "28"}
    claim = submit(agency_user, person, _pharmacy(), [line], category="chronic_disease")
    url = reverse("agency-claim-receipt", args=[claim.pk, 1])

    client.force_login(agency_user)
    page = client.get(reverse("agency-claim", args=[claim.pk])).content.decode()
    receipt = client.get(url)
    missing = client.get(reverse("agency-claim-receipt", args=[claim.pk, 2]))
    client.force_login(outsider_agency)
    elsewhere = client.get(url)
    client.force_login(pharmacist_user)
    pharmacist = client.get(url)

    assert f'href="{url}"' in page and "发票 张伟.pdf" in page
    assert receipt.status_code == 200 and receipt.content == PDF
    assert receipt["Content-Type"] == "application/pdf"
    assert receipt["Content-Disposition"] == "inline"
    assert "no-store" in receipt["Cache-Control"]
    assert missing.status_code == 404
    assert elsewhere.status_code == 404 and elsewhere.content != PDF
    assert pharmacist.status_code in (403, 404) and pharmacist.content != PDF


def test_opening_a_claims_receipt_is_audited_and_a_refused_opening_is_not(
    client, agency_user, outsider_agency, chronic_world, media_root
):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "100.00", "pack_size": "28"}
    claim = submit(agency_user, person, _pharmacy(), [line], category="chronic_disease")
    url = reverse("agency-claim-receipt", args=[claim.pk, 1])
    client.force_login(outsider_agency)
    assert client.get(url).status_code == 404
    client.force_login(agency_user)
    assert client.get(reverse("agency-claim-receipt", args=[claim.pk, 2])).status_code == 404
    assert not AuditEvent.objects.filter(action="settlement.claim_receipt_opened").exists()

    assert client.get(url).status_code == 200

    (event,) = AuditEvent.objects.filter(action="settlement.claim_receipt_opened")
    assert (event.actor, event.actor_role) == (agency_user, "agency_officer")
    assert (event.subject_type, event.subject_id) == ("settlement.ManualClaim", str(claim.pk))
    assert event.summary == {"claim_no": claim.claim_no, "receipt": 1}
    assert event.patient_id == person.pk
