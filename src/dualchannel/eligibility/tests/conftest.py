from __future__ import annotations

import pytest

from dualchannel.eligibility import services
from dualchannel.registry.tests.factories import designate, load_seed_profiles

from .factories import PLAN, designated_physician, drug_with_criteria, zhang_wei


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path, demo_his):
    """Materials and signed PDFs go to a temporary MEDIA_ROOT, never into the repository."""
    settings.MEDIA_ROOT = tmp_path / "private"
    settings.PUBLIC_BASE_URL = "https://dc.example.cn"
    return settings.MEDIA_ROOT


@pytest.fixture
def profiles(db):
    """Hubei rules for Wuhan hospitals: three-fixed binding, 7 working days [HB art. 6, 10]."""
    return load_seed_profiles()


@pytest.fixture
def physician(profiles, physician_user):
    return designated_physician(physician_user)


@pytest.fixture
def bound_pharmacy(pharmacy):
    designate(pharmacy)
    return pharmacy


@pytest.fixture
def lung_drug(db):
    drug, _ = drug_with_criteria(generic_name="塞瑞替尼胶囊")
    return drug


@pytest.fixture
def zhang(db):
    return zhang_wei()


@pytest.fixture
def make_draft(physician, bound_pharmacy, lung_drug, physician_user):
    """A draft for a person, answered and planned, ready to submit."""

    def make(person, *, drug=None, code="C34.100x004", name="右肺上叶恶性肿瘤", plan=True):
        application = services.application_create(
            actor=physician_user,
            patient_id_number=person.id_number,
            drug_id=(drug or lung_drug).pk,
            diagnosis_code=code,
            diagnosis_name=name,
            pharmacy_id=bound_pharmacy.pk,
        )
        services.application_answer(
            actor=physician_user, application_id=application.pk, answers={"advanced": True}
        )
        if plan:
            services.application_set_plan(
                actor=physician_user, application_id=application.pk, **PLAN
            )
        application.refresh_from_db()
        return application

    return make
