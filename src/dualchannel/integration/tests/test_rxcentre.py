"""The e-prescription-centre client against its simulator, in process and over HTTP."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone

from dualchannel.integration.models import RxCentreCall
from dualchannel.integration.nhsa import Operator, Sm2KeyPair, Sm2Signer, Sm4Cipher
from dualchannel.integration.rxcentre import (
    HttpTransport,
    RxCentreClient,
    RxCentreError,
    SimulatorTransport,
    default_transport,
    wire,
)
from dualchannel.integration.rxcentre.client import default_cipher
from dualchannel.simulators.models import SimRx, SimRxStatus
from dualchannel.simulators.rxcentre import (
    handle,
    rxcentre_fail_next,
    rxcentre_register_keys,
    rxcentre_register_stock_hook,
    rxcentre_verify_sign_digest,
)

from .conftest import HOSPITAL_CODE

PHARMACY_CODE = "P42010200001"
DRUG = "XL01XED321A001010101234"
OTHER_DRUG = "XL01XE23A001010101239"
PATIENT_NAME = "张伟"
PATIENT_CERTNO = "420102199001011237"
DOCTOR = Operator("D420102000001", "李明")
PHARMACIST = Operator("P001", "王药师")
TIME = "%Y-%m-%d %H:%M:%S"


@pytest.fixture
def connected_pharmacy(pharmacy):
    pharmacy.platform_code = PHARMACY_CODE
    pharmacy.save(update_fields=["platform_code"])
    return pharmacy


@pytest.fixture
def stock_hook():
    seen = []

    def answer(fixmedins_code, quantities):
        seen.append((fixmedins_code, quantities))
        return wire.STOCK_PARTLY

    previous = rxcentre_register_stock_hook(answer)
    yield seen
    rxcentre_register_stock_hook(previous)


class CountingTransport(SimulatorTransport):
    def __init__(self):
        self.sent = []

    def send(self, api, request):
        self.sent.append(api)
        return super().send(api, request)


_PRESCRIBED: dict[str, object] = {}


@pytest.fixture(autouse=True)
def _prescribed_once():
    """One prescribing time per test (five minutes ago): two payloads built a second apart in
    one test (check, then sign) must be the same prescription, or the centre rightly refuses
    the signature."""
    _PRESCRIBED["at"] = timezone.localtime() - timedelta(minutes=5)
    yield
    _PRESCRIBED.clear()


def rx_payload(hosp_rxno="RX20260301001", **overrides):
    prescribed = _PRESCRIBED.get("at") or timezone.localtime() - timedelta(minutes=5)
    payload = {
        "mdtrtCertType": "02",
        "mdtrtCertNo": PATIENT_CERTNO,
        "bizTypeCode": "01",
        "rxExraAttrCode": "01",
        "hospRxno": hosp_rxno,
        "rxTypeCode": "1",
        "prscTime": prescribed.strftime(TIME),
        "rxDrugCnt": 2,
        "valiDays": 3,
        "valiEndTime": (prescribed + timedelta(days=3)).strftime(TIME),
        "longRxFlag": "0",
        "rxdrugdetail": [
            _drug(DRUG, "洛拉替尼片", Decimal("30")),
            _drug(OTHER_DRUG, "奥希替尼片", Decimal("10")),
        ],
        "mdtrtinfo": {
            "fixmedinsCode": HOSPITAL_CODE,
            "medType": "15",
            "patnName": PATIENT_NAME,
            "psnCertType": "01",
            "certno": PATIENT_CERTNO,
            "prscDeptName": "肿瘤科",
            "drCode": DOCTOR.code,
            "prscDrName": DOCTOR.name,
        },
        "diseinfo": [
            {"diagType": "1", "maindiagFlag": "1", "diagCode": "C34.1", "diagName": "肺恶性肿瘤"}
        ],
    }
    payload.update(overrides)
    return payload


def _drug(code, name, count):
    return {
        "medListCodg": code,
        "rxItemTypeCode": "11",
        "drugGenname": name,
        "drugDosform": "片剂",
        "drugSpec": "100mg",
        "drugCnt": count,
        "drugDosunt": "片",
        "medcDays": 30,
        "medcWayCodg": "1",
        "sinDoscnt": "1",
        "sinDosunt": "片",
        "usedFrquCodg": "qd",
    }


def dispense_line(code=DRUG, count="30", traces=("81234560000000000001",), **overrides):
    line = {
        "medListCodg": code,
        "bchno": "B20260301-01",
        "manuLotnum": "LOT2401",
        "expyEnd": (timezone.localdate() + timedelta(days=365)).isoformat(),
        "cnt": Decimal(count),
        "aprvno": "国药准字HJ20190001",
        "prdrName": "辉瑞制药有限公司",
        "drugtracinfo": [{"drug_trac_codg": t} for t in traces],
    }
    line.update(overrides)
    return line


def issue(hospital_client, payload=None):
    """Pre-check, sign and upload; returns the hiRxno."""
    payload = payload or rx_payload()
    checked = hospital_client.upload_check(payload)
    signed = hospital_client.sign(payload)
    uploaded = hospital_client.upload(
        checked["rxTraceCode"], signed["rxFile"], signed["signDigest"]
    )
    return uploaded["hiRxno"]


def review(pharmacy_client, hi_rxno, result=wire.REVIEW_APPROVED, opinion="同意"):
    return pharmacy_client.pharmacy_review_upload(
        hi_rxno, PHARMACIST.name, "PC4201000001", result, opinion
    )


def refused(call, *args, **kwargs) -> RxCentreError:
    with pytest.raises(RxCentreError) as exc:
        call(*args, **kwargs)
    return exc.value


@pytest.fixture(params=["in-process", "http"])
def transport(request):
    if request.param == "http":
        live_server = request.getfixturevalue("live_server")
        return HttpTransport(f"{live_server.url}/simulators/rxcentre", timeout=10)
    return SimulatorTransport()


@pytest.fixture
def hospital_client(connected_hospital):
    return RxCentreClient(connected_hospital, DOCTOR)


@pytest.fixture
def pharmacy_client(connected_pharmacy):
    return RxCentreClient(connected_pharmacy, PHARMACIST)


# --- the whole flow -------------------------------------------------------------------------------


def test_full_flow(transport, connected_hospital, connected_pharmacy, caplog):
    hospital = RxCentreClient(connected_hospital, DOCTOR, transport=transport)
    pharmacy = RxCentreClient(connected_pharmacy, PHARMACIST, transport=transport)
    caplog.set_level(logging.INFO, logger="dualchannel.integration")
    payload = rx_payload()

    checked = hospital.upload_check(payload)
    signed = hospital.sign(payload)
    uploaded = hospital.upload(checked["rxTraceCode"], signed["rxFile"], signed["signDigest"])
    hi_rxno = uploaded["hiRxno"]
    reviewed = review(pharmacy, hi_rxno)
    review_seen = hospital.review_result(hi_rxno)
    dispensed = pharmacy.pharmacy_dispense_upload(
        hi_rxno,
        [
            dispense_line(DRUG, "20", ("81234560000000000001",)),
            dispense_line(DRUG, "10", ("81234560000000000002",), bchno="B2", manuLotnum="LOT2402"),
            dispense_line(OTHER_DRUG, "10", ("GS1-0106901234567892",)),
        ],
    )
    settled = hospital.settlement_result(hi_rxno)
    detail = hospital.detail(hi_rxno)

    assert set(checked) == {"rxTraceCode", "hiRxno"} and checked["hiRxno"] == hi_rxno
    assert len(hi_rxno) == 30 and hi_rxno.startswith("420102")
    assert set(signed) == {"rxFile", "signDigest", "signCertSn"}
    assert rxcentre_verify_sign_digest(hi_rxno, signed["rxFile"], signed["signDigest"])
    assert uploaded == {"hiRxno": hi_rxno, "rxStasCodg": "1", "rxStasName": "有效"}
    assert reviewed["rxChkStasCodg"] == "1" and reviewed["rxStasCodg"] == "1"
    assert review_seen["rxChkStasCodg"] == "1" and review_seen["pharName"] == PHARMACIST.name
    assert review_seen["chkFixmedinsCode"] == PHARMACY_CODE
    assert dispensed["rxUsedStasCodg"] == "1" and dispensed["setlTime"]
    assert settled["rxStasCodg"] == "1" and settled["rxUsedStasCodg"] == "1"
    assert settled["dispFixmedinsCode"] == PHARMACY_CODE
    lines = settled["seltdelts"]
    assert [(x["medListCodg"], x["cnt"], x["bchno"], x["manuLotnum"]) for x in lines] == [
        (DRUG, "20", "B20260301-01", "LOT2401"),
        (DRUG, "10", "B2", "LOT2402"),
        (OTHER_DRUG, "10", "B20260301-01", "LOT2401"),
    ]
    assert lines[0]["aprvno"] == "国药准字HJ20190001" and lines[0]["prdrName"] == "辉瑞制药有限公司"
    assert lines[0]["drugGenname"] == "洛拉替尼片"
    assert lines[2]["drugtracinfo"] == [{"drug_trac_codg": "GS1-0106901234567892"}]
    assert detail["rxStasCodg"] == "1" and detail["rxUsedStasCodg"] == "1"
    assert detail["rxDetlList"][0]["medListCodg"] == DRUG
    assert SimRx.objects.get(hi_rxno=hi_rxno).status == SimRxStatus.DISPENSED
    calls = RxCentreCall.objects.order_by("id")
    assert [c.api for c in calls] == [
        "uploadChk",
        "rxFixmedinsSign",
        "rxFileUpld",
        "rxChkInfoUpld",
        "rxChkInfoQuery",
        "rxSetlInfoUpld",
        "rxSetlInfoQuery",
        "hospRxDetlQuery",
    ]
    assert all(c.code == 0 for c in calls)
    assert calls[0].request["data"]["mdtrtinfo"]["patnName"] == PATIENT_NAME  # database only
    assert calls[0].opter == DOCTOR.code and calls[3].institution == connected_pharmacy
    assert [c.hi_rxno == hi_rxno for c in calls] == [True, False, *[True] * 6]  # sign: no rxno
    assert "api=uploadChk" in caplog.text
    assert PATIENT_NAME not in caplog.text and PATIENT_CERTNO not in caplog.text


def test_undo_cancels_and_stops_the_pharmacy(hospital_client, pharmacy_client):
    hi_rxno = issue(hospital_client)

    undone = hospital_client.undo(hi_rxno, "患者改用其他治疗方案")
    review_refused = refused(review, pharmacy_client, hi_rxno)
    dispense_refused = refused(pharmacy_client.pharmacy_dispense_upload, hi_rxno, [dispense_line()])
    again = refused(hospital_client.undo, hi_rxno, "重复撤销")

    assert undone == {"hiRxno": hi_rxno, "rxStasCodg": "3", "rxStasName": "已撤销"}
    assert hospital_client.detail(hi_rxno)["rxStasCodg"] == "3"
    rx = SimRx.objects.get(hi_rxno=hi_rxno)
    assert rx.status == SimRxStatus.CANCELLED and rx.cancel_reason == "患者改用其他治疗方案"
    assert review_refused.centre_code == wire.CODE_STATE and "处方已撤销" in review_refused.message
    assert dispense_refused.centre_code == wire.CODE_STATE
    assert "处方已撤销，不能取药" in dispense_refused.centre_message
    assert "不能重复撤销" in again.centre_message and not again.retryable
    assert rx.dispense_lines == [] and rx.review_status == "0"


# --- refusals -------------------------------------------------------------------------------------


def test_upload_before_check_is_refused(hospital_client):
    error = refused(hospital_client.upload, "RT-UNKNOWN", "ZmlsZQ==", "sig")

    assert error.centre_code == wire.CODE_NOT_FOUND and not error.retryable
    assert "请先调用上传预核验" in error.centre_message
    assert error.code == "integration.rxcentre_error" and error.status == 502
    assert not SimRx.objects.exists()
    assert RxCentreCall.objects.get().code == wire.CODE_NOT_FOUND


def test_upload_before_sign_is_refused(hospital_client):
    checked = hospital_client.upload_check(rx_payload())

    error = refused(hospital_client.upload, checked["rxTraceCode"], "ZmlsZQ==", "sig")

    assert error.centre_code == wire.CODE_STATE and "尚未进行医保电子签名" in error.centre_message
    assert SimRx.objects.get().status == SimRxStatus.CHECKED


def test_upload_with_another_file_than_signed_is_refused(hospital_client):
    checked = hospital_client.upload_check(rx_payload())
    signed = hospital_client.sign(rx_payload())

    error = refused(
        hospital_client.upload, checked["rxTraceCode"], "b3RoZXI=", signed["signDigest"]
    )

    assert error.centre_code == wire.CODE_SECURITY
    assert SimRx.objects.get().status == SimRxStatus.CHECKED


def test_check_of_an_uploaded_hosp_rxno_is_a_duplicate(hospital_client):
    hi_rxno = issue(hospital_client)

    error = refused(hospital_client.upload_check, rx_payload())

    assert error.centre_code == wire.CODE_STATE and "不能重复上传" in error.centre_message
    assert hi_rxno in error.centre_message
    assert SimRx.objects.count() == 1


def test_a_second_check_before_upload_replaces_the_first(hospital_client):
    first = hospital_client.upload_check(rx_payload())
    old_signature = hospital_client.sign(rx_payload())
    changed = rx_payload(rxExraAttrCode="99")

    second = hospital_client.upload_check(changed)
    stale = refused(
        hospital_client.upload,
        second["rxTraceCode"],
        old_signature["rxFile"],
        old_signature["signDigest"],
    )
    signed = hospital_client.sign(changed)
    uploaded = hospital_client.upload(second["rxTraceCode"], signed["rxFile"], signed["signDigest"])

    assert second["hiRxno"] == first["hiRxno"]
    assert second["rxTraceCode"] != first["rxTraceCode"]
    assert "尚未进行医保电子签名" in stale.centre_message
    assert uploaded["hiRxno"] == first["hiRxno"]


def test_sign_of_another_content_than_checked_is_refused(hospital_client):
    hospital_client.upload_check(rx_payload())

    error = refused(hospital_client.sign, rx_payload(valiDays=2))
    before_check = refused(hospital_client.sign, rx_payload(hosp_rxno="RX-NOT-CHECKED"))

    assert "与预核验处方不一致" in error.centre_message
    assert before_check.centre_code == wire.CODE_NOT_FOUND
    assert SimRx.objects.get().sign_digest == ""


def test_undo_of_a_dispensed_prescription_is_refused(hospital_client, pharmacy_client):
    hi_rxno = issue(hospital_client)
    review(pharmacy_client, hi_rxno)
    pharmacy_client.pharmacy_dispense_upload(hi_rxno, [dispense_line()])

    error = refused(hospital_client.undo, hi_rxno, "撤销")

    assert error.centre_code == wire.CODE_STATE and "处方已取药，不能撤销" in error.centre_message
    assert SimRx.objects.get().status == SimRxStatus.DISPENSED


def test_dispense_twice_is_refused(hospital_client, pharmacy_client):
    hi_rxno = issue(hospital_client)
    review(pharmacy_client, hi_rxno)
    pharmacy_client.pharmacy_dispense_upload(hi_rxno, [dispense_line(count="10")])

    error = refused(pharmacy_client.pharmacy_dispense_upload, hi_rxno, [dispense_line(count="5")])

    assert "不能重复取药" in error.centre_message
    assert [line["cnt"] for line in SimRx.objects.get().dispense_lines] == ["10"]


def test_past_vali_end_time_expires_on_query_and_refuses_dispensing(
    hospital_client, pharmacy_client
):
    hi_rxno = issue(hospital_client)
    review(pharmacy_client, hi_rxno)
    SimRx.objects.filter(hi_rxno=hi_rxno).update(
        vali_end_time=timezone.now() - timedelta(minutes=1)
    )

    dispense = refused(pharmacy_client.pharmacy_dispense_upload, hi_rxno, [dispense_line()])
    detail = hospital_client.detail(hi_rxno)
    undo = refused(hospital_client.undo, hi_rxno, "撤销")

    assert dispense.centre_code == wire.CODE_STATE and "已失效" in dispense.centre_message
    assert detail["rxStasCodg"] == "2" and detail["rxStasName"] == "已失效"
    assert "已失效" in undo.centre_message
    rx = SimRx.objects.get()
    assert rx.status == SimRxStatus.EXPIRED and rx.expired_at is not None
    assert rx.dispense_lines == []


def test_dispense_needs_an_approved_review_by_the_same_pharmacy(
    hospital_client, pharmacy_client, other_pharmacy
):
    hi_rxno = issue(hospital_client)
    other_pharmacy.platform_code = "P34010200001"
    other_pharmacy.save(update_fields=["platform_code"])
    other = RxCentreClient(other_pharmacy, PHARMACIST)

    unreviewed = refused(pharmacy_client.pharmacy_dispense_upload, hi_rxno, [dispense_line()])
    review(pharmacy_client, hi_rxno, wire.REVIEW_REJECTED, "剂量超出说明书")
    rejected = refused(pharmacy_client.pharmacy_dispense_upload, hi_rxno, [dispense_line()])
    review(pharmacy_client, hi_rxno)
    elsewhere = refused(other.pharmacy_dispense_upload, hi_rxno, [dispense_line()])

    for error in (unreviewed, rejected, elsewhere):
        assert error.centre_code == wire.CODE_STATE and "药师审核通过" in error.centre_message
    assert SimRx.objects.get().status == SimRxStatus.VALID


def test_rejecting_review_needs_an_opinion(hospital_client, pharmacy_client):
    hi_rxno = issue(hospital_client)

    error = refused(review, pharmacy_client, hi_rxno, wire.REVIEW_REJECTED, "")

    assert error.centre_code == wire.CODE_INVALID and "审核意见" in error.centre_message
    assert hospital_client.review_result(hi_rxno)["rxChkStasCodg"] == "0"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([dispense_line(count="31")], "取药数量超过处方数量"),
        (
            [dispense_line(count="20", traces=("T1",)), dispense_line(count="20", traces=("T2",))],
            "取药数量超过处方数量",
        ),
        ([dispense_line(code="XZ0000000000000000000000")], "不在处方中"),
        ([dispense_line(expyEnd="2020-01-01")], "已过有效期"),
        ([dispense_line(count="1", traces=("A", "A"))], "追溯码[A]重复"),
        ([dispense_line(traces=("9" * 101,))], "药品追溯码应为1至100个字符"),
        ([dispense_line(manuLotnum="")], "第1条取药明细生产批号"),
        ([dispense_line(cnt="0")], "数量应大于0"),
        ([], "取药明细（seltdelts）不能为空"),
    ],
)
def test_invalid_dispensing_lines_are_refused(hospital_client, pharmacy_client, lines, message):
    hi_rxno = issue(hospital_client)
    review(pharmacy_client, hi_rxno)

    error = refused(pharmacy_client.pharmacy_dispense_upload, hi_rxno, lines)

    assert error.centre_code == wire.CODE_INVALID and message in error.centre_message
    assert SimRx.objects.get().status == SimRxStatus.VALID


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hospRxno": ""}, "定点医疗机构处方编号"),
        ({"valiEndTime": None}, "有效截止时间"),
        ({"rxdrugdetail": []}, "处方明细信息（rxdrugdetail）不能为空"),
        ({"mdtrtinfo": None}, "就诊信息（mdtrtinfo）不能为空"),
        ({"diseinfo": []}, "诊断信息（diseinfo）不能为空"),
        ({"rxExraAttrCode": "07"}, "处方附加属性代码[07]无效"),
        ({"mdtrtCertType": "03"}, "卡识别码"),
        ({"rxDrugCnt": 3}, "药品类目数与处方明细条数不符"),
        ({"valiDays": 1}, "不超过开方时间加有效天数"),
        ({"prscTime": "2026/03/01"}, "开方时间格式应为 yyyy-MM-dd HH:mm:ss"),
    ],
)
def test_pre_check_refuses_missing_or_invalid_fields(hospital_client, overrides, message):
    error = refused(hospital_client.upload_check, rx_payload(**overrides))

    assert error.centre_code == wire.CODE_INVALID and message in error.centre_message
    assert not SimRx.objects.exists()


def test_vali_end_time_may_round_up_to_the_end_of_the_last_day(hospital_client):
    payload = rx_payload()
    last_day = (timezone.localtime() - timedelta(minutes=5) + timedelta(days=3)).date()

    answer = hospital_client.upload_check({**payload, "valiEndTime": f"{last_day} 23:59:59"})

    assert answer["hiRxno"]
    assert timezone.localtime(SimRx.objects.get().vali_end_time).strftime(TIME).endswith("23:59:59")


def test_pre_check_names_every_missing_field_of_the_nodes(hospital_client):
    payload = rx_payload()
    del payload["rxdrugdetail"][1]["drugSpec"]
    payload["mdtrtinfo"]["patnName"] = " "
    payload["diseinfo"][0].pop("diagCode")

    error = refused(hospital_client.upload_check, payload)

    assert error.centre_message == (
        "必填字段为空：第2条处方明细药品规格、就诊信息患者姓名、第1条诊断信息诊断代码"
    )


def test_only_a_hospital_issues_and_only_the_issuer_queries(
    hospital_client, pharmacy_client, connected_other_hospital
):
    hi_rxno = issue(hospital_client)
    other = RxCentreClient(connected_other_hospital, DOCTOR)

    pharmacy_check = refused(pharmacy_client.upload_check, rx_payload(hosp_rxno="RX-P"))
    foreign = refused(other.detail, hi_rxno)
    foreign_undo = refused(other.undo, hi_rxno, "撤销")

    assert "仅定点医疗机构" in pharmacy_check.centre_message
    assert foreign.centre_code == wire.CODE_NOT_FOUND == foreign_undo.centre_code
    assert SimRx.objects.get().status == SimRxStatus.VALID


# --- stock ----------------------------------------------------------------------------------------


def test_stock_without_a_hook_is_none(hospital_client, connected_pharmacy):
    hi_rxno = issue(hospital_client)
    previous = rxcentre_register_stock_hook(None)  # the prescriptions app registers one
    try:
        assert hospital_client.stock(hi_rxno, PHARMACY_CODE) == "-1"
    finally:
        rxcentre_register_stock_hook(previous)


def test_stock_asks_the_registered_hook(hospital_client, connected_pharmacy, stock_hook):
    hi_rxno = issue(hospital_client)

    answer = hospital_client.stock(hi_rxno, PHARMACY_CODE)

    assert answer == "0"
    assert stock_hook == [(PHARMACY_CODE, {DRUG: Decimal("30"), OTHER_DRUG: Decimal("10")})]


def test_stock_refusals(hospital_client, connected_pharmacy):
    hi_rxno = issue(hospital_client)

    unknown = refused(hospital_client.stock, hi_rxno, "P99999999999")
    hospital_client.undo(hi_rxno, "撤销")
    cancelled = refused(hospital_client.stock, hi_rxno, PHARMACY_CODE)

    assert unknown.centre_code == wire.CODE_INVALID and "未登记" in unknown.centre_message
    assert cancelled.centre_code == wire.CODE_STATE


def test_a_failing_stock_hook_is_a_retryable_busy_answer(hospital_client, connected_pharmacy):
    hi_rxno = issue(hospital_client)

    def broken(fixmedins_code, quantities):
        raise RuntimeError("inventory down")

    previous = rxcentre_register_stock_hook(broken)
    try:
        error = refused(hospital_client.stock, hi_rxno, PHARMACY_CODE)
    finally:
        rxcentre_register_stock_hook(previous)

    assert error.centre_code == wire.CODE_BUSY and error.retryable


# --- idempotency and retries ----------------------------------------------------------------------


def test_a_key_that_succeeded_returns_the_stored_answer_without_calling(connected_hospital):
    transport = CountingTransport()
    client = RxCentreClient(connected_hospital, DOCTOR, transport=transport)

    first = client.upload_check(rx_payload(), key="rx-42-check")
    again = client.upload_check(rx_payload(), key="rx-42-check")
    other_api = client.sign(rx_payload(), key="rx-42-check")

    assert again == first
    assert transport.sent == ["uploadChk", "rxFixmedinsSign"]
    assert RxCentreCall.objects.filter(api="uploadChk").count() == 1
    assert other_api["signDigest"]


def test_a_failed_key_is_sent_again(connected_hospital):
    transport = CountingTransport()
    client = RxCentreClient(connected_hospital, DOCTOR, transport=transport)
    rxcentre_fail_next(1, api="uploadChk")

    busy = refused(client.upload_check, rx_payload(), key="k1")
    answer = client.upload_check(rx_payload(), key="k1")

    assert busy.centre_code == wire.CODE_BUSY and busy.retryable
    assert busy.code == "integration.rxcentre_error"
    assert answer["hiRxno"] and transport.sent == ["uploadChk", "uploadChk"]
    assert [c.code for c in RxCentreCall.objects.order_by("id")] == [-1, 0]
    assert RxCentreCall.objects.order_by("id").first().retryable


def test_no_answer_is_retryable_and_business_refusals_are_not(hospital_client):
    rxcentre_fail_next(1, mode="timeout")

    timeout = refused(hospital_client.upload_check, rx_payload())
    business = refused(hospital_client.upload, "RT-UNKNOWN", "ZmlsZQ==", "sig")

    assert timeout.centre_code is None and timeout.retryable
    assert timeout.code == "integration.rxcentre_unreachable" and "超时" in timeout.message
    assert business.centre_code == wire.CODE_NOT_FOUND and not business.retryable
    call = RxCentreCall.objects.get(api="uploadChk")
    assert call.code is None and call.response is None and call.retryable


def test_unreachable_centre_is_retryable_and_settings_choose_http(connected_hospital):
    with override_settings(RX_CENTRE_URL="http://127.0.0.1:9/rx", RX_CENTRE_TIMEOUT_SECONDS=2):
        transport = default_transport()
        error = refused(RxCentreClient(connected_hospital, DOCTOR).upload_check, rx_payload())

    assert isinstance(transport, HttpTransport)
    assert transport.url_for("uploadChk") == "http://127.0.0.1:9/rx/uploadChk"
    assert error.centre_code is None and error.retryable
    assert RxCentreCall.objects.get().code is None


# --- SM4 encryption and SM2 signature -------------------------------------------------------------


def test_sm4_encrypted_and_sm2_signed_round_trip(transport, connected_hospital):
    keys = Sm2KeyPair.generate()
    sm4_key = Sm4Cipher.generate_key()
    rxcentre_register_keys("APP-ENC", sm2_public_key=keys.public_key, sm4_key_hex=sm4_key)
    client = RxCentreClient(
        connected_hospital,
        DOCTOR,
        transport=transport,
        signer=Sm2Signer(keys.private_key, keys.public_key),
        cipher=Sm4Cipher(sm4_key),
        app_id="APP-ENC",
    )

    hi_rxno = issue(client)
    detail = client.detail(hi_rxno)

    assert detail["rxStasCodg"] == "1" and detail["rxOtpinfo"]["patnName"] == PATIENT_NAME
    call = RxCentreCall.objects.get(api="hospRxDetlQuery")
    assert call.request["encType"] == "SM4" and isinstance(call.request["data"], str)
    assert call.request["_plain_data"]["hiRxno"] == hi_rxno
    assert isinstance(call.response["data"], str)  # the answer travels encrypted too
    assert call.response["_plain_data"]["rxOtpinfo"]["patnName"] == PATIENT_NAME
    assert PATIENT_NAME not in call.request["data"] + call.response["data"]
    assert call.request["signData"]


def test_signature_and_encryption_are_enforced_where_keys_are_registered(connected_hospital):
    keys = Sm2KeyPair.generate()
    sm4_key = Sm4Cipher.generate_key()
    rxcentre_register_keys("APP-ENC", sm2_public_key=keys.public_key, sm4_key_hex=sm4_key)
    intruder = Sm2KeyPair.generate()

    def client(**kwargs):
        return RxCentreClient(connected_hospital, DOCTOR, app_id="APP-ENC", **kwargs)

    unsigned = refused(client(signer=None).upload_check, rx_payload())
    forged = refused(
        client(signer=Sm2Signer(intruder.private_key, intruder.public_key)).upload_check,
        rx_payload(),
    )
    wrong_key = refused(
        client(
            signer=Sm2Signer(keys.private_key, keys.public_key),
            cipher=Sm4Cipher(Sm4Cipher.generate_key()),
        ).upload_check,
        rx_payload(),
    )
    no_key = refused(
        RxCentreClient(
            connected_hospital, DOCTOR, app_id="APP-NONE", cipher=Sm4Cipher(sm4_key)
        ).upload_check,
        rx_payload(),
    )

    for error in (unsigned, forged, wrong_key, no_key):
        assert error.centre_code == wire.CODE_SECURITY and not error.retryable
    assert "签名验证失败" in forged.centre_message
    assert "解密失败" in wrong_key.centre_message
    assert "未登记加密密钥" in no_key.centre_message
    assert not SimRx.objects.exists()


def test_encryption_without_a_key_stops_start_up():
    with (
        override_settings(RX_CENTRE_ENCRYPT=True, RX_CENTRE_SM4_KEY=""),
        pytest.raises(ImproperlyConfigured),
    ):
        default_cipher()


# --- the HTTP view --------------------------------------------------------------------------------


def test_the_view_answers_as_the_in_process_centre(client, connected_hospital):
    body = wire.build_request(
        app_id="DUALCHANNEL",
        data=wire.plain_json({**rx_payload(), "fixmedinsCode": HOSPITAL_CODE, "rxDrugCnt": 5}),
        sign_data="",
        encrypted=False,
    )

    over_http = client.post(
        "/simulators/rxcentre/uploadChk", json.dumps(body), content_type="application/json"
    )
    in_process = handle("uploadChk", body)

    assert over_http.status_code == 200
    assert over_http.json() == in_process
    assert in_process == {
        "code": wire.CODE_INVALID,
        "message": "药品类目数与处方明细条数不符",
        "data": {},
    }


def test_the_view_refuses_get_bad_json_bad_requests_and_unknown_apis(client, connected_hospital):
    good = wire.build_request(
        app_id="DUALCHANNEL", data={"fixmedinsCode": HOSPITAL_CODE}, sign_data="", encrypted=False
    )
    stale = {**good, "timestamp": str(int(good["timestamp"]) - 3_600_000)}

    def post(api, body):
        return client.post(f"/simulators/rxcentre/{api}", body, content_type="application/json")

    assert client.get("/simulators/rxcentre/uploadChk").status_code == 405
    assert post("uploadChk", "{not json").json()["code"] == wire.CODE_BAD_REQUEST
    unknown = post("rxNoSuchThing", json.dumps(good)).json()
    old = post("uploadChk", json.dumps(stale)).json()
    plain_string = post("uploadChk", json.dumps({**good, "data": "ABCD"})).json()

    assert unknown["code"] == wire.CODE_BAD_REQUEST and "rxNoSuchThing" in unknown["message"]
    assert old["code"] == wire.CODE_BAD_REQUEST and "时间戳" in old["message"]
    assert plain_string["code"] == wire.CODE_BAD_REQUEST and "JSON 对象" in plain_string["message"]


def test_simulated_timeout_over_http_is_a_504(client, db):
    rxcentre_fail_next(1, mode="timeout", api="uploadChk")

    response = client.post("/simulators/rxcentre/uploadChk", "{}", content_type="application/json")

    assert response.status_code == 504


def test_unregistered_institution_is_refused(hospital):
    hospital.platform_code = "H99999999999"  # in memory only: the registry does not know it

    error = refused(RxCentreClient(hospital, DOCTOR).upload_check, rx_payload())

    assert error.centre_code == wire.CODE_UNKNOWN_INSTITUTION and "未登记" in error.centre_message
