"""The agency's page of monitoring alerts (issue 12, point 5): listed in words, confirmed or
dismissed with a note by the region's officers; others see and change nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.core.models import AuditEvent
from dualchannel.monitoring.evidence import AGENT_PATIENT_RELATIONS
from dualchannel.monitoring.models import Alert, AlertState
from dualchannel.monitoring.services import alert_raise
from dualchannel.prescriptions.models import AgentRelation
from dualchannel.registry.tests.factories import InsuredPersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(pharmacy):
    return alert_raise(
        rule="trace_code_resold",
        severity="high",
        institution=pharmacy,
        subject=("inventory.TraceCode", "T1"),
        evidence={"trace_code": "81234560000000000001"},
    )


def _state():
    return (
        list(Alert.objects.values_list("state", "reviewer_note")),
        AuditEvent.objects.count(),
    )


def test_the_officer_reads_the_alert_in_words_and_confirms_it(client, agency_user, alert):
    client.force_login(agency_user)

    page = client.get(reverse("agency-alerts")).content.decode()
    answer = client.post(
        reverse("agency-alert-review", args=[alert.pk]),
        {"decision": "confirm", "note": "核实属实"},
        HTTP_HX_REQUEST="true",
    ).content.decode()

    assert "追溯码重复销售" in page and "81234560000000000001" in page
    table = page[page.index('id="alerts"') :]  # the filter's options carry codes as values
    assert table.index("追溯码重复销售") < table.index("trace_code_resold")  # code in details
    alert.refresh_from_db()
    assert alert.state == AlertState.CONFIRMED and alert.reviewer == agency_user
    assert "已确认预警属实" in answer
    assert list(alert.history.values_list("to_status", flat=True)) == ["open", "confirmed"]


def test_dismissing_without_a_note_is_refused_in_chinese_and_changes_nothing(
    client, agency_user, alert
):
    client.force_login(agency_user)
    before = _state()

    answer = client.post(
        reverse("agency-alert-review", args=[alert.pk]),
        {"decision": "dismiss", "note": ""},
        HTTP_HX_REQUEST="true",
    ).content.decode()

    assert "排除预警须填写核查说明" in answer and 'role="alert"' in answer
    assert _state() == before


def test_an_officer_of_another_region_neither_sees_nor_reviews(client, outsider_agency, alert):
    client.force_login(outsider_agency)
    before = _state()

    page = client.get(reverse("agency-alerts")).content.decode()
    response = client.post(
        reverse("agency-alert-review", args=[alert.pk]), {"decision": "confirm", "note": ""}
    )

    assert "81234560000000000001" not in page
    assert response.status_code == 404 and _state() == before


def test_other_roles_are_refused(client, pharmacist_user, alert):
    client.force_login(pharmacist_user)

    assert client.get(reverse("agency-alerts")).status_code == 403
    assert client.post(reverse("agency-alert-review", args=[alert.pk])).status_code == 403


def test_an_agent_alert_lists_the_patients_masked_with_the_declared_relation(
    client, agency_user, pharmacy
):
    # given the agent rule's alert naming two patients: one entrusted, one from before the
    # counter asked the relation
    li = InsuredPersonFactory(name="李秀英", id_number="420102196002021238")
    wang = InsuredPersonFactory(name="王大明", id_number="420102196003031231")
    raised = alert_raise(
        rule="agent_many_patients",
        severity="warning",
        institution=pharmacy,
        subject=("agent_month", "abc:2026-03"),
        evidence={
            "agent": "abc",
            "patient_count": 2,
            "relation": "not_recorded",
            "agent_patients": [[li.pk, "entrusted"], [wang.pk, ""]],
            "unrecorded_count": 1,
        },
    )
    client.force_login(agency_user)

    page = client.get(reverse("agency-alert", args=[raised.pk])).content.decode()

    # then the rule is named as counting unrelated patients, the relation check is cited, and
    # each patient is masked with the relation the agent declared
    assert "同一代办人为多名非近亲属参保人代购药品" in page
    assert "声明为配偶、父母、子女或其他近亲属的不计入" in page
    assert "李**（420102********1238）：其他（受委托人）" in page
    assert "王**（420102********1231）：关系未登记（关系登记启用前的发药）" in page
    assert "柜台未登记代办人与参保人的关系" in page
    assert "李秀英" not in page and "420102196002021238" not in page


def test_the_alert_words_of_the_relations_are_the_counters():
    assert {k: v for k, v in AGENT_PATIENT_RELATIONS.items() if k} == dict(AgentRelation.choices)
