"""The demo region: Wuhan under the Hubei rules, with a login for every role.

Everything is created through the services, so the demo data carries its designation history
and audit events like real data. Identifiers are synthetic but valid (check digits computed,
``registry.identifiers``, which the demo HIS shares).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal
from io import BytesIO

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from reportlab.pdfgen import canvas

from dualchannel.catalog.models import Drug
from dualchannel.catalog.selectors import current_payment_standards
from dualchannel.catalog.services import drug_set_national_code
from dualchannel.core.locks import mark_several_transactions
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.core.services import user_create_staff
from dualchannel.eligibility import services as eligibility_services
from dualchannel.eligibility.services import materials as eligibility_materials
from dualchannel.inventory.services import stock_receive
from dualchannel.monitoring.services import alert_raise
from dualchannel.portal.services import patient_account_for_user
from dualchannel.prescriptions import services as rx
from dualchannel.prescriptions.models import BenefitType
from dualchannel.prescriptions.services import counter as rx_counter
from dualchannel.registry import services as registry
from dualchannel.registry.identifiers import synthetic_credit_code, synthetic_id_number
from dualchannel.registry.models import (
    Designation,
    DesignationStatus,
    Institution,
    InstitutionKind,
    InsuranceType,
    Region,
    TitleRank,
)
from dualchannel.settlement import services as settlement_services

DEMO_PASSWORD = "demo-2026"
DEMO_REGION = "420100"  # 武汉市, under the Hubei profile (三定, 110202, 7 working days)
OUTSIDER_REGION = "340100"  # 合肥市, under the Anhui profile: shows that scoping holds


@dataclass(frozen=True)
class Login:
    username: str
    role: str
    who: str


def load_reference_data(stdout=None) -> None:
    """Regions, policy profiles, the 2025 catalogue, the authored criteria and the (illustrative)
    benefit rules of the demo pooling regions (idempotent)."""
    for command in (
        "registry_load_regions",
        "registry_load_profiles",
        "catalog_import",
        "catalog_load_criteria",
        "settlement_load_rules",
    ):
        call_command(command, stdout=stdout)


def _user(username: str, display_name: str, *roles: str, **fields) -> User:
    # Demo users skip the second factor, and only while DEMO_MODE is on (core.security).
    return user_create_staff(
        actor=None,
        username=username,
        display_name=display_name,
        password=DEMO_PASSWORD,
        roles=roles,
        otp_exempt=True,
        **fields,
    )


def _designate(actor: User, institution: Institution) -> None:
    round_ = registry.designation_apply(actor=actor, institution=institution)
    for status in (
        DesignationStatus.EVALUATED,
        DesignationStatus.PUBLICISED,
        DesignationStatus.AGREEMENT_SIGNED,
        DesignationStatus.ACTIVE,
    ):
        round_ = registry.designation_transition(
            actor=actor,
            designation=round_,
            to_status=status,
            reason="演示数据",
            agreement_no=f"WH-SC-{institution.pk:04d}" if status == "agreement_signed" else None,
        )


def _activate_physician(actor: User, physician) -> None:
    open_round = Designation.objects.get(physician=physician, status=DesignationStatus.APPLIED)
    registry.designation_transition(
        actor=actor, designation=open_round, to_status=DesignationStatus.ACTIVE, reason="演示数据"
    )


def _institution(actor: User, serial: int, **fields) -> Institution:
    region_code = fields["region"]
    return registry.institution_create(
        actor=actor, credit_code=synthetic_credit_code(region_code, serial), **fields
    )


@transaction.atomic
def load_demo_region() -> list[Login]:
    # One block around many business actions (all or nothing); each is lock-ordered on its own.
    mark_several_transactions()
    admin = _user("admin", "系统管理员", Role.ADMIN, is_staff=True, is_superuser=True)
    officer = _demo_agency(admin)
    hospital, county_hospital, pharmacies = _demo_institutions(officer)
    physician_user, pharmacist_user = _demo_staff(officer, hospital, county_hospital, pharmacies)
    special, others = _demo_equipment(officer, hospital, pharmacies)
    persons = _demo_people(officer)

    metformin = _chronic_drug()
    shelf = list(dict.fromkeys([*special, *others, *([metformin] if metformin else [])]))
    _demo_national_codes(admin, shelf)
    _demo_stock(pharmacist_user, shelf)
    _demo_online_orders(pharmacist_user)
    if metformin is not None:
        _demo_prescription(physician_user, persons[3], pharmacies[0], metformin)
        _demo_officer_month(officer, physician_user, persons[4], pharmacies[1], metformin)
    _demo_stay(persons[1])
    _demo_cases(physician_user, persons, pharmacies[0])

    _demo_outsiders(admin)
    return demo_logins()


def _demo_agency(admin: User) -> User:
    """The agency of the pooling region and its officer, who acts for the rest of the demo."""
    agency = _institution(
        admin,
        1,
        kind=InstitutionKind.AGENCY,
        name="武汉市医疗保障事务中心（演示）",
        region=DEMO_REGION,
        address="武汉市江岸区演示路1号",
        phone="027-85550001",
        # its own connection to the (simulated) platform: the officer's person query (1101)
        platform_code="A42010000001",
    )
    officer = _user("officer", "周经办", Role.AGENCY_OFFICER, institution=agency)
    # HB art. 20(1): Wuhan relaxes the minimum title of responsible physicians to 主治医师.
    registry.profile_update(
        actor=officer,
        region=Region.objects.get(code=DEMO_REGION),
        changes={"physician_relaxation_allowed": True},
    )
    return officer


def _demo_institutions(officer: User) -> tuple[Institution, Institution, list[Institution]]:
    """The two hospitals and three pharmacies, all designated."""
    hospital = _institution(
        officer,
        2,
        kind=InstitutionKind.HOSPITAL,
        name="武汉演示协和医院",
        region="420102",
        address="武汉市江岸区解放大道演示段100号",
        phone="027-85551000",
        platform_code="H42010200001",
        hospital_level=3,
        has_pathology=True,
        has_gene_testing=True,
    )
    county_hospital = _institution(
        officer,
        3,
        kind=InstitutionKind.HOSPITAL,
        name="江夏演示人民医院",
        region="420115",
        address="武汉市江夏区文化大道演示号",
        phone="027-85552000",
        platform_code="H42011500001",
        hospital_level=2,
        has_pathology=True,
    )
    pharmacies = [
        _institution(
            officer,
            10 + n,
            kind=InstitutionKind.PHARMACY,
            name=name,
            region=region,
            address=address,
            phone=phone,
            platform_code=f"P{region}{n + 1:05d}",
            has_biologics_licence=True,
            has_cold_chain=True,
            traceability_enabled=True,
            realtime_settlement=True,
            e_prescription_connected=n != 2,
        )
        for n, (name, region, address, phone) in enumerate(
            [
                ("江岸演示大药房", "420102", "武汉市江岸区中山大道演示号", "027-85553001"),
                ("武昌演示医药连锁", "420106", "武汉市武昌区中南路演示号", "027-85553002"),
                ("江夏演示药店", "420115", "武汉市江夏区纸坊大街演示号", "027-85553003"),
            ]
        )
    ]
    for institution in [hospital, county_hospital, *pharmacies]:
        _designate(officer, institution)
    return hospital, county_hospital, pharmacies


def _demo_staff(
    officer: User,
    hospital: Institution,
    county_hospital: Institution,
    pharmacies: list[Institution],
) -> tuple[User, User]:
    """The reviewer, the two physicians (activated) and the pharmacist; their login users."""
    reviewer = _user("reviewer", "陈审核", Role.REVIEWER, institution=hospital)
    physician_user = _user("doctor", "李明", Role.PHYSICIAN, institution=hospital)
    doctor = registry.physician_file(
        actor=reviewer,
        hospital=hospital,
        name="李明",
        staff_code="D420102000101",
        department="肿瘤科",
        title=TitleRank.ASSOCIATE_CHIEF,
        practising_certificate_no="110420100000101",
        user=physician_user,
    )
    county_doctor = registry.physician_file(
        actor=officer,
        hospital=county_hospital,
        name="王芳",
        staff_code="D420115000201",
        department="神经内科",
        title=TitleRank.ATTENDING,
        practising_certificate_no="110420100000201",
    )
    for physician in (doctor, county_doctor):
        _activate_physician(officer, physician)
    # An ordinary 医保医师: under the Hubei rules prescribes the dual-channel drugs that are not
    # separately paid, never the separately-paid ones [HB art. 13–15, 42] (医师管理 page).
    registry.physician_register(
        actor=reviewer,
        hospital=hospital,
        name="周文",
        staff_code="D420102000102",
        department="内分泌科",
        title=TitleRank.ATTENDING,
        practising_certificate_no="110420100000102",
    )

    pharmacist_user = _user("pharmacist", "赵药师", Role.PHARMACIST, institution=pharmacies[0])
    registry.pharmacist_create(
        actor=officer,
        pharmacy=pharmacies[0],
        name="赵药师",
        practising_certificate_no="ZY4201020001",
        user=pharmacist_user,
    )
    return physician_user, pharmacist_user


def _chronic_drug() -> Drug | None:
    """李秀英's diabetes drug: a metformin of the list whose agreement is in force today, the plain
    extended-release tablet while it is (the 2025 list's agreements end in 2026 or 2027, and the
    counter refuses a drug outside its period)."""
    today = timezone.localdate()
    in_force = Drug.objects.filter(generic_name__contains="二甲双胍").exclude(
        agreement_end__lt=today
    )
    return min(
        in_force,
        key=lambda drug: (not drug.generic_name.startswith("盐酸二甲双胍缓释片"), drug.list_no),
        default=None,
    )


def _demo_equipment(
    officer: User, hospital: Institution, pharmacies: list[Institution]
) -> tuple[list[Drug], list[Drug]]:
    """What each pharmacy (and the hospital) equips; returns (special, others)."""
    # What each pharmacy equips [SD §4]: the drugs with authored criteria first.
    special = list(Drug.objects.filter(criteria_sets__origin="authored").distinct())
    others = list(Drug.objects.exclude(pk__in=[d.pk for d in special]).order_by("list_no")[:20])
    for pharmacy, drugs in zip(
        pharmacies, [special + others, special[:10] + others[:10], special[:6]], strict=True
    ):
        for drug in drugs:
            registry.equipped_drug_add(actor=officer, institution=pharmacy, drug=drug)
    for drug in special[:8]:
        registry.equipped_drug_add(actor=officer, institution=hospital, drug=drug)
    return special, others


def _demo_people(officer: User) -> list:
    """The insured people of the region; 张伟 is also the patient login."""
    people = [
        ("张伟", date(1962, 3, 14), True, InsuranceType.EMPLOYEE, "13900000001"),
        ("刘芳", date(1975, 8, 2), False, InsuranceType.EMPLOYEE, "13900000002"),
        ("王小宝", date(2021, 6, 30), True, InsuranceType.RESIDENT, "13900000003"),
        ("李秀英", date(1948, 11, 9), False, InsuranceType.RESIDENT, "13900000004"),
        ("杨军", date(1983, 1, 21), True, InsuranceType.EMPLOYEE, "13900000005"),
        # in the demo HIS too (lung cancer, ALK+): her case waits for a report the HIS holds.
        # (赵敏, the HIS's other such patient, stays out: the platform lookup 1101 brings her.)
        ("孙丽", date(1971, 9, 23), False, InsuranceType.EMPLOYEE, "13900000008"),
    ]
    persons = [
        registry.insured_person_create(
            actor=officer,
            id_number=synthetic_id_number("420102", birth, n + 1, male),
            name=name,
            insurance_type=kind,
            enrolment_region="420102",
            phone=phone,
            address="武汉市江岸区演示小区",
        )
        for n, (name, birth, male, kind, phone) in enumerate(people)
    ]
    patient = _user("patient", "张伟", Role.PATIENT, insured_person=persons[0])
    # 张伟 also logs in on the phone page with his registry phone and a one-time code: the
    # account is the same one, already bound to him.
    patient_account_for_user(user=patient, phone=persons[0].phone)
    return persons


def _demo_outsiders(admin: User) -> None:
    """Another region's institutions and staff: the outsiders of the access rules."""
    outside_admin_agency = _institution(
        admin,
        20,
        kind=InstitutionKind.AGENCY,
        name="合肥市医疗保障中心（演示）",
        region=OUTSIDER_REGION,
    )
    outside_officer = _user(
        "outsider_officer", "孙经办", Role.AGENCY_OFFICER, institution=outside_admin_agency
    )
    outside_hospital = _institution(
        outside_officer,
        21,
        kind=InstitutionKind.HOSPITAL,
        name="合肥演示第一医院",
        region="340102",
        hospital_level=3,
        has_pathology=True,
        has_gene_testing=True,
    )
    _user("outsider_doctor", "吴医生", Role.PHYSICIAN, institution=outside_hospital)


def _demo_price(drug: Drug) -> Decimal:
    """A shelf price per box at or under the national standard (per pricing unit) where public."""
    amounts = [s.amount for s in current_payment_standards(drug) if s.amount is not None]
    return min(amounts) if amounts else Decimal("100.00")


def _demo_national_codes(admin: User, drugs: list[Drug]) -> None:
    """The negotiated list carries no 医保药品代码, which every platform upload names: an
    administrator enters them from the national code database; the demo's are marked DEMO."""
    for drug in drugs:
        if not drug.national_code:
            drug_set_national_code(actor=admin, drug_id=drug.pk, code=f"XDEMO{drug.pk:018d}")
            drug.refresh_from_db(fields=["national_code"])


def _demo_stock(pharmacist: User, drugs: list[Drug]) -> None:
    """Two batches of every drug the demo pharmacy equips, each box with its traceability code."""
    today = timezone.localdate()
    for drug in drugs:
        prefix = f"81{drug.pk:05d}"[:7]  # the first 7 digits identify the product
        for n, months in enumerate((8, 20)):
            stock_receive(
                actor=pharmacist,
                drug_id=drug.pk,
                batch_no=f"DEMO{drug.pk:04d}{n + 1}",
                expiry_date=today + relativedelta(months=months),
                quantity=5,
                trace_codes=[f"{prefix}{n + 1:03d}{i:010d}" for i in range(1, 6)],
                retail_price=_demo_price(drug),
                manufacturer="演示药业有限公司",
                idempotency_key=f"demo-receive-{drug.pk}-{n}",
            )


def _demo_online_orders(pharmacist: User) -> None:
    """江岸演示大药房 takes online orders [CX art. 22]: pick-up windows in its hours, delivery
    across Wuhan (the city's code covers its districts) for 8 yuan."""
    rx.delivery_settings_save(
        actor=pharmacist,
        opens_at=time(8, 0),
        closes_at=time(21, 0),
        delivers=True,
        fee=Decimal("8.00"),
        area_codes=["420100"],
    )


def _demo_prescription(physician_user: User, person, pharmacy: Institution, drug: Drug) -> None:
    """李秀英's diabetes prescription (门诊慢特病), routed to 江岸演示大药房 for the counter."""
    prescription = rx.prescription_issue(
        actor=physician_user,
        patient_id_number=person.id_number,
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="E11.900",
        items=[
            {
                "drug_id": drug.pk,
                "quantity": "1",
                "unit": "盒",
                "package_unit": "盒",
                "single_dose": "1",
                "dose_unit": "片",
                "frequency": "每日一次",
                "route": "口服",
                "days": 28,
            }
        ],
    )
    rx.prescription_route(
        actor=physician_user, prescription_id=prescription.pk, pharmacy_id=pharmacy.pk, consent=True
    )


def _demo_stay(person) -> None:
    """刘芳's stay at 武汉演示协和医院, registered by the insurance office, and its bill settled
    against the stay (the stay's deductible counted once) [AH §2(5), CX art. 19]: the
    reviewer's 住院登记 page and the stay's bill show them. The hospital settles its own
    inpatient bill through its HIS, so the bill is not uploaded from here (not connected)."""
    reviewer = User.objects.get(username="reviewer")
    stay = registry.stay_register(
        actor=reviewer,
        id_number=person.id_number,
        admission_no="ZY2026000101",
        admitted_on=timezone.localdate() - relativedelta(days=3),
        diagnosis_code="C34.900",
        diagnosis_name="肺恶性肿瘤",
    )
    settlement_services.stay_bill_settle(
        actor=reviewer,
        stay_id=stay.pk,
        lines=[
            {"name": "床位费", "amount": "600.00", "category": "甲"},
            {"name": "检查费", "amount": "1400.00", "category": "甲"},
            {"name": "自费耗材", "amount": "100.00", "category": "自费"},
        ],
        idempotency_key="demo-stay-bill-1",
    )


# The hospital's month (issue 12): what the physician's and the reviewer's work queues hold.
DEMO_CASES = (
    # (person index, drug, HIS diagnosis, attestations answered yes, plan dose, total, unit)
    (2, "诺西那生钠注射液", ("G12.103", "婴儿型脊髓性肌萎缩，Ⅱ型"), [], "12mg", "4", "支"),
    (4, "艾加莫德α注射液", ("G70.000", "重症肌无力"), ["generalized"], "10mg/kg", "8", "支"),
    (
        1,
        "曲妥珠单抗注射液(皮下注射)",
        ("C50.900", "乳房恶性肿瘤"),
        ["metastatic"],
        "600mg",
        "6",
        "支",
    ),
    (5, "洛拉替尼片", ("C34.100x004", "右肺上叶恶性肿瘤"), ["advanced"], "100mg", "90", "片"),
)
# 王小宝's eligibility was granted a cycle ago: its re-evaluation window is open now [HB art. 9].
REEVALUATION_DUE_IN_DAYS = 4


def _demo_cases(physician_user: User, persons: list, pharmacy: Institution) -> None:
    """Four cases of 李明's, filed through the services: 王小宝's granted a cycle ago and due for
    re-evaluation; 杨军's and 刘芳's under review; 孙丽's asked for a report the HIS holds."""
    reviewer = User.objects.get(username="reviewer")
    today = timezone.localdate()
    made = []
    for index, drug_name, (code, name), attested, dose, total, unit in DEMO_CASES:
        drug = Drug.objects.filter(generic_name=drug_name).first()
        if drug is None:
            continue
        granted = index == 2
        cycle = drug.criteria_sets.order_by("-pk").first().evaluation_cycle_days or 90
        day = today - timedelta(days=cycle - REEVALUATION_DUE_IN_DAYS) if granted else today
        application = eligibility_services.application_create(
            actor=physician_user,
            patient_id_number=persons[index].id_number,
            drug_id=drug.pk,
            diagnosis_code=code,
            diagnosis_name=name,
            pharmacy_id=pharmacy.pk,
        )
        if attested:
            eligibility_services.application_answer(
                actor=physician_user,
                application_id=application.pk,
                answers=dict.fromkeys(attested, True),
            )
        eligibility_services.application_set_plan(
            actor=physician_user,
            application_id=application.pk,
            dose=dose,
            frequency="每四周一次" if unit == "支" else "每日一次",
            route="口服" if unit == "片" else "静脉滴注",
            total_quantity=total,
            quantity_unit=unit,
            period_start=day,
            period_end=day + timedelta(days=cycle - 1),
            evaluation_cycle_days=cycle,
        )
        eligibility_services.application_submit(
            actor=physician_user, application_id=application.pk, today=day
        )
        if granted:
            eligibility_services.application_approve(
                actor=reviewer, application_id=application.pk, today=day
            )
        made.append(application)
    if len(made) == len(DEMO_CASES):
        _demo_patient_upload(reviewer, persons[DEMO_CASES[1][0]], made[1])
        # 孙丽's: the reviewer asks for the immunohistochemistry report, which the HIS holds
        eligibility_services.application_request_materials(
            actor=reviewer,
            application_id=made[-1].pk,
            kinds=["immunohistochemistry"],
            note="请补充免疫组化报告",
        )


def _scan_pdf() -> bytes:
    """A one-page PDF, as a phone's scanner app makes it (the same bytes on every run)."""
    out = BytesIO()
    page = canvas.Canvas(out, invariant=1)
    page.drawString(72, 720, "Discharge summary (demo scan)")
    page.save()
    return out.getvalue()


def _demo_patient_upload(reviewer: User, person, application) -> None:
    """杨军's case: the reviewer asked for the other hospital's discharge summary, he uploaded it;
    the case is under review again with one upload waiting for 核验 (opened first)."""
    eligibility_services.application_request_materials(
        actor=reviewer,
        application_id=application.pk,
        kinds=["discharge_summary"],
        note="请上传外院出院小结",
    )
    patient = _user("patient_yang", "杨军", Role.PATIENT, insured_person=person)
    eligibility_materials.material_upload(
        actor=patient,
        application_id=application.pk,
        kind="discharge_summary",
        filename="外院出院小结.pdf",
        content=_scan_pdf(),
        content_type="application/pdf",
    )


def _demo_officer_month(
    officer: User, physician_user: User, person, pharmacy: Institution, drug: Drug
) -> None:
    """What waits for the agency this month (the officer's workbench): 武昌演示医药连锁's
    applied batch of 杨军's settled purchase, an open monitoring alert, a responsible physician
    filed and not yet accepted, and a second officer who decides the claims the first enters."""
    _user("officer2", "吴经办", Role.AGENCY_OFFICER, institution=officer.institution)
    clerk = _user("pharmacist2", "钱药师", Role.PHARMACIST, institution=pharmacy)
    registry.pharmacist_create(
        actor=officer,
        pharmacy=pharmacy,
        name="钱药师",
        practising_certificate_no="ZY4201060001",
        user=clerk,
    )
    registry.equipped_drug_add(actor=officer, institution=pharmacy, drug=drug)
    _demo_wuchang_sale(clerk, physician_user, person, pharmacy, drug)
    batch = settlement_services.batch_prepare(  # settled today: this month's batch
        actor=clerk, institution_id=pharmacy.pk, month=timezone.localdate()
    )
    if settings.SIMULATORS_ENABLED:  # reconciled with the bundled platform simulator, applied
        settlement_services.batch_reconcile(actor=clerk, batch_id=batch.pk)
        settlement_services.batch_apply(
            actor=clerk,
            batch_id=batch.pk,
            acknowledge_mismatches=True,
            note="演示：结算尚待上传医保平台，差异已核对",
        )
    duplicate = f"81{drug.pk:05d}"[:7] + f"9{7:012d}"  # a code of its stock, scanned twice
    alert_raise(
        rule="trace_code_duplicate",
        severity="warning",
        institution=pharmacy,
        subject=("inventory.TraceCode", duplicate),
        evidence={"trace_code": duplicate},
    )
    hospital = Institution.objects.get(name="武汉演示协和医院")
    registry.physician_file(
        actor=officer,
        hospital=hospital,
        name="何静",
        staff_code="D420102000103",
        department="血液科",
        title=TitleRank.ASSOCIATE_CHIEF,
        practising_certificate_no="110420100000103",
    )


def _demo_wuchang_sale(
    clerk: User, physician_user: User, person, pharmacy: Institution, drug: Drug
) -> None:
    """杨军's diabetes drug (a month, 180 片 in boxes of 30) received, dispensed and settled at
    武昌演示医药连锁 today; above the year's deductible, so the fund pays a part."""
    prefix = f"81{drug.pk:05d}"[:7]  # the product's, as on the other demo stock
    codes = [f"{prefix}9{i:012d}" for i in range(1, 8)]
    received = stock_receive(
        actor=clerk,
        drug_id=drug.pk,
        batch_no=f"DEMO{drug.pk:04d}W",
        expiry_date=timezone.localdate() + relativedelta(months=12),
        quantity=len(codes),
        trace_codes=codes,
        retail_price=_demo_price(drug) * 30,  # a box of 30 at the standard per 片
        manufacturer="演示药业有限公司",
        idempotency_key=f"demo-receive-wuchang-{drug.pk}",
    )
    prescription = _demo_outpatient_prescription(physician_user, person, pharmacy, drug)
    item = prescription.items.get()
    rx_counter.counter_dispense(
        actor=clerk,
        prescription_id=prescription.pk,
        identity=rx_counter.Identity(certificate_type="02", certificate_no=person.id_number),
        lines=[
            {
                "item_id": item.pk,
                "stock_item_id": received.movements[0].stock_item_id,
                "packages": 6,
                "trace_codes": codes[:6],
            }
        ],
        idempotency_key="demo-dispense-wuchang",
    )
    settlement_services.settlement_settle(
        actor=clerk, prescription_id=prescription.pk, idempotency_key="demo-settle-wuchang"
    )


def _demo_outpatient_prescription(physician_user: User, person, pharmacy: Institution, drug: Drug):
    prescription = rx.prescription_issue(
        actor=physician_user,
        patient_id_number=person.id_number,
        benefit_type=BenefitType.GENERAL_OUTPATIENT,
        diagnosis_code="E11.900",
        items=[
            {
                "drug_id": drug.pk,
                "quantity": "180",
                "unit": "片",
                "pack_size": "30",
                "package_unit": "盒",
                "single_dose": "2",
                "dose_unit": "片",
                "frequency": "每日三次",
                "route": "口服",
                "days": 30,
            }
        ],
    )
    return rx.prescription_route(
        actor=physician_user, prescription_id=prescription.pk, pharmacy_id=pharmacy.pk, consent=True
    )


def demo_logins() -> list[Login]:
    return [
        Login("doctor", "责任医师", "李明 · 武汉演示协和医院 肿瘤科"),
        Login("reviewer", "医院医保办审核员", "陈审核 · 武汉演示协和医院"),
        Login("pharmacist", "药师", "赵药师 · 江岸演示大药房"),
        Login("pharmacist2", "药师", "钱药师 · 武昌演示医药连锁（本月已申报）"),
        Login("officer", "医保经办人员", "周经办 · 武汉市医疗保障事务中心"),
        Login("officer2", "医保经办人员", "吴经办 · 武汉市医疗保障事务中心（复核手工报销）"),
        Login("patient", "参保患者", "张伟（职工医保）"),
        Login("patient_yang", "参保患者", "杨军（已按要求上传外院出院小结，待审核员核验）"),
        Login("admin", "系统管理员", "后台 /admin/"),
        Login("outsider_officer", "外区经办人员", "孙经办 · 合肥（看不到武汉的数据）"),
        Login("outsider_doctor", "外院医师", "吴医生 · 合肥演示第一医院"),
    ]
