from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.core.tests.files import PDF
from dualchannel.eligibility import services
from dualchannel.eligibility.models import (
    Application,
    ApplicationStatus,
    Eligibility,
    MaterialSource,
    VerificationState,
)
from dualchannel.eligibility.services import materials
from dualchannel.eligibility.tests.factories import designated_physician
from dualchannel.integration.models import FilingStatus, PlatformFiling
from dualchannel.integration.services.filing import filing_process
from dualchannel.registry.models import BindingMode
from dualchannel.registry.profiles import profile_for
from dualchannel.registry.tests.factories import InsuredPersonFactory, make_id_number
from dualchannel.simulators.platform import simulator_fail_next

from .factories import PLAN, REQUIRED_KINDS, drug_with_criteria, liu_fang

S = ApplicationStatus
HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(client, user):
    client.force_login(user)
    return client


def under_review(make_draft, person, physician_user):
    application = make_draft(person)
    services.application_submit(actor=physician_user, application_id=application.pk)
    application.refresh_from_db()
    return application


# --- access ----------------------------------------------------------------------------------


def test_physician_workbench_lists_own_hospital_applications(
    client, make_draft, zhang, physician_user, bound_pharmacy
):
    # given a draft of the physician's hospital
    application = make_draft(zhang)

    # when the physician opens the workbench
    response = logged_in(client, physician_user).get(reverse("eligibility-doctor"))

    # then the application is listed with the masked name, and the new-application form is there
    body = response.content.decode()
    assert response.status_code == 200
    assert application.application_no in body
    assert "张*" in body and "张伟" not in body
    assert "新建申请" in body
    assert bound_pharmacy.name in body


def test_physician_lands_on_workbench_and_reviewer_on_queue(client, physician_user, reviewer_user):
    assert logged_in(client, physician_user).get(reverse("home")).url == reverse(
        "eligibility-doctor"
    )
    client.logout()
    assert logged_in(client, reviewer_user).get(reverse("home")).url == reverse(
        "eligibility-review"
    )


def test_other_hospitals_staff_get_404_and_patients_403(
    client, make_draft, zhang, outsider_physician, outsider_reviewer, patient_user
):
    # given a draft of another hospital
    application = make_draft(zhang, plan=False)
    doctor_page = reverse("eligibility-doctor-application", args=[application.pk])
    review_page = reverse("eligibility-review-case", args=[application.pk])

    # then staff of another hospital do not learn it exists, and a patient is refused
    assert logged_in(client, outsider_physician).get(doctor_page).status_code == 404
    answer = client.post(
        reverse("eligibility-doctor-answer", args=[application.pk]),
        {"code": "advanced", "answer": "no"},
    )
    assert answer.status_code == 404
    client.logout()
    assert logged_in(client, outsider_reviewer).get(review_page).status_code == 404
    client.logout()
    assert logged_in(client, patient_user).get(doctor_page).status_code == 403
    assert client.get(reverse("eligibility-review")).status_code == 403
    # and nothing changed
    assert application.answers.get(code="advanced").answer is True


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("eligibility-doctor"))
    assert response.status_code == 302
    assert "/accounts/login/" in response.url


# --- the physician's checklist ---------------------------------------------------------------


def test_patient_lookup_offers_his_diagnoses(client, physician, zhang, physician_user):
    response = logged_in(client, physician_user).get(
        reverse("eligibility-doctor-patient"), {"patient_id_number": zhang.id_number}, **HTMX
    )
    body = response.content.decode()
    assert "张*" in body
    assert 'value="C34.100x004|右肺上叶恶性肿瘤"' in body


def _lookup(client, user, id_number: str, *, launch: bool = False) -> str:
    if launch:
        url, query = reverse("eligibility-doctor"), {"patient": id_number}
    else:
        url, query = reverse("eligibility-doctor-patient"), {"patient_id_number": id_number}
    response = logged_in(client, user).get(url, query, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    # the launch page: its patient box (the rest holds a per-response CSRF token)
    return body.split('id="patient-info"')[1].split("</div>")[0] if launch else body


@pytest.mark.parametrize("launch", [False, True], ids=["lookup", "his-launch"])
def test_another_hospitals_physician_learns_nothing_of_the_hospitals_patient(
    client, zhang, outsider_physician, launch
):
    # given 张伟, insured and in the demo HIS of the Wuhan hospital, and a Hefei physician

    nobody = make_id_number("420102", date(1990, 1, 1), 77)

    # when the Hefei physician types his ID number, and a number nobody has
    known = _lookup(client, outsider_physician, zhang.id_number, launch=launch)
    unknown = _lookup(client, outsider_physician, nobody, launch=launch)

    # then both answers are the same "not found": no masked name, no diagnosis, no hint
    assert "张*" not in known and "C34.100x004" not in known
    assert known.replace(zhang.id_number, nobody) == unknown
    assert "未找到该患者" in known


def test_an_insured_person_unknown_to_the_hospitals_system_is_not_found(
    client, physician, physician_user
):
    # given an insured person the hospital's own system has never seen (no application here)

    stranger = InsuredPersonFactory(name="路人丁")

    body = _lookup(client, physician_user, stranger.id_number)

    assert "路*" not in body and "未找到该患者" in body


def test_a_patient_with_an_application_here_is_found_without_a_his_record(
    client, settings, make_draft, zhang, physician_user
):
    # given 张伟's application at this hospital, and the hospital's system disconnected
    make_draft(zhang)
    settings.HIS_HOSPITALS = []

    body = _lookup(client, physician_user, zhang.id_number)

    assert "张*" in body
    assert "院内系统中没有该患者的诊断" in body


def test_drug_suggestions_are_limited_to_drugs_with_criteria(
    client, physician, lung_drug, physician_user
):

    DrugFactory(generic_name="塞来昔布胶囊", pinyin_initials="slxbjn")
    response = logged_in(client, physician_user).get(
        reverse("eligibility-doctor-drugs"), {"drug_q": "塞"}, **HTMX
    )
    body = response.content.decode()
    assert lung_drug.generic_name in body
    assert "塞来昔布胶囊" not in body


def test_physician_creates_a_draft_by_id_number_and_selections(
    client, physician, zhang, lung_drug, bound_pharmacy, physician_user
):
    # when the physician posts the new-application form (only the ID number is typed)
    response = logged_in(client, physician_user).post(
        reverse("eligibility-doctor-create"),
        {
            "patient_id_number": zhang.id_number,
            "drug_id": lung_drug.pk,
            "diagnosis": "C34.100x004|右肺上叶恶性肿瘤",
            "pharmacy_id": bound_pharmacy.pk,
        },
    )

    # then a draft exists and the physician is taken to it
    application = Application.objects.get(patient=zhang)
    assert application.status == S.DRAFT
    assert response.url == reverse("eligibility-doctor-application", args=[application.pk])


def test_application_page_shows_checklist_with_his_evidence_and_prefilled_period(
    client, make_draft, zhang, physician_user
):
    application = make_draft(zhang, plan=False)
    response = logged_in(client, physician_user).get(
        reverse("eligibility-doctor-application", args=[application.pk])
    )
    body = response.content.decode()
    assert response.status_code == 200
    for text in ("非小细胞肺癌", "ALK阳性", "术后辅助", "晚期"):
        assert text in body
    assert "C34.100x004 右肺上叶恶性肿瘤 · 病理诊断报告" in body
    assert 'name="period_start"' in body and 'name="period_end"' in body
    # the submit button waits for the plan
    assert "请先填写并保存治疗用药方案" in body
    assert 'id="submit-application" disabled' in body


def test_htmx_answer_rerenders_checklist_with_the_new_outcome(
    client, make_draft, zhang, physician_user
):
    # given an eligible, planned draft (answered "advanced: yes")
    application = make_draft(zhang)
    services.application_answer(
        actor=physician_user, application_id=application.pk, answers={"adjuvant": False}
    )

    # when the physician flips "advanced" to no
    response = logged_in(client, physician_user).post(
        reverse("eligibility-doctor-answer", args=[application.pk]),
        {"code": "advanced", "answer": "no"},
        **HTMX,
    )

    # then the fragment shows the failing criteria by their policy text, and submit is disabled
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'data-code="advanced" data-outcome="not_met"' in body
    assert "不符合认定条件：「术后辅助」；「晚期」" in body
    assert 'id="submit-application" disabled' in body
    assert application.answers.get(code="advanced").answer is False

    # when flipped back to yes, the application can be submitted
    body = client.post(
        reverse("eligibility-doctor-answer", args=[application.pk]),
        {"code": "advanced", "answer": "yes"},
        **HTMX,
    ).content.decode()
    assert 'data-code="advanced" data-outcome="met"' in body
    assert 'id="submit-application" >' in body or 'id="submit-application">' in body


def test_ineligible_application_names_the_failing_criterion_and_cannot_be_submitted(
    client, make_draft, physician_user
):
    # given a breast-cancer patient drafted for a lung-cancer drug
    application = make_draft(liu_fang(), code="C50.900", name="乳腺恶性肿瘤")

    # when the physician opens it
    logged_in(client, physician_user)
    page = client.get(reverse("eligibility-doctor-application", args=[application.pk]))

    # then the failing criterion is named and the button is disabled
    body = page.content.decode()
    assert "不符合认定条件：「非小细胞肺癌」" in body
    assert 'id="submit-application" disabled' in body

    # and a forced post is refused with the policy text, nothing changes
    response = client.post(reverse("eligibility-doctor-submit", args=[application.pk]), **HTMX)
    assert "非小细胞肺癌" in response.content.decode()
    assert response.headers["HX-Retarget"] == "#messages"
    application.refresh_from_db()
    assert application.status == S.DRAFT


def test_plan_form_saves_numbers_and_submit_files_the_application(
    client, make_draft, zhang, physician_user
):
    # given an answered draft without a plan
    application = make_draft(zhang, plan=False)
    logged_in(client, physician_user)

    # when the physician saves the plan (numbers typed, the rest selected or pre-filled)
    response = client.post(
        reverse("eligibility-doctor-plan", args=[application.pk]),
        {
            "dose_value": "250",
            "dose_unit": "mg",
            "frequency": "每日两次",
            "route": "口服",
            "total_quantity": "180",
            "quantity_unit": "粒",
            "period_start": PLAN["period_start"].isoformat(),
            "period_end": PLAN["period_end"].isoformat(),
            "evaluation_cycle_days": "90",
        },
        **HTMX,
    )
    assert "治疗用药方案已保存" in response.content.decode()
    application.refresh_from_db()
    assert application.dose == "250mg" and application.has_plan

    # when submitted
    response = client.post(reverse("eligibility-doctor-submit", args=[application.pk]))

    # then it is under review, and the page links the signed forms (viewer and download)
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW
    page = client.get(response.url).content.decode()
    assert "审核中" in page
    assert reverse("document-view", args=[application.application_form_id]) in page
    assert reverse("document-file", args=[application.application_form_id]) in page


# --- the reviewer's workbench ----------------------------------------------------------------


def test_review_queue_lists_complete_cases_and_waiting_ones(
    client, make_draft, zhang, insured_person, physician_user, reviewer_user
):
    complete = under_review(make_draft, zhang, physician_user)
    waiting = under_review(make_draft, insured_person, physician_user)
    assert waiting.status == S.MATERIALS_REQUESTED

    body = logged_in(client, reviewer_user).get(reverse("eligibility-review")).content.decode()

    assert complete.application_no in body
    assert waiting.application_no in body
    assert "待补充材料" in body


def test_case_page_shows_criteria_and_evidence_side_by_side(
    client, make_draft, zhang, physician_user, reviewer_user
):
    application = under_review(make_draft, zhang, physician_user)

    body = (
        logged_in(client, reviewer_user)
        .get(reverse("eligibility-review-case", args=[application.pk]))
        .content.decode()
    )

    assert "非小细胞肺癌" in body and "符合" in body
    assert "院内系统" in body and "已核验" in body
    material = application.materials.first()
    assert reverse("eligibility-review-material", args=[material.pk]) in body
    assert 'id="approve"' in body


def test_reviewer_approves_a_complete_case_with_one_post_and_no_fields(
    client, make_draft, zhang, physician_user, reviewer_user
):
    application = under_review(make_draft, zhang, physician_user)

    response = logged_in(client, reviewer_user).post(
        reverse("eligibility-review-approve", args=[application.pk]), {}, **HTMX
    )

    assert response.headers["HX-Redirect"] == reverse(
        "eligibility-review-case", args=[application.pk]
    )
    application.refresh_from_db()
    assert application.status == S.APPROVED
    assert Eligibility.objects.filter(application=application).exists()


def test_case_page_shows_the_filing_and_a_failed_one_is_sent_again(
    client, make_draft, zhang, hospital, physician_user, reviewer_user, outsider_reviewer
):
    # given an approved case whose 2503 the platform refused to take (timeout)
    hospital.platform_code = "H42010200001"
    hospital.save(update_fields=["platform_code"])
    application = make_draft(zhang)
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    eligibility = services.application_approve(
        actor=reviewer_user, application_id=application.pk, today=date(2026, 3, 4)
    )
    simulator_fail_next(1, mode="timeout", infno="2503")
    assert filing_process(eligibility.filing_id).status == FilingStatus.FAILED
    case = reverse("eligibility-review-case", args=[application.pk])
    retry = reverse("eligibility-review-filing-retry", args=[application.pk, eligibility.filing_id])

    # then the reviewer sees its state and a button to send it again
    page = logged_in(client, reviewer_user).get(case).content.decode()
    assert "医保平台备案" in page and "发送失败（将重试）" in page and retry in page

    # another hospital's reviewer cannot retry it
    other = Client()
    other.force_login(outsider_reviewer)
    assert other.post(retry).status_code == 404

    # when the reviewer sends it again, the platform accepts it (filed once)
    client.post(retry)
    filing = PlatformFiling.objects.get(pk=eligibility.filing_id)
    assert filing.status == FilingStatus.ACCEPTED, filing.last_error
    assert filing.attempts == 2
    page = client.get(case).content.decode()
    assert "已受理" in page and filing.trt_dcla_detl_sn in page and retry not in page


def test_reject_requires_a_reason(client, make_draft, zhang, physician_user, reviewer_user):
    application = under_review(make_draft, zhang, physician_user)
    logged_in(client, reviewer_user)
    url = reverse("eligibility-review-reject", args=[application.pk])

    # without a reason: refused, nothing changed
    refused = client.post(url, {"reason": "  "}, **HTMX)
    assert "请填写不予通过的原因" in refused.content.decode()
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW

    # with a reason: rejected
    client.post(url, {"reason": "基因检测报告非本院认可机构出具"})
    application.refresh_from_db()
    assert application.status == S.REJECTED
    assert application.decision_reason == "基因检测报告非本院认可机构出具"


def test_request_materials_with_checkboxes_and_no_note(
    client, make_draft, zhang, physician_user, reviewer_user
):
    application = under_review(make_draft, zhang, physician_user)

    response = logged_in(client, reviewer_user).post(
        reverse("eligibility-review-request", args=[application.pk]),
        {"kinds": ["imaging", "outpatient_record"]},
    )

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == S.MATERIALS_REQUESTED
    assert set(application.requested_material_kinds) >= {"imaging", "outpatient_record"}


def test_patient_upload_stays_unverified_until_the_reviewer_verifies_it(
    client, make_draft, insured_person, patient_user, physician_user, reviewer_user
):
    # given a case completed by the patient's uploads
    application = under_review(make_draft, insured_person, physician_user)
    for kind in REQUIRED_KINDS:
        materials.material_upload(
            actor=patient_user,
            application_id=application.pk,
            kind=kind,
            filename=f"{kind}.pdf",
            content=PDF,
        )
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW
    logged_in(client, reviewer_user)
    case = reverse("eligibility-review-case", args=[application.pk])
    assert "未核验" in client.get(case).content.decode()

    # approving now is refused
    refused = client.post(reverse("eligibility-review-approve", args=[application.pk]), **HTMX)
    assert "材料尚未全部核验" in refused.content.decode()

    # when the reviewer verifies each upload (htmx), then approval goes through
    uploads = application.materials.filter(source=MaterialSource.PATIENT_UPLOAD)
    for material in uploads:
        # 核验通过 only after the reviewer opened the file in the viewer
        client.get(reverse("eligibility-review-material", args=[material.pk]), **HTMX)
        fragment = client.post(
            reverse("eligibility-review-verify", args=[material.pk]), {"verified": "1"}, **HTMX
        ).content.decode()
        assert "已核验" in fragment
    assert not uploads.filter(verification_state=VerificationState.UNVERIFIED).exists()
    client.post(reverse("eligibility-review-approve", args=[application.pk]), **HTMX)
    application.refresh_from_db()
    assert application.status == S.APPROVED


@pytest.mark.parametrize("name", ["eligibility-review-approve", "eligibility-review-reject"])
def test_physician_cannot_decide(client, make_draft, zhang, physician_user, name):
    application = under_review(make_draft, zhang, physician_user)
    response = logged_in(client, physician_user).post(reverse(name, args=[application.pk]))
    assert response.status_code == 403
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW


# --- withdraw and five-fixed on the pages --------------------------------------------------------


def test_physician_withdraws_with_a_listed_reason(client, make_draft, zhang, physician_user):
    application = under_review(make_draft, zhang, physician_user)
    page = reverse("eligibility-doctor-application", args=[application.pk])
    assert "撤回申请" in logged_in(client, physician_user).get(page).content.decode()

    response = client.post(
        reverse("eligibility-doctor-withdraw", args=[application.pk]), {"reason": "患者转院治疗"}
    )

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == S.WITHDRAWN
    assert application.decision_reason == "患者转院治疗"
    assert "撤回申请" not in client.get(page).content.decode()


def test_withdraw_with_a_free_text_reason_is_refused_and_changes_nothing(
    client, make_draft, zhang, physician_user
):
    application = under_review(make_draft, zhang, physician_user)

    response = logged_in(client, physician_user).post(
        reverse("eligibility-doctor-withdraw", args=[application.pk]), {"reason": "随便"}, **HTMX
    )

    assert "请选择撤回原因" in response.content.decode()
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW


def test_another_hospitals_physician_cannot_withdraw(
    client, make_draft, zhang, physician_user, outsider_physician
):
    application = under_review(make_draft, zhang, physician_user)

    response = logged_in(client, outsider_physician).post(
        reverse("eligibility-doctor-withdraw", args=[application.pk]), {"reason": "患者要求撤回"}
    )

    assert response.status_code == 404
    application.refresh_from_db()
    assert application.status == S.UNDER_REVIEW


@pytest.fixture
def five_fixed(hospital):

    profile = profile_for(hospital.region)
    profile.binding_mode = BindingMode.FIVE_FIXED
    profile.save(update_fields=["binding_mode"])
    return profile


def test_five_fixed_area_offers_treating_physicians_and_records_them(
    client, physician, zhang, lung_drug, bound_pharmacy, physician_user, five_fixed
):

    # given a second designated physician of the same hospital
    colleague_user = UserFactory(institution=physician_user.institution, roles=[Role.PHYSICIAN])
    colleague = designated_physician(colleague_user, staff_code="YS4201020099")

    home = logged_in(client, physician_user).get(reverse("eligibility-doctor"))
    assert f'value="{colleague.hospital_id}:{colleague.pk}"' in home.content.decode()

    client.post(
        reverse("eligibility-doctor-create"),
        {
            "patient_id_number": zhang.id_number,
            "drug_id": lung_drug.pk,
            "diagnosis": "C34.100x004|右肺上叶恶性肿瘤",
            "pharmacy_id": bound_pharmacy.pk,
            "treating": f"{colleague.hospital_id}:{colleague.pk}",
        },
    )

    application = Application.objects.get(patient=zhang)
    assert application.treating_physician == colleague
    assert application.treating_hospital is None  # same hospital: only the physician differs


def test_outside_five_fixed_the_treating_choice_is_not_offered(
    client, physician, physician_user, profiles
):
    home = logged_in(client, physician_user).get(reverse("eligibility-doctor"))
    assert 'name="treating"' not in home.content.decode()


# --- opened from the HIS: nothing typed to start ----------------------------------------


def test_his_launch_brings_the_patient_and_the_drugs_the_data_qualifies(
    client, physician, zhang, lung_drug, physician_user
):

    # given another drug whose criteria the data rules out (no EGFR mutation recorded for 张伟)
    egfr, _ = drug_with_criteria(generic_name="测试奥希替尼片")
    egfr_set = egfr.criteria_sets.get()
    egfr_set.items.filter(code="alk").update(expression='genes["ALK"] == "negative"')
    DrugFactory(generic_name="无关药品片")  # no criteria: never suggested

    # when the HIS opens the workbench with the patient in context
    page = logged_in(client, physician_user).get(
        reverse("eligibility-doctor"), {"patient": zhang.id_number}
    )

    body = page.content.decode()
    assert f'value="{zhang.id_number}"' in body
    assert "C34.100x004 右肺上叶恶性肿瘤" in body
    assert zhang.name not in body  # masked
    suggested = body.split('id="suggested-drugs"')[1].split("</fieldset>")[0]
    assert f'value="{lung_drug.pk}" checked' in suggested
    assert "测试奥希替尼片" not in suggested
    assert "无关药品片" not in suggested


def test_plan_unit_defaults_from_the_dosage_form(client, make_draft, zhang, physician_user):
    application = make_draft(zhang, plan=False)
    application.drug.dosage_form = "胶囊"
    application.drug.save(update_fields=["dosage_form"])

    page = logged_in(client, physician_user).get(
        reverse("eligibility-doctor-application", args=[application.pk])
    )

    assert '<option value="粒" selected>' in page.content.decode()
