"""The patient's own filing request on the phone [HB art. 7(1)(3)] and the physicians' side of
it on /doctor/: the form, a refusal shown with nothing written, the follow-up page, the queue
with the masked patient, the upload opened in place, another hospital or patient kept out."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dualchannel.core.masking import mask_id_number
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.core.tests.files import HTML_AS_PDF
from dualchannel.eligibility.models import FilingRequestStatus, FilingUpload, PatientFilingRequest
from dualchannel.eligibility.tests.factories import designated_physician, drug_with_criteria
from dualchannel.notifications.models import Channel, Notification
from dualchannel.portal.selectors import patient_message_path
from dualchannel.registry.tests.factories import InsuredPersonFactory, load_seed_profiles

from .factories import PDF

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting(settings, tmp_path, demo_his, physician_user, insured_person):
    """A designated Wuhan hospital with a responsible physician; a drug in force."""
    settings.MEDIA_ROOT = tmp_path / "private"
    load_seed_profiles()
    designated_physician(physician_user)
    drug, _ = drug_with_criteria(generic_name="塞瑞替尼胶囊")
    return drug


def post_form(client, drug, hospital, content=PDF, name="病理报告.pdf"):
    return client.post(
        reverse("portal-filing-new"),
        {
            "drug_id": str(drug.pk),
            "hospital_id": str(hospital.pk),
            "note": "外院确诊",
            "kind_0": "pathology",
            "file_0": SimpleUploadedFile(name, content, "application/pdf"),
        },
    )


def test_the_form_offers_the_drugs_and_hospitals_of_the_patients_city(
    client, patient_user, setting, hospital, other_hospital
):
    client.force_login(patient_user)

    page = client.get(reverse("portal-filing-new")).content.decode()

    assert "塞瑞替尼胶囊" in page and "武汉演示第一医院" in page
    assert "合肥演示人民医院" not in page  # another province's hospital is not offered


def test_a_filing_is_submitted_and_followed_on_the_phone(
    client, patient_user, setting, hospital, insured_person
):
    client.force_login(patient_user)

    response = post_form(client, setting, hospital)

    filing = PatientFilingRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal-filing-request", args=[filing.pk])
    page = client.get(response["Location"]).content.decode()
    assert "待医师受理" in page and "武汉演示第一医院" in page and "病理报告.pdf" in page
    home = client.get(reverse("portal-home")).content.decode()
    assert f"HS{filing.pk:08d}" in home
    # the message deep-links to the request's page
    notice = Notification.objects.get(person=insured_person, channel=Channel.IN_APP)
    assert patient_message_path(notice) == reverse("portal-filing-request", args=[filing.pk])


def test_a_bad_file_is_refused_on_the_page_and_nothing_is_written(
    client, patient_user, setting, hospital
):
    client.force_login(patient_user)

    response = post_form(client, setting, hospital, content=HTML_AS_PDF)

    page = response.content.decode()
    assert response.status_code == 400
    assert 'role="alert"' in page and 'data-code="eligibility.bad_file_type"' in page
    assert PatientFilingRequest.objects.count() == 0 and FilingUpload.objects.count() == 0
    assert Notification.objects.count() == 0


def test_another_patients_request_is_a_404(client, patient_user, setting, hospital):
    client.force_login(patient_user)
    post_form(client, setting, hospital)
    filing = PatientFilingRequest.objects.get()
    other = UserFactory(
        username="other_patient",
        insured_person=InsuredPersonFactory(name="李四"),
        roles=[Role.PATIENT],
    )
    client.force_login(other)

    response = client.get(reverse("portal-filing-request", args=[filing.pk]))

    assert response.status_code == 404


def test_the_physicians_queue_shows_it_masked_with_the_upload_in_place(
    client, patient_user, physician_user, outsider_physician, setting, hospital, insured_person
):
    client.force_login(patient_user)
    post_form(client, setting, hospital)
    filing = PatientFilingRequest.objects.get()
    upload = filing.uploads.get()
    client.force_login(physician_user)

    home = client.get(reverse("eligibility-doctor")).content.decode()
    detail = client.get(reverse("eligibility-doctor-filing-request", args=[filing.pk]))
    file = client.get(reverse("eligibility-doctor-filing-upload-file", args=[upload.pk]))

    assert "患者申请 1" in home and mask_id_number(insured_person.id_number) in home
    assert insured_person.id_number not in home and insured_person.name not in home
    page = detail.content.decode()
    assert "evidence-frame" in page and "受理" in page
    assert "HB art." not in page  # the region's citation in words, never the short form
    assert file["Content-Type"] == "application/pdf" and file.content == PDF
    client.force_login(outsider_physician)
    assert (
        client.get(reverse("eligibility-doctor-filing-request", args=[filing.pk])).status_code
        == 404
    )
    assert (
        client.get(reverse("eligibility-doctor-filing-upload-file", args=[upload.pk])).status_code
        == 404
    )


def test_take_and_decline_from_the_page_tell_the_patient(
    client, patient_user, physician_user, setting, hospital
):
    client.force_login(patient_user)
    post_form(client, setting, hospital)
    filing = PatientFilingRequest.objects.get()
    client.force_login(physician_user)

    client.post(reverse("eligibility-doctor-filing-take", args=[filing.pk]))
    client.post(
        reverse("eligibility-doctor-filing-decline", args=[filing.pk]),
        {"reason": "请先到本院门诊就诊"},
    )

    filing.refresh_from_db()
    assert filing.status == FilingRequestStatus.DECLINED
    client.force_login(patient_user)
    page = client.get(reverse("portal-filing-request", args=[filing.pk])).content.decode()
    assert "未受理原因：请先到本院门诊就诊" in page
