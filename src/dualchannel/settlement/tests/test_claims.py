"""Manual (零星) claims: computed with the counter's engine, rules and accumulators
[HB art. 37, AH §2(5), CX art. 17]."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.core.tests.files import PDF, PNG
from dualchannel.prescriptions.models import Prescription
from dualchannel.registry.tests.factories import designate, qualified_pharmacy
from dualchannel.settlement import engine, rules, services
from dualchannel.settlement.models import (
    Accumulator,
    ClaimReason,
    ClaimStatus,
    ManualClaim,
    Settlement,
    SettlementKind,
    SettlementLine,
    SettlementStatus,
    UploadStatus,
)
from dualchannel.settlement.services import BREAKDOWN_FIELDS

from .helpers import colleague, submit

pytestmark = pytest.mark.django_db


D = Decimal


def lung_line(drug, **overrides):
    """Two boxes of 塞瑞替尼胶囊 at 1,000.00, as on the counter's dispensing."""
    return {
        "drug_id": drug.pk,
        "quantity": 2,
        "unit_price": "1000.00",
        "specification": "150mg*50粒",
        "package_unit": "盒",
        "pack_size": "50",
    } | overrides


def stored_files(media_root: Path) -> list[Path]:
    return sorted(p for p in Path(media_root).rglob("*") if p.is_file())


def fingerprint(media_root):
    return (
        ManualClaim.objects.count(),
        list(ManualClaim.objects.values_list("status", flat=True)),
        Settlement.objects.count(),
        SettlementLine.objects.count(),
        sorted(Accumulator.objects.values_list("kind", "scope", "amount")),
        AuditEvent.objects.filter(action__startswith="settlement.").count(),
        stored_files(media_root),
    )


@pytest.fixture
def chronic_world(zhang, chronic_drug, physician, benefit_rules):
    """张伟 (Wuhan, employee) and an ordinary chronic-disease drug, the Wuhan rules loaded."""
    return zhang, chronic_drug


def test_a_claim_for_a_failed_counter_settlement_is_computed_exactly_as_the_counter_would(
    dispensed, pharmacist_user, agency_user, media_root
):
    # given: the counter dispensed two boxes but could not settle (system failure)
    person = dispensed.prescription.patient
    preview = services.settlement_preview(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id
    )
    lung = dispensed.lines.get().drug

    # when: the agency records the claim with its receipt and approves it
    claim = submit(
        agency_user,
        person,
        dispensed.pharmacy,
        [lung_line(lung)],
        prescription_id=dispensed.prescription_id,
    )
    assert claim.status == ClaimStatus.SUBMITTED and claim.claim_no.startswith("BX")
    (receipt,) = claim.receipts
    assert receipt["mime_type"] == "application/pdf" and receipt["size"] == len(PDF)
    assert "张伟" not in receipt["path"]  # the stored name never carries the uploaded one
    assert (Path(media_root) / receipt["path"]).read_bytes() == PDF
    decided = services.claim_decide(
        actor=colleague(agency_user), claim_id=claim.pk, approve=True, note=""
    )

    # then: a MANUAL settlement at the pharmacy with the counter's breakdown, to the fen
    settlement = decided.settlement
    assert decided.status == ClaimStatus.APPROVED and decided.decided_by == colleague(agency_user)
    assert settlement.kind == SettlementKind.MANUAL
    assert settlement.institution_id == dispensed.pharmacy_id
    assert (
        settlement.settled_by == colleague(agency_user) and settlement.dispensing_id == dispensed.pk
    )
    assert settlement.upload_status == UploadStatus.NOT_CONNECTED
    for name in BREAKDOWN_FIELDS:
        assert getattr(settlement, name) == getattr(preview.breakdown, name), name
    (line,) = settlement.lines.all()
    expected = engine.calculate(
        [engine.LineInput("0", D("2000.00"), D("2200.00"), line.drug_class)],
        rules.parameters_of(settlement.rule),
        engine.Accumulated(),
    )
    assert (settlement.total, settlement.fund, settlement.personal) == (
        expected.total,
        expected.fund,
        expected.personal,
    )
    assert (settlement.fund, settlement.med_type) == (D("1500.00"), "110202")
    year = timezone.localdate().year
    fund = Accumulator.objects.get(person=person, kind="fund", scope=f"{year}:special_drug")
    assert fund.amount == settlement.fund
    assert list(settlement.history.values_list("to_status", flat=True)) == ["settled"]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"settlement.claim_submitted", "settlement.claim_approved"} <= actions
    assert "settlement.settled" in actions
    # and the counter can no longer settle it, nor reverse the agency's settlement
    with pytest.raises(Conflict) as again:
        services.settlement_settle(
            actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s"
        )
    assert again.value.code == "settlement.already_settled"
    with pytest.raises(Conflict) as undo:
        services.settlement_reverse(
            actor=pharmacist_user, settlement_id=settlement.pk, reason="x", idempotency_key="r"
        )
    assert undo.value.code == "settlement.manual_not_reversible"


def test_the_claim_uses_and_advances_the_persons_accumulators(chronic_world, agency_user):
    # Wuhan demo rule, employee, 门诊慢特病: deductible 600.00 a year, fund 80 %
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "1000.00", "pack_size": "28"}
    first = submit(agency_user, person, _designated_pharmacy(), [line], category="chronic_disease")
    second = submit(agency_user, person, _designated_pharmacy(), [line], category="chronic_disease")

    one = services.claim_decide(
        actor=colleague(agency_user), claim_id=first.pk, approve=True
    ).settlement
    two = services.claim_decide(
        actor=colleague(agency_user), claim_id=second.pk, approve=True
    ).settlement

    assert (one.deductible, one.fund) == (D("600.00"), D("320.00"))
    assert (two.deductible, two.fund) == (D("0.00"), D("800.00"))  # the deductible was met
    year = timezone.localdate().year
    rows = {(a.kind, a.scope): a.amount for a in Accumulator.objects.filter(person=person)}
    assert rows[("deductible", f"{year}:chronic_disease")] == D("600.00")
    assert rows[("fund", f"{year}:chronic_disease")] == D("1120.00")


def _designated_pharmacy():

    pharmacy = qualified_pharmacy(name="硚口演示药房", region_code="420102")
    designate(pharmacy)
    return pharmacy


def test_a_purchase_at_a_non_designated_pharmacy_is_self_pay_with_its_reason(
    chronic_world, agency_user, other_pharmacy
):
    # HB art. 31(1)–(2): bought in another province (no filing, HB art. 41) at a pharmacy
    # without designation
    person, drug = chronic_world
    claim = submit(
        agency_user,
        person,
        other_pharmacy,
        [{"drug_id": drug.pk, "quantity": 3, "unit_price": "12.50", "pack_size": "28"}],
        reason=ClaimReason.CROSS_PROVINCE,
        category="chronic_disease",
    )

    settlement = services.claim_decide(
        actor=colleague(agency_user), claim_id=claim.pk, approve=True
    ).settlement

    (line,) = settlement.lines.all()
    assert (line.self_pay_reason, line.full_self_pay, line.amount) == (
        "not_designated",
        D("37.50"),
        D("37.50"),
    )
    assert (settlement.fund, settlement.full_self_pay, settlement.personal) == (
        D("0.00"),
        D("37.50"),
        D("37.50"),
    )
    assert settlement.institution_id == other_pharmacy.pk


def test_a_claim_outside_the_prescriptions_validity_is_self_pay(
    dispensed, agency_user, pharmacist_user
):
    # HB art. 31(3): a purchase after the prescription's validity has no valid prescription

    Prescription.objects.filter(pk=dispensed.prescription_id).update(
        valid_until=timezone.localdate() - timedelta(days=1)
    )
    claim = submit(
        agency_user,
        dispensed.prescription.patient,
        dispensed.pharmacy,
        [lung_line(dispensed.lines.get().drug)],
        prescription_id=dispensed.prescription_id,
    )

    settlement = services.claim_decide(
        actor=colleague(agency_user), claim_id=claim.pk, approve=True
    ).settlement

    assert settlement.lines.get().self_pay_reason == "no_valid_prescription"
    assert settlement.fund == D("0.00") and settlement.personal == D("2000.00")


BAD_INPUTS = [
    ("zero quantity", {"lines": "quantity", "value": 0}, "settlement.invalid_quantity"),
    ("negative quantity", {"lines": "quantity", "value": -1}, "settlement.invalid_quantity"),
    ("fractional quantity", {"lines": "quantity", "value": "1.5"}, "settlement.invalid_quantity"),
    ("three decimals", {"lines": "unit_price", "value": "12.345"}, "settlement.invalid_price"),
    ("zero price", {"lines": "unit_price", "value": "0"}, "settlement.invalid_price"),
    ("no lines", {"lines": None}, "settlement.claim_invalid_lines"),
    ("wrong type", {"receipts": [("发票.gif", b"GIF89a" + b"\x00" * 20)]}, "receipt_bad_type"),
    (
        "over 10 MB",
        {"receipts": [("发票.pdf", b"%PDF" + b"0" * (10 * 1024 * 1024))]},
        "receipt_too_large",
    ),
    ("empty file", {"receipts": [("发票.pdf", b"")]}, "settlement.receipt_empty"),
    ("no receipt", {"receipts": []}, "settlement.receipt_required"),
    ("one bad of two", {"receipts": [("a.png", PNG), ("b.txt", b"hello")]}, "receipt_bad_type"),
    ("future date", {"purchased_on": "2999-01-01"}, "settlement.claim_invalid_date"),
    ("unknown reason", {"reason": "forgot"}, "settlement.claim_invalid_reason"),
]


@pytest.mark.parametrize(("case", "change", "code"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_with_a_code_and_nothing_is_written(
    chronic_world, agency_user, media_root, case, change, code
):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "10.00", "pack_size": "28"}
    kwargs = {"category": "chronic_disease"}
    if "lines" in change:
        kwargs["lines"] = (
            [] if change["lines"] is None else [line | {change["lines"]: change["value"]}]
        )
    else:
        kwargs |= change
    before = fingerprint(media_root)

    with pytest.raises(DomainError) as refused:
        submit(agency_user, person, _designated_pharmacy(), kwargs.pop("lines", [line]), **kwargs)

    assert refused.value.code.endswith(code)
    assert fingerprint(media_root) == before


def test_an_officer_of_another_region_is_told_not_found(
    chronic_world, agency_user, outsider_agency, media_root
):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "10.00", "pack_size": "28"}
    pharmacy = _designated_pharmacy()
    before = fingerprint(media_root)

    with pytest.raises(NotFound):
        submit(outsider_agency, person, pharmacy, [line], category="chronic_disease")
    assert fingerprint(media_root) == before

    claim = submit(agency_user, person, pharmacy, [line], category="chronic_disease")
    before = fingerprint(media_root)
    with pytest.raises(NotFound):
        services.claim_decide(actor=outsider_agency, claim_id=claim.pk, approve=True)
    assert fingerprint(media_root) == before


def test_only_agency_officers_submit_claims(chronic_world, pharmacist_user, media_root):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "10.00", "pack_size": "28"}
    with pytest.raises(PermissionDenied):
        submit(pharmacist_user, person, _designated_pharmacy(), [line], category="chronic_disease")
    assert ManualClaim.objects.count() == 0


def test_deciding_twice_is_refused_and_changes_nothing(chronic_world, agency_user, media_root):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "1000.00", "pack_size": "28"}
    claim = submit(agency_user, person, _designated_pharmacy(), [line], category="chronic_disease")
    services.claim_decide(actor=colleague(agency_user), claim_id=claim.pk, approve=True)
    before = fingerprint(media_root)

    for approve, note in ((True, ""), (False, "重复报销")):
        with pytest.raises(Conflict) as refused:
            services.claim_decide(
                actor=colleague(agency_user), claim_id=claim.pk, approve=approve, note=note
            )
        assert refused.value.code == "settlement.claim_decided"

    assert fingerprint(media_root) == before
    assert Settlement.objects.filter(kind=SettlementKind.MANUAL).count() == 1


def test_a_rejection_needs_a_note_and_settles_nothing(chronic_world, agency_user, media_root):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "1000.00", "pack_size": "28"}
    claim = submit(agency_user, person, _designated_pharmacy(), [line], category="chronic_disease")
    before = fingerprint(media_root)

    with pytest.raises(DomainError) as refused:
        services.claim_decide(
            actor=colleague(agency_user), claim_id=claim.pk, approve=False, note=" "
        )
    assert refused.value.code == "settlement.claim_note_required"
    assert fingerprint(media_root) == before

    rejected = services.claim_decide(
        actor=colleague(agency_user), claim_id=claim.pk, approve=False, note="票据与处方不符"
    )

    assert rejected.status == ClaimStatus.REJECTED and rejected.settlement is None
    assert rejected.decision_note == "票据与处方不符"
    assert Settlement.objects.count() == 0 and Accumulator.objects.count() == 0
    assert AuditEvent.objects.filter(action="settlement.claim_rejected").count() == 1


def test_a_purchase_already_settled_at_the_counter_cannot_be_claimed(
    dispensed, pharmacist_user, agency_user, media_root
):
    services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    before = fingerprint(media_root)

    with pytest.raises(Conflict) as refused:
        submit(
            agency_user,
            dispensed.prescription.patient,
            dispensed.pharmacy,
            [lung_line(dispensed.lines.get().drug)],
            prescription_id=dispensed.prescription_id,
        )

    assert refused.value.code == "settlement.claim_already_settled"
    assert fingerprint(media_root) == before


def test_a_claim_settled_at_the_counter_before_the_decision_is_refused_at_the_decision(
    dispensed, pharmacist_user, agency_user, media_root
):
    claim = submit(
        agency_user,
        dispensed.prescription.patient,
        dispensed.pharmacy,
        [lung_line(dispensed.lines.get().drug)],
        prescription_id=dispensed.prescription_id,
    )
    services.settlement_settle(  # the counter came back up and settled it after all
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )
    before = fingerprint(media_root)

    with pytest.raises(Conflict) as refused:
        services.claim_decide(actor=colleague(agency_user), claim_id=claim.pk, approve=True)

    assert refused.value.code == "settlement.claim_already_settled"
    assert fingerprint(media_root) == before
    assert Settlement.objects.get().status == SettlementStatus.SETTLED


def test_the_officer_who_entered_a_claim_does_not_decide_it(chronic_world, agency_user, media_root):
    person, drug = chronic_world
    line = {"drug_id": drug.pk, "quantity": 1, "unit_price": "1000.00", "pack_size": "28"}
    claim = submit(agency_user, person, _designated_pharmacy(), [line], category="chronic_disease")

    with pytest.raises(PermissionDenied) as refused:
        services.claim_decide(actor=agency_user, claim_id=claim.pk, approve=True)

    assert refused.value.code == "settlement.claim_same_officer"
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED and claim.settlement_id is None
    assert list(claim.history.values_list("to_status", flat=True)) == ["submitted"]
