"""An eligibility revoked for fraud: benefits end at once, the evidence is kept, and what the fund
paid under it since the fraud began is recovered, all in one transaction [HB art. 12; the
recovery HB art. 21–22, CX art. 13]."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from PIL import Image

from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.eligibility.models import (
    Eligibility,
    EligibilityStatus,
    EligibilityTransition,
    RevocationKind,
)
from dualchannel.eligibility.selectors import eligibility_benefits_active
from dualchannel.eligibility.services import EvidenceFile
from dualchannel.settlement import services
from dualchannel.settlement.models import (
    RecoveryBasis,
    RecoveryItem,
    RecoveryOrder,
    RecoveryStatus,
    Settlement,
)
from dualchannel.settlement.payable import ELIGIBILITY_INACTIVE
from dualchannel.settlement.tests.helpers import colleague
from dualchannel.tests.races import race_codes

pytestmark = pytest.mark.django_db
FUNDS = ("fund", "critical_illness", "assistance", "commercial")


@pytest.fixture
def settled(dispensed, pharmacist_user) -> Settlement:
    return services.settlement_settle(
        actor=pharmacist_user, prescription_id=dispensed.prescription_id, idempotency_key="s-1"
    )


def revoke(officer, eligibility, **overrides):
    values = {
        "actor": officer,
        "eligibility_id": eligibility.pk,
        "kind": RevocationKind.RESALE,
        "reason": "将所购药品转卖他人",
        "evidence": "稽核笔录及转卖聊天记录",
    }
    return services.eligibility_revoke_for_fraud(**(values | overrides))


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, format="PNG")
    return out.getvalue()


def state():
    return (
        sorted(Eligibility.objects.values_list("pk", "status", "revocation_kind")),
        EligibilityTransition.objects.count(),
        RecoveryOrder.objects.count(),
        RecoveryItem.objects.count(),
        AuditEvent.objects.count(),
    )


def test_an_officer_revokes_for_fraud_and_recovers_what_was_paid_under_it(settled, agency_user):
    """HB art. 12: an eligibility used by fraud (resale of the drug) is revoked, benefits end at
    once; HB art. 21–22: what the fund paid under it is recovered from the pharmacy."""
    eligibility = settled.prescription.eligibility

    result = revoke(agency_user, eligibility, file=EvidenceFile("笔录.png", png(), "image/png"))

    eligibility.refresh_from_db()
    assert eligibility.status == EligibilityStatus.REVOKED
    assert eligibility.revocation_kind == RevocationKind.RESALE
    assert eligibility.revocation_reason == "将所购药品转卖他人"
    assert eligibility.fraud_from == eligibility.effective_from  # the default
    assert eligibility.revocation_file.name.endswith(".png")
    assert "笔录" not in eligibility.revocation_file.name
    assert len(eligibility.revocation_file_sha256) == 64
    assert not eligibility_benefits_active(eligibility, on=settled.settled_on)
    (moved,) = eligibility.history.filter(to_status=EligibilityStatus.REVOKED)
    assert moved.reason == "将所购药品转卖他人" and moved.actor == agency_user
    (order,) = result.orders
    assert order.basis == RecoveryBasis.ELIGIBILITY_REVOKED
    assert order.status == RecoveryStatus.PENDING and order.institution_id == settled.institution_id
    assert order.fund == settled.fund and order.fund > 0
    (item,) = order.items.all()
    assert item.settlement == settled
    assert {line["reason"] for line in item.rerun["lines"]} == {ELIGIBILITY_INACTIVE}
    assert result.settlements == 1
    event = AuditEvent.objects.get(action="settlement.eligibility_revoked_recovery")
    assert event.summary["orders"] == [order.order_no] and event.summary["kind"] == "resale"
    assert AuditEvent.objects.filter(action="eligibility.eligibility_revoked").count() == 1


def test_settlements_before_the_fraud_began_are_not_recovered(settled, agency_user):
    """HB art. 12: only what was paid since the fraud date the officer gives is recovered."""
    eligibility = settled.prescription.eligibility
    later = settled.settled_on + timedelta(days=1)
    Settlement.objects.filter(pk=settled.pk).update(settled_on=settled.settled_on)

    result = revoke(agency_user, eligibility, fraud_from=later, today=later)

    assert result.orders == [] and result.settlements == 0
    eligibility.refresh_from_db()
    assert eligibility.status == EligibilityStatus.REVOKED and eligibility.fraud_from == later


def test_a_settlement_already_on_a_live_order_is_not_listed_twice(settled, agency_user):
    """HB art. 21–22: what is already being recovered (a violation's order) is not raised again."""
    services.violation_record(
        actor=agency_user,
        kind="over_treatment",
        reason="过度诊疗",
        settlement_ids=[settled.pk],
    )

    result = revoke(agency_user, settled.prescription.eligibility)

    assert result.orders == [] and result.left_out["on_live_order"] == 1


def test_a_revocation_without_a_reason_is_refused_and_nothing_is_written(settled, agency_user):
    """HB art. 12 (bad input): no reason → refused with a code, nothing written."""
    before = state()

    with pytest.raises(DomainError) as refused:
        revoke(agency_user, settled.prescription.eligibility, reason="  ")

    assert refused.value.code == "eligibility.reason_required"
    assert state() == before


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"kind": "bad_luck"}, "eligibility.revocation_invalid_kind"),
        ({"fraud_from": "2999-01-01"}, "eligibility.revocation_invalid_date"),
        (
            {"file": EvidenceFile("a.png", b"<html>no</html>", "image/png")},
            "eligibility.bad_file_type",
        ),
    ],
)
def test_bad_revocation_input_is_refused_with_nothing_written(
    settled, agency_user, overrides, code
):
    """HB art. 12 (bad input): an unknown kind, a future date, a file that is no image."""
    before = state()

    with pytest.raises(DomainError) as refused:
        revoke(agency_user, settled.prescription.eligibility, **overrides)

    assert refused.value.code == code
    assert state() == before


def test_another_regions_officer_and_other_roles_cannot_revoke(
    settled, outsider_agency, pharmacist_user
):
    """HB art. 12: the agency of the region revokes; others see nothing or are refused."""
    before = state()
    with pytest.raises(NotFound):
        revoke(outsider_agency, settled.prescription.eligibility)
    with pytest.raises(PermissionDenied):
        revoke(pharmacist_user, settled.prescription.eligibility)
    assert state() == before


def test_a_revoked_eligibility_cannot_be_revoked_again(settled, agency_user):
    """HB art. 12: revoked is final."""
    revoke(agency_user, settled.prescription.eligibility)
    before = state()

    with pytest.raises(Conflict):
        revoke(agency_user, settled.prescription.eligibility)

    assert state() == before


def test_the_officer_page_revokes_and_the_api_too(settled, agency_user, client, api_client):
    """HB art. 12: the officer's page lists the region's eligibilities and revokes one; the API
    answers with the orders raised."""
    client.force_login(agency_user)
    page = client.get(reverse("agency-revocations"))
    assert page.status_code == 200 and "取消用药资格" in page.content.decode()
    eligibility = settled.prescription.eligibility

    answer = client.post(
        reverse("agency-revocation-revoke", args=[eligibility.pk]),
        {"kind": "forged_documents", "reason": "伪造病理报告", "evidence": "医院复核函"},
    )

    assert answer.status_code == 302
    eligibility.refresh_from_db()
    assert eligibility.status == EligibilityStatus.REVOKED
    assert RecoveryOrder.objects.count() == 1


def test_the_api_revokes_with_a_code_on_bad_input(settled, agency_user, api_client):
    """HB art. 12 (bad input): the API refuses a revocation without a reason with its code."""
    api = api_client.as_user(agency_user)
    eligibility = settled.prescription.eligibility
    url = f"/api/v1/settlement/eligibilities/{eligibility.pk}/revoke"

    refused = api.post(url, {"kind": "resale", "reason": ""})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "eligibility.reason_required"

    done = api.post(url, {"kind": "resale", "reason": "转卖药品", "evidence": "笔录"})
    assert done.status_code == 201, done.content
    body = done.json()
    assert body["status"] == "revoked" and len(body["orders"]) == 1


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_officers_revoking_at_once_revoke_once_and_recover_once(settled, agency_user):
    """HB art. 12, 21–22: the eligibility's row lock serialises the two; one revocation, one
    recovery order."""
    other = colleague(agency_user)
    eligibility = settled.prescription.eligibility

    outcomes = race_codes(
        lambda: revoke(agency_user, eligibility),
        lambda: revoke(other, eligibility, kind=RevocationKind.CREDENTIAL_LENDING),
    )

    assert outcomes == ["eligibility.transition", "ok"]
    assert RecoveryOrder.objects.count() == 1
    assert eligibility.history.filter(to_status=EligibilityStatus.REVOKED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_finding_and_a_revocation_at_once_recover_the_settlement_once(settled, agency_user):
    """HB art. 12, 31(6), 21–22: whichever comes first raises the order; the other neither
    fails for it nor raises it again."""
    other = colleague(agency_user)

    outcomes = race_codes(
        lambda: revoke(agency_user, settled.prescription.eligibility),
        lambda: services.violation_record(
            actor=other, kind="over_treatment", reason="过度诊疗", settlement_ids=[settled.pk]
        ),
    )

    assert RecoveryItem.objects.filter(settlement=settled).count() == 1
    assert outcomes in (["ok", "ok"], ["ok", "settlement.recovery_duplicate"])
    eligibility = Eligibility.objects.get(pk=settled.prescription.eligibility_id)
    assert eligibility.status == EligibilityStatus.REVOKED
