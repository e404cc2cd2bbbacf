"""The reviewer's and the physician's workbenches (issue 12, points 1–3 and 7): evidence opened
in place and recorded before 核验通过, the signed forms for their signer and reviewers only,
plausible plans, the work queues, 复查评估 from a page — each refusal in Chinese, nothing
written."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.core.tests.files import PDF
from dualchannel.eligibility import services
from dualchannel.eligibility.models import (
    ApplicationStatus,
    EligibilityStatus,
    Material,
    MaterialSource,
    Reevaluation,
    VerificationState,
)
from dualchannel.eligibility.services import materials
from dualchannel.eligibility.views import no_record
from dualchannel.eligibility.words import fact_text

from .factories import PLAN, REQUIRED_KINDS

S = ApplicationStatus
HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def uploaded(make_draft, insured_person, patient_user, physician_user):
    """A case completed by the patient's uploads: each one unverified."""
    application = make_draft(insured_person)
    services.application_submit(actor=physician_user, application_id=application.pk)
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
    return application


def opened(material: Material) -> int:
    return AuditEvent.objects.filter(
        action="eligibility.material_opened", subject_id=str(material.pk)
    ).count()


# --- evidence opened in place ----------------------------------------------------------------


def test_verify_before_opening_is_refused_in_chinese_and_nothing_changes(
    client, uploaded, reviewer_user
):
    material = uploaded.materials.filter(source=MaterialSource.PATIENT_UPLOAD).first()
    logged_in(client, reviewer_user)

    refused = client.post(
        reverse("eligibility-review-verify", args=[material.pk]), {"verified": "1"}, **HTMX
    ).content.decode()

    assert "请先打开并查看该材料" in refused
    material.refresh_from_db()
    assert material.verification_state == VerificationState.UNVERIFIED
    assert not AuditEvent.objects.filter(action="eligibility.material_verified").exists()


def test_opening_a_material_shows_it_in_place_records_it_and_allows_verification(
    client, uploaded, reviewer_user
):
    material = uploaded.materials.filter(source=MaterialSource.PATIENT_UPLOAD).first()
    logged_in(client, reviewer_user)

    viewer = client.get(reverse("eligibility-review-material", args=[material.pk]), **HTMX)

    body = viewer.content.decode()
    file_url = reverse("eligibility-review-material-file", args=[material.pk])
    assert f'<iframe class="evidence-frame" src="{file_url}"' in body
    assert "核验通过" in body
    assert opened(material) == 1
    served = client.get(file_url)
    assert served.status_code == 200 and served["Content-Type"] == "application/pdf"
    assert served["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in served["Content-Security-Policy"]
    client.post(reverse("eligibility-review-verify", args=[material.pk]), {"verified": "1"})
    material.refresh_from_db()
    assert material.verification_state == VerificationState.VERIFIED


def test_a_his_report_is_shown_as_text_and_the_case_page_links_every_item(
    client, make_draft, zhang, physician_user, reviewer_user
):
    application = make_draft(zhang)
    services.application_submit(actor=physician_user, application_id=application.pk)
    application.refresh_from_db()
    report = application.materials.filter(source=MaterialSource.HIS).first()
    logged_in(client, reviewer_user)

    case = client.get(reverse("eligibility-review-case", args=[application.pk])).content.decode()
    page = client.get(reverse("eligibility-review-material", args=[report.pk])).content.decode()

    for material in application.materials.all():
        assert reverse("eligibility-review-material", args=[material.pk]) in case
    assert reverse("document-view", args=[application.application_form_id]) in case
    assert '<pre class="report">' in page and "报告编号" in page
    # the criteria's data in Chinese: no key or English value
    assert "ALK 阳性" in case and "positive" not in case and "age：" not in case


@pytest.mark.parametrize("who", ["outsider_reviewer", "physician_user", "patient_user"])
def test_others_cannot_open_a_material(request, client, uploaded, who):
    material = uploaded.materials.first()
    logged_in(client, request.getfixturevalue(who))

    for name in ("eligibility-review-material", "eligibility-review-material-file"):
        response = client.get(reverse(name, args=[material.pk]))
        assert response.status_code in (403, 404)
    assert opened(material) == 0


def test_the_primary_action_is_to_request_materials_while_an_upload_is_unverified(
    client, uploaded, reviewer_user
):
    body = (
        logged_in(client, reviewer_user)
        .get(reverse("eligibility-review-case", args=[uploaded.pk]))
        .content.decode()
    )

    assert '<details id="request-materials" open>' in body
    assert 'id="approve" class="secondary outline"' in body


def test_the_history_says_who_did_what(client, uploaded, reviewer_user):
    body = (
        logged_in(client, reviewer_user)
        .get(reverse("eligibility-review-case", args=[uploaded.pk]))
        .content.decode()
    )

    assert "签名并提交申请" in body and "上传材料「病理诊断报告」" in body
    assert "eligibility.application" not in body


# --- the signed forms --------------------------------------------------------------------------


def test_signed_form_for_its_signer_and_reviewers_only(
    client, make_draft, zhang, physician_user, reviewer_user, hospital, pharmacist_user
):
    application = make_draft(zhang)
    services.application_submit(actor=physician_user, application_id=application.pk)
    application.refresh_from_db()
    form = application.application_form_id
    file_url = reverse("document-file", args=[form])
    colleague = UserFactory(institution=hospital, roles=[Role.PHYSICIAN])

    for user in (physician_user, reviewer_user):
        response = logged_in(client, user).get(file_url, {"download": "1"})
        assert response.status_code == 200 and response.content.startswith(b"%PDF")
        assert response["Content-Disposition"].startswith("attachment")
    for user in (colleague, pharmacist_user):
        assert logged_in(client, user).get(file_url).status_code in (403, 404)


# --- plausible plans ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"total_quantity": "99999999"}, "总药量 99999999片 不合理"),
        ({"period_end": "2026-01-01"}, "方案结束日期不得早于开始日期"),
        ({"period_end": "2028-03-02"}, "不得超过 366 天"),
    ],
)
def test_an_implausible_plan_is_refused_in_chinese_and_not_saved(
    client, make_draft, zhang, physician_user, change, message
):
    application = make_draft(zhang, plan=False)
    form = {
        "dose_value": "150",
        "dose_unit": "mg",
        "frequency": "每日一次",
        "route": "口服",
        "total_quantity": "90",
        "quantity_unit": "片",
        "period_start": "2026-03-02",
        "period_end": "2026-05-30",
        **change,
    }

    response = logged_in(client, physician_user).post(
        reverse("eligibility-doctor-plan", args=[application.pk]), form, **HTMX
    )

    assert message in response.content.decode()
    application.refresh_from_db()
    assert not application.has_plan and application.total_quantity is None
    assert not AuditEvent.objects.filter(action="eligibility.plan_set").exists()


# --- the physician's queue and 复查评估 ------------------------------------------------------


def test_the_physicians_home_is_a_queue_and_explains_the_three_fixed_pharmacy(
    client, make_draft, zhang, physician_user
):
    make_draft(zhang)

    body = logged_in(client, physician_user).get(reverse("eligibility-doctor")).content.decode()

    assert "草稿 1" in body and "待补充材料 0" in body and "待复查评估 0" in body
    assert "三定" in body and "（必选）" in body and "可不选" not in body


def test_a_physician_without_a_report_in_the_his_is_told_so_and_nothing_is_written(
    client, make_draft, insured_person, physician_user
):
    application = make_draft(insured_person)
    services.application_submit(actor=physician_user, application_id=application.pk)
    application.refresh_from_db()
    assert application.status == S.MATERIALS_REQUESTED
    before = application.materials.count()

    response = logged_in(client, physician_user).post(
        reverse("eligibility-doctor-pull", args=[application.pk]), **HTMX
    )

    assert "院内系统中仍没有所需的材料" in response.content.decode()
    assert application.materials.count() == before


@pytest.fixture
def approved(make_draft, zhang, physician_user, reviewer_user):
    application = make_draft(zhang)
    services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    return services.application_approve(
        actor=reviewer_user, application_id=application.pk, today=date(2026, 3, 4)
    )


def test_reevaluation_from_the_page(client, approved, physician_user):
    logged_in(client, physician_user)
    home = client.get(reverse("eligibility-doctor")).content.decode()
    assert reverse("eligibility-doctor-reevaluation", args=[approved.pk]) in home

    client.post(reverse("eligibility-doctor-reevaluation-start", args=[approved.pk]), **HTMX)
    approved.refresh_from_db()
    assert approved.status == EligibilityStatus.IN_REEVALUATION

    # an empty assessment is refused in words; nothing is completed
    refused = client.post(
        reverse("eligibility-doctor-reevaluation-complete", args=[approved.pk]),
        {"result": "continue", "assessment": ""},
        **HTMX,
    ).content.decode()
    assert "请填写复查评估情况" in refused
    assert not Reevaluation.objects.filter(completed_at__isnull=False).exists()

    done = client.post(
        reverse("eligibility-doctor-reevaluation-complete", args=[approved.pk]),
        {"result": "continue", "assessment": "病情稳定，继续用药", "evaluation_cycle_days": "90"},
        **HTMX,
    )
    assert done.status_code == 204
    approved.refresh_from_db()
    assert approved.status == EligibilityStatus.ACTIVE
    page = client.get(
        reverse("eligibility-doctor-reevaluation", args=[approved.pk])
    ).content.decode()
    assert "继续原方案" in page and "下载 PDF" in page


def test_reevaluation_pages_refuse_other_roles(client, approved, reviewer_user):
    logged_in(client, reviewer_user)
    url = reverse("eligibility-doctor-reevaluation-start", args=[approved.pk])

    assert client.post(url).status_code == 403
    approved.refresh_from_db()
    assert approved.status == EligibilityStatus.ACTIVE


# --- words ---------------------------------------------------------------------------------------


def test_facts_are_shown_in_chinese_and_no_data_is_no_record():
    assert fact_text("genes", {"ALK": "positive", "EGFR": "wildtype"}) == "ALK 阳性，EGFR 野生型"
    assert fact_text("patient", {"age": 63, "sex": "1"}) == "年龄 63 岁，性别 男"
    assert fact_text("prior_therapies", []) == "无记录"
    assert fact_text("labs", {"ACHR_AB": 6.2}) == "乙酰胆碱受体抗体 6.2"
    assert no_record({"data": {"prior_therapies": [], "labs": {}}})
    assert not no_record({"data": {"genes": {"ALK": "positive"}}})
    assert PLAN  # the factories' plan is the plausible one the other tests save
