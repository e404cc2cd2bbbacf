"""The national-platform client against the in-process simulator."""

from __future__ import annotations

import logging

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.integration.models import PlatformCall, PlatformSession
from dualchannel.integration.nhsa import Operator, PlatformClient, PlatformError
from dualchannel.simulators.models import SimSession
from dualchannel.simulators.platform import simulator_fail_next

from .conftest import HOSPITAL_CODE

OPERATOR = Operator(code="R001", name="审核员")


def test_sign_in_keeps_one_session_per_institution_and_operator(connected_hospital):
    client = PlatformClient(connected_hospital, OPERATOR)

    first = client.sign_no()
    second = client.sign_no()

    assert first == second and len(first) == 30
    session = PlatformSession.objects.get(institution=connected_hospital, opter="R001")
    assert session.sign_no == first and session.invalidated_at is None
    assert PlatformCall.objects.filter(infno="9001").count() == 1


def test_call_returns_output_and_logs_without_personal_data(
    connected_hospital, filed_person, caplog
):
    client = PlatformClient(connected_hospital, OPERATOR)
    caplog.set_level(logging.INFO, logger="dualchannel.integration.nhsa")

    output = client.call(
        "1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": filed_person.id_number}}
    )

    assert output["baseinfo"]["psn_no"] == filed_person.person_no
    assert output["insuinfo"][0]["insuplc_admdvs"] == "420102"
    assert output["insuinfo"][0]["insutype"] == "310"
    call = PlatformCall.objects.get(infno="1101")
    assert call.infcode == "0" and call.msgid.startswith(HOSPITAL_CODE) and len(call.msgid) == 30
    assert call.request["input"]["data"]["mdtrt_cert_no"] == filed_person.id_number
    assert call.response["output"]["baseinfo"]["psn_name"] == "张伟"
    assert "infno=1101" in caplog.text
    assert filed_person.id_number not in caplog.text and "张伟" not in caplog.text


def test_unknown_person_is_refused_and_logged(connected_hospital):
    client = PlatformClient(connected_hospital, OPERATOR)

    with pytest.raises(PlatformError) as exc:
        client.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "X"}})

    assert exc.value.infcode == "-1" and not exc.value.retryable
    assert "未查询到" in exc.value.err_msg
    assert PlatformCall.objects.get(infno="1101").infcode == "-1"


def test_unknown_infno_is_refused_by_the_simulator(connected_hospital):
    client = PlatformClient(connected_hospital, OPERATOR)

    with pytest.raises(PlatformError) as exc:
        client.call("8888", {"data": {}})

    assert exc.value.infcode == "-1"
    assert "交易编号[8888]不存在" in exc.value.err_msg


def test_unregistered_institution_cannot_sign_in(hospital):
    hospital.platform_code = "H99999999999"  # in memory only: the registry does not know it
    client = PlatformClient(hospital, OPERATOR)

    with pytest.raises(PlatformError) as exc:
        client.sign_in()

    assert "未登记" in exc.value.err_msg
    assert not PlatformSession.objects.exists()


def test_wrong_length_code_is_refused_before_sending(hospital):
    hospital.platform_code = "H4201"

    with pytest.raises(DomainError) as exc:
        PlatformClient(hospital, OPERATOR)

    assert exc.value.code == "integration.invalid_envelope"
    assert "fixmedins_code" in exc.value.fields
    assert not PlatformCall.objects.exists()


def test_expired_session_is_signed_in_again_once(connected_hospital, filed_person):
    client = PlatformClient(connected_hospital, OPERATOR)
    old = client.sign_no()
    SimSession.objects.filter(sign_no=old).delete()  # the platform forgot the session

    output = client.call(
        "1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": filed_person.id_number}}
    )

    assert output["baseinfo"]["psn_no"] == filed_person.person_no
    new = PlatformSession.objects.get(institution=connected_hospital, invalidated_at=None)
    assert new.sign_no != old
    assert PlatformSession.objects.get(sign_no=old).invalidated_at is not None
    assert list(PlatformCall.objects.order_by("id").values_list("infno", "infcode")) == [
        ("9001", "0"),
        ("1101", "-1"),
        ("9001", "0"),
        ("1101", "0"),
    ]


def test_busy_platform_is_retryable_and_timeout_too(connected_hospital, filed_person):
    client = PlatformClient(connected_hospital, OPERATOR)
    client.sign_no()
    simulator_fail_next(1, mode="error")
    simulator_fail_next(1, mode="timeout")
    query = {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": filed_person.id_number}}

    with pytest.raises(PlatformError) as busy:
        client.call("1101", query)
    with pytest.raises(PlatformError) as timeout:
        client.call("1101", query)
    output = client.call("1101", query)

    assert busy.value.infcode == "-1" and busy.value.retryable
    assert timeout.value.infcode == "" and timeout.value.retryable
    assert output["baseinfo"]["psn_no"] == filed_person.person_no
    last = PlatformCall.objects.filter(infno="1101").order_by("id")
    assert [c.infcode for c in last] == ["-1", "", "0"]


def test_idempotency_key_returns_stored_answer_without_calling(connected_hospital, filed_person):
    client = PlatformClient(connected_hospital, OPERATOR)
    query = {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": filed_person.id_number}}

    first = client.call("1101", query, key="k-1")
    calls = PlatformCall.objects.count()
    again = client.call("1101", query, key="k-1")

    assert again == first
    assert PlatformCall.objects.count() == calls


def test_failed_key_is_sent_again(connected_hospital, filed_person):
    client = PlatformClient(connected_hospital, OPERATOR)
    client.sign_no()
    query = {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": filed_person.id_number}}
    simulator_fail_next(1)

    with pytest.raises(PlatformError):
        client.call("1101", query, key="k-2")
    output = client.call("1101", query, key="k-2")

    assert output["baseinfo"]["psn_no"] == filed_person.person_no
    assert PlatformCall.objects.filter(idempotency_key="k-2").count() == 2
