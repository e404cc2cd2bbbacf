"""The patient's application page: progress, history, the requested materials and their upload."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from dualchannel.core.masking import mask_id_number
from dualchannel.core.models import AuditEvent
from dualchannel.eligibility.models import (
    ApplicationStatus,
    Material,
    MaterialSource,
    VerificationState,
)
from dualchannel.eligibility.services import materials as eligibility_materials
from dualchannel.registry.tests.factories import InsuredPersonFactory

from .factories import JPEG, PDF, application_maker

pytestmark = pytest.mark.django_db

S = ApplicationStatus


@pytest.fixture
def media_root(settings, tmp_path, demo_his):
    settings.MEDIA_ROOT = tmp_path / "private"
    return settings.MEDIA_ROOT


@pytest.fixture
def make_application(media_root, physician_user, pharmacy):
    return application_maker(physician_user, pharmacy)


@pytest.fixture
def waiting(make_application, insured_person):
    """The patient's application, waiting for pathology, gene test and diagnosis certificate."""
    application = make_application(insured_person)
    assert application.status == S.MATERIALS_REQUESTED
    return application


@pytest.fixture
def patient_client(client, patient_user):
    client.force_login(patient_user)
    return client


def detail_url(application) -> str:
    return reverse("portal-application", args=[application.pk])


def upload_url(application) -> str:
    return reverse("portal-material-upload", args=[application.pk])


def upload(client, application, kind, name, content, content_type="application/pdf"):
    return client.post(
        upload_url(application),
        {"kind": kind, "file": SimpleUploadedFile(name, content, content_type=content_type)},
    )


def without_tokens(response) -> str:
    """The page without its CSRF tokens (masked afresh for every response)."""
    html = response.content.decode()
    return re.sub(r'(content="|value="|"X-CSRFToken": ")[A-Za-z0-9]{64}', r"\1…", html)


def stored_files(media_root) -> list:
    return [p for p in media_root.rglob("*") if p.is_file() and "materials" in p.parts]


def assert_nothing_written(application, status, events_before, media_root) -> None:
    application.refresh_from_db()
    assert application.status == status
    assert not Material.objects.filter(source=MaterialSource.PATIENT_UPLOAD).exists()
    assert AuditEvent.objects.count() == events_before
    assert stored_files(media_root) == []


# --- the page --------------------------------------------------------------------------------


def test_own_application_shows_history_and_every_requested_kind(
    patient_client, waiting, insured_person
):
    # when the patient opens the application waiting for materials
    response = patient_client.get(detail_url(waiting))

    # then it shows the drug, the status, the history and the one complete list [HB art. 7(2)]
    html = response.content.decode()
    assert response.status_code == 200
    assert "塞瑞替尼胶囊" in html and waiting.application_no in html
    timeline = html.split('id="timeline"', 1)[1]
    assert [label for label in ("草稿", "已提交", "待补充材料") if label in timeline] == [
        "草稿",
        "已提交",
        "待补充材料",
    ]
    requested = html.split('id="requested-materials"', 1)[1].split('id="materials"', 1)[0]
    assert "需补充的材料（共 3 项）" in requested
    for label in ("病理诊断报告", "基因检测报告", "诊断证明"):
        assert label in requested
    assert "本院信息系统中未能调取" in requested
    assert f"请于 {waiting.materials_deadline:%Y年%-m月%-d日} 前补齐" in requested
    # one mobile upload form per kind, CSRF-protected, multipart, with a camera input
    assert requested.count('enctype="multipart/form-data"') == 3
    assert requested.count("csrfmiddlewaretoken") == 3
    assert 'capture="environment"' in requested and 'accept="application/pdf,' in requested
    # and the patient's identifiers only masked
    assert mask_id_number(insured_person.id_number) in html
    assert insured_person.id_number not in html
    assert insured_person.phone not in html
    assert "张三" not in html


def test_the_home_page_links_each_application(patient_client, waiting):
    html = patient_client.get(reverse("portal-home")).content.decode()

    assert f'href="{detail_url(waiting)}"' in html
    assert "下一步：请上传缺少的材料" in html


def test_another_patients_application_is_a_404_like_a_missing_one(
    patient_client, make_application, waiting
):
    # given an application of someone else
    other = make_application(InsuredPersonFactory(name="别人"))

    # when the patient asks for it, and for an id that does not exist
    foreign = patient_client.get(detail_url(other))
    missing = patient_client.get(reverse("portal-application", args=[other.pk + 1000]))

    # then both answers are the same 404, without the other's data
    assert foreign.status_code == missing.status_code == 404
    assert without_tokens(foreign) == without_tokens(missing)
    assert other.application_no not in foreign.content.decode()


def test_anonymous_visitors_go_to_the_login(client, waiting):
    page = client.get(detail_url(waiting))
    posted = upload(client, waiting, "pathology", "a.pdf", PDF)

    for response in (page, posted):
        assert response.status_code == 302
        assert response.url.startswith(reverse("portal-login"))
    assert not Material.objects.filter(source=MaterialSource.PATIENT_UPLOAD).exists()


def test_staff_cannot_use_the_patient_pages(client, physician_user, waiting):
    client.force_login(physician_user)

    assert client.get(detail_url(waiting)).status_code == 403


# --- uploading -------------------------------------------------------------------------------


def test_a_pdf_upload_is_kept_unverified_with_its_audit_event(
    patient_client, waiting, patient_user, insured_person
):
    # when the patient uploads the pathology report
    response = upload(patient_client, waiting, "pathology", "病理.pdf", PDF)

    # then the page says so, and the material waits for the reviewer
    assert response.status_code == 302 and response.url == detail_url(waiting)
    material = Material.objects.get(source=MaterialSource.PATIENT_UPLOAD)
    assert material.kind == "pathology"
    assert material.mime_type == "application/pdf"
    assert material.verification_state == VerificationState.UNVERIFIED
    assert material.uploaded_by == patient_user
    event = AuditEvent.objects.get(action="eligibility.material_uploaded")
    assert event.subject_id == str(material.pk)
    assert event.actor == patient_user and event.patient == insured_person
    assert event.summary["kind"] == "pathology"
    waiting.refresh_from_db()
    assert waiting.status == S.MATERIALS_REQUESTED
    page = patient_client.get(response.url).content.decode()
    assert "已上传「病理诊断报告」，等待医院医保办核验" in page
    listed = page.split('id="materials"', 1)[1]
    assert "病理诊断报告" in listed and "待核验" in listed
    requested = page.split('id="requested-materials"', 1)[1].split('id="materials"', 1)[0]
    assert requested.count('enctype="multipart/form-data"') == 2


def test_the_last_material_starts_the_review(patient_client, waiting):
    # when the patient uploads every requested kind (a phone photo among them)
    upload(patient_client, waiting, "pathology", "病理.pdf", PDF)
    upload(patient_client, waiting, "gene_test", "基因.pdf", PDF)
    response = upload(
        patient_client, waiting, "diagnosis_certificate", "IMG_0001.jpg", JPEG, "image/jpeg"
    )

    # then the application is complete and the review clock runs [HB art. 10]
    waiting.refresh_from_db()
    assert waiting.status == S.UNDER_REVIEW
    photo = Material.objects.get(kind="diagnosis_certificate")
    assert photo.mime_type == "image/jpeg"
    assert photo.verification_state == VerificationState.UNVERIFIED
    page = patient_client.get(response.url).content.decode()
    assert "材料已齐全，医院医保办开始审核" in page
    assert 'id="requested-materials"' not in page
    assert "下一步：</strong>医院医保办审核中" in page


def test_a_refused_material_says_why_and_can_be_uploaded_again(
    patient_client, waiting, reviewer_user
):
    # given an upload the reviewer could not accept
    upload(patient_client, waiting, "pathology", "病理.pdf", PDF)
    material = Material.objects.get(source=MaterialSource.PATIENT_UPLOAD)
    eligibility_materials.material_verify(
        actor=reviewer_user, material_id=material.pk, verified=False, note="图片模糊，无法辨认"
    )

    # when the patient opens the application
    html = patient_client.get(detail_url(waiting)).content.decode()

    # then the refusal and its reason are shown, and the kind is asked for again
    listed = html.split('id="materials"', 1)[1]
    assert "不予采信" in listed and "原因：图片模糊，无法辨认" in listed
    requested = html.split('id="requested-materials"', 1)[1].split('id="materials"', 1)[0]
    assert requested.count('enctype="multipart/form-data"') == 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("病理.pdf", b"GIF89a" + b"\0" * 64, "仅支持 PDF、JPEG、PNG 文件"),
        ("病理.pdf", b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024), "文件不得超过 10 MB"),
    ],
    ids=["wrong-type", "too-big"],
)
def test_a_bad_file_is_refused_with_the_message_and_nothing_written(
    patient_client, waiting, media_root, name, content, message
):
    events = AuditEvent.objects.count()

    response = upload(patient_client, waiting, "pathology", name, content)

    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and 'role="alert"' in html
    assert 'id="requested-materials"' in html  # the form is still there to try again
    assert_nothing_written(waiting, S.MATERIALS_REQUESTED, events, media_root)


def test_upload_is_refused_when_the_application_is_not_awaiting_materials(
    patient_client, make_application, insured_person, media_root
):
    # given a draft the physician is still preparing
    draft = make_application(insured_person, submit=False)
    events = AuditEvent.objects.count()

    response = upload(patient_client, draft, "pathology", "病理.pdf", PDF)

    assert response.status_code == 409
    assert "申请当前为「草稿」，不能办理此操作" in response.content.decode()
    assert_nothing_written(draft, S.DRAFT, events, media_root)


def test_a_kind_that_was_not_requested_is_refused(patient_client, waiting, media_root):
    events = AuditEvent.objects.count()

    response = upload(patient_client, waiting, "imaging", "ct.pdf", PDF)

    assert response.status_code == 400
    assert "本申请未要求补充「影像报告」" in response.content.decode()
    assert_nothing_written(waiting, S.MATERIALS_REQUESTED, events, media_root)


def test_upload_to_another_patients_application_is_a_404(
    patient_client, make_application, media_root
):
    other = make_application(InsuredPersonFactory(name="别人"))
    events = AuditEvent.objects.count()

    response = upload(patient_client, other, "pathology", "病理.pdf", PDF)

    assert response.status_code == 404
    assert other.application_no not in response.content.decode()
    assert_nothing_written(other, S.MATERIALS_REQUESTED, events, media_root)


def test_no_file_or_two_files_are_refused(patient_client, waiting, media_root):
    events = AuditEvent.objects.count()

    none = patient_client.post(upload_url(waiting), {"kind": "pathology"})
    two = patient_client.post(
        upload_url(waiting),
        {
            "kind": "pathology",
            "file": [
                SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf"),
                SimpleUploadedFile("b.jpg", JPEG, content_type="image/jpeg"),
            ],
        },
    )

    assert none.status_code == 400 and "请先选择文件或拍照" in none.content.decode()
    assert two.status_code == 400 and "每次只能上传一个文件" in two.content.decode()
    assert_nothing_written(waiting, S.MATERIALS_REQUESTED, events, media_root)


def test_upload_needs_the_csrf_token(patient_user, waiting, media_root):
    client = Client(enforce_csrf_checks=True)
    client.force_login(patient_user)
    events = AuditEvent.objects.count()

    response = upload(client, waiting, "pathology", "病理.pdf", PDF)

    assert response.status_code == 403
    assert_nothing_written(waiting, S.MATERIALS_REQUESTED, events, media_root)
