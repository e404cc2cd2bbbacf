"""Out-of-area purchases [HB art. 40–41, AH §2(5), CX art. 17]: 张伟 (enrolled in Wuhan) buys
his hypertension drug at a designated pharmacy in 宜昌 (same province), in 合肥 (another
province) with and without a cross-province filing; benefits always follow Wuhan (参保地)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.prescriptions import services as rx_services
from dualchannel.prescriptions.models import BenefitType
from dualchannel.prescriptions.tests.conftest import receive_stock
from dualchannel.prescriptions.tests.helpers import USAGE
from dualchannel.prescriptions.tests.today import bind, in_force_today, issue, route
from dualchannel.registry import services as registry_services
from dualchannel.registry.models import InsuredPerson, OutOfAreaFiling, PolicyProfile
from dualchannel.registry.out_of_area import (
    CROSS_PROVINCE_FILED,
    CROSS_PROVINCE_UNFILED,
    IN_PROVINCE,
    out_of_area_of,
)
from dualchannel.registry.tests.factories import (
    PharmacistFactory,
    designate,
    qualified_pharmacy,
)
from dualchannel.registry.tests.factories import region as registry_region
from dualchannel.settlement import services
from dualchannel.settlement.models import (
    Accumulator,
    ClaimReason,
    ClaimStatus,
    ManualClaim,
    Settlement,
    SettlementKind,
)
from dualchannel.settlement.receipt import render_self_pay_receipt
from dualchannel.settlement.services import claim_decisions
from dualchannel.settlement.services import hospital as outpatient
from dualchannel.settlement.tests.conftest import dispense
from dualchannel.settlement.tests.helpers import colleague, submit, text_of

pytestmark = pytest.mark.django_db


def pharmacy_in(region_code: str, name: str, username: str, drug):
    """A designated pharmacy of ``region_code`` with its pharmacist and two batches of ``drug``."""
    pharmacy = qualified_pharmacy(name=name, region_code=region_code)
    designate(pharmacy)
    user = UserFactory(username=username, institution=pharmacy, roles=[Role.PHARMACIST])
    PharmacistFactory(user=user, pharmacy=pharmacy)
    batches = receive_stock(user, drug, prefix="8555555", key=f"stock-{username}")
    return pharmacy, user, batches[0]


def chronic(physician_user, person, drug):
    return rx_services.prescription_issue(
        actor=physician_user,
        patient_id_number=person.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="I10.x00x002",
        items=[
            {"drug_id": drug.pk, "quantity": "28", "unit": "片", "pack_size": "28"}
            | USAGE
            | {"days": 28}
        ],
    )


def file_for(officer, person, region="340000", days=90):
    registry_region(region)
    today = timezone.localdate()
    return registry_services.out_of_area_filing_create(
        actor=officer,
        person_id_number=person.id_number,
        treating_region=region,
        kind="long_term",
        valid_from=today,
        valid_to=today + timedelta(days=days),
    )


@pytest.fixture
def world(zhang, chronic_drug, physician, physician_user, patient_user, benefit_rules):
    return {"person": zhang, "drug": chronic_drug}


def test_same_province_other_city_settles_directly_under_the_enrolment_rules(
    world, physician_user, patient_user
):
    """HB art. 40: a designated pharmacy of another pooling region of the province settles
    directly, without any filing, with the enrolment region's (Wuhan's) benefit rules."""
    pharmacy, user, batch = pharmacy_in("420502", "宜昌演示药房", "yichang_rx", world["drug"])
    prescription = chronic(physician_user, world["person"], world["drug"])
    bind(patient_user, world["person"])

    options = rx_services.pharmacy_options(actor=patient_user, prescription_id=prescription.pk)
    option = next(o for o in options if o.pharmacy == pharmacy)
    assert option.area.kind == IN_PROVINCE and option.area.direct
    route(patient_user, prescription, pharmacy)
    dispense(user, prescription, batch, key="d-yichang")

    preview = services.settlement_preview(actor=user, prescription_id=prescription.pk)
    assert preview.out_of_area.kind == IN_PROVINCE
    settlement = services.settlement_settle(
        actor=user, prescription_id=prescription.pk, idempotency_key="s-yichang"
    )

    assert settlement.rule.region_id == "420100"  # 参保地待遇: Wuhan's rule
    assert settlement.parameters["out_of_area"] == {
        "kind": IN_PROVINCE,
        "enrolment_region": world["person"].enrolment_region_id,
        "treating_region": "420502",
        "filing_no": "",
    }
    assert settlement.fund > 0 and settlement.total == Decimal("1000.00")
    # the person's own (Wuhan) accumulators moved
    assert Accumulator.objects.filter(person=world["person"], amount__gt=0).exists()
    assert not OutOfAreaFiling.objects.exists()


def test_in_anhui_in_province_out_of_area_is_not_yet_settled_directly(
    world, physician_user, patient_user
):
    """AH §2(5): until Anhui brings dual-channel drugs into out-of-area direct settlement, a
    purchase elsewhere in the province is paid and claimed at home — the profile says so."""
    PolicyProfile.objects.filter(region_id="420000").update(in_province_direct_settlement=False)
    pharmacy, user, batch = pharmacy_in("420502", "宜昌演示药房", "yichang_rx", world["drug"])
    prescription = chronic(physician_user, world["person"], world["drug"])
    route(patient_user, prescription, pharmacy)
    dispense(user, prescription, batch, key="d-yichang")

    with pytest.raises(DomainError) as refused:
        services.settlement_settle(
            actor=user, prescription_id=prescription.pk, idempotency_key="s-yichang"
        )

    assert refused.value.code == "settlement.out_of_area_not_direct"
    assert "手工" in refused.value.message
    assert "鄂医保发" in refused.value.message  # still a Wuhan person: Hubei's article
    assert not Settlement.objects.exists()


def test_cross_province_with_a_filing_settles_directly(
    world, physician_user, patient_user, agency_user
):
    """HB art. 41: with a cross-province filing the Hefei pharmacy settles directly — Hefei's
    drug list, Wuhan's benefits."""
    pharmacy, user, batch = pharmacy_in("340102", "瑶海演示药房", "hefei_rx", world["drug"])
    prescription = chronic(physician_user, world["person"], world["drug"])
    with pytest.raises(DomainError) as refused:  # not routable before the filing
        route(patient_user, prescription, pharmacy)
    assert refused.value.code == "prescriptions.pharmacy_not_allowed"

    filing = file_for(agency_user, world["person"])
    route(patient_user, prescription, pharmacy)
    dispense(user, prescription, batch, key="d-hefei")
    settlement = services.settlement_settle(
        actor=user, prescription_id=prescription.pk, idempotency_key="s-hefei"
    )

    assert settlement.rule.region_id == "420100"
    area = settlement.parameters["out_of_area"]
    assert area["kind"] == CROSS_PROVINCE_FILED and area["filing_no"] == filing.filing_no
    assert settlement.fund > 0


def test_cross_province_without_a_filing_is_self_pay_then_claimed_at_home(
    world, physician_user, patient_user, agency_user
):
    """HB art. 41, CX art. 17: without a valid filing the counter does not settle with the
    fund; the patient pays all, gets a receipt saying why, and the claim at home succeeds."""
    pharmacy, user, batch = pharmacy_in("340102", "瑶海演示药房", "hefei_rx", world["drug"])
    prescription = chronic(physician_user, world["person"], world["drug"])
    file_for(agency_user, world["person"])
    route(patient_user, prescription, pharmacy)
    # the filing was cut short before the purchase
    yesterday = timezone.localdate() - timedelta(days=1)
    OutOfAreaFiling.objects.update(valid_from=yesterday, valid_to=yesterday)
    dispense(user, prescription, batch, key="d-hefei")
    events = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        services.settlement_settle(
            actor=user, prescription_id=prescription.pk, idempotency_key="s-hefei"
        )
    assert refused.value.code == "settlement.out_of_area_not_direct"
    assert "未办理异地就医备案" in refused.value.message
    # the enrolment region's own article (Wuhan: Hubei's), never another region's
    assert "鄂医保发〔2023〕35号 第四十一条" in refused.value.message
    assert "楚医保" not in refused.value.message and "皖医保" not in refused.value.message
    assert not Settlement.objects.exists() and AuditEvent.objects.count() == events

    sale = services.self_pay_sale(actor=user, prescription_id=prescription.pk)
    assert sale.area.kind == CROSS_PROVINCE_UNFILED and sale.total == Decimal("1000.00")
    assert sale.claim_reason == ClaimReason.CROSS_PROVINCE
    text = text_of(render_self_pay_receipt(sale))
    assert "全额自费" in text and "手工（零星）报销" in text and "1,000.00" in text
    assert "跨省异地就医未备案购药" in text  # the reason to claim it under at home
    assert "第四十一条" in text and "楚医保" not in text

    claim = submit(
        agency_user,
        world["person"],
        pharmacy,
        [{"drug_id": world["drug"].pk, "quantity": 1, "unit_price": "1000.00", "pack_size": "28"}],
        reason=ClaimReason.CROSS_PROVINCE,
        category="chronic_disease",
        prescription_id=prescription.pk,
    )
    decided = claim_decisions.claim_decide(
        actor=colleague(agency_user), claim_id=claim.pk, approve=True
    )

    assert decided.status == ClaimStatus.APPROVED
    assert decided.reason == ClaimReason.CROSS_PROVINCE
    assert decided.get_reason_display() == "跨省异地就医未备案购药"
    paid = decided.settlement
    assert paid.kind == SettlementKind.MANUAL and paid.fund > 0
    assert paid.rule.region_id == "420100"  # Wuhan's benefits
    assert paid.parameters["out_of_area"]["kind"] == CROSS_PROVINCE_UNFILED


def test_a_local_sale_has_no_self_pay_receipt_and_a_local_claim_is_not_cross_region(
    world, physician_user, patient_user, agency_user, bound_pharmacy, pharmacist, pharmacist_user
):
    """HB art. 40–41: the out-of-area paths are for purchases out of area only."""
    batch = receive_stock(pharmacist_user, world["drug"], prefix="8555555", key="local")[0]
    prescription = chronic(physician_user, world["person"], world["drug"])
    route(patient_user, prescription, bound_pharmacy)
    dispense(pharmacist_user, prescription, batch, key="d-local")

    with pytest.raises(DomainError) as refused:
        services.self_pay_sale(actor=pharmacist_user, prescription_id=prescription.pk)
    assert refused.value.code == "settlement.out_of_area_direct"
    with pytest.raises(DomainError) as refused:
        submit(
            agency_user,
            world["person"],
            bound_pharmacy,
            [{"drug_id": world["drug"].pk, "quantity": 1, "unit_price": "10.00"}],
            reason=ClaimReason.CROSS_REGION,
            category="chronic_disease",
        )
    assert refused.value.code == "settlement.claim_not_out_of_area"


CLAIM_LINE = {"quantity": 1, "unit_price": "1000.00", "pack_size": "28"}


@pytest.mark.parametrize(
    ("place", "filed", "reason", "wanted"),
    [
        ("340102", False, ClaimReason.CROSS_REGION, "跨省异地就医未备案购药"),  # HB art. 41
        ("420502", False, ClaimReason.CROSS_PROVINCE, "省内跨地区购药未能直接结算"),
        ("340102", True, ClaimReason.CROSS_PROVINCE, "可直接结算"),  # filed: settles directly
    ],
)
def test_an_out_of_area_claim_under_the_wrong_reason_is_refused_and_nothing_written(
    world, agency_user, place, filed, reason, wanted
):
    """HB art. 40–41: across provinces without a filing the claim is 跨省未备案, in another
    city of the province 省内跨地区; under a valid filing the purchase settles directly and is
    not an out-of-area claim. A claim under the other reason is refused, nothing written."""
    pharmacy = qualified_pharmacy(name="异地演示药房", region_code=place)
    designate(pharmacy)
    if filed:
        file_for(agency_user, world["person"])
    claims, events = ManualClaim.objects.count(), AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        submit(
            agency_user,
            world["person"],
            pharmacy,
            [{"drug_id": world["drug"].pk} | CLAIM_LINE],
            reason=reason,
            category="chronic_disease",
        )

    assert refused.value.code == "settlement.claim_area_reason_mismatch"
    assert wanted in refused.value.message
    assert ManualClaim.objects.count() == claims and AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("region", "start", "end", "code"),
    [
        ("340000", 0, -1, "registry.filing_invalid_period"),  # ends before it starts
        ("990000", 0, 30, "registry.filing_invalid_region"),  # no such province
        ("420500", 0, 30, "registry.filing_not_needed"),  # same province [HB art. 40]
    ],
)
def test_a_bad_filing_is_refused_with_a_code_and_nothing_written(
    world, agency_user, region, start, end, code
):
    """HB art. 40–41: a cross-province filing needs a real place in another province and a
    period that does not end before it starts."""
    for place in ("340000", "420500"):
        registry_region(place)
    today = timezone.localdate()
    events = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        registry_services.out_of_area_filing_create(
            actor=agency_user,
            person_id_number=world["person"].id_number,
            treating_region=region,
            kind="long_term",
            valid_from=today + timedelta(days=start),
            valid_to=today + timedelta(days=end),
        )

    assert refused.value.code == code and refused.value.message
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.message)
    assert not OutOfAreaFiling.objects.exists() and AuditEvent.objects.count() == events


def test_a_filing_is_recorded_with_its_audit_event_by_the_hospital_insurance_office(
    world, reviewer_user, outsider_reviewer
):
    """HB art. 41: the hospital's insurance office records a referral filing for its region's
    patient; another region's office does not see the person."""
    filing = file_for(reviewer_user, world["person"], region="110000")
    assert filing.filing_no.startswith("YDBA") and filing.treating_region_id == "110000"
    assert AuditEvent.objects.filter(action="registry.out_of_area_filed").count() == 1
    with pytest.raises(DomainError) as refused:
        file_for(outsider_reviewer, world["person"])
    assert refused.value.code == "registry.region_out_of_scope"


def result_page(client, prescription) -> str:
    url = reverse("prescriptions-counter-result", args=[prescription.pk])
    return client.get(url).content.decode()


def test_the_counter_page_says_out_of_area_and_which_rules_apply(
    client, world, physician_user, patient_user, agency_user
):
    """HB art. 40–41: the pharmacist sees, in Chinese, that the sale is out of area and whose
    rules apply; without a filing there is no settle button, only the self-pay receipt."""
    pharmacy, user, batch = pharmacy_in("340102", "瑶海演示药房", "hefei_rx", world["drug"])
    prescription = chronic(physician_user, world["person"], world["drug"])
    file_for(agency_user, world["person"])
    route(patient_user, prescription, pharmacy)
    dispense(user, prescription, batch, key="d-hefei")
    client.force_login(user)

    page = result_page(client, prescription)
    assert "跨省异地（已备案）" in page and "参保地" in page and "就医地药品目录" in page
    assert 'id="settle"' in page

    yesterday = timezone.localdate() - timedelta(days=1)
    OutOfAreaFiling.objects.update(valid_from=yesterday, valid_to=yesterday)
    page = result_page(client, prescription)
    assert "跨省异地（未备案）" in page and "未办理异地就医备案" in page
    assert 'id="settle"' not in page and 'id="self-pay-receipt"' in page
    receipt = client.get(f"/api/v1/settlement/counter/{prescription.pk}/self-pay-receipt")
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")


def test_the_filing_page_records_a_filing_and_refuses_a_bad_one(client, world, agency_user):
    """HB art. 41: the officer records the filing on its page; a period ending before it
    starts is refused with its code and nothing is written."""
    registry_region("340000")
    client.force_login(agency_user)
    url = reverse("registry-out-of-area-filing-create")
    form = {
        "person_id_number": world["person"].id_number,
        "treating_region": "340000",
        "kind": "long_term",
        "valid_from": "2026-12-01",
        "valid_to": "2026-11-01",
    }

    page = client.post(url, form, follow=True).content.decode()
    assert "备案截止日期不能早于开始日期" in page and not OutOfAreaFiling.objects.exists()
    assert "registry.filing_invalid_period" not in page  # in words, no code (issue 12)
    # the place of treatment is picked by name among the other provinces and their cities
    assert '<option value="340000">安徽省（全省）</option>' in page
    assert '<option value="420100">' not in page  # not the home province

    page = client.post(url, form | {"valid_to": "2027-05-31"}, follow=True).content.decode()
    filing = OutOfAreaFiling.objects.get()
    assert filing.filing_no in page and "安徽省" in page
    assert world["person"].id_number not in page  # masked


def test_at_the_hospital_desk_a_cross_province_patient_settles_only_with_a_filing(
    eligibility, physician_user, reviewer_user, standard, benefit_rules
):
    """HB art. 41: the hospital's 特药门诊 desk, like the counter, settles a patient enrolled
    in another province directly only under a filing, with the enrolment region's rules."""
    prescription = issue(physician_user, in_force_today(eligibility), quantity="100")
    person = prescription.patient
    InsuredPerson.objects.filter(pk=person.pk).update(enrolment_region_id="340102")
    item = prescription.items.get()
    lines = [{"item_id": item.pk, "packages": 2, "unit_price": "1200.00", "batch_no": "H2401"}]

    with pytest.raises(DomainError) as refused:
        outpatient.hospital_settle(
            actor=reviewer_user, prescription_id=prescription.pk, lines=lines, idempotency_key="h"
        )
    assert refused.value.code == "settlement.out_of_area_not_direct"
    assert not Settlement.objects.exists()

    today = timezone.localdate()
    OutOfAreaFiling.objects.create(
        filing_no="YDBA-TEST-1",
        person_id=person.pk,
        treating_region=registry_region("420000"),
        kind="referral",
        valid_from=today,
        valid_to=today + timedelta(days=30),
        recorded_by=reviewer_user,
        recorded_at_institution=reviewer_user.institution,
    )
    settlement = outpatient.hospital_settle(
        actor=reviewer_user, prescription_id=prescription.pk, lines=lines, idempotency_key="h2"
    )
    assert settlement.rule.region_id == "340100"  # the enrolment region's (Hefei's) rule
    assert settlement.parameters["out_of_area"]["filing_no"] == "YDBA-TEST-1"


def test_after_a_filing_is_cancelled_the_counter_refuses_direct_settlement(
    world, physician_user, patient_user, agency_user
):
    """HB art. 41: 撤销备案 — from the cancellation day a purchase in the filed place is no
    longer settled directly: the counter refuses, the person pays in full and claims at home
    under 跨省未备案; the cancellation has its reason and audit event."""
    pharmacy, user, batch = pharmacy_in("340102", "瑶海演示药房", "hefei_rx", world["drug"])
    prescription = chronic(physician_user, world["person"], world["drug"])
    filing = file_for(agency_user, world["person"])
    route(patient_user, prescription, pharmacy)
    dispense(user, prescription, batch, key="d-hefei")

    cancelled = registry_services.out_of_area_filing_cancel(
        actor=agency_user, filing_id=filing.pk, reason="已回参保地长期居住"
    )

    assert cancelled.cancelled_on == timezone.localdate()
    assert (cancelled.cancel_reason, cancelled.cancelled_by) == ("已回参保地长期居住", agency_user)
    event = AuditEvent.objects.get(action="registry.out_of_area_filing_cancelled")
    assert event.summary["filing_no"] == filing.filing_no
    with pytest.raises(DomainError) as refused:
        services.settlement_settle(
            actor=user, prescription_id=prescription.pk, idempotency_key="s-hefei"
        )
    assert refused.value.code == "settlement.out_of_area_not_direct"
    assert not Settlement.objects.exists()
    sale = services.self_pay_sale(actor=user, prescription_id=prescription.pk)
    assert sale.area.kind == CROSS_PROVINCE_UNFILED
    assert sale.claim_reason == ClaimReason.CROSS_PROVINCE


def test_a_filing_cancelled_from_a_later_day_covers_the_days_before_it(world, agency_user):
    """HB art. 41: a cancellation dated ahead leaves the filing valid until the day before."""
    hefei = registry_region("340102")
    filing = file_for(agency_user, world["person"])
    today = timezone.localdate()
    registry_services.out_of_area_filing_cancel(
        actor=agency_user,
        filing_id=filing.pk,
        reason="转诊结束",
        cancelled_on=today + timedelta(days=10),
    )

    def kind(days):
        return out_of_area_of(world["person"], hefei, today + timedelta(days=days)).kind

    assert (kind(0), kind(9)) == (CROSS_PROVINCE_FILED, CROSS_PROVINCE_FILED)
    assert (kind(10), kind(30)) == (CROSS_PROVINCE_UNFILED, CROSS_PROVINCE_UNFILED)


@pytest.mark.parametrize(
    ("reason", "days", "code"),
    [
        ("", 0, "registry.filing_cancel_reason_required"),
        ("回参保地", -1, "registry.filing_cancel_invalid_date"),  # settled purchases stand
        ("回参保地", 91, "registry.filing_cancel_invalid_date"),  # after the filing ends
    ],
)
def test_a_bad_cancellation_is_refused_with_a_code_and_nothing_written(
    world, agency_user, reason, days, code
):
    """HB art. 41: a cancellation needs its reason and a day from today to the filing's end."""
    filing = file_for(agency_user, world["person"])
    events = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        registry_services.out_of_area_filing_cancel(
            actor=agency_user,
            filing_id=filing.pk,
            reason=reason,
            cancelled_on=timezone.localdate() + timedelta(days=days),
        )

    assert refused.value.code == code
    filing.refresh_from_db()
    assert filing.cancelled_on is None and AuditEvent.objects.count() == events


def test_a_cancelled_filing_is_not_cancelled_again_and_an_outsider_cannot_see_it(
    world, agency_user, outsider_reviewer, outsider_agency
):
    """HB art. 41: once cancelled, it stays as it was; another region's staff find nothing."""
    filing = file_for(agency_user, world["person"])
    for outsider in (outsider_reviewer, outsider_agency):
        with pytest.raises(DomainError) as refused:
            registry_services.out_of_area_filing_cancel(
                actor=outsider, filing_id=filing.pk, reason="越权"
            )
        assert refused.value.code == "registry.filing_not_found"
    registry_services.out_of_area_filing_cancel(
        actor=agency_user, filing_id=filing.pk, reason="回参保地"
    )
    events = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        registry_services.out_of_area_filing_cancel(
            actor=agency_user, filing_id=filing.pk, reason="再次撤销"
        )

    assert refused.value.code == "registry.filing_already_cancelled"
    filing.refresh_from_db()
    assert filing.cancel_reason == "回参保地" and AuditEvent.objects.count() == events


def test_the_filing_page_and_api_cancel_a_filing(client, world, agency_user):
    """HB art. 41: the page has a 撤销备案 button per valid filing; the API answers with the
    cancellation day and reason."""
    filing = file_for(agency_user, world["person"])
    other = file_for(agency_user, world["person"], region="370000")
    client.force_login(agency_user)
    page = client.get(reverse("registry-out-of-area-filings")).content.decode()
    assert "撤销备案" in page
    # the enrolment region by its name; the basis in the document's words, not a short form
    assert f"<td>{world['person'].enrolment_region.name}</td>" in page
    assert "HB art" not in page and "鄂医保发〔2023〕35号 第四十条" in page
    url = reverse("registry-out-of-area-filing-cancel", args=[filing.pk])
    assert f'action="{url}"' in page

    page = client.post(url, {"reason": "回参保地居住"}, follow=True).content.decode()
    assert "已撤销异地就医备案" in page and "已撤销" in page
    answer = client.post(
        f"/api/v1/registry/out-of-area-filings/{other.pk}/cancel",
        {"reason": "备案地址有误"},
        content_type="application/json",
    )

    assert answer.status_code == 200
    body = answer.json()
    assert (body["cancelled_on"], body["cancel_reason"]) == (
        timezone.localdate().isoformat(),
        "备案地址有误",
    )
    assert OutOfAreaFiling.objects.filter(cancelled_on__isnull=False).count() == 2
