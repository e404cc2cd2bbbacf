"""The portal home shows the patient's own applications: status, working-day clock, next step."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from dualchannel.eligibility import services
from dualchannel.eligibility.models import Application, ApplicationStatus
from dualchannel.eligibility.tests.factories import PLAN, designated_physician, drug_with_criteria
from dualchannel.registry.tests.factories import InsuredPersonFactory, designate, load_seed_profiles

pytestmark = pytest.mark.django_db


@pytest.fixture
def application_of(settings, tmp_path, physician_user, pharmacy):
    settings.MEDIA_ROOT = tmp_path / "private"
    load_seed_profiles()
    designated_physician(physician_user)
    designate(pharmacy)
    drug, _ = drug_with_criteria(generic_name="塞瑞替尼胶囊")

    def make(person):
        application = services.application_create(
            actor=physician_user,
            patient_id_number=person.id_number,
            drug_id=drug.pk,
            diagnosis_code="C34.100x004",
            diagnosis_name="右肺上叶恶性肿瘤",
            pharmacy_id=pharmacy.pk,
        )
        services.application_answer(
            actor=physician_user, application_id=application.pk, answers={"advanced": True}
        )
        services.application_set_plan(actor=physician_user, application_id=application.pk, **PLAN)
        return application

    return make


def test_patient_sees_own_application_with_next_step(
    client, patient_user, insured_person, application_of, monkeypatch
):
    application = application_of(insured_person)
    Application.objects.filter(pk=application.pk).update(
        status=ApplicationStatus.UNDER_REVIEW, review_due=date(2026, 10, 14)
    )
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: date(2026, 9, 29))
    other = application_of(InsuredPersonFactory(name="别人"))
    client.force_login(patient_user)

    page = client.get(reverse("portal-home")).content.decode()

    assert application.application_no in page
    assert other.application_no not in page
    assert "审核中" in page
    assert "下一步：医院医保办审核中" in page


def test_the_clock_counts_working_days_left(
    client, patient_user, insured_person, application_of, monkeypatch
):
    application = application_of(insured_person)
    # Complete on Tue 2026-09-29: due 2026-10-14 across National Day [HB art. 10].
    Application.objects.filter(pk=application.pk).update(
        status=ApplicationStatus.UNDER_REVIEW, review_due=date(2026, 10, 14)
    )
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: date(2026, 9, 29))
    client.force_login(patient_user)

    page = client.get(reverse("portal-home")).content.decode()

    assert "剩余 7 个工作日" in page


def test_a_deadline_in_an_unloaded_year_is_explained_not_guessed(
    client, patient_user, insured_person, application_of, monkeypatch
):
    application = application_of(insured_person)
    Application.objects.filter(pk=application.pk).update(
        status=ApplicationStatus.UNDER_REVIEW, review_due=date(2100, 1, 8)
    )
    # a year no calendar answers (2027 without its notice is counted from the law instead)
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: date(2099, 12, 29))
    client.force_login(patient_user)

    response = client.get(reverse("portal-home"))

    assert response.status_code == 200
    assert "该年节假日安排尚未导入" in response.content.decode()
