"""The agency's powers and the hospital insurance office's pages (issue 11) played on the demo
through the pages only (issue 12, point 9): the officer imports a regional list and the region's
existing register (each checked first, then applied), transfers a person's enrolment within the
province, revokes an imported eligibility for fraud, records a finding on two settlements (one
recovery order per institution), fetches a person from the platform, files and cancels a
cross-province filing; the Wuchang pharmacy and the hospital read the orders raised against
them; the hospital's insurance office registers a physician, records an assessment and opens
the demo stay's bill. A second test plays a revocation that recovers money: 杨军's case approved,
prescribed, routed from his page, dispensed and settled, then revoked; the order is read by the
agency and the pharmacy. Every step checks its result in words, with nothing internal on the page
(no document short form, error code, field name or full ID number), form labels clear of the
controls. The test writes only the files it uploads; it reads the database only for what a
card reader or the file's author knows (ID numbers, codes)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from dualchannel.catalog.models import Drug
from dualchannel.inventory.models import TraceCode
from dualchannel.prescriptions.models import Prescription, PrescriptionStatus
from dualchannel.registry.identifiers import synthetic_id_number
from dualchannel.registry.models import Institution, InsuredPerson, Physician
from dualchannel.simulators.persons import PLATFORM_ONLY
from dualchannel.tests.browser.conftest import sqlite_pass_only
from dualchannel.tests.browser.layout import assert_labels_clear
from dualchannel.tests.browser.words import in_words

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]

REGISTER_HEADER = (
    "身份证号,姓名,参保类型,医保药品代码,诊断编码,诊断名称,医疗机构统一社会信用代码,"
    "责任医师代码,定点零售药店统一社会信用代码,生效日期,下次复查评估截止日,方案总药量,总药量单位"
)
# 钱多多: on the region's register, not yet in the registry
NEW_PERSON_ID = synthetic_id_number("420102", date(1970, 5, 6), 77, False)


def _regional_list(page, base: str, tmp_path) -> None:
    """A list of two drugs as a CSV file: checked (nothing written), then imported, then listed."""
    drugs = ["诺西那生钠注射液", "洛拉替尼片"]
    upload = tmp_path / "武汉市2027年双通道管理药品目录.csv"
    upload.write_text("通用名,备注\n" + "".join(f"{d},演示\n" for d in drugs), encoding="utf-8")
    page.goto(f"{base}/agency/catalog/regional-lists/")
    assert "本区划尚未发布地方目录" in in_words(page)
    assert_labels_clear(page)
    page.select_option("select[name=kind]", label="双通道管理药品目录（年度调整）")
    page.fill("input[name=title]", "武汉市2027年双通道管理药品目录")
    page.fill("input[name=document_no]", "武医保发〔2026〕9号")
    page.fill("input[name=valid_from]", f"{timezone.localdate().year + 1}-01-01")
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('校验（不导入）')")
    page.locator("#import-result >> text=校验通过（未导入）").wait_for()
    result = page.locator("#import-result").inner_text()
    assert "2 行，2 个药品" in result and all(d in result for d in drugs)
    page.click("button[value=import]")
    page.locator("#import-result .flash-success").wait_for()
    assert "已导入「武汉市2027年双通道管理药品目录」：2 个药品" in page.inner_text("#import-result")
    in_words(page)
    page.goto(f"{base}/agency/catalog/regional-lists/")
    row = page.locator("tbody tr", has_text="武汉市2027年双通道管理药品目录")
    listed = row.inner_text()
    assert "双通道管理药品目录（年度调整）" in listed and "武医保发〔2026〕9号" in listed
    row.locator("a").click()
    page.wait_for_load_state("networkidle")
    assert all(d in in_words(page) for d in drugs)


def _register_line(drug: Drug, pharmacy_code: str) -> str:
    hospital = Institution.objects.get(name="武汉演示协和医院")
    physician = Physician.objects.get(name="李明")
    today = timezone.localdate()
    return ",".join(
        [
            NEW_PERSON_ID,
            "钱多多",
            "310",
            drug.national_code,
            "G12.103",
            "婴儿型脊髓性肌萎缩，Ⅱ型",
            hospital.credit_code,
            physician.staff_code,
            pharmacy_code,
            (today - timedelta(days=30)).isoformat(),
            (today + timedelta(days=60)).isoformat(),
            "4",
            "支",
        ]
    )


def _register_import(page, base: str, tmp_path) -> None:
    """The region's register as a CSV: a row without the 三定 pharmacy is listed in words and
    nothing is imported; corrected, it is checked and imported."""
    drug = Drug.objects.filter(generic_name="诺西那生钠注射液").exclude(national_code="").first()
    pharmacy = Institution.objects.get(name="江岸演示大药房")
    upload = tmp_path / "既有用药资格台账.csv"
    upload.write_text(f"{REGISTER_HEADER}\n{_register_line(drug, '')}\n", encoding="utf-8")
    page.goto(f"{base}/agency/eligibilities/import/")
    assert_labels_clear(page)
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('试导入')")
    page.wait_for_selector("#dry-run")
    problems = page.locator("#problems").inner_text()
    assert "三定管理须填写定点零售药店" in problems and "定点零售药店统一社会信用代码" in problems
    in_words(page)

    upload.write_text(
        f"{REGISTER_HEADER}\n{_register_line(drug, pharmacy.credit_code)}\n", encoding="utf-8"
    )
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('试导入')")
    page.wait_for_selector("#dry-run:has-text('全部 1 行无误')")
    assert "新登记" in page.locator("#good-rows").inner_text()
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('导入（全部无误才写入）')")
    done = page.locator("#import-done")
    done.wait_for()
    assert "已导入 1 条用药资格" in done.inner_text() and "新登记参保人 1 人" in done.inner_text()
    assert "既有用药资格台账.csv" in in_words(page)


def _transfer(page, base: str) -> None:
    """王小宝 moves from 江岸区 to 武昌区: his eligibility moves with him."""
    person = InsuredPerson.objects.get(name="王小宝")
    page.goto(f"{base}/agency/eligibilities/transfer/")
    page.fill("input[name=id_number]", person.id_number)
    page.click("button:has-text('查找')")
    page.wait_for_selector("#person")
    text = in_words(page)
    assert "王**" in text and "诺西那生钠注射液" in text and "江岸区" in text
    assert_labels_clear(page)
    page.select_option("select[name=to_region]", label="武汉市 武昌区")
    page.fill("input[name=reason]", "工作单位变更")
    page.click("button:has-text('办理转移')")
    page.wait_for_selector("#person")  # the same person again, with the move
    shown = in_words(page)
    assert "已办理参保关系转移（江岸区 → 武昌区），1 项用药资格随之转移" in shown
    assert page.inner_text("#enrolment") == "现参保地：武昌区"
    assert "江岸区 → 武昌区（工作单位变更）" in shown
    assert person.id_number not in page.url


def _revoke(page, base: str) -> None:
    """钱多多's imported eligibility revoked for credential lending. Nothing was paid under it,
    so the page says no order is raised (a revocation with a recovery: the second test)."""
    page.goto(f"{base}/agency/settlement/revocations/")
    page.fill("input[name=q]", "诺西那生钠注射液")
    page.click("button:has-text('查找')")
    page.wait_for_load_state("networkidle")
    assert "有效" in page.locator("tbody tr", has_text="王**").inner_text()
    row = page.locator("tbody tr", has_text="钱**")
    assert "既有资格导入" in row.inner_text() and "有效" in row.inner_text()
    row.locator("summary:has-text('取消用药资格')").click()
    assert_labels_clear(page)
    row.locator("select[name=kind]").select_option(label="出借医保凭证")
    row.locator("input[name=reason]").fill("将医保凭证出借他人购药")
    row.locator("textarea[name=evidence]").fill("药店监控录像与购药记录")
    row.locator("button:has-text('取消资格并追回')").click()
    page.wait_for_load_state("networkidle")
    done = in_words(page)
    assert "已取消用药资格，追回单：无（期间无基金支付的结算）" in done
    revoked = page.locator("tbody tr", has_text="钱**").inner_text()
    assert "已取消" in revoked and "出借医保凭证：将医保凭证出借他人购药" in revoked
    assert "取消用药资格" not in revoked  # no second revocation offered
    assert "有效" in page.locator("tbody tr", has_text="王**").inner_text()


def _finding(page, base: str) -> None:
    """A finding on 刘芳's stay bill and 杨军's purchase, picked from the settlements: one
    recovery order per institution (the hospital, the Wuchang pharmacy)."""
    page.goto(f"{base}/agency/settlement/recoveries/")
    page.fill("#settlement-filter input[name=q]", "刘芳")
    page.click("#settlement-filter button")
    page.wait_for_load_state("networkidle")
    picked = page.locator("#settlement-pick tbody tr")
    assert picked.count() == 1 and "武汉演示协和医院" in picked.inner_text()
    page.fill("#settlement-filter input[name=q]", "")
    page.click("#settlement-filter button")
    page.wait_for_load_state("networkidle")
    for who in ("刘芳", "杨军"):
        page.locator("#settlement-pick tbody tr", has_text=who).locator(
            "input[name=settlement_ids]"
        ).check()
    assert_labels_clear(page)
    page.select_option("select[name=kind]", label="过度诊疗")
    page.fill("input[name=reason]", "检查和用药超出诊疗需要")
    page.click("button:has-text('记录认定并生成追回单')")
    page.locator("#recoveries >> text=已记录违规认定").wait_for()
    hospital = page.locator("#recoveries tbody tr", has_text="武汉演示协和医院").inner_text()
    assert "待扣回" in hospital and "1020.00" in hospital
    pharmacy = page.locator("#recoveries tbody tr", has_text="武昌演示医药连锁").inner_text()
    assert "待扣回" in pharmacy and "5.30" in pharmacy
    in_words(page)


def _platform_person(page, base: str) -> None:
    """赵敏 is not in the registry: fetched from the platform by ID number and name."""
    zhao = PLATFORM_ONLY[0]
    page.goto(f"{base}/agency/persons/")
    page.fill("input[name=id_number]", zhao.id_number)
    page.click("button:has-text('查询')")
    page.wait_for_selector("#platform-fetch")
    assert "本辖区未登记该身份证号的参保人" in in_words(page)
    assert_labels_clear(page)
    page.fill("input[name=name]", zhao.name)
    page.click("button:has-text('从医保平台查询')")
    card = page.locator("#person-card")
    card.wait_for()
    text = card.inner_text()
    assert "已从医保信息平台" in text and "赵*" in text and "职工" in text
    in_words(page)


def _out_of_area_filing(page, base: str) -> None:
    """张伟's referral to Hefei filed, then cancelled (撤销备案) with a reason."""
    person = InsuredPerson.objects.get(name="张伟")
    page.goto(f"{base}/out-of-area-filings/")
    assert_labels_clear(page)
    page.fill("input[name=person_id_number]", person.id_number)
    page.select_option("select[name=treating_region]", label="安徽省 合肥市")
    page.select_option("select[name=kind]", label="转诊转院")
    page.fill("input[name=valid_to]", (timezone.localdate() + timedelta(days=90)).isoformat())
    page.click("#file")
    page.wait_for_load_state("networkidle")
    row = page.locator("#filings tbody tr", has_text="张*")
    assert row.count() == 1
    text = row.inner_text()
    assert "合肥市" in text and "转诊转院" in text and "有效" in text and "江岸区" in text
    in_words(page)
    row.locator("input[name=reason]").fill("已回参保地居住")
    row.locator("button:has-text('撤销备案')").click()
    page.wait_for_load_state("networkidle")
    cancelled = page.locator("#filings tbody tr", has_text="张*").inner_text()
    assert "已撤销" in cancelled and "已回参保地居住" in cancelled
    in_words(page)


def _hospital_office(page, base: str) -> None:
    """The reviewer (the hospital's insurance office): its physicians, a new 医保医师 and an
    assessment; the demo stay and its bill; the recovery order raised against the hospital."""
    page.goto(f"{base}/hospital/physicians/")
    text = in_words(page)
    assert "李明" in text and "周文" in text and "已纳入" in text
    page.fill("input[name=name]", "孟医保")
    page.fill("input[name=staff_code]", "D420102000109")
    page.fill("input[name=department]", "呼吸科")
    page.select_option("select[name=title]", label="主治医师")
    page.fill("input[name=practising_certificate_no]", "110420100000109")
    page.click("form:has(input[name=staff_code]) button:has-text('登记')")
    page.wait_for_load_state("networkidle")
    added = page.locator("tr", has_text="孟医保").inner_text()
    assert "呼吸科" in added and "主治医师" in added
    li = page.locator("tr", has_text="李明")
    li.locator("select[name=result]").select_option(label="合格")
    li.locator("button:has-text('登记')").click()
    page.wait_for_load_state("networkidle")
    assert "合格" in page.locator("tr", has_text="李明").inner_text()
    assert_labels_clear(page)
    in_words(page)

    page.goto(f"{base}/hospital/stays/")
    stay = page.locator("tr", has_text="ZY2026000101")
    assert "刘*" in stay.inner_text() and "肺恶性肿瘤" in stay.inner_text()
    assert_labels_clear(page)
    in_words(page)
    stay.locator("a:has-text('住院费用结算')").click()
    page.wait_for_load_state("networkidle")
    bill = in_words(page)
    assert "住院号 ZY2026000101" in bill and "统筹基金支付" in bill and "1020.00" in bill

    page.goto(f"{base}/institution/recoveries/")
    orders = page.locator("tbody").inner_text()
    assert "待扣回" in orders and "检查和用药超出诊疗需要" in orders and "1020.00" in orders
    assert "5.30" not in orders
    in_words(page)


def test_the_agencys_powers_and_the_hospital_office_from_the_pages(
    page, demo_login, live_server, tmp_path
):
    base = live_server.url
    demo_login(page, "officer")
    _regional_list(page, base, tmp_path)
    _register_import(page, base, tmp_path)
    _transfer(page, base)
    _revoke(page, base)
    _finding(page, base)
    _platform_person(page, base)
    _out_of_area_filing(page, base)

    # the pharmacy reads the order raised against it, and only its own
    page.context.clear_cookies()
    demo_login(page, "pharmacist2")
    page.goto(f"{base}/institution/recoveries/")
    orders = page.locator("tbody").inner_text()
    assert "检查和用药超出诊疗需要" in orders and "5.30" in orders and "待扣回" in orders
    assert "1020.00" not in orders
    in_words(page)

    page.context.clear_cookies()
    demo_login(page, "reviewer")
    _hospital_office(page, base)


def _approve_yang(page) -> int:
    """The reviewer checks 杨军's upload and approves his case; returns the application's key."""
    page.locator("#review-queue tr", has_text="艾加莫德").locator("a").click()
    page.wait_for_url(re.compile(r"/review/applications/\d+/$"))
    application_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    upload = page.locator("tr[data-material]", has_text="患者上传")
    upload.locator("a.open-material").click()
    page.locator("#viewer iframe.evidence-frame").wait_for()
    page.locator("#viewer button:has-text('核验通过')").click()
    page.wait_for_url(re.compile(r"/review/applications/\d+/$"))
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#approve")
    page.wait_for_selector("#status:has-text('已通过')")
    return application_id


def _dispense_and_settle(page, base: str, rx: Prescription) -> str:
    page.goto(f"{base}/pharmacy/")
    page.click(f"#routed a:has-text('{rx.prescription_no}')")
    page.wait_for_url(re.compile(rf"/pharmacy/counter/{rx.pk}/$"))
    page.wait_for_load_state("load")
    batch = page.locator("#line-0-stock_item").input_value()
    code = (
        TraceCode.objects.filter(stock_item_id=int(batch), status="in_stock")
        .order_by("code")
        .values_list("code", flat=True)
        .first()
    )
    page.select_option("#certificate_type", "02")
    page.fill("#certificate_no", rx.patient.id_number)  # as the card reader reads it
    page.locator("#line-0-codes").press_sequentially(code)
    page.press("#line-0-codes", "Enter")
    page.click("#verify")
    page.wait_for_selector("#checks-passed")
    page.click("#dispense")
    page.wait_for_url(re.compile(rf"/pharmacy/counter/{rx.pk}/result/$"))
    page.click("#settle")
    page.wait_for_selector("#settlement-no")
    return page.inner_text("#settlement-no")


def test_a_revocation_recovers_what_the_fund_paid_under_the_eligibility(
    page, demo_login, live_server
):
    """杨军's case approved, his drug prescribed, routed from his phone page, dispensed and
    settled at 江岸演示大药房; the officer then revokes the eligibility for fraud: the page names
    the recovery order, the agency's orders list it, and the pharmacy reads it on its page."""
    base = live_server.url
    demo_login(page, "reviewer")
    application_id = _approve_yang(page)

    page.context.clear_cookies()
    demo_login(page, "doctor")
    page.goto(f"{base}/doctor/applications/{application_id}/")
    page.click("#prescribe-link")
    page.wait_for_selector("#prescribe-form")
    page.fill("input[name=quantity]", "1")
    if not page.locator("input[name=pack_size]").input_value():
        page.fill("input[name=pack_size]", "1")
    page.click("#prescribe")
    page.wait_for_selector("text=已开具处方")

    page.context.clear_cookies()
    demo_login(page, "patient_yang")
    page.goto(f"{base}/portal/")
    page.locator("#applications article", has_text="艾加莫德").locator(
        "a:has-text('查看处方')"
    ).click()
    page.wait_for_url(re.compile(r"/portal/prescriptions/\d+/$"))
    page.locator("label.pharmacy-option:has-text('江岸演示大药房') input").check()
    page.locator("label.consent input[name=consent]").check()
    page.click("#route")
    page.wait_for_selector("text=处方已流转至江岸演示大药房")
    rx = Prescription.objects.select_related("patient").get(
        patient__name="杨军", status=PrescriptionStatus.ROUTED
    )

    page.context.clear_cookies()
    demo_login(page, "pharmacist")
    settlement_no = _dispense_and_settle(page, base, rx)

    page.context.clear_cookies()
    demo_login(page, "officer")
    page.goto(f"{base}/agency/settlement/revocations/")
    page.fill("input[name=q]", "艾加莫德")
    page.click("button:has-text('查找')")
    page.wait_for_load_state("networkidle")
    row = page.locator("tbody tr", has_text="杨*")
    row.locator("summary:has-text('取消用药资格')").click()
    assert_labels_clear(page)
    row.locator("select[name=kind]").select_option(label="出借医保凭证")
    row.locator("input[name=reason]").fill("将医保凭证出借他人购药")
    row.locator("button:has-text('取消资格并追回')").click()
    page.wait_for_load_state("networkidle")
    done = in_words(page)
    assert "已取消用药资格，追回单：" in done and "无（期间无基金支付的结算）" not in done
    assert "已取消" in page.locator("tbody tr", has_text="杨*").inner_text()
    page.goto(f"{base}/agency/settlement/recoveries/")
    order = page.locator("#recoveries tbody tr", has_text="江岸演示大药房").inner_text()
    assert "用药资格取消" in order and settlement_no in order and "待扣回" in order
    in_words(page)

    page.context.clear_cookies()
    demo_login(page, "pharmacist")
    page.goto(f"{base}/institution/recoveries/")
    orders = page.locator("tbody").inner_text()
    assert "用药资格取消" in orders and settlement_no in orders and "待扣回" in orders
    in_words(page)
