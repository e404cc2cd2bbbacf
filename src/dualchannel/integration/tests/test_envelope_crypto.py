"""Envelope fields and lengths, msgid sequence, SM2 signature and SM4 encryption."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from dualchannel.core.errors import DomainError
from dualchannel.integration.models import PlatformCall
from dualchannel.integration.nhsa import (
    Operator,
    PlatformClient,
    PlatformError,
    Signer,
    Sm2KeyPair,
    Sm2Signer,
    Sm4Cipher,
    build_envelope,
    next_msgid,
)
from dualchannel.integration.nhsa.crypto import sm2_verify
from dualchannel.integration.nhsa.envelope import FIELDS
from dualchannel.simulators.platform import handle, simulator_register_keys

from .conftest import HOSPITAL_CODE

SH = ZoneInfo("Asia/Shanghai")
OPERATOR = Operator("R001", "审核员")


def _envelope(**overrides):
    values = {
        "infno": "1101",
        "msgid": f"{HOSPITAL_CODE}202603011230450001",
        "fixmedins_code": HOSPITAL_CODE,
        "fixmedins_name": "武汉演示协和医院",
        "mdtrtarea_admvs": "420102",
        "operator": OPERATOR,
        "input": {"data": {}},
        "inf_time": datetime(2026, 3, 1, 12, 30, 45, tzinfo=SH),
    }
    values.update(overrides)
    return build_envelope(**values)


def test_envelope_has_every_reference_field():
    envelope = _envelope(sign_no="1" * 30, insuplc_admdvs="420102")

    assert set(envelope) == set(FIELDS)
    assert envelope["infver"] == "V1.0" and envelope["opter_type"] == "1"
    assert envelope["inf_time"] == "2026-03-01 12:30:45"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"fixmedins_code": "H4201020000"}, "fixmedins_code"),
        ({"infno": "11011"[:3]}, "infno"),
        ({"mdtrtarea_admvs": "4201"}, "mdtrtarea_admvs"),
        ({"insuplc_admdvs": "42010X"}, "insuplc_admdvs"),
        ({"msgid": "H4201020000120260301123045001"}, "msgid"),
        ({"msgid": "H99999999999202603011230450001"}, "msgid"),
        ({"dev_no": "d" * 101}, "dev_no"),
        ({"cainfo": "c" * 1025}, "cainfo"),
        ({"sign_no": "s" * 31}, "sign_no"),
        ({"operator": Operator("o" * 31, "x")}, "opter"),
        ({"operator": Operator("o", "x", type="9")}, "opter_type"),
        ({"input": {"data": {"x": "y" * 40001}}}, "input"),
    ],
)
def test_bad_envelope_fields_are_refused(override, field):
    with pytest.raises(DomainError) as exc:
        _envelope(**override)

    assert exc.value.code == "integration.invalid_envelope"
    assert field in exc.value.fields


def test_msgid_sequence_counts_per_second_and_restarts(db):
    moment = datetime(2026, 3, 1, 12, 0, 0, tzinfo=SH)

    first = next_msgid(HOSPITAL_CODE, now=moment)
    second = next_msgid(HOSPITAL_CODE, now=moment)
    later = next_msgid(HOSPITAL_CODE, now=moment.replace(second=1))

    assert first == f"{HOSPITAL_CODE}202603011200000001"
    assert second.endswith("0002") and later == f"{HOSPITAL_CODE}202603011200010001"
    assert len(first) == 30


def test_msgid_time_is_shanghai_time(db):
    utc = datetime(2026, 3, 1, 4, 0, 0, tzinfo=ZoneInfo("UTC"))

    assert next_msgid(HOSPITAL_CODE, now=utc)[12:26] == "20260301120000"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_msgids_are_unique_across_concurrent_threads():
    moment = datetime(2026, 3, 1, 12, 0, 0, tzinfo=SH)
    found: list[str] = []
    errors: list[Exception] = []

    def worker():
        try:
            for _ in range(10):
                found.append(next_msgid(HOSPITAL_CODE, now=moment))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors
    assert len(found) == 80 and len(set(found)) == 80
    assert max(found).endswith("0080")


def test_unknown_infno_and_garbage_on_the_simulator(connected_hospital):
    answer = handle(_envelope(infno="7777", sign_no="x"))
    garbage = handle({"infno": "1101"})

    assert answer["infcode"] == "-1" and "7777" in answer["err_msg"]
    assert len(answer["inf_refmsgid"]) == 30 and answer["inf_refmsgid"].startswith("420102")
    assert len(answer["respond_time"]) == 17 and len(answer["refmsg_time"]) == 17
    assert garbage["infcode"] == "-1" and "报文校验失败" in garbage["err_msg"]


def test_same_msgid_gets_the_same_answer_and_other_content_is_refused(connected_hospital):
    envelope = _envelope(infno="9001", input={"signIn": {"opter_no": "R001"}})

    first = handle(envelope)
    again = handle(envelope)
    changed = handle({**envelope, "opter_name": "别人"})

    assert first["infcode"] == "0" and again == first
    assert changed["infcode"] == "-1" and "报文ID重复" in changed["err_msg"]


def test_sm2_signature_is_verified_by_the_simulator(connected_hospital, filed_person):
    keys = Sm2KeyPair.generate()
    simulator_register_keys(HOSPITAL_CODE, sm2_public_key=keys.public_key)
    signed = PlatformClient(
        connected_hospital, OPERATOR, signer=Sm2Signer(keys.private_key, keys.public_key)
    )
    other = Sm2KeyPair.generate()
    forged = PlatformClient(
        connected_hospital,
        Operator("R002", "x"),
        signer=Sm2Signer(other.private_key, other.public_key),
    )
    unsigned = PlatformClient(connected_hospital, Operator("R003", "x"), signer=Signer())

    output = signed.call(
        "1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": filed_person.id_number}}
    )
    with pytest.raises(PlatformError) as bad:
        forged.sign_in()
    with pytest.raises(PlatformError) as missing:
        unsigned.sign_in()

    assert output["baseinfo"]["psn_no"] == filed_person.person_no
    call = PlatformCall.objects.filter(infno="1101").get()
    assert call.request["signtype"] == "SM2" and len(call.request["cainfo"]) == 128
    assert "签名验证失败" in bad.value.err_msg and "签名验证失败" in missing.value.err_msg


def test_sm4_encrypted_input_is_decrypted_by_the_simulator(connected_hospital, filed_person):
    keys = Sm2KeyPair.generate()
    sm4_key = Sm4Cipher.generate_key()
    simulator_register_keys(HOSPITAL_CODE, sm2_public_key=keys.public_key, sm4_key_hex=sm4_key)
    client = PlatformClient(
        connected_hospital,
        OPERATOR,
        signer=Sm2Signer(keys.private_key, keys.public_key),
        cipher=Sm4Cipher(sm4_key),
    )
    query = {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": filed_person.id_number}}

    output = client.call("1101", query)

    assert output["baseinfo"]["psn_no"] == filed_person.person_no
    call = PlatformCall.objects.filter(infno="1101").get()
    assert isinstance(call.request["input"], str)
    assert filed_person.id_number not in call.request["input"]
    assert call.request["_plain_input"] == query
    wrong_key = PlatformClient(
        connected_hospital,
        Operator("R009", "x"),
        signer=Sm2Signer(keys.private_key, keys.public_key),
        cipher=Sm4Cipher(Sm4Cipher.generate_key()),
    )
    with pytest.raises(PlatformError) as exc:
        wrong_key.sign_in()
    assert "解密失败" in exc.value.err_msg


def test_sm4_round_trip_and_bad_key():
    cipher = Sm4Cipher(Sm4Cipher.generate_key())

    assert cipher.decrypt(cipher.encrypt({"名": "值"})) == {"名": "值"}
    with pytest.raises(ValueError):
        Sm4Cipher("00")


def test_a_public_key_starting_with_04_signs_and_verifies():
    # gmssl's constructor runs lstrip("04") on a public key that starts with "04": one key in 256
    # lost its leading characters and failed with an odd-length hex string (seen once in CI).
    keys = Sm2KeyPair.generate()
    while not keys.public_key.startswith("04"):
        keys = Sm2KeyPair.generate()
    data = {"data": {"psn_no": "42000000000000000001"}}

    signature = Sm2Signer(keys.private_key, keys.public_key).sign(data)

    assert len(keys.public_key) == 128 and len(signature) == 128
    assert sm2_verify(keys.public_key, signature, data)
    assert not sm2_verify(keys.public_key, signature, {"data": {"psn_no": "other"}})
