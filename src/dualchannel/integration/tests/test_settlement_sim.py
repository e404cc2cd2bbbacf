"""Settlement (2101–2103, 2206–2208) and reconciliation (3201/3202) through the real client
against the in-process simulator."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dualchannel.core.tests.factories import UserFactory
from dualchannel.integration.models import PlatformCall
from dualchannel.integration.nhsa import Operator, PlatformClient, PlatformError
from dualchannel.integration.nhsa.envelope import SHANGHAI
from dualchannel.integration.nhsa.settlement import (
    CLR_TYPE,
    Channel,
    MalformedAnswer,
    MismatchReason,
    ReconciliationDetail,
    ReconciliationScope,
    ReconciliationTotals,
    ReversalRequest,
    SettlementAmounts,
    SettlementLine,
    SettlementRequest,
    is_already_reversed,
    money,
    parse_details,
    parse_settlement,
    parse_totals,
    pre_settle,
    reconcile_details,
    reconcile_totals,
    reverse,
    settle,
    settlement_input,
)
from dualchannel.registry.models import InsuredPerson, OutOfAreaFiling
from dualchannel.registry.tests.factories import InstitutionFactory, region
from dualchannel.simulators.models import SimSettlement

pytestmark = pytest.mark.django_db

PHARMACY_CODE = "P42010200001"
OPERATOR = Operator(code="P001", name="王药师")
D = Decimal

# 2 boxes at 100.00: 20.00 above the standard, 18.00 first self-pay (乙 class), 162.00 in policy;
# paid 120.00 fund, 10.00 critical illness, 5.00 commercial, 15.00 account, 50.00 cash.
AMOUNTS = SettlementAmounts(
    medfee_sumamt=D("200.00"),
    fulamt_ownpay_amt=D("0.00"),
    overlmt_selfpay=D("20.00"),
    preselfpay_amt=D("18.00"),
    inscp_scp_amt=D("162.00"),
    hifp_pay=D("120.00"),
    hifmi_pay=D("10.00"),
    oth_pay=D("5.00"),
    acct_pay=D("15.00"),
    psn_cash_pay=D("50.00"),
)
LINE = SettlementLine(
    feedetl_sn="1",
    med_list_codg="XL01XEA123A001010100001",
    fixmedins_hilist_id="XL01XEA123A001010100001",
    fixmedins_hilist_name="甲磺酸奥希替尼片",
    cnt=2,
    pric=D("100.00"),
    det_item_fee_sumamt=D("200.00"),
    overlmt_amt=D("20.00"),
    preselfpay_amt=D("18.00"),
    inscp_scp_amt=D("162.00"),
    rxno="RX42",
    manu_lotnum="L2401",
    drug_trac_codg=("81234560000000000001", "81234560000000000002"),
)


@pytest.fixture
def connected_pharmacy(pharmacy):
    pharmacy.platform_code = PHARMACY_CODE
    pharmacy.save(update_fields=["platform_code"])
    return pharmacy


@pytest.fixture
def client(connected_pharmacy):
    return PlatformClient(connected_pharmacy, OPERATOR)


def request_for(person, number="JS202603020001", channel=Channel.PHARMACY, **changes):
    values = {
        "channel": channel,
        "fixmedins_setl_id": number,
        "psn_no": person.person_no,
        "insuplc_admdvs": person.enrolment_region_id,
        "mdtrt_cert_type": "02",
        "mdtrt_cert_no": person.id_number,
        "insutype": person.insurance_type,
        "med_type": "110202",
        "begntime": timezone.now(),
        "amounts": AMOUNTS,
        "lines": (LINE,),
    }
    if channel == Channel.PHARMACY:
        values["chrg_bchno"] = f"B{number}"
    else:
        values["ipt_otp_no"] = f"MZ{number}"
    values.update(changes)
    return SettlementRequest(**values)


def reversal_of(request, result):
    return ReversalRequest(
        channel=request.channel,
        setl_id=result.setl_id,
        mdtrt_id=result.mdtrt_id,
        psn_no=request.psn_no,
        insuplc_admdvs=request.insuplc_admdvs,
        fixmedins_setl_id=request.fixmedins_setl_id,
    )


def today():
    return timezone.now().astimezone(SHANGHAI).date()


def scope_for(person, *, begin=None, end=None):
    return ReconciliationScope(
        insutype=person.insurance_type,
        clr_type=CLR_TYPE[Channel.PHARMACY],
        setl_optins=person.enrolment_region_id,
        begin=begin or today(),
        end=end or today(),
    )


def detail_of(request, result, **changes):
    values = {
        "setl_id": result.setl_id,
        "fixmedins_setl_id": request.fixmedins_setl_id,
        "medfee_sumamt": request.amounts.medfee_sumamt,
        "fund_pay_sumamt": request.amounts.fund_pay_sumamt,
        "psn_cash_pay": request.amounts.psn_cash_pay,
    }
    values.update(changes)
    return ReconciliationDetail(**values)


def totals(count, medfee="200.00", fund="135.00", acct="15.00"):
    return ReconciliationTotals(D(medfee), D(fund), D(acct), count)


# --- settle and reverse --------------------------------------------------------------------------


def test_pharmacy_pre_settle_settle_and_reverse_round_trip(client, filed_person):
    request = request_for(filed_person)

    preview = pre_settle(client, request)

    assert preview.preview and preview.setl_id == "" and preview.setl_time is None
    assert preview.amounts == AMOUNTS and preview.fund_pay_sumamt == D("135.00")
    assert not SimSettlement.objects.exists()

    result = settle(client, request)

    assert not result.preview and result.setl_id and result.mdtrt_id
    assert result.psn_no == filed_person.person_no
    assert result.amounts == AMOUNTS and result.setl_time is not None
    stored = SimSettlement.objects.get()
    assert (stored.setl_id, stored.mdtrt_id, stored.infno) == (
        result.setl_id,
        result.mdtrt_id,
        "2102",
    )
    assert stored.fixmedins_code == PHARMACY_CODE and stored.clr_type == "41"
    assert stored.setl_optins == "420102" and stored.fund_pay_sumamt == D("135.00")
    assert stored.data["drugdetail"][0]["drugtracinfo"][1]["drug_trac_codg"].endswith("02")
    sent = PlatformCall.objects.get(infno="2102").request
    assert sent["insuplc_admdvs"] == "420102"
    assert sent["input"]["data"]["medfee_sumamt"] == "200.00"
    assert sent["input"]["drugdetail"][0]["cnt"] == "2"

    reversal = reverse(client, reversal_of(request, result))

    assert reversal.reversed_setl_id == result.setl_id and reversal.setl_id != result.setl_id
    assert reversal.medfee_sumamt == D("-200.00") and reversal.psn_cash_pay == D("-50.00")
    stored.refresh_from_db()
    assert stored.reversed_at is not None and stored.reversal_setl_id == reversal.setl_id


def test_hospital_outpatient_settles_and_reverses_with_fee_details(
    connected_hospital, filed_person
):
    client = PlatformClient(connected_hospital, OPERATOR)
    request = request_for(filed_person, "MZJS0001", channel=Channel.HOSPITAL)

    assert pre_settle(client, request).preview
    result = settle(client, request)
    reversal = reverse(client, reversal_of(request, result))

    stored = SimSettlement.objects.get(setl_id=result.setl_id)
    assert stored.infno == "2207" and stored.clr_type == "11"
    assert "feedetail" in stored.data and stored.data["data"]["ipt_otp_no"] == "MZMZJS0001"
    assert reversal.reversed_setl_id == result.setl_id and stored.reversal_setl_id
    assert [c.infno for c in PlatformCall.objects.order_by("id")] == [
        "9001",
        "2206",
        "2207",
        "2208",
    ]


def test_a_second_reversal_is_refused(client, filed_person):
    request = request_for(filed_person)
    result = settle(client, request)
    first = reverse(client, reversal_of(request, result))

    # the same key answers from the call log, without calling
    assert reverse(client, reversal_of(request, result)) == first
    assert PlatformCall.objects.filter(infno="2103").count() == 1

    with pytest.raises(PlatformError) as exc:
        reverse(client, reversal_of(request, result), key="another-attempt")

    assert is_already_reversed(exc.value) and "不能重复冲正" in exc.value.err_msg
    assert SimSettlement.objects.get().reversal_setl_id == first.setl_id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"setl_id": "4201022026010100000099"}, "未找到结算ID"),
        ({"mdtrt_id": "X"}, "就诊ID与原结算不符"),
        ({"fixmedins_setl_id": "OTHER"}, "定点医药机构结算ID与原结算不符"),
    ],
)
def test_reversal_of_an_unknown_or_other_settlement_is_refused(
    client, filed_person, change, message
):
    request = request_for(filed_person)
    result = settle(client, request)

    with pytest.raises(PlatformError) as exc:
        reverse(client, replace(reversal_of(request, result), **change))

    assert message in exc.value.err_msg and not is_already_reversed(exc.value)
    assert SimSettlement.objects.get().reversed_at is None


def test_a_hospital_cannot_reverse_a_pharmacy_settlement(client, connected_hospital, filed_person):
    request = request_for(filed_person)
    result = settle(client, request)

    with pytest.raises(PlatformError) as exc:
        reverse(
            PlatformClient(connected_hospital, OPERATOR),
            replace(reversal_of(request, result), channel=Channel.HOSPITAL),
        )

    assert "未找到结算ID" in exc.value.err_msg


def test_a_pharmacy_cannot_use_the_hospital_transactions(client, filed_person):
    with pytest.raises(PlatformError) as exc:
        settle(client, request_for(filed_person, channel=Channel.HOSPITAL))

    assert "仅限定点医疗机构" in exc.value.err_msg
    assert not SimSettlement.objects.exists()


# --- idempotency -------------------------------------------------------------------------------


def test_the_same_settlement_number_and_body_answers_the_same_setl_id(client, filed_person):
    request = request_for(filed_person)
    first = settle(client, request)

    # the client answers a key that succeeded from its log
    assert settle(client, request) == first
    assert PlatformCall.objects.filter(infno="2102").count() == 1

    # a replay the client does not recognise (another key): the platform answers the same one
    again = settle(client, request, key="lost-answer-retry")

    assert again.setl_id == first.setl_id and again.mdtrt_id == first.mdtrt_id
    assert SimSettlement.objects.count() == 1
    replayed = PlatformCall.objects.filter(infno="2102").latest("id")
    assert replayed.infcode == "0" and "已结算" in replayed.response["warn_msg"]


def test_the_same_settlement_number_with_another_body_is_refused(client, filed_person):
    settle(client, request_for(filed_person))
    other = request_for(filed_person, begntime=timezone.now() - timedelta(hours=1))

    with pytest.raises(PlatformError) as exc:
        settle(client, other, key="other-body")

    assert "已存在且结算内容不同" in exc.value.err_msg
    assert SimSettlement.objects.count() == 1


def test_pre_settle_stores_nothing_and_may_be_repeated(client, filed_person):
    request = request_for(filed_person)

    assert pre_settle(client, request) == pre_settle(client, request)
    assert not SimSettlement.objects.exists()


# --- refused inputs ------------------------------------------------------------------------------


def _send_raw(client, infno, edit, person, insuplc=None):
    body = settlement_input(request_for(person))
    edit(body)
    return client.call(
        infno, body, insuplc_admdvs=person.enrolment_region_id if insuplc is None else insuplc
    )


def _set(node, **values):
    def edit(body):
        target = body["data"] if node == "data" else body["drugdetail"][0]
        target.update(values)

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # policy parts: 0.01 more in policy than the total
        (_set("data", inscp_scp_amt="162.01"), "符合政策范围金额之和不等于医疗费总额"),
        # payer parts: 0.01 less cash
        (_set("data", psn_cash_pay="49.99"), "个人现金支出之和不等于医疗费总额"),
        (_set("data", fund_pay_sumamt="120.00"), "基金支付总额不等于统筹基金"),
        (_set("data", psn_cash_pay="50.001"), "最多两位小数"),
        (_set("data", acct_pay="-15.00"), "不能为负数"),
        (_set("data", medfee_sumamt="二百"), "应为数字"),
        (_set("data", medfee_sumamt=None), "必填字段为空"),
        (_set("data", psn_no=""), "必填字段为空：人员编号"),
        (_set("data", chrg_bchno=""), "必填字段为空：收费批次号"),
        (_set("data", begntime="2026/03/02"), "开始时间格式"),
        (_set("data", insutype="390"), "险种类型与参保信息不符"),
        (_set("data", psn_no="NOSUCHPERSON"), "人员编号不存在"),
        (_set("line", det_item_fee_sumamt="199.00"), "不等于单价×数量"),
        (_set("line", cnt="0"), "数量应大于0"),
        (_set("line", cnt="-1"), "数量应大于0"),
        (_set("line", pric="100.005"), "最多两位小数"),
        (_set("line", overlmt_amt="21.00", inscp_scp_amt="161.00"), "超限价金额合计"),
        (_set("line", inscp_scp_amt="161.00"), "之和不等于明细项目费用总额"),
        (_set("line", drugtracinfo=[{"drug_trac_codg": "8" * 101}]), "药品追溯码"),
        (lambda body: body.pop("drugdetail"), "缺少 drugdetail 节点"),
    ],
)
@pytest.mark.parametrize("infno", ["2101", "2102"])
def test_malformed_or_inconsistent_settlements_are_refused(
    client, filed_person, infno, edit, message
):
    with pytest.raises(PlatformError) as exc:
        _send_raw(client, infno, edit, filed_person)

    assert exc.value.infcode == "-1" and message in exc.value.err_msg, exc.value.err_msg
    assert not SimSettlement.objects.exists()


def test_lines_that_do_not_add_up_to_the_total_are_refused(client, filed_person):
    half = replace(LINE, cnt=1, det_item_fee_sumamt=D("100.00"), overlmt_amt=D("10.00"))
    half = replace(half, preselfpay_amt=D("9.00"), inscp_scp_amt=D("81.00"))

    with pytest.raises(PlatformError) as exc:
        settle(client, request_for(filed_person, lines=(half,)))

    assert "费用明细合计不等于医疗费总额" in exc.value.err_msg


def test_the_enrolment_place_is_required_and_checked(client, filed_person):
    for insuplc, message in (("", "参保地医保区划（insuplc_admdvs）必填"), ("340102", "不符")):
        with pytest.raises(PlatformError) as exc:
            _send_raw(client, "2102", lambda body: None, filed_person, insuplc=insuplc)
        assert message in exc.value.err_msg


def test_the_builders_refuse_floats_and_fractions_of_a_fen():
    with pytest.raises(TypeError):
        money(12.5)
    with pytest.raises(ValueError):
        money(D("12.345"))
    assert money(D("12.5")) == "12.50" and money(3) == "3.00"
    with pytest.raises(ValueError):
        settlement_input(replace(request_for_stub(), chrg_bchno=""))
    with pytest.raises(ValueError):
        settlement_input(replace(request_for_stub(), lines=(replace(LINE, cnt=0),)))


def request_for_stub():
    class Person:
        person_no = "42010200000000000001"
        enrolment_region_id = "420102"
        id_number = "420102197005170011"
        insurance_type = "310"

    return request_for(Person())


def test_amounts_from_the_engine_breakdown():
    class Breakdown:
        total = D("200.00")
        full_self_pay = D("0.00")
        over_standard = D("20.00")
        first_self_pay = D("18.00")
        in_policy = D("162.00")
        fund = D("120.00")
        critical_illness = D("10.00")
        assistance = D("0.00")
        commercial = D("5.00")
        personal = D("65.00")

    assert SettlementAmounts.from_breakdown(Breakdown(), acct_pay=D("15.00")) == AMOUNTS
    with pytest.raises(ValueError):
        SettlementAmounts.from_breakdown(Breakdown(), acct_pay=D("65.01"))


# --- answers that do not parse -------------------------------------------------------------------


def _setlinfo(**changes):
    info = {"setl_id": "S1", "mdtrt_id": "M1", "psn_no": "P1", "setl_time": "2026-03-02 10:00:00"}
    info.update(AMOUNTS.wire())
    info.update(changes)
    return {"setlinfo": info}


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({}, "缺少 setlinfo 节点"),
        (_setlinfo(setl_id=""), "缺少 setl_id"),
        (_setlinfo(psn_cash_pay="50.001"), "至多两位小数"),
        (_setlinfo(psn_cash_pay="-1.00"), "不能为负"),
        (_setlinfo(hifp_pay=None), "缺少金额 hifp_pay"),
        (_setlinfo(psn_cash_pay="49.00"), "之和不等于医疗费总额"),
        (_setlinfo(setl_time="20260302"), "setl_time"),
    ],
)
def test_a_malformed_settlement_answer_fails_clearly(output, message):
    with pytest.raises(MalformedAnswer) as exc:
        parse_settlement("2102", output)

    assert message in exc.value.err_msg and exc.value.err_msg.startswith("2102应答格式错误")
    assert not exc.value.retryable


def test_a_malformed_reconciliation_answer_fails_clearly():
    info = {"stmt_rslt": "2", "medfee_sumamt": "0.00", "fund_pay_sumamt": "0.00"}
    with pytest.raises(MalformedAnswer, match="stmt_rslt"):
        parse_totals({"stmtinfo": {**info, "acct_pay": "0.00", "fixmedins_setl_cnt": "0"}})
    with pytest.raises(MalformedAnswer, match="fixmedins_setl_cnt"):
        parse_totals({"stmtinfo": {**info, "stmt_rslt": "0", "acct_pay": "0.00"}})
    good = {**info, "stmt_rslt": "0", "acct_pay": "0.00", "fixmedins_setl_cnt": "0"}
    with pytest.raises(MalformedAnswer, match="未知的不符原因"):
        parse_details({"stmtinfo": good, "stmtdetail": [{"reason": "other"}]})


# --- 3201 ----------------------------------------------------------------------------------------


def test_3201_matches_the_live_settlements_of_the_period(client, filed_person):
    kept = request_for(filed_person, "JS1")
    settle(client, kept)
    reversed_ = request_for(filed_person, "JS2")
    reverse(client, reversal_of(reversed_, settle(client, reversed_)))

    answer = reconcile_totals(client, scope_for(filed_person), totals(1))

    assert answer.matched and answer.stmt_rslt == "0" and answer.message == "对账相符"
    assert answer.platform == totals(1)


def test_3201_mismatch_answers_the_platforms_totals(client, filed_person):
    settle(client, request_for(filed_person, "JS1"))
    settle(client, request_for(filed_person, "JS2"))

    answer = reconcile_totals(client, scope_for(filed_person), totals(1))

    assert not answer.matched and answer.stmt_rslt == "1"
    assert answer.platform == totals(2, "400.00", "270.00", "30.00")
    assert "医疗费总额不符（机构200.00，平台400.00）" in answer.message
    assert "结算笔数不符" in answer.message


def test_3201_counts_a_settlement_by_its_day_in_shanghai(client, filed_person):
    settle(client, request_for(filed_person, "JS1"))
    # 23:30 in Shanghai on 1 March is 15:30 UTC: it belongs to 1 March, not 2 March
    late = datetime(2026, 3, 1, 23, 30, tzinfo=SHANGHAI)
    SimSettlement.objects.update(setl_time=late)
    first, second = late.date(), late.date() + timedelta(days=1)

    on_first = reconcile_totals(client, scope_for(filed_person, begin=first, end=first), totals(1))
    on_second = reconcile_totals(
        client, scope_for(filed_person, begin=second, end=second), totals(0, "0", "0", "0")
    )

    assert on_first.matched and on_second.matched


def test_3201_only_counts_its_scope(client, connected_hospital, filed_person):
    settle(client, request_for(filed_person, "JS1"))
    hospital = PlatformClient(connected_hospital, OPERATOR)
    settle(hospital, request_for(filed_person, "MZ1", channel=Channel.HOSPITAL))

    outpatient = replace(scope_for(filed_person), clr_type=CLR_TYPE[Channel.HOSPITAL])
    resident = replace(scope_for(filed_person), insutype="390")

    assert reconcile_totals(client, scope_for(filed_person), totals(1)).matched
    assert reconcile_totals(client, outpatient, totals(0, "0", "0", "0")).matched
    assert reconcile_totals(hospital, outpatient, totals(1)).matched
    assert reconcile_totals(client, resident, totals(0, "0", "0", "0")).matched


def test_3201_refuses_a_period_that_ends_before_it_begins(client, filed_person):
    body = {"data": {"insutype": "310", "clr_type": "41", "setl_optins": "420102"}}
    body["data"].update(
        stmt_begndate="2026-03-02",
        stmt_enddate="2026-03-01",
        medfee_sumamt="0.00",
        fund_pay_sumamt="0.00",
        acct_pay="0.00",
        fixmedins_setl_cnt="0",
    )

    with pytest.raises(PlatformError) as exc:
        client.call("3201", body)

    assert "对账结束日期不能早于对账开始日期" in exc.value.err_msg


# --- 3202 ----------------------------------------------------------------------------------------


def test_3202_lists_each_kind_of_mismatch(client, filed_person):
    requests = {n: request_for(filed_person, n) for n in ("A", "B", "C", "D", "E", "F")}
    results = {n: settle(client, r) for n, r in requests.items()}
    for n in ("C", "F"):
        reverse(client, reversal_of(requests[n], results[n]))
    listed = [
        detail_of(requests["A"], results["A"]),  # matches
        detail_of(requests["B"], results["B"], psn_cash_pay=D("49.00"), medfee_sumamt=D("199.00")),
        detail_of(requests["C"], results["C"]),  # reversed on the platform, not in our list
        # D: live on the platform, left out of our list
        detail_of(requests["E"], results["E"], fixmedins_setl_id="NOT-E"),
        # F: reversed on both sides and left out: fine
        ReconciliationDetail("4201022026010199999999", "X", D("1.00"), D("0.00"), D("1.00")),
    ]

    answer = reconcile_details(client, scope_for(filed_person), totals(4), listed)

    assert not answer.matched and answer.stmt_rslt == "1"
    by_reason = {m.reason: m for m in answer.mismatches}
    assert len(answer.mismatches) == 5 and len(by_reason) == 5
    amount = by_reason[MismatchReason.AMOUNT_DIFFERS]
    assert amount.setl_id == results["B"].setl_id
    assert amount.fields == ("medfee_sumamt", "psn_cash_pay")
    assert amount.platform.psn_cash_pay == D("50.00") and "机构49.00，平台50.00" in amount.message
    flag = by_reason[MismatchReason.REVERSAL_DIFFERS]
    assert flag.setl_id == results["C"].setl_id and flag.platform.refd_setl_flag is True
    missing_here = by_reason[MismatchReason.INSTITUTION_MISSING]
    assert (missing_here.setl_id, missing_here.fixmedins_setl_id) == (results["D"].setl_id, "D")
    assert missing_here.platform.medfee_sumamt == D("200.00")
    ids = by_reason[MismatchReason.ID_DIFFERS]
    assert ids.setl_id == results["E"].setl_id and ids.platform.fixmedins_setl_id == "E"
    missing_there = by_reason[MismatchReason.PLATFORM_MISSING]
    assert missing_there.setl_id == "4201022026010199999999" and missing_there.platform is None
    assert answer.platform == totals(4, "800.00", "540.00", "60.00")


def test_3202_matches_when_every_line_agrees(client, filed_person):
    requests = {n: request_for(filed_person, n) for n in ("A", "B", "C")}
    results = {n: settle(client, r) for n, r in requests.items()}
    reverse(client, reversal_of(requests["C"], results["C"]))
    listed = [
        detail_of(requests["A"], results["A"]),
        detail_of(requests["B"], results["B"]),
        detail_of(requests["C"], results["C"], refd_setl_flag=True),
    ]

    answer = reconcile_details(
        client, scope_for(filed_person), totals(2, "400.00", "270.00", "30.00"), listed
    )

    assert answer.matched and answer.mismatches == () and answer.message == "对账相符"


def test_3202_finds_a_line_by_our_number_when_the_setl_id_is_unknown(client, filed_person):
    request = request_for(filed_person, "A")
    result = settle(client, request)

    answer = reconcile_details(
        client, scope_for(filed_person), totals(1), [detail_of(request, result, setl_id="")]
    )

    assert answer.matched


def test_3202_mismatching_totals_alone_do_not_match(client, filed_person):
    request = request_for(filed_person, "A")
    result = settle(client, request)

    answer = reconcile_details(
        client, scope_for(filed_person), totals(2), [detail_of(request, result)]
    )

    assert not answer.matched and answer.mismatches == ()
    assert "结算笔数不符" in answer.message


def test_3202_refuses_a_list_naming_a_settlement_twice(client, filed_person):
    request = request_for(filed_person, "A")
    result = settle(client, request)
    line = detail_of(request, result)

    with pytest.raises(PlatformError) as exc:
        reconcile_details(client, scope_for(filed_person), totals(1), [line, line])

    assert "重复" in exc.value.err_msg


# --- out of area [HB art. 40–41] -----------------------------------------------------------------


def test_the_out_of_area_flag_must_agree_with_the_two_places(client, filed_person):
    """HB art. 40–41: 异地标志 "1" for a purchase in the enrolment pooling region is refused."""
    request = request_for(filed_person, out_setl_flag="1")
    assert settlement_input(request)["data"]["out_setl_flag"] == "1"

    with pytest.raises(PlatformError) as exc:
        settle(client, request)

    assert "异地标志与就医地、参保地医保区划不符" in exc.value.err_msg
    assert not SimSettlement.objects.exists()


def test_across_provinces_the_platform_settles_only_under_a_filing(client, filed_person):
    """HB art. 41: a Hefei enrolee at a Wuhan pharmacy is settled directly only while a
    cross-province filing for the treating place is valid."""
    InsuredPerson.objects.filter(pk=filed_person.pk).update(enrolment_region=region("340102"))
    filed_person.refresh_from_db()
    request = request_for(filed_person, out_setl_flag="1")

    with pytest.raises(PlatformError) as exc:
        settle(client, request)
    assert "未办理异地就医备案" in exc.value.err_msg

    OutOfAreaFiling.objects.create(
        filing_no="YDBA-SIM-1",
        person=filed_person,
        treating_region=region("420000"),
        kind="long_term",
        valid_from=today() - timedelta(days=1),
        valid_to=today() + timedelta(days=30),
        recorded_by=UserFactory(),
        recorded_at_institution=InstitutionFactory(kind="agency", region_code="340100"),
    )
    result = settle(client, request)
    assert result.setl_id and SimSettlement.objects.count() == 1
