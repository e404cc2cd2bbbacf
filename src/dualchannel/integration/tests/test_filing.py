"""Filing to the agency (2503/2504) through the client and the simulator."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from dualchannel.core.errors import Conflict, DomainError, PermissionDenied
from dualchannel.core.models import AuditEvent
from dualchannel.integration.models import PlatformCall, PlatformFiling, PlatformFilingTransition
from dualchannel.integration.nhsa import Operator, PlatformClient, PlatformError
from dualchannel.integration.services.filing import (
    MAX_ATTEMPTS,
    filing_cancel,
    filing_process,
    filing_retry,
    filing_submit,
)
from dualchannel.simulators.models import SimFault, SimFiling
from dualchannel.simulators.platform import simulator_fail_next

from .conftest import FILING_INPUT

SUBJECT = ("eligibility.Eligibility", "42")


def _history(filing):
    return list(
        PlatformFilingTransition.objects.filter(filing=filing)
        .order_by("id")
        .values_list("from_status", "to_status")
    )


def test_submit_files_2503_and_keeps_the_serial_number(
    reviewer_user, connected_hospital, filed_person
):
    filing = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )

    assert filing.status == "accepted" and filing.attempts == 1
    assert filing.trt_dcla_detl_sn.startswith("420102") and len(filing.trt_dcla_detl_sn) == 24
    assert filing.input["psn_no"] == filed_person.person_no
    assert filing.input["ide_fixmedins_no"] == "H42010200001"
    stored = SimFiling.objects.get(trt_dcla_detl_sn=filing.trt_dcla_detl_sn)
    assert stored.psn_no == filed_person.person_no and stored.opsp_dise_code == "C34.100x004"
    assert _history(filing) == [("", "pending"), ("pending", "sent"), ("sent", "accepted")]
    actions = list(
        AuditEvent.objects.filter(subject_id=str(filing.pk)).values_list("action", flat=True)
    )
    assert actions == [
        "integration.filing_created",
        "integration.filing_sent",
        "integration.filing_accepted",
    ]
    assert AuditEvent.objects.filter(subject_id=str(filing.pk), patient=filed_person).count() == 3


def test_submit_with_missing_fields_is_refused_and_nothing_is_written(
    reviewer_user, connected_hospital, filed_person
):
    bad = {k: v for k, v in FILING_INPUT.items() if k != "diag_dr_name"}

    with pytest.raises(DomainError) as exc:
        filing_submit(
            actor=reviewer_user,
            subject=SUBJECT,
            person=filed_person,
            institution=connected_hospital,
            input={**bad, "opsp_dise_code": "", "bogus": "x"},
        )

    assert exc.value.code == "integration.filing_invalid_input"
    assert "bogus" in exc.value.fields
    assert not PlatformFiling.objects.exists() and not PlatformCall.objects.exists()


def test_missing_fields_reach_the_simulator_as_a_refusal(connected_hospital, filed_person):

    client = PlatformClient(connected_hospital, Operator("R1", "审核员"))

    with pytest.raises(PlatformError) as exc:
        client.call(
            "2503",
            {"data": {"psn_no": filed_person.person_no, "insutype": "310"}},
            insuplc_admdvs="420102",
        )

    assert "必填字段为空" in exc.value.err_msg and "诊断医师姓名" in exc.value.err_msg
    assert not exc.value.retryable
    assert not SimFiling.objects.exists()


def test_outsider_cannot_file_for_another_institution(
    outsider_reviewer, connected_hospital, filed_person
):
    with pytest.raises(PermissionDenied):
        filing_submit(
            actor=outsider_reviewer,
            subject=SUBJECT,
            person=filed_person,
            institution=connected_hospital,
            input=FILING_INPUT,
        )

    assert not PlatformFiling.objects.exists()


def test_institution_without_platform_code_cannot_file(reviewer_user, hospital, filed_person):
    with pytest.raises(DomainError) as exc:
        filing_submit(
            actor=reviewer_user,
            subject=SUBJECT,
            person=filed_person,
            institution=hospital,
            input=FILING_INPUT,
        )

    assert exc.value.code == "integration.institution_not_connected"
    assert not PlatformFiling.objects.exists()


def test_failed_filing_is_retried_with_the_same_key_and_filed_once(
    reviewer_user, agency_user, connected_hospital, filed_person
):
    simulator_fail_next(1, mode="timeout", infno="2503")
    filing = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )
    assert filing.status == "failed" and filing.last_error and filing.last_infcode == ""

    retried = filing_retry(filing, actor=agency_user)

    assert retried.status == "accepted" and retried.attempts == 2
    assert SimFiling.objects.count() == 1
    keys = set(PlatformCall.objects.filter(infno="2503").values_list("idempotency_key", flat=True))
    assert keys == {filing.idempotency_key}
    assert _history(retried)[-3:] == [("sent", "failed"), ("failed", "sent"), ("sent", "accepted")]


def test_platform_dedupes_a_second_2503_of_the_same_case(
    reviewer_user, connected_hospital, filed_person
):
    first = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )

    second = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )

    assert second.trt_dcla_detl_sn == first.trt_dcla_detl_sn
    assert SimFiling.objects.count() == 1
    answer = PlatformCall.objects.filter(infno="2503").order_by("id").last().response
    assert "原备案流水号" in answer["warn_msg"]


def test_retry_of_an_accepted_filing_is_refused(reviewer_user, connected_hospital, filed_person):
    filing = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )
    calls = PlatformCall.objects.count()

    with pytest.raises(Conflict) as exc:
        filing_retry(filing, actor=reviewer_user)

    assert exc.value.code == "integration.filing_not_retryable"
    assert PlatformCall.objects.count() == calls
    filing.refresh_from_db()
    assert filing.status == "accepted" and filing.attempts == 1


def test_busy_platform_until_attempts_run_out_makes_the_filing_dead(
    reviewer_user, connected_hospital, filed_person
):
    simulator_fail_next(MAX_ATTEMPTS, infno="2503")
    filing = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )
    for _ in range(MAX_ATTEMPTS - 1):
        filing = filing_process(filing.pk)

    assert filing.status == "dead" and filing.attempts == MAX_ATTEMPTS
    assert "繁忙" in filing.last_error
    assert filing_process(filing.pk).status == "dead"  # jobs leave dead filings alone
    assert filing_retry(filing, actor=reviewer_user).status == "accepted"  # a person may


def test_refused_filing_is_dead_at_once(reviewer_user, connected_hospital, filed_person):
    filed_person.person_no = "UNKNOWN0001"  # not what the platform knows
    filing = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )

    assert filing.status == "dead" and "人员编号不存在" in filing.last_error
    assert filing.last_infcode == "-1"


def test_cancel_sends_2504_and_marks_the_filing_cancelled(
    reviewer_user, connected_hospital, filed_person
):
    filing = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )

    cancel = filing_cancel(actor=reviewer_user, filing=filing, reason="复查评估结论为停药")

    filing.refresh_from_db()
    assert cancel.kind == "2504" and cancel.status == "accepted" and cancel.target == filing
    assert cancel.trt_dcla_detl_sn == filing.trt_dcla_detl_sn
    assert filing.status == "cancelled"
    assert SimFiling.objects.get().cancelled_at is not None
    assert _history(filing)[-1] == ("accepted", "cancelled")


def test_cancel_twice_is_refused(reviewer_user, connected_hospital, filed_person):
    filing = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )
    filing_cancel(actor=reviewer_user, filing=filing, reason="停药")

    with pytest.raises(Conflict):
        filing_cancel(actor=reviewer_user, filing=filing, reason="停药")
    with pytest.raises(DomainError):
        filing_cancel(actor=reviewer_user, filing=filing, reason=" ")

    assert PlatformFiling.objects.filter(kind="2504").count() == 1


def test_2504_of_an_unknown_filing_is_refused_by_the_platform(connected_hospital):

    client = PlatformClient(connected_hospital, Operator("R1", "审核员"))

    with pytest.raises(PlatformError) as exc:
        client.call("2504", {"data": {"trt_dcla_detl_sn": "420102202601010000000999"}})

    assert "未找到" in exc.value.err_msg


def test_2504_of_an_already_cancelled_filing_is_refused(
    reviewer_user, connected_hospital, filed_person
):

    filing = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )
    filing_cancel(actor=reviewer_user, filing=filing, reason="停药")
    client = PlatformClient(connected_hospital, Operator("R1", "审核员"))

    with pytest.raises(PlatformError) as exc:
        client.call("2504", {"data": {"trt_dcla_detl_sn": filing.trt_dcla_detl_sn}})

    assert "已撤销" in exc.value.err_msg


def test_5301_lists_the_persons_filings(reviewer_user, connected_hospital, filed_person):

    filing = filing_submit(
        actor=reviewer_user,
        subject=SUBJECT,
        person=filed_person,
        institution=connected_hospital,
        input=FILING_INPUT,
    )
    client = PlatformClient(connected_hospital, Operator("R1", "审核员"))

    output = client.call("5301", {"data": {"psn_no": filed_person.person_no}})

    (row,) = output["feedetail"]
    assert row["trt_dcla_detl_sn"] == filing.trt_dcla_detl_sn and row["vali_flag"] == "1"


def test_filing_process_sends_a_pending_filing(reviewer_user, connected_hospital, filed_person):
    filing = PlatformFiling.objects.create(
        kind="2503",
        subject_type="x.Y",
        subject_id="1",
        person=filed_person,
        institution=connected_hospital,
        input={
            "psn_no": filed_person.person_no,
            "insutype": "310",
            "insu_optins": "420102",
            "ide_fixmedins_no": "H42010200001",
            "ide_fixmedins_name": connected_hospital.name,
            "hosp_ide_date": "2026-03-01",
            **FILING_INPUT,
        },
        idempotency_key="filing:pending-test",
    )

    processed = filing_process(filing.pk)

    assert processed.status == "accepted" and processed.trt_dcla_detl_sn


def test_fault_command_switches_the_simulator(db):

    call_command("nhsa_simulator_fault", "--next", "2", "--mode", "timeout", stdout=None)
    assert SimFault.objects.get().remaining == 2
    call_command("nhsa_simulator_fault", "--clear", stdout=None)
    assert not SimFault.objects.exists()
