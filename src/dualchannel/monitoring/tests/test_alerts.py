"""Alerts: raised once per rule and subject while open, reviewed by the region's officers."""

from __future__ import annotations

import pytest

from dualchannel.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.monitoring.models import Alert, AlertState
from dualchannel.monitoring.services import alert_raise, alert_raise_independent, alert_review

pytestmark = pytest.mark.django_db


def raise_one(institution, subject_id="T1", rule="trace_code_resold"):
    return alert_raise(
        rule=rule,
        severity="high",
        institution=institution,
        subject=("inventory.TraceCode", subject_id),
        evidence={"trace_code": "81234560000000000001"},
    )


def test_raising_writes_the_alert_its_history_and_an_audit_event(pharmacy):
    alert = raise_one(pharmacy)

    assert (alert.state, alert.occurrences, alert.institution_id) == ("open", 1, pharmacy.pk)
    assert alert.history.get().to_status == "open"
    event = AuditEvent.objects.get(action="monitoring.alert_raised")
    assert event.summary == {
        "rule": "trace_code_resold",
        "severity": "high",
        "institution_id": pharmacy.pk,
    }


def test_the_same_rule_and_subject_while_open_counts_again(pharmacy):
    first = raise_one(pharmacy)

    again = raise_one(pharmacy)

    assert again.pk == first.pk
    assert again.occurrences == 2
    assert Alert.objects.count() == 1
    assert raise_one(pharmacy, subject_id="T2").pk != first.pk
    assert raise_one(pharmacy, rule="trace_code_duplicate").pk != first.pk


def test_after_review_the_rule_opens_a_new_alert(pharmacy, agency_user):
    first = raise_one(pharmacy)
    alert_review(actor=agency_user, alert_id=first.pk, confirm=True, note="")

    second = raise_one(pharmacy)

    assert second.pk != first.pk
    assert second.state == "open"


def test_invalid_rule_or_severity_is_refused(pharmacy):
    with pytest.raises(DomainError):
        alert_raise(
            rule="Bad Rule", severity="high", institution=pharmacy, subject=("x", 1), evidence={}
        )
    with pytest.raises(DomainError):
        alert_raise(
            rule="ok", severity="urgent", institution=pharmacy, subject=("x", 1), evidence={}
        )
    assert not Alert.objects.exists()


def test_outside_any_transaction_the_independent_alert_is_an_ordinary_one(pharmacy):
    alert_raise_independent(
        rule="trace_code_resold",
        severity="high",
        institution=pharmacy,
        subject=("inventory.TraceCode", "9"),
        evidence={},
    )

    assert Alert.objects.get().subject_id == "9"


def test_an_officer_confirms_an_alert_of_the_region(pharmacy, agency_user):
    alert = raise_one(pharmacy)

    reviewed = alert_review(actor=agency_user, alert_id=alert.pk, confirm=True, note="已约谈药店")

    assert (reviewed.state, reviewed.reviewer, reviewed.reviewer_note) == (
        AlertState.CONFIRMED,
        agency_user,
        "已约谈药店",
    )
    assert reviewed.reviewed_at is not None
    assert list(reviewed.history.values_list("from_status", "to_status")) == [
        ("", "open"),
        ("open", "confirmed"),
    ]
    event = AuditEvent.objects.get(action="monitoring.alert_confirmed")
    assert event.summary == {"rule": "trace_code_resold", "from": "open", "to": "confirmed"}


def test_dismissing_needs_a_note(pharmacy, agency_user):
    alert = raise_one(pharmacy)

    with pytest.raises(DomainError) as refused:
        alert_review(actor=agency_user, alert_id=alert.pk, confirm=False, note=" ")
    alert.refresh_from_db()
    assert refused.value.code == "monitoring.note_required"
    assert alert.state == "open"

    alert_review(actor=agency_user, alert_id=alert.pk, confirm=False, note="扫码枪重复读取")
    alert.refresh_from_db()
    assert alert.state == "dismissed"


def test_a_reviewed_alert_cannot_be_reviewed_again(pharmacy, agency_user):
    alert = raise_one(pharmacy)
    alert_review(actor=agency_user, alert_id=alert.pk, confirm=True, note="")

    with pytest.raises(Conflict) as refused:
        alert_review(actor=agency_user, alert_id=alert.pk, confirm=False, note="改判")

    assert refused.value.code == "monitoring.alert_transition"
    assert Alert.objects.get().state == "confirmed"


def test_officers_of_another_region_and_other_roles_cannot_review(
    pharmacy, outsider_agency, pharmacist_user
):
    alert = raise_one(pharmacy)

    with pytest.raises(NotFound):
        alert_review(actor=outsider_agency, alert_id=alert.pk, confirm=True, note="")
    with pytest.raises(PermissionDenied):
        alert_review(actor=pharmacist_user, alert_id=alert.pk, confirm=True, note="")

    alert.refresh_from_db()
    assert alert.state == "open"
    assert alert.history.count() == 1


def test_the_api_lists_the_regions_alerts_and_reviews_one(
    api_client, pharmacy, other_pharmacy, agency_user
):
    ours = raise_one(pharmacy)
    raise_one(other_pharmacy, subject_id="T9")
    api_client.as_user(agency_user)

    listed = api_client.get("/api/v1/monitoring/alerts").json()
    reviewed = api_client.post_json(
        f"/api/v1/monitoring/alerts/{ours.pk}/review", {"confirm": False, "note": "误报"}
    )

    assert [a["id"] for a in listed] == [ours.pk]
    assert listed[0]["institution_name"] == pharmacy.name
    assert reviewed.status_code == 200
    assert reviewed.json()["state"] == "dismissed"
